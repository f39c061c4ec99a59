package runtime

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
	"github.com/healer-mesos/healer/scheduler/store"
)

// fakeMaster is a scripted Mesos connection: the test pushes events and
// reads the calls the runtime made.
type fakeMaster struct {
	events chan mesosconn.Event
	mu     sync.Mutex
	calls  []*scheduler.Call
	ops    []*master.Call
	// onOp answers operator calls (nil: an empty response).
	onOp func(*master.Call) (*master.Response, error)
	// log orders everything the runtime did, for write-ahead checks:
	// "call:TYPE", "op:TYPE"; the store appends "save".
	log *eventLog
}

type eventLog struct {
	mu  sync.Mutex
	all []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, s)
}

func (l *eventLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

func newFakeMaster(log *eventLog) *fakeMaster {
	return &fakeMaster{events: make(chan mesosconn.Event, 64), log: log}
}

func (m *fakeMaster) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (m *fakeMaster) Events() <-chan mesosconn.Event { return m.events }

func (m *fakeMaster) Call(_ context.Context, c *scheduler.Call) error {
	m.mu.Lock()
	m.calls = append(m.calls, c)
	m.mu.Unlock()
	m.log.add("call:" + c.Type.String())
	return nil
}

func (m *fakeMaster) Operator(_ context.Context, c *master.Call) (*master.Response, error) {
	m.mu.Lock()
	m.ops = append(m.ops, c)
	on := m.onOp
	m.mu.Unlock()
	m.log.add("op:" + c.Type.String())
	if on != nil {
		return on(c)
	}
	return &master.Response{}, nil
}

// OperatorInto answers like Operator, through the wire: the answer is
// encoded and decoded into out, as mesosconn does with a master's.
func (m *fakeMaster) OperatorInto(ctx context.Context, c *master.Call, out proto.Message) error {
	resp, err := m.Operator(ctx, c)
	if err != nil {
		return err
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, out)
}

func (m *fakeMaster) callsOf(typ scheduler.Call_Type) []*scheduler.Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*scheduler.Call
	for _, c := range m.calls {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// fakeStore is an in-memory store whose writes can be made to fail.
type fakeStore struct {
	mu      sync.Mutex
	fw      *store.Framework
	agents  map[coordinator.AgentID]coordinator.AgentRecord
	global  coordinator.GlobalRecord
	saves   int
	failErr error
	log     *eventLog
}

func newFakeStore(log *eventLog) *fakeStore {
	return &fakeStore{agents: make(map[coordinator.AgentID]coordinator.AgentRecord), log: log}
}

func (s *fakeStore) Load(context.Context) (store.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := store.Snapshot{Global: s.global}
	if s.fw != nil {
		f := *s.fw
		snap.Framework = &f
	}
	for _, r := range s.agents {
		snap.Agents = append(snap.Agents, r)
	}
	return snap, nil
}

func (s *fakeStore) Save(_ context.Context, p coordinator.Persist) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		return s.failErr
	}
	s.saves++
	for _, id := range p.Deleted {
		delete(s.agents, id)
	}
	for _, r := range p.Agents {
		s.agents[r.ID] = r
	}
	if p.Global != nil {
		s.global = *p.Global
	}
	s.log.add("save")
	return nil
}

func (s *fakeStore) SaveFramework(_ context.Context, f store.Framework) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failErr != nil {
		return s.failErr
	}
	s.fw = &f
	s.log.add("save-framework")
	return nil
}

func (s *fakeStore) Counters() store.Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return store.Counters{Saves: uint64(s.saves)}
}

func (s *fakeStore) failWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failErr = err
}

func (s *fakeStore) record(id string) (coordinator.AgentRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.agents[coordinator.AgentID(id)]
	return r, ok
}

// fakeClock advances only when told; its tickers fire on Tick.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
}

type fakeTicker struct{ c chan time.Time }

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               {}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{c: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	return t
}

// Advance moves the clock and delivers one tick to every ticker.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now, ts := c.now, slices.Clone(c.tickers)
	c.mu.Unlock()
	for _, t := range ts {
		select {
		case t.c <- now:
		default:
		}
	}
}

// harness runs a Runtime against a fake master, store and clock.
type harness struct {
	t       testing.TB
	rt      *Runtime
	m       *fakeMaster
	st      *fakeStore
	clock   *fakeClock
	log     *eventLog
	lead    chan Leadership
	cancel  context.CancelFunc
	done    chan error
	termCtx context.CancelFunc
}

func testPolicy() coordinator.Policy {
	p := coordinator.DefaultPolicy()
	p.Mode = coordinator.ModeExecute
	p.Ladders = nil
	p.DefaultLadder = coordinator.Ladder{
		{Action: "restart", Scope: coordinator.ScopeAgent, Timeout: 5 * time.Minute},
		{Action: "cycle", Scope: coordinator.ScopeMaster, Timeout: time.Minute},
		{Action: coordinator.ActionIsolate, Scope: coordinator.ScopeMaster},
	}
	return p
}

func newHarness(t testing.TB, tweak func(*Config)) *harness {
	t.Helper()
	log := &eventLog{}
	h := &harness{t: t, log: log, m: newFakeMaster(log), st: newFakeStore(log),
		clock: &fakeClock{now: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}, lead: make(chan Leadership, 4)}
	failover := 3600.0
	cfg := Config{
		Policy:    testPolicy(),
		Commands:  map[string]string{"restart": "true", "cycle": "true"},
		Framework: mesos.FrameworkInfo{Name: "healer", User: "root", FailoverTimeout: &failover},
		TaskCPUs:  0.1, TaskMemMB: 32, ExecutorURI: "http://127.0.0.1:1/executor",
		NewMaster: func(string) (Master, error) { return h.m, nil },
		Clock:     h.clock,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.rt = rt
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- rt.Run(ctx, h.lead) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Error("runtime did not stop")
	}
}

// elect starts a term.
func (h *harness) elect() {
	ctx, cancel := context.WithCancel(context.Background())
	h.termCtx = cancel
	h.lead <- Leadership{Kind: Elected, Term: &Term{Ctx: ctx, Store: h.st}}
	h.waitFor("term running", func() bool { return h.rt.term() != nil })
}

// subscribe delivers SUBSCRIBED and answers the reconciliation marker.
func (h *harness) subscribe(gen uint64) {
	h.m.events <- mesosconn.Event{Gen: gen, Subscribed: &mesosconn.Subscribed{FrameworkID: "fw-1", Master: "m:5050"}}
	var marker string
	h.waitFor("reconciliation marker sent", func() bool {
		for _, c := range h.m.callsOf(scheduler.Call_RECONCILE) {
			for _, tk := range c.Reconcile.Tasks {
				if h.rt.term() != nil && isMarkerID(tk.TaskID.Value) {
					marker = tk.TaskID.Value
				}
			}
		}
		return marker != ""
	})
	h.update(mesos.TaskStatus{TaskID: mesos.TaskID{Value: marker}, State: mesos.TASK_LOST.Enum(),
		Reason: mesos.REASON_RECONCILIATION.Enum()})
	h.waitFor("mutable", func() bool {
		st, err := h.rt.Status(context.Background())
		return err == nil && !st.Immutable
	})
}

func isMarkerID(id string) bool {
	return len(id) > len(markerPrefix) && id[:len(markerPrefix)] == markerPrefix
}

func (h *harness) update(st mesos.TaskStatus) {
	h.m.events <- mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_UPDATE,
		Update: &scheduler.Event_Update{Status: st}}}
}

func (h *harness) offer(id, agent, host string) {
	cpus, mem := 4.0, 4096.0
	h.m.events <- mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_OFFERS,
		Offers: &scheduler.Event_Offers{Offers: []mesos.Offer{{
			ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Hostname: host,
			FrameworkID: mesos.FrameworkID{Value: "fw-1"},
			Resources: []mesos.Resource{
				{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: cpus}},
				{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: mem}},
			},
		}}}}}
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	testtool.WaitFor(h.t, what, 10*time.Second, cond)
}

var errStoreDown = errors.New("store down")
