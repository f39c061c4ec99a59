package coordinator

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Immutability says whether repair starts are blocked by connectivity, since
// when and why.
type Immutability struct {
	Immutable bool
	// Since is when the current condition began (zero right after Restore,
	// before any connectivity event).
	Since time.Time
	Why   string
}

// Counts are the agents healer keeps a record of, by state. Excluded and
// Removed count, among those, the excluded agents and the removed
// machines' tombstones (a removed machine keeps its lifecycle state: its
// incident may still be open, its master-scope step running).
type Counts struct {
	Healthy, Pending, AwaitingApproval, Repairing, Probation, Isolated int
	Excluded                                                           int
	Removed                                                            int
}

// Status is the coordinator's summary for /status and metrics.
type Status struct {
	Mode      Mode
	Immutable Immutability
	Paused    bool
	PausedBy  string
	Reason    string
	PausedAt  time.Time
	Breaker   StormBreaker
	// Known is the storm breaker's base: the agents registered with Mesos
	// (Registered) plus the removed machines still in an incident
	// (UnhealthyRemoved). Unhealthy counts those of them in an incident or
	// isolated; it never exceeds Known. UnhealthyRemoved are counted in
	// both: a machine's removal and its return under a new id move neither.
	Known            int
	Unhealthy        int
	Registered       int
	UnhealthyRemoved int
	// InFlight counts the steps that hold a slot: in flight, or killed and
	// not yet ended (Killing of them). Forced counts those started by an
	// operator's force.
	InFlight, Forced int
	Killing          int
	// Owing counts the agents whose records owe an action (see Owed).
	Owing  int
	Counts Counts
	Limits Limits
}

// Limits are the configured safety limits, as status shows them.
type Limits struct {
	NumAllowedRepairs   int
	ZoneCap             int
	ZoneCaps            map[string]int
	MaxUnhealthyPercent int
	MaxUnhealthyMin     int
	MinSpacing          time.Duration
}

// Immutable reports the Immutable state.
func (c *Coordinator) Immutable() Immutability {
	return Immutability{Immutable: c.immutable(), Since: c.link.since, Why: c.why()}
}

// Status summarises the coordinator. O(agents) for the excluded count.
func (c *Coordinator) Status() Status {
	s := Status{
		Mode: c.policy.Mode, Immutable: c.Immutable(),
		Paused: c.global.Paused, PausedBy: c.global.PausedBy, Reason: c.global.PauseReason, PausedAt: c.global.PausedAt,
		Breaker: c.global.Breaker, Known: c.known(), Unhealthy: c.unhealthy(),
		Registered: c.registered(), UnhealthyRemoved: c.removedOpen(),
		InFlight: c.slots(), Forced: c.forced, Killing: c.killing, Owing: len(c.owing),
		Counts: Counts{
			Healthy: c.counts[StateHealthy], Pending: c.counts[StatePending],
			AwaitingApproval: c.counts[StateAwaitingApproval], Repairing: c.counts[StateRepairing],
			Probation: c.counts[StateProbation], Isolated: c.counts[StateIsolated],
			Removed: c.removed(),
		},
		Limits: Limits{
			NumAllowedRepairs: c.policy.NumAllowedRepairs, ZoneCap: c.policy.ZoneCap,
			ZoneCaps:            maps.Clone(c.policy.ZoneCaps),
			MaxUnhealthyPercent: c.policy.MaxUnhealthyPercent, MaxUnhealthyMin: c.policy.MaxUnhealthyMin,
			MinSpacing: c.policy.MinSpacing,
		},
	}
	for _, a := range c.agents {
		if a.excluded() {
			s.Counts.Excluded++
		}
	}
	return s
}

// Agent returns a copy of one agent's record; a removed machine's
// tombstone has RemovedAt set.
func (c *Coordinator) Agent(id AgentID) (AgentRecord, bool) {
	a := c.agents[id]
	if a == nil {
		return AgentRecord{}, false
	}
	return a.record(), true
}

// Machine returns the records on hostname host, the live registration
// first, then removed ones, most recently removed first. A machine has at
// most one record unless an agent's hostname changed to another's.
func (c *Coordinator) Machine(host string) []AgentRecord {
	var out []AgentRecord
	for _, id := range c.onHost(host, nil) {
		out = append(out, c.agents[id].record())
	}
	slices.SortFunc(out, func(x, y AgentRecord) int {
		if x.Removed() != y.Removed() {
			if x.Removed() {
				return 1
			}
			return -1
		}
		if c := y.RemovedAt.Compare(x.RemovedAt); c != 0 {
			return c
		}
		return strings.Compare(string(x.ID), string(y.ID))
	})
	return out
}

// OpenIncident is an open incident with its agent and state. RemovedAt is
// set when Mesos removed the agent and the incident waits for its machine.
type OpenIncident struct {
	Agent     AgentID
	Hostname  string
	State     State
	Incident  Incident
	RemovedAt time.Time
}

// OpenIncidents lists open incidents, oldest first.
func (c *Coordinator) OpenIncidents() []OpenIncident {
	var out []OpenIncident
	for _, a := range c.agents {
		if a.state().open() {
			r := a.full // an open incident is never idle
			out = append(out, OpenIncident{Agent: r.ID, Hostname: r.Hostname, State: r.State,
				Incident: r.Incident, RemovedAt: r.RemovedAt})
		}
	}
	slices.SortFunc(out, func(x, y OpenIncident) int {
		if c := x.Incident.OpenedAt.Compare(y.Incident.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(string(x.Agent), string(y.Agent))
	})
	return out
}

// Records returns every agent record (sorted by id) and the global record:
// exactly what Restore needs.
func (c *Coordinator) Records() ([]AgentRecord, GlobalRecord) {
	out := make([]AgentRecord, 0, len(c.agents))
	for _, a := range c.agents {
		out = append(out, a.record())
	}
	slices.SortFunc(out, func(x, y AgentRecord) int { return strings.Compare(string(x.ID), string(y.ID)) })
	return out, c.global
}
