// Package runtime is healer-scheduler's event loop: the one goroutine that
// owns the repair coordinator while this instance leads, feeds it what the
// adapters hear, persists what it says to persist, and carries out what it
// says to do.
//
// # Shape
//
// A Runtime lives as long as the process. It waits for leadership (see
// Leadership): every time this instance is elected it starts a term, and a
// term ends when leadership is lost, when the process stops, or when the
// term cannot trust its own state any more (a failed store write, a panic
// in the loop). A term is:
//
//  1. Load: everything healer keeps, read from the term's store after the
//     election was won (never before: a standby that read first could mint a
//     second framework, Marathon #1063). State without a framework id is an
//     error, not a fresh start, unless the store is empty.
//  2. Restore: a coordinator rebuilt from those records alone. Nothing in
//     memory survives from an earlier term (Marathon #1553).
//  3. Subscribe: one master connection (Master), with the stored framework
//     id. The first SUBSCRIBED of a new framework stores its id before
//     anything else happens.
//  4. Loop: one goroutine selects over the master's events, admin requests,
//     results from the workers, leadership changes and the clock. Each
//     input becomes zero or more coordinator events; a batch of them is
//     stepped, their Readys are merged, persisted in one store write, then
//     acted on, then logged — persist, act, log, never another order. A
//     Ready whose write failed is never acted on: the term ends and the
//     next one rebuilds from the store.
//
// # What the runtime promises the coordinator
//
//   - Connectivity: MasterConnected on every SUBSCRIBED, Reconciled once
//     reconciliation for that subscription has finished, MasterDisconnected
//     when the subscription ends; ZKSessionUp/ZKSessionDown as the elector
//     reports the session (a suspended session stops all acting at once).
//   - Ticks every Config.TickInterval.
//   - Status updates become StepStarted and StepOutcome for the attempt the
//     task id names; they are acknowledged only after their effect is
//     persisted.
//
// # Reconciliation
//
// On every SUBSCRIBED: an explicit RECONCILE for every task healer's
// records say is in flight, then an implicit one, then an explicit one for
// a task id that cannot exist (the marker). The master answers calls in
// order, so the marker's answer comes after every other answer: it ends
// reconciliation, and only then is the coordinator told Reconciled. Tasks
// the records do not know are killed. An in-flight step's task that the
// master does not know (TASK_UNKNOWN, TASK_LOST from reconciliation) is
// asked about again with backoff before it counts as lost (MESOS-6250), and
// a launch whose task the master already knows is never launched again.
//
// # Offers
//
// The framework SUPPRESSes while nothing waits for an offer and REVIVEs
// (coalesced, once per need) the moment something does. An offer from an
// agent with a launch waiting is accepted for the small task resources
// (reserved-role aware); every other offer is declined with a long filter,
// which the next REVIVE clears.
package runtime
