package runtime

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// reviveRetry: a REVIVE that brought no offer for this long is taken as
// lost and sent again (dcos-commons and Marathon #5484 lost revives).
const reviveRetry = 30 * time.Second

// offerState is the framework's standing with the allocator.
type offerState struct {
	// suppressed: healer asked the master to stop offering.
	suppressed bool
	// wanted: new work appeared since the last flush; REVIVE (which also
	// clears the refusal filters of earlier declines).
	wanted bool
	// revivedAt and offered: when healer last revived, and whether an
	// offer came since.
	revivedAt time.Time
	offered   bool
}

// reset is the standing right after (re)subscribing: Mesos offers to a
// framework that subscribed without suppressed roles.
func (o *offerState) reset() { *o = offerState{wanted: o.wanted} }

// needOffers reports whether anything waits for an offer.
func (t *term) needOffers() bool {
	for _, l := range t.launches {
		if l.state == launchWaiting {
			return true
		}
	}
	return t.monitors.needOffers(t)
}

// updateInterest REVIVEs when new work waits for offers (coalesced: once
// per batch) and SUPPRESSes when nothing does.
func (t *term) updateInterest() {
	if !t.subscribed || t.suspended {
		return
	}
	o := &t.offers
	need := t.needOffers()
	now := t.now()
	switch {
	case need && (o.wanted || o.suppressed || !o.offered && now.Sub(o.revivedAt) >= reviveRetry):
		t.calls.send(calls.Revive(), nil)
		t.cfg.Metrics.revives.Inc()
		o.suppressed, o.revivedAt, o.offered = false, now, false
	case !need && !o.suppressed:
		t.calls.send(calls.Suppress(), nil)
		t.cfg.Metrics.suppresses.Inc()
		o.suppressed = true
	}
	o.wanted = false
}

// onOffers launches what waits for each offer's agent and declines the
// rest with a long filter.
func (t *term) onOffers(offers []mesos.Offer) {
	t.cfg.Metrics.offersReceived.Add(float64(len(offers)))
	t.offers.offered = true
	var waiting map[string]*launch
	mutable := !t.coord.Immutable().Immutable
	if mutable {
		for _, l := range t.launches {
			if l.state == launchWaiting {
				if waiting == nil {
					waiting = make(map[string]*launch)
				}
				waiting[string(l.action.Agent)] = l
			}
		}
	}
	// The accepts go out once the steps' start is persisted (write-ahead),
	// then the declines, in one call per filter length: a launch never
	// waits behind a decline per unneeded offer.
	var (
		soon, later []mesos.OfferID
		accepts     []pendingAccept
	)
	// Monitors are placed only as fast as the master takes the calls: each
	// costs an ACCEPT now and an acknowledgement soon after, and the call
	// queue drops what does not fit. The first OFFERS event of a 35,000-agent
	// cluster would otherwise queue 35,000 ACCEPTs and lose most of them
	// (each a failed launch, retried after a growing backoff). Offers past
	// the budget are declined with the short filter and come back.
	placements := t.calls.room() / 2
	defer func() {
		t.batch.after = append(t.batch.after, func(err error) {
			if err != nil {
				return // the term ends; offers are rescinded with the subscription
			}
			for _, a := range accepts {
				t.sendAccept(a)
			}
			if len(soon) > 0 {
				t.decline(true, soon...)
			}
			if len(later) > 0 {
				t.decline(false, later...)
			}
		})
	}()
	for i := range offers {
		o := &offers[i]
		t.agents.offered(t, o)
		agent := t.agents.canonical(o.AgentID.Value)
		var tasks []mesos.TaskInfo
		var launched []*launch
		l := waiting[agent]
		monitor := mutable && placements > 0 && t.monitors.due(t, agent)
		var (
			pool mesos.Resources
			ex   mesos.ExecutorInfo
			exOK bool
		)
		// Only an offer healer may use is taken apart (its resources cloned,
		// an ExecutorInfo built): in a large cluster nearly every offer is
		// declined, and the clones (reflection) dominated the leader's CPU
		// on an OFFERS event of 35,000 agents.
		if l != nil || monitor {
			pool = mesos.Resources(o.Resources).Clone()
			ex, exOK = t.executorFor(agent, o, &pool)
		}
		if l != nil && exOK {
			ti, ok := t.repairTaskInfo(l, o, &pool, ex)
			switch {
			case !ok:
				t.log.Debug("offer too small for a repair task", "agent", agent, "offer", o.ID.Value)
			case l.started || t.startStep(l):
				tasks = append(tasks, ti)
				launched = append(launched, l)
				l.state, l.started, l.sentAt = launchAccepting, true, t.now()
			default:
				// The coordinator gave up on the step meanwhile.
				delete(t.launches, keyOf(l.action))
			}
		}
		if exOK && monitor {
			if ti, ok := t.monitors.place(t, agent, o, &pool, ex); ok {
				tasks = append(tasks, ti)
				placements--
			}
		}
		if len(tasks) == 0 {
			// An offer from an agent something waits for (healer is not
			// mutable yet, or the offer is too small) gets a short filter,
			// so the next one comes soon; the rest a long one.
			if waiting[agent] != nil || t.monitors.wants(agent) || !mutable && t.waitingOn(agent) {
				soon = append(soon, o.ID)
			} else {
				later = append(later, o.ID)
			}
			continue
		}
		t.setExecutor(agent, t.internExecutor(ex))
		accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(tasks...)}.WithOffers(o.ID)).
			With(calls.RefuseSeconds(t.cfg.DeclineFor))
		accepts = append(accepts, pendingAccept{call: accept, agent: agent, launched: launched})
	}
}

// pendingAccept is an ACCEPT waiting for the write of its steps' start.
type pendingAccept struct {
	call     *scheduler.Call
	agent    string
	launched []*launch
}

// sendAccept sends an ACCEPT; a failed one puts its launches back to
// waiting for another offer.
func (t *term) sendAccept(p pendingAccept) {
	t.calls.send(p.call, func(err error) {
		if err == nil {
			return
		}
		t.log.Warn("launch failed; waiting for another offer", "agent", p.agent, "err", err)
		for _, l := range p.launched {
			if l.state == launchAccepting {
				l.state = launchWaiting
				t.offers.wanted = true
			}
		}
		t.monitors.launchFailed(t, p.agent)
	})
}

// startStep feeds StepStarted for a launch about to be sent: the
// coordinator records the start (persisted before the ACCEPT goes out)
// and says whether the step may still run.
func (t *term) startStep(l *launch) bool {
	rd, _ := t.step(coordinator.StepStarted{At: t.now(), Agent: l.action.Agent, Attempt: l.action.Attempt})
	for _, d := range rd.Decisions {
		if d.Kind == coordinator.DecRunning && d.Attempt == l.action.Attempt {
			return true
		}
	}
	return false
}

// waitingOn reports whether a launch waits for an offer from agent.
func (t *term) waitingOn(agent string) bool {
	for _, l := range t.launches {
		if l.state == launchWaiting && string(l.action.Agent) == agent {
			return true
		}
	}
	return false
}

// executorFor is the ExecutorInfo for healer's executor on agent. While
// the executor runs, every task must name it identically (Mesos refuses an
// incompatible ExecutorInfo), so the one that started it is reused; a new
// one takes its resources from the offer.
func (t *term) executorFor(agent string, o *mesos.Offer, pool *mesos.Resources) (mesos.ExecutorInfo, bool) {
	if ex := t.executorOf(agent); ex != nil && t.liveTasksOn(agent) {
		return *ex, true
	}
	work := pool.Clone()
	res, ok := takeScalars(&work, t.cfg.ExecutorCPUs, t.cfg.ExecutorMemMB)
	if !ok {
		return mesos.ExecutorInfo{}, false
	}
	ex, err := taskspec.NewExecutorInfo(taskspec.ExecutorSpec{URI: t.cfg.ExecutorURI, Resources: res})
	if err != nil {
		t.log.Error("cannot build healer's ExecutorInfo", "err", err)
		return mesos.ExecutorInfo{}, false
	}
	*pool = work
	return ex, true
}

// setExecutor records the ExecutorInfo agent's executor runs with: on its
// monitor when it has one (no map entry per agent for the common case),
// else in t.executors.
func (t *term) setExecutor(agent string, ex *mesos.ExecutorInfo) {
	if mon := t.monitors.byAgent[agent]; mon != nil {
		mon.executor = ex
		delete(t.executors, agent)
		return
	}
	t.executors[agent] = ex
}

// executorOf is the ExecutorInfo recorded for agent's executor, or nil.
func (t *term) executorOf(agent string) *mesos.ExecutorInfo {
	if mon := t.monitors.byAgent[agent]; mon != nil && mon.executor != nil {
		return mon.executor
	}
	return t.executors[agent]
}

// internExecutor returns the term's one copy of ex: 35,000 agents running
// the same executor keep one ExecutorInfo, not one each (the scale run
// found 25 MB of the leader's heap in per-agent copies).
func (t *term) internExecutor(ex mesos.ExecutorInfo) *mesos.ExecutorInfo {
	id := ex.ExecutorID.Value
	if p, ok := t.executorInfos[id]; ok && p.Equal(&ex) {
		return p
	}
	p := &ex
	t.executorInfos[id] = p
	return p
}

// liveTasksOn reports whether a healer task is live on agent, so its
// executor runs there. The agent's monitor answers first: with a monitor
// on every agent, t.tasks holds one task per agent, and scanning it for
// each offer of a 35,000-agent OFFERS event would cost 35,000² steps;
// without monitors it holds only the few repair tasks.
func (t *term) liveTasksOn(agent string) bool {
	if t.monitors.liveOn(agent) {
		return true
	}
	for _, tk := range t.tasks {
		if tk.agent == agent && !terminal(tk.state) {
			return true
		}
	}
	return false
}

func (t *term) repairTaskInfo(l *launch, o *mesos.Offer, pool *mesos.Resources, ex mesos.ExecutorInfo) (mesos.TaskInfo, bool) {
	res, ok := takeScalars(pool, t.cfg.TaskCPUs, t.cfg.TaskMemMB)
	if !ok {
		return mesos.TaskInfo{}, false
	}
	a := l.action
	cmd := t.cfg.Commands[a.Step.Action]
	ti, err := taskspec.RepairTaskInfo(ex, o.AgentID, repairTask(a, cmd, t.stepTimeout(a.Step)), res, t.cfg.KillGrace)
	if err != nil {
		t.log.Error("cannot build a repair task", "task", l.taskID, "err", err)
		return mesos.TaskInfo{}, false
	}
	return ti, true
}

// takeScalars takes cpus and mem (MB) out of pool, keeping each resource's
// reservation and allocation (a framework with roles must launch with the
// allocation it was offered), or reports false and leaves pool alone.
func takeScalars(pool *mesos.Resources, cpus, mem float64) (mesos.Resources, bool) {
	work := pool.Clone()
	var out mesos.Resources
	for _, want := range []struct {
		name   string
		amount float64
	}{{"cpus", cpus}, {"mem", mem}} {
		need := want.amount
		for i := range work {
			r := &work[i]
			if need <= epsilon {
				break
			}
			if r.Name != want.name || r.GetType() != mesos.SCALAR || r.Scalar == nil || r.Revocable != nil ||
				r.Disk != nil || r.ProviderID != nil || r.Scalar.Value <= epsilon {
				continue
			}
			take := min(need, r.Scalar.Value)
			part := *r
			part.Scalar = &mesos.Value_Scalar{Value: take}
			out = append(out, part)
			r.Scalar = &mesos.Value_Scalar{Value: r.Scalar.Value - take}
			need -= take
		}
		if need > epsilon {
			return nil, false
		}
	}
	*pool = work
	return out, true
}

// epsilon: Mesos keeps scalars in fixed point with three decimals.
const epsilon = 0.0005
