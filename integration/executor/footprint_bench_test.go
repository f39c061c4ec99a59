package executor_test

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/mesosduration"
	"github.com/healer-mesos/healer/internal/testtool"
)

// FootprintEnv sets how long BenchmarkMonitorFootprint watches the executor
// (`make bench-executor` sets 5m); unset, the benchmark is skipped, to keep
// `make bench` short.
const FootprintEnv = "HEALER_BENCH_FOOTPRINT"

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// BenchmarkMonitorFootprint runs a monitor task with 10 checks at a 10 s
// interval (built-in statistics, HTTP, TCP and a command) and measures the
// executor process: its peak RSS and its own CPU time over the run (the
// command check's children are reported apart). It fails above 20 MB or 1 %
// of one core.
func BenchmarkMonitorFootprint(b *testing.B) {
	spec := os.Getenv(FootprintEnv)
	if spec == "" {
		b.Skip("set " + FootprintEnv + "=5m (make bench-executor) to run the executor footprint benchmark")
	}
	watch, err := mesosduration.Parse(spec)
	if err != nil {
		b.Fatalf("%s: %v", FootprintEnv, err)
	}
	for i := 0; i < b.N; i++ {
		footprint(b, watch)
	}
}

func footprint(b *testing.B, watch time.Duration) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() { // ends when ln closes
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	tb := testing.TB(b)
	c, a := testCluster(tb, nil)
	f := startFramework(tb, c, true)
	agent := a.ID().Value
	ex := executorInfo(tb, time.Minute)
	mon := monitorTask(tb, ex, agent, 1, `
interval: 10s
checks:
  - {name: load, problem: overloaded, metric: load_per_cpu, max: 1000}
  - {name: mem, problem: memory_pressure, metric: mem_available_ratio, min: 0}
  - {name: mem_bytes, problem: memory_pressure, metric: mem_available_bytes, min: 0}
  - {name: swap, problem: memory_pressure, metric: swap_used_ratio, max: 1}
  - {name: disk, problem: disk_full, metric: disk_used_ratio, path: /, max: 1}
  - {name: inodes, problem: inodes_exhausted, metric: inode_used_ratio, path: /, max: 1}
  - {name: fds, problem: fd_exhausted, metric: fd_used_ratio, max: 1}
  - {name: http, problem: agent_unhealthy, http: `+srv.URL+`/health, timeout: 5s}
  - {name: tcp, problem: zk_unreachable, tcp: "`+ln.Addr().String()+`", timeout: 5s}
  - {name: command, problem: docker_down, command: "true", timeout: 5s}
`)
	f.launch(agent, mon)
	f.waitUpdate(mon.TaskID.Value, mesos.TASK_RUNNING)
	var pid int
	testtool.WaitFor(tb, "the executor process", 10*time.Second, func() bool {
		pid = executorPid(a.WorkDir())
		return pid > 0
	})
	b.ResetTimer()
	startCPU, startChildren := cpuTicks(b, pid)
	start := time.Now()
	var maxRSS int64
	for time.Since(start) < watch {
		if rss := statusKB(b, pid, "VmRSS:"); rss > maxRSS {
			maxRSS = rss
		}
		time.Sleep(time.Second) // sampling, not waiting for an event
	}
	elapsed := time.Since(start)
	endCPU, endChildren := cpuTicks(b, pid)
	b.StopTimer()
	hwm := statusKB(b, pid, "VmHWM:")
	cpu := float64(endCPU-startCPU) / clockTicks / elapsed.Seconds() * 100
	children := float64(endChildren-startChildren) / clockTicks / elapsed.Seconds() * 100
	rssMB := float64(max(hwm, maxRSS)) / 1024
	b.ReportMetric(rssMB, "peak-RSS-MB")
	b.ReportMetric(cpu, "cpu-%-of-core")
	b.ReportMetric(children, "children-cpu-%")
	b.Logf("executor over %s: peak RSS %.1f MB, own CPU %.3f%% of one core, command-check children %.3f%%",
		elapsed.Round(time.Second), rssMB, cpu, children)
	if rssMB >= 20 || cpu >= 1 {
		b.Errorf("footprint over budget: %.1f MB RSS (budget 20), %.3f%% CPU (budget 1%%)", rssMB, cpu)
	}
	f.mustCall(calls.Kill(mon.TaskID.Value, agent))
	f.waitUpdate(mon.TaskID.Value, mesos.TASK_KILLED)
}

// executorPid finds the healer-executor process whose working directory is
// under workDir.
func executorPid(workDir string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmd, err := os.ReadFile(p + "/cmdline")
		if err != nil || !bytes.HasPrefix(cmd, []byte("healer-executor\x00")) {
			continue
		}
		cwd, err := os.Readlink(p + "/cwd")
		if err == nil && strings.HasPrefix(cwd, workDir) {
			pid, _ := strconv.Atoi(filepath.Base(p))
			return pid
		}
	}
	return 0
}

// cpuTicks returns a process's own CPU time (utime+stime) and that of its
// reaped children (cutime+cstime), in clock ticks.
func cpuTicks(b *testing.B, pid int) (own, children int64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// After "pid (comm) ": state(0) ... utime(11) stime(12) cutime(13) cstime(14).
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
	return n(11) + n(12), n(13) + n(14)
}

// statusKB reads a kB field of /proc/<pid>/status.
func statusKB(b *testing.B, pid int, field string) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb
		}
	}
	return 0
}
