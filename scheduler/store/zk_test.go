package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/internal/zkurl"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// connect opens a session on addr and waits until it is established.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func connect(t testing.TB, addr string, timeout time.Duration) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	conn, events, err := zk.Connect([]string{addr}, timeout, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	// The test reads session events from a copy; the cleanup drains the
	// original until go-zookeeper closes it, which it does once its
	// goroutines are done (goleak checks).
	copied := make(chan zk.Event, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			select {
			case copied <- ev:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	waitState(t, copied, zk.StateHasSession)
	return conn, copied
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

func waitState(t testing.TB, events <-chan zk.Event, want zk.State) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Type == zk.EventSession && ev.State == want {
				return
			}
		case <-deadline:
			t.Fatalf("no session state %v within 30s", want)
		}
	}
}

// elect creates a leader's election node under chroot/leader the way
// scheduler/election does (ephemeral, sequential), for a fence.
func elect(t testing.TB, conn *zk.Conn, chroot string, acl []zk.ACL) string {
	t.Helper()
	if acl == nil {
		acl = zk.WorldACL(zk.PermAll)
	}
	dir := chroot + "/leader"
	for _, p := range append(zkurl.Ancestors(dir), dir) {
		if _, err := conn.Create(p, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	node, err := conn.Create(dir+"/member-", []byte("{}"), zk.FlagEphemeral|zk.FlagSequence, acl)
	if err != nil {
		t.Fatalf("create fence: %v", err)
	}
	return node
}

// leaderStore is a loaded store fenced by a new election node on conn.
func leaderStore(t testing.TB, conn *zk.Conn, chroot string, cfg ZKConfig) *ZK {
	t.Helper()
	cfg.Chroot = chroot
	if cfg.Fence == "" {
		cfg.Fence = elect(t, conn, chroot, cfg.ACL)
	}
	s, err := NewZK(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(context.Background()); err != nil {
		t.Fatalf("load: %v", err)
	}
	return s
}

// load reads chroot through a fresh read-only store.
func load(t testing.TB, conn *zk.Conn, chroot string) Snapshot {
	t.Helper()
	s, err := NewZK(conn, ZKConfig{Chroot: chroot})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return snap
}

func agent(id string) coordinator.AgentRecord {
	return coordinator.AgentRecord{ID: coordinator.AgentID(id), Hostname: "host-" + id, Zone: "z1"}
}

func normaliseAll(rs []coordinator.AgentRecord) []coordinator.AgentRecord {
	out := make([]coordinator.AgentRecord, len(rs))
	for i, r := range rs {
		out[i] = normalise(r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func checkAgents(t testing.TB, got []coordinator.AgentRecord, want ...coordinator.AgentRecord) {
	t.Helper()
	if g, w := normaliseAll(got), normaliseAll(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("agents differ:\n got %+v\nwant %+v", g, w)
	}
}

// TestZK runs the store's behaviours against one ZooKeeper server, each in
// its own chroot.
func TestZK(t *testing.T) {
	srv := zktest.Start(t)
	ctx := context.Background()
	conn, _ := connect(t, srv.Addr, 10*time.Second)

	t.Run("round trip of every record kind", func(t *testing.T) {
		const root = "/rt/healer"
		var observed []string
		var mu sync.Mutex
		s := leaderStore(t, conn, root, ZKConfig{Observe: func(op string, _ time.Duration, _ error) {
			mu.Lock()
			observed = append(observed, op)
			mu.Unlock()
		}})
		if snap := load(t, conn, root); snap.Framework != nil || len(snap.Agents) != 0 || snap.Global != (coordinator.GlobalRecord{}) {
			t.Fatalf("a fresh chroot loads %+v, want nothing", snap)
		}
		// Records of every kind a coordinator leaves (driven), plus ids
		// that need escaping.
		records, global := driven(t).Records()
		odd := []coordinator.AgentRecord{agent("a/b"), agent(".."), agent("é ü%"), agent("x\x00y")}
		c0 := s.Counters()
		if err := s.Save(ctx, coordinator.Persist{Agents: append(append([]coordinator.AgentRecord(nil), records...), odd...), Global: &global}); err != nil {
			t.Fatalf("save: %v", err)
		}
		if c := s.Counters(); c.Multis-c0.Multis != 1 || c.Saves-c0.Saves != 1 {
			t.Errorf("one Save of %d records took %d multis (%d saves), want 1", len(records)+len(odd), c.Multis-c0.Multis, c.Saves-c0.Saves)
		}
		f := Framework{ID: "fw-1", Name: "healer", Master: "master1:5050", RegisteredAt: t0}
		if err := s.SaveFramework(ctx, f); err != nil {
			t.Fatalf("save framework: %v", err)
		}
		snap := load(t, conn, root)
		all := append(append([]coordinator.AgentRecord(nil), records...), odd...)
		sortAgents(all)
		checkAgents(t, snap.Agents, all...)
		if !reflect.DeepEqual(snap.Global, global) {
			t.Errorf("global: got %+v, want %+v", snap.Global, global)
		}
		if snap.Framework == nil || *snap.Framework != f {
			t.Errorf("framework: got %+v, want %+v", snap.Framework, f)
		}
		if snap.Stats.Znodes != len(all)+2 || snap.Stats.Largest == 0 || snap.Stats.LargestPath == "" {
			t.Errorf("stats %+v: want %d znodes and the largest named", snap.Stats, len(all)+2)
		}

		// Updates, a move (new id written, old id deleted) and a delete,
		// in one Save; an empty Persist makes no request.
		moved := records[0]
		moved.PreviousID, moved.ID = moved.ID, "moved-S9"
		updated := records[1]
		updated.Hostname = "renamed"
		mu.Lock()
		observed = nil
		mu.Unlock()
		if err := s.Save(ctx, coordinator.Persist{}); err != nil {
			t.Fatal(err)
		}
		if len(observed) != 0 {
			t.Fatalf("an empty Persist made requests: %v", observed)
		}
		c1 := s.Counters()
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{moved, updated},
			Deleted: []coordinator.AgentID{records[0].ID, odd[0].ID, "never-stored"}}); err != nil {
			t.Fatalf("save: %v", err)
		}
		if c := s.Counters(); c.Multis-c1.Multis != 1 || len(observed) != 1 {
			t.Errorf("a Save of 2 records and 2 deletes made %d multis (requests %v), want 1", c.Multis-c1.Multis, observed)
		}
		want := append([]coordinator.AgentRecord{moved, updated}, records[2:]...)
		want = append(want, odd[1:]...)
		sortAgents(want)
		checkAgents(t, load(t, conn, root).Agents, want...)
		// A second update of the same record: the store tracked its
		// version.
		updated.Zone = "z9"
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{updated}}); err != nil {
			t.Fatalf("second update: %v", err)
		}
	})

	t.Run("coordinator history through the store", func(t *testing.T) {
		coordinatorThroughStore(t, conn, "/history")
	})

	t.Run("writes per event of a repair", func(t *testing.T) {
		// One ZooKeeper write (multi) per persisted Ready, and none for a
		// duplicate signal: the footprint the runtime builds on.
		s := leaderStore(t, conn, "/writes", ZKConfig{})
		c, err := coordinator.New(restorePolicy())
		check(t, err)
		now := t0
		writes := func(ev coordinator.Event) uint64 {
			t.Helper()
			rd, _ := c.Step(ev)
			before := s.Counters().Multis
			check(t, s.Save(ctx, rd.Persist))
			return s.Counters().Multis - before
		}
		for _, l := range []coordinator.Link{coordinator.MasterConnected, coordinator.Reconciled, coordinator.ZKSessionUp} {
			writes(coordinator.Connectivity{At: now, Change: l})
		}
		writes(coordinator.AgentAdded{At: now, ID: "a1", Hostname: "h1"})
		launch := writes(coordinator.Signal{At: now, Agent: "a1", Problem: "disk_full", Source: "monitor"})
		r, _ := c.Agent("a1")
		dup := writes(coordinator.Signal{At: now, Agent: "a1", Problem: "disk_full", Source: "monitor"})
		started := writes(coordinator.StepStarted{At: now, Agent: "a1", Attempt: r.Incident.Run.Attempt})
		ended := writes(coordinator.StepOutcome{At: now.Add(time.Minute), Agent: "a1", Attempt: r.Incident.Run.Attempt, Result: coordinator.ResultSucceeded})
		t.Logf("writes: signal that launches %d, duplicate signal %d, step started %d, step ended %d", launch, dup, started, ended)
		if dup != 0 {
			t.Errorf("a duplicate signal cost %d writes, want 0", dup)
		}
		if launch != 1 || started != 1 || ended != 1 {
			t.Errorf("a repair step cost %d+%d+%d writes, want one per persisted event", launch, started, ended)
		}
	})

	t.Run("fencing", func(t *testing.T) {
		const root = "/fence"
		s := leaderStore(t, conn, root, ZKConfig{})
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}); err != nil {
			t.Fatal(err)
		}
		// Another session deletes the fence node: the leader is deposed.
		other, _ := connect(t, srv.Addr, 10*time.Second)
		if err := other.Delete(s.cfg.Fence, -1); err != nil {
			t.Fatal(err)
		}
		g := coordinator.GlobalRecord{Paused: true, PausedBy: "x"}
		err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a2"), {ID: "a1", Hostname: "changed"}}, Global: &g})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("save after the fence node went: %v, want ErrFenced", err)
		}
		if err := s.SaveFramework(ctx, Framework{ID: "fw"}); !errors.Is(err, ErrFenced) && !errors.Is(err, ErrOutOfDate) {
			t.Fatalf("save framework after the fence went: %v", err)
		}
		snap := load(t, conn, root)
		checkAgents(t, snap.Agents, agent("a1"))
		if snap.Global.Paused || snap.Framework != nil {
			t.Fatalf("a fenced write reached ZooKeeper: %+v", snap)
		}
		// A fresh store on the same dead fence is fenced too.
		s2 := leaderStore(t, conn, root, ZKConfig{Fence: s.cfg.Fence})
		if err := s2.SaveFramework(ctx, Framework{ID: "fw"}); !errors.Is(err, ErrFenced) {
			t.Fatalf("save framework on a dead fence: %v, want ErrFenced", err)
		}
	})

	t.Run("standby store is read-only", func(t *testing.T) {
		s, err := NewZK(conn, ZKConfig{Chroot: "/ro"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("save on a standby: %v, want ErrReadOnly", err)
		}
		if err := s.SaveFramework(ctx, Framework{ID: "fw"}); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("save framework on a standby: %v, want ErrReadOnly", err)
		}
	})

	t.Run("deposed leader cannot write after its session expired", func(t *testing.T) {
		const root = "/deposed"
		proxy := zktest.NewProxy(t, srv.Addr)
		oldConn, oldEvents := connect(t, proxy.Addr, 10*time.Second)
		old := leaderStore(t, oldConn, root, ZKConfig{})
		if err := old.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}); err != nil {
			t.Fatal(err)
		}
		proxy.Expire(t, oldConn.SessionID())
		waitState(t, oldEvents, zk.StateExpired)

		newConn, _ := connect(t, srv.Addr, 10*time.Second)
		leader := leaderStore(t, newConn, root, ZKConfig{})
		mine := agent("a1")
		mine.Hostname = "new-leader"
		if err := leader.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{mine}}); err != nil {
			t.Fatal(err)
		}
		// go-zookeeper opens a new session after the expiry; the old
		// leader's writes still check its old, gone, election node.
		waitState(t, oldEvents, zk.StateHasSession)
		stale := agent("a1")
		stale.Hostname = "old-leader"
		if err := old.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{stale, agent("a2")}}); !errors.Is(err, ErrFenced) {
			t.Fatalf("deposed leader's save: %v, want ErrFenced", err)
		}
		checkAgents(t, load(t, newConn, root).Agents, mine)
	})

	t.Run("out of date view", func(t *testing.T) {
		const root = "/ood"
		s, err := NewZK(conn, ZKConfig{Chroot: root, Fence: elect(t, conn, root, nil)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}); !errors.Is(err, ErrOutOfDate) {
			t.Fatalf("save before load: %v, want ErrOutOfDate", err)
		}
		if _, err := s.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}); err != nil {
			t.Fatal(err)
		}
		// Someone else changes a1 behind the store's back.
		b, _ := EncodeAgent(agent("a1"))
		if _, err := conn.Set(s.p.agent("a1"), b, -1); err != nil {
			t.Fatal(err)
		}
		changed := agent("a1")
		changed.Zone = "z2"
		err = s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{changed, agent("a2")}})
		if !errors.Is(err, ErrOutOfDate) || !errors.Is(err, zk.ErrBadVersion) || !strings.Contains(err.Error(), s.p.agent("a1")) {
			t.Fatalf("save over a changed record: %v, want ErrOutOfDate naming %s", err, s.p.agent("a1"))
		}
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a3")}}); !errors.Is(err, ErrOutOfDate) {
			t.Fatalf("save after a failed save: %v, want ErrOutOfDate until Load", err)
		}
		if _, err := s.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{changed, agent("a2")}}); err != nil {
			t.Fatalf("save after reload: %v", err)
		}
		checkAgents(t, load(t, conn, root).Agents, changed, agent("a2"))
	})

	t.Run("framework ID is never replaced", func(t *testing.T) {
		const root = "/fwid"
		s := leaderStore(t, conn, root, ZKConfig{})
		if err := s.SaveFramework(ctx, Framework{ID: "fw-1", Master: "m1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveFramework(ctx, Framework{ID: "fw-1", Master: "m2"}); err != nil {
			t.Fatalf("same ID, new master: %v", err)
		}
		s2 := leaderStore(t, conn, root, ZKConfig{Fence: s.cfg.Fence})
		err := s2.SaveFramework(ctx, Framework{ID: "fw-2"})
		if !errors.Is(err, ErrFrameworkIDChanged) || !strings.Contains(err.Error(), "fw-1") {
			t.Fatalf("replacing the framework ID: %v, want ErrFrameworkIDChanged naming fw-1", err)
		}
		if f := load(t, conn, root).Framework; f == nil || f.ID != "fw-1" || f.Master != "m2" {
			t.Fatalf("framework %+v", f)
		}
	})

	t.Run("ACLs", func(t *testing.T) {
		const root = "/acl/healer"
		acl := zk.DigestACL(zk.PermAll, "healer", "s3cret")
		authed, _ := connect(t, srv.Addr, 10*time.Second)
		if err := authed.AddAuth("digest", []byte("healer:s3cret")); err != nil {
			t.Fatal(err)
		}
		s := leaderStore(t, authed, root, ZKConfig{ACL: acl})
		g := fullGlobal()
		if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}, Global: &g}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveFramework(ctx, Framework{ID: "fw"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/acl", root, s.p.agents(), s.p.bucket(bucketOf("a1")), s.p.agent("a1"), s.p.global(), s.p.framework()} {
			got, _, err := authed.GetACL(p)
			if err != nil || !reflect.DeepEqual(got, acl) {
				t.Errorf("ACL of %s: %+v, %v; want %+v", p, got, err, acl)
			}
		}
		// Without credentials: nothing can be read, listed or written.
		anon, _ := connect(t, srv.Addr, 10*time.Second)
		if _, _, err := anon.Get(s.p.agent("a1")); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous get: %v, want ErrNoAuth", err)
		}
		if _, _, err := anon.Children(root); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous list: %v, want ErrNoAuth", err)
		}
		if _, err := anon.Set(s.p.global(), []byte("x"), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous set: %v, want ErrNoAuth", err)
		}
		if _, err := anon.Create(root+"/intruder", nil, 0, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous create: %v, want ErrNoAuth", err)
		}
		if err := anon.Delete(s.p.global(), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("anonymous delete: %v, want ErrNoAuth", err)
		}
		ro, _ := NewZK(anon, ZKConfig{Chroot: root})
		if _, err := ro.Load(ctx); !errors.Is(err, zk.ErrNoAuth) || !strings.Contains(err.Error(), "--zk") {
			t.Errorf("anonymous load: %v, want ErrNoAuth saying to check --zk", err)
		}
		// Wrong password: same.
		wrong, _ := connect(t, srv.Addr, 10*time.Second)
		if err := wrong.AddAuth("digest", []byte("healer:guess")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := wrong.Get(s.p.global()); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("wrong password get: %v, want ErrNoAuth", err)
		}
		// With them (another session): everything.
		standby, _ := connect(t, srv.Addr, 10*time.Second)
		if err := standby.AddAuth("digest", []byte("healer:s3cret")); err != nil {
			t.Fatal(err)
		}
		snap := load(t, standby, root)
		if len(snap.Agents) != 1 || !snap.Global.Paused || snap.Framework == nil {
			t.Fatalf("with credentials: %+v", snap)
		}
	})

	t.Run("large Persist is split", func(t *testing.T) {
		const root = "/split"
		s := leaderStore(t, conn, root, ZKConfig{})
		var big []coordinator.AgentRecord
		size := 0
		for i := 0; size < 3*MaxMultiBytes; i++ {
			r := maximalAgent()
			r.ID = coordinator.AgentID(fmt.Sprintf("big-%03d", i))
			r.PreviousID = ""
			b, err := EncodeAgent(r)
			if err != nil {
				t.Fatal(err)
			}
			size += len(b)
			big = append(big, r)
		}
		g := fullGlobal()
		c0 := s.Counters()
		if err := s.Save(ctx, coordinator.Persist{Agents: big, Global: &g}); err != nil {
			t.Fatalf("save %d bytes: %v", size, err)
		}
		multis := s.Counters().Multis - c0.Multis
		if multis < 3 {
			t.Errorf("%d bytes in %d multis; want at least 3 of at most %d bytes", size, multis, MaxMultiBytes)
		}
		t.Logf("%d records, %d bytes: %d multis", len(big), size, multis)
		snap := load(t, conn, root)
		checkAgents(t, snap.Agents, big...)
		if !reflect.DeepEqual(snap.Global, g) {
			t.Errorf("global record not written")
		}
		// The same records again, as updates, plus deletes of them all.
		c1 := s.Counters()
		var ids []coordinator.AgentID
		for _, r := range big {
			ids = append(ids, r.ID)
		}
		if err := s.Save(ctx, coordinator.Persist{Agents: big[:len(big)/2], Deleted: ids[len(big)/2:]}); err != nil {
			t.Fatal(err)
		}
		if s.Counters().Multis-c1.Multis < 2 {
			t.Errorf("updates of %d bytes in one multi", size/2)
		}
		checkAgents(t, load(t, conn, root).Agents, big[:len(big)/2]...)
	})

	t.Run("corrupt znodes are loud", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			plant func(t *testing.T, s *ZK) string // returns the path the error must name
			want  string
		}{
			{"garbage record", func(t *testing.T, s *ZK) string {
				_, err := conn.Set(s.p.agent("a1"), []byte("\xff\xff not protobuf"), -1)
				check(t, err)
				return s.p.agent("a1")
			}, "decode"},
			{"record in the wrong bucket", func(t *testing.T, s *ZK) string {
				b, _ := EncodeAgent(agent("a2"))
				wrong := s.p.bucket(bucketOf("a1")) + "/a2"
				_, err := conn.Create(wrong, b, 0, zk.WorldACL(zk.PermAll))
				check(t, err)
				return wrong
			}, "belongs in bucket"},
			{"record under another id", func(t *testing.T, s *ZK) string {
				b, _ := EncodeAgent(agent("a1"))
				p := s.p.agent("a3")
				check(t, createAll(conn, p, b))
				return p
			}, `not "a3"`},
			{"unescaped name", func(t *testing.T, s *ZK) string {
				p := s.p.bucket(bucketOf("a1")) + "/a%2f"
				_, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
				check(t, err)
				return p
			}, "not an escaped agent id"},
			{"stray bucket", func(t *testing.T, s *ZK) string {
				p := s.p.agents() + "/backup"
				_, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
				check(t, err)
				return p
			}, "buckets 00..ff"},
			{"garbage global", func(t *testing.T, s *ZK) string {
				_, err := conn.Create(s.p.global(), []byte{0xff}, 0, zk.WorldACL(zk.PermAll))
				check(t, err)
				return s.p.global()
			}, "decode"},
			{"framework without id", func(t *testing.T, s *ZK) string {
				_, err := conn.Create(s.p.framework(), nil, 0, zk.WorldACL(zk.PermAll))
				check(t, err)
				return s.p.framework()
			}, "no framework id"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				root := "/corrupt/" + strings.ReplaceAll(tc.name, " ", "-")
				s := leaderStore(t, conn, root, ZKConfig{})
				check(t, s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}))
				path := tc.plant(t, s)
				_, err := s.Load(ctx)
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("load: %v; want an error naming %s and saying %q", err, path, tc.want)
				}
				if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a9")}}); !errors.Is(err, ErrOutOfDate) {
					t.Fatalf("save after a failed load: %v, want ErrOutOfDate", err)
				}
			})
		}
	})

	t.Run("many agents", func(t *testing.T) {
		const root = "/many"
		const n = 3000
		s := leaderStore(t, conn, root, ZKConfig{})
		records := manyAgents(n)
		if err := s.Save(ctx, coordinator.Persist{Agents: records}); err != nil {
			t.Fatal(err)
		}
		snap := load(t, conn, root)
		if len(snap.Agents) != n {
			t.Fatalf("loaded %d agents, want %d", len(snap.Agents), n)
		}
		sortAgents(records)
		checkAgents(t, snap.Agents, records...)
		t.Logf("load of %d agents: %v, %d requests, %d bytes, largest %d (%s)", n, snap.Stats.Took, snap.Stats.Requests,
			snap.Stats.Bytes, snap.Stats.Largest, snap.Stats.LargestPath)
		// No children list grows with the cluster: the buckets share it.
		kids, _, err := conn.Children(s.p.agents())
		check(t, err)
		if len(kids) != Buckets {
			t.Errorf("%d buckets, want %d", len(kids), Buckets)
		}
		largest := 0
		for _, k := range kids {
			c, _, err := conn.Children(s.p.bucket(k))
			check(t, err)
			largest = max(largest, len(c))
		}
		if largest > 3*n/Buckets {
			t.Errorf("largest bucket holds %d of %d agents: the hash does not spread them", largest, n)
		}
	})
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func createAll(conn *zk.Conn, path string, data []byte) error {
	for _, p := range zkurl.Ancestors(path) {
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	_, err := conn.Create(path, data, 0, zk.WorldACL(zk.PermAll))
	return err
}

func sortAgents(rs []coordinator.AgentRecord) {
	slices.SortFunc(rs, func(a, b coordinator.AgentRecord) int { return cmp.Compare(a.ID, b.ID) })
}

// manyAgents makes n healthy records with Mesos-like ids.
func manyAgents(n int) []coordinator.AgentRecord {
	out := make([]coordinator.AgentRecord, n)
	for i := range out {
		out[i] = coordinator.AgentRecord{
			ID:       coordinator.AgentID(fmt.Sprintf("3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S%d", i)),
			Hostname: fmt.Sprintf("agent-%05d.rack-%02d.dc1.example.com", i, i%40),
			Zone:     fmt.Sprintf("zone-%d", i%3),
		}
	}
	return out
}

// TestZKServerRestart: a ZooKeeper restart shorter than the session timeout
// costs healer nothing but the writes attempted while it was down: the
// session and its fence survive, and after a reload writes go on.
func TestZKServerRestart(t *testing.T) {
	srv := zktest.Start(t)
	ctx := context.Background()
	conn, events := connect(t, srv.Addr, 20*time.Second)
	s := leaderStore(t, conn, "/restart", ZKConfig{})
	check(t, s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}))
	session := conn.SessionID()

	srv.Stop()
	waitState(t, events, zk.StateDisconnected)
	if err := s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a2")}}); err == nil {
		t.Fatal("a save while ZooKeeper is down succeeded")
	} else {
		t.Logf("save while down: %v", err)
	}
	srv.Restart()
	waitState(t, events, zk.StateHasSession)
	if conn.SessionID() != session {
		t.Fatalf("a new session after a short restart")
	}
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	a1 := agent("a1")
	a1.Zone = "z2"
	check(t, s.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{a1, agent("a2")}}))
	checkAgents(t, load(t, conn, "/restart").Agents, a1, agent("a2"))
}

// coordinatorThroughStore drives a coordinator through a random history
// (machines joining, leaving and re-registering, signals, outcomes, operator
// commands, time passing) and saves every Ready's Persist through a ZK store
// and a Memory store; at checkpoints, what each store loads is exactly the
// coordinator's records: creates, updates, moves and deletes all landed.
// (The duplicate-signal counter is left out of the comparison: the
// coordinator writes it only with a record's next real change, see its
// package doc.)
func coordinatorThroughStore(t *testing.T, conn *zk.Conn, root string) {
	ctx := context.Background()
	s := leaderStore(t, conn, root, ZKConfig{})
	mem := NewMemory()
	c, err := coordinator.New(restorePolicy())
	check(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	hosts := []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"}
	ids := map[string]coordinator.AgentID{}
	gen := 0
	step := func(ev coordinator.Event) {
		t.Helper()
		rd, _ := c.Step(ev)
		if err := s.Save(ctx, rd.Persist); err != nil {
			t.Fatalf("save after %T %+v: %v", ev, ev, err)
		}
		check(t, mem.Save(ctx, rd.Persist))
	}
	for _, l := range []coordinator.Link{coordinator.MasterConnected, coordinator.Reconciled, coordinator.ZKSessionUp} {
		step(coordinator.Connectivity{At: now, Change: l})
	}
	register := func(h string) {
		gen++
		ids[h] = coordinator.AgentID(fmt.Sprintf("%s-S%d", h, gen))
		step(coordinator.AgentAdded{At: now, ID: ids[h], Hostname: h, Zone: "z" + h[1:]})
	}
	for _, h := range hosts {
		register(h)
	}
	verify := func() {
		t.Helper()
		records, global := c.Records()
		for _, snap := range []Snapshot{load(t, conn, root), mustLoad(t, mem)} {
			checkAgents(t, withoutSignals(snap.Agents), withoutSignals(records)...)
			if !reflect.DeepEqual(snap.Global, global) {
				t.Fatalf("global: got %+v, want %+v", snap.Global, global)
			}
		}
	}
	for i := range 400 {
		now = now.Add(time.Duration(rng.IntN(180)) * time.Second)
		h := hosts[rng.IntN(len(hosts))]
		id := ids[h]
		attempt := func() uint64 { r, _ := c.Agent(id); return r.Incident.Run.Attempt }
		switch rng.IntN(10) {
		case 0, 1, 2:
			step(coordinator.Signal{At: now, Agent: string(id), Problem: []string{"disk_full", "hung"}[rng.IntN(2)], Source: "monitor"})
		case 3:
			step(coordinator.StepStarted{At: now, Agent: id, Attempt: attempt()})
		case 4:
			step(coordinator.StepOutcome{At: now, Agent: id, Attempt: attempt(),
				Result: []coordinator.Result{coordinator.ResultFailed, coordinator.ResultSucceeded}[rng.IntN(2)], OutputTail: "out"})
		case 5:
			step(coordinator.AgentRemoved{At: now, ID: id})
		case 6:
			register(h) // a reboot: the machine comes back under a new id
		case 7:
			step(coordinator.Command{At: now, Op: []coordinator.Op{coordinator.OpReactivate, coordinator.OpCancel,
				coordinator.OpApprove, coordinator.OpPause, coordinator.OpResume}[rng.IntN(5)], Agent: id, Principal: "op"})
		default:
			now = now.Add(time.Duration(rng.IntN(48)) * time.Hour)
			step(coordinator.Tick{At: now})
		}
		if i%100 == 99 {
			verify()
		}
	}
	verify()
	// The history must have exercised moves and deletes.
	records, _ := c.Records()
	var moved bool
	for _, r := range records {
		moved = moved || r.PreviousID != ""
	}
	if !moved {
		t.Error("the history moved no record to a new agent id")
	}
	if c := s.Counters(); c.Saves == 0 || c.Multis != c.Saves {
		t.Errorf("counters %+v: want one multi per save", c)
	}
}

func withoutSignals(rs []coordinator.AgentRecord) []coordinator.AgentRecord {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Incident.Signals, out[i].Incident.LastSignalAt = 0, time.Time{}
	}
	return out
}

func mustLoad(t testing.TB, s Store) Snapshot {
	t.Helper()
	snap, err := s.Load(context.Background())
	check(t, err)
	return snap
}
