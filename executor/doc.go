// Package executor will hold healer-executor, the custom Mesos executor that
// runs repair tasks and the per-agent monitor on every agent (see
// shared/DESIGN.md, "The executor"). The task payloads it receives are the
// RepairTask and MonitorConfig messages in proto/.
package executor
