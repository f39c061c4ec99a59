// Package emulator is an in-process emulator of Apache Mesos masters and
// agents, faithful on the wire to the Mesos v1 HTTP APIs as described in
// shared/mesos-protocol.md (and, where that file and the real Mesos sources
// disagree, to real Mesos). healer's integration tests, scale tests and the
// demo (cmd/mesos-emulator) run against it because a real Mesos cannot be
// installed on our machines.
//
// What it speaks:
//   - the scheduler API (POST /api/v1/scheduler, scheduler_api.go,
//     framework.go, allocator.go, tasks.go): RecordIO event streams in JSON
//     and protobuf, framework failover, offers, refusal filters and inverse
//     offers, status-update retries, reconciliation;
//   - the executor API (POST /api/v1/executor, executor_api.go) on every
//     agent (agent.go), with custom executors run as real processes and the
//     command executor built in (executor_process.go, healthcheck.go), or
//     in-process fake executors for scale tests (fake_executor.go);
//   - the operator API (POST /api/v1, operator.go, maintenance.go): state
//     queries, maintenance, draining, agent (de)activation, and the
//     SUBSCRIBE event stream (operator_stream.go; at most
//     MaxOperatorEventStreamSubscribers, the oldest closed first);
//   - master registration in a real ZooKeeper (package zkgroup: json.info_
//     sequential ephemeral nodes), leadership by lowest sequence, and 307
//     redirects from non-leading masters;
//   - the discovery endpoints /master/redirect (307 to the leader's
//     //host:port) and /master/health (200, empty), also without the
//     /master prefix.
//
// Allocation (allocator.go, inverse_offers.go) follows Mesos 1.12's
// hierarchical allocator in what matters to a framework's timing: a
// periodic run every AllocationInterval, and a run at once only where the
// allocator's generateOffers runs (framework added or re-activated, agent
// added or re-admitted, unavailability changed, REVIVE), over the agents it
// names; refusal and inverse-offer filters with Mesos' defaults, minimums
// and clearing rules. An unreachable agent that re-registers keeps all its
// tasks (Master::__reregisterSlave since Mesos 1.5). Tests in this package
// step an injected clock (MasterConfig.now) and run allocations by hand.
//
// Every master stream (scheduler and operator) is an eventQueue the master
// fills under its lock and one goroutine writes out (event_queue.go), so a
// slow client never stalls the master.
//
// Master ↔ agent contract. A Master and its Agents talk only through the
// message-passing interfaces in link.go (MasterLink, AgentLink), the way
// libprocess actors do: every call is an asynchronous message that never
// blocks and never calls back into the caller before returning. Each side
// guards its state with its own mutex without lock-order deadlocks, and the
// Cluster (cluster.go) can interpose faults on the links.
//
// Registry (registry.go) is the operator state a Mesos master keeps in its
// replicated registry: maintenance schedule and machine modes,
// deactivations, drains, and unreachable, gone or removed agents. A
// Cluster's masters share one, so it survives failover; a newly elected
// master loads it before agents re-register.
//
// Faults (faults.go, call_faults.go, subscription_faults.go) are methods
// on Cluster and Master, each recorded: kill, restart or partition an
// agent; drop or delay framework messages; close a framework's stream, or
// StallSubscription it (open but silent, as a half-open connection) until
// ResumeSubscription; fail or delay API calls. KillLeader stops the leader
// cleanly and closes its ZooKeeper session, so a standby is elected at
// once; CrashLeader is SIGKILL: the session is left to expire, and the
// standbys keep redirecting to the dead leader until it does.
//
// Authentication (auth.go): with MasterConfig.Credentials and
// AuthenticateFrameworks or AuthenticateHTTPReadwrite, the scheduler and
// operator APIs require HTTP Basic credentials, answering 401 with Mesos'
// realms and checking FrameworkInfo.principal against the authenticated
// one.
//
// Recovery window (recovery.go): a master elected after a failover answers
// 503 "Master has not finished recovery" on both APIs for
// MasterConfig.RecoveryDelay (or until FinishRecovery); a Cluster's first
// leader does not wait.
//
// Every launch, kill, status update, operator call and fault is recorded
// by a Recorder (recorder.go) with its time, so a test can check invariants
// over a whole run (Recorder.Verify, e.g. LaunchedAtMostOnce). A Cluster's
// Recorder keeps every record; the mesos-emulator binary, which runs for
// days, caps it at DefaultRecorderLimit, counting what it drops, and a
// verifier must see Dropped() == 0. task_limits.go likewise bounds what the
// master keeps per task and framework.
package emulator
