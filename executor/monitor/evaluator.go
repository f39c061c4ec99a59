// Package monitor is the monitor task of healer-executor: it evaluates the
// checks of a resolved monitor config (executor/monitorconfig) on the
// agent's host and reports the violated ones to the scheduler.
//
// The Evaluator is the pure part — when each check is due, how long it has
// been out of its envelope, what a report holds — and takes time from its
// caller. The Monitor runs it: it waits for the next due check on an
// injected Clock, measures the due checks through a Prober (built-in
// statistics, commands, HTTP, TCP: see Probes), and hands every non-empty
// report to its Send function.
//
// The rules (docs/monitor.md):
//   - a check is violated while its value is outside its envelope; a value
//     that cannot be measured (NaN) is outside;
//   - a violated check counts once it has been violated for its for
//     duration, measured from the first evaluation that found it out;
//   - after every evaluation round in which some check counts, a report
//     lists every check that counts (the whole picture: idempotent);
//   - a check that counted and is back inside its envelope is reported
//     once under recovered, and its violation starts over.
package monitor

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// Sample is one measurement of a check. A NaN Value means it could not be
// measured; Message then says why (and otherwise may add detail).
type Sample struct {
	Value   float64
	Message string
}

// Failed is a sample for a check that could not be measured.
func Failed(format string, args ...any) Sample {
	return Sample{Value: math.NaN(), Message: fmt.Sprintf(format, args...)}
}

// checkState is the Evaluator's record of one check.
type checkState struct {
	check *healerpb.Check
	next  time.Time // when it is due
	since time.Time // first evaluation of the current violation; zero when inside
	// counts: violated for at least its for (reported until it recovers).
	counts bool
	last   Sample
	// recovered: came back in the latest round; reported once.
	recovered   bool
	recoveredAt time.Time
	wasSince    time.Time
}

// Evaluator holds the state of every check of one monitor. It is not safe
// for concurrent use; the Monitor owns it.
type Evaluator struct {
	checks []*checkState
}

// NewEvaluator starts every check of cfg (which must be valid) due at start.
func NewEvaluator(cfg *healerpb.MonitorConfig, start time.Time) *Evaluator {
	e := &Evaluator{}
	for i := range cfg.Checks {
		e.checks = append(e.checks, &checkState{check: &cfg.Checks[i], next: start})
	}
	return e
}

// Checks is the number of checks.
func (e *Evaluator) Checks() int { return len(e.checks) }

// Check returns check i.
func (e *Evaluator) Check(i int) *healerpb.Check { return e.checks[i].check }

// NextDue is when the earliest check is due.
func (e *Evaluator) NextDue() time.Time {
	var next time.Time
	for _, c := range e.checks {
		if next.IsZero() || c.next.Before(next) {
			next = c.next
		}
	}
	return next
}

// Due lists the checks due at now, in config order.
func (e *Evaluator) Due(now time.Time) []int {
	var due []int
	for i, c := range e.checks {
		if !c.next.After(now) {
			due = append(due, i)
		}
	}
	return due
}

// Record stores check i's sample taken in the round that started at now,
// and schedules the check's next evaluation one interval after it was due
// (or after now, when the monitor fell behind).
func (e *Evaluator) Record(i int, now time.Time, s Sample) {
	c := e.checks[i]
	interval := time.Duration(c.check.IntervalNs)
	c.next = c.next.Add(interval)
	if !c.next.After(now) {
		c.next = now.Add(interval)
	}
	c.last = s
	if monitorconfig.Violated(c.check.Envelope, s.Value) {
		if c.since.IsZero() {
			c.since = now
		}
		if now.Sub(c.since) >= time.Duration(c.check.ForNs) {
			c.counts = true
		}
		return
	}
	if c.counts {
		c.recovered, c.recoveredAt, c.wasSince = true, now, c.since
	}
	c.since, c.counts = time.Time{}, false
}

// Report is the report of the round that started at now: every check that
// counts, and the checks that recovered since the last Report. nil when
// there is nothing to say. Recoveries are reported once. A NaN value
// (unmeasurable) is carried as it is; the message says why.
func (e *Evaluator) Report(now time.Time) *healerpb.MonitorReport {
	r := &healerpb.MonitorReport{AtUnixNano: now.UnixNano()}
	for _, c := range e.checks {
		switch {
		case c.counts:
			r.Violations = append(r.Violations, healerpb.Violation{
				Check: c.check.Name, Problem: c.check.Problem, Value: c.last.Value,
				Message: describe(c.check, c.last), SinceUnixNano: c.since.UnixNano(),
			})
		case c.recovered:
			r.Recovered = append(r.Recovered, healerpb.Violation{
				Check: c.check.Name, Problem: c.check.Problem, Value: c.last.Value,
				Message: describe(c.check, c.last), SinceUnixNano: c.wasSince.UnixNano(),
			})
		}
		c.recovered = false
	}
	if len(r.Violations) == 0 && len(r.Recovered) == 0 {
		return nil
	}
	sort.SliceStable(r.Violations, func(a, b int) bool { return r.Violations[a].SinceUnixNano < r.Violations[b].SinceUnixNano })
	return r
}

// maxMessage bounds a report entry's message (taskspec.MaxTextBytes).
const maxMessage = 512

// describe says what a check saw, e.g. "disk_used_ratio / = 0.97 (healthy ≤ 0.9)".
func describe(c *healerpb.Check, s Sample) string {
	var what string
	switch c.Kind {
	case healerpb.CHECK_KIND_BUILTIN:
		what = c.Metric
		if c.Path != "" {
			what += " " + c.Path
		}
	case healerpb.CHECK_KIND_COMMAND:
		what = "exit status"
	case healerpb.CHECK_KIND_HTTP:
		what = "GET " + c.Url
	case healerpb.CHECK_KIND_TCP:
		what = "connect " + c.Address
	}
	var msg string
	if math.IsNaN(s.Value) {
		msg = what + ": not measured (healthy " + monitorconfig.FormatEnvelope(c.Envelope) + ")"
	} else {
		msg = what + " = " + strconv.FormatFloat(s.Value, 'g', 6, 64) + " (healthy " + monitorconfig.FormatEnvelope(c.Envelope) + ")"
	}
	if s.Message != "" {
		msg += ": " + s.Message
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	return strings.ToValidUTF8(msg, "?")
}
