package coordinator

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Coordinator is the repair state machine. It is not safe for concurrent
// use: one goroutine of the runtime owns it.
type Coordinator struct {
	policy Policy
	agents map[AgentID]*agent
	// hosts resolves hostnames to agent ids, tombstones included: a
	// re-registering machine is found by its hostname. A hostname shared
	// by several live agents is ambiguous as a signal target. Nearly every
	// hostname has one record: its id is in hosts; the ids of any more,
	// in the order indexed, in hostsMore (onHost lists them all).
	hosts     map[string]AgentID
	hostsMore map[string][]AgentID
	// prev maps the id a machine had before it last re-registered to its
	// record, so reports about steps in flight that name the old id still
	// arrive (derived from AgentRecord.PreviousID).
	prev   map[AgentID]*agent
	global GlobalRecord
	link   link

	// Derived from the records, never persisted: counts by state, forced
	// steps in flight, steps in flight per zone, the agents in flight, and
	// the pending and timer queues. count/uncount keep them in step with
	// every record change, and Restore re-derives them the same way.
	counts [numStates]int
	// removedCounts counts the tombstones among counts, by state.
	removedCounts [numStates]int
	forced        int
	// killing counts killed steps whose end is not yet confirmed
	// (AgentRecord.Killing); they hold slots like steps in flight.
	killing      int
	zoneInFlight map[string]int
	inFlight     map[AgentID]*agent
	// owing are the agents whose records owe an action (owes).
	owing map[AgentID]*agent
	// zoneQ and heads index the startable pending agents (pending.go);
	// freed lists zones where a slot freed in this Step.
	zoneQ  map[string]*zoneQueue
	heads  queue
	freed  []*zoneQueue
	timers queue
	gen    uint64
	// clock is the latest time accepted (it never moves backwards); zero
	// until the first event after New or Restore.
	clock time.Time
	// restored is what Restore changed in memory (waiting incidents
	// re-checked against a changed policy): the first accepted Step
	// persists and reports it, since Restore returns no Ready.
	restored restoredOutput

	// warm are the agents made full in this Step, spare full records
	// to reuse (idle.go).
	warm  []*agent
	spare []*AgentRecord

	// Per-Step scratch, reused so the hot path does not allocate.
	now         time.Time
	step        uint64
	dirty       []*agent
	deleted     []AgentID
	enqueued    []*agent
	skip        []queueItem
	globalDirty bool
	globalOut   GlobalRecord
	actions     []Action
	decisions   []Decision
	persisted   []AgentRecord
}

// agent is the coordinator's in-memory view of one record.
type agent struct {
	// c is the coordinator the agent belongs to; full is its record while
	// in use, else nil and idle holds it (see idle.go).
	c    *Coordinator
	full *AgentRecord
	idle idleRecord
	// counted says rec is reflected in the derived counts; edit uncounts,
	// commit counts again.
	counted bool
	// deleted says the record is gone from the coordinator (Persist.Deleted):
	// this struct is a leftover that queues and scratch lists skip.
	deleted   bool
	dirtyStep uint64
	// moved is the note of a waiting incident Restore started over
	// because its step left its ladder (see requeueStale).
	moved string
	// slots are the agent's queue entries (pending, timer); nil while it
	// is in no queue, as most agents are (cool drops them).
	slots *agentSlots
}

type agentSlots struct{ pend, timer queueSlot }

// slot returns a's queue slots, made if need be.
func (a *agent) slot() *agentSlots {
	if a.slots == nil {
		a.slots = new(agentSlots)
	}
	return a.slots
}

// queueSlot is an agent's live entry in a queue, if any.
type queueSlot struct {
	queued bool
	at     time.Time
	gen    uint64
	// zone is the zone queue of a pending entry.
	zone string
}

// restoredOutput holds Restore's own changes until the first accepted Step
// reports them: the records to persist, the decisions (stamped with that
// Step's time) and the incidents that started waiting.
type restoredOutput struct {
	dirty     []*agent
	decisions []Decision
	enqueued  []*agent
}

// link is the connectivity that gates starts (Immutable). It is not
// persisted: a restored coordinator starts with everything down.
type link struct {
	master, reconciled, zk bool
	since                  time.Time
}

// New returns a coordinator with no agents, for a first start.
func New(p Policy) (*Coordinator, error) {
	return Restore(p, nil, GlobalRecord{})
}

// Restore rebuilds a coordinator from the policy and its persisted records
// alone (after a crash or a failover). It starts Immutable until the runtime
// reports master connected, reconciled and the ZooKeeper session up; the
// Ready of the Step that makes it mutable carries every action the records
// say is owed. Under a changed policy it re-checks waiting incidents at
// once; the first accepted Step persists and reports what that changed.
func Restore(p Policy, records []AgentRecord, g GlobalRecord) (*Coordinator, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var stale []*agent
	c := &Coordinator{
		policy:       p,
		agents:       make(map[AgentID]*agent, len(records)),
		hosts:        make(map[string]AgentID, len(records)),
		hostsMore:    make(map[string][]AgentID),
		prev:         make(map[AgentID]*agent),
		global:       g,
		zoneInFlight: make(map[string]int),
		inFlight:     make(map[AgentID]*agent),
		owing:        make(map[AgentID]*agent),
		zoneQ:        make(map[string]*zoneQueue),
	}
	for i := range records {
		r := records[i]
		if err := checkRecord(&r); err != nil {
			return nil, err
		}
		if _, dup := c.agents[r.ID]; dup {
			return nil, fmt.Errorf("restore: agent %s recorded twice: %w", r.ID, ErrCorruptRecord)
		}
		a := c.newAgent(r)
		c.agents[r.ID] = a
		c.indexHost(a)
		if p := r.PreviousID; p != "" {
			if _, dup := c.prev[p]; dup {
				return nil, fmt.Errorf("restore: previous agent id %s claimed by two records: %w", p, ErrCorruptRecord)
			}
			c.prev[p] = a
		}
		moved := c.reposition(a)
		c.commit(a)
		if moved || c.stale(a.r()) {
			stale = append(stale, a)
		}
	}
	slices.SortFunc(stale, func(x, y *agent) int { return strings.Compare(string(x.r().ID), string(y.r().ID)) })
	c.begin()
	c.requeueStale(stale)
	c.commitAll()
	if len(c.dirty) > 0 {
		c.restored = restoredOutput{dirty: slices.Clone(c.dirty), decisions: slices.Clone(c.decisions),
			enqueued: slices.Clone(c.enqueued)}
	}
	c.cool()
	return c, nil
}

func checkRecord(r *AgentRecord) error {
	bad := func(what string) error {
		return fmt.Errorf("restore: agent %q: %s: %w", r.ID, what, ErrCorruptRecord)
	}
	switch {
	case r.ID == "":
		return bad("no id")
	case r.State >= numStates:
		return bad("unknown state")
	case r.State.open() != (r.Incident.ID != 0):
		return bad("open incident does not match state " + r.State.String())
	case r.Incident.Step < 0 || r.NextStep < 0 || r.Incident.StepsRun < 0:
		return bad("negative ladder position")
	case r.Incident.ID > r.Incidents:
		return bad("incident id beyond incident count")
	case (r.State == StateRepairing) != (r.Incident.Run.Attempt != 0):
		return bad("step in flight does not match state " + r.State.String())
	case r.Incident.Run.Attempt > r.Attempts || r.Incident.ApprovalAttempt > r.Attempts:
		return bad("attempt id beyond attempt count")
	case r.State == StateRepairing && r.Incident.Run.deadline().IsZero():
		return bad("step in flight without a deadline")
	case r.Incident.Run.Step.Timeout < 0 || r.Incident.Run.Step.Timeout > MaxDuration:
		return bad("step in flight with a timeout outside 0.." + maxDurationText)
	case r.Killing.Attempt != 0 && (r.Killing.Until.IsZero() || r.Killing.Agent == ""):
		return bad("killed step without a bound or an agent")
	case r.Killing.Attempt != 0 && r.State == StateRepairing:
		return bad("a step in flight while a killed one has not ended")
	case r.Killing.Attempt > r.Attempts || r.IsolateOwed > r.Attempts || r.ReactivateOwed > r.Attempts:
		return bad("owed attempt id beyond attempt count")
	case r.UpOwed > r.Incidents:
		return bad("owed incident id beyond incident count")
	case r.State == StateProbation && r.Incident.ProbationEnds.IsZero():
		return bad("probation without an end")
	case len(r.History) > HistoryLen:
		return bad("history too long")
	case r.PreviousID == r.ID:
		return bad("previous id is its own id")
	}
	return nil
}

// Policy returns the policy the coordinator decides with.
func (c *Coordinator) Policy() Policy { return c.policy }

// Step feeds one event and returns what to persist, do and log, in that
// order. The error, if any, says why the event was refused (a sentinel,
// wrapped with detail); a refused event changes nothing, not even the
// clock, and its Ready carries only the rejection's decision.
//
// Time: an event without a time (zero At) or with one outside the range
// the store can keep (see ErrTimeOutOfRange) is refused. The clock never
// moves backwards: an event earlier than the latest time accepted is taken
// to happen at that time (wall clocks step back).
func (c *Coordinator) Step(ev Event) (Ready, error) {
	c.begin()
	at := ev.at()
	c.now = c.clock
	if err := checkTime(at); err != nil {
		what, id := describe(ev)
		c.decide(Decision{Kind: DecRejected, Agent: shownID(id), Err: err, Note: what})
		return c.ready(), fmt.Errorf("%s at %s: %w", what, at.Format(time.RFC3339Nano), err)
	}
	if at.After(c.now) {
		c.now = at
	}
	var err error
	switch e := ev.(type) {
	case Signal:
		err = c.signal(e)
	case AgentAdded:
		err = c.addAgent(e.ID, e.Hostname, e.Zone, false)
	case AgentUpdated:
		err = c.addAgent(e.ID, e.Hostname, e.Zone, true)
	case AgentRemoved:
		err = c.removeAgent(e)
	case StepStarted:
		err = c.started(e)
	case StepOutcome:
		err = c.outcome(e)
	case ActionApplied:
		err = c.applied(e)
	case Command:
		err = c.command(e)
	case Connectivity:
		c.connectivity(e)
	case Tick:
		c.tick()
	default:
		panic(fmt.Sprintf("coordinator: unknown event type %T", ev))
	}
	if err != nil {
		// Every refusal happens before anything changed.
		return c.ready(), err
	}
	c.clock = c.now
	c.flushRestored()
	c.schedule()
	c.reportHeld()
	return c.ready(), nil
}

// flushRestored puts what Restore changed into the first accepted Step's
// output, ahead of the Step's own.
func (c *Coordinator) flushRestored() {
	o := &c.restored
	if o.dirty == nil && o.decisions == nil {
		return
	}
	var front []*agent
	for _, a := range o.dirty {
		if a.dirtyStep != c.step {
			a.dirtyStep = c.step
			front = append(front, a)
		}
	}
	c.dirty = append(front, c.dirty...)
	for i := range o.decisions {
		o.decisions[i].At = c.now
	}
	c.decisions = append(o.decisions, c.decisions...)
	c.enqueued = append(c.enqueued, o.enqueued...)
	c.restored = restoredOutput{}
}

// Earliest and latest event times accepted: what the store can keep with
// every deadline derived from them (it keeps Unix nanoseconds in an int64,
// years 1678 to 2262; see MaxDuration). A time outside is a runtime clock
// that is not set, or a bug.
var (
	earliestTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	latestTime   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkTime(t time.Time) error {
	switch {
	case t.IsZero():
		return ErrNoTime
	case t.Before(earliestTime) || !t.Before(latestTime):
		return ErrTimeOutOfRange
	}
	return nil
}

// describe names an event and the agent it is about, for a refusal.
func describe(ev Event) (string, AgentID) {
	switch e := ev.(type) {
	case Signal:
		return "signal", AgentID(e.Agent)
	case AgentAdded:
		return "agent added", e.ID
	case AgentUpdated:
		return "agent updated", e.ID
	case AgentRemoved:
		return "agent removed", e.ID
	case StepStarted:
		return "step started", e.Agent
	case StepOutcome:
		return "step outcome", e.Agent
	case ActionApplied:
		return e.Kind.String() + " applied", e.Agent
	case Command:
		return e.Op.String(), e.Agent
	case Connectivity:
		return e.Change.String(), ""
	case Tick:
		return "tick", ""
	}
	panic(fmt.Sprintf("coordinator: unknown event type %T", ev))
}

func (c *Coordinator) begin() {
	c.step++
	c.dirty = c.dirty[:0]
	c.deleted = c.deleted[:0]
	c.enqueued = c.enqueued[:0]
	c.actions = c.actions[:0]
	c.decisions = c.decisions[:0]
	c.persisted = c.persisted[:0]
	c.globalDirty = false
}

func (c *Coordinator) ready() Ready {
	c.commitAll()
	for _, a := range c.dirty {
		if !a.deleted {
			c.persisted = append(c.persisted, *a.r())
		}
	}
	r := Ready{Actions: c.actions, Decisions: c.decisions}
	r.Persist.Agents = c.persisted
	r.Persist.Deleted = c.deleted
	if c.globalDirty {
		c.globalOut = c.global
		r.Persist.Global = &c.globalOut
	}
	c.cool()
	return r
}

func (c *Coordinator) decide(d Decision) {
	d.At = c.now
	if d.Hostname == "" && d.Agent != "" {
		if a := c.agents[d.Agent]; a != nil {
			d.Hostname = a.r().Hostname
		} else if a := c.prev[d.Agent]; a != nil {
			d.Hostname = a.r().Hostname
		}
	}
	c.decisions = append(c.decisions, d)
}

// act emits an action, unless the coordinator is Immutable: then it stays
// owed in the records (every action's intent is, see owes) and comes out
// when the coordinator becomes mutable again.
func (c *Coordinator) act(a Action) {
	if c.immutable() {
		return
	}
	c.actions = append(c.actions, a)
}

// edit marks a's record as changing in this Step: it will be persisted, and
// it leaves the derived counts until commit puts it back.
func (c *Coordinator) edit(a *agent) {
	if a.dirtyStep != c.step {
		a.dirtyStep = c.step
		c.dirty = append(c.dirty, a)
	}
	if a.counted {
		c.uncount(a)
	}
}

// commit puts an edited record back into the derived counts and queues.
func (c *Coordinator) commit(a *agent) {
	if a.counted || a.deleted {
		return
	}
	c.count(a)
	r := a.r()
	c.queuePending(a)
	if d, ok := c.deadline(r); ok {
		c.requeue(&c.timers, &a.slot().timer, r.ID, d)
	} else if a.slots != nil {
		a.slots.timer.queued = false
	}
}

func (c *Coordinator) commitAll() {
	for _, a := range c.dirty {
		c.commit(a)
	}
}

func (c *Coordinator) requeue(q *queue, s *queueSlot, id AgentID, at time.Time) {
	if s.queued && s.at.Equal(at) {
		return
	}
	c.gen++
	*s = queueSlot{queued: true, at: at, gen: c.gen}
	q.push(queueItem{at: at, id: id, gen: c.gen})
}

// live returns the agent a queue item stands for, or nil if it is stale.
func (c *Coordinator) live(it queueItem, slot func(*agentSlots) *queueSlot) *agent {
	a := c.agents[it.id]
	if a == nil || a.slots == nil {
		return nil
	}
	s := slot(a.slots)
	if !s.queued || s.gen != it.gen {
		return nil
	}
	return a
}

func pendSlot(s *agentSlots) *queueSlot  { return &s.pend }
func timerSlot(s *agentSlots) *queueSlot { return &s.timer }

// deadline is when the record next needs attention from a tick: the bound
// of a killed step's wait, or its state's deadline (stateDeadline),
// whichever is first.
func (c *Coordinator) deadline(r *AgentRecord) (time.Time, bool) {
	d, ok := c.stateDeadline(r)
	if k := r.Killing; k.Attempt != 0 && (!ok || k.Until.Before(d)) {
		return k.Until, true
	}
	return d, ok
}

// stateDeadline is a step's deadline, the end of probation, or when a
// removed machine's tombstone expires (once keep no longer holds it).
func (c *Coordinator) stateDeadline(r *AgentRecord) (time.Time, bool) {
	switch r.State {
	case StateRepairing:
		return r.Incident.Run.deadline(), true
	case StateProbation:
		return r.Incident.ProbationEnds, true
	case StateHealthy:
		if r.Removed() && !r.Excluded && !owes(r) {
			if r.LastClosedAt.IsZero() {
				return r.RemovedAt, true
			}
			return r.LastClosedAt.Add(c.policy.ResetAfter), true
		}
	}
	return time.Time{}, false
}

func (c *Coordinator) count(a *agent) {
	r := a.r()
	c.counts[r.State]++
	if r.Removed() {
		c.removedCounts[r.State]++
	}
	if r.State == StateRepairing {
		c.zoneInFlight[r.Zone]++
		c.inFlight[r.ID] = a
		if r.Incident.Run.Forced {
			c.forced++
		}
	}
	if r.Killing.Attempt != 0 {
		c.killing++
		c.zoneInFlight[r.Zone]++
		if r.Killing.Forced {
			c.forced++
		}
	}
	if owes(r) {
		c.owing[r.ID] = a
	}
	a.counted = true
}

func (c *Coordinator) uncount(a *agent) {
	r := a.r()
	c.counts[r.State]--
	if r.Removed() {
		c.removedCounts[r.State]--
	}
	if r.State == StateRepairing {
		c.zoneInFlight[r.Zone]--
		if c.zoneInFlight[r.Zone] == 0 {
			delete(c.zoneInFlight, r.Zone)
		}
		c.slotFreed(r.Zone)
		delete(c.inFlight, r.ID)
		if r.Incident.Run.Forced {
			c.forced--
		}
	}
	if r.Killing.Attempt != 0 {
		c.killing--
		c.zoneInFlight[r.Zone]--
		if c.zoneInFlight[r.Zone] == 0 {
			delete(c.zoneInFlight, r.Zone)
		}
		c.slotFreed(r.Zone)
		if r.Killing.Forced {
			c.forced--
		}
	}
	delete(c.owing, r.ID)
	a.counted = false
}

func (c *Coordinator) indexHost(a *agent) {
	r := a.r()
	h := r.Hostname
	switch _, ok := c.hosts[h]; {
	case h == "":
	case !ok:
		c.hosts[h] = r.ID
	default:
		c.hostsMore[h] = append(c.hostsMore[h], r.ID)
	}
}

// onHost appends the ids of the records on hostname h to buf, in the order
// they were indexed.
func (c *Coordinator) onHost(h string, buf []AgentID) []AgentID {
	id, ok := c.hosts[h]
	if !ok {
		return buf
	}
	return append(append(buf, id), c.hostsMore[h]...)
}

func (c *Coordinator) unindexHost(a *agent) {
	r := a.r()
	h := r.Hostname
	if h == "" {
		return
	}
	ids := slices.DeleteFunc(c.onHost(h, nil), func(id AgentID) bool { return id == r.ID })
	delete(c.hosts, h)
	delete(c.hostsMore, h)
	if len(ids) > 0 {
		c.hosts[h] = ids[0]
	}
	if len(ids) > 1 {
		c.hostsMore[h] = ids[1:]
	}
}

// The storm breaker counts machines, whatever their agent id (see the
// package doc, "The storm breaker's count"): unhealthy are those in an
// incident or isolated; known, its base, are the agents registered with
// Mesos plus the removed machines still in an incident. A removed machine
// with an open incident is counted on both sides (healer is still repairing
// it, and it is a machine of the cluster, away for now), so its removal and
// its return under a new id move neither number. A removed isolated machine
// is on neither side: out of service and out of the cluster.
func (c *Coordinator) unhealthy() int {
	return c.counts[StatePending] + c.counts[StateAwaitingApproval] + c.counts[StateRepairing] +
		c.counts[StateProbation] + c.counts[StateIsolated] - c.removedCounts[StateIsolated]
}

// removedOpen counts the removed machines with an open incident.
func (c *Coordinator) removedOpen() int {
	return c.removedCounts[StatePending] + c.removedCounts[StateAwaitingApproval] +
		c.removedCounts[StateRepairing] + c.removedCounts[StateProbation]
}

// removed counts the removed machines' tombstones.
func (c *Coordinator) removed() int {
	n := 0
	for _, k := range c.removedCounts {
		n += k
	}
	return n
}

// registered counts the agents registered with Mesos.
func (c *Coordinator) registered() int { return len(c.agents) - c.removed() }

// known is the storm breaker's base: registered agents and removed machines
// still in an incident. Never below unhealthy.
func (c *Coordinator) known() int { return c.registered() + c.removedOpen() }

func (c *Coordinator) immutable() bool {
	return !c.link.master || !c.link.reconciled || !c.link.zk
}

// why says why the coordinator is Immutable, most fundamental cause first.
func (c *Coordinator) why() string {
	switch {
	case !c.link.master:
		return "not connected to a Mesos master"
	case !c.link.reconciled:
		return "not reconciled since subscribing"
	case !c.link.zk:
		return "no ZooKeeper session"
	}
	return ""
}

func (c *Coordinator) markGlobal() { c.globalDirty = true }
