// Package monitorconfig is the monitor configuration: the file an operator
// writes (--monitor_config, YAML or JSON, docs/monitor.md) and the resolved
// healerpb.MonitorConfig that travels to every agent in the monitor task's
// TaskInfo.data.
//
// Parse reads the file and returns a resolved config: every default filled
// in (interval, timeout, envelope), so what the executor evaluates is exactly
// what the scheduler validated. Validate checks a resolved config; the
// scheduler runs it through Parse at start-up, and the executor runs it again
// on what it receives, refusing the monitor task (TASK_FAILED with the
// reason) rather than guessing. Both return one error listing every problem,
// each naming its check (and, from Parse, its line).
package monitorconfig

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/healer-mesos/healer/proto/healerpb"
)

// Bounds and defaults.
const (
	// DefaultInterval is the design's collection interval: sub-minute
	// collection rarely pays.
	DefaultInterval = 60 * time.Second
	// MinInterval and MaxInterval bound a check's interval.
	MinInterval = time.Second
	MaxInterval = 24 * time.Hour
	// MaxFor bounds a check's for.
	MaxFor = 7 * 24 * time.Hour
	// DefaultTimeout is a check's timeout when the file sets none (capped
	// at its interval).
	DefaultTimeout = 10 * time.Second
	// MaxChecks bounds the checks of one config: each report lists every
	// violated check, and the config rides in every monitor task.
	MaxChecks = 100
	// MaxCommandBytes and MaxTargetBytes bound a command and a URL or
	// address.
	MaxCommandBytes = 4096
	MaxTargetBytes  = 2048
)

// The built-in statistics a BUILTIN check can watch.
const (
	// MetricLoadPerCPU is the 1-minute load average divided by the online
	// CPUs (the for duration does the smoothing).
	MetricLoadPerCPU = "load_per_cpu"
	// MetricMemAvailableRatio is MemAvailable / MemTotal (0..1).
	MetricMemAvailableRatio = "mem_available_ratio"
	// MetricMemAvailableBytes is MemAvailable in bytes.
	MetricMemAvailableBytes = "mem_available_bytes"
	// MetricSwapUsedRatio is used swap / total swap (0 without swap).
	MetricSwapUsedRatio = "swap_used_ratio"
	// MetricDiskUsedRatio is the used share of the filesystem holding path,
	// as df computes it (reserved blocks count as unavailable).
	MetricDiskUsedRatio = "disk_used_ratio"
	// MetricDiskFreeBytes is the bytes an unprivileged user can still
	// write on the filesystem holding path.
	MetricDiskFreeBytes = "disk_free_bytes"
	// MetricInodeUsedRatio is the used share of the inodes of the
	// filesystem holding path (0 on filesystems without an inode limit).
	MetricInodeUsedRatio = "inode_used_ratio"
	// MetricFDUsedRatio is allocated file handles / fs.file-max.
	MetricFDUsedRatio = "fd_used_ratio"
)

// metricInfo says what a metric needs and what its values look like.
type metricInfo struct {
	path  bool // needs a path
	ratio bool // values are 0..1
}

var metrics = map[string]metricInfo{
	MetricLoadPerCPU:        {},
	MetricMemAvailableRatio: {ratio: true},
	MetricMemAvailableBytes: {},
	MetricSwapUsedRatio:     {ratio: true},
	MetricDiskUsedRatio:     {path: true, ratio: true},
	MetricDiskFreeBytes:     {path: true},
	MetricInodeUsedRatio:    {path: true, ratio: true},
	MetricFDUsedRatio:       {ratio: true},
}

// Metrics lists the built-in statistics, for messages and documentation.
func Metrics() []string {
	return []string{MetricLoadPerCPU, MetricMemAvailableRatio, MetricMemAvailableBytes, MetricSwapUsedRatio,
		MetricDiskUsedRatio, MetricDiskFreeBytes, MetricInodeUsedRatio, MetricFDUsedRatio}
}

// MetricNeedsPath reports whether a metric is measured on a path.
func MetricNeedsPath(m string) bool { return metrics[m].path }

// namePattern is the scheduler's id and problem syntax (scheduler/config's
// idPattern): a problem reported here must be one its ladders can name.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

const nameRule = "use letters, digits, '_', '-', '.'; at most 63 characters; start with a letter or digit"

// Validate checks a resolved config and returns every problem found, joined,
// each naming its check. nil means the executor can run it as it is.
func Validate(cfg *healerpb.MonitorConfig) error {
	if cfg == nil {
		return errors.New("monitor config: none")
	}
	var errs []error
	if len(cfg.Checks) == 0 {
		errs = append(errs, errors.New("monitor config: no checks (give at least one; see docs/monitor.md)"))
	}
	if len(cfg.Checks) > MaxChecks {
		errs = append(errs, fmt.Errorf("monitor config: %d checks, at most %d are allowed", len(cfg.Checks), MaxChecks))
	}
	if cfg.DefaultIntervalNs < 0 {
		errs = append(errs, fmt.Errorf("monitor config: negative default interval %s", time.Duration(cfg.DefaultIntervalNs)))
	}
	seen := map[string]int{}
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		for _, p := range checkProblems(c) {
			errs = append(errs, fmt.Errorf("monitor config: %s: %s", checkLabel(c, i), p))
		}
		if j, dup := seen[c.Name]; dup && c.Name != "" {
			errs = append(errs, fmt.Errorf("monitor config: %s: name used by check #%d too (names must be unique)", checkLabel(c, i), j+1))
		} else {
			seen[c.Name] = i
		}
	}
	return errors.Join(errs...)
}

func checkLabel(c *healerpb.Check, i int) string {
	if c.Name == "" {
		return fmt.Sprintf("check #%d", i+1)
	}
	return fmt.Sprintf("check %q", c.Name)
}

// checkProblems lists what is wrong with one resolved check.
func checkProblems(c *healerpb.Check) []string {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if c.Name == "" {
		add("no name")
	} else if !namePattern.MatchString(c.Name) {
		add("invalid name %q (%s)", c.Name, nameRule)
	}
	if c.Problem == "" {
		add("no problem (the problem name the scheduler's ladders repair, e.g. disk_full)")
	} else if !namePattern.MatchString(c.Problem) {
		add("invalid problem %q (%s)", c.Problem, nameRule)
	}
	interval, forD, timeout := time.Duration(c.IntervalNs), time.Duration(c.ForNs), time.Duration(c.TimeoutNs)
	if interval < MinInterval || interval > MaxInterval {
		add("interval %s is outside %s..%s", interval, MinInterval, MaxInterval)
	}
	if forD < 0 || forD > MaxFor {
		add("for %s is outside 0..%s", forD, MaxFor)
	}
	if timeout <= 0 {
		add("no timeout")
	} else if interval > 0 && timeout > interval {
		add("timeout %s is longer than the interval %s", timeout, interval)
	}
	ps = append(ps, kindProblems(c)...)
	ps = append(ps, envelopeProblems(c)...)
	return ps
}

// targets are the kind-specific fields; a check sets exactly its kind's.
func kindProblems(c *healerpb.Check) []string {
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	set := map[string]bool{"metric": c.Metric != "", "path": c.Path != "", "command": c.Command != "",
		"http": c.Url != "", "tcp": c.Address != ""}
	own := map[healerpb.CheckKind][]string{
		healerpb.CHECK_KIND_BUILTIN: {"metric", "path"},
		healerpb.CHECK_KIND_COMMAND: {"command"},
		healerpb.CHECK_KIND_HTTP:    {"http"},
		healerpb.CHECK_KIND_TCP:     {"tcp"},
	}
	mine, ok := own[c.Kind]
	if !ok {
		return []string{fmt.Sprintf("unknown kind %d (set one of metric, command, http or tcp)", c.Kind)}
	}
	for _, f := range []string{"metric", "path", "command", "http", "tcp"} {
		if set[f] && !contains(mine, f) {
			add("%s does not belong to a %s check (a check has one of metric, command, http or tcp)", f, kindName(c.Kind))
		}
	}
	switch c.Kind {
	case healerpb.CHECK_KIND_BUILTIN:
		mi, known := metrics[c.Metric]
		switch {
		case c.Metric == "":
			add("no metric")
		case !known:
			add("unknown metric %q (known: %s)", c.Metric, strings.Join(Metrics(), ", "))
		case mi.path && c.Path == "":
			add("metric %s needs a path (the mount point to watch, e.g. /)", c.Metric)
		case !mi.path && c.Path != "":
			add("metric %s takes no path", c.Metric)
		case mi.path && (!path.IsAbs(c.Path) || path.Clean(c.Path) != c.Path || len(c.Path) > MaxTargetBytes):
			add("path %q must be absolute and clean, e.g. /var/lib/mesos", c.Path)
		}
	case healerpb.CHECK_KIND_COMMAND:
		switch {
		case strings.TrimSpace(c.Command) == "":
			add("empty command")
		case len(c.Command) > MaxCommandBytes:
			add("command longer than %d bytes (put it in a script and give its path)", MaxCommandBytes)
		case strings.ContainsRune(c.Command, 0):
			add("command contains a NUL byte")
		}
	case healerpb.CHECK_KIND_HTTP:
		if p := urlProblem(c.Url); p != "" {
			add("%s", p)
		}
	case healerpb.CHECK_KIND_TCP:
		if p := addressProblem(c.Address); p != "" {
			add("%s", p)
		}
	}
	return ps
}

func kindName(k healerpb.CheckKind) string {
	switch k {
	case healerpb.CHECK_KIND_BUILTIN:
		return "metric"
	case healerpb.CHECK_KIND_COMMAND:
		return "command"
	case healerpb.CHECK_KIND_HTTP:
		return "http"
	case healerpb.CHECK_KIND_TCP:
		return "tcp"
	}
	return "unknown"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func urlProblem(raw string) string {
	if raw == "" {
		return "no URL"
	}
	if len(raw) > MaxTargetBytes {
		return fmt.Sprintf("URL longer than %d bytes", MaxTargetBytes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("invalid URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("URL %q: want http:// or https://", raw)
	}
	if u.Host == "" {
		return fmt.Sprintf("URL %q has no host (e.g. http://127.0.0.1:5051/health)", raw)
	}
	return ""
}

func addressProblem(a string) string {
	if a == "" {
		return "no address"
	}
	if len(a) > MaxTargetBytes {
		return fmt.Sprintf("address longer than %d bytes", MaxTargetBytes)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Sprintf("invalid address %q: want host:port, e.g. 127.0.0.1:2181", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("address %q: port must be a number in 1..65535", a)
	}
	if host == "" {
		return fmt.Sprintf("address %q has no host", a)
	}
	return ""
}

func envelopeProblems(c *healerpb.Check) []string {
	e := c.Envelope
	var ps []string
	add := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	if !e.HasMin && !e.HasMax {
		add("no envelope: give min, max or both (the healthy range of the value)")
	}
	if e.HasMin && !finite(e.Min) {
		add("min %v is not a finite number", e.Min)
	}
	if e.HasMax && !finite(e.Max) {
		add("max %v is not a finite number", e.Max)
	}
	if e.HasMin && e.HasMax && e.Min > e.Max {
		add("min %v is above max %v: no value would be healthy", e.Min, e.Max)
	}
	if c.Kind == healerpb.CHECK_KIND_BUILTIN && metrics[c.Metric].ratio {
		for _, b := range []struct {
			has  bool
			v    float64
			name string
		}{{e.HasMin, e.Min, "min"}, {e.HasMax, e.Max, "max"}} {
			if b.has && finite(b.v) && (b.v < 0 || b.v > 1) {
				add("%s %v is outside 0..1: %s is a ratio (write 0.9 for 90%%)", b.name, b.v, c.Metric)
			}
		}
	}
	return ps
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Violated reports whether value is outside the envelope. NaN (a value that
// could not be measured) is always outside.
func Violated(e healerpb.Envelope, value float64) bool {
	if math.IsNaN(value) {
		return true
	}
	return (e.HasMin && value < e.Min) || (e.HasMax && value > e.Max)
}

// FormatEnvelope prints an envelope for messages, e.g. "≤ 0.9" or "200..299".
func FormatEnvelope(e healerpb.Envelope) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case e.HasMin && e.HasMax && e.Min == e.Max:
		return "= " + f(e.Min)
	case e.HasMin && e.HasMax:
		return f(e.Min) + ".." + f(e.Max)
	case e.HasMin:
		return "≥ " + f(e.Min)
	case e.HasMax:
		return "≤ " + f(e.Max)
	}
	return "any"
}
