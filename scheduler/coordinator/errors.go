package coordinator

import (
	"errors"
	"strconv"
)

// Signals that cannot name exactly one concrete agent are rejected with one
// of these.
var (
	ErrNoTarget       = errors.New("signal names no agent")
	ErrWildcardTarget = errors.New("signal target is a wildcard, not one agent")
	ErrUnknownAgent   = errors.New("unknown agent")
	// ErrAgentRemoved: the target is an agent id Mesos removed (or a
	// hostname whose only record is such a tombstone). The machine is
	// remembered until it re-registers; signals must name the new id.
	ErrAgentRemoved    = errors.New("agent was removed from the cluster")
	ErrAmbiguousTarget = errors.New("signal target names more than one agent")
	ErrNoProblem       = errors.New("signal names no problem")
	ErrNoAgentID       = errors.New("agent event without an agent id")
)

// Names from outside that are over their bound, not UTF-8 or hold a control
// character are refused with one of these (see MaxProblemBytes and the
// other bounds): clipping a name could make it name something else.
var (
	ErrBadProblem   = errors.New("bad problem name: want at most " + strconv.Itoa(MaxProblemBytes) + " bytes of UTF-8 without control characters")
	ErrBadPrincipal = errors.New("bad principal: want at most " + strconv.Itoa(MaxPrincipalBytes) + " bytes of UTF-8 without control characters")
	ErrBadAgentID   = errors.New("bad agent id: want at most " + strconv.Itoa(MaxAgentIDBytes) + " bytes of UTF-8 without control characters")
	ErrBadHostname  = errors.New("bad hostname: want at most " + strconv.Itoa(MaxHostnameBytes) + " bytes of UTF-8 without control characters")
	ErrBadZone      = errors.New("bad zone: want at most " + strconv.Itoa(MaxZoneBytes) + " bytes of UTF-8 without control characters")
)

// Reasons a repair start is held; Decision.Err carries them.
var (
	ErrObserveOnly      = errors.New("observe mode: signals are recorded only")
	ErrImmutable        = errors.New("immutable: not connected to a master, not reconciled, or no ZooKeeper session")
	ErrPaused           = errors.New("repairs are paused")
	ErrBreakerTripped   = errors.New("storm breaker tripped")
	ErrExcluded         = errors.New("agent is excluded from repairs")
	ErrLimitReached     = errors.New("num_allowed_repairs reached")
	ErrZoneCapReached   = errors.New("zone cap reached")
	ErrSpacing          = errors.New("minimum spacing between repair starts not yet elapsed")
	ErrAwaitingApproval = errors.New("step awaits operator approval")
)

// Events whose time cannot be right are refused with one of these (see
// Coordinator.Step).
var (
	ErrNoTime         = errors.New("event has no time (zero At)")
	ErrTimeOutOfRange = errors.New("event time outside 2000-01-01..2200-01-01 UTC: is the runtime's clock set?")
)

// Operator commands and step outcomes that do not apply are refused with one
// of these.
var (
	ErrNoIncident       = errors.New("agent has no open incident")
	ErrStaleIncident    = errors.New("incident is not the agent's open incident")
	ErrIncidentRequired = errors.New("approve must name the incident and the attempt it approves")
	// ErrStaleApproval: the approval names a step that no longer waits
	// for approval; the error says which step waits now.
	ErrStaleApproval       = errors.New("approval is for a step that no longer awaits approval")
	ErrNotAwaitingApproval = errors.New("agent's step does not await approval")
	ErrNotIsolated         = errors.New("agent is not isolated")
	ErrIsolated            = errors.New("agent is isolated")
	ErrStepInFlight        = errors.New("agent has a step in flight")
	ErrNoPrincipal         = errors.New("operator command names no principal")
	ErrNoReason            = errors.New("operator command needs a reason")
	ErrUnknownCommand      = errors.New("unknown operator command")
	ErrUnknownResult       = errors.New("unknown step result")
	ErrStaleOutcome        = errors.New("outcome is for a step that is no longer in flight")
	// ErrNotAcknowledged: ActionApplied names an action that is not
	// acknowledged that way (launches are confirmed by StepStarted, kills
	// by StepOutcome or AgentRemoved).
	ErrNotAcknowledged = errors.New("only isolate, reactivate and up are acknowledged with ActionApplied")
	// ErrKillPending: the agent's killed step has not ended yet; nothing
	// else starts on it until it has (or Kill.Until passed).
	ErrKillPending = errors.New("agent's killed step has not yet ended")
)

// ErrInvalidPolicy wraps every Policy.Validate error; ErrCorruptRecord every
// inconsistency Restore finds in persisted records.
var (
	ErrInvalidPolicy = errors.New("invalid policy")
	ErrCorruptRecord = errors.New("corrupt persisted record")
)

// ErrNotExecuting refuses an operator force outside ModeExecute: nothing is
// launched in observe or dry-run.
var ErrNotExecuting = errors.New("mode is not execute: nothing is launched")
