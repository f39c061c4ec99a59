package coordinator

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLadderSelection(t *testing.T) {
	def := Ladder{{Action: "restart", Scope: ScopeAgent}, {Action: "reboot", Scope: ScopeAgent}}
	disk := Ladder{{Action: "cleanup", Scope: ScopeAgent}, {Action: ActionIsolate, Scope: ScopeMaster}}
	p := DefaultPolicy()
	p.DefaultLadder, p.Ladders = def, map[string]Ladder{"disk_full": disk}
	for _, tc := range []struct {
		problem     string
		k           int
		wantAction  string
		wantIsolate bool
	}{
		{"disk_full", 0, "cleanup", false},
		{"disk_full", 1, ActionIsolate, true},
		{"disk_full", 2, ActionIsolate, true},
		{"disk_full", 99, ActionIsolate, true},
		{"DISK_FULL", 0, "restart", false}, // problem names are exact
		{"kernel", 0, "restart", false},
		{"kernel", 1, "reboot", false},
		{"kernel", 2, ActionIsolate, true}, // exhausted: built-in isolation
		{"", 0, "restart", false},
	} {
		s, iso := stepAt(p.LadderFor(tc.problem), tc.k)
		if s.Action != tc.wantAction || iso != tc.wantIsolate {
			t.Errorf("problem %q step %d: got %s isolate=%v, want %s isolate=%v", tc.problem, tc.k, s.Action, iso, tc.wantAction, tc.wantIsolate)
		}
	}
}

func TestEscalationStart(t *testing.T) {
	closed := t0
	for _, tc := range []struct {
		name       string
		lastClosed time.Time
		next       int
		now        time.Time
		resetAfter time.Duration
		want       int
	}{
		{"never had an incident", time.Time{}, 3, t0, time.Hour, 0},
		{"just closed", closed, 2, closed, time.Hour, 2},
		{"within the window", closed, 2, closed.Add(59 * time.Minute), time.Hour, 2},
		{"a nanosecond before the end", closed, 2, closed.Add(time.Hour - 1), time.Hour, 2},
		{"exactly at reset_after: reset", closed, 2, closed.Add(time.Hour), time.Hour, 0},
		{"long after", closed, 2, closed.Add(48 * time.Hour), time.Hour, 0},
		{"reset_after 0 always resets", closed, 2, closed, 0, 0},
		{"beyond the ladder stays beyond", closed, 7, closed.Add(time.Minute), time.Hour, 7},
		{"clock earlier than close (skew) counts as within", closed, 1, closed.Add(-time.Minute), time.Hour, 1},
	} {
		if got := escalationStart(tc.lastClosed, tc.next, tc.now, tc.resetAfter); got != tc.want {
			t.Errorf("%s: got step %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestBreakerThreshold(t *testing.T) {
	for _, tc := range []struct {
		unhealthy, known, percent, min int
		want                           bool
	}{
		// Defaults: more than 5 and more than 20%.
		{5, 10, 20, 5, false}, // 50% but not more than 5
		{6, 10, 20, 5, true},  // 60% and 6 > 5
		{6, 30, 20, 5, false}, // 6 is exactly 20% of 30
		{7, 30, 20, 5, true},  // 23%
		{10000, 50000, 20, 5, false},
		{10001, 50000, 20, 5, true},
		{6, 0, 20, 5, true},       // no known agents: any count over min trips
		{0, 0, 20, 0, false},      // nothing unhealthy never trips
		{1, 100, 0, 0, true},      // 0%: any unhealthy agent trips
		{100, 100, 100, 5, false}, // 100%: can never trip
		{3, 3, 99, 2, true},
	} {
		if got := breakerOver(tc.unhealthy, tc.known, tc.percent, tc.min); got != tc.want {
			t.Errorf("%d of %d unhealthy, %d%% / min %d: tripped=%v, want %v", tc.unhealthy, tc.known, tc.percent, tc.min, got, tc.want)
		}
	}
}

func TestTargetValidation(t *testing.T) {
	for _, tc := range []struct {
		target string
		want   error
	}{
		{"", ErrNoTarget},
		{"*", ErrWildcardTarget},
		{"a*", ErrWildcardTarget},
		{"h?", ErrWildcardTarget},
		{"h[12]", ErrWildcardTarget},
		{"{a,b}", ErrWildcardTarget},
		{"a,b", ErrWildcardTarget},
		{"a b", ErrWildcardTarget},
		{" a1", ErrWildcardTarget},
		{"a1\n", ErrWildcardTarget},
		{"a\x00", ErrWildcardTarget},
		{"all", ErrWildcardTarget},
		{"All", ErrWildcardTarget},
		{"ANY", ErrWildcardTarget},
		{"every", ErrWildcardTarget},
		{"_all", ErrWildcardTarget},
		{"none", ErrWildcardTarget},
		{"undefined", ErrWildcardTarget},
		{".", ErrWildcardTarget},
		{".*", ErrWildcardTarget},
		{"a|b", ErrWildcardTarget},
		{"^a$", ErrWildcardTarget},
		{"%", ErrWildcardTarget},
		{"!a1", ErrWildcardTarget},
		{"a1", nil},
		{"5e2c8b1a-9d3f-4c7e-8f5a-1b2c3d4e5f60-S3", nil},
		{"node-17.dc1.example.com", nil},
		{"ally", nil},
		{"10.0.0.7", nil},
	} {
		if got := validateTarget(tc.target); !errors.Is(got, tc.want) || (tc.want == nil) != (got == nil) {
			t.Errorf("validateTarget(%q) = %v, want %v", tc.target, got, tc.want)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if p := DefaultPolicy(); p.Validate() != nil {
		t.Fatalf("default policy invalid: %v", p.Validate())
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Policy)
		want   string
	}{
		{"mode", func(p *Policy) { p.Mode = 0 }, "mode 0"},
		{"isolation", func(p *Policy) { p.Isolation = 9 }, "isolation method 9"},
		{"cap", func(p *Policy) { p.NumAllowedRepairs = 0 }, "num_allowed_repairs 0"},
		{"zone cap", func(p *Policy) { p.ZoneCap = -2 }, "zone cap -2"},
		{"percent", func(p *Policy) { p.MaxUnhealthyPercent = -1 }, "max_unhealthy -1%"},
		{"min", func(p *Policy) { p.MaxUnhealthyMin = -1 }, "minimum -1"},
		{"spacing", func(p *Policy) { p.MinSpacing = -time.Second }, "min_spacing -1s"},
		{"reset", func(p *Policy) { p.ResetAfter = -time.Second }, "reset_after -1s"},
		{"drain", func(p *Policy) { p.DrainTimeout = -time.Second }, "drain_timeout -1s"},
		{"offer", func(p *Policy) { p.OfferTimeout = 0 }, "offer_timeout 0s"},
		{"step timeout", func(p *Policy) { p.DefaultStepTimeout = 0 }, "default step timeout 0s"},
		{"empty ladder", func(p *Policy) { p.DefaultLadder = nil }, "default ladder is empty"},
		{"no action", func(p *Policy) { p.DefaultLadder = Ladder{{Scope: ScopeAgent}} }, "step 1 has no action"},
		{"scope", func(p *Policy) { p.DefaultLadder = Ladder{{Action: "x"}} }, "step 1 (x) has unknown scope"},
		{"negative timeout", func(p *Policy) { p.DefaultLadder = Ladder{{Action: "x", Scope: ScopeAgent, Timeout: -1}} }, "negative timeout"},
		{"isolate not last", func(p *Policy) {
			p.DefaultLadder = Ladder{{Action: ActionIsolate, Scope: ScopeMaster}, {Action: "x", Scope: ScopeAgent}}
		}, "step 1: isolate must be the last step"},
		{"problem ladder", func(p *Policy) { p.Ladders = map[string]Ladder{"disk": {}} }, `ladder for problem "disk" is empty`},
		{"problem name", func(p *Policy) { p.Ladders = map[string]Ladder{"": p.DefaultLadder} }, `problem name ""`},
	} {
		p := DefaultPolicy()
		tc.mutate(&p)
		err := p.Validate()
		if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an ErrInvalidPolicy naming %q", tc.name, err, tc.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"observe": ModeObserve, "dry-run": ModeDryRun, "dry_run": ModeDryRun, "execute": ModeExecute} {
		if got, err := ParseMode(in); got != want || err != nil {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("yolo"); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("ParseMode(yolo) = %v", err)
	}
}

func TestRestoreRejectsCorruptRecords(t *testing.T) {
	ok := AgentRecord{ID: "a1", State: StateHealthy}
	for name, r := range map[string][]AgentRecord{
		"no id":                 {{State: StateHealthy}},
		"duplicate":             {ok, ok},
		"unknown state":         {{ID: "a1", State: numStates}},
		"open without incident": {{ID: "a1", State: StatePending}},
		"incident when healthy": {{ID: "a1", State: StateHealthy, Incidents: 1, Incident: Incident{ID: 1}}},
		"incident beyond count": {{ID: "a1", State: StatePending, Incident: Incident{ID: 2}, Incidents: 1}},
		"repairing without run": {{ID: "a1", State: StateRepairing, Incidents: 1, Incident: Incident{ID: 1}}},
		"run without deadline": {{ID: "a1", State: StateRepairing, Incidents: 1, Attempts: 1,
			Incident: Incident{ID: 1, Run: Run{Attempt: 1}}}},
		"attempt beyond count": {{ID: "a1", State: StateRepairing, Incidents: 1,
			Incident: Incident{ID: 1, Run: Run{Attempt: 1, OfferDeadline: t0}}}},
		"probation without end": {{ID: "a1", State: StateProbation, Incidents: 1, Incident: Incident{ID: 1}}},
		"history too long":      {{ID: "a1", History: make([]Attempt, HistoryLen+1)}},
		"negative step": {{ID: "a1", State: StatePending, Incidents: 1,
			Incident: Incident{ID: 1, Step: -1}}},
		"negative next step":    {{ID: "a1", State: StateHealthy, NextStep: -3, LastClosedAt: t0}},
		"previous id is own id": {{ID: "a1", State: StateHealthy, PreviousID: "a1"}},
		"previous id claimed twice": {{ID: "a1", State: StateHealthy, PreviousID: "a0"},
			{ID: "a2", State: StateHealthy, PreviousID: "a0"}},
	} {
		if _, err := Restore(DefaultPolicy(), r, GlobalRecord{}); !errors.Is(err, ErrCorruptRecord) {
			t.Errorf("%s: Restore = %v, want ErrCorruptRecord", name, err)
		}
	}
	if _, err := Restore(Policy{}, nil, GlobalRecord{}); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("Restore with zero policy = %v, want ErrInvalidPolicy", err)
	}
}

func TestUnknownEventPanics(t *testing.T) {
	c, err := New(DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("an unknown connectivity change did not panic")
		}
	}()
	c.Step(Connectivity{At: t0, Change: 99})
}
