package emulator

import (
	"errors"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
)

// Registry is the state a Mesos master keeps in its replicated registry
// (src/master/registry.proto) and a newly elected master recovers: the
// maintenance schedule and machine modes, the operator's deactivations and
// drains, and the agents that are unreachable, gone or removed. Every master
// of a Cluster writes through to the one Registry the cluster owns (like
// Mesos' replicated log); a master that becomes leader loads it before agents
// re-register. A standalone Master gets a private one. Safe for concurrent
// use; lock order: master → registry.
type Registry struct {
	mu sync.Mutex
	st registryState
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// registryState is one snapshot of the registry; every field is a deep copy
// owned by whoever holds the snapshot.
type registryState struct {
	schedule    maintenance.Schedule
	machines    map[string]scheduledMachine // by machineKey
	deactivated map[string]bool
	drains      map[string]mesos.DrainInfo
	gone        map[string]time.Time // MARK_AGENT_GONE: never re-admitted
	removed     map[string]time.Time // START_MAINTENANCE: re-admitted once the machine is UP
	unreachable map[string]unreachableAgent
}

func (r *Registry) store(st registryState) {
	r.mu.Lock()
	r.st = st
	r.mu.Unlock()
}

func (r *Registry) load() registryState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.clone()
}

func (s registryState) clone() registryState {
	out := registryState{
		schedule:    *proto.Clone(&s.schedule).(*maintenance.Schedule),
		machines:    make(map[string]scheduledMachine, len(s.machines)),
		deactivated: make(map[string]bool, len(s.deactivated)),
		drains:      make(map[string]mesos.DrainInfo, len(s.drains)),
		gone:        make(map[string]time.Time, len(s.gone)),
		removed:     make(map[string]time.Time, len(s.removed)),
		unreachable: make(map[string]unreachableAgent, len(s.unreachable)),
	}
	for k, v := range s.machines {
		out.machines[k] = cloneMachine(v)
	}
	for k, v := range s.deactivated {
		out.deactivated[k] = v
	}
	for k, v := range s.drains {
		out.drains[k] = *proto.Clone(&v).(*mesos.DrainInfo)
	}
	for k, v := range s.gone {
		out.gone[k] = v
	}
	for k, v := range s.removed {
		out.removed[k] = v
	}
	for k, v := range s.unreachable {
		out.unreachable[k] = unreachableAgent{info: *proto.Clone(&v.info).(*mesos.AgentInfo), at: v.at}
	}
	return out
}

func cloneMachine(sm scheduledMachine) scheduledMachine {
	return scheduledMachine{
		id:             *proto.Clone(&sm.id).(*mesos.MachineID),
		mode:           sm.mode,
		unavailability: *proto.Clone(&sm.unavailability).(*mesos.Unavailability),
	}
}

// ErrMachineDown is returned by AddAgent for an agent on a machine that is
// DOWN for maintenance: it is told to shut down until STOP_MAINTENANCE.
var ErrMachineDown = errors.New("emulator: agent's machine is down for maintenance")

// persistLocked writes the master's registry state through to the Registry.
// Only the leader writes: a standby's state is not authoritative. Call it
// after every change to the maintenance state or to the unreachable, gone or
// removed agents.
func (m *Master) persistLocked() {
	if !m.leading || m.closed {
		return
	}
	st := registryState{
		schedule:    m.maintenance.schedule,
		machines:    make(map[string]scheduledMachine, len(m.maintenance.machines)),
		deactivated: m.maintenance.deactivated,
		drains:      make(map[string]mesos.DrainInfo, len(m.maintenance.drains)),
		gone:        m.gone,
		removed:     m.removed,
		unreachable: make(map[string]unreachableAgent, len(m.unreachable)),
	}
	for k, sm := range m.maintenance.machines {
		st.machines[k] = *sm
	}
	for k, d := range m.maintenance.drains {
		st.drains[k] = *d
	}
	for k, u := range m.unreachable {
		st.unreachable[k] = *u
	}
	m.reg.store(st.clone())
}

// recoverLocked replaces the master's registry state with the Registry's, as
// a newly elected Mesos master recovers its registry before it admits
// agents. Registered agents (a master that led before) get the recovered
// operator state applied.
func (m *Master) recoverLocked() {
	st := m.reg.load()
	m.maintenance = maintenanceState{schedule: st.schedule, deactivated: st.deactivated,
		machines: make(map[string]*scheduledMachine, len(st.machines)),
		drains:   make(map[string]*mesos.DrainInfo, len(st.drains))}
	for k, sm := range st.machines {
		m.maintenance.machines[k] = &sm
	}
	for k, d := range st.drains {
		m.maintenance.drains[k] = &d
	}
	m.gone, m.removed = st.gone, st.removed
	m.unreachable = make(map[string]*unreachableAgent, len(st.unreachable))
	for k, u := range st.unreachable {
		m.unreachable[k] = &u
	}
	for _, a := range m.agentOrder {
		m.applyOperatorStateLocked(a)
	}
}

// agentInfoMachineID is the MachineID of an agent described by its
// AgentInfo (before it has an agentEntry).
func agentInfoMachineID(info *mesos.AgentInfo) mesos.MachineID {
	host, ip := info.Hostname, agentIP(info)
	return mesos.MachineID{Hostname: &host, IP: &ip}
}

// machineDownLocked reports whether the agent's machine is DOWN.
func (m *Master) machineDownLocked(info *mesos.AgentInfo) bool {
	sm := m.maintenance.machines[machineKey(agentInfoMachineID(info))]
	return sm != nil && sm.mode == machineDown
}

// applyOperatorStateLocked gives a (re-)registered agent the operator state
// the registry holds for it: deactivation, drain (an agent still DRAINING is
// told to drain again and watched until DRAINED) and its machine's
// unavailability.
func (m *Master) applyOperatorStateLocked(a *agentEntry) {
	a.deactivated = m.maintenance.deactivated[a.id]
	a.drain = m.maintenance.drains[a.id]
	a.unavailability = nil
	if sm := m.maintenance.machines[machineKey(agentMachineID(a))]; sm != nil {
		u := sm.unavailability
		a.unavailability = &u
	}
	if a.drain != nil && a.drain.State == mesos.DrainState_DRAINING && a.link != nil {
		var maxGrace *int64
		if g := a.drain.Config.MaxGracePeriod; g != nil {
			ns := g.Nanoseconds
			maxGrace = &ns
		}
		a.link.Drain(maxGrace, a.drain.Config.GetMarkGone())
		m.watchDrainLocked(a.id)
	}
}
