package runtime

import (
	"context"
	"errors"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/scheduler/mesosconn"
)

// callQueueSize bounds the scheduler calls waiting to be sent. The loop
// never blocks on it: a call that does not fit is dropped (and its done
// told so); everything healer sends is either retried by Mesos (an
// unacknowledged update comes again), re-derived (a launch goes back to
// waiting for an offer) or harmless to lose (a decline: the offer times
// out).
const callQueueSize = 4096

// errCallQueueFull: the master is not keeping up with healer's calls.
var errCallQueueFull = errors.New("scheduler call queue full: the master is not keeping up")

// callQueue sends scheduler calls one at a time, in the order the loop
// queued them (a kill never overtakes the launch it kills, an
// acknowledgement never overtakes the write it follows).
type callQueue struct {
	t *term
	q chan callItem
}

type callItem struct {
	call *scheduler.Call
	// gen is the subscription the call was made for: once a call of that
	// subscription finds it gone, the rest of its calls are dropped, not
	// replayed against the next one.
	gen  uint64
	done func(error)
}

func newCallQueue(t *term) *callQueue {
	return &callQueue{t: t, q: make(chan callItem, callQueueSize)}
}

// send queues call for the current subscription; done, if not nil, runs on
// the loop with the outcome.
func (c *callQueue) send(call *scheduler.Call, done func(error)) {
	it := callItem{call: call, gen: c.t.gen, done: done}
	select {
	case c.q <- it:
	default:
		c.t.cfg.Metrics.callsDropped.Inc()
		c.t.log.Warn("dropping a scheduler call", "type", call.Type.String(), "err", errCallQueueFull)
		if done != nil {
			done(errCallQueueFull)
		}
	}
}

// room is how many more calls the queue takes now.
func (c *callQueue) room() int { return cap(c.q) - len(c.q) }

func (c *callQueue) run(ctx context.Context) {
	var deadGen uint64
	for {
		var it callItem
		select {
		case <-ctx.Done():
			return
		case it = <-c.q:
		}
		var err error
		switch {
		case it.gen != 0 && it.gen <= deadGen:
			err = mesosconn.ErrNotSubscribed
		default:
			if err = c.t.gate.wait(ctx); err != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			start := time.Now()
			err = c.t.m.Call(cctx, it.call)
			cancel()
			c.t.cfg.Metrics.observeCall(it.call.Type.String(), time.Since(start), err)
			if errors.Is(err, mesosconn.ErrNotSubscribed) && it.gen > deadGen {
				deadGen = it.gen
			}
		}
		if err != nil && ctx.Err() == nil {
			c.t.log.Debug("scheduler call failed", "type", it.call.Type.String(), "err", err)
		}
		if it.done != nil {
			done, e := it.done, err
			if !c.t.post(func() { done(e) }) {
				return
			}
		}
	}
}

// Call builders the runtime uses.

// shortDecline is the refusal filter on an offer healer wants but cannot
// use yet.
const shortDecline = 5 * time.Second

// decline declines offers, for long unless healer wants the agent.
func (t *term) decline(wanted bool, ids ...mesos.OfferID) {
	d := t.cfg.DeclineFor
	if wanted {
		d = shortDecline
	}
	t.calls.send(calls.Decline(ids...).With(calls.RefuseSeconds(d)), nil)
	t.cfg.Metrics.offersDeclined.Add(float64(len(ids)))
}

func (t *term) killTask(taskID, agentID string) {
	c := calls.Kill(taskID, agentID)
	grace := t.cfg.KillGrace.Nanoseconds()
	c.Kill.KillPolicy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: grace}}
	t.calls.send(c, nil)
}

// ack acknowledges a status update; call it only after the update's effect
// is persisted.
func (t *term) ack(st mesos.TaskStatus) {
	if len(st.UUID) == 0 || st.AgentID == nil {
		return
	}
	t.calls.send(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID), nil)
}
