package admin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healer-mesos/healer/internal/promdoc"
)

// Metrics are the admin API's metrics. Labels are route names, status
// codes and fixed reasons: bounded whatever callers send.
type Metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	tokens       *prometheus.GaugeVec
	reloads      *prometheus.CounterVec
	alerts       *prometheus.CounterVec
	docs         []promdoc.Metric
}

// NewMetrics registers the admin API's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := &promdoc.Factory{Reg: reg}
	m := &Metrics{
		requests: f.CounterVec("healer_admin_requests_total", "Admin API requests answered, by route and status code.",
			"route", "code"),
		duration: f.HistogramVec("healer_admin_request_seconds", "Time to answer admin API requests, by route.",
			prometheus.ExponentialBuckets(0.0001, 4, 10), "route"),
		authFailures: f.CounterVec("healer_admin_auth_failures_total",
			"Requests refused by access control, by reason (missing, invalid, forbidden, disabled, cross_site).", "reason"),
		tokens: f.GaugeVec("healer_admin_tokens", "Bearer tokens in use, by role.", "role"),
		reloads: f.CounterVec("healer_admin_token_reloads_total",
			"Reloads of the admin token file, by result (ok, error: the tokens in use stayed).", "result"),
		alerts: f.CounterVec("healer_alertmanager_alerts_total",
			"Alerts received from Alertmanager, by status (firing, resolved) and outcome (taken, refused).", "status", "outcome"),
	}
	m.docs = f.Docs
	for _, reason := range []string{"missing", "invalid", "forbidden", "disabled", "cross_site"} {
		m.authFailures.WithLabelValues(reason)
	}
	return m
}

// Docs describes every metric registered.
func (m *Metrics) Docs() []promdoc.Metric { return m.docs }

// TokensLoaded records the tokens in use after a (re)load; err is the
// reload's error (the old tokens stay).
func (m *Metrics) TokensLoaded(err error, viewers, operators int) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.reloads.WithLabelValues(result).Inc()
	m.TokensInUse(viewers, operators)
}

// TokensInUse records the tokens in use.
func (m *Metrics) TokensInUse(viewers, operators int) {
	if m == nil {
		return
	}
	m.tokens.WithLabelValues("viewer").Set(float64(viewers))
	m.tokens.WithLabelValues("operator").Set(float64(operators))
}

// routeMetrics are one route's pre-resolved series.
type routeMetrics struct {
	m        *Metrics
	name     string
	duration prometheus.Observer
	ok       prometheus.Counter
}

func (m *Metrics) route(name string) *routeMetrics {
	if m == nil {
		return nil
	}
	return &routeMetrics{m: m, name: name, duration: m.duration.WithLabelValues(name),
		ok: m.requests.WithLabelValues(name, "200")}
}

func (rm *routeMetrics) observe(code int, took time.Duration) {
	if rm == nil {
		return
	}
	rm.duration.Observe(took.Seconds())
	if code == 200 {
		rm.ok.Inc()
		return
	}
	rm.m.requests.WithLabelValues(rm.name, strconv.Itoa(code)).Inc()
}

func (m *Metrics) authFailure(reason string) {
	if m != nil {
		m.authFailures.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) alert(status, outcome string, n int) {
	if m != nil && n > 0 {
		m.alerts.WithLabelValues(status, outcome).Add(float64(n))
	}
}
