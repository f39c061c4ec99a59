package coordinator

import (
	"math"
	"testing"
	"time"
)

func TestSumDurSaturates(t *testing.T) {
	for _, tc := range []struct{ a, b, want time.Duration }{
		{time.Minute, time.Hour, time.Hour + time.Minute},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{150 * 365 * 24 * time.Hour, 150 * 365 * 24 * time.Hour, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{math.MaxInt64, math.MinInt64, -1},
		{0, 0, 0},
	} {
		if got := sumDur(tc.a, tc.b); got != tc.want {
			t.Errorf("sumDur(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
	// time.Time.Add saturates too, which the deadlines rely on.
	end := time.Unix(math.MaxInt64-62135596800, 999999999)
	if got := end.Add(MaxDuration); got.Before(end) {
		t.Errorf("time.Add wrapped: %v + %v = %v", end, MaxDuration, got)
	}
}

// FuzzPolicyDeadlines: whatever durations a policy holds and whatever time
// an event carries, a policy that validates and an event that is accepted
// never derive a deadline in the past, nor one the store cannot keep.
func FuzzPolicyDeadlines(f *testing.F) {
	year := int64(MaxDuration)
	f.Add(int64(0), int64(5*time.Minute), int64(15*time.Minute), int64(10*time.Minute), int64(10*time.Minute), true)
	f.Add(latestTime.UnixNano()-t0.UnixNano()-1, year, year, year, year, true)
	f.Add(int64(0), 150*year, 150*year, int64(time.Minute), 150*year, false)
	f.Add(int64(-1), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), int64(math.MaxInt64), true)
	f.Fuzz(func(t *testing.T, offset, offer, drain, step, probation int64, master bool) {
		p := executePolicy()
		p.OfferTimeout, p.DrainTimeout, p.Probation = time.Duration(offer), time.Duration(drain), time.Duration(probation)
		scope := ScopeAgent
		if master {
			scope = ScopeMaster
		}
		p.DefaultLadder = Ladder{{Action: "reboot", Scope: scope, Timeout: time.Duration(step), Drain: true}}
		c, err := New(p)
		if err != nil {
			return
		}
		now := t0.Add(time.Duration(offset))
		for _, ev := range []Event{
			AgentAdded{At: now, ID: "a1", Hostname: "h1"},
			Connectivity{At: now, Change: MasterConnected}, Connectivity{At: now, Change: ZKSessionUp},
			Connectivity{At: now, Change: Reconciled},
		} {
			if _, err := c.Step(ev); err != nil {
				return // a time outside the range: refused, nothing to check
			}
		}
		check := func(what string, d time.Time) {
			if d.Before(now) || d.After(latestTime.Add(4*MaxDuration)) {
				t.Fatalf("%s %v is outside [%v, latest + 4 years] (policy %+v)", what, d, now, p)
			}
		}
		if _, err := c.Step(Signal{At: now, Agent: "a1", Problem: "hung"}); err != nil {
			t.Fatal(err)
		}
		r, _ := c.Agent("a1")
		check("offer deadline", r.Incident.Run.deadline())
		if _, err := c.Step(StepStarted{At: now, Agent: "a1", Attempt: r.Incident.Run.Attempt}); err != nil {
			t.Fatal(err)
		}
		r, _ = c.Agent("a1")
		check("step deadline", r.Incident.Run.deadline())
		if _, err := c.Step(StepOutcome{At: now, Agent: "a1", Attempt: r.Incident.Run.Attempt, Result: ResultSucceeded}); err != nil {
			t.Fatal(err)
		}
		r, _ = c.Agent("a1")
		check("probation end", r.Incident.ProbationEnds)
	})
}
