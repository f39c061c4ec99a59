// Package soak is healer's fault-injection soak: real healer-scheduler
// instances and executors, a real three-server ZooKeeper ensemble and the
// Mesos emulator (two masters in ZooKeeper, agents with real and in-process
// executors), driven for a set time by faults chosen at random but
// reproducibly from a seed, and a verifier that reads everything the run
// left behind and fails it on any broken promise.
//
// The verifier (Verify) is a pure function of Observations: the emulator's
// Recorder (every launch, kill, status update, scheduler and operator call,
// each call with the User-Agent that names the scheduler instance), what a
// ZooKeeper watch saw (the election's member nodes, the framework znode,
// every version of every agent record, the audit trail), the master-scope
// commands' own log, the signals the admin API accepted, and every operator
// command the driver sent with its answer (the plan holds an on-call
// engineer's commands among its faults). Its checks are listed on
// Violation's kinds; docs/soak.md says what each means and how to read the
// summary.
//
// TestSoak runs only when SOAK_DURATION is set (make soak); the verifier's
// own tests run everywhere.
package soak
