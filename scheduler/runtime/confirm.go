package runtime

import (
	"slices"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// confirm tells the coordinator the master carried out an isolation,
// reactivation or UP, so the action is no longer owed.
func (t *term) confirm(a coordinator.Action) {
	t.retries = slices.DeleteFunc(t.retries, func(r opRetry) bool {
		return r.action.Kind == a.Kind && r.action.Agent == a.Agent
	})
	t.step(coordinator.ActionApplied{At: t.now(), Agent: a.Agent, Kind: a.Kind, Attempt: a.Attempt, Incident: a.Incident})
}
