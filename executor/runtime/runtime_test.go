package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// These tests run the loop in-process against a fake agent, so goleak sees
// every goroutine it starts; integration/executor runs the real binary on
// the emulator's agents.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const agentID = "fake-agent-S0"

// fakeAgent speaks the executor API: one subscription at a time, events
// pushed by the test, calls handed to the test.
type fakeAgent struct {
	srv    *httptest.Server
	subs   chan *executor.Call_Subscribe
	calls  chan *executor.Call
	events chan *executor.Event
	drop   chan struct{} // ends the current subscription
}

func newFakeAgent(t *testing.T) *fakeAgent {
	a := &fakeAgent{subs: make(chan *executor.Call_Subscribe, 8), calls: make(chan *executor.Call, 64),
		events: make(chan *executor.Event, 64), drop: make(chan struct{}, 1)}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var call executor.Call
	if err == nil {
		err = call.Unmarshal(body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if call.Type != executor.Call_SUBSCRIBE {
		a.calls <- &call
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a.subs <- call.Subscribe
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
	send := func(ev *executor.Event) bool {
		b, _ := ev.Marshal()
		if _, err := fmt.Fprintf(w, "%d\n%s", len(b), b); err != nil {
			return false
		}
		w.(http.Flusher).Flush()
		return true
	}
	hostname := "node-1"
	send(&executor.Event{Type: executor.Event_SUBSCRIBED, Subscribed: &executor.Event_Subscribed{
		AgentInfo:     mesos.AgentInfo{ID: &mesos.AgentID{Value: agentID}, Hostname: hostname},
		FrameworkInfo: mesos.FrameworkInfo{User: "root", Name: "healer"},
		ExecutorInfo:  mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "e1"}},
	}})
	for {
		select {
		case ev := <-a.events:
			if !send(ev) {
				return
			}
		case <-a.drop:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (a *fakeAgent) push(ev *executor.Event) { a.events <- ev }

// update waits for the next UPDATE, acknowledges it, and returns its status.
func (a *fakeAgent) update(t *testing.T) mesos.TaskStatus {
	t.Helper()
	for {
		select {
		case c := <-a.calls:
			if c.Type != executor.Call_UPDATE {
				continue
			}
			st := c.Update.Status
			a.push(&executor.Event{Type: executor.Event_ACKNOWLEDGED,
				Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}})
			return st
		case <-time.After(10 * time.Second):
			t.Fatal("no UPDATE")
		}
	}
}

func (a *fakeAgent) subscribed(t *testing.T) *executor.Call_Subscribe {
	t.Helper()
	select {
	case s := <-a.subs:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no SUBSCRIBE")
	}
	return nil
}

func start(t *testing.T, a *fakeAgent, checkpoint bool, idle time.Duration) <-chan error {
	t.Helper()
	cfg := Config{
		Mesos: config.Config{FrameworkID: "fw", ExecutorID: "e1", AgentEndpoint: strings.TrimPrefix(a.srv.URL, "http://"),
			ExecutorShutdownGracePeriod: 2 * time.Second, Checkpoint: checkpoint,
			RecoveryTimeout: time.Minute, SubscriptionBackoffMax: 200 * time.Millisecond},
		IdleTimeout: idle,
		Env:         []string{"PATH=/usr/bin:/bin"},
		Logger:      slog.New(slog.DiscardHandler),
	}
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg) }()
	return done
}

func launch(t *testing.T, a *fakeAgent, ti mesos.TaskInfo) {
	a.push(&executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: ti}})
}

func tasks(t *testing.T, command string) (repair, mon mesos.TaskInfo) {
	t.Helper()
	ex, err := taskspec.NewExecutorInfo(taskspec.ExecutorSpec{URI: "/healer-executor"})
	if err != nil {
		t.Fatal(err)
	}
	repair, err = taskspec.RepairTaskInfo(ex, mesos.AgentID{Value: agentID}, &healerpb.RepairTask{AgentId: agentID,
		Incident: 1, Attempt: 1, Action: "a", Command: command, TimeoutNs: int64(time.Minute)}, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := monitorconfig.Parse("m.yaml", []byte("checks:\n  - {name: c, problem: p, command: 'true', interval: 1s, timeout: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	mon, err = taskspec.MonitorTaskInfo(ex, mesos.AgentID{Value: agentID}, 1, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return repair, mon
}

func wait(t *testing.T, done <-chan error, within time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		t.Fatalf("Run did not return within %s", within)
	}
	return nil
}

// TestShutdownStopsEverything: SHUTDOWN kills a repair and a monitor,
// reports both killed, and Run returns nil with every goroutine gone.
func TestShutdownStopsEverything(t *testing.T) {
	a := newFakeAgent(t)
	done := start(t, a, true, time.Minute)
	a.subscribed(t)
	repair, mon := tasks(t, "trap '' TERM; while :; do sleep 0.1; done")
	launch(t, a, repair)
	launch(t, a, mon)
	for i := 0; i < 2; i++ {
		if st := a.update(t); st.GetState() != mesos.TASK_RUNNING || st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) != 16 {
			t.Fatalf("update %v", st)
		}
	}
	start := time.Now()
	a.push(&executor.Event{Type: executor.Event_SHUTDOWN})
	killed := map[string]bool{}
	for i := 0; i < 2; i++ {
		st := a.update(t)
		if st.GetState() != mesos.TASK_KILLED {
			t.Fatalf("update %v", st)
		}
		killed[st.TaskID.Value] = true
	}
	if !killed[repair.TaskID.Value] || !killed[mon.TaskID.Value] {
		t.Errorf("killed %v", killed)
	}
	if err := wait(t, done, 5*time.Second); err != nil {
		t.Errorf("Run: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v, more than the 2s grace period", d)
	}
}

// TestResubscribeCarriesUnacknowledged: after the stream breaks, the
// executor re-subscribes with the update the agent never acknowledged and
// the task that has no acknowledged update.
func TestResubscribeCarriesUnacknowledged(t *testing.T) {
	a := newFakeAgent(t)
	done := start(t, a, true, time.Minute)
	a.subscribed(t)
	repair, _ := tasks(t, "sleep 0.2")
	launch(t, a, repair)
	var running mesos.TaskStatus
	select {
	case c := <-a.calls: // not acknowledged
		running = c.Update.Status
	case <-time.After(10 * time.Second):
		t.Fatal("no UPDATE")
	}
	a.drop <- struct{}{}
	sub := a.subscribed(t)
	if len(sub.UnacknowledgedTasks) != 1 || sub.UnacknowledgedTasks[0].TaskID != repair.TaskID ||
		len(sub.UnacknowledgedUpdates) == 0 || string(sub.UnacknowledgedUpdates[0].Status.UUID) != string(running.UUID) {
		t.Fatalf("resubscribe carried %d tasks, %d updates", len(sub.UnacknowledgedTasks), len(sub.UnacknowledgedUpdates))
	}
	// The task finishes; acknowledging everything lets the executor go idle.
	for _, u := range sub.UnacknowledgedUpdates {
		a.push(&executor.Event{Type: executor.Event_ACKNOWLEDGED,
			Acknowledged: &executor.Event_Acknowledged{TaskID: u.Status.TaskID, UUID: u.Status.UUID}})
	}
	for {
		if st := a.update(t); st.GetState() == mesos.TASK_FINISHED {
			break
		}
	}
	a.push(&executor.Event{Type: executor.Event_SHUTDOWN})
	if err := wait(t, done, 5*time.Second); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestLostAgentWithoutCheckpoint: without checkpointing, a broken stream
// ends the executor, its running task killed.
func TestLostAgentWithoutCheckpoint(t *testing.T) {
	a := newFakeAgent(t)
	done := start(t, a, false, time.Minute)
	a.subscribed(t)
	repair, _ := tasks(t, "while :; do sleep 0.1; done")
	launch(t, a, repair)
	a.update(t)
	a.drop <- struct{}{}
	if err := wait(t, done, 10*time.Second); !errors.Is(err, ErrDisconnected) {
		t.Errorf("Run: %v, want ErrDisconnected", err)
	}
}

// TestIdleExit: no task for the idle timeout: Run returns nil.
func TestIdleExit(t *testing.T) {
	a := newFakeAgent(t)
	done := start(t, a, true, 300*time.Millisecond)
	a.subscribed(t)
	if err := wait(t, done, 10*time.Second); err != nil {
		t.Errorf("Run: %v", err)
	}
}
