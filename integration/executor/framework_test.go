package executor_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// binary is the healer-executor built once by TestMain.
var binary string

// buildExecutor builds cmd/healer-executor as the Makefile does (static).
func buildExecutor() (dir string, err error) {
	dir, err = os.MkdirTemp("", "healer-executor-test-")
	if err != nil {
		return "", err
	}
	binary = filepath.Join(dir, "healer-executor")
	cmd := exec.Command("go", "build", "-trimpath", "-o", binary, "../../cmd/healer-executor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("build healer-executor: %w\n%s", err, out)
	}
	return dir, nil
}

// testCluster is one master and one agent with Mesos' intervals shrunk.
func testCluster(t testing.TB, adjust func(*emulator.AgentConfig)) (*emulator.Cluster, *emulator.Agent) {
	t.Helper()
	agent := emulator.AgentConfig{
		WorkDir:                       t.TempDir(),
		ExecutorRegistrationTimeout:   10 * time.Second,
		ExecutorReregistrationTimeout: 3 * time.Second,
		ExecutorShutdownGracePeriod:   3 * time.Second,
		StatusUpdateRetryMin:          time.Second,
		StatusUpdateRetryMax:          2 * time.Second,
	}
	if adjust != nil {
		adjust(&agent)
	}
	c, err := emulator.NewCluster(emulator.ClusterConfig{
		Agents: 1,
		Agent:  agent,
		Master: emulator.MasterConfig{AllocationInterval: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.Agents()[0]
}

// framework is a minimal mesos-go scheduler for driving healer-executor: it
// subscribes, keeps the latest offers, acknowledges every update and
// records updates, executor messages and executor exits.
type framework struct {
	t      testing.TB
	caller calls.Caller
	fid    string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	offers   map[string]mesos.Offer // by agent
	updates  []mesos.TaskStatus
	messages [][]byte
	exits    []scheduler.Event_Failure
}

func startFramework(t testing.TB, c *emulator.Cluster, checkpoint bool) *framework {
	t.Helper()
	cli := httpcli.New(
		httpcli.Endpoint(c.LeaderURL()+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	f := &framework{t: t, caller: httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" })),
		offers: map[string]mesos.Offer{}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	fi := mesos.FrameworkInfo{User: "root", Name: "healer-executor-test", Checkpoint: &checkpoint}
	resp, err := f.caller.Call(ctx, calls.Subscribe(&fi))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	subscribed := make(chan string, 1)
	go func() {
		defer close(f.done)
		defer resp.Close()
		for {
			var ev scheduler.Event
			if err := resp.Decode(&ev); err != nil {
				return
			}
			if ack := f.handle(&ev, subscribed); ack != nil {
				f.call(ack)
			}
		}
	}()
	t.Cleanup(func() {
		f.cancel()
		<-f.done
	})
	select {
	case f.fid = <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("no SUBSCRIBED")
	}
	return f
}

// handle records an event and returns the acknowledgement to send, if any.
func (f *framework) handle(ev *scheduler.Event, subscribed chan<- string) (ack *scheduler.Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Type {
	case scheduler.Event_SUBSCRIBED:
		subscribed <- ev.Subscribed.FrameworkID.Value
	case scheduler.Event_OFFERS:
		for _, o := range ev.Offers.Offers {
			f.offers[o.AgentID.Value] = o
		}
	case scheduler.Event_RESCIND:
		for a, o := range f.offers {
			if o.ID == ev.Rescind.OfferID {
				delete(f.offers, a)
			}
		}
	case scheduler.Event_UPDATE:
		st := ev.Update.Status
		f.updates = append(f.updates, st)
		if len(st.UUID) > 0 {
			ack = calls.Acknowledge(st.AgentID.GetValue(), st.TaskID.Value, st.UUID)
		}
	case scheduler.Event_MESSAGE:
		f.messages = append(f.messages, ev.Message.Data)
	case scheduler.Event_FAILURE:
		if ev.Failure.ExecutorID != nil {
			f.exits = append(f.exits, *ev.Failure)
		}
	}
	return ack
}

func (f *framework) call(c *scheduler.Call) error {
	c.FrameworkID = &mesos.FrameworkID{Value: f.fid}
	resp, err := f.caller.Call(context.Background(), c)
	if resp != nil {
		resp.Close()
	}
	return err
}

func (f *framework) mustCall(c *scheduler.Call) {
	f.t.Helper()
	if err := f.call(c); err != nil {
		f.t.Fatalf("%s: %v", c.Type, err)
	}
}

// launch waits for an offer from agent and launches tasks on it.
func (f *framework) launch(agent string, tasks ...mesos.TaskInfo) {
	f.t.Helper()
	var offer mesos.Offer
	testtool.WaitFor(f.t, "an offer from "+agent, 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		o, ok := f.offers[agent]
		if ok {
			offer = o
			delete(f.offers, agent)
		}
		return ok
	})
	f.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(offer.ID)).
		With(calls.RefuseSeconds(0)))
}

// waitUpdate waits for task's update in state and returns it.
func (f *framework) waitUpdate(task string, state mesos.TaskState) mesos.TaskStatus {
	f.t.Helper()
	var st mesos.TaskStatus
	testtool.WaitFor(f.t, fmt.Sprintf("%s %s", task, state), 30*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, u := range f.updates {
			if u.TaskID.Value == task && u.GetState() == state {
				st = u
				return true
			}
		}
		return false
	})
	return st
}

func (f *framework) statesOf(task string) []mesos.TaskState {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []mesos.TaskState
	for _, u := range f.updates {
		if u.TaskID.Value == task {
			out = append(out, u.GetState())
		}
	}
	return out
}

func (f *framework) reports(t testing.TB) []*healerpb.MonitorReport {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*healerpb.MonitorReport
	for _, m := range f.messages {
		r, err := taskspec.DecodeMonitorReport(m)
		if err != nil {
			t.Fatalf("a framework message that is not a monitor report: %v", err)
		}
		out = append(out, r)
	}
	return out
}

func (f *framework) executorExits() []scheduler.Event_Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]scheduler.Event_Failure(nil), f.exits...)
}

// executorInfo is healer's executor, fetched from the test binary.
func executorInfo(t testing.TB, idle time.Duration) mesos.ExecutorInfo {
	t.Helper()
	info, err := taskspec.NewExecutorInfo(taskspec.ExecutorSpec{
		URI:           binary,
		Resources:     []mesos.Resource{resources.NewCPUs(0.05).Resource, resources.NewMemory(32).Resource},
		ShutdownGrace: 3 * time.Second,
		IdleTimeout:   idle,
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

var taskResources = []mesos.Resource{resources.NewCPUs(0.1).Resource, resources.NewMemory(32).Resource}

func repairTask(t testing.TB, exec mesos.ExecutorInfo, agent string, attempt uint64, command string, timeout, grace time.Duration) mesos.TaskInfo {
	t.Helper()
	ti, err := taskspec.RepairTaskInfo(exec, mesos.AgentID{Value: agent}, &healerpb.RepairTask{
		AgentId: agent, Hostname: "node-1", Incident: 1, Attempt: attempt, Problem: "disk_full",
		Action: "clean_disk", Command: command, TimeoutNs: int64(timeout),
	}, taskResources, grace)
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

func repairResult(t testing.TB, st mesos.TaskStatus) *healerpb.RepairResult {
	t.Helper()
	r, err := taskspec.DecodeRepairResult(st.Data)
	if err != nil {
		t.Fatalf("status %s of %s: %v", st.GetState(), st.TaskID.Value, err)
	}
	return r
}

// sandboxes lists the executor's run directories on the agent (one per
// executor process launched).
func sandboxes(a *emulator.Agent, fid string, exec mesos.ExecutorInfo) []string {
	runs, _ := filepath.Glob(filepath.Join(a.WorkDir(), "slaves", a.ID().Value, "frameworks", fid,
		"executors", exec.ExecutorID.Value, "runs", "*"))
	return runs
}

func executorLog(t testing.TB, a *emulator.Agent, fid string, exec mesos.ExecutorInfo) string {
	t.Helper()
	runs := sandboxes(a, fid, exec)
	var b strings.Builder
	for _, r := range runs {
		data, _ := os.ReadFile(filepath.Join(r, "stderr"))
		b.Write(data)
	}
	return b.String()
}
