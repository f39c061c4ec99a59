package emulator

import (
	"fmt"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/internal/testtool"
)

// masterDouble is a MasterLink double that records what an agent sends.
type masterDouble struct {
	autoAck  *Agent // if set, every update is acknowledged as a scheduler would
	mu       sync.Mutex
	updates  []agentSentUpdate
	messages []agentSentMessage
	exits    []agentSentExit
	pongs    int
}

type agentSentUpdate struct {
	At     time.Time
	Status mesos.TaskStatus
	Latest mesos.TaskState
}

type agentSentMessage struct {
	ExecutorID string
	Data       string
}

type agentSentExit struct {
	ExecutorID string
	Status     int32
}

func (m *masterDouble) StatusUpdate(_ mesos.AgentID, fid mesos.FrameworkID, st mesos.TaskStatus, latest mesos.TaskState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updates = append(m.updates, agentSentUpdate{At: time.Now(), Status: st, Latest: latest})
	if m.autoAck != nil {
		m.autoAck.Acknowledge(fid, st.TaskID, st.UUID)
	}
}

func (m *masterDouble) ExecutorMessage(_ mesos.AgentID, _ mesos.FrameworkID, eid mesos.ExecutorID, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.messages = append(m.messages, agentSentMessage{eid.Value, string(data)})
}

func (m *masterDouble) ExecutorExited(_ mesos.AgentID, _ mesos.FrameworkID, eid mesos.ExecutorID, status int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exits = append(m.exits, agentSentExit{eid.Value, status})
}

func (m *masterDouble) Pong(mesos.AgentID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pongs++
}

func (m *masterDouble) Updates() []agentSentUpdate {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]agentSentUpdate(nil), m.updates...)
}

func (m *masterDouble) Exits() []agentSentExit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]agentSentExit(nil), m.exits...)
}

func (m *masterDouble) Messages() []agentSentMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]agentSentMessage(nil), m.messages...)
}

func (m *masterDouble) Pongs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pongs
}

// updatesFor returns the updates sent for one task, in order.
func (m *masterDouble) updatesFor(taskID string) []agentSentUpdate {
	var out []agentSentUpdate
	for _, u := range m.Updates() {
		if u.Status.TaskID.Value == taskID {
			out = append(out, u)
		}
	}
	return out
}

// waitUpdate waits for the n-th (1-based) update of a task and returns it.
func waitAgentUpdate(t *testing.T, m *masterDouble, taskID string, n int) agentSentUpdate {
	t.Helper()
	var got []agentSentUpdate
	testtool.WaitFor(t, fmt.Sprintf("update #%d of %s", n, taskID), 10*time.Second, func() bool {
		got = m.updatesFor(taskID)
		return len(got) >= n
	})
	return got[n-1]
}

// waitState waits until the newest update of a task has the given state.
func waitAgentState(t *testing.T, m *masterDouble, taskID string, state mesos.TaskState) agentSentUpdate {
	t.Helper()
	var last agentSentUpdate
	testtool.WaitFor(t, fmt.Sprintf("%s for %s", state, taskID), 10*time.Second, func() bool {
		us := m.updatesFor(taskID)
		if len(us) == 0 {
			return false
		}
		last = us[len(us)-1]
		return last.Status.GetState() == state
	})
	return last
}

// testAgentConfig has short intervals so tests run fast.
func testAgentConfig(t *testing.T) AgentConfig {
	return AgentConfig{
		WorkDir:                       t.TempDir(),
		ExecutorRegistrationTimeout:   5 * time.Second,
		ExecutorReregistrationTimeout: 300 * time.Millisecond,
		ExecutorShutdownGracePeriod:   300 * time.Millisecond,
		StatusUpdateRetryMin:          5 * time.Second,
		StatusUpdateRetryMax:          10 * time.Second,
		CommandKillGracePeriod:        500 * time.Millisecond,
	}
}

func startTestAgent(t *testing.T, cfg AgentConfig) (*Agent, *masterDouble) {
	t.Helper()
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	m := &masterDouble{}
	a.SetMaster(m)
	return a, m
}

func agentTestFramework(id string, caps ...mesos.FrameworkInfo_Capability_Type) mesos.FrameworkInfo {
	fi := mesos.FrameworkInfo{User: "u", Name: "fw", ID: &mesos.FrameworkID{Value: id}}
	for _, c := range caps {
		fi.Capabilities = append(fi.Capabilities, mesos.FrameworkInfo_Capability{Type: c})
	}
	return fi
}

func customExecTask(id, execID string, cmd string) mesos.TaskInfo {
	return mesos.TaskInfo{
		Name:   id,
		TaskID: mesos.TaskID{Value: id},
		Executor: &mesos.ExecutorInfo{
			ExecutorID: mesos.ExecutorID{Value: execID},
			Command:    &mesos.CommandInfo{Value: &cmd},
		},
	}
}

func cmdTask(id, cmd string) mesos.TaskInfo {
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Command: &mesos.CommandInfo{Value: &cmd}}
}

func ackUpdate(a *Agent, fw mesos.FrameworkInfo, u agentSentUpdate) {
	a.Acknowledge(*fw.ID, u.Status.TaskID, u.Status.UUID)
}

func TestAgentDefaults(t *testing.T) {
	a, err := NewAgent(AgentConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	c := a.cfg
	if c.ExecutorRegistrationTimeout != time.Minute || c.ExecutorShutdownGracePeriod != 5*time.Second ||
		c.StatusUpdateRetryMin != 10*time.Second || c.StatusUpdateRetryMax != 10*time.Minute ||
		c.ExecutorHeartbeatInterval != 30*time.Minute || c.ExecutorReregistrationTimeout != 2*time.Second {
		t.Errorf("defaults differ from Mesos': %+v", c)
	}
	info := a.Info()
	if info.Hostname != "127.0.0.1" || info.GetPort() == 0 || info.GetPort() == 5051 {
		t.Errorf("AgentInfo hostname/port = %q/%d", info.Hostname, info.GetPort())
	}
	if a.Endpoint() != fmt.Sprintf("127.0.0.1:%d", info.GetPort()) {
		t.Errorf("Endpoint() = %q", a.Endpoint())
	}
	if len(info.Resources) != 4 {
		t.Errorf("default resources = %v", info.Resources)
	}
}

func TestPingPong(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	a.Ping()
	testtool.WaitFor(t, "pong", 5*time.Second, func() bool { return m.Pongs() == 1 })
	a.Kill()
	a.Ping()
	a.Ping()
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	a.SetMaster(m)
	a.Ping() // only this one is answered: the others reached a dead agent
	testtool.WaitFor(t, "pong after restart", 5*time.Second, func() bool { return m.Pongs() == 2 })
}

func TestFakeExecutorLifecycle(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")

	a.RunTask(fw, customExecTask("t1", "e1", "unused"))
	running := waitAgentUpdate(t, m, "t1", 1)
	if running.Status.GetState() != mesos.TASK_RUNNING || running.Status.GetSource() != mesos.SOURCE_EXECUTOR ||
		len(running.Status.UUID) != 16 || running.Status.GetAgentID().Value != a.ID().Value ||
		running.Status.GetExecutorID().Value != "e1" {
		t.Fatalf("first update = %+v", running.Status)
	}
	st := a.State()
	if len(st.Frameworks) != 1 || len(st.Executors) != 1 || len(st.Tasks) != 1 || st.Tasks[0].GetState() != mesos.TASK_RUNNING {
		t.Fatalf("State() = %+v", st)
	}

	a.FrameworkMessage(*fw.ID, mesos.ExecutorID{Value: "e1"}, []byte("ping"))
	testtool.WaitFor(t, "echoed message", 5*time.Second, func() bool {
		ms := m.Messages()
		return len(ms) == 1 && ms[0] == agentSentMessage{"e1", "ping"}
	})

	ackUpdate(a, fw, running)
	a.KillTask(*fw.ID, mesos.TaskID{Value: "t1"}, nil)
	killed := waitAgentUpdate(t, m, "t1", 2)
	if killed.Status.GetState() != mesos.TASK_KILLED {
		t.Fatalf("after kill: %+v", killed.Status)
	}
	ackUpdate(a, fw, killed)
	testtool.WaitFor(t, "task removed", 5*time.Second, func() bool { return len(a.State().Tasks) == 0 })
	if n := a.PendingUpdates(); n != 0 {
		t.Errorf("%d updates still pending", n)
	}
}

func TestStatusUpdateRetryBackoff(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.StatusUpdateRetryMin = 100 * time.Millisecond
	cfg.StatusUpdateRetryMax = 10 * time.Second
	cfg.FakeExecutors = FakeBehavior{FinishAfter: time.Millisecond}.Factory()
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")

	a.RunTask(fw, customExecTask("t1", "e1", "unused"))
	third := waitAgentUpdate(t, m, "t1", 3)
	us := m.updatesFor("t1")
	for _, u := range us[:3] {
		if string(u.Status.UUID) != string(us[0].Status.UUID) || u.Status.GetState() != mesos.TASK_RUNNING {
			t.Fatalf("only the oldest unacknowledged update may be sent, got %+v", u.Status)
		}
	}
	// latest_state already tells the master the task finished.
	if third.Latest != mesos.TASK_FINISHED {
		t.Errorf("latest state = %v, want TASK_FINISHED", third.Latest)
	}
	// Each retry waits at least its interval (100ms, then doubled to 200ms).
	// Only lower bounds: a late first retry on a loaded machine must not make
	// the doubling look wrong, so no ratio between the gaps.
	const tolerance = 10 * time.Millisecond
	gap1 := us[1].At.Sub(us[0].At)
	gap2 := us[2].At.Sub(us[1].At)
	if gap1 < cfg.StatusUpdateRetryMin-tolerance || gap2 < 2*cfg.StatusUpdateRetryMin-tolerance {
		t.Errorf("retry gaps %v then %v: want at least %v then %v (doubling)", gap1, gap2,
			cfg.StatusUpdateRetryMin, 2*cfg.StatusUpdateRetryMin)
	}

	ackUpdate(a, fw, third)
	next := waitAgentUpdate(t, m, "t1", 4)
	if next.Status.GetState() != mesos.TASK_FINISHED {
		t.Fatalf("after the ack the next update goes: got %v", next.Status.GetState())
	}
	// A stale acknowledgement changes nothing; the right one ends the retries.
	ackUpdate(a, fw, third)
	ackUpdate(a, fw, next)
	testtool.WaitFor(t, "task removed", 5*time.Second, func() bool { return len(a.State().Tasks) == 0 })
	// Retries come only from the task's update stream, whose timer fires only
	// while the stream is current and has the update pending; the final ack
	// removed the stream, so nothing can be re-sent and no window is needed.
	a.mu.Lock()
	_, stream := a.updates[taskKey{fw.ID.Value, "t1"}]
	a.mu.Unlock()
	if stream || a.PendingUpdates() != 0 {
		t.Errorf("after the final ack: update stream kept %v, %d pending updates; want none", stream, a.PendingUpdates())
	}
}

func TestStatusUpdateRetryCapped(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.StatusUpdateRetryMin = 40 * time.Millisecond
	cfg.StatusUpdateRetryMax = 80 * time.Millisecond
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "unused"))
	waitAgentUpdate(t, m, "t1", 6)
	us := m.updatesFor("t1")
	if gap := us[5].At.Sub(us[4].At); gap > 300*time.Millisecond {
		t.Errorf("gap %v exceeds the 80ms cap by far", gap)
	}
}

func TestNewMasterGetsPendingUpdatesAtOnce(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.StatusUpdateRetryMin = time.Minute
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "unused"))
	first := waitAgentUpdate(t, m, "t1", 1)
	m2 := &masterDouble{}
	a.SetMaster(m2)
	again := waitAgentUpdate(t, m2, "t1", 1)
	if string(again.Status.UUID) != string(first.Status.UUID) {
		t.Errorf("new master got a different update")
	}
}

func TestKillDuringLaunch(t *testing.T) {
	// A custom executor that never subscribes keeps its task queued.
	a, m := startTestAgent(t, testAgentConfig(t))
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, customExecTask("t1", "e1", "sleep 30"))
	a.KillTask(*fw.ID, mesos.TaskID{Value: "t1"}, nil)
	u := waitAgentUpdate(t, m, "t1", 1)
	if u.Status.GetState() != mesos.TASK_KILLED || u.Status.GetReason() != mesos.REASON_TASK_KILLED_DURING_LAUNCH ||
		u.Status.GetSource() != mesos.SOURCE_AGENT || len(u.Status.UUID) != 16 {
		t.Fatalf("kill during launch gave %+v", u.Status)
	}
}

func TestDrain(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	plain := agentTestFramework("fw-plain")
	aware := agentTestFramework("fw-aware", mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	a.RunTask(plain, customExecTask("t1", "e1", "x"))
	a.RunTask(aware, customExecTask("t2", "e2", "x"))
	ackUpdate(a, plain, waitAgentState(t, m, "t1", mesos.TASK_RUNNING))
	ackUpdate(a, aware, waitAgentState(t, m, "t2", mesos.TASK_RUNNING))

	grace := int64(time.Second)
	a.Drain(&grace, true)
	k1 := waitAgentUpdate(t, m, "t1", 2)
	k2 := waitAgentUpdate(t, m, "t2", 2)
	if k1.Status.GetState() != mesos.TASK_KILLED || k1.Status.GetReason() != mesos.REASON_AGENT_DRAINING {
		t.Errorf("non-partition-aware drained task: %v %v", k1.Status.GetState(), k1.Status.GetReason())
	}
	if k2.Status.GetState() != mesos.TASK_GONE_BY_OPERATOR || k2.Status.GetReason() != mesos.REASON_AGENT_DRAINING {
		t.Errorf("partition-aware drained task with mark_gone: %v %v", k2.Status.GetState(), k2.Status.GetReason())
	}
	if !a.Draining() {
		t.Fatal("agent should be draining")
	}
	a.RunTask(aware, customExecTask("t3", "e3", "x"))
	a.RunTask(plain, customExecTask("t4", "e4", "x"))
	d3 := waitAgentUpdate(t, m, "t3", 1)
	d4 := waitAgentUpdate(t, m, "t4", 1)
	if d3.Status.GetState() != mesos.TASK_DROPPED || d3.Status.GetReason() != mesos.REASON_AGENT_DRAINING ||
		d4.Status.GetState() != mesos.TASK_LOST || d4.Status.GetReason() != mesos.REASON_AGENT_DRAINING {
		t.Errorf("tasks sent while draining: %v/%v and %v/%v", d3.Status.GetState(), d3.Status.GetReason(),
			d4.Status.GetState(), d4.Status.GetReason())
	}
	for _, u := range []agentSentUpdate{k1, d4} {
		ackUpdate(a, plain, u)
	}
	for _, u := range []agentSentUpdate{k2, d3} {
		ackUpdate(a, aware, u)
	}
	testtool.WaitFor(t, "drained", 5*time.Second, func() bool { return len(a.State().Tasks) == 0 })
}

func TestDrainCapsKillGrace(t *testing.T) {
	cfg := testAgentConfig(t)
	var mu sync.Mutex
	var got *mesos.KillPolicy
	cfg.FakeExecutors = func(mesos.FrameworkInfo, mesos.ExecutorInfo) FakeExecutor {
		return drainKillRecorder{FakeBehavior{}, func(p *mesos.KillPolicy) { mu.Lock(); got = p; mu.Unlock() }}
	}
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	task := customExecTask("t1", "e1", "x")
	task.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(time.Minute)}}
	a.RunTask(fw, task)
	ackUpdate(a, fw, waitAgentState(t, m, "t1", mesos.TASK_RUNNING))
	grace := int64(2 * time.Second)
	a.Drain(&grace, false)
	waitAgentState(t, m, "t1", mesos.TASK_KILLED)
	mu.Lock()
	defer mu.Unlock()
	if got == nil || got.GracePeriod == nil || got.GracePeriod.Nanoseconds != grace {
		t.Errorf("kill policy during drain = %+v, want grace capped at 2s", got)
	}
}

type drainKillRecorder struct {
	FakeBehavior
	onKill func(*mesos.KillPolicy)
}

func (k drainKillRecorder) Kill(d *FakeDriver, id mesos.TaskID, p *mesos.KillPolicy) {
	k.onKill(p)
	k.FakeBehavior.Kill(d, id, p)
}

func TestFakeExecutorExitFailsTasks(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = func(mesos.FrameworkInfo, mesos.ExecutorInfo) FakeExecutor { return exitOnMessage{} }
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, customExecTask("t1", "e1", "x"))
	ackUpdate(a, fw, waitAgentState(t, m, "t1", mesos.TASK_RUNNING))
	a.FrameworkMessage(*fw.ID, mesos.ExecutorID{Value: "e1"}, []byte("die"))
	u := waitAgentUpdate(t, m, "t1", 2)
	if u.Status.GetState() != mesos.TASK_FAILED || u.Status.GetReason() != mesos.REASON_EXECUTOR_TERMINATED ||
		u.Status.GetSource() != mesos.SOURCE_AGENT || u.Status.GetMessage() != "Executor terminated" {
		t.Errorf("update after exit = %+v", u.Status)
	}
	testtool.WaitFor(t, "FAILURE", 5*time.Second, func() bool {
		ex := m.Exits()
		return len(ex) == 1 && ex[0] == agentSentExit{"e1", 256}
	})
}

type exitOnMessage struct{ FakeBehavior }

func (exitOnMessage) Message(d *FakeDriver, _ []byte) { d.Exit(256) }

func TestShutdownFrameworkSendsNoUpdates(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{IgnoreKill: true}.Factory() // leaves its task live
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, customExecTask("t1", "e1", "x"))
	ackUpdate(a, fw, waitAgentState(t, m, "t1", mesos.TASK_RUNNING))
	a.ShutdownFramework(*fw.ID)
	testtool.WaitFor(t, "framework gone", 5*time.Second, func() bool { return len(a.State().Frameworks) == 0 })
	if us := m.updatesFor("t1"); len(us) != 1 {
		t.Errorf("framework removal sent updates: %+v", us)
	}
	if ex := m.Exits(); len(ex) != 0 {
		t.Errorf("framework removal reported exits: %+v", ex)
	}
}

func TestShutdownExecutorGrace(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.ExecutorShutdownGracePeriod = 200 * time.Millisecond
	cfg.FakeExecutors = FakeBehavior{IgnoreKill: true}.Factory() // ignores SHUTDOWN too
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, customExecTask("t1", "e1", "x"))
	ackUpdate(a, fw, waitAgentState(t, m, "t1", mesos.TASK_RUNNING))
	start := time.Now()
	a.ShutdownExecutor(*fw.ID, mesos.ExecutorID{Value: "e1"})
	u := waitAgentUpdate(t, m, "t1", 2)
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Errorf("destroyed after %v, before the 200ms grace period", el)
	}
	if u.Status.GetState() != mesos.TASK_FAILED || u.Status.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Errorf("leftover task after SHUTDOWN: %v %v", u.Status.GetState(), u.Status.GetReason())
	}
}

func TestKillAndRestart(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	ckpt := agentTestFramework("fw-ckpt", mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	ckpt.Checkpoint = new(bool)
	*ckpt.Checkpoint = true
	plain := agentTestFramework("fw-plain")
	a.RunTask(ckpt, customExecTask("t1", "e1", "x"))
	a.RunTask(plain, customExecTask("t2", "e2", "x"))
	ackUpdate(a, ckpt, waitAgentState(t, m, "t1", mesos.TASK_RUNNING))
	ackUpdate(a, plain, waitAgentState(t, m, "t2", mesos.TASK_RUNNING))
	ep := a.Endpoint()
	testtool.WaitFor(t, "acks processed", 5*time.Second, func() bool { return a.PendingUpdates() == 0 })

	a.Kill()
	a.KillTask(*plain.ID, mesos.TaskID{Value: "t2"}, nil) // lost: the agent is down
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	if a.Endpoint() != ep {
		t.Errorf("restarted on %s, was %s", a.Endpoint(), ep)
	}
	st := a.State()
	if len(st.Frameworks) != 1 || st.Frameworks[0].ID.Value != "fw-ckpt" {
		t.Fatalf("recovered frameworks = %+v", st.Frameworks)
	}
	a.SetMaster(m)
	// The fake executor died with the host: after the reregistration
	// timeout its task is gone.
	u := waitAgentState(t, m, "t1", mesos.TASK_GONE)
	if u.Status.GetState() != mesos.TASK_GONE || u.Status.GetReason() != mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT {
		t.Errorf("after restart: %v %v", u.Status.GetState(), u.Status.GetReason())
	}
	if us := m.updatesFor("t2"); len(us) != 1 {
		t.Errorf("non-checkpointing framework's task got updates after the restart: %+v", us)
	}
}

func TestRestartKeepsLiveInAgentExecutors(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	ckpt := agentTestFramework("fw-ckpt")
	ckpt.Checkpoint = new(bool)
	*ckpt.Checkpoint = true
	a.RunTask(ckpt, customExecTask("t1", "e1", "x"))
	running := waitAgentState(t, m, "t1", mesos.TASK_RUNNING)
	if err := a.Restart(); err != nil { // process crash, executors survive
		t.Fatal(err)
	}
	a.SetMaster(m)
	again := waitAgentUpdate(t, m, "t1", 2) // the unacknowledged update is re-sent
	if string(again.Status.UUID) != string(running.Status.UUID) {
		t.Fatalf("re-sent update differs")
	}
	ackUpdate(a, ckpt, again)
	a.KillTask(*ckpt.ID, mesos.TaskID{Value: "t1"}, nil)
	waitAgentState(t, m, "t1", mesos.TASK_KILLED)
}

func TestShutdownAgent(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{}.Factory()
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, customExecTask("t1", "e1", "x"))
	waitAgentState(t, m, "t1", mesos.TASK_RUNNING)
	a.Shutdown()
	testtool.WaitFor(t, "agent empty", 5*time.Second, func() bool { return len(a.State().Frameworks) == 0 })
	a.Ping()
	a.RunTask(fw, customExecTask("t2", "e2", "x"))
	// The agent's mailbox runs in order: once a message posted after Ping
	// and RunTask has run, and one it posted in turn, a pong (posted by the
	// ping's handler) would have reached the master and t2 would be in the
	// agent's state. No absence window is needed.
	flushed := make(chan struct{})
	a.post(func() { a.post(func() { close(flushed) }) })
	<-flushed
	if m.Pongs() != 0 || len(a.State().Tasks) != 0 || len(m.updatesFor("t2")) != 0 {
		t.Errorf("a removed agent still answers: %d pongs, tasks %v", m.Pongs(), a.State().Tasks)
	}
}

func TestFakeExecutorTaskGroup(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.FakeExecutors = FakeBehavior{FinishAfter: 10 * time.Millisecond}.Factory()
	a, m := startTestAgent(t, cfg)
	fw := agentTestFramework("fw-1")
	ei := mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "default"}, Type: mesos.ExecutorInfo_DEFAULT}
	a.RunTaskGroup(fw, ei, mesos.TaskGroupInfo{Tasks: []mesos.TaskInfo{
		{Name: "a", TaskID: mesos.TaskID{Value: "ga"}}, {Name: "b", TaskID: mesos.TaskID{Value: "gb"}}}})
	for _, id := range []string{"ga", "gb"} {
		ackUpdate(a, fw, waitAgentState(t, m, id, mesos.TASK_RUNNING))
		ackUpdate(a, fw, waitAgentState(t, m, id, mesos.TASK_FINISHED))
	}
	testtool.WaitFor(t, "tasks removed", 5*time.Second, func() bool { return len(a.State().Tasks) == 0 })
}

// TestFakeAgentsAreCheap guards the scale target: many agents with fake
// executors and no HTTP must stay small.
func TestFakeAgentsAreCheap(t *testing.T) {
	const n = 500
	m := &masterDouble{}
	agents := make([]*Agent, n)
	for i := range agents {
		a, err := NewAgent(AgentConfig{NoHTTP: true, WorkDir: "/nonexistent", FakeExecutors: FakeBehavior{}.Factory()})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		a.SetMaster(m)
		agents[i] = a
	}
	defer func() {
		for _, a := range agents {
			a.Close()
		}
	}()
	fw := agentTestFramework("fw-1")
	for i, a := range agents {
		a.RunTask(fw, customExecTask(fmt.Sprintf("t%d", i), "e", "x"))
		a.Ping()
	}
	testtool.WaitFor(t, "all running", 10*time.Second, func() bool { return len(m.Updates()) >= n && m.Pongs() == n })
}
