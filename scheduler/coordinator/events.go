package coordinator

import "time"

// Event is an input to Coordinator.Step. The concrete types are Signal,
// AgentAdded, AgentUpdated, AgentRemoved, StepStarted, StepOutcome,
// ActionApplied, Command, Connectivity and Tick.
type Event interface {
	at() time.Time
}

// Signal says an agent is unhealthy. Agent is an agent id or a hostname and
// must name exactly one known agent.
type Signal struct {
	At      time.Time
	Agent   string
	Problem string
	Source  string
	Message string
}

// AgentAdded announces an agent (or refreshes one already known). A new
// agent id whose hostname is that of a known record is the same machine
// re-registering (a reboot or re-image gives it a new id): the record moves
// to the new id, with its incident, ladder position, history, exclusion and
// isolation.
type AgentAdded struct {
	At       time.Time
	ID       AgentID
	Hostname string
	Zone     string
}

// AgentUpdated changes a known agent's hostname or zone.
type AgentUpdated struct {
	At       time.Time
	ID       AgentID
	Hostname string
	Zone     string
}

// AgentRemoved says Mesos removed an agent id. Its record becomes a
// tombstone for the machine while it matters (see AgentRecord.RemovedAt),
// else it is deleted.
type AgentRemoved struct {
	At time.Time
	ID AgentID
}

// StepStarted reports that an agent-scope step's task is being launched on
// an offer from its agent (or, for a draining master-scope step, that the
// drain is done and the step runs); the step's timeout runs from now. The
// runtime feeds it before it sends the launch, and launches only if the
// Ready holds DecRunning for the attempt (see the package doc).
type StepStarted struct {
	At      time.Time
	Agent   AgentID
	Attempt uint64
}

// ActionApplied reports that the master acknowledged a master-side action
// the coordinator asked for, so it is no longer owed: Kind is ActIsolate
// (Attempt: the isolation's attempt id), ActReactivate (Attempt: the
// isolation it ends) or ActUp (Incident: the incident whose drain window
// ended), as the action carried them. Agent is the action's agent id. An
// acknowledgement of nothing owed (late, or repeated) is ignored. Launches
// are confirmed by StepStarted and kills by StepOutcome or AgentRemoved,
// not by ActionApplied.
type ActionApplied struct {
	At       time.Time
	Agent    AgentID
	Kind     ActionKind
	Attempt  uint64
	Incident uint64
}

// StepOutcome reports how a step ended. Result is one of ResultSucceeded,
// ResultFailed (with ExitCode), ResultTimedOut, ResultLost, ResultNoOffer.
// For a step healer killed (Kill), any terminal status confirms its end.
type StepOutcome struct {
	At         time.Time
	Agent      AgentID
	Attempt    uint64
	Result     Result
	ExitCode   int
	OutputTail string
}

// Op is an operator command.
type Op uint8

const (
	OpApprove Op = iota + 1
	OpCancel
	OpIsolate
	OpReactivate
	OpExclude
	OpInclude
	OpPause
	OpResume
	// OpForce starts the agent's next step now, bypassing limits, pause,
	// breaker, exclusion and approval (not Immutable: nothing can be
	// launched without a master). Audited with its principal.
	OpForce
)

var opNames = [...]string{"", "approve", "cancel", "isolate", "reactivate", "exclude", "include", "pause", "resume", "force"}

func (o Op) String() string { return enumName(opNames[:], o, "op?") }

// Command is an operator command. Principal is required (audit).
type Command struct {
	At        time.Time
	Op        Op
	Agent     AgentID
	Principal string
	// Incident, when non-zero, must be the agent's open incident (approve,
	// cancel, force), so a command cannot hit a newer incident by mistake.
	// Approve requires it.
	Incident uint64
	// Attempt names the step an approve approves: the attempt id the step
	// was given when it began waiting (Decision.Attempt of its
	// DecAwaitingApproval, Incident.ApprovalAttempt). Approve requires it;
	// an approval for a step the incident has left is refused
	// (ErrStaleApproval), never applied to the step waiting now.
	Attempt uint64
	// Reason is required for pause; optional elsewhere.
	Reason string
	// Problem names the problem of the incident a force opens on a healthy
	// agent; default "operator".
	Problem string
}

// Link is a connectivity change.
type Link uint8

const (
	// MasterConnected: subscribed (or re-subscribed) to a master; the
	// coordinator stays Immutable until Reconciled.
	MasterConnected Link = iota + 1
	MasterDisconnected
	Reconciled
	ZKSessionUp
	ZKSessionDown
)

var linkNames = [...]string{"", "master-connected", "master-disconnected", "reconciled", "zk-up", "zk-down"}

func (l Link) String() string { return enumName(linkNames[:], l, "link?") }

// Connectivity reports a change in the coordinator's connections.
type Connectivity struct {
	At     time.Time
	Change Link
}

// Tick advances time: step and offer timeouts, probation ends and pending
// agents waiting for spacing are handled on ticks.
type Tick struct {
	At time.Time
}

func (e Signal) at() time.Time        { return e.At }
func (e AgentAdded) at() time.Time    { return e.At }
func (e AgentUpdated) at() time.Time  { return e.At }
func (e AgentRemoved) at() time.Time  { return e.At }
func (e StepStarted) at() time.Time   { return e.At }
func (e StepOutcome) at() time.Time   { return e.At }
func (e ActionApplied) at() time.Time { return e.At }
func (e Command) at() time.Time       { return e.At }
func (e Connectivity) at() time.Time  { return e.At }
func (e Tick) at() time.Time          { return e.At }
