package runtime

import (
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// inventory keeps the coordinator's list of agents in step with the
// master's: the agent list (GET_AGENTS) on every subscription, every
// Config.AgentRefresh and soon after an agent is lost; offers in between.
//
// An agent missing from the master's list is taken as removed only after
// Config.AgentRemovalGrace: an unreachable agent is missing too, and one
// that comes back (a reboot made it unreachable for a while) must find its
// step still in flight (TASK_UNREACHABLE is not an outcome). Mesos marking
// an agent gone (TASK_GONE_BY_OPERATOR) removes it at once.
type inventory struct {
	// known are the agent ids the coordinator has as registered. Each
	// agentInfo holds the term's one copy of the id (canonical): every
	// offer, update and message brings its own copy, and the maps kept per
	// agent would otherwise each pin a different one (at 35,000 agents, 11
	// MB of the leader's heap in the scale run).
	known map[string]*agentInfo
	// retired are ids whose record moved to a new id (the machine
	// re-registered): never added back while Mesos still lists them.
	retired map[string]bool
	// missing says since when a known agent is missing from the list.
	missing map[string]time.Time
	// departed are agents no longer known whose machine (hostname and
	// ip) a drain window or maintenance isolation may still need.
	departed map[string]*agentInfo

	refreshing bool
	soon       bool
	last       time.Time
}

// agentInfo is what the inventory knows of an agent; ip is the IP of its
// pid (its maintenance machine id is hostname and ip), "" until the master
// lists it with one.
type agentInfo struct{ id, hostname, zone, ip string }

func (v *inventory) init(records []coordinator.AgentRecord) {
	v.known = make(map[string]*agentInfo)
	v.retired = make(map[string]bool)
	v.missing = make(map[string]time.Time)
	v.departed = make(map[string]*agentInfo)
	for _, r := range records {
		if !r.Removed() {
			v.known[string(r.ID)] = &agentInfo{id: string(r.ID), hostname: r.Hostname, zone: r.Zone}
		}
	}
}

// canonical is the term's copy of a known agent's id (id itself if the
// agent is not known): what maps kept per agent should hold.
func (v *inventory) canonical(id string) string {
	if a := v.known[id]; a != nil {
		return a.id
	}
	return id
}

func (v *inventory) isKnown(agent string) bool {
	_, ok := v.known[agent]
	return ok
}

// ids lists the registered agents.
func (v *inventory) ids() []string {
	out := make([]string, 0, len(v.known))
	for id := range v.known {
		out = append(out, id)
	}
	return out
}

// refresh reads the master's agent list, unless a read is under way.
func (v *inventory) refresh(t *term) {
	if v.refreshing {
		v.soon = true
		return
	}
	v.refreshing, v.soon = true, false
	t.ops.queue(func(ops *opQueue) {
		// Only what apply reads is decoded: the whole answer of a large
		// cluster is tens of megabytes of Go structs (docs/scale.md).
		var resp healerpb.AgentsResponse
		err := ops.query(master.Call{Type: master.Call_GET_AGENTS}, &resp)
		t.post(func() {
			v.refreshing = false
			v.last = t.now()
			if err != nil {
				t.log.Warn("reading the master's agent list failed", "err", err)
				return
			}
			if resp.GetAgents == nil {
				t.log.Warn("the master's answer to GET_AGENTS holds no agent list: agents left as they are")
				return
			}
			v.apply(t, resp.GetAgents)
		})
	})
}

// refreshSoon asks for a refresh after an agent was lost.
func (v *inventory) refreshSoon(t *term) {
	v.soon = true
	if !v.refreshing && t.now().Sub(v.last) >= time.Second {
		v.refresh(t)
	}
}

func (v *inventory) tick(t *term, now time.Time) {
	if !t.subscribed || v.refreshing {
		return
	}
	if now.Sub(v.last) >= t.cfg.AgentRefresh || v.soon && now.Sub(v.last) >= time.Second {
		v.refresh(t)
	}
}

// apply reconciles the coordinator's agents with the master's list.
func (v *inventory) apply(t *term, g *healerpb.AgentsResponse_GetAgents) {
	now := t.now()
	listed := make(map[string]bool, len(g.Agents)+len(g.RecoveredAgents))
	see := func(info healerpb.AgentInfo, pid string) {
		id := info.ID.Value
		if id == "" {
			return // not an agent Mesos could name
		}
		listed[id] = true
		v.see(t, id, info.Hostname, info.Domain.FaultDomain.Zone.Name, now)
		if a := v.known[id]; a != nil {
			if ip := pidIP(pid); ip != "" && ip != a.ip {
				a.ip = ip
			}
		}
	}
	for _, a := range g.Agents {
		see(a.AgentInfo, a.PID)
	}
	for _, a := range g.RecoveredAgents {
		see(a, "")
	}
	for id := range v.retired {
		if !listed[id] {
			delete(v.retired, id)
		}
	}
	for id := range v.known {
		if listed[id] {
			delete(v.missing, id)
			continue
		}
		since, ok := v.missing[id]
		if !ok {
			v.missing[id] = now
			continue
		}
		if now.Sub(since) >= t.cfg.AgentRemovalGrace {
			t.log.Info("agent missing from the master's list past the removal grace: taking it as removed",
				"agent", id, "missing_since", since)
			v.remove(t, id)
		}
	}
}

// see records an agent the master lists or offers from.
func (v *inventory) see(t *term, id, hostname, zone string, now time.Time) {
	if v.retired[id] {
		return
	}
	cur := v.known[id]
	switch {
	case cur == nil:
		delete(v.departed, id)
		v.known[id] = &agentInfo{id: id, hostname: hostname, zone: zone}
		t.step(coordinator.AgentAdded{At: now, ID: coordinator.AgentID(id), Hostname: hostname, Zone: zone})
		t.monitors.agentAdded(id, now)
	case cur.hostname != hostname || cur.zone != zone:
		cur.hostname, cur.zone = hostname, zone
		t.step(coordinator.AgentUpdated{At: now, ID: coordinator.AgentID(cur.id), Hostname: hostname, Zone: zone})
	}
}

func (v *inventory) offered(t *term, o *mesos.Offer) {
	v.see(t, o.AgentID.Value, o.Hostname, zoneOf(o.Domain), t.now())
}

// gone removes an agent Mesos marked gone.
func (v *inventory) gone(t *term, id string) {
	if _, ok := v.known[id]; ok {
		v.remove(t, id)
	}
}

func (v *inventory) forget(id string) {
	if a := v.known[id]; a != nil && a.ip != "" {
		v.departed[id] = a
	}
	delete(v.known, id)
}

func (v *inventory) remove(t *term, id string) {
	v.forget(id)
	delete(v.missing, id)
	t.monitors.agentRemoved(id)
	t.step(coordinator.AgentRemoved{At: t.now(), ID: coordinator.AgentID(id)})
}

// deleted follows the coordinator deleting a record: a moved record's old
// id is retired.
func (v *inventory) deleted(id coordinator.AgentID) {
	if _, ok := v.known[string(id)]; ok {
		v.forget(string(id))
		v.retired[string(id)] = true
	}
}

// machine is the agent's maintenance machine id; ok false when the master
// never listed it with a pid.
func (v *inventory) machine(agent, hostname string) (mesos.MachineID, bool) {
	machineOf := func(a *agentInfo) mesos.MachineID {
		host, ip := a.hostname, a.ip
		return mesos.MachineID{Hostname: &host, IP: &ip}
	}
	for _, m := range []map[string]*agentInfo{v.known, v.departed} {
		if a := m[agent]; a != nil && a.ip != "" {
			return machineOf(a), true
		}
	}
	for _, m := range []map[string]*agentInfo{v.known, v.departed} {
		for _, a := range m {
			if a.hostname == hostname && a.ip != "" {
				return machineOf(a), true
			}
		}
	}
	return mesos.MachineID{}, false
}

func zoneOf(d *mesos.DomainInfo) string {
	return d.GetFaultDomain().GetZone().Name
}

// pidIP is the IP of a libprocess pid "slave(1)@10.0.0.1:5051".
func pidIP(pid string) string {
	at := strings.LastIndexByte(pid, '@')
	colon := strings.LastIndexByte(pid, ':')
	if at < 0 || colon < at {
		return ""
	}
	return pid[at+1 : colon]
}
