// Package promdoc registers Prometheus metrics and remembers what it
// registered (name, type, labels, help), so that healer's metrics reference
// (docs/metrics.md) is generated from the code and a test keeps it current.
package promdoc

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric describes one registered metric.
type Metric struct {
	Name, Type, Help string
	Labels           []string
}

// Factory registers metrics on Reg and records them in Docs.
type Factory struct {
	Reg  prometheus.Registerer
	Docs []Metric
}

func (f *Factory) add(c prometheus.Collector, name, typ, help string, labels []string) {
	f.Reg.MustRegister(c)
	f.Docs = append(f.Docs, Metric{Name: name, Type: typ, Help: help, Labels: slices.Clone(labels)})
}

// Gauge registers a gauge.
func (f *Factory) Gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.add(g, name, "gauge", help, nil)
	return g
}

// GaugeVec registers a gauge vector.
func (f *Factory) GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.add(g, name, "gauge", help, labels)
	return g
}

// Counter registers a counter.
func (f *Factory) Counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.add(c, name, "counter", help, nil)
	return c
}

// CounterVec registers a counter vector.
func (f *Factory) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.add(c, name, "counter", help, labels)
	return c
}

// Histogram registers a histogram.
func (f *Factory) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	f.add(h, name, "histogram", help, nil)
	return h
}

// HistogramVec registers a histogram vector.
func (f *Factory) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.add(h, name, "histogram", help, labels)
	return h
}

// Table renders metrics as the Markdown table of docs/metrics.md, sorted
// by name.
func Table(ms []Metric) string {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b Metric) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	b.WriteString("| metric | type | labels | what |\n|---|---|---|---|\n")
	for _, m := range ms {
		labels := ""
		if len(m.Labels) > 0 {
			labels = "`" + strings.Join(m.Labels, "`, `") + "`"
		}
		b.WriteString("| `" + m.Name + "` | " + m.Type + " | " + labels + " | " + strings.ReplaceAll(m.Help, "|", "\\|") + " |\n")
	}
	return b.String()
}
