// Package executor holds healer-executor, the custom Mesos executor that
// runs repair tasks and the per-agent monitor on every agent (see
// shared/DESIGN.md, "The executor", and docs/executor.md). Its packages:
//
//   - taskspec: the contract with the scheduler — executor identity, task
//     kinds and ids, TaskInfo builders, payload codecs, the step
//     environment. The scheduler imports it.
//   - monitorconfig: the monitor config file and its validation, shared
//     with the scheduler (--monitor_config).
//   - monitor: check evaluation and the probes that measure checks.
//   - runtime: the executor's event loop over the v1 executor API.
//
// internal/stepcmd runs the commands, for both scopes.
package executor
