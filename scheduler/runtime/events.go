package runtime

import (
	"fmt"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
	"github.com/healer-mesos/healer/scheduler/store"
)

func (t *term) onSubscribed(gen uint64, s *mesosconn.Subscribed) error {
	switch {
	case t.fwID == "":
		// The first SUBSCRIBED of a new framework: its id is stored before
		// anything else, so no later crash can register a second one.
		f := store.Framework{ID: s.FrameworkID, Name: t.cfg.Framework.Name, RegisteredAt: t.now(), Master: s.Master}
		if err := t.store.SaveFramework(t.ctx, f); err != nil {
			return fmt.Errorf("store the new framework id %s: %w", s.FrameworkID, err)
		}
		t.fwID = s.FrameworkID
		t.log.Info("registered a new framework; its id is stored", "framework_id", s.FrameworkID, "master", s.Master)
	case s.FrameworkID != t.fwID:
		return fmt.Errorf("%w: subscribed as framework %s, but the stored id is %s", ErrCorruptState, s.FrameworkID, t.fwID)
	}
	t.subscribed, t.gen = true, gen
	t.rt.setFramework(t.fwID)
	t.log.Info("subscribed", "framework_id", t.fwID, "master", s.Master, "gen", gen, "heartbeat", s.HeartbeatInterval)
	t.cfg.Metrics.masterConnected.Set(1)
	t.cfg.Metrics.subscriptions.Inc()
	// Offers of the last subscription are void; Mesos forgets suppression
	// when a framework re-subscribes without naming suppressed roles.
	t.offers.reset()
	for _, l := range t.launches {
		if l.state == launchAccepting {
			l.state = launchWaiting
		}
	}
	t.step(coordinator.Connectivity{At: t.now(), Change: coordinator.MasterConnected})
	t.startReconcile()
	t.agents.refresh(t)
	return nil
}

func (t *term) onDisconnected(err error) {
	if !t.subscribed {
		return
	}
	t.subscribed = false
	t.log.Warn("master subscription lost; Immutable until resubscribed and reconciled", "err", err)
	t.cfg.Metrics.masterConnected.Set(0)
	t.recon.abort()
	t.offers.reset()
	t.step(coordinator.Connectivity{At: t.now(), Change: coordinator.MasterDisconnected})
}

func (t *term) onEvent(e *scheduler.Event) {
	switch e.Type {
	case scheduler.Event_OFFERS:
		t.onOffers(e.GetOffers().Offers)
	case scheduler.Event_UPDATE:
		t.onUpdate(e.GetUpdate().Status)
	case scheduler.Event_MESSAGE:
		m := e.GetMessage()
		t.monitors.onMessage(t, t.agents.canonical(m.AgentID.Value), m.Data)
	case scheduler.Event_FAILURE:
		f := e.GetFailure()
		if f.ExecutorID == nil && f.AgentID != nil {
			// An agent was lost (removed or unreachable): find out which.
			t.agents.refreshSoon(t)
		}
	case scheduler.Event_INVERSE_OFFERS:
		// healer never stands in the way of maintenance: its tasks are
		// small and it repairs machines, it does not guard them.
		var ids []mesos.OfferID
		for _, o := range e.GetInverseOffers().InverseOffers {
			ids = append(ids, o.OfferID)
		}
		if len(ids) > 0 {
			t.calls.send(calls.AcceptInverseOffers(ids...).With(calls.RefuseSeconds(t.cfg.DeclineFor)), nil)
		}
	case scheduler.Event_ERROR:
		t.log.Error("the master sent an error", "message", e.GetError().Message)
	}
}

// onUpdate handles one status update. Its acknowledgement is sent after the
// batch it is part of is persisted.
func (t *term) onUpdate(st mesos.TaskStatus) {
	t.cfg.Metrics.updates.WithLabelValues(st.GetState().String()).Inc()
	t.batch.after = append(t.batch.after, func(err error) {
		if err == nil {
			t.ack(st)
		}
	})
	id := st.TaskID.Value
	if t.recon.isMarker(id) {
		t.recon.markerAnswered(t, id)
		return
	}
	ref, err := taskspec.ParseTaskID(id)
	if err != nil {
		// Not a task healer would launch, yet it is healer's framework's:
		// kill it rather than leave it running unaccounted.
		if !terminal(st.GetState()) && st.AgentID != nil {
			t.log.Warn("killing a task of healer's framework that healer does not know", "task", id)
			t.killTask(id, st.AgentID.Value)
		}
		return
	}
	switch ref.Kind {
	case taskspec.KindRepair:
		t.onRepairUpdate(ref, st)
	case taskspec.KindMonitor:
		t.monitors.onUpdate(t, ref, st)
	}
}

// terminal reports whether a task state is final.
func terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR, mesos.TASK_UNKNOWN:
		return true
	}
	return false
}
