package coordinator

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is the scenario clock's origin; output shows times relative to it.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func rel(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "+" + t.Sub(t0).String()
}

// store is a model of the runtime's persistent store: it applies Persist
// outputs exactly as the runtime would, and Restore reads from it.
type store struct {
	agents map[AgentID]AgentRecord
	global GlobalRecord
}

func newStore() *store { return &store{agents: map[AgentID]AgentRecord{}} }

func (s *store) apply(p Persist) {
	for _, r := range p.Agents {
		s.agents[r.ID] = r
	}
	for _, id := range p.Deleted {
		delete(s.agents, id)
	}
	if p.Global != nil {
		s.global = *p.Global
	}
}

func (s *store) clone() *store {
	return &store{agents: maps.Clone(s.agents), global: s.global}
}

func (s *store) records() []AgentRecord {
	out := make([]AgentRecord, 0, len(s.agents))
	for _, r := range s.agents {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b AgentRecord) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// checkInvariants recomputes everything the coordinator derives from its
// records and panics if the incremental bookkeeping drifted.
func (c *Coordinator) checkInvariants() {
	var counts, removed [numStates]int
	forced, killing := 0, 0
	zones := map[string]int{}
	for id, a := range c.agents {
		// Read without making the record full; between Steps every agent
		// that can be idle is held idle (idle.go).
		if a.full != nil && idle(a.full) && len(c.warm) == 0 {
			panic(fmt.Sprintf("agent %s: idle record held full", id))
		}
		rec := a.record()
		r := &rec
		if id != r.ID || !a.counted || a.deleted {
			panic(fmt.Sprintf("agent %s: id %s counted=%v deleted=%v", id, r.ID, a.counted, a.deleted))
		}
		if err := checkRecord(r); err != nil {
			panic(err)
		}
		counts[r.State]++
		if r.Removed() {
			removed[r.State]++
		}
		if p := r.PreviousID; p != "" && c.prev[p] != a {
			panic(fmt.Sprintf("agent %s: previous id %s not indexed", id, p))
		}
		if !slices.Contains(c.onHost(r.Hostname, nil), id) && r.Hostname != "" {
			panic(fmt.Sprintf("agent %s: host %q not indexed", id, r.Hostname))
		}
		if r.State == StateRepairing {
			zones[r.Zone]++
			if r.Incident.Run.Forced {
				forced++
			}
			if c.inFlight[id] != a {
				panic("agent " + string(id) + " repairing but not in inFlight")
			}
		}
		if r.Killing.Attempt != 0 {
			killing++
			zones[r.Zone]++
			if r.Killing.Forced {
				forced++
			}
		}
		if owes(r) != (c.owing[id] == a) {
			panic(fmt.Sprintf("agent %s: owes=%v but owing index says %v", id, owes(r), c.owing[id] == a))
		}
		var slots agentSlots
		if a.slots != nil {
			slots = *a.slots
		}
		if startable(r) != slots.pend.queued || slots.pend.queued && slots.pend.zone != r.Zone {
			panic(fmt.Sprintf("agent %s: state %s excluded=%v zone %q pend=%+v", id, r.State, r.Excluded, r.Zone, slots.pend))
		}
		if _, ok := c.deadline(r); ok != slots.timer.queued {
			panic(fmt.Sprintf("agent %s: state %s timer.queued=%v", id, r.State, slots.timer.queued))
		}
	}
	for p, a := range c.prev {
		if r := a.record(); a.deleted || r.PreviousID != p || c.agents[r.ID] != a {
			panic(fmt.Sprintf("previous id %s indexes a stale record %s", p, r.ID))
		}
	}
	for h, more := range c.hostsMore {
		if _, ok := c.hosts[h]; !ok || len(more) == 0 {
			panic(fmt.Sprintf("host %q: more ids %v without a first", h, more))
		}
	}
	for h := range c.hosts {
		ids := c.onHost(h, nil)
		for _, id := range ids {
			if a := c.agents[id]; a == nil || a.record().Hostname != h {
				panic(fmt.Sprintf("host %q indexes %s, which is not on it", h, id))
			}
		}
	}
	if removed != c.removedCounts {
		panic(fmt.Sprintf("removed counts drifted: have %v want %v", c.removedCounts, removed))
	}
	if counts != c.counts || forced != c.forced || killing != c.killing || len(c.inFlight) != counts[StateRepairing] {
		panic(fmt.Sprintf("counts drifted: have %v forced %d killing %d, want %v forced %d killing %d",
			c.counts, c.forced, c.killing, counts, forced, killing))
	}
	for id, a := range c.owing {
		if c.agents[id] != a {
			panic(fmt.Sprintf("owing indexes %s, which is not its record", id))
		}
	}
	for z, n := range c.zoneInFlight {
		if zones[z] != n {
			panic(fmt.Sprintf("zone %q in flight: have %d want %d", z, n, zones[z]))
		}
	}
	if len(zones) != len(c.zoneInFlight) {
		panic(fmt.Sprintf("zones in flight: have %v want %v", c.zoneInFlight, zones))
	}
}

// checkWriteAhead returns an error if an action in rd is not backed by the
// persisted records: a new decision by a record persisted in the same Ready
// (write-ahead; after is the store with rd.Persist applied), an owed action
// (Owed) by the store before it (it was owed then; an action later in the
// same Ready may supersede it, e.g. a new isolation an owed reactivation);
// and every action that stays owed until confirmed is marked owed in its
// record, so a crash right after persisting loses no intent.
func checkWriteAhead(rd Ready, before, after *store) error {
	inReady := map[AgentID]bool{}
	for _, r := range rd.Persist.Agents {
		inReady[r.ID] = true
	}
	deleted := map[AgentID]bool{}
	for _, id := range rd.Persist.Deleted {
		deleted[id] = true
	}
	for _, a := range rd.Actions {
		st := after
		if a.Owed {
			st = before
		}
		if err := backed(a, st, inReady, deleted); err != nil {
			return err
		}
	}
	return nil
}

func backed(a Action, st *store, inReady, deleted map[AgentID]bool) error {
	find := func(id AgentID) (AgentRecord, bool) {
		if r, ok := st.agents[id]; ok {
			return r, true
		}
		for _, r := range st.agents {
			if r.PreviousID == id || r.Killing.Agent == id {
				return r, true
			}
		}
		return AgentRecord{}, false
	}
	{
		r, found := find(a.Agent)
		if !found && !(a.Kind == ActKill && deleted[a.Agent] && !a.Owed) {
			return fmt.Errorf("action %s on %s without a persisted record", a.Kind, a.Agent)
		}
		if found && !a.Owed && !inReady[r.ID] && !(a.Kind == ActKill && deleted[a.Agent]) {
			return fmt.Errorf("new action %+v whose record was not persisted in the same Ready", a)
		}
		var ok bool
		switch a.Kind {
		case ActLaunch, ActRun:
			ok = r.State == StateRepairing && r.Incident.Run.Attempt == a.Attempt && r.Incident.Run.Step == a.Step &&
				(launchOwed(&r) || a.Kind == ActRun && !a.Owed)
		case ActIsolate:
			ok = r.State == StateIsolated && r.IsolateOwed == a.Attempt && a.Attempt != 0
		case ActReactivate:
			ok = r.ReactivateOwed == a.Attempt && a.Attempt != 0
		case ActUp:
			ok = r.UpOwed == a.Incident && a.Incident != 0 && (a.Owed || !r.Drained)
		case ActKill:
			held := r.Killing.Attempt == a.Attempt && r.Killing.Agent == a.Agent
			// A kill not held (its step never started, or its agent is
			// gone) is no longer owed: its step ended in the history.
			ended := !found || r.Incident.Run.Attempt != a.Attempt && slices.ContainsFunc(r.History,
				func(h Attempt) bool { return h.ID == a.Attempt && h.Result != ResultSucceeded })
			ok = held || !a.Owed && ended
		}
		if !ok {
			return fmt.Errorf("action %+v not backed by persisted state %+v", a, r)
		}
	}
	return nil
}

// clone deep-copies a Ready, which is only valid until the next Step.
func clone(rd Ready) Ready {
	out := Ready{
		Actions:   slices.Clone(rd.Actions),
		Decisions: slices.Clone(rd.Decisions),
	}
	out.Persist.Agents = slices.Clone(rd.Persist.Agents)
	out.Persist.Deleted = slices.Clone(rd.Persist.Deleted)
	if rd.Persist.Global != nil {
		g := *rd.Persist.Global
		out.Persist.Global = &g
	}
	return out
}

func formatReady(b *strings.Builder, rd Ready) {
	for i := range rd.Persist.Agents {
		fmt.Fprintf(b, "persist %s\n", formatRecord(&rd.Persist.Agents[i]))
	}
	for _, id := range rd.Persist.Deleted {
		fmt.Fprintf(b, "delete %s\n", id)
	}
	if g := rd.Persist.Global; g != nil {
		fmt.Fprintf(b, "persist global %s\n", formatGlobal(g))
	}
	for _, a := range rd.Actions {
		fmt.Fprintf(b, "action %s\n", formatAction(a))
	}
	for _, d := range rd.Decisions {
		fmt.Fprintf(b, "decide %s\n", d)
	}
}

func formatStep(s Step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s", s.Action, s.Scope)
	if s.Timeout > 0 {
		fmt.Fprintf(&b, "/%s", s.Timeout)
	}
	if s.Approval {
		b.WriteString("/approval")
	}
	if s.Drain {
		b.WriteString("/drain")
	}
	return b.String()
}

func formatAction(a Action) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", a.Kind, a.Agent)
	if a.Attempt != 0 {
		fmt.Fprintf(&b, " attempt=%d", a.Attempt)
	}
	if a.Step.Action != "" {
		fmt.Fprintf(&b, " step=%s", formatStep(a.Step))
	}
	if a.Kind == ActIsolate || a.Kind == ActReactivate {
		fmt.Fprintf(&b, " method=%s", a.Isolation)
	}
	if a.Forced {
		b.WriteString(" forced")
	}
	if a.Principal != "" {
		fmt.Fprintf(&b, " by=%s", a.Principal)
	}
	if a.Reapply {
		b.WriteString(" reapply")
	}
	if a.Owed {
		b.WriteString(" owed")
	}
	return b.String()
}

func formatGlobal(g *GlobalRecord) string {
	var b strings.Builder
	if g.Paused {
		fmt.Fprintf(&b, "paused=%q by=%s at=%s", g.PauseReason, g.PausedBy, rel(g.PausedAt))
	} else {
		b.WriteString("running")
	}
	if g.Breaker.Tripped {
		fmt.Fprintf(&b, " breaker=tripped(%d/%d at %s)", g.Breaker.Unhealthy, g.Breaker.Known, rel(g.Breaker.TrippedAt))
	}
	fmt.Fprintf(&b, " last-start=%s", rel(g.LastStartAt))
	return b.String()
}

func formatRecord(r *AgentRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.ID, r.State)
	if r.Hostname != "" {
		fmt.Fprintf(&b, " host=%s", r.Hostname)
	}
	if r.Zone != "" {
		fmt.Fprintf(&b, " zone=%s", r.Zone)
	}
	if r.Excluded {
		b.WriteString(" excluded")
	}
	if r.Removed() {
		fmt.Fprintf(&b, " removed=%s", rel(r.RemovedAt))
	}
	if r.PreviousID != "" {
		fmt.Fprintf(&b, " was=%s", r.PreviousID)
	}
	if r.Drained {
		b.WriteString(" drained")
	}
	if inc := &r.Incident; inc.ID != 0 {
		fmt.Fprintf(&b, " incident=%d:%s step=%d signals=%d", inc.ID, inc.Problem, inc.Step+1, inc.Signals)
		if inc.DryRun {
			b.WriteString(" imagined")
		}
		if r.State == StatePending {
			fmt.Fprintf(&b, " pending-since=%s", rel(inc.PendingSince))
		}
		if inc.ApprovalAttempt != 0 {
			fmt.Fprintf(&b, " approval-attempt=%d", inc.ApprovalAttempt)
		}
		if inc.Approved {
			fmt.Fprintf(&b, " approved-by=%s", inc.ApprovedBy)
		}
		if run := &inc.Run; run.Attempt != 0 {
			fmt.Fprintf(&b, " run=%d:%s", run.Attempt, formatStep(run.Step))
			if run.StartedAt.IsZero() {
				fmt.Fprintf(&b, " offer-by=%s", rel(run.OfferDeadline))
			} else {
				fmt.Fprintf(&b, " started=%s deadline=%s", rel(run.StartedAt), rel(run.Deadline))
			}
			if run.Forced {
				fmt.Fprintf(&b, " forced-by=%s", run.ForcedBy)
			}
		}
		if r.State == StateProbation {
			fmt.Fprintf(&b, " probation-until=%s", rel(inc.ProbationEnds))
		}
	}
	if !r.LastClosedAt.IsZero() {
		fmt.Fprintf(&b, " last-closed=%s next-step=%d", rel(r.LastClosedAt), r.NextStep+1)
		if r.NextStepDryRun {
			b.WriteString("(imagined)")
		}
	}
	if k := &r.Killing; k.Attempt != 0 {
		fmt.Fprintf(&b, " killing=%d:%s on=%s until=%s", k.Attempt, formatStep(k.Step), k.Agent, rel(k.Until))
	}
	for _, o := range []struct {
		name string
		v    uint64
	}{{"up-owed", r.UpOwed}, {"isolate-owed", r.IsolateOwed}, {"reactivate-owed", r.ReactivateOwed}} {
		if o.v != 0 {
			fmt.Fprintf(&b, " %s=%d", o.name, o.v)
		}
	}
	if n := len(r.History); n > 0 {
		h := r.History[n-1]
		fmt.Fprintf(&b, " history=%d last=%d:%s:%s", n, h.ID, h.Action, h.Result)
		if h.Result == ResultFailed {
			fmt.Fprintf(&b, "(exit %d)", h.ExitCode)
		}
	}
	return b.String()
}

// stepper drives a coordinator and checks, after every event, the
// invariants that must hold for every output.
type stepper struct {
	tb    testing.TB
	c     *Coordinator
	store *store
}

func (s *stepper) step(ev Event) (Ready, error) {
	rd, err := s.c.Step(ev)
	before := s.store.clone()
	s.store.apply(rd.Persist)
	if werr := checkWriteAhead(rd, before, s.store); werr != nil {
		s.tb.Fatalf("write-ahead violated after %#v: %v", ev, werr)
	}
	s.c.checkInvariants()
	return rd, err
}

// withTime returns ev happening at t.
func withTime(ev Event, t time.Time) Event {
	switch e := ev.(type) {
	case Signal:
		e.At = t
		return e
	case AgentAdded:
		e.At = t
		return e
	case AgentUpdated:
		e.At = t
		return e
	case AgentRemoved:
		e.At = t
		return e
	case StepStarted:
		e.At = t
		return e
	case StepOutcome:
		e.At = t
		return e
	case Command:
		e.At = t
		return e
	case Connectivity:
		e.At = t
		return e
	case Tick:
		e.At = t
		return e
	case ActionApplied:
		e.At = t
		return e
	}
	panic(fmt.Sprintf("withTime: unknown event type %T", ev))
}
