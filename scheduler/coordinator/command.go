package coordinator

import "fmt"

// staleIncident says why incident id does not name r's open incident.
func staleIncident(id uint64, r *AgentRecord) error {
	switch {
	case id > r.Incidents:
		return fmt.Errorf("%w: agent %s never had incident %d", ErrStaleIncident, r.ID, id)
	case r.Incident.ID == 0:
		return fmt.Errorf("%w: incident %d of agent %s is closed and none is open", ErrStaleIncident, id, r.ID)
	}
	return fmt.Errorf("%w: incident %d of agent %s is closed; its open incident is %d", ErrStaleIncident, id, r.ID, r.Incident.ID)
}

// checkApproval says why an approval of attempt does not apply to r's open
// incident, naming the step that waits (if any).
func (c *Coordinator) checkApproval(r *AgentRecord, attempt uint64) error {
	inc := &r.Incident
	if r.State != StateAwaitingApproval {
		what := "its step is " + r.State.String()
		if r.State == StateRepairing {
			what = inFlightNote(r)
		}
		return fmt.Errorf("%w: incident %d of agent %s: %s", ErrNotAwaitingApproval, inc.ID, r.ID, what)
	}
	if inc.ApprovalAttempt != attempt {
		return fmt.Errorf("%w: incident %d of agent %s awaits approval of attempt %d (step %d: %s), not attempt %d",
			ErrStaleApproval, inc.ID, r.ID, inc.ApprovalAttempt, inc.Step+1, c.stepOf(r).Action, attempt)
	}
	return nil
}

func (c *Coordinator) command(e Command) error {
	reject := func(err error) error {
		id, by := shownID(e.Agent), clipText(e.Principal, MaxPrincipalBytes)
		c.decide(Decision{Kind: DecRejected, Agent: id, Incident: e.Incident, Attempt: e.Attempt, Err: err,
			Note: e.Op.String(), Principal: by})
		if e.Agent != "" {
			return fmt.Errorf("%s %s by %q: %w", e.Op, id, by, err)
		}
		return fmt.Errorf("%s by %q: %w", e.Op, by, err)
	}
	switch {
	case e.Principal == "":
		return reject(ErrNoPrincipal)
	case !validName(e.Principal, MaxPrincipalBytes):
		return reject(ErrBadPrincipal)
	case e.Problem != "" && !validName(e.Problem, MaxProblemBytes):
		return reject(ErrBadProblem)
	}
	e.Reason = clipText(e.Reason, MaxReasonBytes)
	switch e.Op {
	case OpPause:
		if e.Reason == "" {
			return reject(ErrNoReason)
		}
		g := &c.global
		g.Paused, g.PauseReason, g.PausedBy, g.PausedAt = true, e.Reason, e.Principal, c.now
		c.markGlobal()
		c.decide(Decision{Kind: DecPaused, Err: ErrPaused, Note: e.Reason, Principal: e.Principal})
		return nil
	case OpResume:
		// Resume also resets a tripped breaker. If the cluster is still
		// over max_unhealthy the breaker trips again in this same Step and
		// says so: the operator's way through is a higher limit or a force.
		g := &c.global
		if !g.Paused && !g.Breaker.Tripped {
			c.decide(Decision{Kind: DecResumed, Note: "nothing to resume", Principal: e.Principal})
			return nil
		}
		g.Paused, g.PauseReason, g.PausedBy, g.PausedAt = false, "", "", timeZero
		g.Breaker = StormBreaker{}
		c.markGlobal()
		c.decide(Decision{Kind: DecResumed, Note: e.Reason, Principal: e.Principal})
		return nil
	case OpApprove, OpCancel, OpIsolate, OpReactivate, OpExclude, OpInclude, OpForce:
	default:
		return reject(ErrUnknownCommand)
	}

	a := c.agents[e.Agent]
	if a == nil {
		return reject(ErrUnknownAgent)
	}
	r := a.r()
	if e.Op == OpApprove && (e.Incident == 0 || e.Attempt == 0) {
		// An approval is consent to one disruptive step the operator has
		// looked at; without the incident and the step's attempt id a late
		// or repeated approve could consent to a step nobody reviewed.
		return reject(ErrIncidentRequired)
	}
	if e.Incident != 0 && (e.Op == OpApprove || e.Op == OpCancel || e.Op == OpForce) && e.Incident != r.Incident.ID {
		return reject(staleIncident(e.Incident, r))
	}
	d := Decision{Agent: r.ID, Incident: r.Incident.ID, Principal: e.Principal, Note: e.Reason}
	switch e.Op {
	case OpApprove:
		if err := c.checkApproval(r, e.Attempt); err != nil {
			return reject(err)
		}
		c.edit(a)
		r.Incident.Approved, r.Incident.ApprovedBy = true, e.Principal
		d.Kind, d.Step, d.Action, d.Attempt = DecApproved, r.Incident.Step, c.stepOf(r).Action, e.Attempt
		c.decide(d)
		c.enqueue(a)
	case OpCancel:
		if !r.State.open() {
			return reject(ErrNoIncident)
		}
		c.edit(a)
		if r.State == StateRepairing {
			d.Attempt = r.Incident.Run.Attempt
			c.kill(a, ResultCancelled)
			// A cancelled step was not tried: a new incident within
			// reset_after continues from it, not past it (a cancel is
			// often "false alarm", and must not make the next real
			// incident more disruptive).
			r.NextStep = r.Incident.Step
			r.NextAction, r.NextScope, r.NextProblem = r.Incident.StepAction, r.Incident.StepScope, r.Incident.Problem
			d.Note = joinNote(d.Note, "step in flight killed")
		}
		c.up(a)
		d.Kind, d.Step, d.Action = DecCancelled, r.Incident.Step, c.stepOf(r).Action
		c.decide(d)
		c.closeIncident(a)
	case OpIsolate:
		if r.State == StateIsolated {
			return reject(ErrIsolated)
		}
		if c.immutable() {
			return reject(ErrImmutable)
		}
		c.edit(a)
		if r.State == StateRepairing {
			c.kill(a, ResultCancelled)
		}
		note := noteOperator
		if e.Reason != "" {
			note = e.Reason
		}
		c.isolate(a, false, false, e.Principal, note)
	case OpReactivate:
		if r.State != StateIsolated {
			return reject(ErrNotIsolated)
		}
		if c.immutable() {
			return reject(ErrImmutable)
		}
		c.edit(a)
		// The operator vouches for the agent: its escalation history resets.
		r.State, r.IsolatedAt, r.LastClosedAt, r.NextStep, r.NextStepDryRun, r.Drained = StateHealthy, timeZero, timeZero, 0, false, false
		r.NextAction, r.NextScope, r.NextProblem = "", 0, ""
		// Owed until acknowledged; it supersedes an isolation not yet
		// applied, and ends any drain window (so no UP is owed).
		r.ReactivateOwed, r.IsolateOwed, r.UpOwed = 0, 0, 0
		if !c.agentGone(r) {
			r.ReactivateOwed = isolation(r)
			c.act(Action{Kind: ActReactivate, Agent: r.ID, Hostname: r.Hostname, Attempt: r.ReactivateOwed,
				Isolation: c.policy.Isolation, Principal: e.Principal})
		}
		d.Kind = DecReactivated
		c.decide(d)
	case OpExclude, OpInclude:
		want := e.Op == OpExclude
		d.Kind = DecIncluded
		if want {
			d.Kind = DecExcluded
		}
		if r.Excluded == want {
			d.Note = "unchanged"
			c.decide(d)
			return nil
		}
		c.edit(a)
		r.Excluded = want
		if want && r.State == StateRepairing {
			// Killing a step half-way (a reboot, a re-image) can leave
			// the machine worse off than finishing it; cancel kills.
			d.Note = joinNote(d.Note, "step in flight left to finish, no further step will start; cancel kills it")
		}
		c.decide(d)
	case OpForce:
		return c.force(a, e, reject)
	}
	return nil
}

// force starts the agent's next step now, bypassing every limit but
// Immutable. On a healthy agent it opens an incident first; in probation it
// moves to the next step, as a relapse would.
func (c *Coordinator) force(a *agent, e Command, reject func(error) error) error {
	r := a.r()
	switch {
	case c.policy.Mode != ModeExecute:
		return reject(ErrNotExecuting)
	case c.immutable():
		return reject(ErrImmutable)
	case r.State == StateRepairing:
		return reject(ErrStepInFlight)
	case r.State == StateIsolated:
		return reject(ErrIsolated)
	case r.Killing.Attempt != 0:
		// Even a force does not run two steps on one machine at once.
		return reject(fmt.Errorf("%w (attempt %d)", ErrKillPending, r.Killing.Attempt))
	}
	c.edit(a)
	switch r.State {
	case StateHealthy:
		problem := e.Problem
		if problem == "" {
			problem = "operator"
		}
		c.open(a, problem, "operator", e.Reason)
	case StateProbation:
		c.advance(a)
		r.Incident.ProbationEnds = timeZero
	}
	c.startOverIfImagined(a)
	r.Incident.Approved, r.Incident.ApprovedBy = true, e.Principal
	c.start(a, true, e.Principal)
	return nil
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
