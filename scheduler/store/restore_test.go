package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

func restorePolicy() coordinator.Policy {
	p := coordinator.DefaultPolicy()
	p.Mode = coordinator.ModeExecute
	p.NumAllowedRepairs = 5
	p.DefaultLadder = coordinator.Ladder{
		{Action: "restart-agent", Scope: coordinator.ScopeAgent, Timeout: 5 * time.Minute},
		{Action: "reboot", Scope: coordinator.ScopeAgent, Drain: true},
		{Action: "power-cycle", Scope: coordinator.ScopeMaster, Approval: true},
		{Action: coordinator.ActionIsolate, Scope: coordinator.ScopeMaster},
	}
	return p
}

// driven runs a coordinator through a history that leaves records of every
// kind: an incident with a step in flight (on a drained agent), one waiting
// for approval, one in probation, a killed step not yet ended, an isolated
// (isolation owed) and excluded agent, a removed
// machine's tombstone, a machine that re-registered under a new id, and
// histories of failed, timed-out, succeeded and isolated attempts; the
// global record holds a pause and a start time.
func driven(t *testing.T) *coordinator.Coordinator {
	t.Helper()
	c, err := coordinator.New(restorePolicy())
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	step := func(ev coordinator.Event) coordinator.Ready {
		t.Helper()
		rd, err := c.Step(ev)
		if err != nil {
			t.Fatalf("%T %+v: %v", ev, ev, err)
		}
		return rd
	}
	launched := func(id coordinator.AgentID) uint64 {
		t.Helper()
		rec, _ := c.Agent(id)
		if rec.State != coordinator.StateRepairing {
			t.Fatalf("%s is %v, want repairing", id, rec.State)
		}
		return rec.Incident.Run.Attempt
	}
	tick := func(d time.Duration) {
		now = now.Add(d)
		step(coordinator.Tick{At: now})
	}
	for _, l := range []coordinator.Link{coordinator.MasterConnected, coordinator.Reconciled, coordinator.ZKSessionUp} {
		step(coordinator.Connectivity{At: now, Change: l})
	}
	for i, h := range []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7"} {
		zone := []string{"z1", "z2"}[i%2]
		step(coordinator.AgentAdded{At: now, ID: coordinator.AgentID("a" + h[1:]), Hostname: h, Zone: zone})
	}

	// a1: step 1 fails, step 2 (drain) is launched and started: in flight.
	tick(time.Second)
	step(coordinator.Signal{At: now, Agent: "a1", Problem: "disk_full", Source: "alertmanager", Message: "/ is 97% full"})
	step(coordinator.StepStarted{At: now, Agent: "a1", Attempt: launched("a1")})
	tick(time.Second)
	step(coordinator.StepOutcome{At: now, Agent: "a1", Attempt: launched("a1"), Result: coordinator.ResultFailed, ExitCode: 3,
		OutputTail: "restart failed\xff\n"})
	tick(time.Second)
	step(coordinator.StepStarted{At: now, Agent: "a1", Attempt: launched("a1")})
	step(coordinator.Signal{At: now, Agent: "h1", Problem: "disk_full", Source: "monitor", Message: "still full"})

	// a2: steps 1 and 2 time out (the first killed, its end confirmed);
	// step 3 waits for approval.
	tick(time.Second)
	step(coordinator.Signal{At: now, Agent: "a2", Problem: "agent_unhealthy", Source: "monitor"})
	step(coordinator.StepStarted{At: now, Agent: "a2", Attempt: launched("a2")})
	tick(6 * time.Minute)
	killed, _ := c.Agent("a2")
	step(coordinator.StepOutcome{At: now, Agent: "a2", Attempt: killed.Killing.Attempt, Result: coordinator.ResultFailed, ExitCode: 137})
	step(coordinator.StepStarted{At: now, Agent: "a2", Attempt: launched("a2")})
	step(coordinator.StepOutcome{At: now, Agent: "a2", Attempt: launched("a2"), Result: coordinator.ResultTimedOut})
	tick(time.Second)

	// a3: step 1 succeeds: probation.
	step(coordinator.Signal{At: now, Agent: "a3", Problem: "docker_down", Source: "monitor"})
	step(coordinator.StepStarted{At: now, Agent: "a3", Attempt: launched("a3")})
	step(coordinator.StepOutcome{At: now, Agent: "a3", Attempt: launched("a3"), Result: coordinator.ResultSucceeded})

	// a7: its started step is cancelled; the kill is not yet confirmed.
	step(coordinator.Signal{At: now, Agent: "a7", Problem: "docker_down", Source: "monitor"})
	step(coordinator.StepStarted{At: now, Agent: "a7", Attempt: launched("a7")})
	step(coordinator.Command{At: now, Op: coordinator.OpCancel, Agent: "a7", Principal: "erin"})

	// a4: isolated and excluded by operators.
	step(coordinator.Command{At: now, Op: coordinator.OpIsolate, Agent: "a4", Principal: "alice", Reason: "bad DIMM"})
	step(coordinator.Command{At: now, Op: coordinator.OpExclude, Agent: "a4", Principal: "alice", Reason: "RMA"})

	// a5: removed with an incident open: a tombstone.
	step(coordinator.Signal{At: now, Agent: "a5", Problem: "disk_full", Source: "alertmanager"})
	tick(time.Second)
	step(coordinator.AgentRemoved{At: now, ID: "a5"})

	// a6: reboots under a new id (a6-new), keeping its record.
	step(coordinator.Command{At: now, Op: coordinator.OpIsolate, Agent: "a6", Principal: "bob"})
	step(coordinator.AgentRemoved{At: now, ID: "a6"})
	tick(time.Second)
	step(coordinator.AgentAdded{At: now, ID: "a6-new", Hostname: "h6", Zone: "z2"})

	step(coordinator.Command{At: now, Op: coordinator.OpPause, Principal: "carol", Reason: "maintenance week"})
	tick(time.Second)
	return c
}

// TestRestoreFromDecodedRecords: a coordinator restored from encoded and
// decoded records holds exactly the original's records, and then decides
// exactly as one restored from the original records themselves.
func TestRestoreFromDecodedRecords(t *testing.T) {
	orig := driven(t)
	records, global := orig.Records()
	checkVariety(t, records, global)

	decoded := make([]coordinator.AgentRecord, len(records))
	for i, r := range records {
		b, err := EncodeAgent(r)
		if err != nil {
			t.Fatal(err)
		}
		if decoded[i], err = DecodeAgent(b); err != nil {
			t.Fatal(err)
		}
	}
	gb, err := EncodeGlobal(global)
	if err != nil {
		t.Fatal(err)
	}
	dglobal, err := DecodeGlobal(gb)
	if err != nil {
		t.Fatal(err)
	}

	restored, err := coordinator.Restore(restorePolicy(), decoded, dglobal)
	if err != nil {
		t.Fatalf("Restore on decoded records: %v", err)
	}
	gotRecords, gotGlobal := restored.Records()
	for i := range records {
		records[i] = normalise(records[i])
	}
	if !reflect.DeepEqual(gotRecords, records) {
		t.Errorf("restored records differ from the original's:\n got %+v\nwant %+v", gotRecords, records)
	}
	if !reflect.DeepEqual(gotGlobal, global) {
		t.Errorf("restored global record differs: got %+v, want %+v", gotGlobal, global)
	}

	// Both rebuilds must decide alike from here on.
	twin, err := coordinator.Restore(restorePolicy(), records, global)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	a2, _ := restored.Agent("a2")
	for i, ev := range []coordinator.Event{
		coordinator.Connectivity{At: now, Change: coordinator.MasterConnected},
		coordinator.Connectivity{At: now, Change: coordinator.Reconciled},
		coordinator.Connectivity{At: now, Change: coordinator.ZKSessionUp},
		coordinator.Command{At: now, Op: coordinator.OpResume, Principal: "carol"},
		coordinator.Command{At: now, Op: coordinator.OpApprove, Agent: "a2", Incident: 1, Attempt: a2.Incident.ApprovalAttempt, Principal: "dave"},
		coordinator.ActionApplied{At: now, Agent: "a4", Kind: coordinator.ActIsolate, Attempt: 1},
		coordinator.Tick{At: now.Add(time.Hour)},
		coordinator.AgentAdded{At: now.Add(time.Hour), ID: "a5-new", Hostname: "h5"},
		coordinator.Tick{At: now.Add(2 * time.Hour)},
	} {
		got, gerr := restored.Step(ev)
		want, werr := twin.Step(ev)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gerr, werr) {
			t.Fatalf("event %d (%T): the rebuilds decide differently:\n got %+v %v\nwant %+v %v", i, ev, got, gerr, want, werr)
		}
	}
}

// checkVariety makes sure the scenario still produces the records the test
// is meant to carry through the codec.
func checkVariety(t *testing.T, records []coordinator.AgentRecord, g coordinator.GlobalRecord) {
	t.Helper()
	var inFlight, drained, awaiting, probation, isolated, excluded, removed, previous, history, killing, owed bool
	for _, r := range records {
		killing = killing || r.Killing.Attempt != 0
		owed = owed || r.IsolateOwed != 0
		inFlight = inFlight || !r.Incident.Run.StartedAt.IsZero()
		drained = drained || r.Drained
		awaiting = awaiting || r.State == coordinator.StateAwaitingApproval && r.Incident.ApprovalAttempt != 0
		probation = probation || r.State == coordinator.StateProbation
		isolated = isolated || !r.IsolatedAt.IsZero()
		excluded = excluded || r.Excluded
		removed = removed || !r.RemovedAt.IsZero()
		previous = previous || r.PreviousID != ""
		history = history || len(r.History) > 1
	}
	for what, ok := range map[string]bool{"a started step in flight": inFlight, "a drained agent": drained,
		"an incident awaiting approval": awaiting, "probation": probation, "an isolated agent": isolated,
		"an excluded agent": excluded, "a tombstone": removed, "a re-registered machine": previous,
		"a history of several attempts": history, "a killed step not yet ended": killing, "an owed isolation": owed,
		"a pause": g.Paused, "a tripped breaker": g.Breaker.Tripped, "a last start": !g.LastStartAt.IsZero()} {
		if !ok {
			t.Errorf("the scenario left no record with %s", what)
		}
	}
}
