package app

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/internal/promdoc"
	"github.com/healer-mesos/healer/scheduler/config"
	"github.com/healer-mesos/healer/scheduler/runtime"
)

// tokenPoll is how often the token file is checked for changes.
const tokenPoll = 2 * time.Second

// access is the admin API's access control: its tokens (nil without
// --admin_tokens) and TLS (nil without a certificate).
type access struct {
	tokens *admin.Tokens
	tls    *tls.Config
}

// adminAccess loads the token file and the TLS key pair; either failing
// stops healer at start with the flag to fix.
func adminAccess(cfg config.Config, log *slog.Logger, m *admin.Metrics) (access, error) {
	var a access
	if cfg.AdminTokens != "" {
		t, err := admin.LoadTokens(cfg.AdminTokens, log.With("component", "admin"))
		if err != nil {
			return a, fmt.Errorf("--admin_tokens: %w", err)
		}
		t.OnReload = m.TokensLoaded
		m.TokensInUse(t.Counts())
		a.tokens = t
	}
	if cfg.AdminTLSCert != "" {
		pair, err := tls.LoadX509KeyPair(cfg.AdminTLSCert, cfg.AdminTLSKey)
		if err != nil {
			return a, fmt.Errorf("--admin_tls_cert/--admin_tls_key: %w (give a PEM certificate and its PEM private key)", err)
		}
		a.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return a, nil
}

// newMetrics is healer-scheduler's registry: the Go runtime's and the
// process's collectors, the runtime's, the admin API's and build_info;
// docs describes every healer_ metric on it (docs/metrics.md).
func newMetrics() (reg *prometheus.Registry, rt *runtime.Metrics, api *admin.Metrics, docs []promdoc.Metric) {
	reg = prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(
		// go_gc_heap_live_bytes besides the default go_memstats_*: the
		// heap the last GC found live, the figure that says how much
		// memory healer needs for its agents (docs/scale.md).
		collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}),
	), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rt = runtime.NewMetrics(reg)
	api = admin.NewMetrics(reg)
	f := &promdoc.Factory{Reg: reg}
	f.GaugeVec("healer_build_info", "Always 1; the version label is healer-scheduler's version.", "version").
		WithLabelValues(Version).Set(1)
	docs = append(append(append(docs, rt.Docs()...), api.Docs()...), f.Docs...)
	return reg, rt, api, docs
}
