package emulator

import (
	"maps"
	"math"
	"slices"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// allocateInverseOffersLocked is the inverse-offer half of an allocation run
// (HierarchicalAllocatorProcess::generateInverseOffers, mesos-protocol.md
// 5.3), after the offers: outstanding inverse offers older than
// --offer_timeout are rescinded; then, on each of the run's agents that has
// an unavailability and is active, every active framework holding offered
// or allocated resources there (offers made earlier in this run included)
// gets an inverse offer for it, unless one is outstanding or a filter from
// its last answer holds. Each framework gets the run's inverse offers in
// one INVERSE_OFFERS event.
func (m *Master) allocateInverseOffersLocked(agents []*agentEntry, now time.Time) {
	if m.cfg.OfferTimeout > 0 {
		for _, id := range slices.Sorted(maps.Keys(m.InverseOffers.Offers)) {
			if now.Sub(m.InverseOffers.Offers[id].Created) >= m.cfg.OfferTimeout {
				m.RescindInverseOfferLocked(id)
			}
		}
	}
	var order []*framework
	batches := make(map[*framework][]mesos.InverseOffer)
	for _, a := range agents {
		// Master::inverseOffer drops inverse offers for inactive
		// (deactivated, draining or disconnected) agents.
		if a.unavailability == nil || !a.offerable() {
			continue
		}
		for _, fwID := range m.frameworksOnAgentLocked(a.id) {
			fw := m.frameworks[fwID]
			if fw == nil || fw.sub == nil || !fw.active {
				continue
			}
			if m.outstandingInverseOfferLocked(fwID, a.id) != "" || m.inverseOfferFilteredLocked(fwID, a.id, now) {
				continue
			}
			if batches[fw] == nil {
				order = append(order, fw)
			}
			batches[fw] = append(batches[fw], m.makeInverseOfferLocked(fw, a, *a.unavailability))
		}
	}
	for _, fw := range order {
		fw.send(&scheduler.Event{Type: scheduler.Event_INVERSE_OFFERS,
			InverseOffers: &scheduler.Event_InverseOffers{InverseOffers: batches[fw]}})
	}
}

// outstandingInverseOfferLocked returns the ID of the outstanding inverse
// offer for (framework, agent), or "".
func (m *Master) outstandingInverseOfferLocked(frameworkID, agentID string) string {
	for id, io := range m.InverseOffers.Offers {
		if io.FrameworkID == frameworkID && io.AgentID == agentID {
			return id
		}
	}
	return ""
}

// inverseRefuseDuration is how long an inverse-offer answer holds back the
// next inverse offer (HierarchicalAllocatorProcess::updateInverseOffer):
// refuse_seconds, 5 s when missing (the master passes the default Filters
// for a call without filters), negative or not a number, capped at 365
// days; 0 means no filter. Unlike an offer refusal, it is not stretched to
// an allocation interval.
func inverseRefuseDuration(f *mesos.Filters) time.Duration {
	secs := defaultRefuseSeconds
	if f != nil && f.RefuseSeconds != nil {
		secs = *f.RefuseSeconds
	}
	if secs < 0 || math.IsNaN(secs) {
		secs = defaultRefuseSeconds
	}
	if secs > maxRefuseSeconds {
		secs = maxRefuseSeconds
	}
	return time.Duration(secs * float64(time.Second))
}

// filterInverseOffersLocked installs the filter of an inverse-offer answer
// (inverseRefuseDuration), keeping the later expiry if one is live.
func (m *Master) filterInverseOffersLocked(frameworkID, agentID string, filters *mesos.Filters) {
	d := inverseRefuseDuration(filters)
	if d <= 0 {
		return
	}
	byAgent := m.InverseOffers.filters[frameworkID]
	if byAgent == nil {
		byAgent = make(map[string]time.Time)
		m.InverseOffers.filters[frameworkID] = byAgent
	}
	if until := m.now().Add(d); until.After(byAgent[agentID]) {
		byAgent[agentID] = until
	}
}

// inverseOfferFilteredLocked reports whether a live filter holds back
// inverse offers for (framework, agent); expired filters are dropped.
func (m *Master) inverseOfferFilteredLocked(frameworkID, agentID string, now time.Time) bool {
	byAgent := m.InverseOffers.filters[frameworkID]
	until, ok := byAgent[agentID]
	if !ok {
		return false
	}
	if now.Before(until) {
		return true
	}
	delete(byAgent, agentID)
	if len(byAgent) == 0 {
		delete(m.InverseOffers.filters, frameworkID)
	}
	return false
}

// resetAgentLocked forgets the answers to and filters on an agent's inverse
// offers: the allocator starts them afresh when the agent's unavailability
// changes (updateUnavailability) and when it is removed (removeSlave).
func (b *inverseOfferBook) resetAgentLocked(agentID string) {
	delete(b.Statuses, agentID)
	for fwID, byAgent := range b.filters {
		delete(byAgent, agentID)
		if len(byAgent) == 0 {
			delete(b.filters, fwID)
		}
	}
}
