package coordinator

import (
	"fmt"
	"testing"
	"time"
)

func executePolicy() Policy {
	p := DefaultPolicy()
	p.Mode = ModeExecute
	p.DefaultLadder = Ladder{
		{Action: "restart", Scope: ScopeAgent, Timeout: 5 * time.Minute},
		{Action: "reboot", Scope: ScopeAgent, Timeout: 10 * time.Minute, Drain: true},
		{Action: ActionIsolate, Scope: ScopeMaster},
	}
	return p
}

// cluster returns a connected coordinator over n healthy agents a0..a(n-1),
// rebuilt from records as a restarted leader would be.
func cluster(tb testing.TB, p Policy, n int) *Coordinator {
	recs := make([]AgentRecord, n)
	for i := range recs {
		recs[i] = AgentRecord{ID: AgentID(fmt.Sprintf("a%d", i)), Hostname: fmt.Sprintf("host%d", i),
			Zone: fmt.Sprintf("z%d", i%5)}
	}
	c, err := Restore(p, recs, GlobalRecord{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range []Link{MasterConnected, ZKSessionUp, Reconciled} {
		if _, err := c.Step(Connectivity{At: t0, Change: l}); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// waitingSetup returns a 1,000-agent coordinator where a7 has a step in
// flight, and the duplicate signal to send it, with waiting more agents
// whose step waits and cannot start: half in a zone at its cap, half
// excluded. Slots are free cluster-wide, so every schedule pass has reason
// to look for a startable agent.
func waitingSetup(tb testing.TB, waiting int) (*Coordinator, Signal) {
	p := executePolicy()
	p.NumAllowedRepairs = 100
	p.ZoneCaps = map[string]int{"capped": 1}
	p.MaxUnhealthyPercent = 100 // the breaker would hold everything
	recs := make([]AgentRecord, 0, 1000+waiting)
	for i := 0; i < 1000; i++ {
		recs = append(recs, AgentRecord{ID: AgentID(fmt.Sprintf("a%d", i)), Hostname: fmt.Sprintf("host%d", i),
			Zone: fmt.Sprintf("z%d", i%5)})
	}
	for i := 0; i < waiting; i++ {
		r := AgentRecord{ID: AgentID(fmt.Sprintf("w%d", i)), Hostname: fmt.Sprintf("w%d", i), Zone: "capped",
			State: StatePending, Incidents: 1, Incident: Incident{ID: 1, Problem: "kernel", OpenedAt: t0, Signals: 1,
				StepAction: "restart", StepScope: ScopeAgent, PendingSince: t0.Add(-time.Duration(i) * time.Second)}}
		if i%2 == 1 {
			r.Zone, r.Excluded = "z0", true
		}
		recs = append(recs, r)
	}
	c, err := Restore(p, recs, GlobalRecord{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range []Link{MasterConnected, ZKSessionUp, Reconciled} {
		if _, err := c.Step(Connectivity{At: t0, Change: l}); err != nil {
			tb.Fatal(err)
		}
	}
	if n := c.Status().InFlight; waiting > 0 && n != 1 {
		tb.Fatalf("setup: %d in flight, want the capped zone's one", n)
	}
	sig := Signal{At: t0, Agent: "a7", Problem: "disk_full", Source: "monitor", Message: "disk 98% full"}
	rd, err := c.Step(sig)
	if err != nil || len(rd.Actions) != 1 {
		tb.Fatalf("setup: %v %+v", err, rd)
	}
	return c, sig
}

func BenchmarkSignalAttachedToOpenIncident(b *testing.B) { benchDedup(b, 0) }

// TestSignalAttachedBudget: a duplicate signal allocates at most once,
// writes nothing, and (outside -race) costs under 2µs.
func TestSignalAttachedBudget(t *testing.T) {
	c, sig := waitingSetup(t, 0)
	var rd Ready
	allocs := testing.AllocsPerRun(1000, func() { rd, _ = c.Step(sig) })
	if allocs > 1 {
		t.Errorf("duplicate signal allocates %.1f times, budget 1", allocs)
	}
	if !rd.Persist.Empty() || len(rd.Actions) != 0 {
		t.Errorf("duplicate signal caused a write or an action: %+v", rd)
	}
	if raceEnabled || testing.Short() {
		return
	}
	res := testing.Benchmark(BenchmarkSignalAttachedToOpenIncident)
	if ns := res.NsPerOp(); ns >= 2000 {
		t.Errorf("duplicate signal costs %dns, budget 2µs", ns)
	}
}

// BenchmarkSignalDedup: a duplicate signal costs the same whatever waits.
func BenchmarkSignalDedup(b *testing.B) {
	for _, waiting := range []int{0, 20_000} {
		b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) { benchDedup(b, waiting) })
	}
}

func benchDedup(b *testing.B, waiting int) {
	c, sig := waitingSetup(b, waiting)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rd, _ := c.Step(sig)
		if len(rd.Decisions) != 1 || rd.Decisions[0].Kind != DecAttached {
			b.Fatalf("not attached: %+v", rd)
		}
	}
}

// BenchmarkTickNothingDue: a Tick with nothing due, 20,000 agents waiting.
func BenchmarkTickNothingDue(b *testing.B) {
	c, _ := waitingSetup(b, 20_000)
	tick := Tick{At: t0.Add(time.Second)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rd, _ := c.Step(tick)
		if len(rd.Decisions) != 0 || len(rd.Actions) != 0 {
			b.Fatalf("tick did something: %+v", rd)
		}
	}
}

// TestDedupCostIndependentOfQueue: with 20,000 agents waiting behind a
// zone cap or an exclusion, a duplicate signal does exactly the queue work
// it does with none waiting, and a Tick with nothing due does none (each
// event used to rescan the waiting queue). Counted, not timed: the
// benchmarks measure the time (BenchmarkSignalDedup, BenchmarkTickNothingDue).
func TestDedupCostIndependentOfQueue(t *testing.T) {
	work := func(waiting int, ev func(Event) Event) uint64 {
		c, sig := waitingSetup(t, waiting)
		before := c.queueOps()
		for range 100 {
			c.Step(ev(sig))
		}
		return c.queueOps() - before
	}
	dup := func(sig Event) Event { return sig }
	if none, many := work(0, dup), work(20_000, dup); many != none {
		t.Errorf("100 duplicate signals: %d queue operations with 20,000 waiting, %d with none; want the same", many, none)
	}
	tick := func(Event) Event { return Tick{At: t0.Add(time.Second)} }
	if n := work(20_000, tick); n != 0 {
		t.Errorf("100 ticks with nothing due and 20,000 waiting did %d queue operations, want 0", n)
	}
}

// storm sends a signal from every agent within one tick, then the tick.
func storm(tb testing.TB, c *Coordinator, n int) (starts int) {
	for i := 0; i < n; i++ {
		rd, err := c.Step(Signal{At: t0, Agent: string(stormIDs[i]), Problem: "kernel", Source: "monitor"})
		if err != nil {
			tb.Fatal(err)
		}
		starts += countStarts(rd)
	}
	rd, _ := c.Step(Tick{At: t0.Add(time.Second)})
	return starts + countStarts(rd)
}

func countStarts(rd Ready) int {
	n := 0
	for _, a := range rd.Actions {
		if a.Kind == ActLaunch || a.Kind == ActRun || a.Kind == ActIsolate {
			n++
		}
	}
	return n
}

const stormAgents = 50_000

var stormIDs = func() []AgentID {
	ids := make([]AgentID, stormAgents)
	for i := range ids {
		ids[i] = AgentID(fmt.Sprintf("a%d", i))
	}
	return ids
}()

func checkStorm(tb testing.TB, c *Coordinator, starts int) {
	st := c.Status()
	if !st.Breaker.Tripped {
		tb.Fatalf("storm of %d agents did not trip the breaker: %+v", stormAgents, st)
	}
	if starts > c.policy.NumAllowedRepairs || st.InFlight > c.policy.NumAllowedRepairs {
		tb.Fatalf("storm started %d repairs (%d in flight), cap %d", starts, st.InFlight, c.policy.NumAllowedRepairs)
	}
	if st.Unhealthy != stormAgents {
		tb.Fatalf("storm recorded %d unhealthy agents, want %d", st.Unhealthy, stormAgents)
	}
}

func BenchmarkStorm50k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := cluster(b, executePolicy(), stormAgents)
		b.StartTimer()
		starts := storm(b, c, stormAgents)
		b.StopTimer()
		checkStorm(b, c, starts)
		b.StartTimer()
	}
}

// TestStorm50k: all 50,000 agents signal within one tick; the breaker
// trips, no more repairs start than the cap, and (outside -race) it takes
// under a second.
func TestStorm50k(t *testing.T) {
	c := cluster(t, executePolicy(), stormAgents)
	start := time.Now()
	starts := storm(t, c, stormAgents)
	took := time.Since(start)
	checkStorm(t, c, starts)
	c.checkInvariants()
	if !raceEnabled && took >= time.Second {
		t.Errorf("storm took %v, budget 1s", took)
	}
}
