package emulator

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/healer-mesos/healer/internal/testtool"
)

// A Cluster's default recorder keeps the whole run, so a verifier sees
// every record; only a Recorder given a Limit drops.
func TestClusterRecorderKeepsWholeRun(t *testing.T) {
	cl := startCluster(t, fastCluster(0))
	rec := cl.Recorder()
	for range DefaultRecorderLimit + 1 {
		rec.Add(Record{Kind: RecordFault, Type: "filler"})
	}
	if rec.Dropped() != 0 {
		t.Fatalf("a Cluster's default recorder dropped %d records", rec.Dropped())
	}
}

// TestVerifyRun checks invariants over a whole run, the way an integration
// test verifies healer: two tasks launched, the framework torn down, then
// LaunchedAtMostOnce and NoLaunchAfterTeardown over every record.
func TestVerifyRun(t *testing.T) {
	cl := startCluster(t, fastCluster(2))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("verify"))
	defer c.cancel()
	for _, id := range []string{"t1", "t2"} {
		ev := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS))
		launchOn(t, c, ev.Offers.Offers[0], id)
	}
	c.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN}) // mesos-go has no builder for TEARDOWN
	testtool.WaitFor(t, "the teardown record", 5*time.Second, func() bool {
		for _, r := range cl.Recorder().Records(RecordSchedulerCall) {
			if r.Type == "TEARDOWN" {
				return true
			}
		}
		return false
	})
	if err := cl.Recorder().Verify(LaunchedAtMostOnce, NoLaunchAfterTeardown); err != nil {
		t.Fatalf("Verify over the run: %v", err)
	}
	if n := len(cl.Recorder().Records(RecordLaunch)); n != 2 {
		t.Fatalf("%d launch records; want 2", n)
	}
}

// The invariants name the offending records, and Verify refuses a run with
// dropped records.
func TestVerifyFindsViolations(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	launch := func(s int, fw, task, agent string) Record {
		return Record{At: t0.Add(time.Duration(s) * time.Second), Kind: RecordLaunch, FrameworkID: fw, TaskID: task, AgentID: agent}
	}
	var r Recorder
	r.Add(launch(1, "f1", "t1", "a1"))
	r.Add(launch(2, "f2", "t1", "a1")) // same id, other framework: fine
	r.Add(Record{At: t0.Add(3 * time.Second), Kind: RecordSchedulerCall, FrameworkID: "f2", Type: "TEARDOWN"})
	r.Add(launch(4, "f1", "t1", "a2"))
	r.Add(launch(5, "f2", "t9", "a2"))
	err := r.Verify(LaunchedAtMostOnce, NoLaunchAfterTeardown)
	for _, want := range []string{"task t1 of framework f1 launched again", "on agent a2 (first at", "task t9 of framework f2 launched at", "after its teardown"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify: %v; want it to say %q", err, want)
		}
	}

	capped := Recorder{Limit: 2}
	for range 3 {
		capped.Add(Record{})
	}
	if err := capped.Verify(); !errors.Is(err, ErrRecordsDropped) {
		t.Fatalf("Verify after drops: %v; want ErrRecordsDropped", err)
	}
}
