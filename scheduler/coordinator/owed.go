package coordinator

import (
	"fmt"
	"slices"
	"strconv"
)

// Owed returns every action the persisted records say is still owed, in
// the order appendOwed gives: launches still waiting for their offer,
// kills not yet confirmed, isolations, reactivations and maintenance UPs
// not yet acknowledged. Each has Owed set. The slice is the caller's.
// O(agents that owe something).
func (c *Coordinator) Owed() []Action {
	return c.appendOwed(nil)
}

// appendOwed appends the owed actions to out: by agent id, and for one
// agent in the order the runtime must carry them out: the kill of a step
// still running, the UP that ends a finished drain window, the isolation
// or reactivation, then the launch waiting for its offer (which drains
// again if its step is a drain step).
func (c *Coordinator) appendOwed(out []Action) []Action {
	// Derived from committed records: call it between Steps or after
	// commitAll.
	if len(c.owing) == 0 {
		return out
	}
	ids := make([]AgentID, 0, len(c.owing))
	for id := range c.owing {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r := c.owing[id].r()
		if k := &r.Killing; k.Attempt != 0 {
			out = append(out, Action{Kind: ActKill, Agent: k.Agent, Hostname: r.Hostname, Incident: k.Incident,
				Attempt: k.Attempt, Problem: k.Problem, Step: k.Step, Forced: k.Forced, Owed: true})
		}
		if r.UpOwed != 0 {
			out = append(out, Action{Kind: ActUp, Agent: r.ID, Hostname: r.Hostname, Incident: r.UpOwed, Owed: true})
		}
		if r.IsolateOwed != 0 {
			at := Action{Kind: ActIsolate, Agent: r.ID, Hostname: r.Hostname, Isolation: c.policy.Isolation, Owed: true}
			c.isolationOf(r, &at)
			at.Attempt = r.IsolateOwed
			out = append(out, at)
		}
		if r.ReactivateOwed != 0 {
			out = append(out, Action{Kind: ActReactivate, Agent: r.ID, Hostname: r.Hostname, Attempt: r.ReactivateOwed,
				Isolation: c.policy.Isolation, Owed: true})
		}
		if launchOwed(r) {
			run := &r.Incident.Run
			kind := ActLaunch
			if run.Step.Scope == ScopeMaster {
				kind = ActRun
			}
			out = append(out, Action{Kind: kind, Agent: r.ID, Hostname: r.Hostname, Incident: r.Incident.ID,
				Attempt: run.Attempt, Problem: r.Incident.Problem, Step: run.Step, Forced: run.Forced,
				Principal: run.ForcedBy, Owed: true})
		}
	}
	return out
}

// applied takes the master's acknowledgement of an isolation, reactivation
// or UP: it is no longer owed.
func (c *Coordinator) applied(e ActionApplied) error {
	id := shownID(e.Agent)
	var owed *uint64
	switch e.Kind {
	case ActIsolate, ActReactivate, ActUp:
	default:
		c.decide(Decision{Kind: DecRejected, Agent: id, Attempt: e.Attempt, Err: ErrNotAcknowledged, Note: e.Kind.String()})
		return fmt.Errorf("%s applied on %q: %w", e.Kind, id, ErrNotAcknowledged)
	}
	a := c.agents[e.Agent]
	if a == nil {
		if p := c.prev[e.Agent]; p != nil {
			c.decide(Decision{Kind: DecIgnored, Agent: e.Agent, Attempt: e.Attempt, Incident: e.Incident,
				Note: e.Kind.String() + " applied to the machine's previous registration; it re-registered as " + string(p.r().ID)})
			return nil
		}
		c.decide(Decision{Kind: DecRejected, Agent: id, Attempt: e.Attempt, Err: ErrUnknownAgent, Note: e.Kind.String()})
		return fmt.Errorf("%s applied on %q: %w", e.Kind, id, ErrUnknownAgent)
	}
	r := a.r()
	want := e.Attempt
	switch e.Kind {
	case ActIsolate:
		owed = &r.IsolateOwed
	case ActReactivate:
		owed = &r.ReactivateOwed
	case ActUp:
		owed, want = &r.UpOwed, e.Incident
	}
	if *owed == 0 || *owed != want {
		note := "nothing owed"
		if *owed != 0 {
			note = "owed is for " + strconv.FormatUint(*owed, 10)
		}
		c.decide(Decision{Kind: DecIgnored, Agent: r.ID, Attempt: e.Attempt, Incident: e.Incident,
			Note: e.Kind.String() + " applied: " + note})
		return nil
	}
	c.edit(a)
	*owed = 0
	c.decide(Decision{Kind: DecApplied, Agent: r.ID, Attempt: e.Attempt, Incident: e.Incident, Note: e.Kind.String()})
	return nil
}
