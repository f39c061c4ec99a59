package emulator

import (
	"fmt"
	"math"
	"net"
	"sort"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Refusal filter bounds (HierarchicalAllocatorProcess::recoverResources).
const (
	defaultRefuseSeconds = 5.0
	maxRefuseSeconds     = 365 * 24 * 60 * 60
)

// Minimum allocatable resources (--min_allocatable_resources=cpus:0.01|mem:32):
// an agent is offered only if what is left reaches one of them.
const (
	minAllocatableCPUs = 0.01
	minAllocatableMem  = 32
)

// agentEntry is a registered agent as the master and its allocator see it.
type agentEntry struct {
	id   string
	link AgentLink
	info mesos.AgentInfo
	ip   string

	total     mesos.Resources
	used      mesos.Resources // tasks and executors, without allocation info
	offered   mesos.Resources
	available mesos.Resources // total - used - offered, kept current
	// gen changes whenever available does; refusal filters cache their
	// verdict per generation so an unchanged agent costs one comparison.
	gen             uint64
	allocatable     bool // available reaches the minimum allocatable resources
	hasReservations bool

	registered   time.Time
	reregistered time.Time
	connected    bool // false between DisconnectAgent and re-registration

	// Set by the operator API (operator.go, maintenance.go): a deactivated
	// or draining agent gets no offers; unavailability is attached to its
	// offers.
	deactivated    bool
	drain          *mesos.DrainInfo
	unavailability *mesos.Unavailability

	missedPings  int
	pongSeen     bool
	pendingKills []pendingKill

	offers map[string]*offer
}

func (a *agentEntry) recompute() {
	avail := a.total.Minus(a.used...)
	avail.Subtract(a.offered...)
	a.available = avail
	a.gen++
	cpus, mem := 0.0, 0.0
	for i := range avail {
		switch avail[i].Name {
		case "cpus":
			cpus += avail[i].GetScalar().GetValue()
		case "mem":
			mem += avail[i].GetScalar().GetValue()
		}
	}
	a.allocatable = cpus >= minAllocatableCPUs || mem >= minAllocatableMem
}

// allocateLocked accounts resources used by a task or executor.
func (a *agentEntry) allocateLocked(rs []mesos.Resource) {
	a.used.Add(unallocated(rs)...)
	a.recompute()
}

// releaseLocked returns resources of a finished task or executor.
func (a *agentEntry) releaseLocked(rs []mesos.Resource) {
	a.used.Subtract(unallocated(rs)...)
	a.recompute()
}

// offerable reports whether the agent may receive offers at all.
func (a *agentEntry) offerable() bool {
	return a.connected && !a.deactivated && a.drain == nil
}

// agentIP is the agent's IP for offers' URL and MachineIDs: the hostname if
// it is an IP literal, else loopback (emulated agents all listen there).
func agentIP(info *mesos.AgentInfo) string {
	if ip := net.ParseIP(info.Hostname); ip != nil {
		return ip.String()
	}
	return "127.0.0.1"
}

// unallocated copies resources without their allocation_info, the form the
// master accounts in.
func unallocated(rs []mesos.Resource) mesos.Resources {
	out := make(mesos.Resources, len(rs))
	copy(out, rs)
	for i := range out {
		out[i].AllocationInfo = nil
	}
	return out
}

// offer is an outstanding offer of one agent's resources to one framework
// role.
type offer struct {
	id          string
	frameworkID string
	agentID     string
	role        string
	resources   mesos.Resources // without allocation_info
	created     time.Time
}

// refusal is one refusal filter on (framework, role, agent): resources
// contained in the refused set are not offered again before expires. A
// (framework, role, agent) holds a set of them, as Mesos'
// HierarchicalAllocatorProcess keeps offerFilters[role][agent] as a set:
// every refusal lives until it expires, and any live one that covers what
// the agent has to offer filters the agent.
type refusal struct {
	expires   time.Time
	resources mesos.Resources
	// checkedGen/covers cache whether the agent's available resources at
	// generation checkedGen are contained in the refused set.
	checkedGen uint64
	covers     bool
}

// filtersAgent reports whether a live refusal filter stops offering avail
// of agent a to (fw, role) (HierarchicalAllocatorProcess::isFiltered);
// expired filters are dropped.
func (fw *framework) filtersAgent(a *agentEntry, role string, now time.Time) bool {
	byRole := fw.filters[a.id]
	if byRole == nil {
		return false
	}
	set := byRole[role]
	live := set[:0]
	filtered := false
	for _, f := range set {
		if !now.Before(f.expires) {
			continue
		}
		live = append(live, f)
		if filtered {
			continue
		}
		if f.checkedGen != a.gen || f.checkedGen == 0 {
			f.covers = containsAllResources(f.resources, a.allocatableTo(role))
			f.checkedGen = a.gen
		}
		filtered = f.covers
	}
	if len(live) == len(set) {
		return filtered
	}
	clear(set[len(live):])
	switch {
	case len(live) > 0:
		byRole[role] = live
	case len(byRole) == 1:
		delete(fw.filters, a.id)
	default:
		delete(byRole, role)
	}
	return filtered
}

// clearRoleFilters drops the framework's refusal filters for a role
// on every agent.
func (fw *framework) clearRoleFilters(role string) {
	for agentID, byRole := range fw.filters {
		delete(byRole, role)
		if len(byRole) == 0 {
			delete(fw.filters, agentID)
		}
	}
}

// allocatableTo is the part of the agent's available resources a role may
// be offered: unreserved ones plus those reserved to it.
func (a *agentEntry) allocatableTo(role string) mesos.Resources {
	if !a.hasReservations {
		return a.available
	}
	var out mesos.Resources
	for i := range a.available {
		if a.available[i].IsAllocatableTo(role) {
			out = append(out, a.available[i])
		}
	}
	return out
}

// containsAllResources reports whether subject contains that, both merged
// first (mesos-go's ContainsAll compares resource by resource).
func containsAllResources(subject, that []mesos.Resource) bool {
	merged := mesos.Resources{}.Plus(subject...)
	rest := merged
	for _, r := range mesos.Resources(nil).Plus(that...) {
		found := false
		for i := range rest {
			if rest[i].Contains(r) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// refuseDuration turns Filters.refuse_seconds into a filter duration: 5 s
// when missing or negative, capped at 365 days, at least one allocation
// interval; 0 means no filter.
func (m *Master) refuseDuration(f *mesos.Filters) time.Duration {
	secs := defaultRefuseSeconds
	if f != nil && f.RefuseSeconds != nil {
		secs = *f.RefuseSeconds
	}
	if secs < 0 || math.IsNaN(secs) {
		secs = defaultRefuseSeconds
	}
	if secs == 0 {
		return 0
	}
	if secs > maxRefuseSeconds {
		secs = maxRefuseSeconds
	}
	d := time.Duration(secs * float64(time.Second))
	if d < m.cfg.AllocationInterval {
		d = m.cfg.AllocationInterval
	}
	return d
}

// refuseLocked installs a refusal filter on resources an ACCEPT or DECLINE
// left unused (they are already back in the agent's available pool). It
// joins the (framework, role, agent)'s set of filters.
func (m *Master) refuseLocked(fw *framework, a *agentEntry, role string, rs mesos.Resources, filter time.Duration) {
	if a == nil || len(rs) == 0 || filter <= 0 {
		return
	}
	byRole := fw.filters[a.id]
	if byRole == nil {
		byRole = make(map[string][]*refusal)
		fw.filters[a.id] = byRole
	}
	byRole[role] = append(byRole[role], &refusal{expires: m.now().Add(filter), resources: rs.Clone()})
}

// removeOfferLocked withdraws an offer and returns its resources without a
// filter; rescind sends RESCIND to the framework first.
func (m *Master) removeOfferLocked(o *offer, rescind bool) {
	delete(m.offers, o.id)
	fw := m.frameworks[o.frameworkID]
	if fw != nil {
		delete(fw.offers, o.id)
		if rescind {
			fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: o.id}}})
		}
	}
	if a := m.agents[o.agentID]; a != nil {
		delete(a.offers, o.id)
		a.offered.Subtract(o.resources...)
		a.recompute()
	}
}

// RescindAgentOffersLocked rescinds every outstanding offer of an agent
// (deactivation, drain, maintenance). Call with the master's lock held.
func (m *Master) RescindAgentOffersLocked(agentID string) {
	if a := m.agents[agentID]; a != nil {
		for _, o := range a.offers {
			m.removeOfferLocked(o, true)
		}
	}
}

// triggerAllocationLocked asks the allocation loop for an immediate run,
// as the allocator's generateOffers does, over the given agents or, with
// none, over every agent. Mesos triggers one when a framework is added or
// activated (all agents), an agent is added or re-added, or its
// unavailability changes (that agent), and on REVIVE (all agents); nothing
// else does (REACTIVATE_AGENT, a live framework's failover, UPDATE_FRAMEWORK
// and recovered resources wait for the next periodic run). Requests made
// before a run starts are merged into it. It never blocks; call it with the
// master's lock held.
func (m *Master) triggerAllocationLocked(agentIDs ...string) {
	m.allocRuns.requested.Add(1)
	if len(agentIDs) == 0 {
		m.allocAll = true
	} else {
		if m.allocCandidates == nil {
			m.allocCandidates = make(map[string]bool)
		}
		for _, id := range agentIDs {
			m.allocCandidates[id] = true
		}
	}
	select {
	case m.allocNow <- struct{}{}:
	default:
	}
}

// allocationLoop runs an allocation every AllocationInterval and whenever
// triggered, until Close.
func (m *Master) allocationLoop() {
	defer m.wg.Done()
	m.every(m.cfg.AllocationInterval, m.allocNow, func(periodic bool) bool {
		if m.allocate(periodic) {
			if periodic {
				m.allocRuns.periodic.Add(1)
			} else {
				m.allocRuns.triggered.Add(1)
			}
		}
		return false
	})
}

// AllocationRuns counts the allocation runs a master has done while
// leading: Periodic ones, one per AllocationInterval tick (Mesos'
// allocation cycles), and Triggered ones, run at once when a framework was
// added or activated, an agent added or its unavailability changed, or a
// framework revived. Ticks while standing by or closed are not runs and are
// not counted, nor is a trigger already served by a periodic run.
type AllocationRuns struct {
	Periodic, Triggered uint64
}

// allocRunCounters are the counters behind Master.AllocationRuns; atomic so
// that a benchmark can poll them without the master's lock. requested
// counts triggerAllocationLocked calls: it changes synchronously with the
// call that asks for a run, so tests tell "allocates at once" from "waits
// for the next tick" without waiting for a run that should not happen.
type allocRunCounters struct {
	periodic, triggered, requested atomic.Uint64
}

// AllocationRuns returns how many allocation runs this master has done.
func (m *Master) AllocationRuns() AllocationRuns {
	return AllocationRuns{Periodic: m.allocRuns.periodic.Load(), Triggered: m.allocRuns.triggered.Load()}
}

// now is the time allocation runs, offers and refusal filters go by:
// MasterConfig.now when a test set it, else the wall clock.
func (m *Master) now() time.Time {
	if m.cfg.now != nil {
		return m.cfg.now()
	}
	return time.Now()
}

// every calls step each interval (periodic true), and at once whenever
// trigger (which may be nil) fires (periodic false), until step returns
// true or the master closes. The master's periodic work (allocation, agent
// pings, drain watches) runs in it.
func (m *Master) every(interval time.Duration, trigger <-chan struct{}, step func(periodic bool) (stop bool)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		periodic := false
		select {
		case <-m.done:
			return
		case <-t.C:
			periodic = true
		case <-trigger:
		}
		if step(periodic) {
			return
		}
	}
}

// allocationCandidatesLocked takes the agents this run visits, in
// registration order: every agent for a periodic run or a trigger for all,
// else those triggered for. Pending triggers are consumed either way, as
// the allocator clears its allocationCandidates after each run.
// It reports false for a triggered run with nothing left to do.
func (m *Master) allocationCandidatesLocked(periodic bool) ([]*agentEntry, bool) {
	all, cands := periodic || m.allocAll, m.allocCandidates
	m.allocAll, m.allocCandidates = false, nil
	if all {
		return m.agentOrder, true
	}
	var out []*agentEntry
	for _, a := range m.agentOrder {
		if cands[a.id] {
			out = append(out, a)
		}
	}
	return out, len(out) > 0
}

// allocate is one allocation run (HierarchicalAllocatorProcess::
// _generateOffers) over the candidate agents: every offerable agent's
// available resources go, one offer per (agent, role), to the active
// frameworks, each framework getting all its new offers in one OFFERS
// event; then inverse offers for those agents (one INVERSE_OFFERS event per
// framework). Frameworks take turns across agents so several frameworks
// share the cluster. It reports whether it ran: a master that does not
// lead, or is closed, does not allocate, nor does a triggered run whose
// agents a periodic run already visited.
func (m *Master) allocate(periodic bool) (ran bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || !m.leading {
		return false
	}
	now := m.now()
	if m.cfg.OfferTimeout > 0 {
		for _, o := range m.offers {
			if now.Sub(o.created) >= m.cfg.OfferTimeout {
				m.removeOfferLocked(o, true)
			}
		}
	}
	agents, ok := m.allocationCandidatesLocked(periodic)
	if !ok {
		return false
	}
	m.allocateOffersLocked(agents, now)
	m.allocateInverseOffersLocked(agents, now)
	return true
}

// allocateOffersLocked is the offer half of an allocation run.
func (m *Master) allocateOffersLocked(agents []*agentEntry, now time.Time) {
	// A framework's active roles are worked out once per run, not once per
	// agent: a run may visit every agent.
	type candidate struct {
		fw    *framework
		roles []string
	}
	var fws []candidate
	for _, fw := range m.frameworks {
		if !fw.active || fw.sub == nil {
			continue
		}
		if roles := fw.activeRoles(); len(roles) > 0 {
			fws = append(fws, candidate{fw, roles})
		}
	}
	if len(fws) == 0 {
		return
	}
	sort.Slice(fws, func(i, j int) bool { return fws[i].fw.id < fws[j].fw.id })
	batches := make(map[*framework][]mesos.Offer)
	for k, a := range agents {
		if !a.offerable() || !a.allocatable {
			continue
		}
		for i := range fws {
			c := fws[(k+i)%len(fws)]
			fw := c.fw
			for _, role := range c.roles {
				if !a.allocatable {
					break
				}
				if fw.filtersAgent(a, role, now) {
					continue
				}
				rs := a.allocatableTo(role)
				if len(rs) == 0 {
					continue
				}
				o := m.makeOfferLocked(fw, a, role, rs, now)
				batches[fw] = append(batches[fw], o)
			}
		}
	}
	for fw, offers := range batches {
		fw.send(&scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}})
	}
}

// activeRoles are the framework's roles that are not suppressed.
func (fw *framework) activeRoles() []string {
	roles := fw.roles()
	if len(fw.suppressed) == 0 {
		return roles
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !fw.suppressed[r] {
			out = append(out, r)
		}
	}
	return out
}

// makeOfferLocked records an offer of rs and builds its wire form
// (mesos-protocol.md 1.5, checklist 17).
func (m *Master) makeOfferLocked(fw *framework, a *agentEntry, role string, rs mesos.Resources, now time.Time) mesos.Offer {
	m.nextOfferID++
	id := fmt.Sprintf("%s-O%d", m.cfg.ID, m.nextOfferID)
	held := rs.Clone()
	o := &offer{id: id, frameworkID: fw.id, agentID: a.id, role: role, resources: held, created: now}
	m.offers[id] = o
	fw.offers[id] = o
	a.offers[id] = o
	a.offered.Add(held...)
	a.recompute()
	return m.offerWireLocked(fw, a, o)
}

// url is the agent's libprocess URL (http://host:port/slave(1)) as offers
// and inverse offers carry it.
func (a *agentEntry) url() *mesos.URL {
	port := int32(5051)
	if a.info.Port != nil {
		port = *a.info.Port
	}
	hostname, ip, path := a.info.Hostname, a.ip, "/slave(1)"
	return &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &hostname, IP: &ip, Port: port}, Path: &path}
}

// offerWireLocked is an offer as the framework sees it: allocation_info only
// for MULTI_ROLE frameworks.
func (m *Master) offerWireLocked(fw *framework, a *agentEntry, o *offer) mesos.Offer {
	resources := o.resources.Clone()
	var alloc *mesos.Resource_AllocationInfo
	if fw.multiRole() {
		role := o.role
		alloc = &mesos.Resource_AllocationInfo{Role: &role}
		for i := range resources {
			resources[i].AllocationInfo = alloc
		}
	}
	if !fw.hasCapability(mesos.FrameworkInfo_Capability_RESERVATION_REFINEMENT) {
		preRefinementFormat(resources)
	}
	var execIDs []mesos.ExecutorID
	for id := range fw.executors[a.id] {
		execIDs = append(execIDs, mesos.ExecutorID{Value: id})
	}
	sort.Slice(execIDs, func(i, j int) bool { return execIDs[i].Value < execIDs[j].Value })
	return mesos.Offer{
		ID:             mesos.OfferID{Value: o.id},
		FrameworkID:    mesos.FrameworkID{Value: fw.id},
		AgentID:        mesos.AgentID{Value: a.id},
		Hostname:       a.info.Hostname,
		URL:            a.url(),
		Domain:         a.info.Domain,
		Resources:      resources,
		Attributes:     a.info.Attributes,
		ExecutorIDs:    execIDs,
		Unavailability: a.unavailability,
		AllocationInfo: alloc,
	}
}

// reviveLocked is REVIVE (HierarchicalAllocatorProcess::reviveOffers):
// the roles (all when empty) are un-suppressed and their refusal filters
// cleared, with every inverse-offer filter of the framework, and an
// allocation runs at once over every agent.
func (m *Master) reviveLocked(fw *framework, roles []string) {
	if len(roles) == 0 {
		roles = fw.roles()
	}
	m.reviveRolesLocked(fw, roles)
	m.triggerAllocationLocked()
}

// reviveRolesLocked is HierarchicalAllocatorProcess::reviveRoles: the
// roles are un-suppressed and their refusal filters dropped, and so are all
// the framework's inverse-offer filters, whatever the roles. It does not
// allocate: REVIVE does, a SUBSCRIBE or UPDATE_FRAMEWORK that un-suppresses
// a role does not.
func (m *Master) reviveRolesLocked(fw *framework, roles []string) {
	delete(m.InverseOffers.filters, fw.id)
	for _, r := range roles {
		delete(fw.suppressed, r)
		fw.clearRoleFilters(r)
	}
}

// suppressLocked stops offers for roles (all when empty) until REVIVE;
// outstanding offers stay.
func (m *Master) suppressLocked(fw *framework, roles []string) {
	if len(roles) == 0 {
		roles = fw.roles()
	}
	for _, r := range roles {
		fw.suppressed[r] = true
	}
}

// InverseOfferStatus is a framework's answer to an inverse offer.
type InverseOfferStatus struct {
	FrameworkID string
	AgentID     string
	Accepted    bool // false: declined
	At          time.Time
}

// inverseOfferBook keeps maintenance inverse offers (made by maintenance.go)
// and the frameworks' ACCEPT/DECLINE_INVERSE_OFFERS answers, which
// GET_MAINTENANCE_STATUS reports. Guarded by the master's lock.
type inverseOfferBook struct {
	// Offers are the outstanding inverse offers by ID.
	Offers map[string]*InverseOfferState
	// Statuses are the latest answers by agent ID, then framework ID.
	Statuses map[string]map[string]InverseOfferStatus
	// filters hold back a new inverse offer for (framework, agent) after
	// an answer: by framework ID, then agent ID, the time the last of the
	// framework's filters on that agent expires (Mesos keeps a set of them,
	// any live one filtering, which comes to the same).
	filters map[string]map[string]time.Time
}

// InverseOfferState is an outstanding inverse offer.
type InverseOfferState struct {
	ID          string
	FrameworkID string
	AgentID     string
	Offer       mesos.InverseOffer
	// Created is when it was made (--offer_timeout counts from it).
	Created time.Time
}

func (b *inverseOfferBook) init() {
	b.Offers = make(map[string]*InverseOfferState)
	b.Statuses = make(map[string]map[string]InverseOfferStatus)
	b.filters = make(map[string]map[string]time.Time)
}

// removeFrameworkLocked drops a framework's outstanding inverse offers
// (without RESCIND) and its inverse-offer filters: a deactivated
// framework's filters are cleared, as the allocator's deactivateFramework
// does.
func (b *inverseOfferBook) removeFrameworkLocked(frameworkID string) {
	delete(b.filters, frameworkID)
	b.dropOutstandingLocked(frameworkID)
}

// dropOutstandingLocked forgets a framework's outstanding inverse offers
// without RESCIND and keeps its filters, as Master::_failoverFramework does
// for a framework failing over from a live connection.
func (b *inverseOfferBook) dropOutstandingLocked(frameworkID string) {
	for id, io := range b.Offers {
		if io.FrameworkID == frameworkID {
			delete(b.Offers, id)
		}
	}
}

// NewInverseOfferLocked sends a framework an inverse offer for an agent,
// in an INVERSE_OFFERS event of its own, and records it. Allocation runs
// make inverse offers themselves (inverse_offers.go); this is for callers
// that want one at once. Call with the master's lock held; it returns "" if
// the framework is not connected, and the outstanding inverse offer's ID if
// there is one for (framework, agent).
func (m *Master) NewInverseOfferLocked(frameworkID, agentID string, unavailability mesos.Unavailability) string {
	fw := m.frameworks[frameworkID]
	a := m.agents[agentID]
	if fw == nil || fw.sub == nil || a == nil {
		return ""
	}
	if id := m.outstandingInverseOfferLocked(frameworkID, agentID); id != "" {
		return id // one outstanding inverse offer per (framework, agent)
	}
	io := m.makeInverseOfferLocked(fw, a, unavailability)
	fw.send(&scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS, InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: []mesos.InverseOffer{io}}})
	return io.OfferID.Value
}

// makeInverseOfferLocked records a new inverse offer for (fw, a) and
// returns its wire form (Master::inverseOffer): empty resources, meaning
// the whole agent.
func (m *Master) makeInverseOfferLocked(fw *framework, a *agentEntry, unavailability mesos.Unavailability) mesos.InverseOffer {
	m.nextOfferID++
	id := fmt.Sprintf("%s-O%d", m.cfg.ID, m.nextOfferID)
	aid := mesos.AgentID{Value: a.id}
	io := mesos.InverseOffer{
		OfferID:        mesos.OfferID{Value: id},
		URL:            a.url(),
		FrameworkID:    mesos.FrameworkID{Value: fw.id},
		AgentID:        &aid,
		Unavailability: unavailability,
	}
	m.InverseOffers.Offers[id] = &InverseOfferState{ID: id, FrameworkID: fw.id, AgentID: a.id, Offer: io, Created: m.now()}
	return io
}

// RescindInverseOfferLocked withdraws an inverse offer with
// RESCIND_INVERSE_OFFER. Call with the master's lock held.
func (m *Master) RescindInverseOfferLocked(id string) {
	io := m.InverseOffers.Offers[id]
	if io == nil {
		return
	}
	delete(m.InverseOffers.Offers, id)
	if fw := m.frameworks[io.FrameworkID]; fw != nil {
		fw.send(&scheduler.Event{Type: scheduler.Event_RESCIND_INVERSE_OFFER,
			RescindInverseOffer: &scheduler.Event_RescindInverseOffer{InverseOfferID: mesos.OfferID{Value: id}}})
	}
}

// answerInverseOffersLocked records ACCEPT/DECLINE_INVERSE_OFFERS; unknown
// or foreign IDs are ignored. The answered inverse offer is closed; the next
// one for that agent comes on an allocation run once the call's refusal
// filter has expired: the master hands the allocator the call's filters,
// the default Filters (5 s) when the call has none
// (Master::acceptInverseOffers, Master::declineInverseOffers).
func (m *Master) answerInverseOffersLocked(fw *framework, ids []mesos.OfferID, accepted bool, filters *mesos.Filters) {
	for _, oid := range ids {
		io := m.InverseOffers.Offers[oid.Value]
		if io == nil || io.FrameworkID != fw.id {
			continue
		}
		delete(m.InverseOffers.Offers, oid.Value)
		byFw := m.InverseOffers.Statuses[io.AgentID]
		if byFw == nil {
			byFw = make(map[string]InverseOfferStatus)
			m.InverseOffers.Statuses[io.AgentID] = byFw
		}
		byFw[fw.id] = InverseOfferStatus{FrameworkID: fw.id, AgentID: io.AgentID, Accepted: accepted, At: m.now()}
		m.filterInverseOffersLocked(fw.id, io.AgentID, filters)
	}
}

// preRefinementFormat rewrites resources into the format Mesos uses for
// frameworks without RESERVATION_REFINEMENT (mesos-protocol.md 1.8): the
// deprecated role and reservation fields instead of reservations[], so
// unreserved resources show "role":"*".
func preRefinementFormat(resources mesos.Resources) {
	star := "*"
	for i := range resources {
		r := &resources[i]
		if n := len(r.Reservations); n > 0 {
			last := r.Reservations[n-1]
			role := star
			if last.Role != nil {
				role = *last.Role
			}
			r.Role = &role
			r.Reservation = &mesos.Resource_ReservationInfo{Principal: last.Principal, Labels: last.Labels}
			r.Reservations = nil
			continue
		}
		if r.Role == nil {
			r.Role = &star
		}
	}
}
