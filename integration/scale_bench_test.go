package integration

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// The 35,000-agent scale run (docs/scale.md): SCALE_AGENTS overrides the
// size; SCALE_PPROF=<dir> builds healer-scheduler with -tags pprof and
// saves CPU and heap profiles of each phase there.
const (
	scaleAgents          = 35_000
	scaleReportInterval  = 10 * time.Second
	scaleViolatingShare  = 100 // one in a hundred
	scaleWindow          = 60 * time.Second
	scaleSessionTimeout  = 10 * time.Second // --zk_session_timeout's default
	scaleAllowedRepairs  = 10
	scaleStatusPollEvery = 20 * time.Millisecond
)

// scaleFleet is the in-process side of every agent: a monitor that reports
// every scaleReportInterval (violations while its agent is in violation,
// nothing otherwise), and repair tasks that run until released.
type scaleFleet struct {
	violating sync.Map // agent id → true
	storm     atomic.Bool
	monitors  atomic.Int64
	repairs   atomic.Int64
	quick     atomic.Bool // repair tasks end after a second instead of running on
	triggers  sync.Map    // agent id → func() sending a report within a second
}

type scaleExecutor struct {
	f *scaleFleet
	taskEnds
}

func (f *scaleFleet) factory(mesos.FrameworkInfo, mesos.ExecutorInfo) emulator.FakeExecutor {
	return scaleExecutor{f: f}
}

func (x scaleExecutor) Launch(d *emulator.FakeDriver, task mesos.TaskInfo) {
	d.SendState(task.TaskID, mesos.TASK_RUNNING)
	ref, err := taskspec.Classify(task)
	if err != nil {
		return
	}
	if ref.Kind == taskspec.KindRepair {
		x.f.repairs.Add(1)
		if x.f.quick.Load() {
			d.After(time.Second, func() { d.SendState(task.TaskID, mesos.TASK_FINISHED) })
		}
		return
	}
	x.f.monitors.Add(1)
	agent := d.AgentID().Value
	send := func() {
		if !slices.Contains(d.LiveTasks(), task.TaskID) {
			return
		}
		rep := &healerpb.MonitorReport{AgentId: agent, TaskId: task.TaskID.Value, AtUnixNano: time.Now().UnixNano()}
		if _, bad := x.f.violating.Load(agent); bad || x.f.storm.Load() {
			rep.Violations = []healerpb.Violation{{Check: "scale", Problem: "scale_problem", Message: "out of range"}}
		}
		data, _ := taskspec.EncodeMonitorReport(rep)
		d.SendMessage(data)
	}
	var loop func()
	loop = func() {
		if slices.Contains(d.LiveTasks(), task.TaskID) {
			send()
			d.After(scaleReportInterval, loop)
		}
	}
	// Spread over the interval, as monitors started at different times are.
	d.After(time.Duration(rand.Int64N(int64(scaleReportInterval))), loop)
	// A storm: an extra report within the next second.
	x.f.triggers.Store(agent, func() { d.After(time.Duration(rand.Int64N(int64(time.Second))), send) })
}

// procStat is a process's CPU time (user + system) and resident set.
func procStat(pid int) (cpu time.Duration, rss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// Fields after the command name (which may hold spaces) in parens.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	pages, _ := strconv.ParseInt(f[21], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks, pages * int64(os.Getpagesize())
}

// metric reads one sample of the scheduler's /metrics (the first line that
// starts with name).
func (s *scheduler) metric(name string) float64 { return s.metrics(name)[name] }

// metrics reads the first series of each name from one scrape (-1 for a
// name it lacks).
func (s *scheduler) metrics(names ...string) map[string]float64 {
	out := make(map[string]float64, len(names))
	for _, n := range names {
		out[n] = -1
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	found := 0
	for sc.Scan() && found < len(names) {
		line := sc.Text()
		for _, n := range names {
			if out[n] == -1 && (strings.HasPrefix(line, n+" ") || strings.HasPrefix(line, n+"{")) {
				f := strings.Fields(line)
				out[n], _ = strconv.ParseFloat(f[len(f)-1], 64)
				found++
			}
		}
	}
	return out
}

// profile saves a CPU profile of seconds and a heap profile of the
// scheduler into SCALE_PPROF, when set.
func (s *scheduler) profile(b *testing.B, pprofAddr, phase string, seconds int) {
	dir := os.Getenv("SCALE_PPROF")
	if dir == "" || pprofAddr == "" {
		return
	}
	for _, p := range []struct{ path, file string }{
		{fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), phase + ".cpu.pprof"},
		{"/debug/pprof/heap?gc=1", phase + ".heap.pprof"},
	} {
		resp, err := http.Get("http://" + pprofAddr + p.path)
		if err != nil {
			b.Logf("pprof %s: %v", p.path, err)
			continue
		}
		f, err := os.Create(filepath.Join(dir, p.file))
		if err == nil {
			_, _ = f.ReadFrom(resp.Body)
			f.Close()
		}
		resp.Body.Close()
	}
}

// BenchmarkScale35kAgents is the scale run of docs/scale.md: 35,000 agents
// with a monitor each, against one leading healer-scheduler keeping its
// state in ZooKeeper. Three phases, each printed beside its target:
//
//  1. steady state: every monitor reports every 10 s (3,500 reports/s), 1%
//     of agents in violation; over a minute: the leader's CPU, RSS, live
//     heap per agent, and ZooKeeper writes (none: healthy reports and
//     duplicates cost nothing);
//  2. a storm: every agent reports a violation within one second; the
//     breaker trips, no more repairs run than the cap, GET /status answers
//     (p99) meanwhile;
//  3. ZooKeeper: total bytes, largest znode, bytes per agent without and
//     with a full history, and the time a new leader takes to read it all
//     and rebuild the coordinator.
func BenchmarkScale35kAgents(b *testing.B) {
	agents := scaleAgents
	if v, err := strconv.Atoi(os.Getenv("SCALE_AGENTS")); err == nil && v > 0 {
		agents = v
	}
	zks := zktest.Start(b)
	fleet := &scaleFleet{}
	for i := 0; i < agents; i += scaleViolatingShare {
		fleet.violating.Store(i, true) // by index until the ids are known
	}
	c := startCluster(b, emulator.ClusterConfig{Agents: agents, Agent: emulator.AgentConfig{FakeExecutors: fleet.factory, NoHTTP: true}})
	violating := 0
	for i, a := range c.Agents() {
		if _, ok := fleet.violating.LoadAndDelete(i); ok {
			fleet.violating.Store(a.ID().Value, true)
			violating++
		}
	}
	dir := b.TempDir()
	monitorCfg := filepath.Join(dir, "monitor.yaml")
	writeFile(b, monitorCfg, "interval: 10s\nchecks:\n  - {name: scale, problem: scale_problem, command: \"true\"}\n")
	pprofAddr := ""
	if os.Getenv("SCALE_PPROF") != "" {
		pprofAddr = freeAddr(b)
		os.Setenv("PPROF_LISTEN", pprofAddr)
		defer os.Unsetenv("PPROF_LISTEN")
	}
	s := startScheduler(b, c.MasterAddr(0), "--zk=zk://"+zks.Addr+"/healer", "--log_level=info",
		"--monitor_config="+monitorCfg, "--repair_set=restart=true", "--repair_order=restart:agent",
		"--num_allowed_repairs="+strconv.Itoa(scaleAllowedRepairs), "--max_unhealthy=20%", "--step_timeout=1hrs",
		"--probation=1hrs", "--offer_timeout=1hrs")
	pid := s.cmd.Process.Pid
	setup := time.Now()
	s.ready(10 * time.Minute)
	testtool.WaitFor(b, "a monitor on every agent", 30*time.Minute, func() bool { return fleet.monitors.Load() >= int64(agents) })
	testtool.WaitFor(b, "every violating agent's incident open", 5*time.Minute, func() bool {
		st, _ := s.status()
		return st.Counts.Pending+st.Counts.Repairing >= violating
	})
	setupTook := time.Since(setup)
	b.ResetTimer()

	// Phase 1: steady state.
	cpu0, _ := procStat(pid)
	w0 := s.zkWrites()
	r0 := s.metric("healer_monitor_reports_total")
	t0 := time.Now()
	var rssMax int64
	var heapInuse, heapLive []float64
	go s.profile(b, pprofAddr, "steady", 30)
	for time.Since(t0) < scaleWindow {
		time.Sleep(5 * time.Second) // sampling the process at an interval
		_, rss := procStat(pid)
		rssMax = max(rssMax, rss)
		m := s.metrics("go_memstats_heap_inuse_bytes", "go_memstats_last_gc_time_seconds", "go_gc_heap_live_bytes")
		heapInuse = append(heapInuse, m["go_memstats_heap_inuse_bytes"])
		// Only a GC of the steady phase says what it holds: the heap
		// live at the end of setting up is larger.
		if m["go_memstats_last_gc_time_seconds"] > float64(t0.UnixNano())/1e9 {
			heapLive = append(heapLive, m["go_gc_heap_live_bytes"])
		}
	}
	if len(heapLive) == 0 || slices.Min(heapLive) < 0 {
		b.Fatalf("no go_gc_heap_live_bytes after a GC of the steady phase in the scheduler's /metrics (%v)", heapLive)
	}
	cpu1, _ := procStat(pid)
	wall := time.Since(t0)
	writes := s.zkWrites() - w0
	reports := s.metric("healer_monitor_reports_total") - r0
	cores := float64(cpu1-cpu0) / float64(wall)
	// The live heap is what the leader holds: what a GC of the steady
	// phase marked live. Most GCs find what it keeps for its agents
	// (the least of the samples); one that runs while the minutely agent
	// list (GET_AGENTS, every agent at once) is being decoded and applied
	// finds that answer too (the most).
	livePerAgent := slices.Min(heapLive) / float64(agents)
	peakPerAgent := slices.Max(heapLive) / float64(agents)
	heapPerAgent := slices.Min(heapInuse) / float64(agents)

	// Phase 2: the storm.
	fleet.quick.Store(true)
	launches0 := len(c.Recorder().Records(emulator.RecordLaunch))
	var lat []time.Duration
	failed := 0
	stormStart := time.Now()
	fleet.storm.Store(true)
	fleet.triggers.Range(func(_, f any) bool {
		f.(func())()
		return true
	})
	var tripped time.Time
	for time.Since(stormStart) < 30*time.Second {
		t := time.Now()
		var st admin.Status
		code := s.request(http.MethodGet, "/status", nil, &st)
		lat = append(lat, time.Since(t))
		if code != http.StatusOK {
			failed++
		}
		if tripped.IsZero() && s.breakerTripped() {
			tripped = time.Now()
		}
		time.Sleep(scaleStatusPollEvery) // the poller's pace
	}
	peak := peakRunning(c.Recorder().Records())
	startedAfterTrip := 0
	for _, r := range c.Recorder().Records(emulator.RecordLaunch)[launches0:] {
		if strings.HasPrefix(r.TaskID, "healer.repair.") && !tripped.IsZero() && r.At.After(tripped) {
			startedAfterTrip++
		}
	}

	// Phase 3: ZooKeeper.
	b.StopTimer()
	conn, _, err := zk.Connect([]string{zks.Addr}, scaleSessionTimeout, zk.WithLogInfo(false))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	st, err := store.NewZK(conn, store.ZKConfig{Chroot: "/healer"})
	if err != nil {
		b.Fatal(err)
	}
	loadStart := time.Now()
	snap, err := st.Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(loadStart)
	restoreStart := time.Now()
	if _, err := coordinator.Restore(coordinator.DefaultPolicy(), snap.Agents, snap.Global); err != nil {
		b.Fatalf("restore: %v", err)
	}
	rebuilt := time.Since(restoreStart)
	var noHistory, noHistorySum, noHistoryN, full int
	for _, r := range snap.Agents {
		if len(r.History) == 0 {
			data, _ := store.EncodeAgent(r)
			noHistory = max(noHistory, len(data))
			noHistorySum += len(data)
			noHistoryN++
		}
	}
	full = fullHistoryBytes(b, snap.Agents[0])

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(cores, "leader-cores")
	b.ReportMetric(livePerAgent, "live-heap-B/agent")
	b.ReportMetric(peakPerAgent, "peak-live-heap-B/agent")
	b.ReportMetric(heapPerAgent, "heap-inuse-B/agent")
	b.ReportMetric(float64(writes), "zk-writes/min")
	b.ReportMetric(ms(percentile(lat, 0.99)), "status-p99-ms")
	b.ReportMetric(ms(loaded+rebuilt), "failover-load-ms")
	// The figures, each beside its target, as the run's last lines (a
	// benchmark's log keeps ten).
	b.Logf("%d agents (%d in violation), one leading healer-scheduler, state in ZooKeeper, %s; set up in %v",
		agents, violating, time.Now().UTC().Format("2006-01-02"), setupTook.Round(time.Second))
	b.Logf("steady: %.0f monitor reports/s (target %.0f/s); leader CPU %.1f%% of one core (target < 25%%); ZooKeeper writes in %v: %d (target 0)",
		reports/wall.Seconds(), float64(agents)/scaleReportInterval.Seconds(), 100*cores, wall.Round(time.Second), writes)
	b.Logf("steady: leader live heap %.1f MiB, %.0f B per agent (target < 1024 B); with an agent list being applied %.1f MiB, %.0f B per agent (the most of %d samples)",
		slices.Min(heapLive)/(1<<20), livePerAgent, slices.Max(heapLive)/(1<<20), peakPerAgent, len(heapLive))
	b.Logf("steady: heap in use (with the GC's free space in its spans) %.0f B per agent; RSS %.0f MiB, %.0f B per agent",
		heapPerAgent, float64(rssMax)/(1<<20), float64(rssMax)/float64(agents))
	b.Logf("storm: every agent reports a violation within 1s: breaker tripped after %v (target: trips); repairs started after: %d (target 0); most running at once: %d (target ≤ %d)",
		tripped.Sub(stormStart).Round(time.Millisecond), startedAfterTrip, peak, scaleAllowedRepairs)
	b.Logf("storm: GET /status every %v for 30s, %d requests: p50 %v, p99 %v (target < 100ms), max %v, %d not 200",
		scaleStatusPollEvery, len(lat), percentile(lat, 0.5).Round(time.Millisecond), percentile(lat, 0.99).Round(time.Millisecond),
		slices.Max(lat).Round(time.Millisecond), failed)
	b.Logf("zookeeper: %d znodes, %d bytes (%.0f per agent); largest znode %d bytes (%s)", snap.Stats.Znodes,
		snap.Stats.Bytes, float64(snap.Stats.Bytes)/float64(agents), snap.Stats.Largest, snap.Stats.LargestPath)
	b.Logf("zookeeper: agent record without history (all in an incident after the storm) %d bytes on average, %d at most (target ≤ 256); with a full history %d bytes (target ≤ 4096)",
		noHistorySum/max(1, noHistoryN), noHistory, full)
	b.Logf("zookeeper: a new leader reads all state in %v and rebuilds the coordinator in %v: %v (target < %v, the session timeout)",
		loaded.Round(time.Millisecond), rebuilt.Round(time.Millisecond), (loaded + rebuilt).Round(time.Millisecond), scaleSessionTimeout)
}

// fullHistoryBytes is the size of r's record with a full history of
// ordinary steps: HistoryLen attempts with a typical output tail.
func fullHistoryBytes(b *testing.B, r coordinator.AgentRecord) int {
	tail := strings.Repeat("restarting mesos-agent.service ... ok\n", 6)
	for i := range coordinator.HistoryLen {
		at := time.Now().Add(time.Duration(i) * time.Minute)
		r.History = append(r.History, coordinator.Attempt{ID: uint64(i + 1), Incident: uint64(i/2 + 1),
			Problem: "disk_full", Action: "restart", Scope: coordinator.ScopeAgent, StartedAt: at,
			EndedAt: at.Add(30 * time.Second), Result: coordinator.ResultSucceeded, OutputTail: tail})
	}
	data, err := store.EncodeAgent(r)
	if err != nil {
		b.Fatal(err)
	}
	return len(data)
}

func (s *scheduler) breakerTripped() bool {
	var st struct {
		Breaker struct {
			Tripped bool `json:"tripped"`
		} `json:"storm_breaker"`
	}
	s.request(http.MethodGet, "/status", nil, &st)
	return st.Breaker.Tripped
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
