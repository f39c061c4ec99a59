package coordinator

import "time"

// The pending queue is indexed so that an event touches only what it
// changes and a schedule pass only what can start: a queue of startable
// pending agents per zone, and a queue of the zones' oldest agents (their
// heads). A zone at its cap has no head entry until a slot in it frees;
// excluded agents and agents whose killed step has not ended are in no
// queue until that changes (commit). So 20,000 agents held by a zone cap
// or an exclusion cost a duplicate signal or a Tick nothing, and a freed
// slot costs O(log n).
//
// Both levels use lazy deletion like queue itself: an agent's entry is live
// while its pend slot's generation matches, a zone's head entry while the
// zone's headGen does. The order is the total order (PendingSince, agent
// id) across zones, as a single queue would give: the oldest startable
// pending agent in a zone under its cap starts first.

// zoneQueue is one zone's startable pending agents.
type zoneQueue struct {
	zone string
	q    queue
	// headGen is the generation of the zone's live entry in heads; an
	// entry of another generation is stale.
	headGen  uint64
	headLive bool
	headAt   time.Time
	headID   AgentID
}

// startable reports whether a pending agent belongs in a queue: it could
// start as soon as the limits allow.
func startable(r *AgentRecord) bool {
	return r.State == StatePending && !r.Excluded && r.Killing.Attempt == 0
}

// queuePending puts a's record into its zone's queue, or takes it out
// (lazily), as the record now says.
func (c *Coordinator) queuePending(a *agent) {
	r := a.r()
	if !startable(r) {
		if a.slots != nil {
			a.slots.pend.queued = false
		}
		return
	}
	s := &a.slot().pend
	if s.queued && s.at.Equal(r.Incident.PendingSince) && s.zone == r.Zone {
		return
	}
	c.gen++
	*s = queueSlot{queued: true, at: r.Incident.PendingSince, gen: c.gen, zone: r.Zone}
	zq := c.zoneQueue(r.Zone)
	zq.q.push(queueItem{at: s.at, id: r.ID, gen: s.gen})
	c.refreshHead(zq)
}

func (c *Coordinator) zoneQueue(zone string) *zoneQueue {
	zq := c.zoneQ[zone]
	if zq == nil {
		zq = &zoneQueue{zone: zone}
		c.zoneQ[zone] = zq
	}
	return zq
}

// top drops the dead entries at the top of zq and returns its oldest live
// agent, if any.
func (c *Coordinator) top(zq *zoneQueue) (queueItem, *agent) {
	for zq.q.Len() > 0 {
		it := zq.q.peek()
		if a := c.live(it, pendSlot); a != nil {
			return it, a
		}
		zq.q.pop()
	}
	return queueItem{}, nil
}

// refreshHead makes heads hold zq's current oldest agent, unless the zone
// is at its cap (it is refreshed when a slot in it frees).
func (c *Coordinator) refreshHead(zq *zoneQueue) {
	it, a := c.top(zq)
	if a == nil || c.zoneFull(zq.zone) {
		return
	}
	if zq.headLive && zq.headAt.Equal(it.at) && zq.headID == it.id {
		return
	}
	c.gen++
	zq.headGen, zq.headLive, zq.headAt, zq.headID = c.gen, true, it.at, it.id
	c.heads.push(queueItem{at: it.at, id: it.id, gen: c.gen, zone: zq.zone})
}

// nextStartable takes the oldest pending agent that may start under the
// zone caps out of the queues; nil when there is none.
func (c *Coordinator) nextStartable() *agent {
	for c.heads.Len() > 0 {
		e := c.heads.pop()
		zq := c.zoneQ[e.zone]
		if zq == nil || !zq.headLive || zq.headGen != e.gen {
			continue
		}
		zq.headLive = false
		it, a := c.top(zq)
		switch {
		case a == nil, c.zoneFull(zq.zone):
			continue
		case it.id != e.id || !it.at.Equal(e.at):
			// Its head left the queue since: offer the new one.
			c.refreshHead(zq)
			continue
		}
		zq.q.pop()
		a.slots.pend.queued = false
		return a
	}
	return nil
}

// slotFreed notes that zone's count of steps in flight went down, so its
// head may start again.
func (c *Coordinator) slotFreed(zone string) {
	if zq := c.zoneQ[zone]; zq != nil && !zq.headLive && zq.q.Len() > 0 {
		c.freed = append(c.freed, zq)
	}
}

// refreshFreed offers the heads of zones where a slot freed.
func (c *Coordinator) refreshFreed() {
	for _, zq := range c.freed {
		c.refreshHead(zq)
	}
	c.freed = c.freed[:0]
}

// queueOps counts the pushes and pops of every queue so far: the work
// events did on the queues, which tests compare instead of timing it.
func (c *Coordinator) queueOps() uint64 {
	n := c.heads.ops + c.timers.ops
	for _, zq := range c.zoneQ {
		n += zq.q.ops
	}
	return n
}
