package coordinator

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the actual output")

// TestScenarios replays testdata/*.txt. Each file is a specification: blocks
// of one command, a "----" line, and the expected output up to a blank
// line. Lines starting with # between blocks are commentary.
//
// A command line may hold several commands separated by " / ", run in
// order (their outputs concatenated), and end in "-> what, ..." (the
// shorthand issues are written in): each comma-separated fragment must
// appear in the output, checked even with -update.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScenario(t, f) })
	}
}

func runScenario(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := &scenario{t: t, policy: DefaultPolicy(), now: t0}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var out strings.Builder
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmd, cmdLine := line, i+1
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q is not followed by ----", path, cmdLine, cmd)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		got := sc.runLine(path, cmdLine, cmd)
		out.WriteString(cmd + "\n----\n" + got)
		if i < len(lines) {
			out.WriteString("\n")
		}
		if !*update && got != joinLines(want) {
			t.Errorf("%s:%d: %s\n--- want\n%s--- got\n%s", path, cmdLine, cmd, joinLines(want), got)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func joinLines(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// runLine runs one command line: commands separated by " / ", and an
// optional "-> expectations" suffix checked against the output.
func (sc *scenario) runLine(path string, n int, line string) string {
	cmds, expect, _ := strings.Cut(line, "->")
	var out strings.Builder
	for _, cmd := range strings.Split(cmds, " / ") {
		out.WriteString(sc.run(strings.TrimSpace(cmd)))
	}
	if strings.TrimSpace(expect) != "" {
		for _, want := range strings.Split(expect, ",") {
			if want = strings.TrimSpace(want); !strings.Contains(out.String(), want) {
				sc.t.Errorf("%s:%d: %s\nexpected %q in the output:\n%s", path, n, line, want, out.String())
			}
		}
	}
	return out.String()
}

type scenario struct {
	t      *testing.T
	policy Policy
	now    time.Time
	s      *stepper
}

// run executes one command and returns its output.
func (sc *scenario) run(line string) string {
	args := splitArgs(line)
	var b strings.Builder
	kv := keyvals(args)
	ev := func(e Event) {
		if sc.s == nil {
			sc.t.Fatalf("%q before start", line)
		}
		if at, ok := kv["at"]; ok {
			e = withTime(e, sc.at(at))
		}
		rd, err := sc.s.step(e)
		formatReady(&b, rd)
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
		}
	}
	switch args[0] {
	case "policy":
		sc.policy = DefaultPolicy()
		for k, v := range kv {
			sc.setPolicy(k, v)
		}
		b.WriteString("ok\n")
	case "ladder":
		l := parseLadder(sc.t, args[2:])
		if args[1] == "default" {
			sc.policy.DefaultLadder = l
		} else {
			if sc.policy.Ladders == nil {
				sc.policy.Ladders = map[string]Ladder{}
			}
			sc.policy.Ladders[args[1]] = l
		}
		b.WriteString("ok\n")
	case "start":
		c, err := New(sc.policy)
		if err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		sc.s = &stepper{tb: sc.t, c: c, store: newStore()}
		b.WriteString("ok\n")
	case "crash":
		// The process dies; a new one rebuilds from the store alone.
		c, err := Restore(sc.policy, sc.s.store.records(), sc.s.store.global)
		if err != nil {
			sc.t.Fatalf("restore: %v", err)
		}
		c.checkInvariants()
		sc.s.c = c
		fmt.Fprintf(&b, "restored %d agents; immutable: %s\n", len(c.agents), c.Immutable().Why)
	case "legacy":
		// The store's records become what a healer from before ladder
		// positions carried their step wrote: bare indices.
		for id, r := range sc.s.store.agents {
			r.NextAction, r.NextScope, r.NextProblem = "", 0, ""
			r.Incident.StepAction, r.Incident.StepScope = "", 0
			sc.s.store.agents[id] = r
		}
		b.WriteString("ok\n")
	case "agent":
		ev(AgentAdded{At: sc.now, ID: AgentID(args[1]), Hostname: kv["host"], Zone: kv["zone"]})
	case "update":
		ev(AgentUpdated{At: sc.now, ID: AgentID(args[1]), Hostname: kv["host"], Zone: kv["zone"]})
	case "remove":
		ev(AgentRemoved{At: sc.now, ID: AgentID(args[1])})
	case "agents":
		// agents N [zones=z1,z2]: a1..aN on hosts h1..hN, zones round-robin;
		// only a count is shown.
		n, _ := strconv.Atoi(args[1])
		zones := []string{""}
		if z, ok := kv["zones"]; ok {
			zones = strings.Split(z, ",")
		}
		for i := 1; i <= n; i++ {
			if _, err := sc.s.step(AgentAdded{At: sc.now, ID: AgentID(fmt.Sprintf("a%d", i)),
				Hostname: fmt.Sprintf("h%d", i), Zone: zones[(i-1)%len(zones)]}); err != nil {
				sc.t.Fatal(err)
			}
		}
		fmt.Fprintf(&b, "%d agents known\n", len(sc.s.c.agents))
	case "connect":
		ev(Connectivity{At: sc.now, Change: MasterConnected})
		ev(Connectivity{At: sc.now, Change: ZKSessionUp})
		ev(Connectivity{At: sc.now, Change: Reconciled})
	case "master", "zk":
		links := map[string]Link{"master up": MasterConnected, "master down": MasterDisconnected,
			"zk up": ZKSessionUp, "zk down": ZKSessionDown}
		ev(Connectivity{At: sc.now, Change: links[args[0]+" "+args[1]]})
	case "reconciled":
		ev(Connectivity{At: sc.now, Change: Reconciled})
	case "signal":
		problem := ""
		if len(args) > 2 && !strings.Contains(args[2], "=") {
			problem = args[2]
		}
		ev(Signal{At: sc.now, Agent: args[1], Problem: problem, Source: kv["src"], Message: kv["msg"]})
	case "started":
		n, _ := strconv.ParseUint(args[2], 10, 64)
		ev(StepStarted{At: sc.now, Agent: AgentID(args[1]), Attempt: n})
	case "outcome":
		n, _ := strconv.ParseUint(args[2], 10, 64)
		results := map[string]Result{"ok": ResultSucceeded, "fail": ResultFailed, "timeout": ResultTimedOut,
			"lost": ResultLost, "nooffer": ResultNoOffer, "bogus": 99}
		exit, _ := strconv.Atoi(kv["exit"])
		ev(StepOutcome{At: sc.now, Agent: AgentID(args[1]), Attempt: n, Result: results[args[3]],
			ExitCode: exit, OutputTail: kv["tail"]})
	case "applied":
		// applied <agent> isolate|reactivate|up|launch [attempt=N] [incident=N]
		kinds := map[string]ActionKind{"isolate": ActIsolate, "reactivate": ActReactivate, "up": ActUp, "launch": ActLaunch}
		e := ActionApplied{At: sc.now, Agent: AgentID(args[1]), Kind: kinds[args[2]]}
		e.Attempt, _ = strconv.ParseUint(kv["attempt"], 10, 64)
		e.Incident, _ = strconv.ParseUint(kv["incident"], 10, 64)
		ev(e)
	case "owed":
		for _, a := range sc.s.c.Owed() {
			fmt.Fprintf(&b, "%s\n", formatAction(a))
		}
	case "op":
		ops := map[string]Op{"approve": OpApprove, "cancel": OpCancel, "isolate": OpIsolate,
			"reactivate": OpReactivate, "exclude": OpExclude, "include": OpInclude, "pause": OpPause,
			"resume": OpResume, "force": OpForce, "bogus": 99}
		by, ok := kv["by"]
		if !ok {
			by = "ops"
		}
		cmd := Command{At: sc.now, Op: ops[args[1]], Principal: by, Reason: kv["reason"], Problem: kv["problem"]}
		if len(args) > 2 && !strings.Contains(args[2], "=") {
			cmd.Agent = AgentID(args[2])
		}
		if n, ok := kv["incident"]; ok {
			cmd.Incident, _ = strconv.ParseUint(n, 10, 64)
		}
		if n, ok := kv["attempt"]; ok {
			cmd.Attempt, _ = strconv.ParseUint(n, 10, 64)
		}
		ev(cmd)
	case "tick", "advance":
		if len(args) > 1 && !strings.Contains(args[1], "=") {
			d, err := time.ParseDuration(strings.TrimPrefix(args[1], "+"))
			if err != nil {
				sc.t.Fatalf("%q: %v", line, err)
			}
			sc.now = sc.now.Add(d)
		}
		if args[0] == "tick" {
			ev(Tick{At: sc.now})
		} else {
			fmt.Fprintf(&b, "now %s\n", rel(sc.now))
		}
	case "status":
		st := sc.s.c.Status()
		fmt.Fprintf(&b, "mode=%s immutable=%v", st.Mode, st.Immutable.Immutable)
		if st.Immutable.Immutable {
			fmt.Fprintf(&b, "(%s since %s)", st.Immutable.Why, rel(st.Immutable.Since))
		}
		fmt.Fprintf(&b, " paused=%v breaker=%v known=%d unhealthy=%d in-flight=%d forced=%d",
			st.Paused, st.Breaker.Tripped, st.Known, st.Unhealthy, st.InFlight, st.Forced)
		if st.Killing > 0 || st.Owing > 0 {
			fmt.Fprintf(&b, " killing=%d owing=%d", st.Killing, st.Owing)
		}
		b.WriteString("\n")
		k := st.Counts
		fmt.Fprintf(&b, "healthy=%d pending=%d awaiting-approval=%d repairing=%d probation=%d isolated=%d excluded=%d",
			k.Healthy, k.Pending, k.AwaitingApproval, k.Repairing, k.Probation, k.Isolated, k.Excluded)
		if k.Removed > 0 {
			fmt.Fprintf(&b, " removed=%d", k.Removed)
		}
		if st.UnhealthyRemoved > 0 {
			fmt.Fprintf(&b, " removed-in-incident=%d", st.UnhealthyRemoved)
		}
		if st.Unhealthy > st.Known || st.Known != st.Registered+st.UnhealthyRemoved {
			sc.t.Errorf("status counts inconsistent: %+v", st)
		}
		b.WriteString("\n")
	case "show":
		r, ok := sc.s.c.Agent(AgentID(args[1]))
		if !ok {
			return "unknown\n"
		}
		fmt.Fprintf(&b, "%s\n", formatRecord(&r))
		for _, h := range r.History {
			fmt.Fprintf(&b, "  attempt %d incident=%d %s/%s %s..%s %s exit=%d tail=%q forced=%v by=%s\n",
				h.ID, h.Incident, h.Action, h.Scope, rel(h.StartedAt), rel(h.EndedAt), h.Result, h.ExitCode,
				h.OutputTail, h.Forced, h.Principal)
		}
		if r.Incident.ID != 0 {
			fmt.Fprintf(&b, "  incident signals=%d last-signal=%s source=%s message=%q\n",
				r.Incident.Signals, rel(r.Incident.LastSignalAt), r.Incident.Source, r.Incident.Message)
		}
	case "incidents":
		for _, o := range sc.s.c.OpenIncidents() {
			fmt.Fprintf(&b, "%s %s incident=%d:%s opened=%s step=%d", o.Agent, o.State, o.Incident.ID,
				o.Incident.Problem, rel(o.Incident.OpenedAt), o.Incident.Step+1)
			if !o.RemovedAt.IsZero() {
				fmt.Fprintf(&b, " removed=%s", rel(o.RemovedAt))
			}
			b.WriteString("\n")
		}
	case "machine":
		for _, r := range sc.s.c.Machine(args[1]) {
			fmt.Fprintf(&b, "%s\n", formatRecord(&r))
		}
	default:
		sc.t.Fatalf("unknown command %q", line)
	}
	return b.String()
}

// at reads an event's own time, at=: "zero", or a duration before (-) or
// after (+) the scenario's clock, which it does not move.
func (sc *scenario) at(v string) time.Time {
	if v == "zero" {
		return time.Time{}
	}
	d, err := time.ParseDuration(strings.TrimPrefix(v, "+"))
	if err != nil {
		sc.t.Fatalf("at=%s: %v", v, err)
	}
	return sc.now.Add(d)
}

func (sc *scenario) setPolicy(k, v string) {
	p := &sc.policy
	dur := func() time.Duration {
		d, err := time.ParseDuration(v)
		if err != nil {
			sc.t.Fatalf("policy %s=%s: %v", k, v, err)
		}
		return d
	}
	num := func() int {
		n, err := strconv.Atoi(v)
		if err != nil {
			sc.t.Fatalf("policy %s=%s: %v", k, v, err)
		}
		return n
	}
	switch k {
	case "mode":
		m, err := ParseMode(v)
		if err != nil {
			sc.t.Fatal(err)
		}
		p.Mode = m
	case "cap":
		p.NumAllowedRepairs = num()
	case "zone_cap":
		p.ZoneCap = num()
	case "zone_caps": // zone:cap,...
		p.ZoneCaps = map[string]int{}
		for _, kv := range strings.Split(v, ",") {
			zone, n, _ := strings.Cut(kv, ":")
			cap, err := strconv.Atoi(n)
			if err != nil {
				sc.t.Fatalf("policy zone_caps=%s: %v", v, err)
			}
			p.ZoneCaps[zone] = cap
		}
	case "max_unhealthy_percent":
		p.MaxUnhealthyPercent = num()
	case "max_unhealthy_min":
		p.MaxUnhealthyMin = num()
	case "spacing":
		p.MinSpacing = dur()
	case "probation":
		p.Probation = dur()
	case "reset_after":
		p.ResetAfter = dur()
	case "offer_timeout":
		p.OfferTimeout = dur()
	case "drain_timeout":
		p.DrainTimeout = dur()
	case "step_timeout":
		p.DefaultStepTimeout = dur()
	case "kill_confirm_timeout":
		p.KillConfirmTimeout = dur()
	case "isolation":
		p.Isolation = map[string]IsolationMethod{"deactivate": IsolateDeactivate, "drain": IsolateDrain,
			"maintenance_down": IsolateMaintenanceDown}[v]
	default:
		sc.t.Fatalf("unknown policy key %q", k)
	}
}

// parseLadder reads steps written action:scope[:timeout][:approval][:drain].
func parseLadder(t *testing.T, specs []string) Ladder {
	var l Ladder
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		s := Step{Action: parts[0], Scope: ScopeMaster}
		if len(parts) > 1 {
			s.Scope = map[string]Scope{"agent": ScopeAgent, "master": ScopeMaster}[parts[1]]
		}
		for _, p := range parts[min(2, len(parts)):] {
			switch p {
			case "approval":
				s.Approval = true
			case "drain":
				s.Drain = true
			default:
				d, err := time.ParseDuration(p)
				if err != nil {
					t.Fatalf("ladder step %q: %v", spec, err)
				}
				s.Timeout = d
			}
		}
		l = append(l, s)
	}
	return l
}

// splitArgs splits on spaces, keeping "quoted strings" (after key=) whole.
func splitArgs(line string) []string {
	var args []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started || cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
		}
	}
	if started || cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}

func keyvals(args []string) map[string]string {
	kv := map[string]string{}
	for _, a := range args[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		}
	}
	return kv
}
