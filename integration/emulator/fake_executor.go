package emulator

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
)

// FakeExecutorFactory makes the behaviour of one in-process executor, for
// agents configured with AgentConfig.FakeExecutors. It is called with the
// agent's lock held and must only construct a value.
type FakeExecutorFactory func(framework mesos.FrameworkInfo, executor mesos.ExecutorInfo) FakeExecutor

// FakeExecutor is the scripted behaviour of an in-process executor that
// stands in for a custom or command executor: no process and no HTTP, but
// its updates and messages take the same path as a real executor's (status
// update manager, retries, acknowledgements, drain rewriting). Methods are
// called one at a time, in the order the agent delivers the events; they
// must not block, and act through the driver (later actions via d.After).
type FakeExecutor interface {
	Launch(d *FakeDriver, task mesos.TaskInfo) // LAUNCH, or each task of a LAUNCH_GROUP
	Kill(d *FakeDriver, taskID mesos.TaskID, policy *mesos.KillPolicy)
	Message(d *FakeDriver, data []byte)
	Shutdown(d *FakeDriver)
}

// FakeDriver is what a FakeExecutor acts through.
type FakeDriver = fakeExecutor

// fakeExecutor connects a FakeExecutor to its agent.
type fakeExecutor struct {
	agent  *Agent
	exec   *agentExecutor
	impl   FakeExecutor
	timers []*time.Timer
}

// handle delivers an agent event to the behaviour (on the mailbox, unlocked).
func (x *fakeExecutor) handle(ev *executor.Event) {
	x.agent.mu.Lock()
	ok := x.agent.up && x.exec.alive && x.exec.state != execTerminated
	x.agent.mu.Unlock()
	if !ok {
		return
	}
	switch ev.Type {
	case executor.Event_LAUNCH:
		x.impl.Launch(x, ev.Launch.Task)
	case executor.Event_LAUNCH_GROUP:
		for _, t := range ev.LaunchGroup.TaskGroup.Tasks {
			x.impl.Launch(x, t)
		}
	case executor.Event_KILL:
		x.impl.Kill(x, ev.Kill.TaskID, ev.Kill.KillPolicy)
	case executor.Event_MESSAGE:
		x.impl.Message(x, ev.Message.Data)
	case executor.Event_SHUTDOWN:
		x.impl.Shutdown(x)
	}
}

// ExecutorID is the executor's ID.
func (x *fakeExecutor) ExecutorID() mesos.ExecutorID { return x.exec.info.ExecutorID }

// FrameworkID is the executor's framework.
func (x *fakeExecutor) FrameworkID() mesos.FrameworkID { return x.exec.fw.id() }

// AgentID is the agent the executor runs on.
func (x *fakeExecutor) AgentID() mesos.AgentID { return x.agent.cfg.ID }

// Update sends a status update as an executor does: source, uuid and
// executor ID are filled in when unset. Updates of a dead executor are lost.
func (x *fakeExecutor) Update(st mesos.TaskStatus) {
	if st.Source == nil {
		st.Source = mesos.SOURCE_EXECUTOR.Enum()
	}
	if len(st.UUID) == 0 {
		st.UUID = newUUIDBytes()
	}
	if st.ExecutorID == nil {
		eid := x.exec.info.ExecutorID
		st.ExecutorID = &eid
	}
	a := x.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.up && x.exec.alive && x.exec.state != execTerminated {
		a.taskUpdateLocked(x.exec.fw, st)
	}
}

// SendState sends an update with just a state.
func (x *fakeExecutor) SendState(taskID mesos.TaskID, state mesos.TaskState) {
	x.Update(mesos.TaskStatus{TaskID: taskID, State: state.Enum()})
}

// SendMessage sends a framework message to the scheduler.
func (x *fakeExecutor) SendMessage(data []byte) {
	a := x.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.up || !x.exec.alive || x.exec.state == execTerminated {
		return
	}
	aid, fid, eid := a.cfg.ID, x.exec.fw.id(), x.exec.info.ExecutorID
	a.sendToMasterLocked(func(m MasterLink) { m.ExecutorMessage(aid, fid, eid, data) })
}

// LiveTasks returns the IDs of the executor's tasks not yet terminal.
func (x *fakeExecutor) LiveTasks() []mesos.TaskID {
	a := x.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []mesos.TaskID
	for _, t := range x.exec.tasks {
		if t.launched && !t.terminal() {
			ids = append(ids, t.info.TaskID)
		}
	}
	return ids
}

// Exit ends the executor as if its process exited with the given waitpid
// status: live tasks fail with REASON_EXECUTOR_TERMINATED and the master
// hears of the exit (for custom executors).
func (x *fakeExecutor) Exit(status int32) {
	a := x.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	if !x.exec.alive || x.exec.state == execTerminated {
		return
	}
	x.stopTimersLocked()
	a.executorTerminatedLocked(x.exec, status, !x.exec.commandTask)
}

// After runs f on the agent's mailbox after d, unless the executor is gone
// by then.
func (x *fakeExecutor) After(d time.Duration, f func()) {
	a := x.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	if !x.exec.alive {
		return
	}
	var t *time.Timer
	t = a.afterFunc(d, func() {
		a.mu.Lock()
		ok := a.up && x.exec.alive && x.exec.state != execTerminated
		for i, y := range x.timers {
			if y == t {
				x.timers = append(x.timers[:i], x.timers[i+1:]...)
				break
			}
		}
		a.mu.Unlock()
		if ok {
			f()
		}
	})
	x.timers = append(x.timers, t)
}

func (x *fakeExecutor) stopTimersLocked() {
	for _, t := range x.timers {
		t.Stop()
	}
	x.timers = nil
}

// FakeBehavior is a ready-made FakeExecutor: each launched task goes
// TASK_RUNNING (after StartDelay), and ends with FinishState after
// FinishAfter if that is set; KILL gives TASK_KILLED (unless IgnoreKill);
// framework messages are echoed back; SHUTDOWN kills every task and exits
// with status 0. The zero value runs tasks until killed.
type FakeBehavior struct {
	StartDelay  time.Duration
	FinishAfter time.Duration
	FinishState mesos.TaskState // default TASK_FINISHED
	IgnoreKill  bool            // a hung executor: kills are ignored
	NoEcho      bool            // do not echo framework messages
}

// Factory returns a FakeExecutorFactory giving every executor this behaviour.
func (b FakeBehavior) Factory() FakeExecutorFactory {
	return func(mesos.FrameworkInfo, mesos.ExecutorInfo) FakeExecutor { return b }
}

// Launch implements FakeExecutor.
func (b FakeBehavior) Launch(d *FakeDriver, task mesos.TaskInfo) {
	run := func() {
		d.SendState(task.TaskID, mesos.TASK_RUNNING)
		if b.FinishAfter > 0 {
			state := b.FinishState
			if !isTerminalState(state) {
				state = mesos.TASK_FINISHED
			}
			d.After(b.FinishAfter, func() { d.SendState(task.TaskID, state) })
		}
	}
	if b.StartDelay > 0 {
		d.After(b.StartDelay, run)
		return
	}
	run()
}

// Kill implements FakeExecutor.
func (b FakeBehavior) Kill(d *FakeDriver, taskID mesos.TaskID, _ *mesos.KillPolicy) {
	if !b.IgnoreKill {
		d.SendState(taskID, mesos.TASK_KILLED)
	}
}

// Message implements FakeExecutor.
func (b FakeBehavior) Message(d *FakeDriver, data []byte) {
	if !b.NoEcho {
		d.SendMessage(data)
	}
}

// Shutdown implements FakeExecutor.
func (b FakeBehavior) Shutdown(d *FakeDriver) {
	if b.IgnoreKill {
		return
	}
	for _, id := range d.LiveTasks() {
		d.SendState(id, mesos.TASK_KILLED)
	}
	d.Exit(0)
}
