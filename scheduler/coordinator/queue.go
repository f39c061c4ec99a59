package coordinator

import "time"

// queue is a min-heap of agents keyed by (time, id) with lazy deletion: an
// entry is live only while its gen matches the agent's current generation
// for that queue, so re-keying or removing an agent is O(1) and stale
// entries are dropped when they surface. The total order on (time, id) makes
// the order of live entries independent of insertion history, which is what
// lets a restored coordinator decide exactly like the original.
type queue struct {
	items []queueItem
	// ops counts pushes and pops, so tests can show what an event costs
	// without timing it (queueOps).
	ops uint64
}

type queueItem struct {
	at  time.Time
	id  AgentID
	gen uint64
	// zone names the zone queue a head entry stands for (pending.go).
	zone string
}

func (a queueItem) less(b queueItem) bool {
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.id < b.id
}

func (q *queue) Len() int { return len(q.items) }

func (q *queue) push(it queueItem) {
	q.ops++
	q.items = append(q.items, it)
	i := len(q.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.items[i].less(q.items[p]) {
			break
		}
		q.items[i], q.items[p] = q.items[p], q.items[i]
		i = p
	}
}

func (q *queue) peek() queueItem { return q.items[0] }

func (q *queue) pop() queueItem {
	q.ops++
	top := q.items[0]
	n := len(q.items) - 1
	q.items[0] = q.items[n]
	q.items[n] = queueItem{}
	q.items = q.items[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.items[l].less(q.items[m]) {
			m = l
		}
		if r < n && q.items[r].less(q.items[m]) {
			m = r
		}
		if m == i {
			return top
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
}
