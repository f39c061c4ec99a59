// Package mesosconn is healer-scheduler's connection to the Mesos master: the
// v1 scheduler API (subscribe, keep the subscription alive, deliver events,
// send calls) and the operator API, spoken with mesos-go v0.0.11's HTTP
// client and protobuf codec. It does the wire, not the policy: what to call
// and what an event means is the runtime's business.
//
// # Contract
//
// Run(ctx) is the one owner of the subscription. It finds the leading master
// (a static host:port list, following 307 redirects, or the master group in
// ZooKeeper), subscribes, and keeps doing so until ctx ends or a fatal error:
//
//   - Every SUBSCRIBE after the first carries the same framework ID: the one
//     in Config, or the one the first SUBSCRIBED returned. The adapter never
//     registers a new framework once it has an ID, and a SUBSCRIBED naming
//     another ID than the one asked for is a fatal error.
//   - Events arrive on Events(), a bounded queue, in stream order. Each
//     subscription is a generation: a Subscribed event opens it (Gen+1), its
//     stream events carry its Gen, and a Disconnected event closes it with
//     the reason. Subscribed and Disconnected are never dropped; HEARTBEAT is
//     consumed here. When the queue is full (a burst: a reconciliation's
//     answers for every task), the stream waits for room up to
//     HeartbeatMisses heartbeat intervals; a runtime that takes nothing for
//     that long is given up on, rather than stall the stream for good (a
//     stalled reader makes the master buffer without bound, MESOS-7748):
//     Disconnected wraps ErrEventOverflow, and the next Subscribed tells the
//     runtime to reconcile. Disconnected may close a generation whose
//     Subscribed the runtime was never handed only if delivering it timed
//     out; a Disconnected is always delivered before the next Subscribed.
//   - A stream with no event (HEARTBEAT included) for HeartbeatMisses
//     heartbeat intervals is counted lost, half-open or not, and closed.
//   - Lost subscriptions are retried with capped, jittered exponential
//     backoff; a leader change seen in ZooKeeper moves the subscription to
//     the new leader at once.
//   - Run returns nil when ctx ends, after closing the stream: it never sends
//     TEARDOWN, so the framework and its tasks outlive the process for the
//     failover timeout. It returns an error only for what retrying cannot
//     fix: ErrFrameworkRemoved (the master refused the framework ID: its
//     failover timeout expired or it was torn down), ErrFailedOver (another
//     scheduler subscribed with this ID: only one may hold it, and the
//     adapter does not take it back), ErrUnauthorized (401: wrong principal
//     or secret) and ErrSubscribeRefused (the master rejected the
//     FrameworkInfo). When Run returns, every goroutine it started has
//     ended and Events() is closed. Run may be called once.
//
// Call sends a scheduler call to the master holding the subscription, with
// its Mesos-Stream-Id and framework_id stamped. A call the master rejects
// (4xx) returns an error carrying the status and the master's message and
// leaves the subscription alone, unless the answer means the master no
// longer holds it (403, a stream ID it does not know, an unknown framework,
// a redirect or 503 from a master that stopped leading): then the
// subscription is dropped at once (Disconnected, resubscribe) and the error
// wraps ErrNotSubscribed. Calls are never queued or replayed: a call made
// while there is no subscription fails with ErrNotSubscribed.
//
// Operator sends an operator API call to the leading master, following
// redirects; a Mesos error status comes back as *Error.
//
// # Why not httpsched
//
// mesos-go's stateful httpsched caller drops the subscription on any failed
// call, follows a SUBSCRIBE redirect without remembering the leader, rejects
// UPDATE_FRAMEWORK's empty 200, has no heartbeat watchdog and refuses
// RecordIO frames over 4 MiB (shared/mesos-protocol.md 8.5, pitfalls 1–4).
// This package uses mesos-go's httpcli client (request encoding, transport,
// basic auth), its codecs, types and call builders, and handles responses,
// redirects, stream IDs and framing itself, so none of those pitfalls apply.
package mesosconn
