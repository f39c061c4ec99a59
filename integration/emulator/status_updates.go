package emulator

import (
	"bytes"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// The agent's task status update manager (src/slave/task_status_update_manager.cpp):
// one stream per task; only the oldest unacknowledged update of a task is
// forwarded to the master, re-sent after StatusUpdateRetryMin doubling up to
// StatusUpdateRetryMax, until the scheduler acknowledges it with its uuid;
// then the next one goes. Its state lives in the Agent and is guarded by a.mu.

type taskKey struct{ framework, task string }

type updateStream struct {
	key      taskKey
	pending  []mesos.TaskStatus // pending[0] is the one forwarded
	seen     map[string]bool    // uuids received, to drop duplicates
	terminal bool               // a terminal update was received
	timer    *time.Timer
	interval time.Duration // the next retry's delay
}

// enqueueUpdateLocked adds an update to its task's stream and forwards it if
// it is the oldest. Duplicates (same uuid) and updates after a terminal one
// are dropped, returning false.
func (a *Agent) enqueueUpdateLocked(fid mesos.FrameworkID, st mesos.TaskStatus) bool {
	k := taskKey{fid.Value, st.TaskID.Value}
	s := a.updates[k]
	if s == nil {
		if a.updates == nil {
			a.updates = make(map[taskKey]*updateStream)
		}
		s = &updateStream{key: k, seen: make(map[string]bool)}
		a.updates[k] = s
	}
	if s.seen[string(st.UUID)] || s.terminal {
		return false
	}
	s.seen[string(st.UUID)] = true
	s.terminal = isTerminalState(st.GetState())
	s.pending = append(s.pending, st)
	if len(s.pending) == 1 {
		s.interval = a.cfg.StatusUpdateRetryMin
		a.forwardLocked(s)
	}
	return true
}

// forwardLocked sends the stream's oldest update to the master with the
// newest state known for the task, and arms the retry.
func (a *Agent) forwardLocked(s *updateStream) {
	head := s.pending[0]
	latest := s.pending[len(s.pending)-1].GetState()
	aid, fid := a.cfg.ID, mesos.FrameworkID{Value: s.key.framework}
	a.sendToMasterLocked(func(m MasterLink) { m.StatusUpdate(aid, fid, head, latest) })
	a.armRetryLocked(s)
}

func (a *Agent) armRetryLocked(s *updateStream) {
	stopTimer(&s.timer)
	uuid := s.pending[0].UUID
	s.timer = a.afterFunc(s.interval, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.up || a.updates[s.key] != s || len(s.pending) == 0 || !bytes.Equal(s.pending[0].UUID, uuid) {
			return
		}
		s.interval = min(2*s.interval, a.cfg.StatusUpdateRetryMax)
		a.forwardLocked(s)
	})
}

// resendUpdatesLocked re-forwards every stream's oldest update at once (new
// master) with the backoff reset.
func (a *Agent) resendUpdatesLocked() {
	for _, s := range a.updates {
		if len(s.pending) > 0 {
			s.interval = a.cfg.StatusUpdateRetryMin
			a.forwardLocked(s)
		}
	}
}

// acknowledgeLocked handles the scheduler's acknowledgement of a task's
// oldest update: an ack for any other uuid is ignored, as Mesos ignores
// unexpected acknowledgements.
func (a *Agent) acknowledgeLocked(fid, tid string, uuid []byte) {
	k := taskKey{fid, tid}
	s := a.updates[k]
	if s == nil || len(s.pending) == 0 || !bytes.Equal(s.pending[0].UUID, uuid) {
		return
	}
	acked := s.pending[0]
	s.pending[0] = mesos.TaskStatus{}
	s.pending = s.pending[1:]
	stopTimer(&s.timer)
	if len(s.pending) > 0 {
		s.interval = a.cfg.StatusUpdateRetryMin
		a.forwardLocked(s)
		return
	}
	s.pending = nil
	if isTerminalState(acked.GetState()) {
		delete(a.updates, k)
		a.taskAcknowledgedLocked(fid, tid)
	}
}

// PendingUpdates returns the number of status updates not yet acknowledged
// by the scheduler, for tests and drain checks.
func (a *Agent) PendingUpdates() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.updates {
		n += len(s.pending)
	}
	return n
}
