package runtime

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// drain is a drain-first step getting its agent ready: a maintenance
// window (DRAINING, so other frameworks get inverse offers and move their
// tasks away), then a wait until the agent runs no other framework's task
// or Policy.DrainTimeout passes. Then the step goes ahead (the coordinator
// ends the window with ActUp when the step is over).
type drain struct {
	action   coordinator.Action
	deadline time.Time
	// windowed: the window is in the schedule (or another one holds the
	// machine); polling: a check is under way; done: the step may go.
	windowed, polling, done bool
	nextPoll                time.Time
	ready                   func()
}

func (t *term) drainedFor(k launchKey) bool {
	d := t.drains[k]
	return d != nil && d.done
}

// startDrain opens the window for the step's machine and calls ready on
// the loop once the agent is drained (or the drain timed out).
func (t *term) startDrain(k launchKey, a coordinator.Action, ready func()) {
	if d := t.drains[k]; d != nil {
		d.ready = ready
		if d.done {
			ready()
		}
		return
	}
	now := t.now()
	d := &drain{action: a, deadline: now.Add(t.cfg.Policy.DrainTimeout), ready: ready, nextPoll: now}
	t.drains[k] = d
	machine, ok := t.agents.machine(string(a.Agent), a.Hostname)
	if !ok {
		t.log.Warn("cannot drain: the master never listed the agent's machine; running the step without draining",
			"agent", a.Agent, "host", a.Hostname)
		t.finishDrain(k, d)
		return
	}
	length := t.cfg.Policy.DrainTimeout + t.stepTimeout(a.Step) + t.cfg.Policy.OfferTimeout
	queued := t.ops.queue(func(q *opQueue) {
		err := q.openWindow(machine, now, length)
		t.post(func() {
			if t.drains[k] != d {
				return
			}
			if err != nil {
				t.log.Warn("opening the drain window failed; retrying", "agent", a.Agent, "err", err)
				delete(t.drains, k)
				t.startDrainLater(k, a, ready, d.nextPoll)
				return
			}
			d.windowed = true
			t.log.Info("agent draining before its step", "agent", a.Agent, "host", a.Hostname, "until", d.deadline)
		})
	})
	if !queued {
		delete(t.drains, k)
		t.startDrainLater(k, a, ready, now.Add(t.cfg.DrainPoll))
	}
}

// startDrainLater retries opening a drain window from a later tick.
func (t *term) startDrainLater(k launchKey, a coordinator.Action, ready func(), at time.Time) {
	t.drainRetries = append(t.drainRetries, drainRetry{k: k, a: a, ready: ready, at: at})
}

type drainRetry struct {
	k     launchKey
	a     coordinator.Action
	ready func()
	at    time.Time
}

func (t *term) stopDrain(k launchKey) {
	delete(t.drains, k)
	for i, r := range t.drainRetries {
		if r.k == k {
			t.drainRetries = append(t.drainRetries[:i], t.drainRetries[i+1:]...)
			break
		}
	}
}

func (t *term) finishDrain(k launchKey, d *drain) {
	d.done = true
	if d.ready != nil {
		d.ready()
	}
}

// tickDrains checks draining agents and retries windows.
func (t *term) tickDrains(now time.Time) {
	if len(t.drainRetries) > 0 {
		due := t.drainRetries
		t.drainRetries = nil
		for _, r := range due {
			if r.at.After(now) {
				t.drainRetries = append(t.drainRetries, r)
				continue
			}
			t.startDrain(r.k, r.a, r.ready)
		}
	}
	for k, d := range t.drains {
		if d.done || !d.windowed || d.polling || d.nextPoll.After(now) {
			continue
		}
		if !now.Before(d.deadline) {
			t.log.Warn("drain timeout passed with other frameworks' tasks still on the agent; running the step",
				"agent", d.action.Agent)
			t.finishDrain(k, d)
			continue
		}
		d.polling = true
		k, d := k, d
		agent, fw := string(d.action.Agent), t.fwID
		queued := t.ops.queue(func(q *opQueue) {
			resp, err := q.call(master.Call{Type: master.Call_GET_TASKS})
			busy := err != nil || othersOn(resp.GetGetTasks(), agent, fw)
			t.post(func() {
				d.polling = false
				d.nextPoll = t.now().Add(t.cfg.DrainPoll)
				if t.drains[k] != d || d.done {
					return
				}
				if err != nil {
					t.log.Warn("checking a draining agent failed", "agent", agent, "err", err)
				}
				if !busy {
					t.log.Info("agent drained", "agent", agent)
					t.finishDrain(k, d)
				}
			})
		})
		if !queued {
			d.polling = false
		}
	}
}

// othersOn reports whether another framework has a live task on agent
// (an unreachable one is not running there, as far as the master knows).
func othersOn(g *master.Response_GetTasks, agent, fw string) bool {
	if g == nil {
		return false
	}
	for _, list := range [][]mesos.Task{g.PendingTasks, g.Tasks} {
		for _, tk := range list {
			if tk.GetAgentID().Value == agent && tk.FrameworkID.Value != fw && !terminal(tk.GetState()) {
				return true
			}
		}
	}
	return false
}
