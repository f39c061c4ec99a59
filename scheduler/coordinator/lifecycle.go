package coordinator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Notes used in decisions. Constants, so that the hot path does not format.
const (
	noteAttached         = "attached to open incident"
	noteRelapse          = "signal during probation: the repair did not hold"
	noteContinue         = "previous incident closed within reset_after: continuing up the ladder"
	noteProbationQuiet   = "probation passed quietly"
	noteNoOffer          = "no usable offer within offer_timeout: stopped waiting; escalating"
	noteTimedOut         = "step timed out: killed; escalating"
	noteEscalate         = "escalating to the next step"
	noteLadderExhausted  = "ladder exhausted"
	noteLadderIsolate    = "isolation is the ladder's next step"
	noteOperator         = "operator command"
	noteForced           = "forced by operator: limits bypassed"
	noteAssumeSuccess    = "dry-run: assuming success, entering probation"
	noteIsolatedIgnored  = "agent is isolated until an operator reactivates it; signal not attached to any incident"
	notePolicyChanged    = "re-checked after a restart under a changed policy"
	noteDryRunHistory    = "previous incident's steps were only dry-run: starting the ladder over"
	noteStartOver        = "the incident's progress was only imagined in dry-run: starting the ladder over for real"
	noteRemovedLost      = "agent removed: its task is lost with it; escalating"
	noteReregisteredLost = "machine re-registered under a new id: the task on the old registration is lost; escalating"
	noteExpired          = "removed machine forgotten: nothing open, not isolated or excluded, last incident reset_after ago"
	noteIsolateOnReturn  = "agent removed: isolated again when the machine re-registers"
	noteKillExpired      = "no terminal status by the killed step's deadline plus the kill grace: slot freed (its executor ends it by its deadline)"
)

// resolve finds the one agent a signal's target names: an agent id or a
// hostname, never a wildcard, never two agents. A hostname names its live
// agent; a removed agent id, or a hostname whose only records are removed
// machines, is refused with ErrAgentRemoved: the monitor must name the
// machine's current registration.
func (c *Coordinator) resolve(t string) (*agent, error) {
	if err := validateTarget(t); err != nil {
		return nil, err
	}
	if len(t) > max(MaxAgentIDBytes, MaxHostnameBytes) {
		// No agent is known by a name over the bounds AgentAdded holds.
		return nil, ErrUnknownAgent
	}
	a := c.agents[AgentID(t)]
	// The live agents on host t, other than a; no allocation.
	var host *agent
	others, tombs := 0, 0
	var buf [4]AgentID
	for _, id := range c.onHost(t, buf[:0]) {
		switch h := c.agents[id]; {
		case h == a:
		case h.removed():
			tombs++
		default:
			host = h
			others++
		}
	}
	switch {
	case others > 1 || a != nil && others > 0:
		return nil, ErrAmbiguousTarget
	case a != nil && a.r().Removed():
		return nil, ErrAgentRemoved
	case a != nil:
		return a, nil
	case host != nil:
		return host, nil
	case tombs > 0 || c.prev[AgentID(t)] != nil:
		return nil, ErrAgentRemoved
	}
	return nil, ErrUnknownAgent
}

func (c *Coordinator) signal(e Signal) error {
	a, err := c.resolve(e.Agent)
	switch {
	case err != nil:
	case e.Problem == "":
		err = ErrNoProblem
	case !validName(e.Problem, MaxProblemBytes):
		err = ErrBadProblem
	}
	if err != nil {
		target, problem := shown(e.Agent), clipText(e.Problem, MaxProblemBytes)
		c.decide(Decision{Kind: DecRejected, Agent: AgentID(target), Problem: problem, Note: c.signalFrom(e.Source), Err: err})
		return fmt.Errorf("signal for %q (%q from %q): %w%s", target, problem, clipText(e.Source, MaxSourceBytes),
			err, c.removedDetail(target, err))
	}
	r := a.r()
	if c.policy.Mode == ModeObserve {
		c.decide(Decision{Kind: DecObserved, Agent: r.ID, Problem: e.Problem, Err: ErrObserveOnly, Note: c.signalFrom(e.Source)})
		return nil
	}
	switch r.State {
	case StatePending, StateAwaitingApproval, StateRepairing:
		// Dedup. Deliberately no edit: a duplicate changes no decision, so
		// it costs no write (see the package doc).
		r.Incident.Signals++
		r.Incident.LastSignalAt = c.now
		c.decide(Decision{Kind: DecAttached, Agent: r.ID, Incident: r.Incident.ID, Problem: e.Problem, Note: noteAttached})
	case StateProbation:
		c.edit(a)
		r.Incident.Signals++
		r.Incident.LastSignalAt = c.now
		c.decide(Decision{Kind: DecRelapsed, Agent: r.ID, Incident: r.Incident.ID, Problem: e.Problem,
			Step: r.Incident.Step, Action: c.stepOf(r).Action, Note: noteRelapse})
		c.escalate(a)
	case StateIsolated:
		c.decide(Decision{Kind: DecIgnored, Agent: r.ID, Err: ErrIsolated, Note: noteIsolatedIgnored})
	case StateHealthy:
		c.open(a, e.Problem, clipText(e.Source, MaxSourceBytes), clipText(e.Message, MaxMessageBytes))
		c.enqueue(a)
	default:
		panic("coordinator: agent " + string(r.ID) + " in unknown state " + r.State.String())
	}
	return nil
}

// removedDetail says, for a signal refused with ErrAgentRemoved, where its
// machine went, so that whoever runs the monitor can fix the target.
func (c *Coordinator) removedDetail(t string, err error) string {
	if err != ErrAgentRemoved {
		return ""
	}
	if a := c.agents[AgentID(t)]; a != nil {
		return fmt.Sprintf(" (agent %s on %s removed at %s; the machine is remembered until it re-registers)",
			t, a.r().Hostname, a.r().RemovedAt.Format(time.RFC3339))
	}
	if a := c.prev[AgentID(t)]; a != nil {
		return fmt.Sprintf(" (machine %s re-registered as %s)", a.r().Hostname, a.r().ID)
	}
	return fmt.Sprintf(" (no agent is registered on %s; the machine is remembered until it re-registers)", t)
}

// signalFrom says where a signal came from, for its decisions.
func (c *Coordinator) signalFrom(source string) string {
	if source == "" {
		return ""
	}
	return "signal from " + clipText(source, MaxSourceBytes)
}

// open opens an incident on a healthy agent; the caller then enqueues or
// starts its first step.
func (c *Coordinator) open(a *agent, problem, source, message string) {
	c.edit(a)
	r := a.r()
	r.Incidents++
	k, note := c.continuation(r, problem)
	imagined := k > 0 && r.NextStepDryRun
	if imagined && c.policy.Mode == ModeExecute {
		// Execute never continues from history dry-run imagined.
		k, imagined, note = 0, false, noteDryRunHistory
	}
	note = joinNote(c.signalFrom(source), note)
	r.Incident = Incident{
		ID: r.Incidents, Problem: problem, Source: source, Message: message,
		OpenedAt: c.now, Signals: 1, LastSignalAt: c.now, DryRun: imagined,
	}
	c.setStep(r, k)
	d := Decision{Kind: DecOpened, Agent: r.ID, Incident: r.Incidents, Problem: problem, Step: k, Note: note}
	d.Action = c.stepOf(r).Action
	c.decide(d)
}

// continuation is the ladder position a new incident for problem starts
// at, and why when that is not plainly the first step. A saved position
// (NextStep, with the step there and the problem whose ladder it is in) is
// meaningful only in the ladder it was recorded in: within reset_after, an
// incident on that same ladder continues from it (found by its step, in
// case the ladder was edited across a restart); one on another ladder, or
// a position whose ladder or step cannot be resolved, starts at step 1. A
// position never stands for isolation unless it names isolation itself.
func (c *Coordinator) continuation(r *AgentRecord, problem string) (int, string) {
	k := escalationStart(r.LastClosedAt, r.NextStep, c.now, c.policy.ResetAfter)
	if k == 0 {
		return 0, ""
	}
	ladder := c.policy.LadderFor(problem)
	first, _ := stepAt(ladder, 0)
	switch {
	case r.NextProblem == "":
		// Written by a healer that did not record the ladder: whose
		// ladder the index belongs to is unknown.
		return 0, "previous incident's ladder position was recorded without its problem: starting over at step 1 (" + first.Action + ")"
	case !c.policy.sameLadder(r.NextProblem, problem):
		return 0, "previous incident's position is on the ladder for " + r.NextProblem + ", not " + problem +
			"'s: starting " + problem + "'s ladder at step 1 (" + first.Action + ")"
	}
	j, ok := relocate(ladder, k, r.NextAction, r.NextScope)
	switch {
	case !ok:
		return 0, ladderChanged(r.NextProblem, r.NextAction, k, first.Action)
	case j == 0:
		return 0, ""
	}
	return j, noteContinue
}

// setStep puts the open incident at ladder position k, recording the step
// there so that the position survives a ladder edit across a restart.
func (c *Coordinator) setStep(r *AgentRecord, k int) {
	s, _ := stepAt(c.policy.LadderFor(r.Incident.Problem), k)
	r.Incident.Step, r.Incident.StepAction, r.Incident.StepScope = k, s.Action, s.Scope
}

// ladderChanged says why an incident starts its ladder over: the step its
// position (index k) named is no longer in the ladder, or the position was
// recorded as a bare index that names no step healer can resume.
func ladderChanged(problem, action string, k int, first string) string {
	if action == "" {
		return "ladder position " + strconv.Itoa(k+1) + " for " + problem + " was recorded without its step and is not a step of the ladder to resume: starting over at step 1 (" + first + ")"
	}
	return "ladder for " + problem + " changed; " + action + " is no longer in it: starting over at step 1 (" + first + ")"
}

// startOver moves an incident whose position names a step that is no
// longer in its ladder (edited across a restart) back to the first step.
// It is not a new start: the first step waits for approval and a slot
// like any other.
func (c *Coordinator) startOver(a *agent) {
	inc := &a.r().Incident
	gone, at := inc.StepAction, inc.Step
	c.setStep(a.r(), 0)
	inc.unapprove()
	c.decide(Decision{Kind: DecStartedOver, Agent: a.r().ID, Incident: inc.ID, Step: 0,
		Action: inc.StepAction, Note: ladderChanged(inc.Problem, gone, at, inc.StepAction)})
}

// advance moves an open incident past the step at its position (in
// flight, or in probation), found by action in the current ladder; if
// that step is no longer in the ladder, the ladder starts over.
func (c *Coordinator) advance(a *agent) {
	inc := &a.r().Incident
	j, ok := relocate(c.policy.LadderFor(inc.Problem), inc.Step, inc.StepAction, inc.StepScope)
	if !ok {
		c.startOver(a)
		return
	}
	c.setStep(a.r(), j+1)
}

// reposition re-resolves the position of a waiting (pending or
// awaiting-approval) incident by action after Restore, in memory; the
// first accepted Step persists it and says why (requeueStale). It reports whether
// the position moved.
func (c *Coordinator) reposition(a *agent) bool {
	r := a.r()
	if r.State != StatePending && r.State != StateAwaitingApproval {
		return false
	}
	inc := &r.Incident
	j, ok := relocate(c.policy.LadderFor(inc.Problem), inc.Step, inc.StepAction, inc.StepScope)
	switch {
	case !ok:
		first, _ := stepAt(c.policy.LadderFor(inc.Problem), 0)
		a.moved = ladderChanged(inc.Problem, inc.StepAction, inc.Step, first.Action)
		c.setStep(r, 0)
		inc.unapprove()
	case j != inc.Step:
		c.setStep(r, j)
	default:
		return false
	}
	return true
}

func (c *Coordinator) stepOf(r *AgentRecord) Step {
	s, _ := stepAt(c.policy.LadderFor(r.Incident.Problem), r.Incident.Step)
	return s
}

// escalate moves an open incident to its next step.
func (c *Coordinator) escalate(a *agent) {
	inc := &a.r().Incident
	c.advance(a)
	inc.unapprove()
	c.enqueue(a)
}

// enqueue makes the incident's current step wait: for approval if it needs
// one, else for a slot. Whether it got one is reported after the schedule
// pass (reportHeld).
func (c *Coordinator) enqueue(a *agent) {
	r := a.r()
	c.startOverIfImagined(a)
	r.Incident.Run = Run{}
	r.Incident.ProbationEnds = time.Time{}
	s := c.stepOf(r)
	if s.Approval && !r.Incident.Approved {
		// The step gets its attempt id now: an approval names it, so one
		// meant for an earlier wait can never approve this one.
		r.State = StateAwaitingApproval
		r.Attempts++
		r.Incident.ApprovalAttempt = r.Attempts
		c.decide(Decision{Kind: DecAwaitingApproval, Agent: r.ID, Incident: r.Incident.ID, Attempt: r.Attempts,
			Step: r.Incident.Step, Action: s.Action, Err: ErrAwaitingApproval})
		return
	}
	r.State = StatePending
	r.Incident.PendingSince = c.now
	c.enqueued = append(c.enqueued, a)
}

// startOverIfImagined moves an incident whose ladder position rests on
// dry-run's imagined outcomes back to the first step, in execute mode only
// (dry-run keeps showing what it would do). Such an incident exists only
// when the mode changed from dry-run to execute across a Restore.
func (c *Coordinator) startOverIfImagined(a *agent) {
	inc := &a.r().Incident
	if c.policy.Mode != ModeExecute || !inc.DryRun {
		return
	}
	c.setStep(a.r(), 0)
	inc.DryRun = false
	inc.unapprove()
	c.decide(Decision{Kind: DecStartedOver, Agent: a.r().ID, Incident: inc.ID, Step: 0,
		Action: c.stepOf(a.r()).Action, Note: noteStartOver})
}

// start runs the incident's current step now. The caller has checked the
// gates, or this is an operator's force.
func (c *Coordinator) start(a *agent, forced bool, principal string) {
	c.edit(a)
	r := a.r()
	inc := &r.Incident
	s, isolate := stepAt(c.policy.LadderFor(inc.Problem), inc.Step)
	dry := c.policy.Mode != ModeExecute
	if dry {
		// Nothing runs: an attempt id kept for the approval lapses.
		inc.ApprovalAttempt = 0
	}
	inc.StepsRun++
	r.NextStep = inc.Step + 1
	next, _ := stepAt(c.policy.LadderFor(inc.Problem), r.NextStep)
	r.NextAction, r.NextScope, r.NextProblem = next.Action, next.Scope, inc.Problem
	r.NextStepDryRun = dry
	if dry {
		inc.DryRun = true
	}
	c.global.LastStartAt = c.now
	c.markGlobal()
	note := ""
	if forced {
		note = noteForced
	}
	if isolate {
		if note == "" {
			note = noteLadderIsolate
			if inc.Step >= len(c.policy.LadderFor(inc.Problem)) {
				note = noteLadderExhausted
			}
		}
		c.isolate(a, dry, forced, principal, note)
		return
	}
	d := Decision{Kind: DecStarted, Agent: r.ID, Incident: inc.ID, Step: inc.Step, Action: s.Action,
		DryRun: dry, Note: note, Principal: principal}
	if dry {
		d.Note = noteAssumeSuccess
		c.decide(d)
		c.toProbation(a)
		return
	}
	run := Run{Attempt: c.attemptID(r), Step: s, LaunchedAt: c.now, Forced: forced, ForcedBy: principal}
	kind := ActLaunch
	switch {
	case s.Scope == ScopeMaster && !s.Drain:
		run.StartedAt = c.now
		run.Deadline = c.now.Add(c.policy.timeout(s))
		kind = ActRun
	case s.Scope == ScopeMaster:
		run.OfferDeadline = c.now.Add(sumDur(c.policy.DrainTimeout, c.policy.timeout(s)))
		kind = ActRun
	case s.Drain:
		run.OfferDeadline = c.now.Add(sumDur(c.policy.DrainTimeout, c.policy.OfferTimeout))
	default:
		run.OfferDeadline = c.now.Add(c.policy.OfferTimeout)
	}
	if s.Drain {
		r.Drained = true
	}
	inc.Run = run
	r.State = StateRepairing
	d.Attempt = run.Attempt
	c.act(Action{Kind: kind, Agent: r.ID, Hostname: r.Hostname, Incident: inc.ID, Attempt: run.Attempt,
		Problem: inc.Problem, Step: s, Forced: forced, Principal: principal})
	c.decide(d)
	c.commit(a)
}

func (c *Coordinator) toProbation(a *agent) {
	r := a.r()
	r.State = StateProbation
	r.Incident.ProbationEnds = c.now.Add(c.policy.Probation)
	c.commit(a)
}

// isolate ends the incident (if any) by isolating the agent. In dry-run it
// only says so and closes the incident.
func (c *Coordinator) isolate(a *agent, dry, forced bool, principal, note string) {
	c.edit(a)
	r := a.r()
	d := Decision{Kind: DecIsolated, Agent: r.ID, Incident: r.Incident.ID, Step: r.Incident.Step,
		Action: ActionIsolate, DryRun: dry, Note: note, Principal: principal}
	if dry {
		c.decide(d)
		c.closeIncident(a)
		return
	}
	d.Attempt = c.attemptID(r)
	c.record(r, Attempt{ID: d.Attempt, Incident: r.Incident.ID, Problem: r.Incident.Problem,
		Action: ActionIsolate, Scope: ScopeMaster, StartedAt: c.now, EndedAt: c.now,
		Result: ResultIsolated, Forced: forced, Principal: principal})
	if r.Incident.StepsRun > 0 {
		r.LastClosedAt = c.now
	}
	r.Incident = Incident{}
	r.State = StateIsolated
	r.IsolatedAt = c.now
	r.IsolateOwed, r.ReactivateOwed = 0, 0
	if c.agentGone(r) {
		d.Note = joinNote(d.Note, noteIsolateOnReturn)
	} else {
		r.IsolateOwed = d.Attempt
		c.act(Action{Kind: ActIsolate, Agent: r.ID, Hostname: r.Hostname, Incident: d.Incident,
			Attempt: d.Attempt, Isolation: c.policy.Isolation, Forced: forced, Principal: principal})
	}
	c.decide(d)
}

// attemptID hands out the attempt id of the step the open incident starts
// now: the one it was given when it began waiting for approval, else the
// agent's next.
func (c *Coordinator) attemptID(r *AgentRecord) uint64 {
	if id := r.Incident.ApprovalAttempt; id != 0 {
		r.Incident.ApprovalAttempt = 0
		return id
	}
	r.Attempts++
	return r.Attempts
}

// closeIncident returns the agent to healthy. An incident that ran a step
// arms history-aware escalation for the next one.
func (c *Coordinator) closeIncident(a *agent) {
	r := a.r()
	if r.Incident.StepsRun > 0 {
		r.LastClosedAt = c.now
	}
	r.Incident = Incident{}
	r.State = StateHealthy
}

// record appends an attempt to the bounded history, copying so that
// records already emitted never change.
func (c *Coordinator) record(r *AgentRecord, at Attempt) {
	keep := r.History
	if len(keep) >= HistoryLen {
		keep = keep[len(keep)-HistoryLen+1:]
	}
	h := make([]Attempt, len(keep), len(keep)+1)
	copy(h, keep)
	r.History = append(h, at)
}

// finish ends the step in flight with result.
func (c *Coordinator) finish(a *agent, res Result, exit int, tail string) {
	r := a.r()
	run := &r.Incident.Run
	started := run.StartedAt
	if started.IsZero() {
		started = run.LaunchedAt
	}
	c.record(r, Attempt{ID: run.Attempt, Incident: r.Incident.ID, Problem: r.Incident.Problem,
		Action: run.Step.Action, Scope: run.Step.Scope, StartedAt: started, EndedAt: c.now,
		Result: res, ExitCode: exit, OutputTail: tail, Forced: run.Forced, Principal: run.ForcedBy})
	r.Incident.Run = Run{}
}

// kill ends the step in flight without an outcome from it. A started step
// may still run: it keeps its slot until its end is confirmed (Killing).
func (c *Coordinator) kill(a *agent, res Result) { c.killOn(a, a.r().ID, res, true) }

// killOn is kill addressed to the agent id the step was launched on (the
// machine's previous registration, after a re-registration). live says that
// registration is still there: the kill of a started step on it is held
// (AgentRecord.Killing) and owed until its end is confirmed. A step that
// never started has no task (the runtime reports StepStarted before it
// launches), and one on a removed agent ended with it: their ActKill only
// stops the runtime's wait.
func (c *Coordinator) killOn(a *agent, id AgentID, res Result, live bool) {
	r := a.r()
	run := &r.Incident.Run
	if live && !run.StartedAt.IsZero() {
		until := run.Deadline
		if until.Before(c.now) {
			until = c.now
		}
		r.Killing = Kill{Attempt: run.Attempt, Incident: r.Incident.ID, Agent: id, Problem: r.Incident.Problem,
			Step: run.Step, Forced: run.Forced, KilledAt: c.now, Until: until.Add(c.policy.KillConfirmTimeout)}
	}
	c.act(Action{Kind: ActKill, Agent: id, Hostname: r.Hostname, Incident: r.Incident.ID,
		Attempt: run.Attempt, Problem: r.Incident.Problem, Step: run.Step, Forced: run.Forced, Principal: run.ForcedBy})
	c.finish(a, res, 0, "")
}

// endKill frees the slot of a killed step whose end is known (kind
// DecKillEnded) or no longer awaited (DecKillExpired).
func (c *Coordinator) endKill(a *agent, kind DecisionKind, res Result, exit int, note string) {
	c.edit(a)
	k := &a.r().Killing
	c.decide(Decision{Kind: kind, Agent: a.r().ID, Incident: k.Incident, Attempt: k.Attempt, Problem: k.Problem,
		Result: res, ExitCode: exit, Note: k.Step.Action + ": " + note})
	*k = Kill{}
}

// up ends the drain window of a drained agent; the UP is owed until the
// master acknowledges it.
func (c *Coordinator) up(a *agent) {
	r := a.r()
	if !r.Drained {
		return
	}
	r.Drained = false
	r.UpOwed = r.Incident.ID
	c.act(Action{Kind: ActUp, Agent: r.ID, Hostname: r.Hostname, Incident: r.Incident.ID})
}

// reported finds the record a step report names: by agent id, removed ones
// included (a master-scope step on a removed machine still ends), or by the
// id the machine had before it re-registered.
func (c *Coordinator) reported(id AgentID) *agent {
	if a := c.agents[id]; a != nil {
		return a
	}
	return c.prev[id]
}

// unreported rejects a step report (what) naming an agent healer has no
// record of.
func (c *Coordinator) unreported(what string, agent AgentID, attempt uint64) error {
	id := shownID(agent)
	c.decide(Decision{Kind: DecRejected, Agent: id, Attempt: attempt, Err: ErrUnknownAgent})
	return fmt.Errorf("%s on %q: %w", what, id, ErrUnknownAgent)
}

func (c *Coordinator) started(e StepStarted) error {
	a := c.reported(e.Agent)
	if a == nil {
		return c.unreported("step started", e.Agent, e.Attempt)
	}
	r := a.r()
	run := &r.Incident.Run
	if r.State != StateRepairing || run.Attempt != e.Attempt || !run.StartedAt.IsZero() {
		c.decide(Decision{Kind: DecIgnored, Agent: r.ID, Attempt: e.Attempt, Err: ErrStaleOutcome, Note: inFlightNote(r)})
		return nil
	}
	if run.Step.Scope == ScopeAgent && r.Removed() {
		// No task can start on a removed agent: the runtime must not
		// launch it (it launches only on DecRunning).
		c.decide(Decision{Kind: DecIgnored, Agent: r.ID, Attempt: e.Attempt, Err: ErrAgentRemoved,
			Note: "the step waits for its machine to re-register"})
		return nil
	}
	c.edit(a)
	run.StartedAt = c.now
	run.Deadline = c.now.Add(c.policy.timeout(run.Step))
	c.decide(Decision{Kind: DecRunning, Agent: r.ID, Incident: r.Incident.ID, Attempt: run.Attempt,
		Step: r.Incident.Step, Action: run.Step.Action})
	return nil
}

// inFlightNote says what an agent has in flight, for a report about another
// attempt.
func inFlightNote(r *AgentRecord) string {
	switch {
	case r.Killing.Attempt != 0 && r.State != StateRepairing:
		return "attempt " + strconv.FormatUint(r.Killing.Attempt, 10) + " was killed and has not yet ended; agent is " + r.State.String()
	case r.State != StateRepairing:
		return "no step in flight; agent is " + r.State.String()
	case r.Incident.Run.StartedAt.IsZero():
		return "attempt " + strconv.FormatUint(r.Incident.Run.Attempt, 10) + " is in flight, waiting for its offer"
	}
	return "attempt " + strconv.FormatUint(r.Incident.Run.Attempt, 10) + " is in flight, started"
}

func (c *Coordinator) outcome(e StepOutcome) error {
	a := c.reported(e.Agent)
	if a == nil {
		return c.unreported("outcome", e.Agent, e.Attempt)
	}
	switch e.Result {
	case ResultSucceeded, ResultFailed, ResultTimedOut, ResultLost, ResultNoOffer:
	default:
		c.decide(Decision{Kind: DecRejected, Agent: e.Agent, Attempt: e.Attempt, Err: ErrUnknownResult,
			Note: "result " + strconv.Itoa(int(e.Result))})
		return fmt.Errorf("outcome %d on %s: %w", e.Result, e.Agent, ErrUnknownResult)
	}
	r := a.r()
	if k := &r.Killing; k.Attempt != 0 && k.Attempt == e.Attempt {
		c.endKill(a, DecKillEnded, e.Result, e.ExitCode, "killed step ended: slot freed")
		return nil
	}
	if r.State != StateRepairing || r.Incident.Run.Attempt != e.Attempt {
		c.decide(Decision{Kind: DecIgnored, Agent: r.ID, Attempt: e.Attempt, Result: e.Result, ExitCode: e.ExitCode,
			Err: ErrStaleOutcome, Note: inFlightNote(r)})
		return nil
	}
	c.edit(a)
	d := Decision{Kind: DecStepFailed, Agent: r.ID, Incident: r.Incident.ID, Attempt: e.Attempt,
		Step: r.Incident.Step, Action: r.Incident.Run.Step.Action, Result: e.Result, ExitCode: e.ExitCode}
	if e.Result != ResultSucceeded {
		d.Note = noteEscalate
	}
	c.finish(a, e.Result, e.ExitCode, clipTail(e.OutputTail, MaxOutputTailBytes))
	if e.Result == ResultSucceeded {
		d.Kind = DecSucceeded
		c.decide(d)
		c.up(a)
		c.toProbation(a)
		return nil
	}
	c.decide(d)
	c.escalate(a)
	return nil
}

// tick handles every deadline due at c.now, in (deadline, agent) order.
// Step deadlines and the bounds of killed steps wait while Immutable: a
// kill cannot reach the master, and reconciliation will report what became
// of the task.
func (c *Coordinator) tick() {
	c.skip = c.skip[:0]
	for c.timers.Len() > 0 && !c.timers.peek().at.After(c.now) {
		it := c.timers.pop()
		a := c.live(it, timerSlot)
		if a == nil {
			continue
		}
		a.slots.timer.queued = false
		r := a.r()
		held := false
		if k := &r.Killing; k.Attempt != 0 && !k.Until.After(c.now) {
			if c.immutable() {
				held = true
			} else {
				c.endKill(a, DecKillExpired, 0, 0, noteKillExpired)
			}
		}
		if d, ok := c.stateDeadline(r); ok && !d.After(c.now) {
			held = c.due(a) || held
		}
		if held {
			a.slot().timer.queued = true
			c.skip = append(c.skip, it)
		}
	}
	for _, it := range c.skip {
		c.timers.push(it)
	}
}

// due handles the state deadline of a that has come; it reports whether
// it must wait (a step deadline while Immutable).
func (c *Coordinator) due(a *agent) bool {
	r := a.r()
	switch r.State {
	case StateHealthy:
		// Only a removed machine's tombstone has a timer when healthy.
		c.edit(a)
		c.decide(Decision{Kind: DecExpired, Agent: r.ID, Note: noteExpired})
		c.drop(a)
	case StateProbation:
		c.edit(a)
		c.decide(Decision{Kind: DecClosed, Agent: r.ID, Incident: r.Incident.ID, Problem: r.Incident.Problem,
			Step: r.Incident.Step, Action: c.stepOf(r).Action, Note: noteProbationQuiet})
		c.closeIncident(a)
		// A removed machine that no longer matters expires in this
		// same tick: queue its expiry now.
		c.commit(a)
	case StateRepairing:
		if c.immutable() {
			return true
		}
		c.edit(a)
		res, note := ResultTimedOut, noteTimedOut
		if r.Incident.Run.StartedAt.IsZero() {
			res, note = ResultNoOffer, noteNoOffer
		}
		d := Decision{Kind: DecStepFailed, Agent: r.ID, Incident: r.Incident.ID, Attempt: r.Incident.Run.Attempt,
			Step: r.Incident.Step, Action: r.Incident.Run.Step.Action, Result: res, Note: note}
		c.kill(a, res)
		c.decide(d)
		c.escalate(a)
	default:
		panic("coordinator: timer for agent " + string(r.ID) + " in state " + r.State.String())
	}
	return false
}

func (c *Coordinator) connectivity(e Connectivity) {
	was := c.immutable()
	switch e.Change {
	case MasterConnected:
		// A new subscription: its view must be reconciled again.
		c.link.master, c.link.reconciled = true, false
	case MasterDisconnected:
		c.link.master, c.link.reconciled = false, false
	case Reconciled:
		if !c.link.master {
			c.decide(Decision{Kind: DecIgnored, Err: ErrImmutable, Note: "reconciled without a master connection"})
			return
		}
		c.link.reconciled = true
	case ZKSessionUp:
		c.link.zk = true
	case ZKSessionDown:
		c.link.zk = false
	default:
		panic(fmt.Sprintf("coordinator: unknown connectivity change %d", e.Change))
	}
	now := c.immutable()
	switch {
	case now && !was:
		c.link.since = c.now
		c.decide(Decision{Kind: DecImmutable, Note: c.why()})
	case !now && was:
		c.link.since = c.now
		c.decide(Decision{Kind: DecMutable, Note: "connected, reconciled, ZooKeeper session up"})
		c.rearm()
		c.commitAll() // owing is derived from committed records
		c.actions = c.appendOwed(c.actions)
	}
}

// rearm restarts the offer wait of steps that had not started when the
// coordinator became Immutable: without a master (or after a failover) no
// offer could arrive, which is not the agent's fault.
func (c *Coordinator) rearm() {
	ids := make([]AgentID, 0, len(c.inFlight))
	for id, a := range c.inFlight {
		if a.r().Incident.Run.StartedAt.IsZero() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := c.agents[id]
		c.edit(a)
		run := &a.r().Incident.Run
		wait := c.policy.OfferTimeout
		if run.Step.Scope == ScopeMaster {
			wait = c.policy.timeout(run.Step)
		}
		if run.Step.Drain {
			wait = sumDur(wait, c.policy.DrainTimeout)
		}
		run.OfferDeadline = c.now.Add(wait)
	}
}

func (c *Coordinator) addAgent(id AgentID, host, zone string, update bool) error {
	var bad error
	switch {
	case id == "":
		bad = ErrNoAgentID
	case !validName(string(id), MaxAgentIDBytes):
		bad = ErrBadAgentID
	case !validName(host, MaxHostnameBytes):
		bad = ErrBadHostname
	case !validName(zone, MaxZoneBytes):
		bad = ErrBadZone
	}
	if bad != nil {
		sid, shost := shownID(id), shown(host)
		c.decide(Decision{Kind: DecRejected, Agent: sid, Hostname: shost, Err: bad})
		return fmt.Errorf("agent event for %q on host %q in zone %q: %w", sid, shost, shown(zone), bad)
	}
	a := c.agents[id]
	switch {
	case a == nil && update:
		c.decide(Decision{Kind: DecRejected, Agent: id, Err: ErrUnknownAgent})
		return fmt.Errorf("update agent %s: %w", id, ErrUnknownAgent)
	case update && a.r().Removed():
		c.decide(Decision{Kind: DecRejected, Agent: id, Err: ErrAgentRemoved})
		return fmt.Errorf("update agent %s: %w", id, ErrAgentRemoved)
	case a == nil:
		if old := c.predecessor(id, host); old != nil {
			c.rekey(old, id, host, zone)
			return nil
		}
		a = c.newAgent(AgentRecord{ID: id, Hostname: host, Zone: zone})
		c.agents[id] = a
		c.indexHost(a)
		c.edit(a)
		c.decide(Decision{Kind: DecAgentAdded, Agent: id, Note: zoneNote(zone)})
	case a.r().Removed():
		c.rekey(a, id, host, zone)
	case a.r().Hostname == host && a.r().Zone == zone:
		// Re-announced on every subscription: no write.
	default:
		c.edit(a)
		c.unindexHost(a)
		note := "was host " + quoteEmpty(a.r().Hostname) + " zone " + quoteEmpty(a.r().Zone)
		a.r().Hostname, a.r().Zone = host, zone
		c.indexHost(a)
		c.decide(Decision{Kind: DecAgentUpdated, Agent: id, Note: joinNote(zoneNote(zone), note)})
	}
	return nil
}

func zoneNote(zone string) string {
	if zone == "" {
		return ""
	}
	return "zone " + zone
}

// quoteEmpty shows an empty name as "".
func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// predecessor is the record of the machine a new agent id on host
// re-registers: the one live agent on that host (the old registration, not
// yet removed), else the removed machine on it removed last. Several live
// agents on one host are not guessed between: the new id is a new agent.
func (c *Coordinator) predecessor(id AgentID, host string) *agent {
	if host == "" {
		return nil
	}
	var live, tomb *agent
	lives := 0
	var buf [4]AgentID
	for _, other := range c.onHost(host, buf[:0]) {
		o := c.agents[other]
		switch {
		case other == id:
		case !o.removed():
			live = o
			lives++
		case tomb == nil || o.r().RemovedAt.After(tomb.r().RemovedAt) ||
			o.r().RemovedAt.Equal(tomb.r().RemovedAt) && o.r().ID < tomb.r().ID:
			tomb = o
		}
	}
	switch {
	case lives == 1:
		return live
	case lives > 1:
		return nil
	}
	return tomb
}

// rekey moves a machine's record to the agent id it registered under (its
// removed id coming back, or a new one): incident, ladder position,
// history, exclusion and isolation carry over; the old id is deleted.
//
// What was in flight on the old registration: an agent-scope task that had
// started is lost with it (a re-registration under a new id is a new boot),
// and so is any agent-scope step of a registration that was never removed
// (the re-registration is its removal); a step launched after the removal
// and still waiting for its offer waits on the new id instead. Master-scope
// steps and probation carry on. An isolated machine is isolated again:
// Mesos keeps deactivation and draining per agent id.
func (c *Coordinator) rekey(a *agent, id AgentID, host, zone string) {
	c.edit(a)
	c.unindexHost(a)
	r := a.r()
	was, live := r.ID, !r.Removed()
	d := Decision{Kind: DecReregistered, Agent: id, Incident: r.Incident.ID}
	if was == id {
		d.Note = "under its removed id"
	} else {
		d.Note = "was agent " + string(was) + "; its record moved to " + string(id)
		delete(c.agents, was)
		c.deleted = append(c.deleted, was)
		if p := r.PreviousID; p != "" && c.prev[p] == a {
			delete(c.prev, p)
		}
		if o := c.prev[was]; o != nil && o != a {
			// Another machine re-registered from this id once: the newer
			// claim wins, so that a restored coordinator resolves alike.
			c.edit(o)
			o.r().PreviousID = ""
		}
		c.prev[was] = a
		r.ID, r.PreviousID = id, was
		// Queue entries name the old id: start the slots afresh.
		a.slots = nil
	}
	r.Hostname, r.Zone, r.RemovedAt = host, zone, timeZero
	c.indexHost(a)
	// A new id keeps the record in c.agents under the new key.
	c.agents[id] = a
	c.decide(d)
	if run := &r.Incident.Run; r.State == StateRepairing && run.Step.Scope == ScopeAgent {
		switch {
		case was != id && (live || !run.StartedAt.IsZero()):
			c.lose(a, was, live, noteReregisteredLost)
		case was != id:
			c.act(Action{Kind: ActLaunch, Agent: id, Hostname: host, Incident: r.Incident.ID, Attempt: run.Attempt,
				Problem: r.Incident.Problem, Step: run.Step, Forced: run.Forced, Principal: run.ForcedBy, Reapply: true})
		}
	}
	if r.State == StateIsolated {
		at := Action{Kind: ActIsolate, Agent: id, Hostname: host, Isolation: c.policy.Isolation, Reapply: true}
		c.isolationOf(r, &at)
		r.IsolateOwed = at.Attempt
		c.act(at)
	}
}

// agentGone reports whether the master has nothing left to isolate or
// reactivate for r: its agent id was removed, and the isolation method is
// kept per agent id (deactivate, drain). A maintenance window is the
// machine's, kept by hostname, and applies to a removed machine too.
func (c *Coordinator) agentGone(r *AgentRecord) bool {
	return r.Removed() && c.policy.Isolation != IsolateMaintenanceDown
}

// isolationOf fills at with the agent's isolation: its attempt, incident
// and principal.
func (c *Coordinator) isolationOf(r *AgentRecord, at *Action) {
	at.Attempt = isolation(r)
	for i := len(r.History) - 1; i >= 0; i-- {
		if h := &r.History[i]; h.ID == at.Attempt {
			at.Incident, at.Principal = h.Incident, h.Principal
			break
		}
	}
}

// lose ends an agent-scope step in flight whose agent registration is gone,
// as a lost task: it counts as tried, and the incident escalates (the next
// step is often master-scope, e.g. a power cycle, which suits a machine
// that vanished). The kill goes to the id the step was launched on.
func (c *Coordinator) lose(a *agent, launchedOn AgentID, live bool, note string) {
	r := a.r()
	d := Decision{Kind: DecStepFailed, Agent: r.ID, Incident: r.Incident.ID, Attempt: r.Incident.Run.Attempt,
		Step: r.Incident.Step, Action: r.Incident.Run.Step.Action, Result: ResultLost, Note: note}
	c.killOn(a, launchedOn, ResultLost, live)
	c.decide(d)
	c.escalate(a)
}

// keep reports whether a removed agent's record still matters: an open
// incident, an isolation or exclusion (operator decisions outlive a
// registration), or an incident closed within reset_after (a relapse after
// the machine re-registers must continue up the ladder).
func (c *Coordinator) keep(r *AgentRecord) bool {
	return r.State != StateHealthy || r.Excluded || r.Drained || owes(r) ||
		!r.LastClosedAt.IsZero() && c.now.Sub(r.LastClosedAt) < c.policy.ResetAfter
}

// drop deletes a record: Persist.Deleted, and out of every index.
func (c *Coordinator) drop(a *agent) {
	r := a.r()
	a.deleted = true
	delete(c.agents, r.ID)
	c.unindexHost(a)
	if p := r.PreviousID; p != "" && c.prev[p] == a {
		delete(c.prev, p)
	}
	c.deleted = append(c.deleted, r.ID)
}

func (c *Coordinator) removeAgent(e AgentRemoved) error {
	a := c.agents[e.ID]
	if p := c.prev[e.ID]; a == nil && p != nil {
		// The usual end of a reboot: Mesos removes the old registration
		// after the machine came back under a new id. A step killed on it
		// has ended with it.
		if k := &p.r().Killing; k.Attempt != 0 && k.Agent == e.ID && k.Step.Scope == ScopeAgent {
			c.endKill(p, DecKillEnded, 0, 0, "its agent "+string(e.ID)+" was removed: the killed step ended with it; slot freed")
			return nil
		}
		c.decide(Decision{Kind: DecIgnored, Agent: e.ID, Note: "machine already re-registered as " + string(p.r().ID)})
		return nil
	}
	if a == nil {
		id := shownID(e.ID)
		c.decide(Decision{Kind: DecRejected, Agent: id, Err: ErrUnknownAgent})
		return fmt.Errorf("remove agent %q: %w", id, ErrUnknownAgent)
	}
	r := a.r()
	if r.Removed() {
		c.decide(Decision{Kind: DecIgnored, Agent: e.ID, Err: ErrAgentRemoved, Note: "already removed"})
		return nil
	}
	if k := &r.Killing; k.Attempt != 0 && k.Agent == e.ID && k.Step.Scope == ScopeAgent {
		// A master-scope step runs on the scheduler's host: it does not
		// end with the agent.
		c.endKill(a, DecKillEnded, 0, 0, "agent removed: the killed step ended with it; slot freed")
	}
	c.edit(a)
	if c.policy.Isolation != IsolateMaintenanceDown {
		// Mesos keeps deactivation and draining per agent id: with the id
		// gone there is nothing left to apply (a machine that returns is
		// isolated again under its new id, see rekey; agentGone).
		r.IsolateOwed, r.ReactivateOwed = 0, 0
	}
	d := Decision{Kind: DecAgentRemoved, Agent: e.ID, Incident: r.Incident.ID}
	if !c.keep(r) {
		d.Note = "record deleted: nothing open, no isolation or exclusion, no incident within reset_after"
		c.decide(d)
		c.drop(a)
		return nil
	}
	r.RemovedAt = c.now
	var why []string
	switch {
	case r.State == StateRepairing && r.Incident.Run.Step.Scope == ScopeAgent:
		why = append(why, "incident stays open; its agent-scope step is lost with the agent")
	case r.State == StateRepairing:
		why = append(why, "incident stays open; its master-scope step carries on")
	case r.State == StateProbation:
		why = append(why, "incident stays open; probation carries on")
	case r.State.open():
		why = append(why, "incident stays open; its step waits for a slot, approval or the machine")
	case r.State == StateIsolated:
		why = append(why, "isolated until an operator reactivates it")
	case !r.LastClosedAt.IsZero() && c.now.Sub(r.LastClosedAt) < c.policy.ResetAfter:
		why = append(why, "last incident closed within reset_after")
	}
	if r.Excluded {
		why = append(why, "excluded")
	}
	if r.Drained {
		why = append(why, "its maintenance window stays with the machine")
	}
	if r.Killing.Attempt != 0 {
		why = append(why, "the end of its killed attempt "+strconv.FormatUint(r.Killing.Attempt, 10)+" on "+string(r.Killing.Agent)+" is awaited")
	}
	if r.UpOwed != 0 || r.IsolateOwed != 0 || r.ReactivateOwed != 0 {
		why = append(why, "the master has not yet acknowledged its maintenance UP, isolation or reactivation")
	}
	d.Note = "machine remembered until it re-registers: " + strings.Join(why, "; ")
	c.decide(d)
	if r.State == StateRepairing && r.Incident.Run.Step.Scope == ScopeAgent {
		c.lose(a, r.ID, false, noteRemovedLost)
	}
	return nil
}
