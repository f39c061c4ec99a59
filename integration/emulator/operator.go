package emulator

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
)

// serveOperator is the operator API, POST /api/v1 on the master
// (Master::Http::api, mesos-protocol.md section 5): the generic checks, then
// master::Call validation, then Accept negotiation for every call, then the
// call. Read calls answer 200 with a master.Response; mutations 200 with an
// empty body and no Content-Type.
func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	var call master.Call
	_, contentType, raw, ok := m.readMasterCall(w, r, APIOperator, realmReadwrite, m.cfg.AuthenticateHTTPReadwrite, &call)
	if !ok {
		return
	}
	if msg := validateOperatorCall(&call, contentType, raw); msg != "" {
		writeError(w, http.StatusBadRequest, "Failed to validate master::Call: "+msg)
		return
	}
	ct := negotiateAccept(r)
	if ct == "" {
		writeNotAcceptable(w)
		return
	}
	m.recordOperatorCall(r, &call)
	switch call.Type {
	case master.Call_GET_HEALTH:
		writeMessage(w, r, ct, &master.Response{Type: master.Response_GET_HEALTH,
			GetHealth: &master.Response_GetHealth{Healthy: true}})
	case master.Call_GET_VERSION:
		writeMessage(w, r, ct, &master.Response{Type: master.Response_GET_VERSION,
			GetVersion: &master.Response_GetVersion{VersionInfo: mesos.VersionInfo{Version: m.cfg.Version}}})
	case master.Call_GET_MASTER:
		writeMessage(w, r, ct, m.getMaster())
	case master.Call_GET_AGENTS:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_AGENTS, GetAgents: m.getAgentsLocked()}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_GET_FRAMEWORKS:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_FRAMEWORKS, GetFrameworks: m.getFrameworksLocked()}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_GET_TASKS:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_TASKS, GetTasks: m.getTasksLocked()}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_GET_EXECUTORS:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_EXECUTORS, GetExecutors: m.getExecutorsLocked()}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_GET_STATE:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_STATE, GetState: m.getStateLocked()}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_GET_MAINTENANCE_SCHEDULE:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_MAINTENANCE_SCHEDULE,
			GetMaintenanceSchedule: &master.Response_GetMaintenanceSchedule{Schedule: m.maintenance.scheduleCopy()}}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_GET_MAINTENANCE_STATUS:
		m.mu.Lock()
		resp := &master.Response{Type: master.Response_GET_MAINTENANCE_STATUS,
			GetMaintenanceStatus: &master.Response_GetMaintenanceStatus{Status: m.maintenanceStatusLocked()}}
		m.mu.Unlock()
		writeMessage(w, r, ct, resp)
	case master.Call_UPDATE_MAINTENANCE_SCHEDULE:
		m.answer(w, m.updateMaintenanceSchedule(call.UpdateMaintenanceSchedule.Schedule))
	case master.Call_START_MAINTENANCE:
		m.answer(w, m.startMaintenance(call.StartMaintenance.Machines))
	case master.Call_STOP_MAINTENANCE:
		m.answer(w, m.stopMaintenance(call.StopMaintenance.Machines))
	case master.Call_DRAIN_AGENT:
		m.answer(w, m.drainAgent(call.DrainAgent))
	case master.Call_DEACTIVATE_AGENT:
		m.answer(w, m.deactivateAgent(call.DeactivateAgent.AgentID.Value))
	case master.Call_REACTIVATE_AGENT:
		m.answer(w, m.reactivateAgent(call.ReactivateAgent.AgentID.Value))
	case master.Call_MARK_AGENT_GONE:
		m.answer(w, m.markAgentGone(call.MarkAgentGone.AgentID.Value))
	case master.Call_TEARDOWN:
		id := call.Teardown.FrameworkID.Value
		if !m.TeardownFramework(id) {
			writeError(w, http.StatusBadRequest, "No framework found with ID "+id)
			return
		}
		writeEmpty(w, http.StatusOK)
	case master.Call_SUBSCRIBE:
		m.serveOperatorSubscribe(w, r, ct)
	case master.Call_UNKNOWN:
		// An explicit "type":"UNKNOWN" (a missing type failed validation).
		writeEmpty(w, http.StatusNotImplemented)
	default:
		// Flags, metrics, files, quota, weights, reservations and
		// volumes are not emulated.
		writeError(w, http.StatusNotImplemented, "Call "+call.Type.String()+" is not supported by the emulator")
	}
}

// opResult is the outcome of an operator mutation: 200 empty, or an error
// status and message.
type opResult struct {
	status int
	msg    string
}

var opOK = opResult{status: http.StatusOK}

func badRequest(msg string) opResult { return opResult{status: http.StatusBadRequest, msg: msg} }

func (m *Master) answer(w http.ResponseWriter, res opResult) {
	if res.status == http.StatusOK {
		writeEmpty(w, http.StatusOK)
		return
	}
	writeError(w, res.status, res.msg)
}

// validateOperatorCall is master::call::validate (src/master/validation.cpp):
// the type must be present and the call's payload too for the calls that
// have one. A call without type decodes as UNKNOWN like an explicit UNKNOWN,
// so the raw body tells them apart (typePresent): Mesos reports the first
// as a missing type (400) and answers the second 501.
func validateOperatorCall(c *master.Call, contentType string, raw []byte) string {
	need := func(present bool, field string) string {
		if present {
			return ""
		}
		return "Expecting '" + field + "' to be present"
	}
	if !typePresent(contentType, raw, operatorCallType) {
		return "Expecting 'type' to be present"
	}
	switch c.Type {
	case master.Call_UPDATE_MAINTENANCE_SCHEDULE:
		return need(c.UpdateMaintenanceSchedule != nil, "update_maintenance_schedule")
	case master.Call_START_MAINTENANCE:
		return need(c.StartMaintenance != nil, "start_maintenance")
	case master.Call_STOP_MAINTENANCE:
		return need(c.StopMaintenance != nil, "stop_maintenance")
	case master.Call_DRAIN_AGENT:
		return need(c.DrainAgent != nil, "drain_agent")
	case master.Call_DEACTIVATE_AGENT:
		return need(c.DeactivateAgent != nil, "deactivate_agent")
	case master.Call_REACTIVATE_AGENT:
		return need(c.ReactivateAgent != nil, "reactivate_agent")
	case master.Call_MARK_AGENT_GONE:
		return need(c.MarkAgentGone != nil, "mark_agent_gone")
	case master.Call_TEARDOWN:
		return need(c.Teardown != nil, "teardown")
	case master.Call_GET_METRICS:
		return need(c.GetMetrics != nil, "get_metrics")
	case master.Call_SET_LOGGING_LEVEL:
		return need(c.SetLoggingLevel != nil, "set_logging_level")
	case master.Call_LIST_FILES:
		return need(c.ListFiles != nil, "list_files")
	case master.Call_READ_FILE:
		return need(c.ReadFile != nil, "read_file")
	}
	return ""
}

func (m *Master) recordOperatorCall(r *http.Request, c *master.Call) {
	rec := Record{Kind: RecordOperatorCall, Master: m.cfg.ID, Type: c.Type.String(), Client: r.UserAgent()}
	switch {
	case c.DrainAgent != nil:
		rec.AgentID = c.DrainAgent.AgentID.Value
	case c.DeactivateAgent != nil:
		rec.AgentID = c.DeactivateAgent.AgentID.Value
	case c.ReactivateAgent != nil:
		rec.AgentID = c.ReactivateAgent.AgentID.Value
	case c.MarkAgentGone != nil:
		rec.AgentID = c.MarkAgentGone.AgentID.Value
	case c.Teardown != nil:
		rec.FrameworkID = c.Teardown.FrameworkID.Value
	case c.StartMaintenance != nil:
		rec.Detail = machinesString(c.StartMaintenance.Machines)
	case c.StopMaintenance != nil:
		rec.Detail = machinesString(c.StopMaintenance.Machines)
	}
	m.rec.Add(rec)
}

func machinesString(ids []mesos.MachineID) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = machineString(id)
	}
	return strings.Join(parts, ",")
}

// secondsOf is a time as the double seconds GET_MASTER reports.
func secondsOf(t time.Time) *float64 {
	s := float64(t.UnixNano()) / 1e9
	return &s
}

func timeInfo(t time.Time) *mesos.TimeInfo {
	if t.IsZero() {
		return nil
	}
	return &mesos.TimeInfo{Nanoseconds: t.UnixNano()}
}

func (m *Master) getMaster() *master.Response {
	info := m.MasterInfo()
	gm := &master.Response_GetMaster{MasterInfo: &info, StartTime: secondsOf(m.started)}
	if e := m.ElectedTime(); !e.IsZero() {
		gm.ElectedTime = secondsOf(e)
	}
	return &master.Response{Type: master.Response_GET_MASTER, GetMaster: gm}
}

// getAgentsLocked lists registered agents in registration order, and the
// agents expected to re-register after a failover as recovered_agents.
func (m *Master) getAgentsLocked() *master.Response_GetAgents {
	out := &master.Response_GetAgents{}
	for _, a := range m.agentOrder {
		out.Agents = append(out.Agents, m.agentResponseLocked(a))
	}
	ids := make([]string, 0, len(m.expected))
	for id := range m.expected {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		out.RecoveredAgents = append(out.RecoveredAgents, m.expected[id].info)
	}
	return out
}

// agentResponseLocked describes a registered agent as GET_AGENTS and
// AGENT_ADDED do (createAgentResponse).
func (m *Master) agentResponseLocked(a *agentEntry) master.Response_GetAgents_Agent {
	port := a.info.GetPort()
	if port == 0 {
		port = 5051
	}
	pid := "slave(1)@" + a.ip + ":" + strconv.Itoa(int(port))
	// deactivated is always set, false for an active agent
	// (protobuf::master::createAgentResponse).
	ag := master.Response_GetAgents_Agent{
		AgentInfo:          a.info,
		Active:             a.connected && !a.deactivated,
		Deactivated:        proto.Bool(a.deactivated),
		Version:            m.cfg.Version,
		PID:                &pid,
		RegisteredTime:     timeInfo(a.registered),
		ReregisteredTime:   timeInfo(a.reregistered),
		TotalResources:     a.total.Clone(),
		AllocatedResources: a.used.Clone(),
		OfferedResources:   a.offered.Clone(),
		Capabilities:       agentCapabilities(),
	}
	if a.drain != nil {
		d := *a.drain
		ag.DrainInfo = &d
	}
	return ag
}

// agentCapabilities are what an emulated 1.12 agent announces.
func agentCapabilities() []mesos.AgentInfo_Capability {
	return []mesos.AgentInfo_Capability{
		{Type: mesos.AgentInfo_Capability_MULTI_ROLE},
		{Type: mesos.AgentInfo_Capability_HIERARCHICAL_ROLE},
		{Type: mesos.AgentInfo_Capability_RESERVATION_REFINEMENT},
		{Type: mesos.AgentInfo_Capability_RESOURCE_PROVIDER},
		{Type: mesos.AgentInfo_Capability_RESIZE_VOLUME},
		{Type: mesos.AgentInfo_Capability_AGENT_OPERATION_FEEDBACK},
		{Type: mesos.AgentInfo_Capability_AGENT_DRAINING},
		{Type: mesos.AgentInfo_Capability_TASK_RESOURCE_LIMITS},
	}
}

func sortedFrameworks(fws map[string]*framework) []*framework {
	out := make([]*framework, 0, len(fws))
	for _, fw := range fws {
		out = append(out, fw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (m *Master) frameworkEntryLocked(fw *framework) master.Response_GetFrameworks_Framework {
	e := master.Response_GetFrameworks_Framework{
		FrameworkInfo:    fw.info,
		Active:           fw.active,
		Connected:        fw.sub != nil,
		Recovered:        fw.recovered,
		RegisteredTime:   timeInfo(fw.registered),
		ReregisteredTime: timeInfo(fw.reregistered),
		UnregisteredTime: timeInfo(fw.unregistered),
	}
	if fw.sub != nil {
		e.UnregisteredTime = nil
	}
	var offered, allocated mesos.Resources
	for _, id := range slices.Sorted(maps.Keys(fw.offers)) {
		o := fw.offers[id]
		if a := m.agents[o.agentID]; a != nil {
			e.Offers = append(e.Offers, m.offerWireLocked(fw, a, o))
		}
		offered.Add(o.resources...)
	}
	for _, io := range m.InverseOffers.Offers {
		if io.FrameworkID == fw.id {
			e.InverseOffers = append(e.InverseOffers, io.Offer)
		}
	}
	for _, t := range fw.tasks {
		if !isTerminalState(t.GetState()) {
			allocated.Add(unallocated(t.Resources)...)
		}
	}
	for _, execs := range fw.executors {
		for _, ex := range execs {
			allocated.Add(unallocated(ex.Resources)...)
		}
	}
	e.OfferedResources, e.AllocatedResources = offered, allocated
	return e
}

func (m *Master) getFrameworksLocked() *master.Response_GetFrameworks {
	out := &master.Response_GetFrameworks{}
	for _, fw := range sortedFrameworks(m.frameworks) {
		out.Frameworks = append(out.Frameworks, m.frameworkEntryLocked(fw))
	}
	for _, fw := range m.completed {
		out.CompletedFrameworks = append(out.CompletedFrameworks, m.frameworkEntryLocked(fw))
	}
	return out
}

func taskList(tasks map[string]*mesos.Task) []mesos.Task {
	out := make([]mesos.Task, 0, len(tasks))
	for _, id := range slices.Sorted(maps.Keys(tasks)) {
		out = append(out, *tasks[id])
	}
	return out
}

func (m *Master) getTasksLocked() *master.Response_GetTasks {
	out := &master.Response_GetTasks{}
	for _, fw := range sortedFrameworks(m.frameworks) {
		out.Tasks = append(out.Tasks, taskList(fw.tasks)...)
		out.UnreachableTasks = append(out.UnreachableTasks, taskList(fw.unreachableTasks)...)
		for _, t := range fw.completedTasks {
			out.CompletedTasks = append(out.CompletedTasks, *t)
		}
	}
	for _, fw := range m.completed {
		for _, t := range fw.completedTasks {
			out.CompletedTasks = append(out.CompletedTasks, *t)
		}
	}
	return out
}

func (m *Master) getExecutorsLocked() *master.Response_GetExecutors {
	out := &master.Response_GetExecutors{}
	for _, fw := range sortedFrameworks(m.frameworks) {
		for _, agentID := range slices.Sorted(maps.Keys(fw.executors)) {
			execs := fw.executors[agentID]
			for _, id := range slices.Sorted(maps.Keys(execs)) {
				out.Executors = append(out.Executors, master.Response_GetExecutors_Executor{
					ExecutorInfo: execs[id], AgentID: mesos.AgentID{Value: agentID}})
			}
		}
	}
	return out
}

func (m *Master) getStateLocked() *master.Response_GetState {
	return &master.Response_GetState{
		GetTasks:      m.getTasksLocked(),
		GetExecutors:  m.getExecutorsLocked(),
		GetFrameworks: m.getFrameworksLocked(),
		GetAgents:     m.getAgentsLocked(),
	}
}

// knownAgentLocked reports whether the agent is registered, recovered
// (expected after a failover) or unreachable: the agents DRAIN_AGENT and
// DEACTIVATE_AGENT accept.
func (m *Master) knownAgentLocked(id string) bool {
	return m.agents[id] != nil || m.expected[id] != nil || m.unreachable[id] != nil
}

// rescindAgentInverseOffersLocked withdraws every outstanding inverse offer
// for an agent.
func (m *Master) rescindAgentInverseOffersLocked(agentID string) {
	for _, id := range slices.Sorted(maps.Keys(m.InverseOffers.Offers)) {
		if m.InverseOffers.Offers[id].AgentID == agentID {
			m.RescindInverseOfferLocked(id)
		}
	}
}

// deactivateAgent is DEACTIVATE_AGENT (Master::Http::_deactivateAgent): no
// more offers for the agent, outstanding ones rescinded, tasks untouched.
func (m *Master) deactivateAgent(id string) opResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.knownAgentLocked(id) {
		return badRequest("Unknown agent")
	}
	m.maintenance.setDeactivated(id, true)
	m.persistLocked()
	if a := m.agents[id]; a != nil {
		a.deactivated = true
		m.RescindAgentOffersLocked(id)
		m.rescindAgentInverseOffersLocked(id)
	}
	return opOK
}

// reactivateAgent is REACTIVATE_AGENT (Master::Http::_reactivateAgent):
// the agent is offered again from the next periodic allocation run.
func (m *Master) reactivateAgent(id string) opResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[id]
	deactivated := m.maintenance.deactivated[id] || (a != nil && a.deactivated)
	if !deactivated {
		return badRequest("Agent is not deactivated")
	}
	if a != nil {
		m.checkDrainedLocked(a)
		if a.drain != nil && a.drain.State == mesos.DrainState_DRAINING {
			return badRequest("Agent is still in the DRAINING state")
		}
	}
	m.maintenance.setDeactivated(id, false)
	delete(m.maintenance.drains, id)
	m.persistLocked()
	if a == nil {
		return opResult{status: http.StatusConflict, msg: "Agent removed while processing the call"}
	}
	a.deactivated = false
	a.drain = nil
	// No allocation at once: the allocator's activateSlave only marks the
	// agent active, so offers resume on the next periodic run.
	return opOK
}

// markAgentGone is MARK_AGENT_GONE (Master::Http::_markAgentGone).
func (m *Master) markAgentGone(id string) opResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, gone := m.gone[id]; gone {
		return opOK
	}
	switch {
	case m.agents[id] != nil:
		m.RemoveAgentLocked(id, AgentMarkedGone)
	case m.expected[id] != nil:
		m.expected[id].timer.Stop()
		delete(m.expected, id)
		m.gone[id] = time.Now()
	case m.unreachable[id] != nil:
		delete(m.unreachable, id)
		m.gone[id] = time.Now()
		m.markUnreachableAgentGoneLocked(id)
	default:
		return opResult{status: http.StatusNotFound, msg: "Agent '" + id + "' not found"}
	}
	m.maintenance.setDeactivated(id, false)
	delete(m.maintenance.drains, id)
	m.persistLocked()
	return opOK
}

// drainAgent is DRAIN_AGENT (Master::Http::drainAgent, _drainAgent,
// mesos-protocol.md 5.4).
func (m *Master) drainAgent(d *master.Call_DrainAgent) opResult {
	id := d.AgentID.Value
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.agents[id]; a != nil {
		mid := agentMachineID(a)
		if w := m.maintenance.windowOf(mid); w >= 0 {
			return badRequest("Agent " + id + " is part of a maintenance schedule under Machine " + machineString(mid))
		}
		// Every emulated agent has the AGENT_DRAINING capability, so
		// "is not capable of draining" cannot happen.
	}
	if !m.knownAgentLocked(id) {
		return badRequest("Unknown agent")
	}
	cfg := mesos.DrainConfig{MarkGone: proto.Bool(d.GetMarkGone())}
	var maxGrace *int64
	if g := d.MaxGracePeriod; g != nil {
		ns := g.Seconds*int64(time.Second) + int64(g.Nanos)
		cfg.MaxGracePeriod = &mesos.DurationInfo{Nanoseconds: ns}
		maxGrace = &ns
	}
	info := &mesos.DrainInfo{State: mesos.DrainState_DRAINING, Config: cfg}
	m.maintenance.setDeactivated(id, true)
	if m.maintenance.drains == nil {
		m.maintenance.drains = make(map[string]*mesos.DrainInfo)
	}
	m.maintenance.drains[id] = info
	m.persistLocked()
	a := m.agents[id]
	if a == nil {
		// Drained when the agent comes back (AddAgent applies the drain).
		return opOK
	}
	a.deactivated = true
	a.drain = info
	m.RescindAgentOffersLocked(id)
	m.rescindAgentInverseOffersLocked(id)
	a.link.Drain(maxGrace, d.GetMarkGone())
	m.watchDrainLocked(id)
	return opOK
}

// agentHasTasksLocked reports whether the master still holds tasks on the
// agent: a terminal task stays until its terminal update is acknowledged.
func (m *Master) agentHasTasksLocked(agentID string) bool {
	for _, fw := range m.frameworks {
		for _, t := range fw.tasks {
			if t.AgentID.Value == agentID {
				return true
			}
		}
	}
	return false
}

// checkDrainedLocked moves a draining agent to DRAINED once every task on it
// is terminal and acknowledged; with mark_gone the agent is then marked gone.
// It reports whether the agent left DRAINING.
func (m *Master) checkDrainedLocked(a *agentEntry) bool {
	if a.drain == nil || a.drain.State != mesos.DrainState_DRAINING || m.agentHasTasksLocked(a.id) {
		return false
	}
	a.drain.State = mesos.DrainState_DRAINED
	m.rec.Add(Record{Kind: RecordOperatorCall, Master: m.cfg.ID, AgentID: a.id, Type: "DRAINED"})
	if a.drain.Config.GetMarkGone() {
		m.RemoveAgentLocked(a.id, AgentMarkedGone)
		m.maintenance.setDeactivated(a.id, false)
		delete(m.maintenance.drains, a.id)
	}
	m.persistLocked()
	return true
}

// watchDrainLocked polls a draining agent every allocation interval until it
// is drained (the master has no event for "last terminal update
// acknowledged"); it moves the agent to DRAINED (and, with mark_gone, marks
// it gone), so reads such as GET_AGENTS never change state. At most one
// watch runs per agent; the goroutine belongs to the master and ends with it
// or when the agent leaves (AddAgent starts a new one if it comes back still
// DRAINING).
func (m *Master) watchDrainLocked(agentID string) {
	if m.closed || m.drainWatch[agentID] {
		return
	}
	m.drainWatch[agentID] = true
	m.wg.Add(1) // safe: Close sets closed under mu before it waits
	go func() {
		defer m.wg.Done()
		m.every(m.cfg.AllocationInterval, nil, func(bool) bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			a := m.agents[agentID]
			done := a == nil || a.drain == nil || a.drain.State != mesos.DrainState_DRAINING || m.checkDrainedLocked(a)
			if done {
				delete(m.drainWatch, agentID)
			}
			return done
		})
	}()
}
