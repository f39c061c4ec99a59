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
// The runtime must persist first, then act, then log. Every action's intent
// is part of the records in the same Ready (write-ahead), so a crash between
// persisting and acting loses at most an action whose effect the next leader
// rediscovers through reconciliation; it never loses the intent.
//
// The slices in a Ready are owned by the coordinator and are valid only until
// the next call to Step (raft's "valid until Advance"); the runtime copies
// what it keeps. Records' History slices are never modified after they have
// been emitted, so a copied AgentRecord may be kept indefinitely.
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
//   - Cancel kills a step in flight (ActKill), frees its slot, ends a
//     drain window (ActUp), and does not count the killed step as tried: a
//     new incident within reset_after continues from it, not past it.
//   - Exclude leaves a step in flight to finish (killing a reboot half-way
//     can do more harm); no further step starts. Cancel kills.
//   - Approve must name the incident it approves; approving any other
//     incident than the open one is refused with which one is open.
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
//     1 (B)"), under every usual limit. Waiting incidents are moved in the
//     first Step; a step in flight finishes as launched and a probation
//     runs on, and their next step is found from their step by action when
//     they escalate; a new incident within reset_after finds its
//     continuation (NextAction, in the ladder of NextProblem) likewise.
//     Records written before positions carried their step are taken as
//     indices. A problem whose own ladder was removed continues on the
//     default ladder; waiting
//     incidents are re-checked against the new policy in the first Step
//     (a step that now needs approval waits for it, one that no longer
//     does becomes pending). What dry-run only imagined never drives a real
//     repair: in execute, an incident or escalation history resting on
//     would-be steps starts the ladder over (DecStartedOver). Switching to
//     observe starts nothing new but keeps watching steps in flight.
//
// Starts happen in a schedule pass at the end of every Step, so a restored
// coordinator that is fed the same events decides the same starts; the
// runtime should send a Tick at least as often as its finest timeout
// granularity (e.g. every few seconds).
package coordinator
