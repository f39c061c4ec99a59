package monitorconfig

import (
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/proto/healerpb"
)

func TestParseResolvesDefaults(t *testing.T) {
	cfg, err := Parse("m.yaml", []byte(`
interval: 30s
checks:
  - name: root_disk
    problem: disk_full
    metric: disk_used_ratio
    path: /
    max: 0.9
    for: 5m
  - name: agent
    problem: agent_unhealthy
    http: http://127.0.0.1:5051/health
    interval: 2mins
  - name: agent_exact
    problem: agent_unhealthy
    http: https://127.0.0.1:5051/health
    expect_status: 204
    timeout: 3s
  - name: docker
    problem: docker_down
    command: docker info >/dev/null
    interval: 5s
  - name: zk
    problem: zk_unreachable
    tcp: 127.0.0.1:2181
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []healerpb.Check{
		{Name: "root_disk", Problem: "disk_full", Kind: healerpb.CHECK_KIND_BUILTIN, Metric: "disk_used_ratio", Path: "/",
			IntervalNs: int64(30 * time.Second), TimeoutNs: int64(10 * time.Second), ForNs: int64(5 * time.Minute),
			Envelope: healerpb.Envelope{HasMax: true, Max: 0.9}},
		{Name: "agent", Problem: "agent_unhealthy", Kind: healerpb.CHECK_KIND_HTTP, Url: "http://127.0.0.1:5051/health",
			IntervalNs: int64(2 * time.Minute), TimeoutNs: int64(10 * time.Second),
			Envelope: healerpb.Envelope{HasMin: true, Min: 200, HasMax: true, Max: 299}},
		{Name: "agent_exact", Problem: "agent_unhealthy", Kind: healerpb.CHECK_KIND_HTTP, Url: "https://127.0.0.1:5051/health",
			IntervalNs: int64(30 * time.Second), TimeoutNs: int64(3 * time.Second),
			Envelope: healerpb.Envelope{HasMin: true, Min: 204, HasMax: true, Max: 204}},
		{Name: "docker", Problem: "docker_down", Kind: healerpb.CHECK_KIND_COMMAND, Command: "docker info >/dev/null",
			IntervalNs: int64(5 * time.Second), TimeoutNs: int64(5 * time.Second),
			Envelope: healerpb.Envelope{HasMax: true, Max: 0}},
		{Name: "zk", Problem: "zk_unreachable", Kind: healerpb.CHECK_KIND_TCP, Address: "127.0.0.1:2181",
			IntervalNs: int64(30 * time.Second), TimeoutNs: int64(10 * time.Second),
			Envelope: healerpb.Envelope{HasMin: true, Min: 1}},
	}
	if cfg.DefaultIntervalNs != int64(30*time.Second) || len(cfg.Checks) != len(want) {
		t.Fatalf("config %+v", cfg)
	}
	for i := range want {
		if !reflect.DeepEqual(cfg.Checks[i], want[i]) {
			t.Errorf("check %d:\n got %+v\nwant %+v", i, cfg.Checks[i], want[i])
		}
	}
	if err := Validate(cfg); err != nil {
		t.Errorf("Validate of Parse's output: %v", err)
	}
}

func TestParseJSONAndDefaultInterval(t *testing.T) {
	cfg, err := Parse("m.json", []byte(`{"checks":[{"name":"load","problem":"overloaded","metric":"load_per_cpu","max":4}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c := cfg.Checks[0]; c.IntervalNs != int64(DefaultInterval) || c.TimeoutNs != int64(DefaultTimeout) || c.ForNs != 0 {
		t.Errorf("check %+v", c)
	}
}

// TestParseReportsEveryProblem: one error lists every problem, each with
// its line and check, and says what to do.
func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse("m.yaml", []byte(`
intervall: 30s
checks:
  - name: a
    problem: disk_full
    metric: disk_used_ratio
    max: 90
  - name: a
    problem: x
    command: "true"
  - name: both
    problem: p
    command: "true"
    tcp: 127.0.0.1:1
  - name: bad_url
    problem: p
    http: ftp://x/
  - name: bad_tcp
    problem: p
    tcp: localhost
  - name: nowhat
    problem: p
  - name: env
    problem: p
    metric: load_per_cpu
  - name: inverted
    problem: p
    metric: load_per_cpu
    min: 3
    max: 1
  - name: unit
    problem: p
    metric: fd_used_ratio
    max: 0.5
    for: 30
  - name: slow
    problem: "bad problem"
    command: "true"
    interval: 5s
    timeout: 10s
  - name: wat
    problem: p
    metric: cpu_temperature
    max: 1
    pathh: /
`))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`line 2: unknown key "intervall"; did you mean "interval"?`,
		`line 4: check "a": metric disk_used_ratio needs a path`,
		`line 4: check "a": max 90 is outside 0..1: disk_used_ratio is a ratio (write 0.9 for 90%)`,
		`line 8: check "a": name already used by the check on line 4`,
		`line 11: check "both": sets command and tcp`,
		`line 15: check "bad_url": URL "ftp://x/": want http:// or https://`,
		`line 18: check "bad_tcp": invalid address "localhost": want host:port`,
		`line 21: check "nowhat": say what it checks`,
		`line 23: check "env": no envelope`,
		`line 26: check "inverted": min 3 is above max 1`,
		`line 35: for: "30" has no unit (write e.g. 30s or 30mins)`,
		`check "slow": invalid problem "bad problem"`,
		`check "slow": timeout 10s is longer than the interval 5s`,
		`unknown key "pathh"; did you mean "path"?`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if !strings.HasPrefix(msg, "monitor config m.yaml: ") {
		t.Errorf("error does not name the file: %s", msg)
	}
}

func TestParseStructuralErrors(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "empty file"},
		{"null", "~", "the top level must be a mapping"},
		{"list", "- a", "the top level must be a mapping"},
		{"no checks", "interval: 1m", "no checks"},
		{"checks mapping", "checks: {a: 1}", "want a list of checks"},
		{"empty checks", "checks: []", "empty list"},
		{"check scalar", "checks: [x]", "check #1: want a mapping"},
		{"json syntax", "{\"checks\": [\n,]}", "line 2, column 1: invalid JSON"},
		{"yaml syntax", "checks:\n  - name: [", "yaml:"},
		{"list value", "checks:\n  - name: [a]\n    problem: p\n    tcp: a:1", "name: want a single value"},
		{"null value", "checks:\n  - name:\n    problem: p\n    tcp: a:1", "name: no value"},
		{"twice", "checks:\n  - name: a\n    name: b\n    problem: p\n    tcp: a:1", "name: set twice"},
		{"bad float", "checks:\n  - name: a\n    problem: p\n    metric: load_per_cpu\n    max: lots", `max: "lots" is not a number`},
		{"bad status", "checks:\n  - name: a\n    problem: p\n    http: http://a/\n    expect_status: 42", "not an HTTP status"},
		{"status on tcp", "checks:\n  - name: a\n    problem: p\n    tcp: a:1\n    expect_status: 200", "expect_status is for http checks"},
		{"status and max", "checks:\n  - name: a\n    problem: p\n    http: http://a/\n    expect_status: 200\n    max: 300", "not both"},
		{"path on load", "checks:\n  - name: a\n    problem: p\n    metric: load_per_cpu\n    path: /\n    max: 1", "takes no path"},
		{"relative path", "checks:\n  - name: a\n    problem: p\n    metric: disk_free_bytes\n    path: var\n    min: 1", "must be absolute"},
		{"bad interval", "checks:\n  - name: a\n    problem: p\n    tcp: a:1\n    interval: 10ms", "interval 10ms is outside 1s..24h0m0s"},
		{"too many", "checks:\n" + strings.Repeat("  - {name: a, problem: p, tcp: 'a:1'}\n", MaxChecks+1), "at most 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("m.yaml", []byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestValidateRefusesWhatParseNeverWrites: the executor validates what it
// receives, which may come from another healer version or a bug.
func TestValidateRefusesWhatParseNeverWrites(t *testing.T) {
	good := func() *healerpb.MonitorConfig {
		return &healerpb.MonitorConfig{Checks: []healerpb.Check{{Name: "a", Problem: "p", Kind: healerpb.CHECK_KIND_TCP,
			Address: "127.0.0.1:1", IntervalNs: int64(time.Minute), TimeoutNs: int64(time.Second),
			Envelope: healerpb.Envelope{HasMin: true, Min: 1}}}}
	}
	if err := Validate(good()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*healerpb.MonitorConfig)
		want string
	}{
		{"nil", nil, "none"},
		{"no checks", func(c *healerpb.MonitorConfig) { c.Checks = nil }, "no checks"},
		{"unresolved interval", func(c *healerpb.MonitorConfig) { c.Checks[0].IntervalNs = 0 }, "interval 0s is outside"},
		{"unresolved timeout", func(c *healerpb.MonitorConfig) { c.Checks[0].TimeoutNs = 0 }, "no timeout"},
		{"no envelope", func(c *healerpb.MonitorConfig) { c.Checks[0].Envelope = healerpb.Envelope{} }, "no envelope"},
		{"nan", func(c *healerpb.MonitorConfig) { c.Checks[0].Envelope.Min = math.NaN() }, "not a finite number"},
		{"unknown kind", func(c *healerpb.MonitorConfig) { c.Checks[0].Kind = 9 }, "unknown kind 9"},
		{"foreign field", func(c *healerpb.MonitorConfig) { c.Checks[0].Command = "true" }, "command does not belong to a tcp check"},
		{"duplicate", func(c *healerpb.MonitorConfig) { c.Checks = append(c.Checks, c.Checks[0]) }, `check "a": name used by check #1 too`},
		{"no name", func(c *healerpb.MonitorConfig) { c.Checks[0].Name = "" }, "check #1: no name"},
		{"negative for", func(c *healerpb.MonitorConfig) { c.Checks[0].ForNs = -1 }, "for -1ns is outside"},
		{"nul", func(c *healerpb.MonitorConfig) {
			c.Checks[0].Kind, c.Checks[0].Address, c.Checks[0].Command = healerpb.CHECK_KIND_COMMAND, "", "a\x00b"
		}, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *healerpb.MonitorConfig
			if tc.edit != nil {
				cfg = good()
				tc.edit(cfg)
			}
			err := Validate(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestViolatedAndFormat(t *testing.T) {
	e := healerpb.Envelope{HasMin: true, Min: 0, HasMax: true, Max: 0.9}
	for _, tc := range []struct {
		v    float64
		want bool
	}{{0, false}, {0.9, false}, {0.91, true}, {-0.1, true}, {math.NaN(), true}} {
		if got := Violated(e, tc.v); got != tc.want {
			t.Errorf("Violated(%v) = %v", tc.v, got)
		}
	}
	if Violated(healerpb.Envelope{HasMax: true, Max: 0}, 0) || !Violated(healerpb.Envelope{HasMax: true}, 1) {
		t.Error("a max of 0 is a real bound")
	}
	for _, tc := range []struct {
		e    healerpb.Envelope
		want string
	}{
		{e, "0..0.9"}, {healerpb.Envelope{HasMax: true}, "≤ 0"}, {healerpb.Envelope{HasMin: true, Min: 1}, "≥ 1"},
		{healerpb.Envelope{HasMin: true, Min: 204, HasMax: true, Max: 204}, "= 204"}, {healerpb.Envelope{}, "any"},
	} {
		if got := FormatEnvelope(tc.e); got != tc.want {
			t.Errorf("FormatEnvelope(%+v) = %q, want %q", tc.e, got, tc.want)
		}
	}
}

// TestDocumentedExamplesParse keeps docs/monitor.md honest: every YAML
// example in it parses.
func TestDocumentedExamplesParse(t *testing.T) {
	doc, err := os.ReadFile("../../docs/monitor.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml examples in docs/monitor.md")
	}
	for i, b := range blocks {
		cfg, err := Parse("docs/monitor.md example", b[1])
		if err != nil {
			t.Errorf("example %d: %v", i+1, err)
			continue
		}
		if len(cfg.Checks) == 0 {
			t.Errorf("example %d has no checks", i+1)
		}
	}
}
