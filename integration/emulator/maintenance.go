package emulator

import (
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"

	"github.com/healer-mesos/healer/integration/emulator/mesosjson"
)

// machineMode is a machine's maintenance mode; UP machines are not tracked.
type machineMode int

const (
	machineDraining machineMode = iota + 1
	machineDown
)

// scheduledMachine is a machine in the maintenance schedule.
type scheduledMachine struct {
	id             mesos.MachineID
	mode           machineMode
	unavailability mesos.Unavailability
}

// maintenanceState is the master's maintenance schedule, machine modes and
// the operator's per-agent state (deactivation, drain), guarded by the
// master's lock. The zero value is ready.
type maintenanceState struct {
	schedule    maintenance.Schedule
	machines    map[string]*scheduledMachine // by machineKey
	deactivated map[string]bool              // agent IDs deactivated by the operator
	drains      map[string]*mesos.DrainInfo  // agent IDs drained by the operator
}

// machineKey makes MachineIDs comparable as Mesos compares them: the same
// fields must be present, hostname case-insensitively.
func machineKey(id mesos.MachineID) string {
	var b strings.Builder
	if id.Hostname != nil {
		b.WriteString("h:" + strings.ToLower(*id.Hostname))
	}
	b.WriteString("|")
	if id.IP != nil {
		b.WriteString("i:" + *id.IP)
	}
	return b.String()
}

// machineString is stringify(MachineID): "host (ip)", "host" or "(ip)".
func machineString(id mesos.MachineID) string {
	switch {
	case id.Hostname != nil && id.IP != nil:
		return *id.Hostname + " (" + *id.IP + ")"
	case id.Hostname != nil:
		return *id.Hostname
	default:
		return "(" + id.GetIP() + ")"
	}
}

// machineJSON is stringify(JSON::protobuf(MachineID)), used in validation
// messages.
func machineJSON(id mesos.MachineID) string {
	b, err := mesosjson.Marshal(&id)
	if err != nil {
		return machineString(id)
	}
	return string(b)
}

// agentMachineID is an agent's MachineID: its hostname and the IP of its
// libprocess pid.
func agentMachineID(a *agentEntry) mesos.MachineID {
	host, ip := a.info.Hostname, a.ip
	return mesos.MachineID{Hostname: &host, IP: &ip}
}

func (s *maintenanceState) setDeactivated(agentID string, on bool) {
	if !on {
		delete(s.deactivated, agentID)
		return
	}
	if s.deactivated == nil {
		s.deactivated = make(map[string]bool)
	}
	s.deactivated[agentID] = true
}

func (s *maintenanceState) scheduleCopy() maintenance.Schedule {
	return *proto.Clone(&s.schedule).(*maintenance.Schedule)
}

// windowOf returns the index of the schedule window holding the machine,
// or -1.
func (s *maintenanceState) windowOf(id mesos.MachineID) int {
	key := machineKey(id)
	for i, w := range s.schedule.Windows {
		for _, mid := range w.MachineIDs {
			if machineKey(mid) == key {
				return i
			}
		}
	}
	return -1
}

// validateMachine is maintenance::validation::machine.
func validateMachine(id mesos.MachineID) string {
	if id.GetHostname() == "" && id.GetIP() == "" {
		return "Both 'hostname' and 'ip' for a machine are empty"
	}
	if ip := id.GetIP(); ip != "" {
		if parsed := net.ParseIP(ip); parsed == nil || parsed.To4() == nil {
			return "Failed to parse IP address '" + ip + "'"
		}
	}
	return ""
}

// validateMachines is maintenance::validation::machines.
func validateMachines(ids []mesos.MachineID) string {
	if len(ids) == 0 {
		return "List of machines is empty"
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if msg := validateMachine(id); msg != "" {
			return msg
		}
		key := machineKey(id)
		if seen[key] {
			// Mesos words it so for machine lists too.
			return "Machine '" + machineJSON(id) + "' appears more than once in the schedule"
		}
		seen[key] = true
	}
	return ""
}

// validateScheduleLocked is maintenance::validation::schedule.
func (m *Master) validateScheduleLocked(s maintenance.Schedule) string {
	updated := make(map[string]bool)
	for _, w := range s.Windows {
		if len(w.MachineIDs) == 0 {
			return "List of machines in the maintenance window is empty"
		}
		if d := w.Unavailability.Duration; d != nil && d.Nanoseconds < 0 {
			return "Unavailability 'duration' is negative"
		}
		for _, id := range w.MachineIDs {
			if msg := validateMachine(id); msg != "" {
				return msg
			}
			key := machineKey(id)
			if updated[key] {
				return "Machine '" + machineJSON(id) + "' appears more than once in the schedule"
			}
			updated[key] = true
		}
	}
	for _, key := range slices.Sorted(maps.Keys(m.maintenance.machines)) {
		sm := m.maintenance.machines[key]
		if sm.mode == machineDown && !updated[key] {
			return "Machine '" + machineJSON(sm.id) + "' is deactivated and cannot be removed from the schedule"
		}
	}
	return ""
}

// agentsOnMachineLocked lists the registered agents on a machine.
func (m *Master) agentsOnMachineLocked(id mesos.MachineID) []*agentEntry {
	key := machineKey(id)
	var out []*agentEntry
	for _, a := range m.agentOrder {
		if machineKey(agentMachineID(a)) == key {
			out = append(out, a)
		}
	}
	return out
}

// updateMaintenanceSchedule is UPDATE_MAINTENANCE_SCHEDULE
// (Master::Http::___updateMaintenanceSchedule, mesos-protocol.md 5.3). As
// in Mesos, every machine the master knows is updated, changed or not:
// machines already DRAINING or DOWN take their window's unavailability
// again, machines left out of the schedule go (or stay) UP without one,
// and machines new to the schedule go DRAINING with theirs. So every
// registered agent's outstanding offers and inverse offers are rescinded
// and offered again at once (setUnavailabilityLocked), even on machines
// the update did not touch.
func (m *Master) updateMaintenanceSchedule(s maintenance.Schedule) opResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg := m.validateScheduleLocked(s); msg != "" {
		return badRequest(msg)
	}
	st := &m.maintenance
	if st.machines == nil {
		st.machines = make(map[string]*scheduledMachine)
	}
	windows := make(map[string]mesos.Unavailability)
	for _, w := range s.Windows {
		for _, id := range w.MachineIDs {
			windows[machineKey(id)] = w.Unavailability
		}
	}
	// The machines Mesos knows: those in the schedule and those of
	// registered agents (UP). Machines staying in the schedule are updated
	// here; the others go UP.
	known := make(map[string]mesos.MachineID)
	for key, sm := range st.machines {
		known[key] = sm.id
	}
	for _, a := range m.agentOrder {
		id := agentMachineID(a)
		if key := machineKey(id); st.machines[key] == nil {
			known[key] = id
		}
	}
	for _, key := range slices.Sorted(maps.Keys(known)) {
		if u, ok := windows[key]; ok {
			if sm := st.machines[key]; sm != nil {
				sm.unavailability = u
				m.setUnavailabilityLocked(sm.id, &sm.unavailability)
			}
			continue
		}
		delete(st.machines, key)
		m.setUnavailabilityLocked(known[key], nil)
	}
	for _, w := range s.Windows {
		for _, id := range w.MachineIDs {
			key := machineKey(id)
			if st.machines[key] != nil {
				continue
			}
			sm := &scheduledMachine{id: id, mode: machineDraining, unavailability: w.Unavailability}
			st.machines[key] = sm
			m.setUnavailabilityLocked(id, &sm.unavailability)
		}
	}
	st.schedule = *proto.Clone(&s).(*maintenance.Schedule)
	m.persistLocked()
	return opOK
}

// setUnavailabilityLocked applies a machine's unavailability (nil: none) to
// its registered agents, as Master::updateUnavailability and the
// allocator's updateUnavailability do: their outstanding offers and inverse
// offers are rescinded, the answers to and filters on their inverse offers
// forgotten, and an allocation runs at once for each agent. That run offers
// the agent again (the offers carrying the unavailability), then sends an
// inverse offer to every framework holding offered or allocated resources
// there.
func (m *Master) setUnavailabilityLocked(id mesos.MachineID, u *mesos.Unavailability) {
	for _, a := range m.agentsOnMachineLocked(id) {
		m.RescindAgentOffersLocked(a.id)
		m.rescindAgentInverseOffersLocked(a.id)
		m.InverseOffers.resetAgentLocked(a.id)
		a.unavailability = nil
		if u != nil {
			uc := *u
			a.unavailability = &uc
		}
		m.triggerAllocationLocked(a.id)
	}
}

// frameworksOnAgentLocked lists, sorted, the frameworks holding offered or
// allocated resources on an agent.
func (m *Master) frameworksOnAgentLocked(agentID string) []string {
	var out []string
	for _, fw := range sortedFrameworks(m.frameworks) {
		holds := len(fw.executors[agentID]) > 0
		for _, o := range fw.offers {
			holds = holds || o.agentID == agentID
		}
		for _, t := range fw.tasks {
			holds = holds || (t.AgentID.Value == agentID && !isTerminalState(t.GetState()))
		}
		if holds {
			out = append(out, fw.id)
		}
	}
	return out
}

// lookupMachineLocked finds a machine as Mesos' master->machines does: in
// the schedule (DRAINING or DOWN) or, UP, as the machine of a registered
// agent.
func (m *Master) lookupMachineLocked(id mesos.MachineID) (mode machineMode, known bool) {
	if sm := m.maintenance.machines[machineKey(id)]; sm != nil {
		return sm.mode, true
	}
	return 0, len(m.agentsOnMachineLocked(id)) > 0
}

// checkMachinesInModeLocked is the check START_MAINTENANCE and
// STOP_MAINTENANCE make before changing anything: every machine is in the
// schedule and in mode (named modeName); it returns Mesos' message for the
// first that is not, or "".
func (m *Master) checkMachinesInModeLocked(ids []mesos.MachineID, mode machineMode, modeName, direction string) string {
	for _, id := range ids {
		got, known := m.lookupMachineLocked(id)
		if !known {
			return "Machine '" + machineJSON(id) + "' is not part of a maintenance schedule"
		}
		if got != mode {
			return "Machine '" + machineJSON(id) + "' is not in " + modeName + " mode and cannot be brought " + direction
		}
	}
	return ""
}

// startMaintenance is START_MAINTENANCE (Master::Http::_startMaintenance):
// DRAINING machines go DOWN and their agents are removed, every task
// TASK_LOST / REASON_AGENT_REMOVED for every framework, with FAILURE.
func (m *Master) startMaintenance(ids []mesos.MachineID) opResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg := validateMachines(ids); msg != "" {
		return badRequest(msg)
	}
	if msg := m.checkMachinesInModeLocked(ids, machineDraining, "DRAINING", "down"); msg != "" {
		return badRequest(msg)
	}
	for _, id := range ids {
		m.maintenance.machines[machineKey(id)].mode = machineDown
		for _, a := range m.agentsOnMachineLocked(id) {
			m.RemoveAgentLocked(a.id, AgentRemovedForMaintenance)
		}
	}
	m.persistLocked()
	return opOK
}

// stopMaintenance is STOP_MAINTENANCE (Master::Http::_stopMaintenance): DOWN
// machines go UP and leave the schedule; empty windows are deleted.
func (m *Master) stopMaintenance(ids []mesos.MachineID) opResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	if msg := validateMachines(ids); msg != "" {
		return badRequest(msg)
	}
	if msg := m.checkMachinesInModeLocked(ids, machineDown, "DOWN", "up"); msg != "" {
		return badRequest(msg)
	}
	stopped := make(map[string]bool, len(ids))
	for _, id := range ids {
		key := machineKey(id)
		stopped[key] = true
		delete(m.maintenance.machines, key)
	}
	var windows []maintenance.Window
	for _, w := range m.maintenance.schedule.Windows {
		var keep []mesos.MachineID
		for _, id := range w.MachineIDs {
			if !stopped[machineKey(id)] {
				keep = append(keep, id)
			}
		}
		if len(keep) > 0 {
			w.MachineIDs = keep
			windows = append(windows, w)
		}
	}
	m.maintenance.schedule.Windows = windows
	m.persistLocked()
	return opOK
}

// maintenanceStatusLocked is GET_MAINTENANCE_STATUS: DRAINING machines with
// the frameworks' inverse-offer answers (UNKNOWN while outstanding), and
// DOWN machines. UP machines are not listed.
func (m *Master) maintenanceStatusLocked() maintenance.ClusterStatus {
	var out maintenance.ClusterStatus
	for _, w := range m.maintenance.schedule.Windows {
		for _, id := range w.MachineIDs {
			sm := m.maintenance.machines[machineKey(id)]
			if sm == nil {
				continue
			}
			if sm.mode == machineDown {
				out.DownMachines = append(out.DownMachines, sm.id)
				continue
			}
			dm := maintenance.ClusterStatus_DrainingMachine{ID: sm.id}
			for _, a := range m.agentsOnMachineLocked(sm.id) {
				dm.Statuses = append(dm.Statuses, m.inverseOfferStatusesLocked(a.id)...)
			}
			out.DrainingMachines = append(out.DrainingMachines, dm)
		}
	}
	return out
}

// inverseOfferStatusesLocked lists, by framework, the latest answer to an
// inverse offer for the agent, or UNKNOWN while the first one is
// outstanding. A later inverse offer (re-sent after an answer) does not
// hide the answer: the allocator's statuses change only with answers.
func (m *Master) inverseOfferStatusesLocked(agentID string) []allocator.InverseOfferStatus {
	byFw := make(map[string]allocator.InverseOfferStatus)
	for _, id := range slices.Sorted(maps.Keys(m.InverseOffers.Offers)) {
		io := m.InverseOffers.Offers[id]
		if io.AgentID == agentID {
			byFw[io.FrameworkID] = allocator.InverseOfferStatus{
				Status:      allocator.InverseOfferStatus_UNKNOWN.Enum(),
				FrameworkID: mesos.FrameworkID{Value: io.FrameworkID},
				Timestamp:   mesos.TimeInfo{Nanoseconds: io.Created.UnixNano()},
			}
		}
	}
	for fwID, s := range m.InverseOffers.Statuses[agentID] {
		status := allocator.InverseOfferStatus_DECLINE
		if s.Accepted {
			status = allocator.InverseOfferStatus_ACCEPT
		}
		byFw[fwID] = allocator.InverseOfferStatus{
			Status:      status.Enum(),
			FrameworkID: mesos.FrameworkID{Value: fwID},
			Timestamp:   mesos.TimeInfo{Nanoseconds: s.At.UnixNano()},
		}
	}
	out := make([]allocator.InverseOfferStatus, 0, len(byFw))
	for _, fwID := range slices.Sorted(maps.Keys(byFw)) {
		out = append(out, byFw[fwID])
	}
	return out
}
