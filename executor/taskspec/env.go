package taskspec

import (
	"strconv"
	"strings"
	"time"

	"github.com/healer-mesos/healer/proto/healerpb"
)

// The environment a repair step's command runs with, in either scope
// (docs/configuration.md, "What a repair command gets"). The prefix is
// REPAIR_, never HEALER_: every HEALER_* variable in the scheduler's
// environment must be a setting. scheduler/config's StepEnv* constants are
// these.
const (
	EnvAgentID  = "REPAIR_AGENT_ID"
	EnvHostname = "REPAIR_HOSTNAME"
	EnvProblem  = "REPAIR_PROBLEM"
	EnvAction   = "REPAIR_ACTION"
	EnvAttempt  = "REPAIR_ATTEMPT"
	EnvIncident = "REPAIR_INCIDENT"
	// EnvTimeout is the step's timeout in whole seconds (rounded up): when
	// the command will get SIGTERM.
	EnvTimeout = "REPAIR_TIMEOUT"
	// EnvScope is "agent" (run by healer-executor on the agent) or
	// "master" (run by the scheduler on its host).
	EnvScope = "REPAIR_SCOPE"
)

// EnvPrefix starts every step variable.
const EnvPrefix = "REPAIR_"

// StepEnv is the environment of t's command: base (the runner's own
// environment, e.g. os.Environ()) without any REPAIR_* variable, then the
// step's. Both scopes build it here, so a command sees the same variables
// wherever it runs; a REPAIR_* left in base never reaches it.
func StepEnv(base []string, t *healerpb.RepairTask, scope healerpb.Scope) []string {
	env := make([]string, 0, len(base)+8)
	for _, kv := range base {
		if !strings.HasPrefix(kv, EnvPrefix) {
			env = append(env, kv)
		}
	}
	sc := "agent"
	if scope == healerpb.SCOPE_MASTER {
		sc = "master"
	}
	timeout := time.Duration(t.TimeoutNs)
	secs := int64(timeout / time.Second)
	if timeout%time.Second != 0 {
		secs++
	}
	return append(env,
		EnvAgentID+"="+t.AgentId,
		EnvHostname+"="+t.Hostname,
		EnvProblem+"="+t.Problem,
		EnvAction+"="+t.Action,
		EnvAttempt+"="+strconv.FormatUint(t.Attempt, 10),
		EnvIncident+"="+strconv.FormatUint(t.Incident, 10),
		EnvTimeout+"="+strconv.FormatInt(secs, 10),
		EnvScope+"="+sc,
	)
}
