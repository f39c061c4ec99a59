package emulator

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// allocateInverseOffersLocked is the inverse-offer half of an allocation run
// (mesos-protocol.md 5.3): outstanding inverse offers older than
// --offer_timeout are rescinded; then every connected framework using an
// agent of a DRAINING machine (offered or allocated resources there) gets
// an inverse offer for it, unless one is outstanding or a refusal filter
// from its last answer holds.
func (m *Master) allocateInverseOffersLocked(now time.Time) {
	if m.cfg.OfferTimeout > 0 {
		for _, id := range sortedKeys(m.InverseOffers.Offers) {
			if now.Sub(m.InverseOffers.Offers[id].Created) >= m.cfg.OfferTimeout {
				m.RescindInverseOfferLocked(id)
			}
		}
	}
	for _, a := range m.agentOrder {
		if a.unavailability == nil || !a.connected || a.deactivated {
			continue
		}
		for _, fwID := range m.frameworksOnAgentLocked(a.id) {
			if fw := m.frameworks[fwID]; fw == nil || fw.sub == nil || !fw.active {
				continue
			}
			if m.inverseOfferFilteredLocked(fwID, a.id, now) {
				continue
			}
			m.NewInverseOfferLocked(fwID, a.id, *a.unavailability)
		}
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

// filterInverseOffersLocked installs the refusal filter of an inverse-offer
// answer: none without filters (a new inverse offer comes on the next
// allocation run), else refuse_seconds as for offers (5 s when unset).
func (m *Master) filterInverseOffersLocked(frameworkID, agentID string, filters *mesos.Filters) {
	if filters == nil {
		return
	}
	d := m.refuseDuration(filters)
	if d <= 0 {
		return
	}
	byAgent := m.InverseOffers.filters[frameworkID]
	if byAgent == nil {
		byAgent = make(map[string]time.Time)
		m.InverseOffers.filters[frameworkID] = byAgent
	}
	byAgent[agentID] = time.Now().Add(d)
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
// offers.
func (b *inverseOfferBook) resetAgentLocked(agentID string) {
	delete(b.Statuses, agentID)
	for _, byAgent := range b.filters {
		delete(byAgent, agentID)
	}
}
