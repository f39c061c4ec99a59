package coordinator

import (
	"fmt"
	"time"
)

// schedule runs after every event: it trips the storm breaker if the cluster
// is over max_unhealthy, then gives free slots to pending agents, oldest
// pending first (ties by agent id). Cheap when nothing can start: the
// global gates and the slot count are checked first, and the queues hold
// only agents that may start (pending.go), so agents held by a zone cap or
// an exclusion are not looked at.
func (c *Coordinator) schedule() {
	c.commitAll()
	c.checkBreaker()
	c.refreshFreed()
	if c.heads.Len() == 0 || c.globalHold() != nil {
		return
	}
	for !c.slotsFull() && !c.spacing() {
		a := c.nextStartable()
		if a == nil {
			break
		}
		if c.stale(a.r()) {
			panic("coordinator: agent " + string(a.r().ID) + " queued against another policy")
		}
		zone := a.r().Zone
		c.start(a, false, "")
		c.refreshHead(c.zoneQueue(zone))
	}
}

// stale reports whether a waiting incident was queued under another policy
// than this one: the mode changed from dry-run to execute under an incident
// whose progress was imagined, or its step gained or lost an approval.
func (c *Coordinator) stale(r *AgentRecord) bool {
	switch r.State {
	case StatePending:
		return c.policy.Mode == ModeExecute && r.Incident.DryRun || c.stepOf(r).Approval && !r.Incident.Approved
	case StateAwaitingApproval:
		// Without an attempt id (an older record) no approval could name it.
		return c.policy.Mode == ModeExecute && r.Incident.DryRun || !c.stepOf(r).Approval || r.Incident.ApprovalAttempt == 0
	}
	return false
}

// requeueStale re-queues the waiting incidents Restore found queued under
// another policy (or whose position it moved), in Restore itself; the
// first accepted Step persists them and says why (flushRestored). A pending
// incident that stays pending keeps its place in the queue; one that
// becomes pending waits from when it last waited, or else opened.
func (c *Coordinator) requeueStale(stale []*agent) {
	for _, a := range stale {
		if !c.stale(a.r()) {
			// Repositioned by action only: persist where it now is.
			c.edit(a)
			c.sayMoved(a)
			continue
		}
		c.edit(a)
		c.sayMoved(a)
		since := a.r().Incident.PendingSince
		if since.IsZero() {
			since = a.r().Incident.OpenedAt
		}
		c.enqueue(a)
		if n := len(c.decisions); n > 0 && c.decisions[n-1].Agent == a.r().ID && c.decisions[n-1].Note == "" {
			c.decisions[n-1].Note = notePolicyChanged
		}
		if a.r().State == StatePending {
			a.r().Incident.PendingSince = since
		}
	}
}

// sayMoved says why Restore started a waiting incident's ladder over.
func (c *Coordinator) sayMoved(a *agent) {
	if a.moved == "" {
		return
	}
	inc := &a.r().Incident
	c.decide(Decision{Kind: DecStartedOver, Agent: a.r().ID, Incident: inc.ID, Step: 0,
		Action: inc.StepAction, Note: a.moved})
	a.moved = ""
}

// reportHeld says, for each agent that started waiting in this Step and did
// not get a slot, what holds it.
func (c *Coordinator) reportHeld() {
	for _, a := range c.enqueued {
		r := a.r()
		if a.deleted || r.State != StatePending {
			continue
		}
		err := c.holdReason(a)
		c.decide(Decision{Kind: DecHeld, Agent: r.ID, Incident: r.Incident.ID, Step: r.Incident.Step,
			Action: c.stepOf(r).Action, Err: err, Note: c.holdDetail(a, err)})
	}
}

// holdDetail says which limit holds a start, with its numbers, so that a
// log line alone tells the operator what to change.
func (c *Coordinator) holdDetail(a *agent, err error) string {
	switch err {
	case ErrImmutable:
		return c.why()
	case ErrPaused:
		return "paused by " + c.global.PausedBy + ": " + c.global.PauseReason
	case ErrBreakerTripped:
		b := &c.global.Breaker
		return fmt.Sprintf("tripped with %d of %d agents unhealthy; an operator must resume", b.Unhealthy, b.Known)
	case ErrLimitReached:
		return fmt.Sprintf("%d of %d in flight%s", c.slots(), c.policy.NumAllowedRepairs, c.killedDetail())
	case ErrKillPending:
		k := &a.r().Killing
		return fmt.Sprintf("attempt %d was killed at %s; waiting for its end until %s", k.Attempt,
			k.KilledAt.Format(time.RFC3339), k.Until.Format(time.RFC3339))
	case ErrZoneCapReached:
		z := a.r().Zone
		return fmt.Sprintf("zone %q: %d of %d in flight", z, c.zoneInFlight[z], c.policy.zoneCap(z))
	case ErrSpacing:
		return fmt.Sprintf("last start %s ago, min spacing %s", c.now.Sub(c.global.LastStartAt), c.policy.MinSpacing)
	case ErrExcluded:
		return "include the agent to let it repair"
	}
	return ""
}

// globalHold is the gate that holds every start, if any.
func (c *Coordinator) globalHold() error {
	switch {
	case c.policy.Mode == ModeObserve:
		return ErrObserveOnly
	case c.immutable():
		return ErrImmutable
	case c.global.Paused:
		return ErrPaused
	case c.global.Breaker.Tripped:
		return ErrBreakerTripped
	}
	return nil
}

// holdReason says why a pending agent did not start.
func (c *Coordinator) holdReason(a *agent) error {
	switch {
	case c.globalHold() != nil:
		return c.globalHold()
	case a.r().Excluded:
		return ErrExcluded
	case a.r().Killing.Attempt != 0:
		return ErrKillPending
	case c.slotsFull():
		return ErrLimitReached
	case c.zoneFull(a.r().Zone):
		return ErrZoneCapReached
	case c.spacing():
		return ErrSpacing
	}
	panic("coordinator: agent " + string(a.r().ID) + " pending with nothing holding it")
}

// slots counts the steps that hold a slot: in flight, or killed and not
// yet ended.
func (c *Coordinator) slots() int { return c.counts[StateRepairing] + c.killing }

// killedDetail says how many of the slots killed steps hold.
func (c *Coordinator) killedDetail() string {
	if c.killing == 0 {
		return ""
	}
	return fmt.Sprintf(", %d of them killed and not yet ended", c.killing)
}

// slotsFull: forced steps occupy slots too, so a force never lets automatic
// repairs exceed the cap; it only lets the force itself exceed it. A
// killed step holds its slot until its end is confirmed.
func (c *Coordinator) slotsFull() bool {
	return c.slots() >= c.policy.NumAllowedRepairs
}

func (c *Coordinator) zoneFull(zone string) bool {
	limit := c.policy.zoneCap(zone)
	return limit > 0 && c.zoneInFlight[zone] >= limit
}

func (c *Coordinator) spacing() bool {
	g := &c.global
	return c.policy.MinSpacing > 0 && !g.LastStartAt.IsZero() && c.now.Sub(g.LastStartAt) < c.policy.MinSpacing
}

func (c *Coordinator) checkBreaker() {
	if c.global.Breaker.Tripped {
		return
	}
	unhealthy, known := c.unhealthy(), c.known()
	if !breakerOver(unhealthy, known, c.policy.MaxUnhealthyPercent, c.policy.MaxUnhealthyMin) {
		return
	}
	c.global.Breaker = StormBreaker{Tripped: true, TrippedAt: c.now, Unhealthy: unhealthy, Known: known}
	c.markGlobal()
	away := ""
	if n := c.removedOpen(); n > 0 {
		away = fmt.Sprintf(" (%d registered, %d removed by Mesos while in an incident)", known-n, n)
	}
	c.decide(Decision{Kind: DecBreakerTripped, Err: ErrBreakerTripped, Note: fmt.Sprintf(
		"%d of %d agents unhealthy%s: more than %d and more than %d%%; repairs stop until an operator resumes",
		unhealthy, known, away, c.policy.MaxUnhealthyMin, c.policy.MaxUnhealthyPercent)})
}
