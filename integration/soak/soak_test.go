package soak

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// TestSoak is the soak: make soak (SOAK_DURATION=10m, SEED=... to replay a
// run's faults). See docs/soak.md.
func TestSoak(t *testing.T) {
	if os.Getenv("SOAK_DURATION") == "" {
		t.Skip("the soak runs with make soak (SOAK_DURATION=10m SEED=...)")
	}
	s := settingsFromEnv(t)
	plan := Plan(s.seed, s.duration, s.agents)
	t.Logf("soak: seed %d, %v, %d agents (%d with the real healer-executor), %d healer-scheduler instances, %d faults planned",
		s.seed, s.duration, s.agents, s.realAgents, s.schedulers, len(plan))
	e := newEnv(t, s)
	events, err := os.Create(filepath.Join(e.dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	begin := time.Now()
	logf := func(format string, args ...any) {
		line := fmt.Sprintf("%8.3fs %s", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
		fmt.Fprintln(events, line)
		t.Log(line)
	}
	for _, f := range plan {
		fmt.Fprintln(events, "plan:", f)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := startWatch(ctx, e.zk.Addr, "/healer")
	if err != nil {
		t.Fatalf("ZooKeeper watch: %v", err)
	}
	defer w.close()
	for range s.schedulers {
		if e.startScheduler() == nil {
			t.FailNow()
		}
	}
	d := newDriver(e, w, logf)
	if !waitCond(90*time.Second, func() bool { ok, _ := d.converged(); return ok }) {
		_, why := d.converged()
		t.Fatalf("healer never settled before the faults: %s", why)
	}
	logf("settled: faults begin")

	d.run(ctx, plan, s.duration)
	logf("faults end: healing everything")
	d.quiesce(ctx)
	healed := time.Now()
	var why string
	converged := waitCond(s.converge, func() bool {
		var ok bool
		ok, why = d.converged()
		return ok
	})
	convergedIn := time.Since(healed)
	logf("converged %t after %v", converged, convergedIn.Round(time.Second))

	// Final counts while everything still runs.
	writes := 0
	for _, p := range e.live() {
		writes += p.zkWrites()
	}
	trail := d.auditTrail()
	cancel()
	w.close()

	obs := d.observations(w, trail)
	violations := Verify(obs)
	if !converged {
		violations = append(violations, Violation{At: time.Now(), Kind: VConvergence, Detail: fmt.Sprintf(
			"not converged %v after the faults stopped: %s", s.converge, why)})
	}
	violations = append(violations, d.processViolations()...)
	sort.SliceStable(violations, func(i, j int) bool { return violations[i].At.Before(violations[j].At) })

	summary := d.summary(obs, violations, convergedIn, converged, writes)
	fmt.Fprint(events, summary)
	for _, v := range violations {
		fmt.Fprintln(events, "violation:", v)
	}
	fmt.Print(summary)
	if len(violations) > 0 {
		t.Errorf("%d violations; the seed reproduces the faults: make soak SEED=%d SOAK_DURATION=%v", len(violations), s.seed, s.duration)
	}
}

// waitCond polls cond every half second until it holds or timeout passes.
func waitCond(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(500 * time.Millisecond) // polling the system's state
	}
}

// observations gathers what the run left; trail is GET /audit's answer,
// which fills in audit entries the watch did not read.
func (d *driver) observations(w *zkWatch, trail []store.AuditEntry) *Observations {
	rec := d.e.c.Recorder()
	w.mu.Lock()
	defer w.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	return &Observations{
		Policy:  Policy{NumAllowedRepairs: numAllowedRepairs, Ladder: ladder, StepTimeout: stepTimeout, KillGrace: killGrace},
		Records: rec.Records(), Dropped: rec.Dropped(),
		Leaders: append([]LeaderSpan(nil), w.leaders...), Agents: w.agents, Frameworks: w.framework,
		MasterRuns: d.masterRuns(), Accepted: d.accepted,
		Commands: d.commands, Audit: mergeAudit(w.audit, trail),
		Tolerance: 250 * time.Millisecond,
	}
}

// processViolations: data races, panics and exits nobody asked for.
func (d *driver) processViolations() []Violation {
	var out []Violation
	d.e.mu.Lock()
	procs := append([]*proc(nil), d.e.procs...)
	d.e.mu.Unlock()
	for _, p := range procs {
		f, err := os.Open(p.log)
		if err != nil {
			out = append(out, Violation{Kind: VProcess, Detail: p.instance + ": " + err.Error()})
			continue
		}
		problems, known := ScanLog(f)
		f.Close()
		for _, line := range problems {
			out = append(out, Violation{Kind: VProcess, Detail: p.instance + ": " + line + " (log " + p.log + ")"})
		}
		d.knownRaces = append(d.knownRaces, known...)
		if !p.alive() && !p.killed.Load() {
			out = append(out, Violation{Kind: VProcess, Detail: fmt.Sprintf("%s exited by itself: %v (log %s)", p.instance, p.err, p.log)})
		}
	}
	return out
}

func (d *driver) summary(o *Observations, violations []Violation, convergedIn time.Duration, converged bool, writes int) string {
	var b strings.Builder
	s := d.e.s
	fmt.Fprintf(&b, "\n=== soak summary: seed %d (make soak SEED=%d SOAK_DURATION=%v replays these faults)\n", s.seed, s.seed, s.duration)
	fmt.Fprintf(&b, "run: %v of faults, %d agents (%d with the real healer-executor), %d healer-scheduler instances at a time, %d started in all\n",
		s.duration, s.agents, s.realAgents, s.schedulers, len(d.e.procs))
	fmt.Fprintf(&b, "faults injected, by kind:\n")
	var kinds []string
	for k := range d.injected {
		kinds = append(kinds, k)
	}
	for k := range d.skipped {
		if d.injected[k] == 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	total, skipped := 0, 0
	for _, k := range kinds {
		total += d.injected[k]
		skipped += d.skipped[k]
		line := fmt.Sprintf("  %-20s %4d", k, d.injected[k])
		if d.skipped[k] > 0 {
			line += fmt.Sprintf("   (%d more found nothing to hit)", d.skipped[k])
		}
		b.WriteString(line + "\n")
	}
	fmt.Fprintf(&b, "  %-20s %4d   (%d kinds)\n", "total", total, len(kinds))

	posted := 0
	for _, n := range d.answers {
		posted += n
	}
	var codes []string
	for code, n := range d.answers {
		codes = append(codes, fmt.Sprintf("%d %s: %d", code, http.StatusText(code), n))
	}
	sort.Strings(codes)
	fmt.Fprintf(&b, "signals: %d posted by storms (%s); monitors reported the rest\n", posted, strings.Join(codes, ", "))
	byOp := map[string]map[int]int{}
	ops := 0
	for _, c := range o.Commands {
		if c.Action == "repair" {
			continue
		}
		ops++
		if byOp[c.Action] == nil {
			byOp[c.Action] = map[int]int{}
		}
		byOp[c.Action][c.Code]++
	}
	var opLines []string
	for op, m := range byOp {
		var cs []string
		for code, n := range m {
			cs = append(cs, fmt.Sprintf("%d×%d", code, n))
		}
		sort.Strings(cs)
		opLines = append(opLines, op+" "+strings.Join(cs, " "))
	}
	sort.Strings(opLines)
	fmt.Fprintf(&b, "operator: %d commands (by answer: %s)\n", ops, strings.Join(opLines, "; "))
	accepted, ours := 0, 0
	for _, c := range o.Commands {
		if c.accepted() {
			accepted++
		}
	}
	for _, a := range o.Audit {
		if a.Principal == operatorName {
			ours++
		}
	}
	pauses, exclusions := o.holds()
	forced := len(o.forcedAttempts())
	fmt.Fprintf(&b, "audit trail: %d entries (%d read by the watch, %d more from GET /audit), %d of them the soak's; "+
		"%d accepted requests looked up in it; %d pauses and %d exclusions held against %d starts; %d forced steps set aside by the cap check\n",
		len(o.Audit), len(d.w.audit), len(o.Audit)-len(d.w.audit), ours, accepted, len(pauses), len(exclusions), len(o.starts()), forced)

	launches, masterRuns := 0, len(o.MasterRuns)
	for _, r := range o.Records {
		if r.Kind == emulator.RecordLaunch && strings.HasPrefix(r.TaskID, repairPrefix) {
			launches++
		}
	}
	results := map[string]int{}
	isolations, byOperator := 0, 0
	for _, vs := range o.Agents {
		final := map[uint64]coordinator.Attempt{}
		for _, v := range vs {
			for _, h := range v.Record.History {
				final[h.ID] = h
			}
		}
		for _, h := range final {
			results[h.Result.String()]++
			if h.Action == "isolate" {
				isolations++
				if h.Principal != "" {
					byOperator++
				}
			}
		}
	}
	var rs []string
	for r, n := range results {
		rs = append(rs, fmt.Sprintf("%s %d", r, n))
	}
	sort.Strings(rs)
	fmt.Fprintf(&b, "repairs: %d repair tasks launched on agents, %d master-scope runs; step outcomes: %s; %d isolations (%d asked by the operator)\n",
		launches, masterRuns, strings.Join(rs, ", "), isolations, byOperator)

	masterLeaders := 0
	for _, r := range o.Records {
		if r.Kind == emulator.RecordLeader {
			masterLeaders++
		}
	}
	fmt.Fprintf(&b, "checked: %d launches, kills, operator calls and master-scope runs against who led and was reconciled\n",
		len(o.actions()))
	fmt.Fprintf(&b, "failovers: %d healer leadership changes (%d leaders in all), %d Mesos master elections\n",
		max(0, len(o.Leaders)-1), len(o.Leaders), masterLeaders)
	versions := 0
	for _, vs := range o.Agents {
		versions += len(vs)
	}
	fmt.Fprintf(&b, "ZooKeeper: %d agent-record versions read by the watch (%d written between two reads, not seen); "+
		"%d writes by the instances running at the end\n", versions, d.w.skipped, writes)
	for _, e := range d.w.errs {
		fmt.Fprintf(&b, "  watch error: %s\n", e)
	}
	if converged {
		fmt.Fprintf(&b, "converged %v after the faults stopped (bound %v)\n", convergedIn.Round(time.Second), s.converge)
	}
	if len(d.knownRaces) > 0 {
		n := map[string]int{}
		for _, k := range d.knownRaces {
			n[k]++
		}
		for k, c := range n {
			fmt.Fprintf(&b, "known upstream data race, not healer's (docs/soak.md): %s, %d times\n", k, c)
		}
	}
	fmt.Fprintf(&b, "violations: %d\n", len(violations))
	byKind := map[string]int{}
	for _, v := range violations {
		byKind[v.Kind]++
	}
	for k, n := range byKind {
		fmt.Fprintf(&b, "  %-16s %d\n", k, n)
	}
	for i, v := range violations {
		if i == 50 {
			fmt.Fprintf(&b, "  ... %d more in events.log\n", len(violations)-50)
			break
		}
		fmt.Fprintf(&b, "  %s\n", v)
	}
	return b.String()
}
