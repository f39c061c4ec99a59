// Package emulator is an in-process emulator of an Apache Mesos master and its
// agents, faithful on the wire to the Mesos v1 HTTP APIs as described in
// shared/mesos-protocol.md (and, where that file and the real Mesos sources
// disagree, to real Mesos). healer's integration tests, scale tests and the
// demo run against it because a real Mesos cannot be installed on our
// machines.
//
// What it speaks:
//   - the scheduler API (POST /api/v1/scheduler) with RecordIO event streams
//     in JSON and protobuf, framework failover, offers and refusal filters,
//     status-update retries, reconciliation;
//   - the executor API (POST /api/v1/executor) on every agent, with custom
//     executors run as real processes, or in-process fake executors for
//     scale tests;
//   - the operator API (POST /api/v1): state queries, maintenance, draining,
//     agent (de)activation;
//   - master registration in a real ZooKeeper (json.info_ sequential
//     ephemeral nodes), leadership by lowest sequence, and 307 redirects from
//     non-leading masters.
//
// Structure. A Master and its Agents talk only through the message-passing
// contract in link.go, the way libprocess actors do: every call across it is
// an asynchronous message that never blocks and never calls back into the
// caller before returning. That lets each side guard its state with its own
// mutex without lock-order deadlocks, and lets the Cluster interpose faults
// (partitions, dropped or delayed messages) on the links.
//
// Every launch, kill, status update and operator call is recorded by a
// Recorder (recorder.go) with its time, so a test can check invariants over a
// whole run.
package emulator
