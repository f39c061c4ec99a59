package runtime

import (
	"context"
	"os"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/internal/stepcmd"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// launchKey names a step attempt across re-registrations: the machine
// (hostname) and the attempt, which the machine's record keeps when it
// moves to a new agent id.
type launchKey struct {
	machine string
	attempt uint64
}

func keyOf(a coordinator.Action) launchKey {
	m := a.Hostname
	if m == "" {
		m = string(a.Agent)
	}
	return launchKey{machine: m, attempt: a.Attempt}
}

type launchState uint8

const (
	// launchDraining: the agent is being drained before the step.
	launchDraining launchState = iota + 1
	// launchWaiting: waiting for an offer from the agent.
	launchWaiting
	// launchAccepting: an ACCEPT carrying the task is on its way.
	launchAccepting
	// launchLaunched: Mesos knows the task.
	launchLaunched
)

// launch is an agent-scope step the coordinator launched and Mesos has not
// yet reported finished.
type launch struct {
	action coordinator.Action
	taskID string
	state  launchState
	// started: the coordinator took StepStarted for it (it ran, or is
	// being launched again after its offer went away under the ACCEPT).
	started bool
	// sentAt is when its ACCEPT was queued, askedAt when healer last asked
	// the master about a launch that has heard nothing since.
	sentAt, askedAt time.Time
}

// task is a healer task Mesos knows of, as its updates describe it (its id
// is its key in term.tasks).
type task struct {
	agent   string
	state   mesos.TaskState
	running bool
}

// act carries out one coordinator action. Only the loop calls it, and only
// after the Ready that decided it is persisted.
func (t *term) act(a coordinator.Action) {
	t.cfg.Metrics.action(a)
	switch a.Kind {
	case coordinator.ActLaunch:
		t.wantLaunch(a)
	case coordinator.ActRun:
		t.runMasterStep(a)
	case coordinator.ActIsolate:
		t.ops.isolate(a)
	case coordinator.ActReactivate:
		t.ops.reactivate(a)
	case coordinator.ActUp:
		t.ops.up(a)
	case coordinator.ActKill:
		t.killStep(a)
	}
}

// wantLaunch makes an agent-scope step wait for an offer from its agent
// (after draining it, for a drain step). A step whose task Mesos already
// knows (found by reconciliation after a failover) is not launched again.
func (t *term) wantLaunch(a coordinator.Action) {
	k := keyOf(a)
	id := taskspec.RepairTaskID(string(a.Agent), a.Incident, a.Attempt)
	if old := t.launches[k]; old != nil && old.taskID == id && old.state != launchWaiting {
		return // the same launch, re-emitted: already under way
	}
	l := &launch{action: a, taskID: id, state: launchWaiting}
	t.launches[k] = l
	if tk := t.tasks[id]; tk != nil && !terminal(tk.state) {
		l.state = launchLaunched
		return
	}
	if a.Step.Drain && !t.drainedFor(k) {
		l.state = launchDraining
		t.startDrain(k, a, func() {
			if cur := t.launches[k]; cur == l && l.state == launchDraining {
				l.state = launchWaiting
				t.offers.wanted = true
			}
		})
		return
	}
	t.offers.wanted = true
}

// dropWaits forgets the launches waiting for an offer (or a drain) when
// the coordinator becomes Immutable: they are owed in its records, and the
// Ready that makes it mutable again brings them back. A launch the
// coordinator already counts as started (sent again after its offer went
// away) is not owed and stays.
func (t *term) dropWaits() {
	for k, l := range t.launches {
		if !l.started && (l.state == launchWaiting || l.state == launchDraining) {
			delete(t.launches, k)
			t.stopDrain(k)
		}
	}
}

// killStep stops a step: kills its task if Mesos may know it, stops
// waiting for its offer, or kills its master-scope command.
func (t *term) killStep(a coordinator.Action) {
	k := keyOf(a)
	if r := t.runs[k]; r != nil {
		r.cancel()
	}
	t.stopDrain(k)
	if a.Step.Scope == coordinator.ScopeMaster {
		if t.runs[k] == nil {
			// No runner of this term has it (an earlier leader started
			// it, and its runner died with that leader): say it ended,
			// so its slot frees. A running one reports when killed.
			t.step(coordinator.StepOutcome{At: t.now(), Agent: a.Agent, Attempt: a.Attempt, Result: coordinator.ResultLost})
		}
		return
	}
	id := taskspec.RepairTaskID(string(a.Agent), a.Incident, a.Attempt)
	l := t.launches[k]
	if l != nil {
		id = l.taskID
		delete(t.launches, k)
		if l.state == launchWaiting || l.state == launchDraining {
			// Never sent: nothing runs. A kill confirmation is owed to
			// the coordinator all the same.
			t.step(coordinator.StepOutcome{At: t.now(), Agent: a.Agent, Attempt: a.Attempt, Result: coordinator.ResultLost})
			return
		}
	}
	agent := string(a.Agent)
	if tk := t.tasks[id]; tk != nil {
		agent = tk.agent
	}
	t.killTask(id, agent)
}

// onRepairUpdate turns a repair task's status into coordinator events.
func (t *term) onRepairUpdate(ref taskspec.TaskRef, st mesos.TaskStatus) {
	id := st.TaskID.Value
	agent := coordinator.AgentID(ref.Agent)
	rec, known := t.coord.Agent(agent)
	run := rec.Incident.Run
	inFlight := known && rec.State == coordinator.StateRepairing && run.Attempt == ref.Attempt &&
		run.Step.Scope == coordinator.ScopeAgent
	k := launchKey{machine: rec.Hostname, attempt: ref.Attempt}
	if rec.Hostname == "" {
		k.machine = ref.Agent
	}
	l := t.launches[k]
	tk := t.tasks[id]
	if tk == nil && !terminal(st.GetState()) {
		if !inFlight && st.GetState() != mesos.TASK_UNREACHABLE {
			// A step healer's records no longer have in flight (an
			// earlier attempt, a leader's launch that was never recorded
			// as started): it must not run on unaccounted.
			t.log.Warn("killing a repair task that is not in flight", "task", id, "state", st.GetState().String())
			t.killTask(id, st.GetAgentID().GetValue())
			return
		}
		tk = &task{agent: t.agents.canonical(st.GetAgentID().GetValue())}
		if tk.agent == "" {
			tk.agent = ref.Agent
		}
		t.tasks[id] = tk
	}
	if tk != nil {
		tk.state = st.GetState()
	}
	if s := st.GetState(); s != mesos.TASK_UNKNOWN && s != mesos.TASK_LOST {
		delete(t.recon.reasks, id)
	}
	now := t.now()
	outcome := func(res coordinator.Result, exit int, tail string) {
		t.step(coordinator.StepOutcome{At: now, Agent: agent, Attempt: ref.Attempt, Result: res, ExitCode: exit, OutputTail: tail})
	}
	switch st.GetState() {
	case mesos.TASK_STAGING, mesos.TASK_STARTING:
		if l != nil {
			l.state = launchLaunched
		}
	case mesos.TASK_RUNNING:
		if l != nil {
			l.state = launchLaunched
		}
		if inFlight && run.StartedAt.IsZero() {
			t.step(coordinator.StepStarted{At: now, Agent: agent, Attempt: ref.Attempt})
		}
		if tk != nil {
			tk.running = true
		}
	case mesos.TASK_UNREACHABLE:
		// Not an outcome: the agent may come back with the task
		// (REASON_AGENT_REREGISTERED), or the step's deadline decides.
	case mesos.TASK_UNKNOWN, mesos.TASK_LOST:
		switch {
		case inFlight && run.StartedAt.IsZero() && (l == nil || l.state != launchAccepting && l.state != launchLaunched):
			// Never launched as far as Mesos knows: the launch may go
			// ahead (it waits for mutability and an offer).
		case st.GetReason() == mesos.REASON_RECONCILIATION && inFlight:
			// Possibly false right after a master failover (MESOS-6250):
			// ask again before believing it.
			if t.recon.reask(t, id, tk) {
				return
			}
			outcome(coordinator.ResultLost, 0, st.GetMessage())
		default:
			outcome(coordinator.ResultLost, 0, st.GetMessage())
		}
	case mesos.TASK_DROPPED, mesos.TASK_ERROR, mesos.TASK_FAILED, mesos.TASK_FINISHED, mesos.TASK_KILLED:
		if l != nil && notLaunched(st) && (tk == nil || !tk.running) {
			// Nothing ran: the offer went away under the ACCEPT, or the
			// executor was exiting as the task arrived. Launch again on
			// the next offer (the step's deadline runs on).
			l.state, l.started = launchWaiting, true
			t.offers.wanted = true
			delete(t.tasks, id)
			return
		}
		switch st.GetState() {
		case mesos.TASK_DROPPED, mesos.TASK_ERROR:
			outcome(coordinator.ResultLost, 0, st.GetMessage())
		default:
			res, exit, tail := stepResult(st.GetState() == mesos.TASK_FINISHED, st.GetState() == mesos.TASK_KILLED,
				repairResult(st), st.GetMessage())
			outcome(res, exit, tail)
		}
	case mesos.TASK_GONE:
		// The task is gone, not its agent: its executor did not come back
		// after the agent restarted, or the agent does not know it (a
		// reconciliation; the soak saw it after a master failover). The
		// agent is as registered as before.
		outcome(coordinator.ResultLost, 0, st.GetMessage())
	case mesos.TASK_GONE_BY_OPERATOR:
		// The agent was marked gone (MARK_AGENT_GONE): it never comes back.
		outcome(coordinator.ResultLost, 0, st.GetMessage())
		if st.AgentID != nil {
			t.agents.gone(t, st.AgentID.Value)
		}
	}
	if terminal(st.GetState()) {
		delete(t.tasks, id)
		if l != nil && l.taskID == id {
			delete(t.launches, k)
		}
	}
}

func repairResult(st mesos.TaskStatus) *healerpb.RepairResult {
	if len(st.Data) == 0 {
		return nil
	}
	res, err := taskspec.DecodeRepairResult(st.Data)
	if err != nil {
		return nil
	}
	return res
}

// notLaunched reports whether a terminal update says the task never ran:
// its offer was gone by the time the ACCEPT arrived, or the executor was
// exiting when the task reached it.
func notLaunched(st mesos.TaskStatus) bool {
	switch st.GetReason() {
	case mesos.REASON_INVALID_OFFERS, mesos.REASON_EXECUTOR_TERMINATED:
		return st.GetState() != mesos.TASK_FINISHED
	}
	return false
}

// stepResult is a step's outcome from how it ended, the same for both
// scopes: finished (exit 0 by itself), killed (by a KILL or the step's
// timeout), and the RepairResult of the command (nil when it never ran,
// with why in msg).
func stepResult(finished, killed bool, rr *healerpb.RepairResult, msg string) (coordinator.Result, int, string) {
	switch {
	case rr == nil && finished:
		return coordinator.ResultSucceeded, 0, msg
	case rr == nil && killed:
		return coordinator.ResultLost, 0, msg
	case rr == nil:
		// Failed before the command ran (fetch, executor): the agent
		// could not run the step.
		return coordinator.ResultFailed, -1, msg
	}
	tail := string(rr.OutputTail)
	if rr.Error != "" {
		tail = "healer: " + rr.Error + "\n" + tail
	}
	switch {
	case rr.TimedOut:
		return coordinator.ResultTimedOut, int(rr.ExitCode), tail
	case finished || rr.ExitCode == 0 && rr.Signal == 0 && !rr.Killed && rr.Error == "":
		return coordinator.ResultSucceeded, 0, tail
	case rr.Killed:
		return coordinator.ResultLost, int(rr.ExitCode), tail
	}
	return coordinator.ResultFailed, int(rr.ExitCode), tail
}

// masterRun is a master-scope step's command running on this host.
type masterRun struct {
	cancel context.CancelFunc
}

// runMasterStep runs a master-scope step's command here (after draining
// the agent, for a drain step). A step already running for the attempt is
// not started again.
func (t *term) runMasterStep(a coordinator.Action) {
	k := keyOf(a)
	if t.runs[k] != nil {
		return
	}
	if a.Step.Drain && !t.drainedFor(k) {
		t.startDrain(k, a, func() {
			t.step(coordinator.StepStarted{At: t.now(), Agent: a.Agent, Attempt: a.Attempt})
			t.startCommand(k, a)
		})
		return
	}
	t.startCommand(k, a)
}

func (t *term) startCommand(k launchKey, a coordinator.Action) {
	if t.runs[k] != nil {
		return
	}
	cmd, ok := t.cfg.Commands[a.Step.Action]
	if !ok {
		// Config validation makes this impossible; say so if it happens.
		t.step(coordinator.StepOutcome{At: t.now(), Agent: a.Agent, Attempt: a.Attempt,
			Result: coordinator.ResultFailed, ExitCode: -1,
			OutputTail: "healer: no command configured for repair id " + a.Step.Action})
		return
	}
	rt := repairTask(a, cmd, t.stepTimeout(a.Step))
	spec := stepcmd.Spec{
		Command: cmd, Env: taskspec.StepEnv(stepBaseEnv(), rt, healerpb.SCOPE_MASTER),
		Timeout: t.stepTimeout(a.Step), KillGrace: t.cfg.KillGrace, TailBytes: taskspec.MaxOutputTail,
	}
	rctx, cancel := context.WithCancel(t.ctx)
	t.runs[k] = &masterRun{cancel: cancel}
	t.cfg.Metrics.masterSteps.Inc()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer cancel()
		res, err := stepcmd.Run(rctx, spec)
		rr := taskspec.RepairResultOf(res, err)
		t.post(func() { t.masterStepDone(k, a, rr) })
	}()
}

func (t *term) masterStepDone(k launchKey, a coordinator.Action, rr *healerpb.RepairResult) {
	delete(t.runs, k)
	t.cfg.Metrics.masterSteps.Dec()
	res, exit, tail := stepResult(false, false, rr, "")
	t.step(coordinator.StepOutcome{At: t.now(), Agent: a.Agent, Attempt: a.Attempt, Result: res, ExitCode: exit, OutputTail: tail})
}

// stepBaseEnv is the environment a master-scope command starts from: the
// scheduler's own, without its HEALER_* settings (a --zk URL may carry
// ZooKeeper credentials, which are no business of a repair script).
func stepBaseEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HEALER_") {
			out = append(out, kv)
		}
	}
	return out
}

// stepTimeout is the step's own timeout, or the policy's default.
func (t *term) stepTimeout(s coordinator.Step) (d time.Duration) {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return t.cfg.Policy.DefaultStepTimeout
}

// repairTask is the payload of a step: what the executor (agent scope) or
// the master-scope runner needs, and what the step's environment is made
// from.
func repairTask(a coordinator.Action, cmd string, timeout time.Duration) *healerpb.RepairTask {
	return &healerpb.RepairTask{
		AgentId: string(a.Agent), Hostname: a.Hostname, Incident: a.Incident, Attempt: a.Attempt,
		Problem: a.Problem, Action: a.Step.Action, Command: cmd, TimeoutNs: timeout.Nanoseconds(),
		Forced: a.Forced, Principal: a.Principal,
	}
}
