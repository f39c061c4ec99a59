package monitor

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/proto/healerpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func parse(t *testing.T, yaml string) *healerpb.MonitorConfig {
	t.Helper()
	cfg, err := monitorconfig.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func names(vs []healerpb.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Check)
	}
	return out
}

func TestEvaluatorForRecoveryAndRepeats(t *testing.T) {
	cfg := parse(t, `
checks:
  - {name: disk, problem: disk_full, metric: disk_used_ratio, path: /, max: 0.9, for: 2m, interval: 1m}
  - {name: now, problem: p, metric: load_per_cpu, max: 4, interval: 1m}
`)
	e := NewEvaluator(cfg, t0)
	type step struct {
		disk, load float64
		viol, rec  string // comma-separated check names in the report
	}
	steps := []step{
		{0.5, 1, "", ""},
		{0.95, 1, "", ""},         // disk out, for not reached (0 of 2m)
		{0.95, 5, "now", ""},      // 1m of 2m; load counts at once (for 0)
		{0.97, 5, "disk,now", ""}, // 2m: disk counts, since its first bad round
		{0.97, 1, "disk", "now"},  // load recovered: once
		{0.97, 1, "disk", ""},     // every round while violated
		{0.2, 1, "", "disk"},      // disk recovered
		{0.95, 1, "", ""},         // out again: its for starts over
		{math.NaN(), 1, "", ""},   // unmeasurable is out too
		{0.95, math.NaN(), "disk,now", ""},
	}
	var diskSince time.Time
	for i, s := range steps {
		now := t0.Add(time.Duration(i) * time.Minute)
		due := e.Due(now)
		if len(due) != 2 {
			t.Fatalf("round %d: due %v", i, due)
		}
		e.Record(0, now, Sample{Value: s.disk})
		e.Record(1, now, Sample{Value: s.load})
		r := e.Report(now)
		var viol, rec string
		if r != nil {
			viol, rec = strings.Join(names(r.Violations), ","), strings.Join(names(r.Recovered), ",")
			if r.AtUnixNano != now.UnixNano() {
				t.Errorf("round %d: at %d", i, r.AtUnixNano)
			}
		}
		if viol != s.viol || rec != s.rec {
			t.Fatalf("round %d: violations %q recovered %q, want %q %q", i, viol, rec, s.viol, s.rec)
		}
		if i == 3 {
			diskSince = time.Unix(0, r.Violations[0].SinceUnixNano)
			if r.Violations[0].Problem != "disk_full" || r.Violations[0].Value != 0.97 ||
				!strings.Contains(r.Violations[0].Message, "disk_used_ratio / = 0.97 (healthy ≤ 0.9)") {
				t.Errorf("violation %+v", r.Violations[0])
			}
		}
		if i == 6 && r.Recovered[0].SinceUnixNano != diskSince.UnixNano() {
			t.Errorf("recovery names the violation's start %v, want %v", time.Unix(0, r.Recovered[0].SinceUnixNano), diskSince)
		}
		if e.NextDue() != now.Add(time.Minute) {
			t.Fatalf("round %d: next due %v", i, e.NextDue())
		}
	}
	if want := t0.Add(time.Minute); !diskSince.Equal(want) {
		t.Errorf("disk violated since %v, want %v", diskSince, want)
	}
}

func TestEvaluatorSchedulesEachCheckAtItsInterval(t *testing.T) {
	cfg := parse(t, `
checks:
  - {name: fast, problem: p, tcp: "a:1", interval: 10s, timeout: 1s}
  - {name: slow, problem: p, tcp: "a:1", interval: 30s, timeout: 1s}
`)
	e := NewEvaluator(cfg, t0)
	counts := map[int]int{}
	now := t0
	for now.Before(t0.Add(time.Minute)) {
		for _, i := range e.Due(now) {
			counts[i]++
			e.Record(i, now, Sample{Value: 1})
		}
		now = e.NextDue()
	}
	if counts[0] != 6 || counts[1] != 2 {
		t.Errorf("evaluations in a minute: %v, want fast 6 and slow 2", counts)
	}
	// A monitor that fell behind does not run a backlog of rounds.
	late := now.Add(5 * time.Minute)
	for _, i := range e.Due(late) {
		e.Record(i, late, Sample{Value: 1})
	}
	if got := e.NextDue(); got != late.Add(10*time.Second) {
		t.Errorf("next due after a stall: %v", got.Sub(late))
	}
}

// fakeClock is a manual clock for Monitor.Run.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = kept
}

func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// fakeStats serves metric values set by the test.
type fakeStats struct {
	mu     sync.Mutex
	values map[string]float64
}

func (s *fakeStats) set(metric string, v float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[metric] = v
}

func (s *fakeStats) Metric(name, path string) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[name]
	if !ok {
		return math.NaN(), errors.New("no such statistic")
	}
	return v, nil
}

func TestMonitorRunReportsThroughSend(t *testing.T) {
	cfg := parse(t, `
interval: 10s
checks:
  - {name: mem, problem: memory_pressure, metric: mem_available_ratio, min: 0.1, for: 20s}
  - {name: fds, problem: fd_exhausted, metric: fd_used_ratio, max: 0.9}
`)
	clock := &fakeClock{now: t0}
	stats := &fakeStats{values: map[string]float64{"mem_available_ratio": 0.5, "fd_used_ratio": 0.1}}
	var mu sync.Mutex
	var reports []*healerpb.MonitorReport
	m := New(Config{Checks: cfg, AgentID: "a-S1", Hostname: "node-1", TaskID: "healer.monitor.a-S1.1",
		Prober: &Probes{Stats: stats}, Clock: clock,
		Send: func(_ context.Context, r *healerpb.MonitorReport) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, r)
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	got := func() []*healerpb.MonitorReport {
		mu.Lock()
		defer mu.Unlock()
		return append([]*healerpb.MonitorReport(nil), reports...)
	}
	tick := func() {
		t.Helper()
		clock.Advance(10 * time.Second)
		testtool.WaitFor(t, "the monitor to wait again", 10*time.Second, func() bool { return clock.waiting() == 1 })
	}
	testtool.WaitFor(t, "the first round", 10*time.Second, func() bool { return clock.waiting() == 1 })
	if len(got()) != 0 {
		t.Fatalf("healthy rounds sent %d reports", len(got()))
	}
	stats.set("mem_available_ratio", 0.05)
	tick() // t+10s: out, for 20s not reached
	tick() // t+20s: 10s
	if len(got()) != 0 {
		t.Fatalf("reported before for: %+v", got())
	}
	tick() // t+30s: 20s: counts
	tick() // t+40s: again
	rs := got()
	if len(rs) != 2 {
		t.Fatalf("%d reports, want 2", len(rs))
	}
	r := rs[0]
	if r.AgentId != "a-S1" || r.Hostname != "node-1" || r.TaskId != "healer.monitor.a-S1.1" ||
		r.AtUnixNano != t0.Add(30*time.Second).UnixNano() || len(r.Violations) != 1 ||
		r.Violations[0].Problem != "memory_pressure" || r.Violations[0].SinceUnixNano != t0.Add(10*time.Second).UnixNano() {
		t.Errorf("report %+v", r)
	}
	stats.set("mem_available_ratio", 0.5)
	tick() // recovered
	tick() // healthy: nothing
	rs = got()
	if len(rs) != 3 || len(rs[2].Violations) != 0 || len(rs[2].Recovered) != 1 || rs[2].Recovered[0].Check != "mem" {
		t.Fatalf("reports %+v", rs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.WriteHeader(http.StatusOK)
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	ln.Close() // now a closed port
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	var accepted sync.WaitGroup
	accepted.Add(1)
	go func() {
		defer accepted.Done()
		for {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer accepted.Wait()
	defer ln2.Close()

	p := &Probes{Stats: &fakeStats{values: map[string]float64{}}, Env: []string{"PATH=/usr/bin:/bin"}}
	for _, tc := range []struct {
		check   healerpb.Check
		value   float64 // NaN: unmeasured
		message string
	}{
		{healerpb.Check{Kind: healerpb.CHECK_KIND_HTTP, Url: srv.URL + "/health"}, 200, ""},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_HTTP, Url: srv.URL + "/broken"}, 503, ""},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_HTTP, Url: srv.URL + "/moved"}, 302, ""},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_HTTP, Url: "http://" + open + "/"}, 0, "connection refused"},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_TCP, Address: ln2.Addr().String()}, 1, ""},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_TCP, Address: open}, 0, "connection refused"},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_COMMAND, Command: "echo fine; echo 'disk broken' >&2; exit 3"}, 3, "disk broken"},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_COMMAND, Command: "trap '' TERM; sleep 5", TimeoutNs: int64(300 * time.Millisecond)}, math.NaN(), "timed out"},
		{healerpb.Check{Kind: healerpb.CHECK_KIND_BUILTIN, Metric: "load_per_cpu"}, math.NaN(), "no such statistic"},
	} {
		timeout := time.Duration(tc.check.TimeoutNs)
		if timeout == 0 {
			timeout = 5 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		s := p.Probe(ctx, &tc.check)
		cancel()
		if !(s.Value == tc.value || math.IsNaN(s.Value) && math.IsNaN(tc.value)) || !strings.Contains(s.Message, tc.message) {
			t.Errorf("%+v: sample %+v, want %v %q", tc.check, s, tc.value, tc.message)
		}
	}
}

func TestSystemStatsFromFixtures(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/loadavg", "6.00 5.00 4.00 3/500 12345\n")
	write("sys/devices/system/cpu/online", "0-1,4\n")
	write("proc/meminfo", "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\nSwapTotal:      400 kB\nSwapFree:       100 kB\n")
	write("proc/sys/fs/file-nr", "900\t0\t1000\n")
	s := &SystemStats{Proc: filepath.Join(dir, "proc"), Sys: filepath.Join(dir, "sys"),
		Statfs: func(path string, st *syscall.Statfs_t) error {
			if path != "/data" {
				return syscall.ENOENT
			}
			*st = syscall.Statfs_t{Bsize: 4096, Blocks: 1000, Bfree: 100, Bavail: 50, Files: 200, Ffree: 20}
			return nil
		}}
	for _, tc := range []struct {
		metric, path string
		want         float64
	}{
		{"load_per_cpu", "", 2},
		{"mem_available_ratio", "", 0.25},
		{"mem_available_bytes", "", 250 * 1024},
		{"swap_used_ratio", "", 0.75},
		{"fd_used_ratio", "", 0.9},
		{"disk_used_ratio", "/data", 900.0 / 950},
		{"disk_free_bytes", "/data", 50 * 4096},
		{"inode_used_ratio", "/data", 0.9},
	} {
		got, err := s.Metric(tc.metric, tc.path)
		if err != nil || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s %s = %v, %v; want %v", tc.metric, tc.path, got, err, tc.want)
		}
	}
	if _, err := s.Metric("disk_used_ratio", "/missing"); err == nil || !strings.Contains(err.Error(), "statfs /missing") {
		t.Errorf("missing mount: %v", err)
	}
	write("proc/meminfo", "MemTotal: 1000 kB\n")
	if _, err := s.Metric("mem_available_ratio", ""); err == nil {
		t.Error("meminfo without MemAvailable accepted")
	}
	for _, tc := range []struct {
		list string
		n    int
	}{{"0", 1}, {"0-3", 4}, {"0-1,4,6-7", 5}, {"x", 0}, {"3-1", 0}} {
		if got := countCPUList(tc.list); got != tc.n {
			t.Errorf("countCPUList(%q) = %d", tc.list, got)
		}
	}
}

// TestSystemStatsOnThisHost reads the real statistics: they must all be
// measurable on the Linux machines healer runs on.
func TestSystemStatsOnThisHost(t *testing.T) {
	s := &SystemStats{}
	for _, m := range monitorconfig.Metrics() {
		path := ""
		if monitorconfig.MetricNeedsPath(m) {
			path = "/"
		}
		v, err := s.Metric(m, path)
		if err != nil || math.IsNaN(v) || v < 0 {
			t.Errorf("%s = %v, %v", m, v, err)
		}
	}
}
