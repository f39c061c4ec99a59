package soak

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/scheduler/coordinator"
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
