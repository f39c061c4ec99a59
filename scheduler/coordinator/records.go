package coordinator

import (
	"fmt"
	"time"
)

// AgentID is a Mesos agent id.
type AgentID string

// State is where an agent is in the repair lifecycle.
type State uint8

const (
	// StateHealthy: no open incident.
	StateHealthy State = iota
	// StatePending: an incident is open and its next step waits for a slot.
	StatePending
	// StateAwaitingApproval: the next step needs an operator's approve.
	StateAwaitingApproval
	// StateRepairing: a step is in flight (waiting for its offer or running).
	StateRepairing
	// StateProbation: the last step succeeded; a signal now is a relapse.
	StateProbation
	// StateIsolated: the master was told to stop using the agent; only an
	// operator's reactivate ends it.
	StateIsolated
	numStates
)

var stateNames = [numStates]string{"healthy", "pending", "awaiting-approval", "repairing", "probation", "isolated"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// open reports whether an agent in state s has an open incident.
func (s State) open() bool {
	return s == StatePending || s == StateAwaitingApproval || s == StateRepairing || s == StateProbation
}

// AgentRecord is everything the coordinator keeps about one agent; the store
// keeps one small node per agent holding it. Its size is bounded: History
// keeps the last HistoryLen attempts.
type AgentRecord struct {
	ID       AgentID
	Hostname string
	// Zone is the agent's fault-domain zone ("" without DomainInfo).
	Zone  string
	State State
	// Excluded agents are never repaired (operator exclude).
	Excluded bool
	// Drained is set while the agent is in a maintenance window healer
	// opened for a drain step; ActUp ends it.
	Drained bool
	// Incident is the open incident; zero unless State is open.
	Incident Incident
	// Incidents and Attempts count the incident and attempt ids handed out
	// on this agent (an attempt id goes to each step started, or to a step
	// when it begins waiting for approval).
	Incidents uint64
	Attempts  uint64
	// LastClosedAt is when the agent's last incident that ran a step closed,
	// and NextStep the ladder position after the last step it ran: a new
	// incident within Policy.ResetAfter continues from there.
	LastClosedAt time.Time
	NextStep     int
	// NextStepDryRun says NextStep was set by a step dry-run only imagined.
	// Execute mode never continues from it: a new incident starts the
	// ladder over (see Incident.DryRun).
	NextStepDryRun bool
	// NextAction and NextScope name the step at NextStep in the ladder of
	// NextProblem, the problem of the incident that set it. Indices alone
	// do not survive a ladder edit across a restart: a new incident
	// re-resolves a position whose step is no longer at that index (see
	// the package doc, "Restore under a changed policy"). Empty in records
	// written before positions carried their step: NextStep is then taken
	// as an index, as it always was.
	NextAction  string
	NextScope   Scope
	NextProblem string
	IsolatedAt  time.Time
	// RemovedAt is when Mesos removed this agent id while healer still had
	// a reason to remember its machine: an open incident, an isolation or
	// exclusion, or an incident closed less than Policy.ResetAfter ago. The
	// record is then a tombstone for the machine, found by Hostname when it
	// re-registers (a reboot or re-image brings it back under a new agent
	// id). Zero while the agent id is registered.
	RemovedAt time.Time
	// PreviousID is the agent id the machine had before it last
	// re-registered under a new one ("" if never): older History attempts
	// ran under it, and step reports naming it are still accepted.
	PreviousID AgentID
	// History holds the last HistoryLen attempts, oldest first. Never
	// modified in place once emitted.
	History []Attempt
	// Killing is a started step healer decided to kill whose end no
	// terminal status has confirmed yet; zero when none. It holds its slot
	// (num_allowed_repairs and its zone's cap), and the machine starts no
	// step, until its terminal status or its agent's removal arrives, or
	// Killing.Until passes. Its ActKill is owed until then.
	Killing Kill
	// What healer asked the master for and the master has not yet
	// acknowledged (ActionApplied); each is owed, re-emitted whenever the
	// coordinator becomes mutable, until acknowledged. UpOwed is the
	// incident whose drain window an ActUp ends; IsolateOwed the attempt id
	// of an isolation (ActIsolate); ReactivateOwed the attempt id of the
	// isolation an ActReactivate ends. Zero: nothing owed.
	UpOwed         uint64
	IsolateOwed    uint64
	ReactivateOwed uint64
}

// Kill is a started step healer killed (a timeout, a cancel, an operator's
// isolate, its machine's re-registration) and whose end is not yet
// confirmed.
type Kill struct {
	Attempt  uint64
	Incident uint64
	// Agent is the agent id the step runs on: the machine's previous id
	// when it re-registered under a new one.
	Agent   AgentID
	Problem string
	Step    Step
	Forced  bool
	// KilledAt is when the kill was decided. Until bounds the wait for its
	// confirmation: the later of KilledAt and the step's own deadline, plus
	// Policy.KillConfirmTimeout. The executor (or the scheduler's runner, for a
	// master-scope step) ends the step by its deadline by itself, so past
	// Until the step has ended even if no status said so.
	KilledAt time.Time
	Until    time.Time
}

// KillGrace is the default Policy.KillConfirmTimeout: how long after a
// killed step's deadline (or the kill, when later) healer waits for the
// confirmation of its end before it frees the step's slot anyway: time for
// the executor's own timeout kill to land and its status to arrive through
// an agent that may be partitioned briefly.
const KillGrace = 5 * time.Minute

// owes reports whether the record owes an action: a launch waiting for its
// offer, a kill not yet confirmed, an isolation, reactivation or
// maintenance UP not yet acknowledged.
func owes(r *AgentRecord) bool {
	return r.Killing.Attempt != 0 || r.UpOwed != 0 || r.IsolateOwed != 0 || r.ReactivateOwed != 0 || launchOwed(r)
}

// launchOwed reports whether the step in flight has not started: its launch
// (ActLaunch, or ActRun of a draining master-scope step) is owed.
func launchOwed(r *AgentRecord) bool {
	return r.State == StateRepairing && r.Incident.Run.StartedAt.IsZero()
}

// isolation is the attempt id of the agent's isolation: its last isolated
// attempt (isolation records nothing after it), else the last id handed out.
func isolation(r *AgentRecord) uint64 {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Result == ResultIsolated {
			return r.History[i].ID
		}
	}
	return r.Attempts
}

// Removed reports whether the record is a removed machine's tombstone.
func (r *AgentRecord) Removed() bool { return !r.RemovedAt.IsZero() }

// HistoryLen bounds AgentRecord.History, keeping each agent's node small.
const HistoryLen = 10

// Incident is one open repair of one agent.
type Incident struct {
	// ID is the agent's incident number (1, 2, ...); with the agent id it
	// names the incident.
	ID       uint64
	Problem  string
	Source   string
	Message  string
	OpenedAt time.Time
	// Signals counts signals attached (the first included). It and
	// LastSignalAt are written only with the record's next real change.
	Signals      int
	LastSignalAt time.Time
	// Step is the ladder index of the step in flight or next to run (in
	// probation, of the step that succeeded).
	Step int
	// StepAction and StepScope name the step at Step when it was set (the
	// built-in isolation past the end of the ladder), so that a position is
	// re-resolved by action when the ladder was edited across a restart
	// (see the package doc). Empty in records written before positions
	// carried their step: Step is then taken as an index, as it always was.
	StepAction string
	StepScope  Scope
	// StepsRun counts steps started in this incident.
	StepsRun int
	// DryRun says the incident's position on the ladder rests on steps
	// that dry-run only imagined (a would-be step "succeeded", or it
	// continued from imagined history). After a switch to execute such an
	// incident starts the ladder over before anything real runs: nothing
	// real may be chosen because of an imagined outcome.
	DryRun     bool
	Approved   bool
	ApprovedBy string
	// ApprovalAttempt is the attempt id given to the step when it began
	// waiting for approval: an approval names it (with the incident), and
	// the step runs as that attempt. Zero when no step waits for, or holds,
	// an approval. A step that begins waiting again (after a restart under
	// another policy moved it, say) gets a new id.
	ApprovalAttempt uint64
	// PendingSince orders pending agents: oldest gets the next free slot.
	PendingSince time.Time
	// Run is the step in flight while State is StateRepairing.
	Run Run
	// ProbationEnds is when a quiet probation closes the incident.
	ProbationEnds time.Time
}

// Run is a step in flight.
type Run struct {
	// Attempt identifies the step; outcomes name it, so an outcome for an
	// earlier attempt is recognised as stale.
	Attempt uint64
	Step    Step
	// LaunchedAt is when the launch was decided; StartedAt when the step
	// started running (for agent-scope steps, when the task was launched on
	// an offer; master-scope steps start at once).
	LaunchedAt time.Time
	StartedAt  time.Time
	// OfferDeadline (agent scope, not yet started) and Deadline (started)
	// bound the step.
	OfferDeadline time.Time
	Deadline      time.Time
	// Forced steps were started by an operator's force, bypassing limits.
	Forced   bool
	ForcedBy string
}

// unapprove drops the incident's approval, with the attempt id it named.
func (inc *Incident) unapprove() {
	inc.Approved, inc.ApprovedBy, inc.ApprovalAttempt = false, "", 0
}

func (r *Run) deadline() time.Time {
	if r.StartedAt.IsZero() {
		return r.OfferDeadline
	}
	return r.Deadline
}

// Result is how an attempt ended.
type Result uint8

const (
	ResultSucceeded Result = iota + 1
	ResultFailed
	ResultTimedOut
	// ResultLost: the task was lost, including with its agent: an
	// agent-scope step in flight when Mesos removes the agent (or the
	// machine re-registers under a new id) is lost.
	ResultLost
	ResultNoOffer
	// ResultCancelled: killed by an operator's cancel or isolate.
	ResultCancelled
	// ResultIsolated: the attempt was the isolation itself.
	ResultIsolated
)

var resultNames = [...]string{"", "succeeded", "failed", "timed-out", "lost", "no-offer", "cancelled", "isolated"}

func (r Result) String() string {
	if int(r) < len(resultNames) && r != 0 {
		return resultNames[r]
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Attempt is one finished step in an agent's history.
type Attempt struct {
	ID         uint64
	Incident   uint64
	Problem    string
	Action     string
	Scope      Scope
	StartedAt  time.Time
	EndedAt    time.Time
	Result     Result
	ExitCode   int
	OutputTail string
	Forced     bool
	Principal  string
}

// GlobalRecord is the coordinator's cluster-wide persisted state.
type GlobalRecord struct {
	Paused      bool
	PauseReason string
	PausedBy    string
	PausedAt    time.Time
	Breaker     StormBreaker
	// LastStartAt is when the last repair started (minimum spacing).
	LastStartAt time.Time
}

// StormBreaker is the breaker's state. Once tripped it stays tripped until
// an operator resumes.
type StormBreaker struct {
	Tripped   bool
	TrippedAt time.Time
	// Unhealthy and Known are the counts that tripped it (see
	// Status.Known for what each counts).
	Unhealthy int
	Known     int
}

var timeZero time.Time
