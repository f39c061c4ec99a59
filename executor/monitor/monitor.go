package monitor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/healer-mesos/healer/proto/healerpb"
)

// Clock is the monitor's time: the real one in the executor, a fake one in
// tests.
type Clock interface {
	Now() time.Time
	// After delivers once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system clock.
type RealClock struct{}

func (RealClock) Now() time.Time                         { return time.Now() }
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config is one monitor task's.
type Config struct {
	// Checks is the resolved, valid config (monitorconfig.Validate).
	Checks *healerpb.MonitorConfig
	// AgentID, Hostname and TaskID go into every report.
	AgentID, Hostname, TaskID string
	Prober                    Prober
	Clock                     Clock
	// Send delivers a report (an executor MESSAGE). It is called from Run's
	// goroutine and should not block for long; a report it cannot deliver
	// is simply lost (the next one says it all again).
	Send   func(ctx context.Context, r *healerpb.MonitorReport)
	Logger *slog.Logger
}

// Monitor evaluates a config until its context ends.
type Monitor struct {
	cfg  Config
	eval *Evaluator
}

// New returns a monitor for cfg.
func New(cfg Config) *Monitor {
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Monitor{cfg: cfg, eval: NewEvaluator(cfg.Checks, cfg.Clock.Now())}
}

// Run evaluates the checks, each at its interval, and sends a report after
// every round that has something to say, until ctx ends. It returns nil
// then: a monitor ends only when told to.
func (m *Monitor) Run(ctx context.Context) error {
	for {
		wait := m.eval.NextDue().Sub(m.cfg.Clock.Now())
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-m.cfg.Clock.After(wait):
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		now := m.cfg.Clock.Now()
		m.round(ctx, now)
		if ctx.Err() != nil {
			return nil // a round cut short is no evidence
		}
		if r := m.eval.Report(now); r != nil {
			r.AgentId, r.Hostname, r.TaskId = m.cfg.AgentID, m.cfg.Hostname, m.cfg.TaskID
			m.cfg.Logger.Info("monitor report", "violations", len(r.Violations), "recovered", len(r.Recovered))
			m.cfg.Send(ctx, r)
		}
	}
}

// round measures every check due at now, concurrently, each within its
// timeout, and records the samples.
func (m *Monitor) round(ctx context.Context, now time.Time) {
	due := m.eval.Due(now)
	samples := make([]Sample, len(due))
	var wg sync.WaitGroup
	for k, i := range due {
		c := m.eval.Check(i)
		wg.Add(1)
		go func() { // owned: round waits for every probe
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, time.Duration(c.TimeoutNs))
			defer cancel()
			samples[k] = m.cfg.Prober.Probe(pctx, c)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	for k, i := range due {
		m.eval.Record(i, now, samples[k])
	}
}
