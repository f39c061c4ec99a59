package mesosconn

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/integration/emulator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for something the emulator or the
// connection should do promptly (generous for -race on a shared machine).
const waitTimeout = 15 * time.Second

// testFramework is a FrameworkInfo as healer registers it.
func testFramework() mesos.FrameworkInfo {
	return mesos.FrameworkInfo{
		User:            "root",
		Name:            "healer-test",
		Roles:           []string{"healer"},
		FailoverTimeout: proto.Float64(3600),
		Checkpoint:      proto.Bool(true),
		Hostname:        proto.String("scheduler.test"),
		WebUiURL:        proto.String("http://scheduler.test:7070/"),
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
		},
	}
}

// testConfig is a Config with test-sized timings. The masters of
// clusterConfig send a HEARTBEAT every second, so five misses are 5 s of
// silence: never reached by accident on a busy machine.
func testConfig(t *testing.T, master string) Config {
	return Config{
		Master:          master,
		Framework:       testFramework(),
		EventBuffer:     256,
		HeartbeatMisses: 5,
		BackoffMin:      20 * time.Millisecond,
		BackoffMax:      200 * time.Millisecond,
		CallTimeout:     5 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// clusterConfig is an emulated cluster with fast allocation and in-process
// agents without HTTP endpoints.
func clusterConfig(agents int) emulator.ClusterConfig {
	return emulator.ClusterConfig{
		Agents: agents,
		Master: emulator.MasterConfig{
			AllocationInterval: 50 * time.Millisecond,
			HeartbeatInterval:  time.Second,
		},
		Agent: emulator.AgentConfig{NoHTTP: true, FakeExecutors: emulator.FakeBehavior{}.Factory()},
	}
}

func startCluster(t *testing.T, cfg emulator.ClusterConfig) *emulator.Cluster {
	t.Helper()
	cl, err := emulator.NewCluster(cfg)
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// running is a Conn whose Run runs in the background.
type running struct {
	t      *testing.T
	conn   *Conn
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
	seen   []Event
}

// start creates a Conn and runs it until the test ends (or stop).
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	conn, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{t: t, conn: conn, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = conn.Run(ctx)
	}()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels Run, waits for it, checks that everything it started has
// ended, and returns its error.
func (r *running) stop() error {
	r.t.Helper()
	r.cancel()
	r.result()
	noConnGoroutines(r.t)
	r.conn.mu.Lock()
	det := r.conn.det
	r.conn.mu.Unlock()
	if det != nil {
		r.t.Error("the ZooKeeper detector is still open after Run returned")
	}
	return r.err
}

// result waits for Run to return and returns its error.
func (r *running) result() error {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(waitTimeout):
		r.t.Fatal("Run did not return")
	}
	return r.err
}

// next returns the next event matching pred, skipping (and recording) the
// others; it fails if Events closes first.
func (r *running) next(what string, pred func(Event) bool) Event {
	r.t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case ev, ok := <-r.conn.Events():
			if !ok {
				r.t.Fatalf("waiting for %s: Events closed; Run returned %v", what, r.result())
			}
			r.seen = append(r.seen, ev)
			if ev.Event != nil && ev.Event.Type == scheduler.Event_HEARTBEAT {
				r.t.Fatal("HEARTBEAT delivered to the runtime")
			}
			if pred(ev) {
				return ev
			}
		case <-timeout:
			r.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// subscribed waits for generation gen's Subscribed.
func (r *running) subscribed(gen uint64) *Subscribed {
	r.t.Helper()
	ev := r.next("Subscribed", func(ev Event) bool { return ev.Subscribed != nil })
	if ev.Gen != gen {
		r.t.Fatalf("Subscribed generation %d; want %d", ev.Gen, gen)
	}
	return ev.Subscribed
}

// disconnected waits for generation gen's Disconnected and checks its
// reason wraps want.
func (r *running) disconnected(gen uint64, want error) error {
	r.t.Helper()
	ev := r.next("Disconnected", func(ev Event) bool { return ev.Disconnected != nil })
	if ev.Gen != gen || !errors.Is(ev.Disconnected, want) {
		r.t.Fatalf("Disconnected gen %d: %v; want gen %d wrapping %v", ev.Gen, ev.Disconnected, gen, want)
	}
	return ev.Disconnected
}

// eventOf matches a stream event of a type.
func eventOf(typ scheduler.Event_Type) func(Event) bool {
	return func(ev Event) bool { return ev.Event != nil && ev.Event.Type == typ }
}

// quiet fails if a Subscribed or Disconnected arrives within d: an absence
// check over a bounded window.
func (r *running) quiet(d time.Duration) {
	r.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-r.conn.Events():
			if !ok {
				r.t.Fatalf("Events closed; Run returned %v", r.result())
			}
			if ev.Subscribed != nil || ev.Disconnected != nil {
				r.t.Fatalf("unexpected %+v", ev)
			}
		case <-timeout:
			return
		}
	}
}

func (r *running) call(call *scheduler.Call) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	return r.conn.Call(ctx, call)
}

func (r *running) mustCall(call *scheduler.Call) {
	r.t.Helper()
	if err := r.call(call); err != nil {
		r.t.Fatalf("%s: %v", call.Type, err)
	}
}

// operator is a Conn used only for operator calls (never Run); its idle
// connections are closed when the test ends.
func operator(t *testing.T, master string) *Conn {
	t.Helper()
	cfg := testConfig(t, master)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// No idle connection outlives a call, so none is mistaken for one of a
	// running Conn's (noConnGoroutines).
	c.transport.DisableKeepAlives = true
	return c
}

func mustOperator(t *testing.T, c *Conn, call *master.Call) *master.Response {
	t.Helper()
	resp, err := c.Operator(context.Background(), call)
	if err != nil {
		t.Fatalf("operator %s: %v", call.Type, err)
	}
	return resp
}

// noConnGoroutines fails if a goroutine of a Conn or of its HTTP transport
// outlives Run (the transport's closing connections take a moment to end,
// hence the deadline), or if its ZooKeeper detector is still open. (A
// detector's goroutine cannot be told from the emulator cluster's own;
// TestMain's goleak catches it if it leaks.)
func noConnGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var left []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "mesosconn.(*Conn)") || strings.Contains(g, "net/http.(*persistConn)") {
				left = append(left, g)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlive Run:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
