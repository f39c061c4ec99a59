package emulator

import (
	"net/http"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
)

// eventQueue is the master's side of one event stream (a framework's or an
// operator's SUBSCRIBE). The master queues events under its own lock (send
// never blocks); the SUBSCRIBE handler's goroutine writes them out in order
// (pumpEvents), so a slow client never stalls the master.
type eventQueue[E proto.Message] struct {
	wake chan struct{}

	mu      sync.Mutex
	queue   []E
	closing bool
	// stalled is a fault (StallSubscription): events queue up but nothing
	// is written, not even heartbeats, until it is resumed.
	stalled bool
}

func newEventQueue[E proto.Message]() *eventQueue[E] {
	return &eventQueue[E]{wake: make(chan struct{}, 1)}
}

// send queues an event; events queued after close are dropped, as Mesos
// drops what it cannot deliver.
func (q *eventQueue[E]) send(ev E) {
	q.mu.Lock()
	if !q.closing {
		q.queue = append(q.queue, ev)
	}
	q.mu.Unlock()
	q.poke()
}

// close ends the stream once the events queued so far are written.
func (q *eventQueue[E]) close() {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.poke()
}

func (q *eventQueue[E]) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue[E]) take() ([]E, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stalled {
		return nil, q.closing
	}
	evs := q.queue
	q.queue = nil
	return evs, q.closing
}

// heartbeat queues ev unless the stream is stalled (a stalled connection
// writes nothing, so heartbeats are not even queued).
func (q *eventQueue[E]) heartbeat(ev E) {
	q.mu.Lock()
	stalled := q.stalled
	q.mu.Unlock()
	if !stalled {
		q.send(ev)
	}
}

func (q *eventQueue[E]) setStalled(on bool) {
	q.mu.Lock()
	q.stalled = on
	q.mu.Unlock()
	q.poke()
}

// pumpEvents writes q's events to stream, queuing hb every interval, until
// the master closes q, the master stops (done), or the client goes away.
// It reports whether the client went away (a write failed or the request
// ended); in every other case, and when the request ended, it closes the
// stream.
func pumpEvents[E proto.Message](r *http.Request, stream *eventStream, q *eventQueue[E], interval time.Duration, hb E, done <-chan struct{}) (clientGone bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		evs, closing := q.take()
		for _, ev := range evs {
			if err := stream.Send(ev); err != nil {
				return true
			}
		}
		if closing {
			stream.Close()
			return false
		}
		select {
		case <-q.wake:
		case <-t.C:
			q.heartbeat(hb)
		case <-r.Context().Done():
			stream.Close()
			return true
		case <-done:
			stream.Close()
			return false
		}
	}
}
