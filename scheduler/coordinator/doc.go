// Package coordinator is healer's repair coordinator: a pure, deterministic
// state machine that decides which repair runs where and when.
//
// # Contract
//
// The coordinator is shaped like etcd raft's RawNode. It owns no goroutine,
// touches no network, disk or clock and does not log. The runtime feeds it
// one event at a time with [Coordinator.Step]; every event carries its own
// time (Event.At), and time only advances through events, typically a [Tick].
// Each call returns a [Ready] holding, in this order:
//
//  1. Persist: the full per-agent records that changed (and ids of records
//     to delete, including the old id of a machine that re-registered
//     under a new one) plus the global record when it changed;
//  2. Actions: what the runtime must do in the world (launch an agent-scope
//     step, run a master-scope step, isolate, reactivate, kill a step, bring
//     an agent back up from maintenance);
//  3. Decisions: one record per decision, saying what was decided and why,
//     for logs, metrics, the audit trail and the admin API.
//
// The runtime must persist first, then act, then log. The slices in a Ready
// are owned by the coordinator and are valid only until the next call to
// Step (raft's "valid until Advance"); the runtime copies what it keeps.
// Records' History slices are never modified after they have been emitted,
// so a copied AgentRecord may be kept indefinitely.
//
// Time. An event without a time (ErrNoTime), or with one outside
// 2000..2200 (ErrTimeOutOfRange: a clock that is not set; the store keeps
// nothing outside its range), is refused. The coordinator's clock is the
// latest time accepted and never moves backwards: an event earlier than
// it happens at the clock (wall clocks step back). A restored coordinator's
// clock starts at its first event.
//
// Refusals. A Step that returns an error refused its event and changed
// nothing at all: no record, not the clock, no schedule pass; its Ready
// holds only the rejection's decision. Events that do not apply but are
// normal (a late outcome, a repeated acknowledgement) are accepted and
// ignored (DecIgnored), with no error.
//
// Durations. Every duration of a Policy is at most MaxDuration (365 days)
// and deadline arithmetic saturates, so no input can make a deadline come
// early.
//
// # Owed actions: the runtime's contract
//
// Nothing owed is only in memory. Every action's intent is in the records
// persisted in the same Ready, and stays marked there until it is confirmed
// (see [Coordinator.Owed] for the list, derived from the records alone):
//
//   - ActLaunch (and ActRun of a draining master-scope step): owed while
//     the step waits for its offer (Run.StartedAt zero); confirmed by
//     StepStarted. The runtime feeds StepStarted when it sends the launch
//     to Mesos, before any other event, and launches only if that Ready
//     holds DecRunning for the attempt (a step the coordinator gave up on
//     is refused). Task ids must be derived from agent and attempt, so a
//     launch re-emitted after a crash that the old leader already sent is
//     found by reconciliation (report StepStarted, or its StepOutcome)
//     instead of launched twice.
//   - ActRun of a master-scope step without drain starts at once and is
//     not owed: after a failover the new leader cannot know whether it ran
//     (the old leader's runner died with it), so it is not re-run; its
//     outcome never comes and it times out at its deadline (ResultTimedOut,
//     escalating).
//   - ActKill of a started step: owed, and the step keeps its slot
//     (AgentRecord.Killing), until its terminal status (any StepOutcome for
//     the attempt, naming the agent id it ran on or the machine's current
//     id), its agent's removal (agent-scope steps only: a master-scope step
//     runs on the scheduler's host), or Kill.Until: the step's own deadline
//     (or the kill, if later) plus Policy.KillConfirmTimeout (default 5m). The executor (or the
//     scheduler's runner) ends a step by its deadline by itself, so past
//     Until it has ended even if no status said so, and the slot is freed
//     (DecKillExpired). A master-scope step's runner that does not have the
//     attempt (a new leader) reports StepOutcome with ResultLost at once.
//     The kill of a step that never started (it only stops the runtime's
//     wait), or on a removed agent, is not held and not owed.
//   - ActIsolate, ActReactivate, ActUp: owed until the master acknowledges
//     them; the runtime feeds [ActionApplied] (Kind, Agent, and the
//     action's Attempt, or Incident for ActUp); that clears the marker
//     (AgentRecord.IsolateOwed, ReactivateOwed, UpOwed) in one persisted
//     write. A reactivation supersedes an isolation not yet acknowledged
//     and an owed UP; an isolation supersedes a reactivation. An action the
//     master refuses because it no longer applies (the agent id is gone)
//     counts as applied: acknowledge it. With isolation methods kept per
//     agent id (deactivate, drain), a removed agent's isolation and
//     reactivation are dropped, not owed (a machine that returns under a
//     new id is isolated again); a maintenance window is the machine's and
//     stays owed. A removed machine that owes something is remembered
//     until it no longer does.
//
// Immutable. While Immutable the coordinator emits no action at all
// (decisions still come out): whatever it decides stays owed in the
// records. When it becomes Immutable the runtime drops its waits for
// offers and stops acting. The Ready of the Step that makes it mutable
// again carries every owed action, marked Action.Owed, before anything new
// (a new decision later in the same Ready may supersede one, e.g. an
// isolation an owed reactivation); the runtime replaces its waits with the
// owed launches. A restored coordinator starts Immutable, so the first
// Ready after reconnecting lists everything the dead leader owed, whether
// or not it had carried it out. For one machine the runtime carries out
// actions in the order given (a kill, the UP of a finished drain window,
// an isolation or reactivation, then a launch, which may drain again).
// Carrying out an owed action again must be harmless: launches and kills
// are keyed by agent and attempt, master calls are idempotent.
//
// Slots. A step holds a slot (num_allowed_repairs and its zone's cap) from
// its launch until its end is confirmed: a killed step keeps its slot as
// above, and its machine starts nothing (not even its ladder's isolation,
// nor a force) until then (ErrKillPending).
//
// Approval. A step that needs approval gets its attempt id when it begins
// waiting (Decision.Attempt of its DecAwaitingApproval,
// Incident.ApprovalAttempt); an approval names the incident and that
// attempt (Command.Incident, Command.Attempt), and the step runs as that
// attempt. An approval of anything else is refused: ErrStaleApproval names
// the attempt and step that wait now; ErrNotAwaitingApproval says what the
// incident is doing instead. A step that begins waiting again (moved by a
// restart under another policy) gets a new id.
//
// # Rebuild
//
// [Restore] rebuilds a coordinator from its policy and persisted records
// alone (removed machines' tombstones are records like any other).
// Everything that influences a decision is in those records, except
// connectivity (master, reconciliation, ZooKeeper session), which a restored
// coordinator assumes to be down: it starts Immutable, and the runtime feeds
// the connectivity events again as it re-subscribes. A restored coordinator
// then decides exactly as the original would have after losing its
// connections. The one field that is deliberately not kept current in
// storage is the open incident's duplicate-signal counter (Incident.Signals
// and Incident.LastSignalAt): a duplicate signal changes no decision, so it
// costs no ZooKeeper write; the counter is written along with the record's
// next real change and may undercount after a crash.
//
// # Rules
//
// The per-agent lifecycle is healthy → pending → repairing(step k) →
// probation → healthy. A failed, timed-out, lost or never-offered step
// escalates to step k+1, so does a relapse (a signal during probation); past
// the end of the ladder the agent is isolated and stays isolated until an
// operator reactivates it. Starts are gated by the mode, Immutable, the
// global pause, the storm breaker, per-agent exclusion, num_allowed_repairs,
// the per-zone cap and the minimum spacing between starts; pending agents get
// freed slots oldest first. See [Policy] for every limit and its default.
//
// Modes govern the repairs healer decides itself (see [Mode]). Explicit
// operator commands are audited with their principal: isolate and
// reactivate act in every mode; force (a bypass of every limit except
// Immutable) is refused outside execute. Forced steps occupy slots, so
// automatic starts never exceed num_allowed_repairs because of them; only
// the force itself may.
//
// Drain steps: the launch action carries Step.Drain and the runtime puts the
// agent into a DRAINING maintenance window before launching, within
// Policy.DrainTimeout (for a draining master-scope step, it reports
// StepStarted once drained). The coordinator emits [ActUp] when it ends the
// window: after the drained step succeeds, on cancel, and on reactivate.
//
// Decisions where DESIGN.md is silent (each shown in testdata/):
//
//   - Text from outside is bounded (see MaxProblemBytes and the other
//     bounds): names over their bound, not UTF-8 or holding control
//     characters are refused (ErrBadProblem, ErrBadPrincipal,
//     ErrBadAgentID, ErrBadHostname, ErrBadZone); descriptive text is
//     clipped, so every record fits the store whatever a monitor posts.
//   - A signal for an isolated agent is ignored (DecIgnored, ErrIsolated):
//     it opens nothing and attaches to nothing; isolation already took the
//     agent out of service and only an operator's reactivate ends it.
//   - reset_after is measured from when the last incident that ran a step
//     closed (quiet probation, cancel, isolation); at exactly reset_after the
//     ladder starts over (reset_after_boundary.txt).
//   - A saved ladder position is meaningful only in the ladder it was
//     recorded in (relapse_other_problem.txt, relapse_shared_ladder.txt).
//     A new incident within reset_after continues from the machine's
//     position (AgentRecord.NextStep, with NextAction and NextProblem) only
//     on the same ladder: the same problem, or two problems without a
//     ladder of their own (both on the default ladder, which is problem
//     agnostic). A problem on another ladder starts its own ladder at step
//     1, with a decision note saying why; no position is kept per problem,
//     so a machine alternating between problems on different ladders starts
//     each over (the milder side). A position whose problem is unknown
//     (written by an older healer) starts over too, and a bare index (no
//     step recorded) resolves only to a repair step of the current ladder:
//     an index at or past its isolation starts the ladder over
//     (legacy_position.txt). No position ever means isolation unless it
//     names isolation itself.
//   - Cancel kills a step in flight (ActKill; a started one keeps its slot
//     until it has ended), ends a drain window (ActUp), and does not count
//     the killed step as tried: a new incident within reset_after
//     continues from it, not past it.
//   - Exclude leaves a step in flight to finish (killing a reboot half-way
//     can do more harm); no further step starts. Cancel kills.
//   - Approve must name the incident and the step (its attempt id) it
//     approves; approving any other incident than the open one is refused
//     with which one is open, any other step with which one waits
//     (approval_stale.txt).
//   - Machines, not agent ids (agent_removed.txt, machine_*.txt,
//     tombstone_expiry.txt). A reboot or re-image brings a machine back
//     under a new agent id with the same hostname; healer follows the
//     hostname. It assumes one agent per machine, Mesos's production norm:
//     agents sharing a hostname would be taken for re-registrations.
//   - AgentRemoved keeps the record as the machine's tombstone
//     (AgentRecord.RemovedAt) while it matters: an open incident, an
//     isolation or exclusion, or an incident closed within reset_after.
//     Otherwise the record is deleted at once. Signals naming its id, or a
//     hostname with no live agent, are refused (ErrAgentRemoved); operator
//     commands still reach it by id.
//   - The storm breaker's count (breaker_removed.txt) is of machines:
//     unhealthy are those in an incident or isolated, out of known, the
//     agents registered with Mesos plus the removed machines still in an
//     incident. Such a machine counts on both sides, so unhealthy never
//     exceeds known, and its removal and its return under a new id (a mass
//     reboot) move neither number: machines vanishing do not trip the
//     breaker, nor hide a storm of machines that fail and vanish. A removed
//     isolated machine counts on neither side (out of service and out of
//     the cluster); a removed machine with nothing open leaves the base
//     until it returns, so while part of the cluster is away the breaker
//     measures against what is there, the cautious side. Status and the
//     trip's decision say how many of the known are removed machines.
//   - In flight on a removed agent: an agent-scope step is lost with it
//     (ActKill, ResultLost, escalation: the next step is often a
//     master-scope power cycle); a master-scope step runs on and its
//     outcome is taken; a pending or awaiting-approval step keeps waiting,
//     and once launched waits offer_timeout for an offer, escalating if the
//     machine does not return; probation runs on, and a machine that
//     returns quiet is healed. A drain window healer opened stays: Mesos
//     keys maintenance by machine (hostname and IP), not agent id, and the
//     incident that opened it ends it as usual (ActUp names the agent id
//     and hostname; the runtime addresses the machine). A reboot or
//     re-image step must report its outcome before the machine goes down:
//     a task that dies with its agent is lost, like any lost task.
//   - AgentAdded with a new id on the hostname of a tombstone, or of a live
//     agent (the old registration, not yet removed), moves the record to
//     the new id (DecReregistered, Persist.Deleted names the old id):
//     incident, ladder position, history, exclusion and isolation carry
//     over; the zone is the new registration's. An agent-scope step of the
//     old registration that had started, or of one never removed, is lost;
//     one launched after the removal and still waiting for its offer moves
//     to the new id (ActLaunch with Reapply). An isolated machine is
//     isolated again (ActIsolate with Reapply): DEACTIVATE_AGENT and
//     DRAIN_AGENT are kept per agent id; a maintenance DOWN window is the
//     machine's and Mesos refuses agents on a DOWN machine, so a
//     registration there means someone brought it UP outside healer, and
//     only healer's reactivate ends an isolation it made. Step reports
//     naming the machine's previous id (AgentRecord.PreviousID) are taken,
//     and the later removal of that id is expected and ignored. Several
//     live agents on one hostname are never guessed between: a new id
//     there is a new agent, and the hostname is ambiguous as a target.
//   - Tombstones expire: on the first Tick at or after reset_after from
//     its last incident's close (or at once without one), a removed record
//     with nothing open that is neither isolated nor excluded is deleted
//     (DecExpired), so state does not grow with machine churn. Isolated
//     and excluded removed machines are kept however long they are away:
//     an operator decision outlives a registration. Reactivate or include
//     one to let it expire (how a decommissioned machine is forgotten).
//   - Restore under a changed policy (policy_change.txt, mode_switch*.txt):
//     a ladder position is an index recorded with the step there (action
//     and scope: Incident.StepAction, AgentRecord.NextAction), and an
//     edited ladder never isolates a machine by itself. A position whose
//     step is still at its index stays (always so under the same policy,
//     so a rebuild decides as before); otherwise it moves to the first
//     index of that step in the current ladder, counting from step 1 (with
//     the step listed twice, a milder rung repeats rather than one being
//     skipped). A position that was already at isolation stays at
//     isolation (the ladder's own isolate step, else past its end). A step
//     no longer in the ladder starts it over at step 1 (DecStartedOver,
//     "ladder for P changed; A is no longer in it: starting over at step
//     1 (B)"), under every usual limit. Waiting incidents are moved by
//     Restore itself and the first accepted Step persists and reports it;
//     a step in flight finishes as launched and a probation runs on, and
//     their next step is found from their step by action when they
//     escalate; a new incident within reset_after finds its continuation
//     (NextAction, on the same ladder, see above) likewise. A problem whose
//     own ladder was removed continues on the default ladder; waiting
//     incidents are re-checked against the new policy by Restore (a step
//     that now needs approval waits for it, with a new attempt id; one
//     that no longer does becomes pending, keeping its place). What dry-run only imagined never drives a real
//     repair: in execute, an incident or escalation history resting on
//     would-be steps starts the ladder over (DecStartedOver). Switching to
//     observe starts nothing new but keeps watching steps in flight.
//
// Starts happen in a schedule pass at the end of every accepted Step, so a
// restored coordinator that is fed the same events decides the same
// starts; the runtime should send a Tick at least as often as its finest
// timeout granularity (e.g. every few seconds). Pending agents are indexed
// by zone, so an event costs the same however many wait behind a zone cap
// or an exclusion.
package coordinator
