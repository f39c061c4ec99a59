package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Backend is what the admin API serves. The scheduler runtime implements
// it; every method is safe for concurrent use.
type Backend interface {
	// Repair submits a signal. created says a new incident was opened (or
	// the signal otherwise changed what healer does: 202); false means it
	// was attached to an open incident (200).
	Repair(ctx context.Context, req RepairRequest) (resp RepairResponse, created bool, err error)
	Status(ctx context.Context) (Status, error)
	Agents(ctx context.Context, f AgentFilter) (AgentList, error)
	Agent(ctx context.Context, id string) (Agent, error)
	// Ready is nil when this instance is ready to serve: the leader
	// subscribed, or a healthy standby.
	Ready(ctx context.Context) error
	// Repairs lists open and recently closed incidents.
	Repairs(ctx context.Context, f RepairFilter) (RepairList, error)
	// Command carries out an operator command (approve, cancel, isolate,
	// reactivate, exclude, include, force, pause, resume).
	Command(ctx context.Context, c Command) (CommandResponse, error)
	// Alerts takes a batch of alerts from Alertmanager whole, or refuses
	// it whole: firing alerts become signals, resolved ones are recorded.
	Alerts(ctx context.Context, alerts []AlertSignal) (AlertResponse, error)
	// Audit returns the newest limit entries of the audit trail.
	Audit(ctx context.Context, limit int) (AuditList, error)
	// Record appends a refused request the backend never saw (refused by
	// access control or request checks) to the audit trail. Repair,
	// Command and Alerts audit what reaches them themselves, with the
	// Caller in their context.
	Record(ctx context.Context, e AuditEntry) error
}

// Error is an error with its HTTP status, as backends return them.
type Error struct {
	Status int
	// Msg is the short error, Detail what to do about it.
	Msg, Detail string
	// RetryAfter is sent as Retry-After (503).
	RetryAfter time.Duration
	// Location is the leader's admin URL (307).
	Location string
	// challenge are the WWW-Authenticate challenges of a 401.
	challenge []string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (%s)", e.Msg, e.Detail)
	}
	return e.Msg
}

// NotLeader is the error a standby returns for a mutation: 307 to the
// leader, or 503 when no leader is known.
func NotLeader(leader string) *Error {
	if leader == "" {
		return &Error{Status: http.StatusServiceUnavailable, Msg: "no leader",
			Detail: "this instance is a standby and no leader is elected yet; retry shortly", RetryAfter: 2 * time.Second}
	}
	return &Error{Status: http.StatusTemporaryRedirect, Msg: "not the leader",
		Detail: "this instance is a standby; send mutations to the leader", Location: leader}
}

// RepairRequest is the body of POST /repair: a signal that one agent is
// sick. Exactly one of AgentID and Hostname names the agent.
type RepairRequest struct {
	AgentID  string `json:"agent_id,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Problem  string `json:"problem"`
	Source   string `json:"source,omitempty"`
	Message  string `json:"message,omitempty"`
}

// RepairResponse answers POST /repair.
type RepairResponse struct {
	AgentID  string    `json:"agent_id"`
	Hostname string    `json:"hostname,omitempty"`
	State    string    `json:"state"`
	Incident *Incident `json:"incident,omitempty"`
	// Attached says the signal joined an open incident.
	Attached bool `json:"attached"`
	// Decision is the first decision the signal caused, in words;
	// Decisions all of them.
	Decision  string     `json:"decision"`
	Decisions []Decision `json:"decisions"`
}

// Decision is one coordinator decision.
type Decision struct {
	At       time.Time `json:"at"`
	Kind     string    `json:"kind"`
	AgentID  string    `json:"agent_id,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Incident uint64    `json:"incident,omitempty"`
	Attempt  uint64    `json:"attempt,omitempty"`
	Problem  string    `json:"problem,omitempty"`
	// Step is 1-based; Action its repair id.
	Step   int    `json:"step,omitempty"`
	Action string `json:"action,omitempty"`
	Result string `json:"result,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	Error  string `json:"error,omitempty"`
	Note   string `json:"note,omitempty"`
	By     string `json:"by,omitempty"`
	// Text is the decision as healer logs it.
	Text string `json:"text"`
}

// Incident is an agent's open repair.
type Incident struct {
	ID           uint64    `json:"id"`
	Problem      string    `json:"problem"`
	Source       string    `json:"source,omitempty"`
	Message      string    `json:"message,omitempty"`
	OpenedAt     time.Time `json:"opened_at"`
	Signals      int       `json:"signals"`
	LastSignalAt time.Time `json:"last_signal_at"`
	// Step (1-based) and Action: the step in flight or next to run.
	Step       int    `json:"step"`
	Action     string `json:"action"`
	StepsRun   int    `json:"steps_run"`
	Approved   bool   `json:"approved,omitempty"`
	ApprovedBy string `json:"approved_by,omitempty"`
	// ApprovalAttempt is the attempt id of the step that awaits (or
	// holds) approval: an approval names it.
	ApprovalAttempt uint64     `json:"approval_attempt,omitempty"`
	Run             *Run       `json:"run,omitempty"`
	ProbationEnds   *time.Time `json:"probation_ends,omitempty"`
}

// Run is a step in flight.
type Run struct {
	Attempt    uint64     `json:"attempt"`
	Action     string     `json:"action"`
	Scope      string     `json:"scope"`
	LaunchedAt time.Time  `json:"launched_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	Deadline   time.Time  `json:"deadline"`
	Forced     bool       `json:"forced,omitempty"`
	ForcedBy   string     `json:"forced_by,omitempty"`
}

// Attempt is a finished step in an agent's history.
type Attempt struct {
	ID         uint64    `json:"id"`
	Incident   uint64    `json:"incident"`
	Problem    string    `json:"problem"`
	Action     string    `json:"action"`
	Scope      string    `json:"scope"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	Result     string    `json:"result"`
	ExitCode   int       `json:"exit_code"`
	OutputTail string    `json:"output_tail,omitempty"`
	Forced     bool      `json:"forced,omitempty"`
	By         string    `json:"by,omitempty"`
}

// Agent is one agent's state; History and Monitor are filled in by
// GET /agents/{id} only.
type Agent struct {
	ID           string     `json:"id"`
	Hostname     string     `json:"hostname"`
	Zone         string     `json:"zone,omitempty"`
	State        string     `json:"state"`
	Excluded     bool       `json:"excluded,omitempty"`
	Drained      bool       `json:"drained,omitempty"`
	Removed      bool       `json:"removed,omitempty"`
	RemovedAt    *time.Time `json:"removed_at,omitempty"`
	IsolatedAt   *time.Time `json:"isolated_at,omitempty"`
	LastClosedAt *time.Time `json:"last_closed_at,omitempty"`
	PreviousID   string     `json:"previous_id,omitempty"`
	Incident     *Incident  `json:"incident,omitempty"`
	History      []Attempt  `json:"history,omitempty"`
	Monitor      *Monitor   `json:"monitor,omitempty"`
}

// Monitor is how an agent's monitor task is doing.
type Monitor struct {
	State     string `json:"state"`
	Failures  int    `json:"failures,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

// AgentFilter narrows GET /agents.
type AgentFilter struct {
	// State is one of the agent states, or "" for all.
	State string
	// Query keeps agents whose id or hostname contains it.
	Query string
	// Limit (0: no limit) and Offset page through the agents, sorted by id.
	Limit, Offset int
}

// AgentList answers GET /agents.
type AgentList struct {
	Agents []Agent `json:"agents"`
	// Total is how many agents matched before paging.
	Total int `json:"total"`
	// AsOf is when the state shown was read (a standby's view lags).
	AsOf time.Time `json:"as_of"`
}

// Status answers GET /status.
type Status struct {
	IsLeader bool `json:"is_leader"`
	// Leader is the leader's admin URL ("" when none is known).
	Leader          string     `json:"leader"`
	FrameworkID     string     `json:"framework_id"`
	Subscribed      bool       `json:"subscribed"`
	Immutable       bool       `json:"immutable"`
	ImmutableReason string     `json:"immutable_reason,omitempty"`
	ImmutableSince  *time.Time `json:"immutable_since,omitempty"`
	Mode            string     `json:"mode"`
	Paused          bool       `json:"paused"`
	PauseReason     string     `json:"pause_reason,omitempty"`
	PausedBy        string     `json:"paused_by,omitempty"`
	PausedAt        *time.Time `json:"paused_at,omitempty"`
	Breaker         Breaker    `json:"storm_breaker"`
	Limits          Limits     `json:"limits"`
	Counts          Counts     `json:"counts"`
	// Known and Unhealthy are the storm breaker's counts; InFlight the
	// agents with a step in flight.
	Known     int `json:"known"`
	Unhealthy int `json:"unhealthy"`
	InFlight  int `json:"in_flight"`
	// AsOf is when the state shown was read.
	AsOf time.Time `json:"as_of"`
}

// Breaker is the storm breaker's state.
type Breaker struct {
	Tripped   bool       `json:"tripped"`
	TrippedAt *time.Time `json:"tripped_at,omitempty"`
	Unhealthy int        `json:"unhealthy,omitempty"`
	Known     int        `json:"known,omitempty"`
}

// Limits are the configured safety limits.
type Limits struct {
	NumAllowedRepairs   int            `json:"num_allowed_repairs"`
	ZoneCap             int            `json:"zone_cap"`
	ZoneCaps            map[string]int `json:"zone_caps,omitempty"`
	MaxUnhealthyPercent int            `json:"max_unhealthy_percent,omitempty"`
	MaxUnhealthyMin     int            `json:"max_unhealthy_min"`
	MinRepairSpacing    string         `json:"min_repair_spacing"`
}

// Counts are agents by state.
type Counts struct {
	Healthy          int `json:"healthy"`
	Pending          int `json:"pending"`
	AwaitingApproval int `json:"awaiting_approval"`
	Repairing        int `json:"repairing"`
	Probation        int `json:"probation"`
	Isolated         int `json:"isolated"`
	Excluded         int `json:"excluded"`
	Removed          int `json:"removed"`
}

// Role is what a token may do.
type Role uint8

const (
	// RoleViewer reads.
	RoleViewer Role = iota + 1
	// RoleOperator reads and sends mutations.
	RoleOperator
)

func (r Role) String() string {
	switch r {
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	}
	return "none"
}

// Caller is who sent a request: the name of its token ("anonymous" when
// no token file is configured), the token's role, and the client address.
type Caller struct {
	Name   string
	Role   Role
	Remote string
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the Caller a request's context carries (the zero
// Caller when none).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// Operator commands, as Command.Op and the endpoints name them.
const (
	OpApprove    = "approve"
	OpCancel     = "cancel"
	OpIsolate    = "isolate"
	OpReactivate = "reactivate"
	OpExclude    = "exclude"
	OpInclude    = "include"
	OpForce      = "force"
	OpPause      = "pause"
	OpResume     = "resume"
)

// Command is an operator command.
type Command struct {
	Op string
	// Target is the agent (id or hostname); empty for pause and resume.
	Target string
	// Incident names the agent's open incident (approve requires it;
	// cancel and force check it when given); Attempt the step an approval
	// approves (required).
	Incident, Attempt uint64
	// Reason is required for pause; Problem names the incident a force
	// opens on a healthy agent.
	Reason, Problem string
}

// CommandResponse answers an operator command.
type CommandResponse struct {
	Op       string    `json:"op"`
	AgentID  string    `json:"agent_id,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	State    string    `json:"state,omitempty"`
	Incident *Incident `json:"incident,omitempty"`
	// Decision is the command's decision in words; Decisions all the
	// decisions it caused (a force's start, a resume's breaker...).
	Decision  string     `json:"decision"`
	Decisions []Decision `json:"decisions"`
	// Paused and Breaker are the global state after pause and resume.
	Paused  *bool    `json:"paused,omitempty"`
	Breaker *Breaker `json:"storm_breaker,omitempty"`
}

// RepairFilter narrows GET /repairs.
type RepairFilter struct {
	// State is "open" (every open incident), "closed" (incidents that ran
	// steps and ended), "all", or one open state: pending,
	// awaiting-approval, repairing, probation.
	State string
	// Agent (id or hostname) and Problem match exactly when set.
	Agent, Problem string
	// OlderThan and NewerThan bound the incident's age (since it opened;
	// for a closed one, since its last step ended).
	OlderThan, NewerThan time.Duration
	// Limit and Offset page through the result.
	Limit, Offset int
}

// Repair is one incident, open or closed.
type Repair struct {
	AgentID  string `json:"agent_id"`
	Hostname string `json:"hostname"`
	Zone     string `json:"zone,omitempty"`
	// State is the agent's state while the incident is open, "closed"
	// after.
	State    string    `json:"state"`
	Open     bool      `json:"open"`
	Incident uint64    `json:"incident"`
	Problem  string    `json:"problem"`
	Source   string    `json:"source,omitempty"`
	Message  string    `json:"message,omitempty"`
	OpenedAt time.Time `json:"opened_at"`
	// AgeSeconds is how long ago it opened (closed: how long ago it
	// ended), as of the list's as_of.
	AgeSeconds float64 `json:"age_seconds"`
	Signals    int     `json:"signals,omitempty"`
	// Step (1-based) and Action: the step in flight or next (open), or
	// the last one run (closed).
	Step     int    `json:"step"`
	Action   string `json:"action"`
	StepsRun int    `json:"steps_run"`
	Run      *Run   `json:"run,omitempty"`
	// Approval is the step waiting for an operator's approval.
	Approval      *Approval  `json:"approval,omitempty"`
	ProbationEnds *time.Time `json:"probation_ends,omitempty"`
	// EndedAt and Result: when a closed incident's last step ended, and
	// how.
	EndedAt *time.Time `json:"ended_at,omitempty"`
	Result  string     `json:"result,omitempty"`
	// Attempts are a closed incident's steps, as the agent's history keeps
	// them.
	Attempts []Attempt `json:"attempts,omitempty"`
	Removed  bool      `json:"removed,omitempty"`
}

// Approval is a step that waits for approval: approve it with the
// incident and this attempt.
type Approval struct {
	Attempt uint64 `json:"attempt"`
	Step    int    `json:"step"`
	Action  string `json:"action"`
}

// RepairList answers GET /repairs.
type RepairList struct {
	Repairs []Repair `json:"repairs"`
	// Total is how many matched before paging.
	Total int       `json:"total"`
	AsOf  time.Time `json:"as_of"`
}

// AlertSignal is one alert of an Alertmanager batch, mapped: Target and
// Problem come from the configured labels.
type AlertSignal struct {
	// Status is "firing" or "resolved".
	Status      string
	Target      string
	Problem     string
	Message     string
	Fingerprint string
}

// AlertResult is what became of one alert.
type AlertResult struct {
	Fingerprint string `json:"fingerprint,omitempty"`
	Status      string `json:"status"`
	Target      string `json:"target"`
	Problem     string `json:"problem"`
	AgentID     string `json:"agent_id,omitempty"`
	Incident    uint64 `json:"incident,omitempty"`
	Attached    bool   `json:"attached,omitempty"`
	Decision    string `json:"decision"`
}

// AlertResponse answers POST /alertmanager.
type AlertResponse struct {
	Alerts []AlertResult `json:"alerts"`
}

// Results of audited requests.
const (
	ResultAccepted = "accepted"
	ResultRefused  = "refused"
)

// AuditEntry is one entry of the audit trail: a request to a mutating
// endpoint, accepted or refused.
type AuditEntry struct {
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	// Count > 1: identical refusals in a row, merged; LastAt the last.
	Count     int        `json:"count,omitempty"`
	LastAt    *time.Time `json:"last_at,omitempty"`
	Principal string     `json:"principal"`
	Role      string     `json:"role,omitempty"`
	Remote    string     `json:"remote,omitempty"`
	Action    string     `json:"action"`
	Target    string     `json:"target,omitempty"`
	Incident  uint64     `json:"incident,omitempty"`
	Attempt   uint64     `json:"attempt,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Result    string     `json:"result"`
	Code      int        `json:"code"`
	Detail    string     `json:"detail,omitempty"`
}

// AuditList answers GET /audit: newest first.
type AuditList struct {
	Entries []AuditEntry `json:"entries"`
	AsOf    time.Time    `json:"as_of"`
}

// WhoAmI answers GET /whoami.
type WhoAmI struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Mutations says whether this caller may send mutations.
	Mutations bool `json:"mutations"`
	// Auth is how the admin API is protected: "tokens", "insecure" (no
	// tokens, mutations open) or "read-only" (no tokens, mutations off).
	Auth string `json:"auth"`
}
