package emulator

import mesos "github.com/mesos/mesos-go/api/v1/lib"

// Bounds on what the master keeps per task and per framework, so a
// long-running emulator (the demo binary runs for days) does not grow
// without limit.
const (
	// maxTaskStatuses bounds Task.statuses. Mesos keeps one entry per state
	// change (updateTask replaces a repeat of the last state), which is
	// small for real tasks; the bound guards against flapping health or
	// checks.
	maxTaskStatuses = 50
	// defaultMaxUnreachableTasks is --max_unreachable_tasks_per_framework.
	defaultMaxUnreachableTasks = 1000
)

// appendTaskStatus records a status in the task's history as
// Master::updateTask does: a status with the same state as the last one
// replaces it (agent retries and health updates do not grow the list), and
// the data is not kept. The list is bounded, dropping the oldest.
func appendTaskStatus(t *mesos.Task, st mesos.TaskStatus) {
	st.Data = nil
	if n := len(t.Statuses); n > 0 && t.Statuses[n-1].GetState() == st.GetState() {
		t.Statuses[n-1] = st
		return
	}
	t.Statuses = append(t.Statuses, st)
	if n := len(t.Statuses) - maxTaskStatuses; n > 0 {
		t.Statuses = append([]mesos.TaskStatus(nil), t.Statuses[n:]...)
	}
}

// addUnreachableTaskLocked keeps a task of an unreachable agent, evicting
// the one that became unreachable first once the framework holds
// --max_unreachable_tasks_per_framework of them (Mesos keeps them in a
// bounded insertion-ordered map).
func (m *Master) addUnreachableTaskLocked(fw *framework, t *mesos.Task) {
	fw.unreachableTasks[t.TaskID.Value] = t
	for len(fw.unreachableTasks) > defaultMaxUnreachableTasks {
		var oldestID string
		var oldest float64
		for id, u := range fw.unreachableTasks {
			ts := lastStatusTime(u)
			if oldestID == "" || ts < oldest || (ts == oldest && id < oldestID) {
				oldestID, oldest = id, ts
			}
		}
		delete(fw.unreachableTasks, oldestID)
	}
}

func lastStatusTime(t *mesos.Task) float64 {
	if n := len(t.Statuses); n > 0 {
		return t.Statuses[n-1].GetTimestamp()
	}
	return 0
}
