package runtime

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healer-mesos/healer/internal/promdoc"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// observed are the metrics that need the coordinator's records to be
// measured: how long healer took to act on a signal, how long steps ran.
type observed struct {
	signalToAction   prometheus.Histogram
	repairDuration   *prometheus.HistogramVec
	leaderElections  prometheus.Counter
	leaderChanges    prometheus.Counter
	auditEntries     *prometheus.CounterVec
	signalsByProblem *prometheus.CounterVec
}

func (m *Metrics) more(f *promdoc.Factory) {
	m.signalToAction = f.Histogram("healer_signal_to_action_seconds",
		"Time from the signal that opened an incident to the start of its first step (held by limits, approval or pause included).",
		prometheus.ExponentialBuckets(0.05, 4, 10))
	m.repairDuration = f.HistogramVec("healer_repair_duration_seconds",
		"How long repair steps ran, from start to outcome, by action and result.",
		prometheus.ExponentialBuckets(1, 3, 10), "action", "result")
	m.leaderElections = f.Counter("healer_leader_elections_total", "Times this instance was elected leader.")
	m.leaderChanges = f.Counter("healer_leader_changes_total", "Leader changes this instance saw (any instance elected, or none).")
	m.auditEntries = f.CounterVec("healer_audit_entries_total", "Audit trail entries written, by result (accepted, refused).", "result")
	m.signalsByProblem = f.CounterVec("healer_signals_by_problem_total",
		"Signals received, by problem: a problem with a ladder of its own is named, any other counts as \"other\".", "problem")
}

// LeaderElected counts an election this instance won.
func (m *Metrics) LeaderElected() { m.leaderElections.Inc() }

// LeaderChanged counts a change of leader seen from this instance.
func (m *Metrics) LeaderChanged() { m.leaderChanges.Inc() }

// observeDecision records a decision's metrics; the records it needs are
// read from the coordinator after the batch was persisted.
func (t *term) observeDecision(d coordinator.Decision) {
	m := t.cfg.Metrics
	m.decisions.WithLabelValues(d.Kind.String()).Inc()
	if d.DryRun {
		return
	}
	switch d.Kind {
	case coordinator.DecStarted:
		rec, ok := t.coord.Agent(d.Agent)
		if ok && rec.Incident.ID == d.Incident && rec.Incident.StepsRun == 1 && !rec.Incident.OpenedAt.IsZero() {
			m.signalToAction.Observe(d.At.Sub(rec.Incident.OpenedAt).Seconds())
		}
	case coordinator.DecSucceeded, coordinator.DecStepFailed:
		scope, took := "", -1.0
		if rec, ok := t.coord.Agent(d.Agent); ok {
			for _, h := range rec.History {
				if h.ID == d.Attempt {
					scope = h.Scope.String()
					if !h.StartedAt.IsZero() && !h.EndedAt.Before(h.StartedAt) {
						took = h.EndedAt.Sub(h.StartedAt).Seconds()
					}
				}
			}
		}
		m.repairsFinished.WithLabelValues(d.Action, scope, d.Result.String()).Inc()
		if took >= 0 {
			m.repairDuration.WithLabelValues(d.Action, d.Result.String()).Observe(took)
		}
	}
}

// countSignal counts a signal by source, problem and outcome.
func (t *term) countSignal(source, problem string, rd coordinator.Ready, err error) {
	outcome := "accepted"
	switch {
	case err != nil:
		outcome = "refused"
	default:
		for _, d := range rd.Decisions {
			if d.Kind == coordinator.DecAttached {
				outcome = "attached"
			}
		}
	}
	t.cfg.Metrics.signals.WithLabelValues(sourceLabel(source), outcome).Inc()
	if _, own := t.cfg.Policy.Ladders[problem]; !own {
		problem = "other"
	}
	t.cfg.Metrics.signalsByProblem.WithLabelValues(problem).Inc()
}
