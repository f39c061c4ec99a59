package coordinator

import "time"

// Memory. Most agents of a large cluster have no incident and no killed
// step, most of the time; their records' Incident and Killing (two thirds
// of an AgentRecord's 808 bytes) are zero. Such an agent is held idle: its
// record without those two (idleRecord) inline in the agent, and no full
// record. agent.r() gives the full record, making it when needed; at the end
// of every Step the agents made full in it that are idle again go back
// (cool). At 35,000 agents this halves the coordinator's memory (the scale
// run, docs/scale.md).

// maxSpare bounds the full records kept for reuse: a storm makes every
// agent full once, and the records it made are reused, not reallocated,
// by the next.
const maxSpare = 1024

// idleRecord is an AgentRecord without its Incident and Killing, both
// zero while it is held so.
type idleRecord struct {
	ID             AgentID
	Hostname       string
	Zone           string
	State          State
	Excluded       bool
	Drained        bool
	NextStepDryRun bool
	Incidents      uint64
	Attempts       uint64
	LastClosedAt   time.Time
	NextStep       int
	NextAction     string
	NextScope      Scope
	NextProblem    string
	IsolatedAt     time.Time
	RemovedAt      time.Time
	PreviousID     AgentID
	History        []Attempt
	UpOwed         uint64
	IsolateOwed    uint64
	ReactivateOwed uint64
}

func idleOf(r *AgentRecord) idleRecord {
	return idleRecord{
		ID: r.ID, Hostname: r.Hostname, Zone: r.Zone, State: r.State, Excluded: r.Excluded, Drained: r.Drained,
		NextStepDryRun: r.NextStepDryRun, Incidents: r.Incidents, Attempts: r.Attempts, LastClosedAt: r.LastClosedAt,
		NextStep: r.NextStep, NextAction: r.NextAction, NextScope: r.NextScope, NextProblem: r.NextProblem,
		IsolatedAt: r.IsolatedAt, RemovedAt: r.RemovedAt, PreviousID: r.PreviousID, History: r.History,
		UpOwed: r.UpOwed, IsolateOwed: r.IsolateOwed, ReactivateOwed: r.ReactivateOwed,
	}
}

func (i *idleRecord) record() AgentRecord {
	return AgentRecord{
		ID: i.ID, Hostname: i.Hostname, Zone: i.Zone, State: i.State, Excluded: i.Excluded, Drained: i.Drained,
		NextStepDryRun: i.NextStepDryRun, Incidents: i.Incidents, Attempts: i.Attempts, LastClosedAt: i.LastClosedAt,
		NextStep: i.NextStep, NextAction: i.NextAction, NextScope: i.NextScope, NextProblem: i.NextProblem,
		IsolatedAt: i.IsolatedAt, RemovedAt: i.RemovedAt, PreviousID: i.PreviousID, History: i.History,
		UpOwed: i.UpOwed, IsolateOwed: i.IsolateOwed, ReactivateOwed: i.ReactivateOwed,
	}
}

// idle reports whether r can be held as an idleRecord.
func idle(r *AgentRecord) bool {
	return r.Incident == (Incident{}) && r.Killing == (Kill{})
}

// newAgent makes the coordinator's agent for record r, full until the end
// of the current Step (or of Restore).
func (c *Coordinator) newAgent(r AgentRecord) *agent {
	a := &agent{c: c, full: &r}
	c.warm = append(c.warm, a)
	return a
}

// r is the agent's full record, made from the idle one if need be (and
// kept until the end of the Step). Pointers to it are good within the Step
// only.
func (a *agent) r() *AgentRecord {
	if a.full == nil {
		c := a.c
		if n := len(c.spare); n > 0 {
			a.full, c.spare = c.spare[n-1], c.spare[:n-1]
		} else {
			a.full = new(AgentRecord)
		}
		*a.full = a.idle.record()
		a.idle = idleRecord{}
		c.warm = append(c.warm, a)
	}
	return a.full
}

// record is a copy of the agent's record, without making it full: for
// queries.
func (a *agent) record() AgentRecord {
	if a.full != nil {
		return *a.full
	}
	return a.idle.record()
}

// state, excluded and removed read the record without making it full.
func (a *agent) state() State {
	if a.full != nil {
		return a.full.State
	}
	return a.idle.State
}

func (a *agent) removed() bool {
	if a.full != nil {
		return a.full.Removed()
	}
	return !a.idle.RemovedAt.IsZero()
}

func (a *agent) excluded() bool {
	if a.full != nil {
		return a.full.Excluded
	}
	return a.idle.Excluded
}

// cool holds the agents made full or changed in this Step idle again
// where they can be (every change to a record goes through edit, which
// lists it in c.dirty).
func (c *Coordinator) cool() {
	for _, list := range [][]*agent{c.warm, c.dirty} {
		for _, a := range list {
			if s := a.slots; s != nil && !s.pend.queued && !s.timer.queued {
				a.slots = nil
			}
			if a.full != nil && !a.deleted && idle(a.full) {
				a.idle = idleOf(a.full)
				if len(c.spare) < maxSpare {
					// Records handed out in a Ready are copies: this one
					// may be reused.
					*a.full = AgentRecord{}
					c.spare = append(c.spare, a.full)
				}
				a.full = nil
			}
		}
	}
	clear(c.warm)
	c.warm = c.warm[:0]
}
