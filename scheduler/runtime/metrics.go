package runtime

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healer-mesos/healer/internal/promdoc"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// Metrics are the runtime's Prometheus metrics, on a private registry.
// No label names an agent: series stay bounded however large the cluster.
type Metrics struct {
	reg *prometheus.Registry

	isLeader, masterConnected, zkConnected, immutable prometheus.Gauge
	agentsByState                                     *prometheus.GaugeVec
	inFlight, breakerTripped, paused                  prometheus.Gauge
	masterSteps                                       prometheus.Gauge
	subscriptions, reconciliations                    prometheus.Counter
	revives, suppresses, callsDropped                 prometheus.Counter
	offersReceived, offersDeclined                    prometheus.Counter
	reports, reportsMalformed                         prometheus.Counter
	updates                                           *prometheus.CounterVec
	decisions                                         *prometheus.CounterVec
	signals                                           *prometheus.CounterVec
	actions                                           *prometheus.CounterVec
	repairsFinished                                   *prometheus.CounterVec
	storeOps                                          *prometheus.HistogramVec
	storeErrors                                       *prometheus.CounterVec
	calls                                             *prometheus.HistogramVec
	callErrors                                        *prometheus.CounterVec
	loadSeconds                                       prometheus.Gauge
	loadBytes                                         prometheus.Gauge
	observed

	docs []promdoc.Metric
}

// NewMetrics registers the runtime's metrics on reg (a new private
// registry when nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	pf := &promdoc.Factory{Reg: reg}
	f := factory{pf}
	m := &Metrics{
		reg:             reg,
		isLeader:        f.gauge("healer_is_leader", "1 while this instance leads."),
		masterConnected: f.gauge("healer_master_connected", "1 while subscribed to a Mesos master."),
		zkConnected:     f.gauge("healer_zookeeper_connected", "1 while the leader's ZooKeeper session is usable."),
		immutable:       f.gauge("healer_immutable", "1 while no repair may start: master or ZooKeeper lost, or not reconciled."),
		agentsByState:   f.gaugeVec("healer_agents", "Agents healer keeps a record of, by state.", "state"),
		inFlight:        f.gauge("healer_repairs_in_flight", "Agents with a repair step in flight."),
		breakerTripped:  f.gauge("healer_storm_breaker_tripped", "1 while the storm breaker is tripped."),
		paused:          f.gauge("healer_paused", "1 while repairs are paused by an operator."),
		masterSteps:     f.gauge("healer_master_steps_running", "Master-scope step commands running on this host."),
		subscriptions:   f.counter("healer_master_subscriptions_total", "SUBSCRIBED events received."),
		reconciliations: f.counter("healer_reconciliations_total", "Reconciliations started."),
		revives:         f.counter("healer_revives_total", "REVIVE calls sent."),
		suppresses:      f.counter("healer_suppresses_total", "SUPPRESS calls sent."),
		callsDropped:    f.counter("healer_scheduler_calls_dropped_total", "Scheduler calls dropped because the master did not keep up."),
		offersReceived:  f.counter("healer_offers_received_total", "Offers received."),
		offersDeclined:  f.counter("healer_offers_declined_total", "Offers declined."),
		reports:         f.counter("healer_monitor_reports_total", "Monitor reports received."),
		reportsMalformed: f.counter("healer_monitor_reports_malformed_total",
			"Framework messages that were not monitor reports."),
		updates:   f.counterVec("healer_task_updates_total", "Task status updates received, by state.", "state"),
		decisions: f.counterVec("healer_decisions_total", "Coordinator decisions, by kind.", "kind"),
		signals: f.counterVec("healer_signals_total", "Signals received, by source (monitor, operator, alertmanager, healerctl, other) and outcome (accepted, attached, refused).",
			"source", "outcome"),
		actions: f.counterVec("healer_actions_total", "Actions carried out, by kind and scope.", "kind", "scope"),
		repairsFinished: f.counterVec("healer_repairs_finished_total", "Repair steps ended, by action, scope and result.",
			"action", "scope", "result"),
		storeOps: f.histogramVec("healer_zookeeper_operation_seconds", "Latency of state store operations.", "op"),
		storeErrors: f.counterVec("healer_zookeeper_operation_errors_total", "Failed state store operations.",
			"op"),
		calls:       f.histogramVec("healer_master_call_seconds", "Latency of calls to the Mesos master.", "call"),
		callErrors:  f.counterVec("healer_master_call_errors_total", "Failed calls to the Mesos master.", "call"),
		loadSeconds: f.gauge("healer_state_load_seconds", "How long the last leader took to load its state."),
		loadBytes:   f.gauge("healer_state_bytes", "Bytes of state the last leader loaded."),
	}
	m.more(pf)
	m.docs = pf.Docs
	return m
}

// Registry is the private registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// factory registers on the private registry and records each metric for
// the metrics reference (Docs).
type factory struct{ f *promdoc.Factory }

func (f factory) gauge(name, help string) prometheus.Gauge { return f.f.Gauge(name, help) }

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return f.f.GaugeVec(name, help, labels...)
}

func (f factory) counter(name, help string) prometheus.Counter { return f.f.Counter(name, help) }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return f.f.CounterVec(name, help, labels...)
}

func (f factory) histogramVec(name, help string, labels ...string) *prometheus.HistogramVec {
	return f.f.HistogramVec(name, help, prometheus.ExponentialBuckets(0.0005, 2, 16), labels...)
}

// Docs describes every metric the runtime registered.
func (m *Metrics) Docs() []promdoc.Metric { return m.docs }

// ObserveStore records one state store operation.
func (m *Metrics) ObserveStore(op string, d time.Duration, err error) {
	m.storeOps.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (m *Metrics) observeCall(call string, d time.Duration, err error) {
	m.calls.WithLabelValues(call).Observe(d.Seconds())
	if err != nil {
		m.callErrors.WithLabelValues(call).Inc()
	}
}

func (m *Metrics) loaded(s store.LoadStats, agents int) {
	m.loadSeconds.Set(s.Took.Seconds())
	m.loadBytes.Set(float64(s.Bytes))
}

func (m *Metrics) action(a coordinator.Action) {
	scope := ""
	if a.Step.Scope != 0 {
		scope = a.Step.Scope.String()
	}
	m.actions.WithLabelValues(a.Kind.String(), scope).Inc()
}

func (m *Metrics) status(s coordinator.Status, subscribed bool) {
	c := s.Counts
	for state, n := range map[string]int{
		"healthy": c.Healthy, "pending": c.Pending, "awaiting_approval": c.AwaitingApproval,
		"repairing": c.Repairing, "probation": c.Probation, "isolated": c.Isolated,
	} {
		m.agentsByState.WithLabelValues(state).Set(float64(n))
	}
	m.inFlight.Set(float64(s.InFlight))
	m.immutable.Set(b2f(s.Immutable.Immutable))
	m.breakerTripped.Set(b2f(s.Breaker.Tripped))
	m.paused.Set(b2f(s.Paused))
	m.masterConnected.Set(b2f(subscribed))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
