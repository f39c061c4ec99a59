package emulator

import (
	"net/http"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// defaultMaxOperatorEventStreamSubscribers is Mesos'
// DEFAULT_MAX_OPERATOR_EVENT_STREAM_SUBSCRIBERS.
const defaultMaxOperatorEventStreamSubscribers = 1000

// operatorSubscriber is one operator API SUBSCRIBE stream (mesos-protocol.md
// 5.5), queued and written as scheduler subscriptions are. Events are deep
// copies made when queued, so writing them needs no lock.
type operatorSubscriber = eventQueue[*master.Event]

var operatorHeartbeat = &master.Event{Type: master.Event_HEARTBEAT}

// serveOperatorSubscribe answers the operator SUBSCRIBE call
// (Master::ReadOnlyHandler::subscribe, Master::subscribe): 200 with the
// negotiated Content-Type and no Mesos-Stream-Id, SUBSCRIBED{get_state,
// heartbeat_interval_seconds}, an immediate HEARTBEAT, then the master's
// events and a HEARTBEAT every HeartbeatInterval. When the subscriber limit
// is reached the oldest stream is closed.
func (m *Master) serveOperatorSubscribe(w http.ResponseWriter, r *http.Request, contentType string) {
	stream := startStream(w, contentType, nil)
	sub := newEventQueue[*master.Event]()

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		stream.Close()
		return
	}
	hb := m.cfg.HeartbeatInterval.Seconds()
	sub.send(proto.Clone(&master.Event{Type: master.Event_SUBSCRIBED, Subscribed: &master.Event_Subscribed{
		GetState: m.getStateLocked(), HeartbeatIntervalSeconds: &hb,
	}}).(*master.Event))
	sub.send(operatorHeartbeat)
	if n := len(m.operatorSubs) - m.cfg.MaxOperatorEventStreamSubscribers + 1; n > 0 {
		m.log.Info("operator event stream subscriber limit reached; closing the oldest",
			"limit", m.cfg.MaxOperatorEventStreamSubscribers)
		for _, old := range m.operatorSubs[:n] {
			old.close()
		}
		m.operatorSubs = append([]*operatorSubscriber(nil), m.operatorSubs[n:]...)
	}
	m.operatorSubs = append(m.operatorSubs, sub)
	m.mu.Unlock()

	defer m.removeOperatorSubscriber(sub)
	pumpEvents(r, stream, sub, m.cfg.HeartbeatInterval, operatorHeartbeat, m.done)
}

// removeOperatorSubscriber forgets an ended stream (Master::exited).
func (m *Master) removeOperatorSubscriber(sub *operatorSubscriber) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.operatorSubs {
		if s == sub {
			m.operatorSubs = append(m.operatorSubs[:i:i], m.operatorSubs[i+1:]...)
			return
		}
	}
}

// publishLocked queues an event on every operator stream. build runs only
// when some stream listens; its result is deep-copied so later changes to
// master state do not race with the streams' writers.
func (m *Master) publishLocked(build func() *master.Event) {
	if len(m.operatorSubs) == 0 {
		return
	}
	ev := proto.Clone(build()).(*master.Event)
	for _, s := range m.operatorSubs {
		s.send(ev)
	}
}

// publishTaskAddedLocked is TASK_ADDED, sent when a task becomes known to the
// master: launched, or reported by an agent re-registering after a master
// failover or from unreachable (Framework::addTask).
func (m *Master) publishTaskAddedLocked(t *mesos.Task) {
	m.publishLocked(func() *master.Event {
		return &master.Event{Type: master.Event_TASK_ADDED, TaskAdded: &master.Event_TaskAdded{Task: *t}}
	})
}

// publishTaskUpdatedLocked is TASK_UPDATED for a status about to be
// recorded (call it before appendTaskStatus, once t.State holds the task's
// latest state): sent when the status' state differs from the last
// recorded one, or when it reports a check or health change
// (Master::updateTask).
func (m *Master) publishTaskUpdatedLocked(t *mesos.Task, st mesos.TaskStatus) {
	switch st.GetReason() {
	case mesos.REASON_TASK_CHECK_STATUS_UPDATED, mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED:
	default:
		if n := len(t.Statuses); n > 0 && t.Statuses[n-1].GetState() == st.GetState() {
			return
		}
	}
	m.publishLocked(func() *master.Event {
		state := t.GetState()
		st.Data = nil // the master does not keep it
		return &master.Event{Type: master.Event_TASK_UPDATED, TaskUpdated: &master.Event_TaskUpdated{
			FrameworkID: t.FrameworkID, Status: st, State: &state,
		}}
	})
}

// publishAgentAddedLocked is AGENT_ADDED, sent when an agent is admitted
// (Master::addSlave): first registration, re-registration after a master
// failover, or return from unreachable.
func (m *Master) publishAgentAddedLocked(a *agentEntry) {
	m.publishLocked(func() *master.Event {
		return &master.Event{Type: master.Event_AGENT_ADDED, AgentAdded: &master.Event_AgentAdded{Agent: m.agentResponseLocked(a)}}
	})
}

// publishAgentRemovedLocked is AGENT_REMOVED. Mesos sends it only from
// Master::_removeSlave (START_MAINTENANCE bringing a machine DOWN, an agent
// unregistering); agents marked unreachable or gone go through
// __removeSlave, which sends no event (master.cpp, Mesos 1.12).
func (m *Master) publishAgentRemovedLocked(agentID string) {
	m.publishLocked(func() *master.Event {
		return &master.Event{Type: master.Event_AGENT_REMOVED, AgentRemoved: &master.Event_AgentRemoved{AgentID: mesos.AgentID{Value: agentID}}}
	})
}

// publishFrameworkAddedLocked is FRAMEWORK_ADDED: a new framework, or one
// the master recovers from an agent's report or from a re-subscription
// after a failover (Master::addFramework, recoverFramework).
func (m *Master) publishFrameworkAddedLocked(fw *framework) {
	m.publishLocked(func() *master.Event {
		return &master.Event{Type: master.Event_FRAMEWORK_ADDED,
			FrameworkAdded: &master.Event_FrameworkAdded{Framework: m.frameworkEntryLocked(fw)}}
	})
}

// publishFrameworkUpdatedLocked is FRAMEWORK_UPDATED: every re-subscription,
// and UPDATE_FRAMEWORK changing FrameworkInfo (Master::sendFrameworkUpdates).
func (m *Master) publishFrameworkUpdatedLocked(fw *framework) {
	m.publishLocked(func() *master.Event {
		return &master.Event{Type: master.Event_FRAMEWORK_UPDATED,
			FrameworkUpdated: &master.Event_FrameworkUpdated{Framework: m.frameworkEntryLocked(fw)}}
	})
}

// publishFrameworkRemovedLocked is FRAMEWORK_REMOVED (Master::removeFramework:
// teardown or failover timeout).
func (m *Master) publishFrameworkRemovedLocked(info mesos.FrameworkInfo) {
	m.publishLocked(func() *master.Event {
		return &master.Event{Type: master.Event_FRAMEWORK_REMOVED, FrameworkRemoved: &master.Event_FrameworkRemoved{FrameworkInfo: info}}
	})
}
