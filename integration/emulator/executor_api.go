package emulator

import (
	"net/http"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
)

// serveExecutor is the agent's POST /api/v1/executor (Http::executor in
// src/slave/http.cpp), with its checks in Mesos' order (mesos-protocol.md 4.2).
func (a *Agent) serveExecutor(w http.ResponseWriter, r *http.Request) {
	if !a.applyCallFault(w, r) {
		return
	}
	a.mu.Lock()
	recovering := a.recovering
	a.mu.Unlock()
	if recovering {
		writeError(w, http.StatusServiceUnavailable, "Agent has not finished recovery")
		return
	}
	var call executor.Call
	if _, ok := readCall(w, r, &call); !ok {
		return
	}
	if msg := validateExecutorCall(&call); msg != "" {
		writeError(w, http.StatusBadRequest, "Failed to validate Executor::Call: "+msg)
		return
	}
	var accept string
	if call.Type == executor.Call_SUBSCRIBE {
		if accept = negotiateAccept(r); accept == "" {
			writeNotAcceptable(w)
			return
		}
	}
	if call.Type == executor.Call_HEARTBEAT {
		writeEmpty(w, http.StatusAccepted)
		return
	}

	a.mu.Lock()
	f := a.frameworks[call.FrameworkID.Value]
	if f == nil {
		a.mu.Unlock()
		writeError(w, http.StatusBadRequest, "Framework cannot be found")
		return
	}
	e := f.executors[call.ExecutorID.Value]
	if e == nil || e.state == execTerminated || e.kind != kindProcess {
		a.mu.Unlock()
		writeError(w, http.StatusBadRequest, "Executor cannot be found")
		return
	}
	if e.state == execRegistering && call.Type != executor.Call_SUBSCRIBE {
		a.mu.Unlock()
		writeError(w, http.StatusForbidden, "Executor is not subscribed")
		return
	}
	switch call.Type {
	case executor.Call_SUBSCRIBE:
		stream := startStream(w, accept, nil)
		a.subscribeLocked(e, stream, call.Subscribe)
		a.mu.Unlock()
		select {
		case <-stream.Done():
		case <-r.Context().Done():
		}
		a.mu.Lock()
		if e.stream == stream {
			// The executor's connection broke (the agent clears e.stream
			// before closing a stream itself).
			e.stream = nil
			stopTimer(&e.heartbeat)
			a.executorDisconnectedLocked(e)
		}
		a.mu.Unlock()
		stream.Close()
	case executor.Call_UPDATE:
		a.executorUpdateLocked(e, call.Update.Status)
		a.mu.Unlock()
		writeEmpty(w, http.StatusAccepted)
	case executor.Call_MESSAGE:
		aid, fid, eid, data := a.cfg.ID, f.id(), e.info.ExecutorID, call.Message.Data
		a.sendToMasterLocked(func(m MasterLink) { m.ExecutorMessage(aid, fid, eid, data) })
		a.mu.Unlock()
		writeEmpty(w, http.StatusAccepted)
	default:
		a.mu.Unlock()
		writeEmpty(w, http.StatusNotImplemented)
	}
}

// validateExecutorCall is validation::executor::call::validate
// (src/common/validation.cpp); "" means valid. Required fields are enforced
// by decoding.
func validateExecutorCall(c *executor.Call) string {
	switch c.Type {
	case executor.Call_SUBSCRIBE:
		if c.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
	case executor.Call_UPDATE:
		if c.Update == nil {
			return "Expecting 'update' to be present"
		}
		st := c.Update.Status
		if st.UUID == nil {
			return "Expecting 'uuid' to be present"
		}
		if !validUUID(st.UUID) {
			return "Not a valid UUID"
		}
		if st.ExecutorID != nil && st.ExecutorID.Value != c.ExecutorID.Value {
			return "ExecutorID in Call: " + c.ExecutorID.Value +
				" does not match ExecutorID in TaskStatus: " + st.ExecutorID.Value
		}
		if st.GetSource() != mesos.SOURCE_EXECUTOR {
			return "Received Call from executor " + c.ExecutorID.Value + " of framework " +
				c.FrameworkID.Value + " with invalid source, expecting 'SOURCE_EXECUTOR'"
		}
		if st.GetState() == mesos.TASK_STAGING {
			return "Received TASK_STAGING from executor " + c.ExecutorID.Value + " of framework " +
				c.FrameworkID.Value + " which is not allowed"
		}
	case executor.Call_MESSAGE:
		if c.Message == nil {
			return "Expecting 'message' to be present"
		}
	}
	return ""
}

// executorUpdateLocked stores an UPDATE from a process executor and, once
// stored (or recognised as a duplicate), acknowledges it to the executor at
// once: the scheduler's acknowledgement is not involved (Slave::___statusUpdate).
func (a *Agent) executorUpdateLocked(e *agentExecutor, st mesos.TaskStatus) {
	if st.ExecutorID == nil {
		eid := e.info.ExecutorID
		st.ExecutorID = &eid
	}
	k := taskKey{e.fw.id().Value, st.TaskID.Value}
	dup := a.updates[k] != nil && a.updates[k].seen[string(st.UUID)]
	if !a.taskUpdateLocked(e.fw, st) && !dup {
		return
	}
	if s := e.stream; s != nil {
		ev := &executor.Event{Type: executor.Event_ACKNOWLEDGED,
			Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}}
		a.post(func() { s.Send(ev) })
	}
}

// subscribeLocked is Slave::subscribe for an executor's new stream.
func (a *Agent) subscribeLocked(e *agentExecutor, stream *eventStream, sub *executor.Call_Subscribe) {
	if a.removed || e.fw.terminating || e.state == execTerminating {
		a.post(func() {
			stream.Send(&executor.Event{Type: executor.Event_SHUTDOWN})
			stream.Close()
		})
		return
	}
	if old := e.stream; old != nil {
		a.post(old.Close)
	}
	e.stream = stream
	stopTimer(&e.heartbeat)
	stopTimer(&e.regTimer)
	e.state = execRunning

	info := a.info
	cid := mesos.ContainerID{Value: e.containerID}
	subscribed := &executor.Event{Type: executor.Event_SUBSCRIBED, Subscribed: &executor.Event_Subscribed{
		ExecutorInfo:  e.info,
		FrameworkInfo: e.fw.info,
		AgentInfo:     info,
		ContainerID:   &cid,
	}}
	a.post(func() { stream.Send(subscribed) })

	// Unacknowledged updates are processed as if sent again (duplicates are
	// recognised); their ACKNOWLEDGED events follow SUBSCRIBED.
	for _, u := range sub.UnacknowledgedUpdates {
		a.executorUpdateLocked(e, u.Status)
	}
	// A task delivered before an agent restart that the executor does not
	// know never reached it.
	unacked := make(map[string]bool, len(sub.UnacknowledgedTasks))
	for _, t := range sub.UnacknowledgedTasks {
		unacked[t.TaskID.Value] = true
	}
	for _, t := range e.tasks {
		if t.launched && t.state == mesos.TASK_STAGING && !unacked[t.info.TaskID.Value] {
			state := mesos.TASK_LOST
			if e.fw.partitionAware() {
				state = mesos.TASK_DROPPED
			}
			a.agentUpdateLocked(e.fw, e.info.ExecutorID, t.info.TaskID, state,
				mesos.REASON_AGENT_RESTARTED, "Task launched during agent restart")
		}
	}
	if !e.everLaunched && len(e.queued) == 0 {
		// Its only tasks were killed before it subscribed.
		a.shutdownExecutorLocked(e)
		return
	}
	for _, q := range e.queued {
		a.sendLaunchLocked(e, q)
	}
	e.queued = nil
	a.armHeartbeatLocked(e, stream)
}

// armHeartbeatLocked schedules the next HEARTBEAT on an executor stream.
func (a *Agent) armHeartbeatLocked(e *agentExecutor, stream *eventStream) {
	e.heartbeat = a.afterFunc(a.cfg.ExecutorHeartbeatInterval, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if e.stream != stream || !a.up {
			return
		}
		a.post(func() { stream.Send(&executor.Event{Type: executor.Event_HEARTBEAT}) })
		a.armHeartbeatLocked(e, stream)
	})
}

// executorDisconnectedLocked handles an executor losing its connection to
// the agent (Slave::exited): a checkpointing framework's executor is
// expected to re-subscribe, any other is shut down, as its MESOS_CHECKPOINT=0
// tells it to exit anyway (mesos-protocol.md 4.6 item 8).
func (a *Agent) executorDisconnectedLocked(e *agentExecutor) {
	if !a.up || e.state != execRunning || e.fw.info.GetCheckpoint() {
		return
	}
	a.log.Info("executor disconnected; shutting it down as its framework does not checkpoint",
		"framework", e.fw.id().Value, "executor", e.info.ExecutorID.Value)
	a.shutdownExecutorLocked(e)
}
