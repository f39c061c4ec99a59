package soak

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// The verifier's checks, each shown to catch what it is for and to pass a
// clean history: a soak that cannot fail proves nothing.

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

const (
	ua1 = "healer-scheduler/dev (127.0.0.1-100)"
	ua2 = "healer-scheduler/dev (127.0.0.1-200)"
)

// clean is a history that keeps every promise: instance 100 leads,
// subscribes, reconciles, launches two steps on a cap of 2, both end.
func clean() *Observations {
	return &Observations{
		Policy:    Policy{NumAllowedRepairs: 2, Ladder: []string{"restart", "cycle", "isolate"}, StepTimeout: 10 * time.Second, KillGrace: 5 * time.Second},
		Leaders:   []LeaderSpan{{Instance: "127.0.0.1-100", From: at(0)}},
		Tolerance: 100 * time.Millisecond,
		Records: []emulator.Record{
			{At: at(1), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "SUBSCRIBE", Client: ua1},
			{At: at(1.1), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "RECONCILE", FrameworkID: "fw", Client: ua1},
			{At: at(1.2), Kind: emulator.RecordStatusUpdate, Master: "m1", FrameworkID: "fw", TaskID: "healer.reconciliation-marker.1.1", Type: "TASK_LOST"},
			{At: at(2), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
			{At: at(2), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a1", TaskID: "healer.repair.a1.1.1"},
			{At: at(3), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
			{At: at(3), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a2", TaskID: "healer.repair.a2.1.1"},
			{At: at(4), Kind: emulator.RecordStatusUpdate, Master: "m1", FrameworkID: "fw", AgentID: "a1", TaskID: "healer.repair.a1.1.1", Type: "TASK_FINISHED"},
			{At: at(5), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
			{At: at(5), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a3", TaskID: "healer.repair.a3.1.1"},
		},
		Agents: map[string][]AgentVersion{
			"/healer/agents/01/a1": {
				{Mtime: at(1.5), Version: 1, Record: coordinator.AgentRecord{ID: "a1", State: coordinator.StateRepairing, Incidents: 1,
					Incident: coordinator.Incident{ID: 1, OpenedAt: at(1.5)}}},
			},
		},
		Accepted:   []AcceptedSignal{{At: at(1.5), Agent: "a1", Incident: 1}},
		Frameworks: []string{"fw"},
	}
}

func kinds(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind)
	}
	return out
}

func TestVerifyCleanHistory(t *testing.T) {
	if vs := Verify(clean()); len(vs) > 0 {
		t.Fatalf("violations in a clean history: %v", vs)
	}
}

func TestVerifyCap(t *testing.T) {
	o := clean()
	// A third launch while both others run.
	o.Records = append(o.Records[:7:7],
		emulator.Record{At: at(3.5), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(3.5), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a3", TaskID: "healer.repair.a3.1.1"})
	vs := Verify(o)
	if !slices.Equal(kinds(vs), []string{VCap}) || !strings.Contains(vs[0].Detail, "3 steps in flight") {
		t.Fatalf("violations %v, want one cap violation", vs)
	}
	// A task without a terminal update counts until its timeout and
	// kill grace, not forever; a master-scope run counts too.
	o = clean()
	o.Records = o.Records[:8] // a2 never reports its end: it counts until 3s + 10s + 5s + 1s
	o.Records = append(o.Records,
		emulator.Record{At: at(19.5), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(19.5), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a3", TaskID: "healer.repair.a3.1.1"},
		emulator.Record{At: at(19.6), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(19.6), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a4", TaskID: "healer.repair.a4.1.1"})
	o.MasterRuns = []MasterRun{{Instance: "127.0.0.1-100", Agent: "a4", Attempt: 1, Start: at(3.2), End: at(3.4)}}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VCap}) || !strings.Contains(vs[0].Detail, "master-scope run a4/1") {
		t.Fatalf("violations %v, want the master-scope run over the cap at 3.2s only", vs)
	}
}

func TestVerifyLaunchedTwice(t *testing.T) {
	o := clean()
	o.Records = append(o.Records,
		emulator.Record{At: at(6), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(6), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a1", TaskID: "healer.repair.a1.1.1"})
	if vs := Verify(o); !slices.Contains(kinds(vs), VLaunchedTwice) {
		t.Fatalf("violations %v, want launched-twice", vs)
	}
}

func TestVerifyActors(t *testing.T) {
	// Instance 200 launches while 100 leads.
	o := clean()
	o.Records[5].Client = ua2
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VNotLeader}) || !strings.Contains(vs[0].Detail, "127.0.0.1-200") {
		t.Fatalf("violations %v, want not-leader for 127.0.0.1-200", vs)
	}
	// A launch before reconciliation finished: Immutable.
	o = clean()
	o.Records[2].At = at(2.5)
	o.Records[1], o.Records[2], o.Records[3], o.Records[4] = o.Records[3], o.Records[4], o.Records[1], o.Records[2]
	o.Records[2].At, o.Records[3].At = at(1.5), at(1.6)
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VImmutable}) {
		t.Fatalf("violations %v, want immutable", vs)
	}
	// A master-scope run by an instance whose leadership ended.
	o = clean()
	o.Leaders = []LeaderSpan{{Instance: "127.0.0.1-100", From: at(0), To: at(4)}, {Instance: "127.0.0.1-200", From: at(4)}}
	o.Records = o.Records[:8]
	o.MasterRuns = []MasterRun{{Instance: "127.0.0.1-100", Agent: "a4", Attempt: 1, Start: at(4.5), End: at(5)}}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VNotLeader}) {
		t.Fatalf("violations %v, want not-leader for the run after the leadership ended", vs)
	}
}

func TestVerifySignalsAndRecords(t *testing.T) {
	o := clean()
	o.Accepted = append(o.Accepted, AcceptedSignal{At: at(2), Agent: "a2", Incident: 1})
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VLostSignal}) {
		t.Fatalf("violations %v, want lost-signal for a2", vs)
	}
	// A record that goes back: its incident counter decreases.
	o = clean()
	p := "/healer/agents/01/a1"
	o.Agents[p] = append(o.Agents[p], AgentVersion{Mtime: at(6), Version: 2,
		Record: coordinator.AgentRecord{ID: "a1", State: coordinator.StateHealthy}})
	if vs := Verify(o); !slices.Contains(kinds(vs), VForgotten) {
		t.Fatalf("violations %v, want forgotten", vs)
	}
}

func TestVerifyIsolation(t *testing.T) {
	iso := func(actions ...string) coordinator.AgentRecord {
		r := coordinator.AgentRecord{ID: "a1", State: coordinator.StateIsolated, Incidents: 1, Attempts: uint64(len(actions))}
		for i, a := range actions {
			r.History = append(r.History, coordinator.Attempt{ID: uint64(i + 1), Incident: 1, Action: a})
		}
		return r
	}
	o := clean()
	p := "/healer/agents/01/a1"
	o.Agents[p] = append(o.Agents[p], AgentVersion{Mtime: at(6), Version: 2, Record: iso("restart", "cycle", "isolate")})
	o.Records = append(o.Records, emulator.Record{At: at(6.1), Kind: emulator.RecordOperatorCall, Type: "DEACTIVATE_AGENT", AgentID: "a1", Client: ua1})
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for an isolation after the whole ladder", vs)
	}
	o.Agents[p][1].Record = iso("restart", "isolate")
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) {
		t.Fatalf("violations %v, want isolation for a skipped step", vs)
	}
	// Asked of the master before it was persisted.
	o.Agents[p][1] = AgentVersion{Mtime: at(6.5), Version: 2, Record: iso("restart", "cycle", "isolate")}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) || !strings.Contains(vs[0].Detail, "before") {
		t.Fatalf("violations %v, want isolation for an unpersisted DEACTIVATE_AGENT", vs)
	}
	// The watch read only a later version (the acknowledgement's): the
	// isolation was persisted no earlier than decided, which is all it
	// can tell.
	late := iso("restart", "cycle", "isolate")
	late.History[2].Result, late.History[2].StartedAt = coordinator.ResultIsolated, at(6)
	o.Agents[p][1] = AgentVersion{Mtime: at(6.5), Version: 3, Record: late}
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for a DEACTIVATE_AGENT after the isolation's decision, its version unseen", vs)
	}
	late.History[2].StartedAt = at(6.2)
	o.Agents[p][1].Record = late
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) {
		t.Fatalf("violations %v, want isolation for a DEACTIVATE_AGENT before the isolation was decided", vs)
	}
}

func TestVerifyFramework(t *testing.T) {
	o := clean()
	o.Records = append(o.Records, emulator.Record{At: at(7), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "SUBSCRIBE", Client: ua1})
	o.Frameworks = []string{"fw", "fw2"}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VFramework, VFramework}) {
		t.Fatalf("violations %v, want two framework violations", vs)
	}
}

// Plan is a function of the seed: the same seed, the same faults; ten
// minutes exercise at least eight kinds.
func TestPlanReproducible(t *testing.T) {
	a, b := Plan(42, 10*time.Minute, 60), Plan(42, 10*time.Minute, 60)
	if !slices.EqualFunc(a, b, func(x, y Fault) bool { return x.String() == y.String() }) {
		t.Fatal("two plans of one seed differ")
	}
	if c := Plan(43, 10*time.Minute, 60); slices.EqualFunc(a, c, func(x, y Fault) bool { return x.String() == y.String() }) {
		t.Fatal("two seeds gave the same plan")
	}
	seen := map[string]bool{}
	for _, f := range a {
		seen[f.Kind] = true
	}
	if len(seen) < 10 {
		t.Fatalf("10 minutes plan %d kinds of fault: %v", len(seen), seen)
	}
	for _, d := range []time.Duration{3 * time.Minute, time.Minute} {
		for seed := range uint64(20) {
			kinds := map[string]bool{}
			for _, f := range Plan(seed, d, 60) {
				kinds[f.Kind] = true
			}
			if d == 3*time.Minute && len(kinds) < 8 {
				t.Errorf("seed %d: a %v plan has %d kinds", seed, d, len(kinds))
			}
		}
	}
}

// runningRecord is a record of agent id with an attempt in flight (in an
// incident of the same number), forced or not, launched at launched.
func runningRecord(id string, attempt uint64, forced bool, launched time.Time) coordinator.AgentRecord {
	return coordinator.AgentRecord{ID: coordinator.AgentID(id), Hostname: "host-" + id, State: coordinator.StateRepairing,
		Incidents: attempt, Attempts: attempt, Incident: coordinator.Incident{ID: attempt, OpenedAt: launched,
			Run: coordinator.Run{Attempt: attempt, Step: coordinator.Step{Action: "restart"}, LaunchedAt: launched, Forced: forced,
				ForcedBy: map[bool]string{true: "op"}[forced]}}}
}

func accepted(at time.Time, action, target string) store.AuditEntry {
	return store.AuditEntry{At: at, Principal: "op", Action: action, Target: target, Result: "accepted", Code: 200}
}

func TestVerifyCapForcedAside(t *testing.T) {
	// The third step (a3) over the cap of 2 is forced: no violation.
	o := clean()
	o.Records = append(o.Records[:7:7],
		emulator.Record{At: at(3.5), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(3.5), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a3", TaskID: "healer.repair.a3.1.1"})
	o.Agents["/healer/agents/02/a3"] = []AgentVersion{{Mtime: at(3.4), Version: 1, Record: runningRecord("a3", 1, true, at(3.4))}}
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for a forced step over the cap", vs)
	}
	// Healer's own start while a forced step holds a slot: the forced step
	// counts, so a start past the cap is a violation.
	o = clean()
	o.Records = append(o.Records[:5:5],
		emulator.Record{At: at(2.5), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(2.5), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a3", TaskID: "healer.repair.a3.1.1"},
		emulator.Record{At: at(3), Kind: emulator.RecordSchedulerCall, Master: "m1", Type: "ACCEPT", FrameworkID: "fw", Client: ua1},
		emulator.Record{At: at(3), Kind: emulator.RecordLaunch, Master: "m1", FrameworkID: "fw", AgentID: "a2", TaskID: "healer.repair.a2.1.1"})
	o.Agents["/healer/agents/02/a3"] = []AgentVersion{{Mtime: at(2.4), Version: 1, Record: runningRecord("a3", 1, true, at(2.4))}}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VCap}) || !strings.Contains(vs[0].Detail, "a3.1.1 (forced)") {
		t.Fatalf("violations %v, want one cap violation at a2's start with a3 forced in flight", vs)
	}
}

func TestVerifyOperatorIsolation(t *testing.T) {
	p := "/healer/agents/01/a1"
	isolated := func(h ...coordinator.Attempt) AgentVersion {
		return AgentVersion{Mtime: at(6), Version: 2, Record: coordinator.AgentRecord{ID: "a1", Hostname: "host-a1",
			State: coordinator.StateIsolated, Incidents: 1, Attempts: uint64(len(h)), History: h}}
	}
	step := func(id uint64, action string, res coordinator.Result) coordinator.Attempt {
		return coordinator.Attempt{ID: id, Incident: 1, Action: action, Result: res, StartedAt: at(5.9)}
	}
	byOp := step(2, "isolate", coordinator.ResultIsolated)
	byOp.Principal = "op"
	o := clean()
	o.Agents[p] = append(o.Agents[p], isolated(step(1, "restart", coordinator.ResultFailed), byOp))
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) || !strings.Contains(vs[0].Detail, "no accepted isolate") {
		t.Fatalf("violations %v, want isolation: an operator's isolation the audit trail does not hold", vs)
	}
	// The accepted isolate in the trail, by id or by hostname.
	for _, target := range []string{"a1", "host-a1"} {
		o.Audit = []store.AuditEntry{accepted(at(5.9), "isolate", target)}
		if vs := Verify(o); len(vs) > 0 {
			t.Fatalf("violations %v for an isolation an operator asked for (target %s)", vs, target)
		}
	}
	// Refused, or another agent's: not an operator asking.
	o.Audit = []store.AuditEntry{accepted(at(5.9), "isolate", "a2")}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) {
		t.Fatalf("violations %v, want isolation: the trail names another agent", vs)
	}
	// A forced isolation (the forced step was the ladder's isolation)
	// needs an accepted force.
	byOp.Forced = true
	o.Agents[p][1] = isolated(step(1, "restart", coordinator.ResultFailed), byOp)
	o.Audit = []store.AuditEntry{accepted(at(5.9), "isolate", "a1")}
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) || !strings.Contains(vs[0].Detail, "no accepted force") {
		t.Fatalf("violations %v, want isolation: a forced isolation without an accepted force", vs)
	}
	o.Audit = []store.AuditEntry{accepted(at(5.9), "force", "a1")}
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for a forced isolation", vs)
	}
	// The ladder's own isolation: a cancelled step was not tried, and does
	// not break the ladder.
	o.Audit = nil
	o.Agents[p][1] = isolated(step(1, "restart", coordinator.ResultFailed), step(2, "cycle", coordinator.ResultCancelled),
		step(3, "cycle", coordinator.ResultFailed), step(4, "isolate", coordinator.ResultIsolated))
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for the ladder's isolation after a cancelled step", vs)
	}
}

// A reactivated agent starts its ladder over: its later records are not
// an incident forgotten, and its next isolation must show the whole
// ladder again (or an operator asking).
func TestVerifyReactivated(t *testing.T) {
	p := "/healer/agents/01/a1"
	h := []coordinator.Attempt{
		{ID: 1, Incident: 1, Action: "restart", Result: coordinator.ResultFailed},
		{ID: 2, Incident: 1, Action: "cycle", Result: coordinator.ResultFailed},
		{ID: 3, Incident: 1, Action: "isolate", Result: coordinator.ResultIsolated},
	}
	rec := func(v int32, state coordinator.State, incidents uint64, hist []coordinator.Attempt) AgentVersion {
		r := coordinator.AgentRecord{ID: "a1", Hostname: "host-a1", State: state, Incidents: incidents,
			Attempts: uint64(len(hist)), History: hist}
		if state == coordinator.StatePending {
			r.Incident = coordinator.Incident{ID: incidents, OpenedAt: at(float64(v))}
		}
		return AgentVersion{Mtime: at(float64(v)), Version: v, Record: r}
	}
	o := clean()
	o.Agents[p] = []AgentVersion{
		rec(2, coordinator.StateIsolated, 1, h),
		rec(3, coordinator.StateHealthy, 1, h), // reactivated
		rec(4, coordinator.StatePending, 2, h),
		rec(5, coordinator.StateIsolated, 2, append(slices.Clone(h),
			coordinator.Attempt{ID: 4, Incident: 2, Action: "restart", Result: coordinator.ResultFailed},
			coordinator.Attempt{ID: 5, Incident: 2, Action: "cycle", Result: coordinator.ResultFailed},
			coordinator.Attempt{ID: 6, Incident: 2, Action: "isolate", Result: coordinator.ResultIsolated})),
	}
	o.Accepted = nil
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for an isolation, a reactivation and the whole ladder again", vs)
	}
	// Isolated again after one step: the ladder from before the
	// reactivation does not count.
	o.Agents[p][3] = rec(5, coordinator.StateIsolated, 2, append(slices.Clone(h),
		coordinator.Attempt{ID: 4, Incident: 2, Action: "restart", Result: coordinator.ResultFailed},
		coordinator.Attempt{ID: 5, Incident: 2, Action: "isolate", Result: coordinator.ResultIsolated}))
	if vs := Verify(o); !slices.Equal(kinds(vs), []string{VIsolation}) {
		t.Fatalf("violations %v, want isolation for a second isolation after one step", vs)
	}
}

func TestVerifyAuditTrail(t *testing.T) {
	o := clean()
	o.Commands = []OperatorCommand{
		{Sent: at(5), Answered: at(5.2), Action: "isolate", Target: "a1", Code: 200},
		{Sent: at(6), Answered: at(6.1), Action: "pause", Code: 200},
		{Sent: at(7), Answered: at(7.1), Action: "repair", Target: "host-a2", Code: 202},
		// Not taken, or taken without changing anything: not audited as
		// accepted.
		{Sent: at(8), Answered: at(8.1), Action: "reactivate", Target: "a2", Code: 409},
		{Sent: at(8), Answered: at(8.1), Action: "repair", Target: "host-a3", Code: 200},
		{Sent: at(9), Answered: at(14), Action: "include", Target: "a3", Code: 0},
	}
	o.Audit = []store.AuditEntry{accepted(at(5.1), "isolate", "a1"), accepted(at(6.05), "pause", ""),
		accepted(at(7.05), "repair", "host-a2"), accepted(at(9), "resume", "")}
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v with every accepted command in the trail", vs)
	}
	// The pause's entry lost; the isolate's entry written long before the
	// request (another one); the signal's entry a refusal.
	o.Audit = []store.AuditEntry{accepted(at(1), "isolate", "a1"), accepted(at(7.05), "repair", "host-a2")}
	o.Audit[1].Result = "refused"
	vs := Verify(o)
	if !slices.Equal(kinds(vs), []string{VAuditLost, VAuditLost, VAuditLost}) || !strings.Contains(vs[1].Detail, "pause") {
		t.Fatalf("violations %v, want three audit-lost", vs)
	}
}

func TestVerifyHolds(t *testing.T) {
	p := "/healer/agents/02/a2"
	o := clean()
	o.Audit = []store.AuditEntry{accepted(at(10), "pause", ""), accepted(at(20), "resume", ""),
		accepted(at(30), "exclude", "a2"), accepted(at(40), "include", "host-a2")}
	o.Agents[p] = []AgentVersion{
		{Mtime: at(9.9), Version: 1, Record: runningRecord("a2", 1, false, at(9.9))},   // before the pause
		{Mtime: at(20.1), Version: 2, Record: runningRecord("a2", 2, false, at(20.1))}, // after the resume
		{Mtime: at(41), Version: 3, Record: runningRecord("a2", 3, false, at(41))},     // after the include
	}
	if vs := Verify(o); len(vs) > 0 {
		t.Fatalf("violations %v for starts outside the pause and the exclusion", vs)
	}
	// Started while paused; and on the agent while excluded (a step of
	// its own, then the ladder's isolation); a forced step is no start of
	// healer's.
	o.Agents[p][1] = AgentVersion{Mtime: at(15), Version: 2, Record: runningRecord("a2", 2, false, at(15))}
	o.Agents[p][2] = AgentVersion{Mtime: at(35), Version: 3, Record: runningRecord("a2", 3, false, at(35))}
	iso := runningRecord("a2", 4, false, at(36))
	iso.State, iso.Incident = coordinator.StateIsolated, coordinator.Incident{}
	iso.History = []coordinator.Attempt{{ID: 1, Action: "restart"}, {ID: 2, Action: "cycle"},
		{ID: 4, Action: "isolate", Result: coordinator.ResultIsolated, StartedAt: at(36)}}
	forced := runningRecord("a2", 5, true, at(37))
	o.Agents[p] = append(o.Agents[p], AgentVersion{Mtime: at(36), Version: 4, Record: iso},
		AgentVersion{Mtime: at(37), Version: 5, Record: forced})
	vs := Verify(o)
	if !slices.Equal(kinds(vs), []string{VPaused, VExcluded, VExcluded}) || !strings.Contains(vs[2].Detail, "isolation") {
		t.Fatalf("violations %v, want paused, then excluded twice", vs)
	}
}
