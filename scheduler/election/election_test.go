package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/internal/zktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const chroot = "/test/healer"

// seen is one event as a test observed it.
type seen struct {
	Event
	at time.Time
}

// instance is one running Elector and what it emitted.
type instance struct {
	name   string
	e      *Elector
	cancel context.CancelFunc
	done   chan error // Run's result

	mu      sync.Mutex
	events  []seen
	changed chan struct{} // closed and replaced on every event
}

// start runs an Elector for member name against addr until the test ends.
func start(t testing.TB, name, addr string, timeout time.Duration, opts ...func(*Config)) *instance {
	t.Helper()
	cfg := Config{
		Servers:        []string{addr},
		Chroot:         chroot,
		SessionTimeout: timeout,
		Self: Member{ID: name, AdminURL: "http://" + name + ":7070", Hostname: name, Version: "test",
			StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("instance", name),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{name: name, e: e, cancel: cancel, done: make(chan error, 1), changed: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		in.done <- e.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		for ev := range e.Events() {
			in.record(ev)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return in
}

func (in *instance) record(ev Event) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.events = append(in.events, seen{ev, time.Now()})
	close(in.changed)
	in.changed = make(chan struct{})
}

func (in *instance) snapshot() ([]seen, chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]seen(nil), in.events...), in.changed
}

// wait waits until cond holds for the events seen so far and returns the
// first event from index from on that satisfies it.
func (in *instance) wait(t testing.TB, what string, from int, cond func(seen) bool) (seen, int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		evs, changed := in.snapshot()
		for i := from; i < len(evs); i++ {
			if cond(evs[i]) {
				return evs[i], i
			}
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: no %s within 60s; events: %v", in.name, what, kinds(evs))
		}
	}
}

func (in *instance) waitKind(t testing.TB, k EventKind, from int) (seen, int) {
	t.Helper()
	return in.wait(t, k.String(), from, func(s seen) bool { return s.Kind == k })
}

// stop cancels Run and waits for it to return.
func (in *instance) stop(t testing.TB) {
	t.Helper()
	in.cancel()
	select {
	case err := <-in.done:
		if err != nil {
			t.Fatalf("%s: Run: %v", in.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: Run did not return within 30s of cancel", in.name)
	}
}

func kinds(evs []seen) []string {
	var out []string
	for _, e := range evs {
		s := e.Kind.String()
		if e.HasLeader {
			s += "(" + e.Leader.ID + ")"
		}
		out = append(out, s)
	}
	return out
}

func count(evs []seen, k EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func connect(t *testing.T, addr string) *zk.Conn {
	t.Helper()
	conn, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(zkLogger{slog.New(slog.DiscardHandler)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		for range events {
		}
	})
	return conn
}

// TestOneLeader: of three instances exactly one leads; the others learn
// its Member (admin URL included) and agree on it.
func TestOneLeader(t *testing.T) {
	srv := zktest.Start(t)
	ins := []*instance{
		start(t, "a", srv.Addr, 4*time.Second),
		start(t, "b", srv.Addr, 4*time.Second),
		start(t, "c", srv.Addr, 4*time.Second),
	}
	// Each instance either leads or learns of a leader.
	var leader *instance
	var term Term
	for _, in := range ins {
		ev, _ := in.wait(t, "elected or leader-changed", 0, func(s seen) bool { return s.Kind == Elected || s.Kind == LeaderChanged })
		if ev.Kind == Elected {
			if leader != nil {
				t.Fatalf("both %s and %s elected", leader.name, in.name)
			}
			leader, term = in, ev.Term
		}
	}
	if leader == nil {
		t.Fatal("nobody elected")
	}
	if term.Ctx.Err() != nil || term.Node == "" || term.Session == 0 || term.Conn == nil {
		t.Fatalf("term %+v", term)
	}
	if ok, _, err := term.Conn.Exists(term.Node); !ok || err != nil {
		t.Fatalf("the term's fence node %s: exists %v, %v", term.Node, ok, err)
	}
	want := leader.e.cfg.Self
	for _, in := range ins {
		if in == leader {
			continue
		}
		ev, _ := in.waitKind(t, LeaderChanged, 0)
		if !ev.HasLeader || !reflect.DeepEqual(ev.Leader, want) {
			t.Errorf("%s: LeaderChanged carries %+v, want %+v", in.name, ev.Leader, want)
		}
		if m, ok := in.e.Leader(); !ok || m.AdminURL != want.AdminURL {
			t.Errorf("%s: Leader() = %+v, %v", in.name, m, ok)
		}
		if in.e.Conn() == nil {
			t.Errorf("%s: no connection for standby reads", in.name)
		}
	}
	if m, ok := leader.e.Leader(); !ok || m.ID != leader.name {
		t.Errorf("leader's Leader() = %+v, %v", m, ok)
	}
	for _, in := range ins {
		evs, _ := in.snapshot()
		if n := count(evs, Elected); (in == leader) != (n == 1) || n > 1 {
			t.Errorf("%s elected %d times: %v", in.name, n, kinds(evs))
		}
	}
}

// TestCleanShutdownHandsOver: a leader whose Run is cancelled ends its
// term and deletes its node at once; the standby leads well within the
// session timeout (10 s here), and the old term is over before it does.
func TestCleanShutdownHandsOver(t *testing.T) {
	srv := zktest.Start(t)
	const timeout = 10 * time.Second
	a := start(t, "a", srv.Addr, timeout)
	elected, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, timeout)
	b.waitKind(t, LeaderChanged, 0)

	cancelled := time.Now()
	a.cancel()
	ev, _ := b.waitKind(t, Elected, 0)
	handover := ev.at.Sub(cancelled)
	t.Logf("handover after a clean shutdown: %v (session timeout %v)", handover, timeout)
	if handover > timeout/2 {
		t.Errorf("handover took %v: the standby waited for the session timeout", handover)
	}
	if elected.Term.Ctx.Err() == nil {
		t.Error("the old leader's term is still live while the standby leads")
	}
	a.stop(t)
	evs, _ := a.snapshot()
	if last := evs[len(evs)-1]; last.Kind != Deposed || last.Term.Node != elected.Term.Node {
		t.Errorf("the old leader's last event: %v, want deposed of its term", kinds(evs))
	}
}

// TestSessionExpiryDeposes: the leader's session is expired on the server
// (as another client holding its id and password can): the leader stops
// acting (Suspended, then Deposed with its term's context cancelled), the
// standby leads, and the old leader comes back as a standby of the new one
// with a new session and node.
func TestSessionExpiryDeposes(t *testing.T) {
	srv := zktest.Start(t)
	proxy := zktest.NewProxy(t, srv.Addr)
	a := start(t, "a", proxy.Addr, 4*time.Second)
	elected, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, 4*time.Second)
	b.waitKind(t, LeaderChanged, 0)

	proxy.Expire(t, elected.Term.Session)
	_, i := a.waitKind(t, Deposed, 0)
	if elected.Term.Ctx.Err() == nil {
		t.Fatal("deposed, but the term's context is live")
	}
	evs, _ := a.snapshot()
	if count(evs[:i], Suspended) != 1 {
		t.Errorf("the old leader was not suspended before being deposed: %v", kinds(evs))
	}
	nb, _ := b.waitKind(t, Elected, 0)
	back, _ := a.wait(t, "leader-changed to b", i, func(s seen) bool { return s.Kind == LeaderChanged && s.Leader.ID == "b" })
	if nb.Term.Node == elected.Term.Node || back.Kind != LeaderChanged {
		t.Fatalf("new term %+v", nb.Term)
	}
	if a.e.Conn() == nil || a.e.Conn().SessionID() == elected.Term.Session {
		t.Error("the old leader rejoined without a new session")
	}
	if _, _, err := elected.Term.Conn.Exists("/"); !errors.Is(err, zk.ErrConnectionClosed) {
		t.Errorf("the old term's connection still works: %v", err)
	}
}

// TestPartitionedLeader: the leader loses its connection for longer than
// the session timeout. It is suspended at once, before the standby can be
// elected (the server expires its session only after the timeout), and is
// deposed when the timeout has passed without a reconnect. After the
// partition heals it follows the new leader.
func TestPartitionedLeader(t *testing.T) {
	srv := zktest.Start(t)
	proxy := zktest.NewProxy(t, srv.Addr)
	const timeout = 2 * time.Second
	a := start(t, "a", proxy.Addr, timeout)
	elected, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, timeout)
	b.waitKind(t, LeaderChanged, 0)

	partitioned := time.Now()
	proxy.Partition()
	suspended, _ := a.waitKind(t, Suspended, 0)
	nb, _ := b.waitKind(t, Elected, 0)
	t.Logf("suspended %v after the partition, standby elected after %v (session timeout %v)",
		suspended.at.Sub(partitioned), nb.at.Sub(partitioned), timeout)
	if !suspended.at.Before(nb.at) {
		t.Errorf("the standby was elected (%v) before the old leader stopped acting (%v)", nb.at, suspended.at)
	}
	if nb.at.Sub(partitioned) < timeout/2 {
		t.Errorf("the standby was elected %v after the partition, before the session could expire", nb.at.Sub(partitioned))
	}
	deposed, _ := a.waitKind(t, Deposed, 0)
	if deposed.Term.Node != elected.Term.Node || elected.Term.Ctx.Err() == nil {
		t.Errorf("deposed %+v; term ctx %v", deposed.Term, elected.Term.Ctx.Err())
	}
	proxy.Heal()
	a.wait(t, "leader-changed to b", 0, func(s seen) bool { return s.Kind == LeaderChanged && s.Leader.ID == "b" })
	evs, _ := a.snapshot()
	if count(evs, Elected) != 1 {
		t.Errorf("the old leader was elected again: %v", kinds(evs))
	}
}

// TestServerRestartKeepsTerm: a ZooKeeper restart shorter than the session
// timeout suspends the leader and resumes the same term; nobody else is
// elected.
func TestServerRestartKeepsTerm(t *testing.T) {
	srv := zktest.Start(t)
	const timeout = 20 * time.Second
	a := start(t, "a", srv.Addr, timeout)
	elected, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, timeout)
	b.waitKind(t, LeaderChanged, 0)

	srv.Restart()
	_, i := a.waitKind(t, Suspended, 0)
	resumed, _ := a.waitKind(t, Resumed, i)
	if resumed.Term.Node != elected.Term.Node || resumed.Term.Session != elected.Term.Session {
		t.Errorf("resumed %+v, want the elected term %+v", resumed.Term, elected.Term)
	}
	if elected.Term.Ctx.Err() != nil {
		t.Error("the term's context was cancelled by a restart within the session timeout")
	}
	if ok, _, err := elected.Term.Conn.Exists(elected.Term.Node); !ok || err != nil {
		t.Errorf("fence node after the restart: %v, %v", ok, err)
	}
	// The standby reconnects too (on a loaded machine it may take a while,
	// or even a new session) and still follows a.
	deadline := time.Now().Add(2 * timeout)
	for {
		conn := b.e.Conn()
		ok, err := false, error(nil)
		if conn != nil {
			ok, _, err = conn.Exists(elected.Term.Node)
		}
		if m, has := b.e.Leader(); ok && err == nil && has && m.ID == "a" {
			break
		}
		if time.Now().After(deadline) {
			m, has := b.e.Leader()
			t.Fatalf("standby after the restart: sees the fence node %v (%v), follows %+v (%v)", ok, err, m, has)
		}
		time.Sleep(50 * time.Millisecond) // polling the standby's reconnection, with a deadline
	}
	evs, _ := b.snapshot()
	if count(evs, Elected) != 0 {
		t.Errorf("the standby was elected during the restart: %v", kinds(evs))
	}
	evs, _ = a.snapshot()
	if count(evs, Deposed) != 0 || count(evs, Elected) != 1 {
		t.Errorf("leader's events: %v", kinds(evs))
	}
}

// TestPredecessorWatch: with a leading, b and c standing by, b leaving
// changes nothing (c now waits on a); a leaving makes c lead.
func TestPredecessorWatch(t *testing.T) {
	srv := zktest.Start(t)
	const timeout = 10 * time.Second
	a := start(t, "a", srv.Addr, timeout)
	a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, timeout)
	b.waitKind(t, LeaderChanged, 0)
	c := start(t, "c", srv.Addr, timeout)
	c.waitKind(t, LeaderChanged, 0)

	b.stop(t)
	aCancelled := time.Now()
	a.stop(t)
	ev, _ := c.waitKind(t, Elected, 0)
	if ev.at.Before(aCancelled) {
		t.Errorf("c was elected when b (not the leader) left")
	}
	evs, _ := a.snapshot()
	if got := kinds(evs); !reflect.DeepEqual(got, []string{"elected(a)", "deposed"}) {
		t.Errorf("a's events: %v; want it elected once and deposed only by its own shutdown", got)
	}
	evs, _ = c.snapshot()
	if count(evs, Elected) != 1 || count(evs, LeaderChanged) != 1 {
		t.Errorf("c's events: %v; want one leader change (to a) and one election", kinds(evs))
	}
}

// TestMemberNodeVanishes: an operator deletes the leader's member node. The
// leader is deposed (its fence is gone), the standby leads, and the old
// leader rejoins with a new session and node.
func TestMemberNodeVanishes(t *testing.T) {
	srv := zktest.Start(t)
	const timeout = 4 * time.Second
	a := start(t, "a", srv.Addr, timeout)
	elected, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, timeout)
	b.waitKind(t, LeaderChanged, 0)

	if err := connect(t, srv.Addr).Delete(elected.Term.Node, -1); err != nil {
		t.Fatal(err)
	}
	a.waitKind(t, Deposed, 0)
	if elected.Term.Ctx.Err() == nil {
		t.Error("deposed with a live term context")
	}
	b.waitKind(t, Elected, 0)
	a.wait(t, "leader-changed to b", 0, func(s seen) bool { return s.Kind == LeaderChanged && s.Leader.ID == "b" })
	kids, _, err := connect(t, srv.Addr).Children(chroot + "/" + Dir)
	if err != nil || len(kids) != 2 {
		t.Fatalf("members after rejoining: %v, %v; want b's and a's new one", kids, err)
	}
}

// TestCredentials: with credentials, the Elector's nodes admit only them.
func TestCredentials(t *testing.T) {
	srv := zktest.Start(t)
	auth := func(c *Config) { c.Auth = &Credentials{User: "healer", Password: "s3cret"} }
	a := start(t, "a", srv.Addr, 4*time.Second, auth)
	elected, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, 4*time.Second, auth)
	if ev, _ := b.waitKind(t, LeaderChanged, 0); ev.Leader.ID != "a" {
		t.Fatalf("standby with credentials sees leader %+v", ev.Leader)
	}
	anon := connect(t, srv.Addr)
	for _, p := range []string{chroot, chroot + "/" + Dir, elected.Term.Node} {
		if _, _, err := anon.Get(p); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous read of %s: %v, want ErrNoAuth", p, err)
		}
	}
	if _, err := anon.Create(chroot+"/"+Dir+"/member-x-0000000000", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("anonymous join: %v, want ErrNoAuth", err)
	}
	// An instance with other credentials cannot join: Run says so.
	wrong := start(t, "w", srv.Addr, 4*time.Second, func(c *Config) { c.Auth = &Credentials{User: "healer", Password: "guess"} })
	select {
	case err := <-wrong.done:
		if !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("Run with wrong credentials: %v, want ErrNoAuth", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run with wrong credentials did not give up")
	}
}

// TestShutdownWithoutZooKeeper: Run returns promptly when cancelled while
// no server answers, leaving no goroutine behind (goleak checks).
func TestShutdownWithoutZooKeeper(t *testing.T) {
	in := start(t, "a", "127.0.0.1:1", 2*time.Second)
	in.stop(t)
	evs, _ := in.snapshot()
	if len(evs) != 0 {
		t.Errorf("events without ZooKeeper: %v", kinds(evs))
	}
}

// TestSlowConsumer: events sent while one is unread replace it by the
// rules of the package doc; emit never blocks.
func TestSlowConsumer(t *testing.T) {
	e, err := New(Config{Servers: []string{"x:1"}, Chroot: "/h", SessionTimeout: time.Second, Self: Member{ID: "me"}})
	if err != nil {
		t.Fatal(err)
	}
	t1 := Term{Node: "/h/leader/1"}
	t2 := Term{Node: "/h/leader/2"}
	for i, tc := range []struct {
		sent []EventKind
		term []Term
		want EventKind
		node string
	}{
		{[]EventKind{Elected, Resumed}, []Term{t1, t1}, Elected, t1.Node},
		{[]EventKind{Elected, Suspended}, []Term{t1, t1}, Suspended, t1.Node},
		{[]EventKind{Suspended, Resumed}, []Term{t1, t1}, Resumed, t1.Node},
		{[]EventKind{Elected, Suspended, Deposed}, []Term{t1, t1, t1}, Deposed, t1.Node},
		{[]EventKind{Deposed, Elected}, []Term{t1, t2}, Elected, t2.Node},
		{[]EventKind{Deposed, LeaderChanged}, []Term{t1, {}}, Deposed, t1.Node},
		{[]EventKind{LeaderChanged, Elected}, []Term{{}, t2}, Elected, t2.Node},
	} {
		for j, k := range tc.sent {
			if k == LeaderChanged {
				e.setLeader(Member{ID: "other"}, true)
			}
			e.emit(Event{Kind: k, Term: tc.term[j]})
		}
		ev := <-e.events
		if ev.Kind != tc.want || ev.Term.Node != tc.node {
			t.Errorf("case %d: %v → %v %s, want %v %s", i, tc.sent, ev.Kind, ev.Term.Node, tc.want, tc.node)
		}
		if m, _ := e.Leader(); ev.Leader != m {
			t.Errorf("case %d: event carries leader %+v, want the latest %+v", i, ev.Leader, m)
		}
		select {
		case ev := <-e.events:
			t.Errorf("case %d: a second event %v", i, ev.Kind)
		default:
		}
	}
}

func TestOrder(t *testing.T) {
	got := order([]string{"member-bb-0000000010", "junk", "member-aa-0000000002", "member-cc-12", "member-dd-0000000007"})
	var names []string
	for _, m := range got {
		names = append(names, m.name)
	}
	want := []string{"member-aa-0000000002", "member-dd-0000000007", "member-bb-0000000010"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("order = %v, want %v", names, want)
	}
}
