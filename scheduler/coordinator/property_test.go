package coordinator

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestProperties drives a coordinator through random histories, including
// crashes with a rebuild from the persisted store, and states the safety
// properties that must hold after every event.
//
// Three profiles: "mixed" draws every policy knob; "busy" keeps the
// breaker, spacing and modes out of the way so that the caps are what is
// exercised; "ladders" also keeps few machines with a long reset_after and
// a short probation, so that machines relapse often, with every problem,
// and climb their ladders.
func TestProperties(t *testing.T) {
	cov := coverage{}
	for _, profile := range []string{"mixed", "busy", "ladders"} {
		t.Run(profile, func(t *testing.T) { rapid.Check(t, func(rt *rapid.T) { runHistory(rt, profile, cov) }) })
	}
	if t.Failed() {
		return
	}
	t.Logf("coverage: %v", cov)
	// The histories must actually reach the interesting states, or the
	// properties above hold only vacuously.
	for _, want := range []string{
		"decision:" + DecOpened.String(), "decision:" + DecAttached.String(), "decision:" + DecRelapsed.String(),
		"decision:" + DecAwaitingApproval.String(), "decision:" + DecApproved.String(),
		"decision:" + DecSucceeded.String(), "decision:" + DecStepFailed.String(), "decision:" + DecClosed.String(),
		"decision:" + DecCancelled.String(), "decision:" + DecIsolated.String(), "decision:" + DecReactivated.String(),
		"decision:" + DecBreakerTripped.String(), "decision:" + DecPaused.String(), "decision:" + DecExcluded.String(),
		"decision:" + DecAgentRemoved.String(), "decision:" + DecStartedOver.String(),
		"held:" + ErrLimitReached.Error(), "held:" + ErrZoneCapReached.Error(), "held:" + ErrSpacing.Error(),
		"held:" + ErrExcluded.Error(), "held:" + ErrPaused.Error(), "held:" + ErrBreakerTripped.Error(),
		"held:" + ErrImmutable.Error(),
		"result:" + ResultTimedOut.String(), "result:" + ResultNoOffer.String(), "result:" + ResultLost.String(),
		"start:drain", "start:forced", "start:master", "start:ladder-isolate", "start:dry-run", "up",
		"crash:repairing", "crash:pending", "crash:awaiting-approval", "crash:probation", "crash:isolated",
		"crash:policy-changed", "requeued-after-policy-change",
		// Machines across agent re-registrations.
		"decision:" + DecReregistered.String(), "decision:" + DecExpired.String(),
		"removed:deleted", "removed:kept", "removed:lost", "removed:master-step-carries-on", "removed:probation",
		"rekey:new-id", "rekey:same-id", "rekey:live-old-registration", "rekey:open-incident",
		"reapply:isolate", "reapply:launch", "rejected:removed", "outcome:previous-id", "crash:removed",
		// Owed actions, held kills, acknowledgements, time.
		"decision:" + DecKillEnded.String(), "decision:" + DecKillExpired.String(), "decision:" + DecApplied.String(),
		"held:" + ErrKillPending.Error(), "owed:launch", "owed:kill", "owed:isolate", "owed:reactivate", "owed:up",
		"crash:lost-actions", "crash:killing", "refused:" + ErrNoTime.Error(), "refused:" + ErrTimeOutOfRange.Error(),
		"time:earlier", "time:jump", "ladder:isolated-after-rungs", "ladder:other-ladder",
	} {
		if cov[want] == 0 {
			t.Errorf("no random history reached %q: the generators are too narrow (reached: %v)", want, cov)
		}
	}
}

// coverage counts what the random histories reached.
type coverage map[string]int

func (cov coverage) note(rd Ready) {
	for _, d := range rd.Decisions {
		cov["decision:"+d.Kind.String()]++
		if d.Kind == DecHeld && d.Err != nil {
			cov["held:"+d.Err.Error()]++
		}
		if d.Result != 0 {
			cov["result:"+d.Result.String()]++
		}
		if d.Kind == DecStarted && d.DryRun {
			cov["start:dry-run"]++
		}
		if d.Note == notePolicyChanged {
			cov["requeued-after-policy-change"]++
		}
		if d.Kind == DecIsolated && d.Principal == "" {
			cov["start:ladder-isolate"]++
		}
		if d.Kind == DecRejected && errors.Is(d.Err, ErrAgentRemoved) {
			cov["rejected:removed"]++
		}
		if d.Kind == DecRejected && (d.Err == ErrNoTime || d.Err == ErrTimeOutOfRange) {
			cov["refused:"+d.Err.Error()]++
		}
		if d.Kind == DecOpened && strings.Contains(d.Note, "not "+d.Problem+"'s") {
			cov["ladder:other-ladder"]++
		}
		switch d.Note {
		case noteRemovedLost:
			cov["removed:lost"]++
		case noteReregisteredLost:
			cov["rekey:lost"]++
		}
	}
	for _, a := range rd.Actions {
		switch {
		case a.Owed:
			cov["owed:"+a.Kind.String()]++
		case a.Reapply:
			cov["reapply:"+a.Kind.String()]++
		case a.Kind == ActUp:
			cov["up"]++
		case a.Kind != ActLaunch && a.Kind != ActRun:
		case a.Forced:
			cov["start:forced"]++
		case a.Step.Drain:
			cov["start:drain"]++
		case a.Kind == ActRun:
			cov["start:master"]++
		}
	}
}

func runHistory(rt *rapid.T, profile string, cov coverage) {
	p := drawPolicy(rt)
	busy := profile != "mixed"
	if busy {
		p.Mode, p.MinSpacing, p.MaxUnhealthyPercent = ModeExecute, 0, 100
	}
	agents := rapid.IntRange(2, 8)
	if profile == "ladders" {
		p.ResetAfter, p.Probation = time.Hour, time.Duration(rapid.IntRange(0, 2).Draw(rt, "ladders_probation_min"))*time.Minute
		agents = rapid.IntRange(1, 3)
	}
	c, err := New(p)
	if err != nil {
		rt.Fatalf("policy: %v", err)
	}
	h := &history{rt: rt, p: p, orig: c, st: newStore(), now: t0, cov: cov, busy: busy, chains: map[AgentID]*chain{},
		tasks: map[AgentID][]task{}}
	n := agents.Draw(rt, "agents")
	for i := 1; i <= n; i++ {
		h.step(AgentAdded{At: h.now, ID: AgentID(fmt.Sprintf("a%d", i)), Hostname: fmt.Sprintf("h%d", i),
			Zone: rapid.SampledFrom([]string{"", "z1", "z2"}).Draw(rt, "zone")})
	}
	for _, l := range []Link{MasterConnected, ZKSessionUp, Reconciled} {
		h.step(Connectivity{At: h.now, Change: l})
	}
	steps := rapid.IntRange(20, 300).Draw(rt, "steps")
	for i := 0; i < steps; i++ {
		crash := rapid.IntRange(0, 30).Draw(rt, "crash?") == 0
		// Crashes right after a Ready that held actions are the
		// interesting ones: persisted, not yet carried out.
		if crash || len(h.last.out.Actions) > 0 && rapid.IntRange(0, 8).Draw(rt, "crash before acting?") == 0 {
			h.crash()
			continue
		}
		h.step(h.drawTime(h.drawEvent()))
	}
}

// drawTime moves an event in time, the way a runtime's clock can: mostly
// now; sometimes without a time or one no clock should show (refused),
// earlier than the last event (a clock stepped back), or years later (a
// clock jumped ahead: every deadline passes at once, none overflows).
func (h *history) drawTime(ev Event) Event {
	switch rapid.IntRange(0, 60).Draw(h.rt, "time") {
	case 0:
		return withTime(ev, time.Time{})
	case 1:
		return withTime(ev, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC))
	case 2, 3, 4:
		h.cov["time:earlier"]++
		return withTime(ev, h.now.Add(-time.Duration(rapid.IntRange(1, 90).Draw(h.rt, "back_min"))*time.Minute))
	case 5:
		if h.now.Before(time.Date(2150, 1, 1, 0, 0, 0, 0, time.UTC)) {
			h.cov["time:jump"]++
			h.now = h.now.Add(time.Duration(rapid.IntRange(1, 3).Draw(h.rt, "jump_years")) * MaxDuration)
			return withTime(ev, h.now)
		}
	}
	return ev
}

func drawPolicy(rt *rapid.T) Policy {
	p := DefaultPolicy()
	p.Mode = rapid.SampledFrom([]Mode{ModeExecute, ModeExecute, ModeExecute, ModeDryRun, ModeObserve}).Draw(rt, "mode")
	p.NumAllowedRepairs = rapid.IntRange(1, 3).Draw(rt, "cap")
	p.ZoneCap = rapid.IntRange(0, 2).Draw(rt, "zone_cap")
	if rapid.Bool().Draw(rt, "zone_override") {
		p.ZoneCaps = map[string]int{"z1": rapid.IntRange(0, 2).Draw(rt, "z1_cap")}
	}
	p.MinSpacing = time.Duration(rapid.IntRange(0, 3).Draw(rt, "spacing_min")) * time.Minute
	p.MaxUnhealthyMin = rapid.IntRange(0, 10).Draw(rt, "max_unhealthy_min")
	p.MaxUnhealthyPercent = rapid.SampledFrom([]int{20, 50, 100, 100}).Draw(rt, "max_unhealthy_percent")
	p.Probation = time.Duration(rapid.IntRange(0, 10).Draw(rt, "probation_min")) * time.Minute
	p.ResetAfter = time.Duration(rapid.IntRange(0, 60).Draw(rt, "reset_after_min")) * time.Minute
	p.DefaultLadder = Ladder{
		{Action: "restart", Scope: ScopeAgent, Timeout: 5 * time.Minute, Approval: rapid.Bool().Draw(rt, "approve1")},
		{Action: "reboot", Scope: ScopeAgent, Timeout: 10 * time.Minute, Drain: true},
		{Action: "powercycle", Scope: ScopeMaster, Timeout: 15 * time.Minute, Approval: rapid.Bool().Draw(rt, "approve3")},
		{Action: ActionIsolate, Scope: ScopeMaster},
	}
	p.Ladders = map[string]Ladder{
		"disk":  {{Action: "cleanup", Scope: ScopeAgent, Timeout: 2 * time.Minute}},
		"power": {{Action: "ipmi-cycle", Scope: ScopeMaster, Timeout: 5 * time.Minute, Drain: rapid.Bool().Draw(rt, "drain ipmi")}, {Action: ActionIsolate, Scope: ScopeMaster}},
	}
	return p
}

// history is one random run: the original coordinator, the store its
// outputs are persisted to, and (after a crash) a shadow rebuilt from that
// store which must behave identically from then on.
type history struct {
	rt     *rapid.T
	p      Policy
	orig   *Coordinator
	shadow *Coordinator
	st     *store
	now    time.Time
	nextID int
	cov    coverage
	busy   bool
	// changed: the policy changed across a restart.
	changed bool
	// waitingAtRestore holds, right after a restore under a changed
	// policy and until the next non-connectivity event, the step each
	// waiting machine (pending or awaiting approval) was due to run.
	waitingAtRestore map[AgentID]AgentRecord
	// chains is the ladder property's model: per machine, the rungs
	// started within its current reset_after chain.
	chains map[AgentID]*chain
	// last is the previous step's event, the records before it and its
	// output: what a crash right after persisting it loses.
	last lastStep
	// tasks models what really runs, per machine (keyed by its current
	// agent id): a started step runs until a terminal status for it
	// arrives, its agent is removed, or its deadline plus KillGrace passes
	// (its executor ends it by its deadline). It is independent of the
	// coordinator's own accounting of slots.
	tasks map[AgentID][]task
	// lowered: a restart may have lowered the cap under steps started
	// before it; until the coordinator's own count is back within the cap,
	// running steps may exceed it.
	lowered bool
}

type task struct {
	on       AgentID
	attempt  uint64
	deadline time.Time
	forced   bool
}

type lastStep struct {
	ev     Event
	before map[AgentID]AgentRecord
	out    Ready
}

// chain holds the rungs (ladder/action/scope) a machine started in its
// current reset_after chain. edited: the chain spans a restart under
// another policy, whose ladders may differ.
type chain struct {
	ran    map[string]bool
	edited bool
}

func (h *history) agentIDs() []AgentID {
	recs, _ := h.orig.Records()
	ids := make([]AgentID, 0, len(recs)+1)
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return append(ids, "ghost")
}

func (h *history) drawEvent() Event {
	rt := h.rt
	ids := h.agentIDs()
	id := rapid.SampledFrom(ids).Draw(rt, "agent")
	attempt := func() uint64 {
		r, _ := h.orig.Agent(id)
		if r.Killing.Attempt != 0 && rapid.IntRange(0, 2).Draw(rt, "confirm kill?") == 0 {
			return r.Killing.Attempt
		}
		if r.Incident.Run.Attempt != 0 && rapid.IntRange(0, 4).Draw(rt, "stale?") > 0 {
			return r.Incident.Run.Attempt
		}
		return uint64(rapid.IntRange(0, 6).Draw(rt, "attempt"))
	}
	if r, _ := h.orig.Agent(id); r.State == StateIsolated && rapid.IntRange(0, 3).Draw(rt, "reactivate?") == 0 {
		return Command{At: h.now, Op: OpReactivate, Agent: id, Principal: "alice"}
	}
	switch rapid.IntRange(0, 18).Draw(rt, "kind") {
	case 17, 18:
		// The master acknowledges an isolation, reactivation or UP: mostly
		// one owed, sometimes a late or bogus one.
		var owed []Action
		for _, a := range h.orig.Owed() {
			if a.Kind == ActIsolate || a.Kind == ActReactivate || a.Kind == ActUp {
				owed = append(owed, a)
			}
		}
		if len(owed) > 0 && rapid.IntRange(0, 4).Draw(rt, "bogus ack?") > 0 {
			a := rapid.SampledFrom(owed).Draw(rt, "ack")
			return ActionApplied{At: h.now, Agent: a.Agent, Kind: a.Kind, Attempt: a.Attempt, Incident: a.Incident}
		}
		return ActionApplied{At: h.now, Agent: id, Kind: rapid.SampledFrom([]ActionKind{ActIsolate, ActReactivate, ActUp, ActLaunch, ActKill}).Draw(rt, "ack kind"),
			Attempt: uint64(rapid.IntRange(0, 6).Draw(rt, "ack attempt")), Incident: uint64(rapid.IntRange(0, 3).Draw(rt, "ack incident"))}
	case 0, 1, 2, 3, 4:
		// Often a machine whose last incident closed not long ago, with a
		// problem on another ladder than the one its position is on: where
		// a position could be applied to the wrong ladder.
		if rapid.IntRange(0, 2).Draw(rt, "relapse elsewhere?") == 0 {
			for _, r := range h.records() {
				if !r.LastClosedAt.IsZero() && r.State == StateHealthy && !r.Removed() {
					other := map[string][]string{"hung": {"disk", "power"}, "kernel": {"disk", "power"}, "disk": {"hung", "power", "kernel"},
						"power": {"hung", "disk", "kernel"}}[r.NextProblem]
					if len(other) > 0 {
						return Signal{At: h.now, Agent: string(r.ID), Problem: rapid.SampledFrom(other).Draw(rt, "other problem"), Source: "monitor"}
					}
				}
			}
		}
		target := string(id)
		if rapid.IntRange(0, 9).Draw(rt, "odd target?") == 0 {
			target = rapid.SampledFrom([]string{"", "*", "all", "h1", "h*"}).Draw(rt, "target")
		}
		return Signal{At: h.now, Agent: target, Problem: rapid.SampledFrom([]string{"hung", "kernel", "disk", "power", "hung", "disk", "power", "kernel", ""}).Draw(rt, "problem"), Source: "monitor"}
	case 5:
		return StepStarted{At: h.now, Agent: id, Attempt: attempt()}
	case 6, 7:
		return StepOutcome{At: h.now, Agent: id, Attempt: attempt(),
			Result: rapid.SampledFrom([]Result{ResultSucceeded, ResultSucceeded, ResultFailed, ResultTimedOut, ResultLost, ResultNoOffer}).Draw(rt, "result"), ExitCode: 1}
	case 8, 9:
		h.now = h.now.Add(time.Duration(rapid.IntRange(0, 8).Draw(rt, "advance_min")) * time.Minute)
		return Tick{At: h.now}
	case 10:
		op := rapid.SampledFrom([]Op{OpApprove, OpApprove, OpCancel, OpIsolate, OpReactivate, OpReactivate, OpExclude, OpInclude, OpPause, OpResume, OpResume, OpForce, OpForce}).Draw(rt, "op")
		r, _ := h.orig.Agent(id)
		inc := r.Incident.ID
		switch rapid.IntRange(0, 9).Draw(rt, "incident id") {
		case 0:
			inc = 0
		case 1:
			inc = uint64(rapid.IntRange(1, 4).Draw(rt, "stale incident"))
		}
		attempt := r.Incident.ApprovalAttempt
		if rapid.IntRange(0, 5).Draw(rt, "stale approval?") == 0 {
			attempt = uint64(rapid.IntRange(0, 6).Draw(rt, "approval attempt"))
		}
		return Command{At: h.now, Op: op, Agent: id, Incident: inc, Attempt: attempt, Principal: "alice", Reason: "because"}
	case 11:
		// Mostly recoveries: a coordinator that is Immutable most of the
		// time would start nothing and test little.
		links := []Link{MasterDisconnected, ZKSessionDown, MasterConnected, Reconciled, ZKSessionUp}
		if h.orig.Immutable().Immutable {
			links = []Link{MasterDisconnected, ZKSessionDown, MasterConnected, MasterConnected, Reconciled, Reconciled, Reconciled, ZKSessionUp, ZKSessionUp}
		}
		return Connectivity{At: h.now, Change: rapid.SampledFrom(links).Draw(rt, "link")}
	case 12:
		h.nextID++
		return AgentAdded{At: h.now, ID: AgentID(fmt.Sprintf("n%d", h.nextID)), Hostname: rapid.SampledFrom([]string{"h1", "hx", "hy"}).Draw(rt, "host"),
			Zone: rapid.SampledFrom([]string{"", "z1", "z2"}).Draw(rt, "zone")}
	case 13, 14:
		return AgentRemoved{At: h.now, ID: id}
	case 15:
		// The machine comes back: mostly under a new id (a reboot or
		// re-image), sometimes under its removed one (a partition healed).
		r, ok := h.orig.Agent(id)
		if !ok || r.Hostname == "" {
			break
		}
		zone := r.Zone
		if rapid.IntRange(0, 3).Draw(rt, "zone moves?") == 0 {
			zone = rapid.SampledFrom([]string{"", "z1", "z2"}).Draw(rt, "zone")
		}
		if r.Removed() && rapid.IntRange(0, 3).Draw(rt, "same id?") == 0 {
			return AgentAdded{At: h.now, ID: id, Hostname: r.Hostname, Zone: zone}
		}
		h.nextID++
		return AgentAdded{At: h.now, ID: AgentID(fmt.Sprintf("n%d", h.nextID)), Hostname: r.Hostname, Zone: zone}
	case 16:
		// A step report naming the id the machine had before it
		// re-registered (the runtime launched it under that id).
		for _, r := range h.records() {
			if r.PreviousID != "" && r.State == StateRepairing {
				return StepOutcome{At: h.now, Agent: r.PreviousID, Attempt: r.Incident.Run.Attempt,
					Result: rapid.SampledFrom([]Result{ResultSucceeded, ResultFailed}).Draw(rt, "result"), ExitCode: 2}
			}
		}
	}
	host := string(id) + ".new"
	if rapid.IntRange(0, 4).Draw(rt, "collide?") == 0 {
		host = "h1" // two live agents on one host: ambiguous by hostname
	}
	return AgentUpdated{At: h.now, ID: id, Hostname: host, Zone: rapid.SampledFrom([]string{"", "z1", "z2"}).Draw(rt, "zone")}
}

func (h *history) records() []AgentRecord {
	recs, _ := h.orig.Records()
	return recs
}

// step feeds ev to the original (and the shadow) and checks every property.
func (h *history) step(ev Event) {
	rt := h.rt
	before := map[AgentID]AgentRecord{}
	recs, _ := h.orig.Records()
	for _, r := range recs {
		before[r.ID] = r
	}
	if _, ok := ev.(Connectivity); !ok {
		h.waitingAtRestore = nil
	}
	snap := h.snapshot()
	// Shown only when the history fails: the events that led there.
	rt.Logf("event %#v", ev)
	wasImmutable := h.orig.Immutable().Immutable
	rd, err := h.orig.Step(ev)
	out := clone(rd)
	h.cov.note(out)
	h.orig.checkInvariants()
	stBefore := h.st.clone()
	h.st.apply(out.Persist)
	if err := checkWriteAhead(out, stBefore, h.st); err != nil {
		rt.Fatalf("after %#v: %v", ev, err)
	}
	if err != nil {
		// A refused event changes nothing, its time included.
		if after := h.snapshot(); !reflect.DeepEqual(snap, after) {
			rt.Fatalf("refused %#v (%v) changed the coordinator:\nbefore %+v\nafter  %+v", ev, err, snap, after)
		}
		if len(out.Actions) > 0 || !out.Persist.Empty() {
			rt.Fatalf("refused %#v (%v) had output %+v", ev, err, out)
		}
	} else {
		h.checkRunning(ev, out)
		h.checkNoIsolationFromLadderEdit(ev, out)
		h.checkSafety(ev, before, out)
		h.checkLadder(before, out)
		h.checkOwed(snap, wasImmutable, out)
	}
	if h.shadow != nil {
		srd, serr := h.shadow.Step(ev)
		h.shadow.checkInvariants()
		if (err == nil) != (serr == nil) || !sameReady(out, clone(srd)) {
			rt.Fatalf("rebuilt coordinator diverged on %#v:\noriginal %v %+v\nrebuilt  %v %+v", ev, err, out, serr, clone(srd))
		}
	}
	h.last = lastStep{ev: ev, before: before, out: out}
}

// snapshot is everything an event can change: the records, the clock,
// the connectivity and what is owed.
type snapshot struct {
	records []AgentRecord
	global  GlobalRecord
	clock   time.Time
	link    link
	owed    []Action
}

func (h *history) snapshot() snapshot {
	recs, g := h.orig.Records()
	return snapshot{records: recs, global: g, clock: h.orig.clock, link: h.orig.link, owed: h.orig.Owed()}
}

// owedKey identifies an owed action whatever emitted it (a new decision or
// a re-emission, under either policy).
func owedKey(a Action) string {
	return fmt.Sprintf("%s %s attempt=%d incident=%d step=%s/%s", a.Kind, a.Agent, a.Attempt, a.Incident, a.Step.Action, a.Step.Scope)
}

func owedKeys(as []Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, owedKey(a))
	}
	slices.Sort(out)
	return out
}

// checkOwed: the Ready of a Step that makes the coordinator mutable
// carries exactly what was owed (marked Owed), and nothing confirmed or
// acknowledged stays owed.
func (h *history) checkOwed(before snapshot, wasImmutable bool, rd Ready) {
	rt := h.rt
	var reemitted []Action
	for _, a := range rd.Actions {
		if a.Owed {
			reemitted = append(reemitted, a)
		}
	}
	if wasImmutable && !h.orig.Immutable().Immutable {
		if got, want := owedKeys(reemitted), owedKeys(before.owed); !slices.Equal(got, want) {
			rt.Fatalf("becoming mutable re-emitted %q, but %q were owed", got, want)
		}
	} else if len(reemitted) > 0 {
		rt.Fatalf("owed actions re-emitted without becoming mutable: %+v", reemitted)
	}
	owed := h.orig.Owed()
	for _, d := range rd.Decisions {
		for _, a := range owed {
			r, _ := h.orig.Agent(d.Agent)
			mine := a.Agent == d.Agent || a.Agent == r.PreviousID
			switch {
			case !mine:
			case d.Kind == DecRunning && (a.Kind == ActLaunch || a.Kind == ActRun) && a.Attempt == d.Attempt,
				(d.Kind == DecKillEnded || d.Kind == DecKillExpired) && a.Kind == ActKill && a.Attempt == d.Attempt,
				d.Kind == DecApplied && a.Kind.String() == d.Note && (a.Attempt == d.Attempt && a.Kind != ActUp || a.Kind == ActUp && a.Incident == d.Incident):
				rt.Fatalf("after %s: %+v is still owed", d, a)
			}
		}
	}
}

// checkRunning updates the model of what runs and states that running
// steps (started and not yet ended, killed ones included) never exceed
// num_allowed_repairs, nor a zone's cap, when a step starts (forced steps
// aside; after a restart under a lower cap, steps started under the old
// one may exceed it until they end).
func (h *history) checkRunning(ev Event, rd Ready) {
	rt := h.rt
	now := h.orig.clock
	// A status names the agent the task runs on, or its machine's record
	// (current or previous id).
	reported := AgentID("")
	if e, ok := ev.(StepOutcome); ok {
		reported = e.Agent
		for _, r := range h.records() {
			if r.PreviousID == e.Agent {
				reported = r.ID
			}
		}
	}
	for id, ts := range h.tasks {
		ts = slices.DeleteFunc(ts, func(t task) bool {
			switch e := ev.(type) {
			case StepOutcome:
				if t.attempt == e.Attempt && (t.on != "" && t.on == e.Agent || id == reported) {
					return true
				}
			case AgentRemoved:
				if t.on != "" && t.on == e.ID {
					return true
				}
			}
			return !now.Before(t.deadline.Add(KillGrace))
		})
		h.tasks[id] = ts
	}
	for _, d := range rd.Decisions {
		if d.Kind == DecReregistered {
			r, _ := h.orig.Agent(d.Agent)
			if ts, ok := h.tasks[r.PreviousID]; ok && r.PreviousID != d.Agent {
				h.tasks[d.Agent] = append(h.tasks[d.Agent], ts...)
				delete(h.tasks, r.PreviousID)
			}
		}
	}
	started := false
	for _, d := range rd.Decisions {
		r, _ := h.orig.Agent(d.Agent)
		run := r.Incident.Run
		switch {
		case d.Kind == DecRunning,
			d.Kind == DecStarted && !d.DryRun && run.Attempt == d.Attempt && !run.StartedAt.IsZero():
			// A master-scope step runs on the scheduler's host, on no agent.
			on := d.Agent
			if run.Step.Scope == ScopeMaster {
				on = ""
			}
			h.tasks[d.Agent] = append(h.tasks[d.Agent], task{on: on, attempt: d.Attempt, deadline: run.Deadline, forced: run.Forced})
		}
		if d.Kind == DecStarted && !d.DryRun && !run.Forced {
			started = true
		}
	}
	total, zones := 0, map[string]int{}
	for id, ts := range h.tasks {
		r, _ := h.orig.Agent(id)
		for _, t := range ts {
			if !t.forced {
				total++
				zones[r.Zone]++
			}
		}
	}
	if h.lowered && h.orig.Status().InFlight <= h.p.NumAllowedRepairs {
		h.lowered = false
	}
	if total > h.p.NumAllowedRepairs && (started || !h.lowered) {
		var held []string
		for id := range h.tasks {
			r, _ := h.orig.Agent(id)
			held = append(held, fmt.Sprintf("%s %s run=%d started=%v killing=%d on %s", id, r.State, r.Incident.Run.Attempt,
				!r.Incident.Run.StartedAt.IsZero(), r.Killing.Attempt, r.Killing.Agent))
		}
		rt.Fatalf("after %#v: %d steps run (killed ones included), cap %d: %+v; the coordinator holds %q", ev, total,
			h.p.NumAllowedRepairs, h.tasks, held)
	}
	for _, d := range rd.Decisions {
		if r, _ := h.orig.Agent(d.Agent); d.Kind == DecStarted && !d.DryRun && !r.Incident.Run.Forced {
			if limit := h.p.zoneCap(r.Zone); limit > 0 && zones[r.Zone] > limit {
				rt.Fatalf("after %#v: a start in zone %q with %d steps running there, cap %d", ev, r.Zone, zones[r.Zone], limit)
			}
		}
	}
}

// checkLadder states the ladder property: every step started for an
// incident is a rung of that incident's problem's ladder, and the ladder's
// isolation is reached only after each earlier rung of that same ladder
// ran for this machine within its current reset_after chain (operator
// isolation, forced and dry-run steps aside; chains across a ladder edit
// are held to the rest by checkNoIsolationFromLadderEdit).
func (h *history) checkLadder(before map[AgentID]AgentRecord, rd Ready) {
	rt := h.rt
	deleted := map[AgentID]bool{}
	for _, id := range rd.Persist.Deleted {
		deleted[id] = true
	}
	for _, d := range rd.Decisions {
		r, _ := h.orig.Agent(d.Agent)
		b, ok := before[d.Agent]
		if !ok && r.PreviousID != "" {
			b = before[r.PreviousID]
		}
		switch d.Kind {
		case DecReregistered:
			if c := h.chains[r.PreviousID]; c != nil && r.PreviousID != d.Agent {
				h.chains[d.Agent] = c
				delete(h.chains, r.PreviousID)
			}
		case DecOpened:
			if b.LastClosedAt.IsZero() || d.At.Sub(b.LastClosedAt) >= h.p.ResetAfter || h.chains[d.Agent] == nil {
				h.chains[d.Agent] = &chain{ran: map[string]bool{}}
			}
		case DecStarted:
			problem := r.Incident.Problem
			i := slices.IndexFunc(rd.Actions, func(a Action) bool {
				return a.Agent == d.Agent && a.Attempt == d.Attempt && (a.Kind == ActLaunch || a.Kind == ActRun)
			})
			if d.DryRun || i < 0 {
				continue
			}
			s := rd.Actions[i].Step
			if !slices.ContainsFunc(h.p.LadderFor(problem), func(l Step) bool { return l.Action == s.Action && l.Scope == s.Scope }) {
				rt.Fatalf("%s: %s/%s is not a rung of the ladder for %s: %+v", d, s.Action, s.Scope, problem, h.p.LadderFor(problem))
			}
			if c := h.chains[d.Agent]; c != nil {
				c.ran[ladderKey(&h.p, problem)+"/"+s.Action+"/"+s.Scope.String()] = true
			}
		case DecIsolated:
			if d.DryRun || d.Principal != "" || d.Incident == 0 {
				continue
			}
			// The isolation's own attempt says its incident's problem (the
			// incident may have opened in this very Step).
			c, problem := h.chains[d.Agent], ""
			if n := len(r.History); n > 0 && r.History[n-1].ID == d.Attempt {
				problem = r.History[n-1].Problem
			}
			if c == nil || c.edited {
				continue
			}
			for _, l := range h.p.LadderFor(problem) {
				if l.Action != ActionIsolate && !c.ran[ladderKey(&h.p, problem)+"/"+l.Action+"/"+l.Scope.String()] {
					rt.Fatalf("%s: isolated for %s before %s/%s ran in this reset_after chain (ran %v)", d, problem, l.Action, l.Scope, c.ran)
				}
			}
			h.cov["ladder:isolated-after-rungs"]++
		}
	}
	for id := range deleted {
		if _, ok := h.orig.Agent(id); !ok {
			delete(h.chains, id)
		}
	}
}

// ladderKey names the ladder problem is repaired on.
func ladderKey(p *Policy, problem string) string {
	if _, own := p.Ladders[problem]; own {
		return "own:" + problem
	}
	return "default"
}

// checkSafety states the safety properties over one step's output and the
// state it left.
func (h *history) checkSafety(ev Event, before map[AgentID]AgentRecord, rd Ready) {
	rt := h.rt
	recs, g := h.orig.Records()
	// Running steps: launched and not yet confirmed ended, killed ones
	// included (a killed step may still run on Mesos).
	auto, zones := 0, map[string]int{}
	for _, r := range recs {
		if r.State == StateRepairing && !r.Incident.Run.Forced {
			auto++
			zones[r.Zone]++
		}
		if r.Killing.Attempt != 0 && !r.Killing.Forced {
			auto++
			zones[r.Zone]++
		}
	}
	// After a restart under a lower cap, steps launched under the old one
	// may exceed it until they end; what must never happen is a start
	// that does.
	if auto > h.p.NumAllowedRepairs && (!h.changed || slices.ContainsFunc(rd.Actions, func(a Action) bool {
		return (a.Kind == ActLaunch || a.Kind == ActRun) && !a.Forced && !a.Reapply && !a.Owed
	})) {
		rt.Fatalf("after %#v: %d agents in an automatic step or killed and not yet ended, cap %d", ev, auto, h.p.NumAllowedRepairs)
	}
	// Nothing reaches the world while Immutable; it stays owed.
	if im := h.orig.Immutable(); im.Immutable && len(rd.Actions) > 0 {
		rt.Fatalf("after %#v: actions while immutable (%s): %+v", ev, im.Why, rd.Actions)
	}
	// An agent in flight that moves to another zone can push that zone over
	// its cap; what must never happen is a start into a zone over its cap.
	for _, a := range rd.Actions {
		if (a.Kind == ActLaunch || a.Kind == ActRun) && !a.Forced && !a.Reapply && !a.Owed {
			r, _ := h.orig.Agent(a.Agent)
			if n := zones[r.Zone]; h.p.zoneCap(r.Zone) > 0 && n > h.p.zoneCap(r.Zone) {
				rt.Fatalf("after %#v: start took zone %q to %d in flight, cap %d", ev, r.Zone, n, h.p.zoneCap(r.Zone))
			}
		}
	}
	launched := map[AgentID]bool{}
	for _, a := range rd.Actions {
		switch {
		case a.Reapply, a.Owed:
			continue // an earlier decision re-issued (re-registered machine, or still owed)
		case a.Kind == ActLaunch, a.Kind == ActRun, a.Kind == ActIsolate:
		default:
			continue
		}
		if launched[a.Agent] {
			rt.Fatalf("after %#v: two starts for %s in one output", ev, a.Agent)
		}
		launched[a.Agent] = true
		// Force bypasses every limit but Immutable (doc.go), so a forced
		// start is checked against Immutable before it is excused the rest.
		if im := h.orig.Immutable(); a.Forced && im.Immutable {
			rt.Fatalf("after %#v: forced start %+v while immutable (%s)", ev, a, im.Why)
		}
		if a.Forced || a.Principal != "" {
			continue // explicit operator action, audited
		}
		if h.p.Mode != ModeExecute {
			rt.Fatalf("after %#v: action %s in mode %s", ev, a.Kind, h.p.Mode)
		}
		if r, _ := h.orig.Agent(a.Agent); a.Kind != ActIsolate && a.Step.Approval && !r.Incident.Approved {
			rt.Fatalf("after %#v: %s of a step that needs approval, without one", ev, a.Kind)
		}
		if b := before[a.Agent]; b.Incident.DryRun && !slices.ContainsFunc(rd.Decisions, func(d Decision) bool {
			return d.Kind == DecStartedOver && d.Agent == a.Agent
		}) {
			rt.Fatalf("after %#v: real %s continuing from dry-run's imagined progress", ev, a.Kind)
		}
		im := h.orig.Immutable()
		if im.Immutable || g.Paused || g.Breaker.Tripped {
			rt.Fatalf("after %#v: start %+v while immutable=%v paused=%v tripped=%v", ev, a, im.Immutable, g.Paused, g.Breaker.Tripped)
		}
		if r, _ := h.orig.Agent(a.Agent); r.Excluded {
			rt.Fatalf("after %#v: start on excluded agent %s", ev, a.Agent)
		}
	}
	for _, d := range rd.Decisions {
		if d.Kind == DecOpened && before[d.Agent].State.open() {
			rt.Fatalf("after %#v: second incident opened on %s", ev, d.Agent)
		}
	}
	h.checkMachines(ev, before, rd)
}

// checkMachines states the properties of tracking machines across agent
// re-registrations.
func (h *history) checkMachines(ev Event, before map[AgentID]AgentRecord, rd Ready) {
	rt := h.rt
	recs, _ := h.orig.Records()
	live, away := 0, 0
	for _, r := range recs {
		switch {
		case !r.Removed():
			live++
		case r.State.open():
			away++
		}
	}
	st := h.orig.Status()
	if st.Registered != live || st.Counts.Removed != len(recs)-live || st.UnhealthyRemoved != away || st.Known != live+away {
		rt.Fatalf("after %#v: status says %d registered, %d removed, %d of them in an incident, %d known; records say %d, %d, %d, %d",
			ev, st.Registered, st.Counts.Removed, st.UnhealthyRemoved, st.Known, live, len(recs)-live, away, live+away)
	}
	if st.Unhealthy > st.Known {
		rt.Fatalf("after %#v: %d of %d known agents unhealthy", ev, st.Unhealthy, st.Known)
	}
	switch e := ev.(type) {
	case Signal:
		// A removed agent id never opens or joins an incident.
		if b, ok := before[AgentID(e.Agent)]; ok && b.Removed() {
			for _, d := range rd.Decisions {
				if d.Kind == DecOpened || d.Kind == DecAttached || d.Kind == DecRelapsed {
					rt.Fatalf("after %#v: signal for removed agent %s was taken: %s", ev, e.Agent, d)
				}
			}
		}
	case AgentRemoved:
		if b, ok := before[e.ID]; ok && !b.Removed() {
			r, kept := h.orig.Agent(e.ID)
			switch {
			case !kept:
				h.cov["removed:deleted"]++
				if b.State != StateHealthy || b.Excluded {
					rt.Fatalf("after %#v: record of %s (%s) deleted though it matters", ev, e.ID, b.State)
				}
			case !r.Removed():
				rt.Fatalf("after %#v: kept record of %s not marked removed", ev, e.ID)
			default:
				h.cov["removed:kept"]++
				if b.State == StateRepairing && b.Incident.Run.Step.Scope == ScopeMaster {
					h.cov["removed:master-step-carries-on"]++
					if r.Incident.Run.Attempt != b.Incident.Run.Attempt {
						rt.Fatalf("after %#v: master-scope step on %s did not carry on", ev, e.ID)
					}
				}
				if b.State == StateProbation {
					h.cov["removed:probation"]++
				}
			}
		}
	case AgentAdded:
		for _, d := range rd.Decisions {
			if d.Kind != DecReregistered {
				continue
			}
			r, _ := h.orig.Agent(e.ID)
			was := e.ID
			if _, same := before[e.ID]; !same {
				was = r.PreviousID
				h.cov["rekey:new-id"]++
				if _, gone := h.orig.Agent(was); gone || !slices.Contains(rd.Persist.Deleted, was) {
					rt.Fatalf("after %#v: old id %s not deleted", ev, was)
				}
			} else {
				h.cov["rekey:same-id"]++
			}
			b := before[was]
			if !b.Removed() {
				h.cov["rekey:live-old-registration"]++
			}
			if b.State.open() {
				h.cov["rekey:open-incident"]++
			}
			// The machine's record carries over. The same Step may move it
			// on (a step lost with the old registration escalates, a zone
			// change frees a slot), but never back.
			keptHistory := len(b.History) == 0 || slices.ContainsFunc(r.History, func(a Attempt) bool {
				return a.ID == b.History[len(b.History)-1].ID
			})
			if r.Removed() || r.Incidents != b.Incidents || r.Attempts < b.Attempts || r.Excluded != b.Excluded ||
				r.Hostname != e.Hostname || r.Zone != e.Zone || !keptHistory ||
				b.State == StateIsolated && r.State != StateIsolated ||
				b.State.open() && r.State.open() && r.Incident.ID != b.Incident.ID ||
				b.State.open() && !r.State.open() && r.State != StateIsolated && h.p.Mode == ModeExecute ||
				b.State == StateHealthy && (r.State != StateHealthy || r.NextStep != b.NextStep || r.LastClosedAt != b.LastClosedAt) {
				rt.Fatalf("after %#v: re-registration lost the machine's record:\nwas %+v\nnow %+v", ev, b, r)
			}
			// Isolated again: at once, or owed until mutable.
			if b.State == StateIsolated && (r.IsolateOwed == 0 || !h.orig.Immutable().Immutable && !slices.ContainsFunc(rd.Actions, func(a Action) bool {
				return a.Kind == ActIsolate && a.Agent == e.ID && a.Reapply
			})) {
				rt.Fatalf("after %#v: isolated machine re-registered as %s without being isolated again", ev, e.ID)
			}
		}
	case StepOutcome:
		if _, ok := before[e.Agent]; !ok {
			for _, d := range rd.Decisions {
				if (d.Kind == DecSucceeded || d.Kind == DecStepFailed) && d.Attempt == e.Attempt {
					h.cov["outcome:previous-id"]++
				}
			}
		}
	case Tick:
		// Tombstones do not pile up: one that no longer mattered when the
		// tick came is gone after it (one that stops mattering during the
		// tick, e.g. when its probation ends, goes then or on the next).
		// The tick happens at the coordinator's clock, which an earlier
		// tick does not move back.
		for _, r := range recs {
			b, ok := before[r.ID]
			if ok && b.Removed() && b.State == StateHealthy && !b.Excluded && !owes(&b) &&
				(b.LastClosedAt.IsZero() && !h.orig.clock.Before(b.RemovedAt) || !b.LastClosedAt.IsZero() && !h.orig.clock.Before(b.LastClosedAt.Add(h.p.ResetAfter))) {
				rt.Fatalf("after %#v: tombstone of %s outlived reset_after: %+v", ev, r.ID, r)
			}
		}
	}
}

// crash simulates the leader dying: the old process loses its connections
// (which is what the new one starts with), and a coordinator rebuilt from
// the store alone must equal it and then decide identically.
func (h *history) crash() {
	lost := h.last
	for _, l := range []Link{MasterDisconnected, ZKSessionDown} {
		h.step(Connectivity{At: h.now, Change: l})
	}
	owed := h.orig.Owed()
	recs, _ := h.orig.Records()
	for _, r := range recs {
		h.cov["crash:"+r.State.String()]++
		if r.Removed() {
			h.cov["crash:removed"]++
		}
	}
	if rapid.IntRange(0, 3).Draw(h.rt, "policy change?") == 0 {
		h.changePolicy()
		h.checkRestoredOwed(owed, lost)
		h.reconnect()
		return
	}
	c, err := Restore(h.p, h.st.records(), h.st.global)
	if err != nil {
		h.rt.Fatalf("restore: %v", err)
	}
	c.checkInvariants()
	orig := h.orig
	h.orig = c
	h.checkRestoredOwed(owed, lost)
	h.orig = orig
	want, wg := h.orig.Records()
	got, gg := c.Records()
	if !reflect.DeepEqual(stripVolatile(want), stripVolatile(got)) || !reflect.DeepEqual(wg, gg) {
		h.rt.Fatalf("rebuilt records differ:\nwant %+v\ngot  %+v", want, got)
	}
	h.shadow = c
	// The runtime's first event after a restart is usually a tick at its
	// clock; it brings the rebuilt clock to the original's.
	h.step(Tick{At: h.orig.clock})
	h.reconnect()
}

// checkRestoredOwed: a coordinator restored from the store owes exactly
// what the one that crashed owed, and in particular every action of the
// last Ready that was persisted but perhaps never carried out (lost) and
// stays owed until confirmed or acknowledged.
func (h *history) checkRestoredOwed(owed []Action, lost lastStep) {
	got := owedKeys(h.orig.Owed())
	if want := owedKeys(owed); !slices.Equal(got, want) {
		h.rt.Fatalf("restored coordinator owes %q, the one that crashed owed %q", got, want)
	}
	for _, a := range lost.out.Actions {
		if a.Owed || !lostOwed(a, lost) {
			continue
		}
		h.cov["crash:lost-actions"]++
		if !slices.Contains(got, owedKey(a)) {
			h.rt.Fatalf("after %#v, persisted then crashed: %+v was lost; restored owes %q", lost.ev, a, got)
		}
	}
	for _, a := range owed {
		if a.Kind == ActKill {
			h.cov["crash:killing"]++
		}
	}
}

// lostOwed reports whether an action of a Ready stays owed until it is
// confirmed or acknowledged (see the package doc): every launch, a run of
// a draining master-scope step, a kill of a started step on an agent still
// there, an isolation, reactivation or UP.
func lostOwed(a Action, lost lastStep) bool {
	switch a.Kind {
	case ActRun:
		return a.Step.Drain
	case ActKill:
		b, ok := lost.before[a.Agent]
		removed, _ := lost.ev.(AgentRemoved)
		return ok && b.Incident.Run.Attempt == a.Attempt && !b.Incident.Run.StartedAt.IsZero() && !b.Removed() &&
			removed.ID != a.Agent
	}
	return true
}

// reconnect is what the runtime does after a restart, most of the time:
// subscribe, reconcile, get a ZooKeeper session.
func (h *history) reconnect() {
	if rapid.IntRange(0, 3).Draw(h.rt, "stay immutable?") == 0 {
		return
	}
	for _, l := range []Link{MasterConnected, ZKSessionUp, Reconciled} {
		h.step(Connectivity{At: h.now, Change: l})
	}
}

// changePolicy restarts under another policy, as an operator's
// configuration change between a crash and Restore does: another mode,
// ladders shortened, lengthened, with approvals added or removed, a
// problem's own ladder dropped. Restore must accept the records and the
// safety properties must keep holding; equivalence with the original is
// not expected (it decided under the old policy).
func (h *history) changePolicy() {
	p := drawPolicy(h.rt)
	if h.busy {
		p.MinSpacing, p.MaxUnhealthyPercent = 0, 100
	}
	if h.p.Mode == ModeDryRun && rapid.Bool().Draw(h.rt, "dry-run to execute?") {
		p.Mode = ModeExecute
	}
	switch rapid.IntRange(0, 3).Draw(h.rt, "ladder change") {
	case 0:
		p.DefaultLadder = p.DefaultLadder[:rapid.IntRange(1, len(p.DefaultLadder)).Draw(h.rt, "ladder length")]
	case 1:
		p.DefaultLadder = Ladder{{Action: "reimage", Scope: ScopeMaster, Approval: true}}
	case 2:
		p.Ladders = nil
	}
	h.waitingAtRestore = map[AgentID]AgentRecord{}
	for _, r := range h.st.records() {
		if r.State == StatePending || r.State == StateAwaitingApproval {
			h.waitingAtRestore[r.ID] = r
		}
	}
	c, err := Restore(p, h.st.records(), h.st.global)
	if err != nil {
		h.rt.Fatalf("restore under a changed policy: %v", err)
	}
	for _, ch := range h.chains {
		ch.edited = true
	}
	c.checkInvariants()
	h.cov["crash:policy-changed"]++
	h.p, h.orig, h.shadow, h.changed, h.lowered = p, c, nil, true, true
}

// checkNoIsolationFromLadderEdit: editing a ladder across a restart must
// never isolate a machine by itself. Until the first event that is not a
// connectivity change (which carries no outcome, so nothing can have
// failed), a machine that was waiting is isolated only if isolate was the
// step it was due to run, or its ladder under the new policy starts with
// isolate (a start-over).
func (h *history) checkNoIsolationFromLadderEdit(ev Event, rd Ready) {
	for _, a := range rd.Actions {
		r, waiting := h.waitingAtRestore[a.Agent]
		if a.Kind != ActIsolate || !waiting || a.Principal != "" || a.Reapply {
			continue
		}
		ladder, ok := h.p.Ladders[r.Incident.Problem]
		if !ok {
			ladder = h.p.DefaultLadder
		}
		if r.Incident.StepAction != ActionIsolate && (len(ladder) == 0 || ladder[0].Action != ActionIsolate) {
			h.rt.Fatalf("after %#v: %s isolated right after a ladder edit; it was due to run %s", ev, a.Agent, r.Incident.StepAction)
		}
	}
}

// stripVolatile clears the duplicate-signal counter, which is written only
// with a record's next real change (see the package doc).
func stripVolatile(rs []AgentRecord) []AgentRecord {
	out := slices.Clone(rs)
	for i := range out {
		out[i].Incident.Signals = 0
		out[i].Incident.LastSignalAt = time.Time{}
	}
	return out
}

func sameReady(a, b Ready) bool {
	return reflect.DeepEqual(canonical(a), canonical(b))
}

// canonical makes empty slices nil, so buffer reuse does not matter.
func canonical(r Ready) Ready {
	r.Persist.Agents = stripVolatile(r.Persist.Agents)
	if len(r.Persist.Agents) == 0 {
		r.Persist.Agents = nil
	}
	if len(r.Persist.Deleted) == 0 {
		r.Persist.Deleted = nil
	}
	if len(r.Actions) == 0 {
		r.Actions = nil
	}
	if len(r.Decisions) == 0 {
		r.Decisions = nil
	}
	return r
}

// TestPropertyCheckerCatches makes sure the write-ahead checker can fail.
func TestPropertyCheckerCatches(t *testing.T) {
	rd := Ready{Actions: []Action{{Kind: ActLaunch, Agent: "a1", Attempt: 1}}}
	st := newStore()
	if checkWriteAhead(rd, st, st) == nil {
		t.Fatal("a launch without a persisted record passed the write-ahead check")
	}
	rd.Persist.Agents = []AgentRecord{{ID: "a1", State: StatePending}}
	st.apply(rd.Persist)
	if checkWriteAhead(rd, st, st) == nil {
		t.Fatal("a launch whose record is not repairing passed the write-ahead check")
	}
	rd = Ready{Actions: []Action{{Kind: ActUp, Agent: "a1", Incident: 1}}, Persist: Persist{Agents: []AgentRecord{{ID: "a1"}}}}
	st.apply(rd.Persist)
	if checkWriteAhead(rd, st, st) == nil {
		t.Fatal("an UP its record does not mark as owed passed the write-ahead check")
	}
}
