package emulator

import (
	"bytes"
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// nameMax is NAME_MAX, the longest user-supplied ID Mesos accepts.
const nameMax = 255

// validateID is Mesos' common::validation::validateID.
func validateID(id string) string {
	if id == "" {
		return "ID must not be empty"
	}
	if len(id) > nameMax {
		return fmt.Sprintf("ID must not be greater than %d characters", nameMax)
	}
	if id == "." || id == ".." {
		return "'" + id + "' is disallowed"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return "'" + id + "' contains invalid characters"
		}
	}
	return ""
}

// acceptLocked is ACCEPT (and DECLINE, an ACCEPT without operations):
// offer validation, then the operations in order, then the unused
// resources are refused for the filter's duration (mesos-protocol.md 1.8).
// declineLocked is DECLINE (Master::decline): unlike ACCEPT, the offers are
// not validated as one aggregate, so one call may decline offers of many
// agents; each valid offer of the framework is returned with the filter,
// unknown ones are ignored.
func (m *Master) declineLocked(fw *framework, offerIDs []mesos.OfferID, filters *mesos.Filters) {
	filter := m.refuseDuration(filters)
	for _, id := range offerIDs {
		o := m.offers[id.Value]
		if o == nil || o.frameworkID != fw.id {
			continue
		}
		a := m.agents[o.agentID]
		m.removeOfferLocked(o, false)
		m.refuseLocked(fw, a, o.role, o.resources, filter)
	}
}

func (m *Master) acceptLocked(fw *framework, offerIDs []mesos.OfferID, ops []mesos.Offer_Operation, filters *mesos.Filters) {
	if errMsg := m.validateOffersLocked(fw, offerIDs); errMsg != "" {
		for _, id := range offerIDs {
			if o := m.offers[id.Value]; o != nil && o.frameworkID == fw.id {
				m.removeOfferLocked(o, false)
			}
		}
		state := mesos.TASK_LOST
		if fw.partitionAware() {
			state = mesos.TASK_DROPPED
		}
		for _, op := range ops {
			for _, t := range operationTasks(&op) {
				m.sendMasterUpdateLocked(fw, t.TaskID, &t.AgentID, state, mesos.REASON_INVALID_OFFERS,
					"Task launched with invalid offers: "+errMsg, nil)
			}
		}
		return
	}
	if len(offerIDs) == 0 {
		return
	}
	first := m.offers[offerIDs[0].Value]
	a := m.agents[first.agentID]
	role := first.role
	var pool mesos.Resources
	for _, id := range offerIDs {
		o := m.offers[id.Value]
		pool.Add(o.resources...)
		m.removeOfferLocked(o, false)
	}
	for i := range ops {
		op := &ops[i]
		switch op.Type {
		case mesos.Offer_Operation_LAUNCH:
			for _, t := range op.GetLaunch().GetTaskInfos() {
				if op.ID != nil {
					m.sendMasterUpdateLocked(fw, t.TaskID, &t.AgentID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID,
						"The `id` field cannot be set on LAUNCH operations", nil)
					continue
				}
				needed, errMsg := m.validateTaskLocked(fw, a, &t, pool)
				if errMsg != "" {
					m.sendMasterUpdateLocked(fw, t.TaskID, &t.AgentID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID, errMsg, nil)
					continue
				}
				pool.Subtract(needed...)
				m.launchLocked(fw, a, role, t, nil)
			}
		case mesos.Offer_Operation_LAUNCH_GROUP:
			lg := op.GetLaunchGroup()
			if lg == nil {
				continue
			}
			needed, errMsg := m.validateTaskGroupLocked(fw, a, lg, pool)
			if op.ID != nil {
				errMsg = "The `id` field cannot be set on LAUNCH_GROUP operations"
			}
			if errMsg != "" {
				for _, t := range lg.TaskGroup.Tasks {
					m.sendMasterUpdateLocked(fw, t.TaskID, &t.AgentID, mesos.TASK_ERROR, mesos.REASON_TASK_GROUP_INVALID, errMsg, nil)
				}
				continue
			}
			pool.Subtract(needed...)
			exec := lg.Executor
			if exec.FrameworkID == nil {
				exec.FrameworkID = &mesos.FrameworkID{Value: fw.id}
			}
			group := mesos.TaskGroupInfo{}
			for _, t := range lg.TaskGroup.Tasks {
				t.Executor = nil
				group.Tasks = append(group.Tasks, withAllocation(fw, role, t))
				m.launchLocked(fw, a, role, t, &exec)
			}
			a.link.RunTaskGroup(fw.info, exec, group)
		default:
			// RESERVE, CREATE and the other offer operations are not
			// emulated: their resources simply stay in the pool.
		}
	}
	if len(pool) > 0 {
		if d := m.refuseDuration(filters); d > 0 {
			m.refuseLocked(fw, a, role, pool, d)
		}
	}
}

// operationTasks lists the tasks a LAUNCH or LAUNCH_GROUP operation carries.
func operationTasks(op *mesos.Offer_Operation) []mesos.TaskInfo {
	switch op.Type {
	case mesos.Offer_Operation_LAUNCH:
		return op.GetLaunch().GetTaskInfos()
	case mesos.Offer_Operation_LAUNCH_GROUP:
		if op.LaunchGroup != nil {
			return op.LaunchGroup.TaskGroup.Tasks
		}
	}
	return nil
}

// validateOffersLocked is validation::offer::validate.
func (m *Master) validateOffersLocked(fw *framework, ids []mesos.OfferID) string {
	if len(ids) == 0 {
		return "No offers specified"
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id.Value] {
			return "Duplicate offer " + id.Value + " in offer list"
		}
		seen[id.Value] = true
	}
	for _, id := range ids {
		if m.offers[id.Value] == nil {
			return "Offer " + id.Value + " is no longer valid"
		}
	}
	for _, id := range ids {
		if o := m.offers[id.Value]; o.frameworkID != fw.id {
			return "Offer " + id.Value + " has invalid framework " + o.frameworkID + " while framework " + fw.id + " is expected"
		}
	}
	first := m.offers[ids[0].Value]
	for _, id := range ids {
		if o := m.offers[id.Value]; o.role != first.role {
			return "Aggregated offers must belong to one single role. Offer " + id.Value + " uses role " + o.role +
				" and offer " + first.id + " uses role " + first.role
		}
	}
	for _, id := range ids {
		o := m.offers[id.Value]
		a := m.agents[o.agentID]
		if a == nil {
			return "Offer " + id.Value + " outlived agent " + o.agentID
		}
		if !a.connected {
			return "Offer " + id.Value + " outlived disconnected agent " + o.agentID
		}
		if o.agentID != first.agentID {
			return "Aggregated offers must belong to one single agent. Offer " + id.Value + " uses agent " +
				o.agentID + " and agent " + first.agentID
		}
	}
	return ""
}

// validateTaskLocked is validation::task::validate for one LAUNCH task. It
// returns the resources the task (and its executor, if not yet running)
// takes from the pool, or the error message for TASK_ERROR.
func (m *Master) validateTaskLocked(fw *framework, a *agentEntry, t *mesos.TaskInfo, pool mesos.Resources) (mesos.Resources, string) {
	if msg := m.validateTaskCommonLocked(fw, a, t); msg != "" {
		return nil, msg
	}
	if (t.Executor == nil) == (t.Command == nil) {
		return nil, "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"
	}
	needed := unallocated(t.Resources)
	if t.Executor != nil {
		if t.Executor.FrameworkID == nil {
			t.Executor.FrameworkID = &mesos.FrameworkID{Value: fw.id}
		}
		execNeeded, msg := m.validateExecutorLocked(fw, a, t.Executor)
		if msg != "" {
			return nil, msg
		}
		needed = needed.Plus(execNeeded...)
	}
	if !containsAllResources(pool, needed) {
		return nil, "Total resources " + needed.String() + " required by task and its executor is more than available " + pool.String()
	}
	return needed, ""
}

// validateTaskCommonLocked holds the checks every launched task gets.
func (m *Master) validateTaskCommonLocked(fw *framework, a *agentEntry, t *mesos.TaskInfo) string {
	if msg := validateID(t.TaskID.Value); msg != "" {
		return "Task ID '" + t.TaskID.Value + "' is invalid: " + msg
	}
	if _, dup := fw.tasks[t.TaskID.Value]; dup {
		return "Task has duplicate ID: " + t.TaskID.Value
	}
	if _, dup := fw.unreachableTasks[t.TaskID.Value]; dup {
		return "Task reuses the ID of an unreachable task: " + t.TaskID.Value
	}
	if t.AgentID.Value != a.id {
		return "Task uses invalid agent " + t.AgentID.Value + " while agent " + a.id + " is expected"
	}
	if len(t.Resources) == 0 {
		return "Task uses no resources"
	}
	if err := resources.Validate(t.Resources...); err != nil {
		return "Task uses invalid resources: " + err.Error()
	}
	if kp := t.KillPolicy; kp != nil && kp.GracePeriod != nil && kp.GracePeriod.Nanoseconds < 0 {
		return "Task's 'kill_policy.grace_period' must be non-negative"
	}
	if msg := validateTaskHealthCheck(t); msg != "" { // healthcheck.go
		return msg
	}
	return ""
}

// validateExecutorLocked checks a task's custom executor and returns the
// resources it needs if it is not already running on the agent.
func (m *Master) validateExecutorLocked(fw *framework, a *agentEntry, e *mesos.ExecutorInfo) (mesos.Resources, string) {
	if msg := validateID(e.ExecutorID.Value); msg != "" {
		return nil, "Executor ID '" + e.ExecutorID.Value + "' is invalid: " + msg
	}
	if e.FrameworkID.Value != fw.id {
		return nil, "ExecutorInfo has an invalid FrameworkID (Actual: " + e.FrameworkID.Value + " vs Expected: " + fw.id + ")"
	}
	if e.Type != mesos.ExecutorInfo_UNKNOWN && e.Type != mesos.ExecutorInfo_CUSTOM {
		return nil, "'ExecutorInfo.type' must be 'CUSTOM'"
	}
	if e.Command == nil {
		return nil, "'ExecutorInfo.command' must be set for 'CUSTOM' executor"
	}
	if err := resources.Validate(e.Resources...); err != nil {
		return nil, "Executor uses invalid resources: " + err.Error()
	}
	if existing, ok := fw.executors[a.id][e.ExecutorID.Value]; ok {
		if !proto.Equal(&existing, e) {
			return nil, "Task has invalid ExecutorInfo (existing ExecutorInfo with same ExecutorID is not compatible)"
		}
		return nil, ""
	}
	return unallocated(e.Resources), ""
}

// validateTaskGroupLocked validates a LAUNCH_GROUP operation.
func (m *Master) validateTaskGroupLocked(fw *framework, a *agentEntry, lg *mesos.Offer_Operation_LaunchGroup, pool mesos.Resources) (mesos.Resources, string) {
	if len(lg.TaskGroup.Tasks) == 0 {
		return nil, "Task group is empty"
	}
	if lg.Executor.FrameworkID == nil {
		lg.Executor.FrameworkID = &mesos.FrameworkID{Value: fw.id}
	}
	if lg.Executor.Type != mesos.ExecutorInfo_DEFAULT {
		return nil, "'ExecutorInfo.type' must be 'DEFAULT'"
	}
	var needed mesos.Resources
	if _, running := fw.executors[a.id][lg.Executor.ExecutorID.Value]; !running {
		needed = unallocated(lg.Executor.Resources)
	}
	seen := make(map[string]bool)
	for i := range lg.TaskGroup.Tasks {
		t := &lg.TaskGroup.Tasks[i]
		if seen[t.TaskID.Value] {
			return nil, "Task has duplicate ID: " + t.TaskID.Value
		}
		seen[t.TaskID.Value] = true
		if msg := m.validateTaskCommonLocked(fw, a, t); msg != "" {
			return nil, "Task '" + t.TaskID.Value + "' is invalid: " + msg
		}
		if msg := validateGroupTaskHealthCheck(t); msg != "" { // healthcheck.go
			return nil, "Task '" + t.TaskID.Value + "' is invalid: " + msg
		}
		if t.Executor != nil {
			return nil, "'TaskInfo.executor' must not be set"
		}
		needed = needed.Plus(unallocated(t.Resources)...)
	}
	if !containsAllResources(pool, needed) {
		return nil, "Total resources " + needed.String() + " required by task group and its executor are more than available " + pool.String()
	}
	return needed, ""
}

// withAllocation injects allocation_info{role} into a MULTI_ROLE
// framework's task resources that lack it, as the master does.
func withAllocation(fw *framework, role string, t mesos.TaskInfo) mesos.TaskInfo {
	if !fw.multiRole() {
		return t
	}
	rs := make([]mesos.Resource, len(t.Resources))
	copy(rs, t.Resources)
	for i := range rs {
		if rs[i].AllocationInfo == nil {
			r := role
			rs[i].AllocationInfo = &mesos.Resource_AllocationInfo{Role: &r}
		}
	}
	t.Resources = rs
	return t
}

// launchLocked records a validated task as TASK_STAGING and, for a LAUNCH
// task (groupExecutor nil), sends it to the agent.
func (m *Master) launchLocked(fw *framework, a *agentEntry, role string, t mesos.TaskInfo, groupExecutor *mesos.ExecutorInfo) {
	m.log.Debug("launching task", "framework", fw.id, "task", t.TaskID.Value, "agent", a.id)
	staging := mesos.TASK_STAGING
	user := fw.info.User
	task := &mesos.Task{
		Name:        t.Name,
		TaskID:      t.TaskID,
		FrameworkID: mesos.FrameworkID{Value: fw.id},
		AgentID:     t.AgentID,
		State:       &staging,
		Resources:   unallocated(t.Resources),
		Labels:      t.Labels,
		Discovery:   t.Discovery,
		Container:   t.Container,
		HealthCheck: t.HealthCheck,
		KillPolicy:  t.KillPolicy,
		User:        &user,
	}
	exec := t.Executor
	if groupExecutor != nil {
		exec = groupExecutor
	}
	used := mesos.Resources(task.Resources).Clone()
	if exec != nil {
		id := exec.ExecutorID
		task.ExecutorID = &id
		execs := fw.executors[a.id]
		if execs == nil {
			execs = make(map[string]mesos.ExecutorInfo)
			fw.executors[a.id] = execs
		}
		if _, running := execs[id.Value]; !running {
			execs[id.Value] = *exec
			used.Add(unallocated(exec.Resources)...)
		}
	}
	fw.tasks[t.TaskID.Value] = task
	m.publishTaskAddedLocked(task)
	a.allocateLocked(used)
	m.rec.Add(Record{Kind: RecordLaunch, Master: m.cfg.ID, FrameworkID: fw.id, AgentID: a.id,
		TaskID: t.TaskID.Value, ExecutorID: task.GetExecutorID().GetValue(), Type: "TASK_STAGING"})
	if groupExecutor == nil {
		a.link.RunTask(fw.info, withAllocation(fw, role, t))
	}
}

// sendMasterUpdateLocked sends a master-generated status update: SOURCE_MASTER,
// no uuid, dropped if the framework is disconnected.
func (m *Master) sendMasterUpdateLocked(fw *framework, taskID mesos.TaskID, agentID *mesos.AgentID, state mesos.TaskState,
	reason mesos.TaskStatus_Reason, message string, extra func(*mesos.TaskStatus)) {
	st := masterStatus(taskID, agentID, state, reason, message)
	if extra != nil {
		extra(&st)
	}
	m.forwardLocked(fw, st)
}

func masterStatus(taskID mesos.TaskID, agentID *mesos.AgentID, state mesos.TaskState, reason mesos.TaskStatus_Reason, message string) mesos.TaskStatus {
	src := mesos.SOURCE_MASTER
	ts := float64(time.Now().UnixNano()) / 1e9
	st := mesos.TaskStatus{
		TaskID:    taskID,
		State:     &state,
		Source:    &src,
		Reason:    &reason,
		Message:   &message,
		Timestamp: &ts,
	}
	if agentID != nil && agentID.Value != "" {
		id := *agentID
		st.AgentID = &id
	}
	return st
}

// forwardLocked delivers an UPDATE to a connected framework and records it.
func (m *Master) forwardLocked(fw *framework, st mesos.TaskStatus) {
	if fw.sub == nil {
		return
	}
	// Recorded before it is queued: a client that has read the update
	// must find it recorded.
	m.rec.Add(Record{Kind: RecordStatusUpdate, Master: m.cfg.ID, FrameworkID: fw.id, AgentID: st.GetAgentID().GetValue(),
		TaskID: st.TaskID.Value, ExecutorID: st.GetExecutorID().GetValue(), Type: st.GetState().String(),
		Detail: st.GetReason().String()})
	fw.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}})
}

// finishTaskLocked ends a task in the master's books only (no update is
// sent): its state is set, its resources return, and it moves to the
// completed tasks.
func (m *Master) finishTaskLocked(fw *framework, t *mesos.Task, state mesos.TaskState, reason mesos.TaskStatus_Reason, message string) {
	if !isTerminalState(t.GetState()) && t.GetState() != mesos.TASK_UNREACHABLE {
		if a := m.agents[t.AgentID.Value]; a != nil {
			a.releaseLocked(t.Resources)
		}
	}
	st := masterStatus(t.TaskID, &t.AgentID, state, reason, message)
	t.State = &state
	m.publishTaskUpdatedLocked(t, st)
	appendTaskStatus(t, st)
	m.completeTaskLocked(fw, t)
}

// completeTaskLocked moves a task to the framework's completed tasks.
func (m *Master) completeTaskLocked(fw *framework, t *mesos.Task) {
	delete(fw.tasks, t.TaskID.Value)
	delete(fw.unreachableTasks, t.TaskID.Value)
	fw.completedTasks = append(fw.completedTasks, t)
	if n := len(fw.completedTasks) - defaultMaxCompletedTasks; n > 0 {
		fw.completedTasks = append([]*mesos.Task(nil), fw.completedTasks[n:]...)
	}
}

// killLocked is KILL: a known task is killed on its agent (again on every
// KILL; queued while the agent is disconnected); an unknown one is
// reconciled explicitly.
func (m *Master) killLocked(fw *framework, k *scheduler.Call_Kill) {
	t := fw.tasks[k.TaskID.Value]
	if t == nil {
		m.reconcileLocked(fw, []scheduler.Call_Reconcile_Task{{TaskID: k.TaskID, AgentID: k.AgentID}})
		return
	}
	if k.AgentID != nil && k.AgentID.Value != t.AgentID.Value {
		return
	}
	m.rec.Add(Record{Kind: RecordKill, Master: m.cfg.ID, FrameworkID: fw.id, AgentID: t.AgentID.Value,
		TaskID: t.TaskID.Value, Type: "kill"})
	a := m.agents[t.AgentID.Value]
	if a == nil {
		return
	}
	if !a.connected {
		a.pendingKills = append(a.pendingKills, pendingKill{frameworkID: fw.id, taskID: t.TaskID, policy: k.KillPolicy})
		return
	}
	a.link.KillTask(mesos.FrameworkID{Value: fw.id}, t.TaskID, k.KillPolicy)
}

// pendingKill is a KILL held for a disconnected agent until it re-registers.
type pendingKill struct {
	frameworkID string
	taskID      mesos.TaskID
	policy      *mesos.KillPolicy
}

// shutdownExecutorLocked is SHUTDOWN.
func (m *Master) shutdownExecutorLocked(fw *framework, agentID string, executorID mesos.ExecutorID) {
	m.rec.Add(Record{Kind: RecordKill, Master: m.cfg.ID, FrameworkID: fw.id, AgentID: agentID,
		ExecutorID: executorID.Value, Type: "shutdown_executor"})
	if a := m.agents[agentID]; a != nil && a.connected {
		a.link.ShutdownExecutor(mesos.FrameworkID{Value: fw.id}, executorID)
	}
}

// acknowledgeLocked is ACKNOWLEDGE: forwarded to a connected agent; an ack
// of the task's terminal update removes the task.
func (m *Master) acknowledgeLocked(fw *framework, ack *scheduler.Call_Acknowledge) {
	a := m.agents[ack.AgentID.Value]
	if a == nil || !a.connected {
		return
	}
	a.link.Acknowledge(mesos.FrameworkID{Value: fw.id}, ack.TaskID, ack.UUID)
	t := fw.tasks[ack.TaskID.Value]
	if t != nil && t.StatusUpdateState != nil && isTerminalState(*t.StatusUpdateState) && bytes.Equal(t.StatusUpdateUUID, ack.UUID) {
		m.completeTaskLocked(fw, t)
	}
}

// reconcileLocked is RECONCILE (Master::reconcile, mesos-protocol.md 1.9).
func (m *Master) reconcileLocked(fw *framework, tasks []scheduler.Call_Reconcile_Task) {
	pa := fw.partitionAware()
	if len(tasks) == 0 {
		for _, t := range fw.tasks {
			m.forwardLocked(fw, latestStatus(t))
		}
		return
	}
	for _, rt := range tasks {
		if t := fw.tasks[rt.TaskID.Value]; t != nil {
			m.forwardLocked(fw, latestStatus(t))
			continue
		}
		var agentID string
		if rt.AgentID != nil {
			agentID = rt.AgentID.Value
		}
		state, msg := mesos.TASK_UNKNOWN, "Reconciliation: Task is unknown"
		var unreachableAt *time.Time
		switch {
		case agentID != "" && m.expected[agentID] != nil:
			continue // case 2: the agent may still re-register with it
		case agentID != "" && m.agents[agentID] != nil:
			state, msg = mesos.TASK_GONE, "Reconciliation: Task is unknown to the agent"
		case agentID != "" && m.unreachable[agentID] != nil:
			state, msg = mesos.TASK_UNREACHABLE, "Reconciliation: Task is unreachable"
			at := m.unreachable[agentID].at
			unreachableAt = &at
		case agentID != "" && !m.gone[agentID].IsZero():
			state, msg = mesos.TASK_GONE_BY_OPERATOR, "Reconciliation: Task is gone"
		case agentID == "" && len(m.expected) > 0:
			continue // case 2 without agent_id: some agent is still recovering
		}
		if !pa {
			state = mesos.TASK_LOST
		}
		m.sendMasterUpdateLocked(fw, rt.TaskID, rt.AgentID, state, mesos.REASON_RECONCILIATION, msg, func(st *mesos.TaskStatus) {
			if unreachableAt != nil {
				st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: unreachableAt.UnixNano()}
			}
		})
	}
}

// latestStatus is a task's reconciliation answer: the state of the update
// being delivered if any, else the task's state; healthy, check and
// container status copied from its latest status.
func latestStatus(t *mesos.Task) mesos.TaskStatus {
	state := t.GetState()
	if t.StatusUpdateState != nil {
		state = *t.StatusUpdateState
	}
	st := masterStatus(t.TaskID, &t.AgentID, state, mesos.REASON_RECONCILIATION, "Reconciliation: Latest task state")
	st.ExecutorID = t.ExecutorID
	if n := len(t.Statuses); n > 0 {
		last := t.Statuses[n-1]
		st.Healthy = last.Healthy
		st.CheckStatus = last.CheckStatus
		st.ContainerStatus = last.ContainerStatus
		if state == mesos.TASK_UNREACHABLE {
			st.UnreachableTime = last.UnreachableTime
		}
	}
	return st
}

// StatusUpdate implements MasterLink: the master records the task's latest
// state, returns its resources once that state is terminal, and forwards
// the update to the framework if it is connected (otherwise the agent's
// retry brings it again).
func (m *Master) StatusUpdate(agentID mesos.AgentID, frameworkID mesos.FrameworkID, status mesos.TaskStatus, latestState mesos.TaskState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[agentID.Value]
	if m.closed || a == nil || !a.connected {
		return // Mesos ignores updates from agents it does not consider registered
	}
	fw := m.frameworks[frameworkID.Value]
	if fw == nil {
		return
	}
	if t := fw.tasks[status.TaskID.Value]; t != nil {
		wasTerminal := isTerminalState(t.GetState())
		latest := latestState
		t.State = &latest
		su := status.GetState()
		t.StatusUpdateState = &su
		t.StatusUpdateUUID = status.UUID
		m.publishTaskUpdatedLocked(t, status)
		appendTaskStatus(t, status)
		if !wasTerminal && isTerminalState(latest) {
			a.releaseLocked(t.Resources)
		}
	}
	m.forwardLocked(fw, status)
}

// ExecutorMessage implements MasterLink: a MESSAGE event to the framework,
// best effort (subject to SetFrameworkMessageFault).
func (m *Master) ExecutorMessage(agentID mesos.AgentID, frameworkID mesos.FrameworkID, executorID mesos.ExecutorID, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID.Value]
	if m.closed || fw == nil || fw.sub == nil {
		return
	}
	ev := &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{AgentID: agentID, ExecutorID: executorID, Data: data}}
	if m.msgFault != nil {
		drop, delay := m.msgFault(fw.id, agentID.Value, executorID.Value, data)
		if drop {
			return
		}
		if delay > 0 {
			sub := fw.sub
			// subscription.send is safe without the master's lock, and a
			// closed subscription drops the event.
			m.afterLocked(delay, func() { sub.send(ev) })
			return
		}
	}
	fw.send(ev)
}

// ExecutorExited implements MasterLink: the executor's resources return and
// the framework gets FAILURE{agent_id, executor_id, status}; command
// executors (unknown to the master as executors) produce no FAILURE.
func (m *Master) ExecutorExited(agentID mesos.AgentID, frameworkID mesos.FrameworkID, executorID mesos.ExecutorID, status int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID.Value]
	if m.closed || fw == nil {
		return
	}
	execs := fw.executors[agentID.Value]
	e, ok := execs[executorID.Value]
	if !ok {
		return
	}
	delete(execs, executorID.Value)
	if a := m.agents[agentID.Value]; a != nil {
		a.releaseLocked(e.Resources)
	}
	aid, eid, st := agentID, executorID, status
	fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &aid, ExecutorID: &eid, Status: &st}})
}

// Pong implements MasterLink.
func (m *Master) Pong(agentID mesos.AgentID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.agents[agentID.Value]; a != nil {
		a.pongSeen = true
		a.missedPings = 0
	}
}

var _ MasterLink = (*Master)(nil)
