package coordinator

import (
	"strconv"
	"strings"
	"time"
)

// Ready is the output of one Step: persist, then act, then log. Its slices
// are valid until the next call to Step.
type Ready struct {
	Persist   Persist
	Actions   []Action
	Decisions []Decision
}

// Persist is the state to write before acting.
type Persist struct {
	// Agents are full records that changed, in the order first changed.
	Agents []AgentRecord
	// Deleted are agent ids whose records are to be removed: a removed
	// agent with nothing worth remembering, an expired tombstone, or the
	// old id of a machine that re-registered (its record is in Agents
	// under the new id; write both in one transaction).
	Deleted []AgentID
	// Global is set when the global record changed.
	Global *GlobalRecord
}

// Empty reports whether there is nothing to write.
func (p Persist) Empty() bool {
	return len(p.Agents) == 0 && len(p.Deleted) == 0 && p.Global == nil
}

// ActionKind says what the runtime must do.
type ActionKind uint8

const (
	// ActLaunch launches an agent-scope step as a task on the agent, through
	// one of its offers; with Step.Drain the runtime drains the agent first.
	ActLaunch ActionKind = iota + 1
	// ActRun runs a master-scope step on the scheduler's host.
	ActRun
	// ActIsolate tells the master to stop using the agent (Isolation).
	ActIsolate
	// ActReactivate returns an isolated agent to service (and ends any
	// maintenance window healer opened on it). Attempt is the isolation
	// it ends.
	ActReactivate
	// ActKill kills the step identified by Attempt (or stops waiting for
	// its offer). A kill of a started step is confirmed by its terminal
	// status (StepOutcome) or its agent's removal.
	ActKill
	// ActUp ends the maintenance window of a drained agent (mode UP).
	ActUp
)

var actionNames = [...]string{"", "launch", "run", "isolate", "reactivate", "kill", "up"}

func (k ActionKind) String() string { return enumName(actionNames[:], k, "action?") }

// Action is one thing for the runtime to do. Its intent is in the records of
// the same Ready.
type Action struct {
	Kind     ActionKind
	Agent    AgentID
	Hostname string
	Incident uint64
	Attempt  uint64
	Problem  string
	// Step is the step to launch or run (ActLaunch, ActRun).
	Step Step
	// Isolation is the method for ActIsolate.
	Isolation IsolationMethod
	// Forced actions come from an operator's force; Principal says whose.
	Forced    bool
	Principal string
	// Reapply marks an action that re-issues an earlier decision for a
	// machine that re-registered (usually under a new agent id), not a new
	// repair start: ActIsolate isolates the new registration again (Mesos
	// keeps deactivation and draining per agent id), and ActLaunch moves a
	// step still waiting for its offer to the new id (same attempt, same
	// deadline; the runtime replaces its wait for that attempt).
	Reapply bool
	// Owed marks an action re-emitted because it is still owed according
	// to the persisted records (see the package doc, "Owed actions"): in
	// the Ready of the Step that makes the coordinator mutable, and from
	// Owed. It is not a new decision; carrying it out again must be
	// harmless (the runtime keys launches and kills by agent and attempt).
	Owed bool
}

// DecisionKind classifies a Decision.
type DecisionKind uint8

const (
	DecRejected DecisionKind = iota + 1
	DecObserved
	DecOpened
	DecAttached
	DecRelapsed
	DecHeld
	DecAwaitingApproval
	DecApproved
	DecStarted
	DecRunning
	DecSucceeded
	DecStepFailed
	DecIsolated
	DecClosed
	DecCancelled
	DecIgnored
	DecBreakerTripped
	DecPaused
	DecResumed
	DecExcluded
	DecIncluded
	DecReactivated
	DecAgentAdded
	DecAgentUpdated
	DecAgentRemoved
	DecImmutable
	DecMutable
	// DecStartedOver: an incident whose progress dry-run only imagined
	// goes back to the first step now that healer executes.
	DecStartedOver
	// DecReregistered: a machine healer remembers registered again, under
	// a new agent id (its record moved) or its removed one.
	DecReregistered
	// DecExpired: a removed machine's tombstone was forgotten: nothing
	// open, not isolated or excluded, last incident reset_after ago.
	DecExpired
	// DecApplied: the master acknowledged an isolation, reactivation or
	// maintenance UP (ActionApplied); it is no longer owed.
	DecApplied
	// DecKillEnded: a killed step's end was confirmed (its terminal status,
	// or its agent's removal); its slot is free.
	DecKillEnded
	// DecKillExpired: no confirmation came by Kill.Until; the slot is
	// freed anyway (the step's own timeout has ended it) and the kill is
	// no longer owed.
	DecKillExpired
)

var decisionNames = [...]string{"", "rejected", "observed", "opened", "attached", "relapsed", "held",
	"awaiting-approval", "approved", "started", "running", "succeeded", "step-failed", "isolated", "closed",
	"cancelled", "ignored", "breaker-tripped", "paused", "resumed", "excluded", "included", "reactivated",
	"agent-added", "agent-updated", "agent-removed", "immutable", "mutable", "started-over", "re-registered",
	"expired", "applied", "kill-ended", "kill-expired"}

func (k DecisionKind) String() string { return enumName(decisionNames[:], k, "decision?") }

// enumName names k from names, which index the kinds from 1 (names[0] is
// unused: zero is no kind); unknown covers zero and kinds past the table.
func enumName[K ~uint8](names []string, k K, unknown string) string {
	if k != 0 && int(k) < len(names) {
		return names[k]
	}
	return unknown
}

// Decision records one decision and why, for logs, metrics and audit. It is
// a value built without formatting; String renders it.
type Decision struct {
	At    time.Time
	Kind  DecisionKind
	Agent AgentID
	// Hostname is the agent's, when the coordinator knows it (filled in
	// from the agent's record).
	Hostname string
	Incident uint64
	Attempt  uint64
	// Problem is the signal's problem (signal and incident decisions).
	Problem string
	// Step is the ladder index (for step decisions) and Action its id.
	Step   int
	Action string
	// Result is the step's result (DecSucceeded, DecStepFailed).
	Result Result
	// ExitCode is the failed step's exit code (ResultFailed).
	ExitCode int
	// DryRun marks "would have" decisions.
	DryRun bool
	// Err is why something was rejected, held or ignored.
	Err error
	// Note adds detail in words.
	Note      string
	Principal string
}

// String renders the decision as one log line.
func (d Decision) String() string {
	var b strings.Builder
	if d.DryRun {
		b.WriteString("would-have ")
	}
	b.WriteString(d.Kind.String())
	if d.Agent != "" {
		b.WriteString(" agent=")
		b.WriteString(string(d.Agent))
	}
	if d.Hostname != "" && d.Hostname != string(d.Agent) {
		b.WriteString(" host=")
		b.WriteString(d.Hostname)
	}
	if d.Incident != 0 {
		b.WriteString(" incident=")
		b.WriteString(strconv.FormatUint(d.Incident, 10))
	}
	if d.Problem != "" {
		b.WriteString(" problem=")
		b.WriteString(d.Problem)
	}
	if d.Action != "" {
		b.WriteString(" step=")
		b.WriteString(strconv.Itoa(d.Step + 1))
		b.WriteString(":")
		b.WriteString(d.Action)
	}
	if d.Attempt != 0 {
		b.WriteString(" attempt=")
		b.WriteString(strconv.FormatUint(d.Attempt, 10))
	}
	if d.Result != 0 {
		b.WriteString(" result=")
		b.WriteString(d.Result.String())
		if d.Result == ResultFailed {
			b.WriteString(" exit=")
			b.WriteString(strconv.Itoa(d.ExitCode))
		}
	}
	if d.Principal != "" {
		b.WriteString(" by=")
		b.WriteString(d.Principal)
	}
	if d.Err != nil {
		b.WriteString(": ")
		b.WriteString(d.Err.Error())
	}
	if d.Note != "" {
		b.WriteString(" (")
		b.WriteString(d.Note)
		b.WriteString(")")
	}
	return b.String()
}
