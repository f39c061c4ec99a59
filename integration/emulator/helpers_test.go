package emulator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/zktest"
)

// stubAgent is an in-test AgentLink double: it records what the master
// sends and never calls back on its own.
type stubAgent struct {
	id    string
	state AgentState

	mu     sync.Mutex
	calls  []string
	acks   [][]byte
	pinged int
}

func newStubAgent(id string, cpus, mem float64) *stubAgent {
	port := int32(5051)
	return &stubAgent{id: id, state: AgentState{Info: mesos.AgentInfo{
		Hostname:  "127.0.0.1",
		Port:      &port,
		ID:        &mesos.AgentID{Value: id},
		Resources: []mesos.Resource{scalarRes("cpus", cpus), scalarRes("mem", mem)},
		Attributes: []mesos.Attribute{{Name: "rack", Type: mesos.TEXT,
			Text: &mesos.Value_Text{Value: "r1"}}},
	}}}
}

func scalarRes(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func (a *stubAgent) record(format string, args ...any) {
	a.mu.Lock()
	a.calls = append(a.calls, fmt.Sprintf(format, args...))
	a.mu.Unlock()
}

func (a *stubAgent) has(call string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.calls {
		if c == call {
			return true
		}
	}
	return false
}

func (a *stubAgent) ID() mesos.AgentID { return mesos.AgentID{Value: a.id} }
func (a *stubAgent) RunTask(fw mesos.FrameworkInfo, t mesos.TaskInfo) {
	a.record("run %s", t.TaskID.Value)
}
func (a *stubAgent) RunTaskGroup(fw mesos.FrameworkInfo, e mesos.ExecutorInfo, g mesos.TaskGroupInfo) {
	for _, t := range g.Tasks {
		a.record("rungroup %s %s", e.ExecutorID.Value, t.TaskID.Value)
	}
}
func (a *stubAgent) KillTask(fid mesos.FrameworkID, tid mesos.TaskID, _ *mesos.KillPolicy) {
	a.record("kill %s", tid.Value)
}
func (a *stubAgent) ShutdownExecutor(fid mesos.FrameworkID, eid mesos.ExecutorID) {
	a.record("shutdown_executor %s", eid.Value)
}
func (a *stubAgent) ShutdownFramework(fid mesos.FrameworkID) {
	a.record("shutdown_framework %s", fid.Value)
}
func (a *stubAgent) FrameworkMessage(fid mesos.FrameworkID, eid mesos.ExecutorID, data []byte) {
	a.record("message %s %s", eid.Value, data)
}
func (a *stubAgent) Acknowledge(fid mesos.FrameworkID, tid mesos.TaskID, uuid []byte) {
	a.mu.Lock()
	a.acks = append(a.acks, uuid)
	a.mu.Unlock()
	a.record("ack %s", tid.Value)
}
func (a *stubAgent) Drain(*int64, bool) { a.record("drain") }
func (a *stubAgent) Ping() {
	a.mu.Lock()
	a.pinged++
	a.mu.Unlock()
}
func (a *stubAgent) Shutdown()         { a.record("shutdown") }
func (a *stubAgent) State() AgentState { return a.state }

// stubMaster is a leading master on an httptest server with short intervals.
type stubMaster struct {
	*Master
	srv *httptest.Server
	url string
}

func startStubMaster(t *testing.T, mutate ...func(*MasterConfig)) *stubMaster {
	t.Helper()
	cfg := MasterConfig{
		AllocationInterval: 50 * time.Millisecond,
		HeartbeatInterval:  200 * time.Millisecond,
		AgentPingTimeout:   time.Hour,
	}
	for _, f := range mutate {
		f(&cfg)
	}
	m := NewMaster(cfg)
	m.Lead()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(func() {
		m.Close()
		srv.Close()
	})
	return &stubMaster{Master: m, srv: srv, url: srv.URL}
}

// schedClient is a mesos-go scheduler client subscribed to the master; its
// events arrive on events until the stream ends (then closed is closed).
type schedClient struct {
	t      *testing.T
	caller calls.Caller
	fid    string
	events chan *scheduler.Event
	closed chan struct{}
	err    error
	cancel context.CancelFunc
}

func frameworkInfo(name string, caps ...mesos.FrameworkInfo_Capability_Type) mesos.FrameworkInfo {
	fi := mesos.FrameworkInfo{User: "root", Name: name}
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return fi
}

func newSchedClient(t *testing.T, url string, codec encoding.Codec) *schedClient {
	cli := httpcli.New(
		httpcli.Endpoint(url+"/api/v1/scheduler"),
		httpcli.Codec(codec),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	return &schedClient{t: t, caller: httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" }))}
}

var protobufCodec = codecs.ByMediaType[codecs.MediaTypeProtobuf]
var jsonCodec = codecs.ByMediaType[codecs.MediaTypeJSON]

// subscribe subscribes and waits for SUBSCRIBED.
func (c *schedClient) subscribe(fi mesos.FrameworkInfo) *scheduler.Event {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.t.Cleanup(cancel)
	call := calls.Subscribe(&fi)
	if fi.ID != nil {
		call = call.With(calls.SubscribeTo(fi.ID.Value))
	}
	resp, err := c.caller.Call(ctx, call)
	if err != nil {
		c.t.Fatalf("subscribe: %v", err)
	}
	c.events = make(chan *scheduler.Event, 1000)
	c.closed = make(chan struct{})
	go func() {
		defer close(c.closed)
		defer resp.Close()
		for {
			var ev scheduler.Event
			if err := resp.Decode(&ev); err != nil {
				c.err = err
				return
			}
			c.events <- &ev
		}
	}()
	ev := c.next(scheduler.Event_SUBSCRIBED)
	c.fid = ev.Subscribed.FrameworkID.Value
	return ev
}

// next returns the next event of type typ, skipping HEARTBEATs (and other
// types when skipOthers).
func (c *schedClient) next(typ scheduler.Event_Type) *scheduler.Event {
	c.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if ev.Type == typ {
				return ev
			}
			if ev.Type == scheduler.Event_HEARTBEAT || ev.Type == scheduler.Event_OFFERS || ev.Type == scheduler.Event_RESCIND {
				continue
			}
			c.t.Fatalf("waiting for %s, got %s", typ, ev.Type)
		case <-c.closed:
			// Events decoded before the end are still buffered.
			for len(c.events) > 0 {
				if ev := <-c.events; ev.Type == typ {
					return ev
				}
			}
			c.t.Fatalf("waiting for %s: stream ended: %v", typ, c.err)
		case <-timeout:
			c.t.Fatalf("timed out waiting for %s", typ)
		}
	}
}

// call sends a non-SUBSCRIBE call with the framework ID stamped.
func (c *schedClient) call(call *scheduler.Call) error {
	call.FrameworkID = &mesos.FrameworkID{Value: c.fid}
	resp, err := c.caller.Call(context.Background(), call)
	if resp != nil {
		resp.Close()
	}
	return err
}

func (c *schedClient) mustCall(call *scheduler.Call) {
	c.t.Helper()
	if err := c.call(call); err != nil {
		c.t.Fatalf("%s: %v", call.Type, err)
	}
}

// expectQuiet fails if any event other than HEARTBEAT arrives within d.
func (c *schedClient) expectQuiet(d time.Duration) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-c.events:
			if ev.Type != scheduler.Event_HEARTBEAT {
				c.t.Fatalf("unexpected %s event: %v", ev.Type, ev)
			}
		case <-timeout:
			return
		}
	}
}

// fastCluster is a cluster config with test-sized intervals and in-process
// fake executors. An agent is marked unreachable after 1 s without pongs:
// fast enough for the tests that lose agents, slow enough that a busy
// machine under -race does not lose one spuriously.
// zkClusterConfig is fastCluster(agents) with two masters electing their
// leader in a fresh ZooKeeper, whose address it also returns, with a 2 s
// session timeout.
func zkClusterConfig(t *testing.T, agents int) (ClusterConfig, string) {
	srv := zktest.Start(t)
	cfg := fastCluster(agents)
	cfg.Masters = 2
	cfg.ZK = "zk://" + srv.Addr + "/mesos"
	cfg.ZKSessionTimeout = 2 * time.Second
	return cfg, srv.Addr
}

func fastCluster(agents int) ClusterConfig {
	return ClusterConfig{
		Agents: agents,
		Master: MasterConfig{
			AllocationInterval:   50 * time.Millisecond,
			HeartbeatInterval:    time.Second,
			AgentPingTimeout:     200 * time.Millisecond,
			MaxAgentPingTimeouts: 5,
		},
		Agent: AgentConfig{
			FakeExecutors:             FakeBehavior{}.Factory(),
			StatusUpdateRetryMin:      100 * time.Millisecond,
			StatusUpdateRetryMax:      200 * time.Millisecond,
			RegistrationBackoffFactor: 50 * time.Millisecond,
		},
	}
}

func startCluster(t *testing.T, cfg ClusterConfig) *Cluster {
	t.Helper()
	c, err := NewCluster(cfg)
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitEvent returns the next event satisfying pred, skipping the others.
func waitEvent(t *testing.T, c *schedClient, what string, pred func(*scheduler.Event) bool) *scheduler.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.events:
			if pred(ev) {
				return ev
			}
		case <-c.closed:
			t.Fatalf("waiting for %s: stream ended: %v", what, c.err)
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func isType(typ scheduler.Event_Type) func(*scheduler.Event) bool {
	return func(ev *scheduler.Event) bool { return ev.Type == typ }
}

func isUpdate(taskID string, state mesos.TaskState) func(*scheduler.Event) bool {
	return func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_UPDATE && ev.Update.Status.TaskID.Value == taskID && ev.Update.Status.State != nil &&
			*ev.Update.Status.State == state
	}
}

// operatorSender is a mesos-go operator API client, as healer's admin
// tools use it. It speaks protobuf: mesos-go's JSON codec cannot decode the
// QUOTA_V2 master capability a 1.12 master announces.
func operatorSender(url string) mcalls.Sender {
	cli := httpcli.New(httpcli.Endpoint(url+"/api/v1"), httpcli.Codec(protobufCodec))
	return httpmaster.NewSender(cli.Send)
}

func sendOperator(t *testing.T, s mcalls.Sender, call *master.Call) *master.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.Send(ctx, mcalls.NonStreaming(call))
	if err != nil {
		t.Fatalf("%s: %v", call.Type, err)
	}
	var r master.Response
	if resp == nil { // mutations: 200 with no body
		return &r
	}
	defer resp.Close()
	if strings.HasPrefix(call.Type.String(), "GET_") {
		if err := resp.Decode(&r); err != nil {
			t.Fatalf("%s: decode: %v", call.Type, err)
		}
	}
	return &r
}

// postRaw posts a JSON body to url with headers and returns status,
// headers and body.
func postRaw(t *testing.T, url, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func strPtr(s string) *string { return &s }
