package coordinator

import (
	"fmt"
	"strings"
	"time"
)

// Scope says where a step runs.
type Scope uint8

const (
	// ScopeAgent steps run as a task on the target agent, launched through
	// one of its offers by healer's executor.
	ScopeAgent Scope = iota + 1
	// ScopeMaster steps run on the scheduler's host (e.g. an IPMI power
	// cycle) and need nothing from the agent.
	ScopeMaster
)

func (s Scope) String() string {
	switch s {
	case ScopeAgent:
		return "agent"
	case ScopeMaster:
		return "master"
	}
	return fmt.Sprintf("scope(%d)", uint8(s))
}

// ActionIsolate is the built-in last resort: tell the master to stop using
// the agent. It may appear as the last step of a ladder; a ladder that ends
// without it is followed by it implicitly.
const ActionIsolate = "isolate"

// Step is one rung of a repair ladder.
type Step struct {
	// Action is an id from --repair_set or the built-in ActionIsolate.
	Action string
	Scope  Scope
	// Timeout bounds the step once it runs; zero means
	// Policy.DefaultStepTimeout.
	Timeout time.Duration
	// Approval makes the step wait for an operator's approve.
	Approval bool
	// Drain puts the agent into a maintenance window (DRAINING) before the
	// step runs. The coordinator carries the flag in the launch action; the
	// runtime drains first (up to Policy.DrainTimeout), then launches. After
	// a drained step succeeds, or the incident is cancelled, the coordinator
	// emits ActUp to bring the agent back UP.
	Drain bool
}

// MaxDuration bounds every duration of a Policy: min_spacing, probation,
// reset_after, offer_timeout, drain_timeout, the default step timeout and
// each step's timeout are at most 365 days. None can be meant longer, and
// the bound keeps every deadline the coordinator derives (an event's time
// plus at most a few of them) well inside what the store can keep.
const MaxDuration = 365 * 24 * time.Hour

const maxDurationText = "8760h0m0s (365 days)"

// Ladder is the ordered list of steps tried for one problem.
type Ladder []Step

// Mode is the staged-rollout mode.
type Mode uint8

const (
	// ModeObserve records signals only: no incident is opened.
	ModeObserve Mode = iota + 1
	// ModeDryRun opens incidents and decides as execute would, but emits no
	// action: each would-be step is recorded as a "would have" decision and
	// assumed to succeed at once, so the agent enters probation and a
	// relapse shows the next step that would run. A would-be isolation
	// closes the incident instead of isolating.
	ModeDryRun
	// ModeExecute acts.
	ModeExecute
)

func (m Mode) String() string {
	switch m {
	case ModeObserve:
		return "observe"
	case ModeDryRun:
		return "dry-run"
	case ModeExecute:
		return "execute"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses "observe", "dry-run" (or "dry_run") and "execute".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "observe":
		return ModeObserve, nil
	case "dry-run", "dry_run", "dryrun":
		return ModeDryRun, nil
	case "execute":
		return ModeExecute, nil
	}
	return 0, fmt.Errorf("mode %q: %w", s, ErrInvalidPolicy)
}

// IsolationMethod is how the master is told to stop using an agent.
type IsolationMethod uint8

const (
	// IsolateDeactivate uses the operator API's DEACTIVATE_AGENT.
	IsolateDeactivate IsolationMethod = iota + 1
	// IsolateDrain uses DRAIN_AGENT.
	IsolateDrain
	// IsolateMaintenanceDown schedules a maintenance window and marks the
	// agent DOWN.
	IsolateMaintenanceDown
)

func (m IsolationMethod) String() string {
	switch m {
	case IsolateDeactivate:
		return "deactivate"
	case IsolateDrain:
		return "drain"
	case IsolateMaintenanceDown:
		return "maintenance_down"
	}
	return fmt.Sprintf("isolation(%d)", uint8(m))
}

// Policy holds everything that shapes the coordinator's decisions. It is a
// plain struct so the configuration package can fill it from flags and the
// config file; start from DefaultPolicy and call Validate.
type Policy struct {
	// Mode defaults to ModeDryRun: a fresh install shows what it would do
	// before an operator opts into ModeExecute.
	Mode Mode
	// DefaultLadder is --repair_order, used for problems without their own
	// ladder. Default: isolate only, since the built-in is all healer can do
	// without a --repair_set.
	DefaultLadder Ladder
	// Ladders maps a problem name to its own ladder (config file).
	Ladders map[string]Ladder
	// DefaultStepTimeout applies to steps without a Timeout. Default 10m.
	DefaultStepTimeout time.Duration
	// NumAllowedRepairs caps agents with a step in flight, cluster-wide
	// (--num_allowed_repairs). Default 1.
	NumAllowedRepairs int
	// ZoneCap caps agents with a step in flight per fault-domain zone; 0
	// means unlimited (the default). Agents without a zone share zone "".
	ZoneCap int
	// ZoneCaps overrides ZoneCap for the named zones (0: unlimited there),
	// for clusters whose zones differ in size.
	ZoneCaps map[string]int
	// The storm breaker trips when the number of unhealthy agents (in an
	// incident, including under repair, or isolated) exceeds both
	// MaxUnhealthyMin and MaxUnhealthyPercent of known agents (registered
	// agents plus removed machines still in an incident). Defaults 5
	// and 20.
	MaxUnhealthyPercent int
	MaxUnhealthyMin     int
	// MinSpacing is the minimum time between two repair starts. Default 0.
	MinSpacing time.Duration
	// Probation is how long an agent is watched after a successful step.
	// Default 10m.
	Probation time.Duration
	// ResetAfter: a new incident within ResetAfter of the agent's last one
	// continues from the next step; after it the ladder starts over.
	// Default 1h.
	ResetAfter time.Duration
	// OfferTimeout bounds how long an agent-scope step waits for a usable
	// offer from its agent before it counts as failed. Default 5m.
	OfferTimeout time.Duration
	// DrainTimeout is how long the runtime may drain before launching a
	// drain step; it extends that step's offer deadline. Default 15m.
	DrainTimeout time.Duration
	// Isolation is how isolate is carried out. Default IsolateDeactivate.
	Isolation IsolationMethod
	// KillConfirmTimeout is how long past a killed step's deadline (or the
	// kill, when later) the coordinator waits for confirmation that the
	// step ended before it frees the step's slot anyway (see Kill.Until).
	// Default KillGrace (5m).
	KillConfirmTimeout time.Duration
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		Mode:                ModeDryRun,
		DefaultLadder:       Ladder{{Action: ActionIsolate, Scope: ScopeMaster}},
		DefaultStepTimeout:  10 * time.Minute,
		NumAllowedRepairs:   1,
		ZoneCap:             0,
		MaxUnhealthyPercent: 20,
		MaxUnhealthyMin:     5,
		MinSpacing:          0,
		Probation:           10 * time.Minute,
		ResetAfter:          time.Hour,
		OfferTimeout:        5 * time.Minute,
		DrainTimeout:        15 * time.Minute,
		Isolation:           IsolateDeactivate,
		KillConfirmTimeout:  KillGrace,
	}
}

// Validate reports the first offending value, wrapping ErrInvalidPolicy.
func (p *Policy) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("policy: "+format+": %w", append(args, ErrInvalidPolicy)...)
	}
	switch p.Mode {
	case ModeObserve, ModeDryRun, ModeExecute:
	default:
		return bad("mode %d", p.Mode)
	}
	switch p.Isolation {
	case IsolateDeactivate, IsolateDrain, IsolateMaintenanceDown:
	default:
		return bad("isolation method %d", p.Isolation)
	}
	if p.NumAllowedRepairs < 1 {
		return bad("num_allowed_repairs %d must be at least 1", p.NumAllowedRepairs)
	}
	if p.ZoneCap < 0 {
		return bad("zone cap %d must not be negative (0 is unlimited)", p.ZoneCap)
	}
	for zone, n := range p.ZoneCaps {
		if n < 0 {
			return bad("zone cap %d for zone %q must not be negative (0 is unlimited)", n, zone)
		}
	}
	if p.MaxUnhealthyPercent < 0 || p.MaxUnhealthyPercent > 100 {
		return bad("max_unhealthy %d%% must be within 0..100", p.MaxUnhealthyPercent)
	}
	if p.MaxUnhealthyMin < 0 {
		return bad("max_unhealthy minimum %d must not be negative", p.MaxUnhealthyMin)
	}
	for _, d := range []struct {
		name     string
		v        time.Duration
		positive bool
	}{
		{"min_spacing", p.MinSpacing, false}, {"probation", p.Probation, false},
		{"reset_after", p.ResetAfter, false}, {"drain_timeout", p.DrainTimeout, false},
		{"kill_confirm_timeout", p.KillConfirmTimeout, false},
		{"offer_timeout", p.OfferTimeout, true}, {"default step timeout", p.DefaultStepTimeout, true},
	} {
		switch {
		case d.positive && d.v <= 0:
			return bad("%s %v must be positive", d.name, d.v)
		case d.v < 0:
			return bad("%s %v must not be negative", d.name, d.v)
		case d.v > MaxDuration:
			return bad("%s %v is longer than the maximum %s", d.name, d.v, maxDurationText)
		}
	}
	if err := validateLadder("default ladder", p.DefaultLadder); err != nil {
		return err
	}
	for problem, l := range p.Ladders {
		if problem == "" || validateTarget(problem) != nil || !validName(problem, MaxProblemBytes) {
			return bad("problem name %q", problem)
		}
		if err := validateLadder(fmt.Sprintf("ladder for problem %q", problem), l); err != nil {
			return err
		}
	}
	return nil
}

func validateLadder(what string, l Ladder) error {
	if len(l) == 0 {
		return fmt.Errorf("policy: %s is empty: %w", what, ErrInvalidPolicy)
	}
	for i, s := range l {
		if strings.TrimSpace(s.Action) == "" {
			return fmt.Errorf("policy: %s step %d has no action: %w", what, i+1, ErrInvalidPolicy)
		}
		if s.Scope != ScopeAgent && s.Scope != ScopeMaster {
			return fmt.Errorf("policy: %s step %d (%s) has unknown scope %d: %w", what, i+1, s.Action, s.Scope, ErrInvalidPolicy)
		}
		if s.Timeout < 0 {
			return fmt.Errorf("policy: %s step %d (%s) has negative timeout %v: %w", what, i+1, s.Action, s.Timeout, ErrInvalidPolicy)
		}
		if s.Timeout > MaxDuration {
			return fmt.Errorf("policy: %s step %d (%s) has timeout %v, longer than the maximum %s: %w", what, i+1, s.Action, s.Timeout, maxDurationText, ErrInvalidPolicy)
		}
		if s.Action == ActionIsolate && i != len(l)-1 {
			// Isolation ends an incident; steps after it could never run.
			return fmt.Errorf("policy: %s step %d: %s must be the last step: %w", what, i+1, ActionIsolate, ErrInvalidPolicy)
		}
	}
	return nil
}

// LadderFor returns the ladder for problem: its own if configured, else the
// default ladder.
func (p *Policy) LadderFor(problem string) Ladder {
	if l, ok := p.Ladders[problem]; ok {
		return l
	}
	return p.DefaultLadder
}

// stepAt returns the step at index k of ladder l. Past the end, and at an
// explicit isolate step, the step is the built-in isolation.
func stepAt(l Ladder, k int) (s Step, isolate bool) {
	if k >= len(l) {
		return Step{Action: ActionIsolate, Scope: ScopeMaster}, true
	}
	return l[k], l[k].Action == ActionIsolate
}

// sameLadder reports whether problems a and b are repaired on one ladder:
// the same problem, or two without a ladder of their own (both on the
// default ladder).
func (p *Policy) sameLadder(a, b string) bool {
	if a == b {
		return true
	}
	_, ownA := p.Ladders[a]
	_, ownB := p.Ladders[b]
	return !ownA && !ownB
}

// relocate finds in ladder l the ladder position recorded as index k
// holding the step (action, scope). It is k when the step is still there
// (always, unless the ladder was edited across a restart). Otherwise it is
// the first index of the step from the start of l: with the step listed
// twice the milder, earlier rung is repeated rather than a rung skipped.
// Isolation (an explicit last step, or the built-in one past the end) was
// already next, so it stays next: l's own isolate step, else past l's end.
// ok is false when the step is no longer in l at all.
//
// A position recorded without its step (action "", written by an older
// healer) is a bare index: it resolves only to a repair step of l at that
// index. An index at or past l's isolation is not taken to mean isolation
// (the ladder may have been shortened under it): ok is false.
func relocate(l Ladder, k int, action string, scope Scope) (j int, ok bool) {
	if action == "" {
		if k < len(l) && l[k].Action != ActionIsolate {
			return k, true
		}
		return 0, false
	}
	if s, _ := stepAt(l, k); s.Action == action && (s.Scope == scope || action == ActionIsolate) {
		return k, true
	}
	if action == ActionIsolate {
		if n := len(l); l[n-1].Action == ActionIsolate {
			return n - 1, true
		}
		return len(l), true
	}
	for i, s := range l {
		if s.Action == action && s.Scope == scope {
			return i, true
		}
	}
	return 0, false
}

// sumDur adds durations, saturating at the longest one instead of wrapping
// into the past: no input can make a deadline come early. (time.Time.Add
// itself saturates.)
func sumDur(a, b time.Duration) time.Duration {
	if s := a + b; (s < a) == (b < 0) {
		return s
	}
	if b < 0 {
		return -1 << 63
	}
	return 1<<63 - 1
}

func (p *Policy) timeout(s Step) time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return p.DefaultStepTimeout
}

// breakerOver reports whether unhealthy agents out of known exceed the
// storm breaker's limit: more than min AND more than percent% of known.
func breakerOver(unhealthy, known, percent, min int) bool {
	return unhealthy > min && unhealthy*100 > known*percent
}

// escalationStart is the ladder position a new incident opened at now starts
// from: the step after the last one run, when the agent's previous incident
// closed less than resetAfter ago; otherwise the first.
func escalationStart(lastClosed time.Time, nextStep int, now time.Time, resetAfter time.Duration) int {
	if lastClosed.IsZero() || now.Sub(lastClosed) >= resetAfter {
		return 0
	}
	return nextStep
}

var wildcardWords = [...]string{"all", "any", "every", "everything", "everyone", "_all", "none", "null", "nil", "undefined"}

// validateTarget rejects targets that name no agent or could name several:
// a "repair everything" bug must be impossible.
func validateTarget(t string) error {
	if t == "" {
		return ErrNoTarget
	}
	if strings.ContainsAny(t, "*?[]{}|,%^$! \t\r\n\v\f") {
		return ErrWildcardTarget
	}
	for _, w := range wildcardWords {
		if strings.EqualFold(t, w) {
			return ErrWildcardTarget
		}
	}
	if t == "." || t == ".." || strings.HasPrefix(t, ".") {
		return ErrWildcardTarget
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] == 0x7f {
			return ErrWildcardTarget
		}
	}
	return nil
}

// zoneCap is the cap for agents in flight in zone; 0 means unlimited.
func (p *Policy) zoneCap(zone string) int {
	if n, ok := p.ZoneCaps[zone]; ok {
		return n
	}
	return p.ZoneCap
}
