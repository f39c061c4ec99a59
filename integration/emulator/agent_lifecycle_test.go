package emulator

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/healer-mesos/healer/internal/testtool"
)

// orderedMaster is a masterDouble that also remembers the order in which
// status updates and executor exits reached the master.
type orderedMaster struct {
	*masterDouble
	mu    sync.Mutex
	order []string
}

func (o *orderedMaster) StatusUpdate(aid mesos.AgentID, fid mesos.FrameworkID, st mesos.TaskStatus, latest mesos.TaskState) {
	o.mu.Lock()
	o.order = append(o.order, "UPDATE "+st.TaskID.Value+" "+st.GetState().String())
	o.mu.Unlock()
	o.masterDouble.StatusUpdate(aid, fid, st, latest)
}

func (o *orderedMaster) ExecutorExited(aid mesos.AgentID, fid mesos.FrameworkID, eid mesos.ExecutorID, status int32) {
	o.mu.Lock()
	o.order = append(o.order, "FAILURE "+eid.Value)
	o.mu.Unlock()
	o.masterDouble.ExecutorExited(aid, fid, eid, status)
}

// expectOrder checks that first and then second reached the master, in
// that order.
func (o *orderedMaster) expectOrder(t *testing.T, first, second string) {
	t.Helper()
	o.mu.Lock()
	order := slices.Clone(o.order)
	o.mu.Unlock()
	i, j := slices.Index(order, first), slices.Index(order, second)
	if i < 0 || j < 0 || i > j {
		t.Errorf("master saw %q; want %q before %q", order, first, second)
	}
}

func TestKillQueuedTaskKillsItsGroup(t *testing.T) {
	// The executor never subscribes: both groups stay queued.
	a, m := startTestAgent(t, testAgentConfig(t))
	fw := agentTestFramework("fw-1")
	cmd := "sleep 30"
	ei := mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT, ExecutorID: mesos.ExecutorID{Value: "e1"},
		Command: &mesos.CommandInfo{Value: &cmd}}
	task := func(id string) mesos.TaskInfo { return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}} }
	a.RunTaskGroup(fw, ei, mesos.TaskGroupInfo{Tasks: []mesos.TaskInfo{task("g1"), task("g2"), task("g3")}})
	a.RunTaskGroup(fw, ei, mesos.TaskGroupInfo{Tasks: []mesos.TaskInfo{task("other")}})
	a.KillTask(*fw.ID, mesos.TaskID{Value: "g2"}, nil)
	for _, id := range []string{"g1", "g2", "g3"} {
		u := waitAgentUpdate(t, m, id, 1)
		if u.Status.GetState() != mesos.TASK_KILLED || u.Status.GetReason() != mesos.REASON_TASK_KILLED_DURING_LAUNCH ||
			u.Status.GetSource() != mesos.SOURCE_AGENT || len(u.Status.UUID) != 16 ||
			u.Status.GetMessage() != "A task within the task group was killed before delivery to the executor" {
			t.Errorf("%s: %+v", id, u.Status)
		}
	}
	if us := m.updatesFor("other"); len(us) != 0 {
		t.Errorf("the other group was touched: %+v", us)
	}
	a.mu.Lock()
	queued := a.frameworks["fw-1"].executors["e1"].queued
	a.mu.Unlock()
	if len(queued) != 1 || queued[0].group == nil || queued[0].group.Tasks[0].TaskID.Value != "other" {
		t.Errorf("queue after the kill: %+v", queued)
	}
}

// TestExecutorDisconnect plays an executor over raw HTTP and drops its
// connection: a non-checkpointing framework's executor is shut down (its
// process destroyed after the grace period, its live task failed); a
// checkpointing one's is left to re-subscribe.
func TestExecutorDisconnect(t *testing.T) {
	for _, checkpoint := range []bool{false, true} {
		name := map[bool]string{false: "no-checkpoint", true: "checkpoint"}[checkpoint]
		t.Run(name, func(t *testing.T) {
			a, m := startTestAgent(t, testAgentConfig(t))
			fw := agentTestFramework("fw-1")
			fw.Checkpoint = &checkpoint
			a.RunTask(fw, customExecTask("t1", "e1", "sleep 30"))
			url := "http://" + a.Endpoint() + "/api/v1/executor"
			sub := `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`
			resp, rr := subscribeRaw(t, url, mediaJSON, sub)
			if ev := rr.next(t); ev.Type != executor.Event_SUBSCRIBED {
				t.Fatalf("first event %v", ev.Type)
			}
			if ev := rr.next(t); ev.Type != executor.Event_LAUNCH {
				t.Fatalf("second event %v", ev.Type)
			}
			resp.Body.Close()

			if checkpoint {
				// The agent decides when it notices the disconnect (it clears
				// the executor's stream and, for a non-checkpointing
				// framework, starts the shutdown in the same step), so once
				// it has noticed, a still-running executor proves it was left
				// alone: no window to wait out.
				testtool.WaitFor(t, "the agent noticing the disconnect", 5*time.Second, func() bool {
					a.mu.Lock()
					defer a.mu.Unlock()
					return a.frameworks["fw-1"].executors["e1"].stream == nil
				})
				a.mu.Lock()
				state := a.frameworks["fw-1"].executors["e1"].state
				a.mu.Unlock()
				if state != execRunning {
					t.Fatalf("checkpointing executor in state %v after the disconnect; want running", state)
				}
				if us, ex := m.updatesFor("t1"), m.Exits(); len(us) != 0 || len(ex) != 0 {
					t.Fatalf("checkpointing executor disturbed: updates %+v exits %+v", us, ex)
				}
				// It can come back.
				_, rr2 := subscribeRaw(t, url, mediaJSON, `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},`+
					`"subscribe":{"unacknowledged_tasks":[{"name":"t1","task_id":{"value":"t1"},"agent_id":{"value":"x"}}]}}`)
				if ev := rr2.next(t); ev.Type != executor.Event_SUBSCRIBED {
					t.Fatalf("re-subscribe: %v", ev.Type)
				}
				return
			}
			u := waitAgentState(t, m, "t1", mesos.TASK_FAILED)
			if u.Status.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || u.Status.GetSource() != mesos.SOURCE_AGENT {
				t.Errorf("update after disconnect: %+v", u.Status)
			}
			testtool.WaitFor(t, "FAILURE with SIGKILL status", 5*time.Second, func() bool {
				ex := m.Exits()
				return len(ex) == 1 && ex[0] == agentSentExit{"e1", 9}
			})
		})
	}
}

// TestAgentRecoveryWindow: after Restart, until recovery completes, the
// executor API answers 503; then executors are served again.
func TestAgentRecoveryWindow(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.RecoveryDelay = 3 * time.Second // generous: the 503s must be seen before it ends
	cfg.ExecutorReregistrationTimeout = 10 * time.Second
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	checkpoint := true
	fw.Checkpoint = &checkpoint
	a.RunTask(fw, customExecTask("t1", "e1", "sleep 30"))
	// RunTask is a message: SUBSCRIBE before the agent handled it is a 400.
	testtool.WaitFor(t, "executor launched", 5*time.Second, func() bool { return len(a.State().Executors) == 1 })
	url := "http://" + a.Endpoint() + "/api/v1/executor"
	sub := `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`
	resp, rr := subscribeRaw(t, url, mediaJSON, sub)
	if ev := rr.next(t); ev.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev.Type)
	}
	resp.Body.Close()

	restarted := restartUntilRecovering(t, a, 10*time.Second)
	// Every call, even a malformed GET, gets 503 first; so does SUBSCRIBE.
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	r2, body2 := postExecutor(t, url, mediaJSON, sub)
	select {
	case err := <-restarted:
		t.Fatalf("recovery ended (%v) before the checks ran; the machine is too slow for this test", err)
	default:
	}
	if r.StatusCode != http.StatusServiceUnavailable || string(b) != "Agent has not finished recovery" {
		t.Errorf("GET while recovering: %d %q", r.StatusCode, b)
	}
	if r2.StatusCode != http.StatusServiceUnavailable || body2 != "Agent has not finished recovery" {
		t.Errorf("SUBSCRIBE while recovering: %d %q", r2.StatusCode, body2)
	}
	if up := a.State(); len(up.Executors) != 1 {
		t.Errorf("executors while recovering: %+v", up.Executors)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	a.SetMaster(m)
	_, rr2 := subscribeRaw(t, url, mediaJSON, sub)
	if ev := rr2.next(t); ev.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("after recovery: %v", ev.Type)
	}
}

// TestCloseDuringRecovery: Close ends a Restart still recovering.
func TestCloseDuringRecovery(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.RecoveryDelay = time.Hour
	a, _ := startTestAgent(t, cfg)
	restarted := restartUntilRecovering(t, a, 5*time.Second)
	a.Close()
	select {
	case err := <-restarted:
		if err == nil {
			t.Error("Restart interrupted by Close returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Restart still blocked after Close")
	}
}

// restartUntilRecovering starts a.Restart and waits up to timeout for the
// agent to be recovering; Restart's result arrives on the channel.
func restartUntilRecovering(t *testing.T, a *Agent, timeout time.Duration) <-chan error {
	t.Helper()
	restarted := make(chan error, 1)
	go func() { restarted <- a.Restart() }()
	testtool.WaitFor(t, "recovery to start", timeout, func() bool {
		select {
		case err := <-restarted:
			t.Fatalf("Restart returned %v before recovering", err)
		default:
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.recovering
	})
	return restarted
}
