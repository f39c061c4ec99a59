// Package executor_test runs the real healer-executor binary on the Mesos
// emulator's agents (real processes, the real MESOS_* environment, the v1
// executor API on the wire), driven by a minimal mesos-go framework.
package executor_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/proto/healerpb"
)

func TestMain(m *testing.M) {
	dir, err := buildExecutor()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// TestRepairTasks: one executor runs a successful repair, then a failing
// one, reporting RUNNING then FINISHED / FAILED with the outcome in the
// status data, and the step environment in the command's.
func TestRepairTasks(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)

	ok := repairTask(t, ex, agent, 1, `echo "repairing $REPAIR_ACTION for $REPAIR_PROBLEM on $REPAIR_AGENT_ID ($REPAIR_HOSTNAME) attempt $REPAIR_ATTEMPT incident $REPAIR_INCIDENT timeout $REPAIR_TIMEOUT scope $REPAIR_SCOPE"`,
		30*time.Second, time.Second)
	f.launch(agent, ok)
	f.waitUpdate(ok.TaskID.Value, mesos.TASK_RUNNING)
	st := f.waitUpdate(ok.TaskID.Value, mesos.TASK_FINISHED)
	r := repairResult(t, st)
	want := fmt.Sprintf("repairing clean_disk for disk_full on %s (node-1) attempt 1 incident 1 timeout 30 scope agent\n", agent)
	if r.ExitCode != 0 || r.TimedOut || r.Killed || string(r.OutputTail) != want || r.DurationNs <= 0 ||
		r.EndedAtUnixNano < r.StartedAtUnixNano || st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Errorf("result %+v (tail %q), status %v", r, r.OutputTail, st)
	}

	bad := repairTask(t, ex, agent, 2, `echo "step output"; echo "disk is beyond saving" >&2; exit 3`, 30*time.Second, time.Second)
	f.launch(agent, bad)
	st = f.waitUpdate(bad.TaskID.Value, mesos.TASK_FAILED)
	r = repairResult(t, st)
	if r.ExitCode != 3 || r.TimedOut || !bytes.Contains(r.OutputTail, []byte("disk is beyond saving")) ||
		!strings.Contains(st.GetMessage(), "exited with status 3") {
		t.Errorf("result %+v, message %q", r, st.GetMessage())
	}
	if got := f.statesOf(bad.TaskID.Value); len(got) != 2 || got[0] != mesos.TASK_RUNNING {
		t.Errorf("states %v, want RUNNING then FAILED", got)
	}
	if n := len(sandboxes(a, f.fid, ex)); n != 1 {
		t.Errorf("%d executor runs, want one executor for both tasks", n)
	}
}

// stubbornCommand starts a grandchild that ignores SIGTERM and records its
// pid in pidFile, then hangs, ignoring SIGTERM itself.
func stubbornCommand(pidFile string) string {
	return `trap "" TERM; (trap "" TERM; echo $(sh -c 'echo $PPID') > ` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile +
		`; while :; do sleep 1; done) & echo started; while :; do sleep 1; done`
}

func readPid(t testing.TB, path string) int {
	t.Helper()
	var pid int
	testtool.WaitFor(t, "the grandchild's pid", 10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// processGone: the process no longer runs (or is a zombie waiting for its
// new parent).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

func assertNoOrphan(t *testing.T, pid int) {
	t.Helper()
	if !processGone(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d outlived its task: an orphan was left behind", pid)
	}
}

// TestRepairTimeoutKillsTheProcessGroup: a step past its timeout gets
// SIGTERM, then SIGKILL after its kill grace, on its whole process group;
// it fails with timed_out and nothing it started survives.
func TestRepairTimeoutKillsTheProcessGroup(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)
	pidFile := filepath.Join(t.TempDir(), "grandchild")

	task := repairTask(t, ex, agent, 1, stubbornCommand(pidFile), time.Second, 500*time.Millisecond)
	f.launch(agent, task)
	pid := readPid(t, pidFile)
	st := f.waitUpdate(task.TaskID.Value, mesos.TASK_FAILED)
	r := repairResult(t, st)
	if !r.TimedOut || r.Killed || r.Signal != int32(syscall.SIGKILL) || r.ExitCode != -1 ||
		r.DurationNs < int64(1500*time.Millisecond) || !bytes.Contains(r.OutputTail, []byte("started")) ||
		!strings.Contains(st.GetMessage(), "timed out") {
		t.Errorf("result %+v, message %q", r, st.GetMessage())
	}
	assertNoOrphan(t, pid)
}

// TestRepairKill: a KILL mid-run stops the step (SIGTERM first, which it
// may handle) and reports TASK_KILLED with what it wrote.
func TestRepairKill(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)

	// The KILL goes once the trap is set (the file says so): TASK_RUNNING
	// only says the shell started.
	trapped := filepath.Join(t.TempDir(), "trapped")
	task := repairTask(t, ex, agent, 1, `trap 'echo "cleaning up after TERM"; exit 143' TERM; echo working; : > `+trapped+`; while :; do sleep 0.1; done`,
		time.Hour, 10*time.Second)
	f.launch(agent, task)
	f.waitUpdate(task.TaskID.Value, mesos.TASK_RUNNING)
	testtool.WaitFor(t, "the step's TERM trap set", 10*time.Second, func() bool {
		_, err := os.Stat(trapped)
		return err == nil
	})
	f.mustCall(calls.Kill(task.TaskID.Value, agent))
	st := f.waitUpdate(task.TaskID.Value, mesos.TASK_KILLED)
	r := repairResult(t, st)
	if !r.Killed || r.TimedOut || r.ExitCode != 143 || !bytes.Contains(r.OutputTail, []byte("cleaning up after TERM")) ||
		st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Errorf("result %+v (tail %q), status %v", r, r.OutputTail, st)
	}
}

// TestAgentRestartResubscribes: the agent restarts while a repair runs and
// the step ends while the agent is still recovering; the executor keeps the
// task running, re-subscribes with the unacknowledged update, and the
// outcome reaches the scheduler.
func TestAgentRestartResubscribes(t *testing.T) {
	c, a := testCluster(t, func(cfg *emulator.AgentConfig) { cfg.RecoveryDelay = 2 * time.Second })
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)
	release := filepath.Join(t.TempDir(), "release")

	task := repairTask(t, ex, agent, 1, `while [ ! -e `+release+` ]; do sleep 0.05; done; echo "done after the restart"`, time.Minute, time.Second)
	f.launch(agent, task)
	f.waitUpdate(task.TaskID.Value, mesos.TASK_RUNNING)

	restarted := make(chan error, 1)
	go func() { restarted <- c.RestartAgent(agent) }()
	// While the agent recovers its executor API answers 503: the step ends
	// then, and its update cannot be delivered.
	testtool.WaitFor(t, "the agent to be recovering", 10*time.Second, func() bool {
		resp, err := http.Post("http://"+a.Endpoint()+"/api/v1/executor", "application/x-protobuf", nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	st := f.waitUpdate(task.TaskID.Value, mesos.TASK_FINISHED)
	if r := repairResult(t, st); !bytes.Contains(r.OutputTail, []byte("done after the restart")) {
		t.Errorf("result %+v", r)
	}
	if n := len(sandboxes(a, f.fid, ex)); n != 1 {
		t.Errorf("%d executor runs: the executor did not survive the agent restart", n)
	}
	log := executorLog(t, a, f.fid, ex)
	if !strings.Contains(log, "unacknowledged_updates=1") || strings.Count(log, "msg=subscribed") < 2 {
		t.Errorf("the executor did not re-subscribe with its unacknowledged update:\n%s", log)
	}
	// It still runs tasks.
	next := repairTask(t, ex, agent, 2, "true", time.Minute, time.Second)
	f.launch(agent, next)
	f.waitUpdate(next.TaskID.Value, mesos.TASK_FINISHED)
}

func monitorTask(t testing.TB, ex mesos.ExecutorInfo, agent string, seq uint64, yaml string) mesos.TaskInfo {
	t.Helper()
	cfg, err := monitorconfig.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ti, err := taskspec.MonitorTaskInfo(ex, mesos.AgentID{Value: agent}, seq, cfg, taskResources)
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

// TestShutdown: SHUTDOWN kills the monitor and a running repair (its whole
// process group) within the grace period, reports both TASK_KILLED, and the
// executor exits 0.
func TestShutdown(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)
	pidFile := filepath.Join(t.TempDir(), "grandchild")

	mon := monitorTask(t, ex, agent, 1, "checks:\n  - {name: ok, problem: p, command: 'true', interval: 1s, timeout: 1s}\n")
	rep := repairTask(t, ex, agent, 1, stubbornCommand(pidFile), time.Hour, 10*time.Second)
	f.launch(agent, mon, rep)
	f.waitUpdate(mon.TaskID.Value, mesos.TASK_RUNNING)
	f.waitUpdate(rep.TaskID.Value, mesos.TASK_RUNNING)
	pid := readPid(t, pidFile)

	start := time.Now()
	f.mustCall(calls.Shutdown(ex.ExecutorID.Value, agent))
	f.waitUpdate(mon.TaskID.Value, mesos.TASK_KILLED)
	st := f.waitUpdate(rep.TaskID.Value, mesos.TASK_KILLED)
	if st.GetSource() != mesos.SOURCE_EXECUTOR || !repairResult(t, st).Killed {
		t.Errorf("repair status %v", st)
	}
	testtool.WaitFor(t, "the executor to exit", 10*time.Second, func() bool { return len(f.executorExits()) == 1 })
	if e := f.executorExits()[0]; e.GetStatus() != 0 || e.ExecutorID.Value != ex.ExecutorID.Value {
		t.Errorf("executor exit %+v, want status 0", e)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v, longer than the 3s grace period", d)
	}
	assertNoOrphan(t, pid)
}

// TestMonitorReportsAndRecovery: a check out of its envelope for longer
// than its for is reported every round, through lost framework messages,
// and its recovery once.
func TestMonitorReportsAndRecovery(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)
	dir := t.TempDir()
	flag, rounds := filepath.Join(dir, "broken"), filepath.Join(dir, "rounds")
	// The command counts the monitor's rounds, so the test can wait for
	// rounds to pass instead of sleeping.
	roundsSoFar := func() int {
		b, _ := os.ReadFile(rounds)
		return bytes.Count(b, []byte("\n"))
	}

	mon := monitorTask(t, ex, agent, 1, `
checks:
  - name: flag
    problem: widget_broken
    command: echo >> `+rounds+`; test ! -e `+flag+`
    interval: 1s
    timeout: 1s
    for: 2s
  - name: load
    problem: overloaded
    metric: load_per_cpu
    max: 1000
    interval: 1s
`)
	f.launch(agent, mon)
	f.waitUpdate(mon.TaskID.Value, mesos.TASK_RUNNING)

	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	broke := time.Now()
	testtool.WaitFor(t, "a violation report", 15*time.Second, func() bool { return len(f.reports(t)) > 0 })
	if d := time.Since(broke); d < 2*time.Second {
		t.Errorf("reported %v after the check broke, before its for of 2s", d)
	}
	r := f.reports(t)[0]
	if r.AgentId != agent || r.TaskId != mon.TaskID.Value || len(r.Violations) != 1 || len(r.Recovered) != 0 {
		t.Fatalf("report %+v", r)
	}
	if v := r.Violations[0]; v.Check != "flag" || v.Problem != "widget_broken" || v.Value != 1 {
		t.Errorf("violation %+v", v)
	}
	// Reports repeat every round while it stays broken.
	testtool.WaitFor(t, "repeated reports", 10*time.Second, func() bool { return len(f.reports(t)) >= 3 })

	// Lost framework messages cost nothing: the next report says it all.
	var dropped atomic.Int32
	c.SetFrameworkMessageFaults(nil, func(string, string, string, []byte) (bool, time.Duration) {
		return dropped.Add(1) <= 2, 0
	})
	before := len(f.reports(t))
	testtool.WaitFor(t, "two lost reports", 10*time.Second, func() bool { return dropped.Load() >= 2 })
	testtool.WaitFor(t, "a report after the loss", 10*time.Second, func() bool { return len(f.reports(t)) > before })
	c.SetFrameworkMessageFaults(nil, nil)
	if r := f.reports(t)[len(f.reports(t))-1]; len(r.Violations) != 1 || r.Violations[0].Check != "flag" {
		t.Errorf("report after the loss %+v", r)
	}

	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	var recovered int
	testtool.WaitFor(t, "a recovery report", 10*time.Second, func() bool {
		for i, r := range f.reports(t) {
			if len(r.Recovered) > 0 {
				recovered = i
				return true
			}
		}
		return false
	})
	rs := f.reports(t)
	if rec := rs[recovered]; len(rec.Violations) != 0 || rec.Recovered[0].Check != "flag" {
		t.Errorf("recovery report %+v", rec)
	}
	// Healthy again: three more rounds send nothing.
	after := roundsSoFar()
	testtool.WaitFor(t, "three healthy rounds", 10*time.Second, func() bool { return roundsSoFar() >= after+3 })
	if n := len(f.reports(t)); n != recovered+1 {
		t.Errorf("%d reports after the recovery", n-recovered-1)
	}
	f.mustCall(calls.Kill(mon.TaskID.Value, agent))
	f.waitUpdate(mon.TaskID.Value, mesos.TASK_KILLED)
}

// TestBadTasks: a bad monitor config, a task for another agent and an
// unlabelled task each end in TASK_FAILED with the reason; the executor
// lives on and runs the next task.
func TestBadTasks(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)

	badCfg := monitorTask(t, ex, agent, 1, "checks:\n  - {name: ok, problem: p, tcp: '127.0.0.1:1'}\n")
	var cfg healerpb.MonitorConfig
	if err := cfg.Unmarshal(badCfg.Data); err != nil {
		t.Fatal(err)
	}
	cfg.Checks[0].Envelope = healerpb.Envelope{HasMin: true, Min: 5, HasMax: true, Max: 1}
	badCfg.Data, _ = cfg.Marshal()

	elsewhere := repairTask(t, ex, agent, 1, "true", time.Minute, time.Second)
	elsewhere.TaskID.Value = taskspec.RepairTaskID("other-agent-S9", 1, 1)

	unlabelled := repairTask(t, ex, agent, 2, "true", time.Minute, time.Second)
	unlabelled.Labels = nil

	f.launch(agent, badCfg, elsewhere, unlabelled)
	for _, tc := range []struct {
		task mesos.TaskInfo
		want string
	}{
		{badCfg, `invalid monitor config: monitor config: check "ok": min 5 is above max 1`},
		{elsewhere, "task for agent other-agent-S9 launched on agent " + agent},
		{unlabelled, `label healer.kind="" does not match its id`},
	} {
		st := f.waitUpdate(tc.task.TaskID.Value, mesos.TASK_FAILED)
		if !strings.Contains(st.GetMessage(), tc.want) || st.GetReason() != mesos.REASON_TASK_INVALID {
			t.Errorf("%s: %s %q, want %q", tc.task.TaskID.Value, st.GetReason(), st.GetMessage(), tc.want)
		}
	}
	next := repairTask(t, ex, agent, 3, "true", time.Minute, time.Second)
	f.launch(agent, next)
	f.waitUpdate(next.TaskID.Value, mesos.TASK_FINISHED)
	if n := len(f.executorExits()); n != 0 {
		t.Errorf("the executor exited %d times", n)
	}
}

// TestIdleExit: with no task left and nothing unacknowledged, the executor
// waits its idle timeout for another task, then exits 0.
func TestIdleExit(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, 2*time.Second)

	first := repairTask(t, ex, agent, 1, "true", time.Minute, time.Second)
	f.launch(agent, first)
	done := f.waitUpdate(first.TaskID.Value, mesos.TASK_FINISHED)
	// A task within the idle timeout runs on the same executor.
	second := repairTask(t, ex, agent, 2, "true", time.Minute, time.Second)
	f.launch(agent, second)
	f.waitUpdate(second.TaskID.Value, mesos.TASK_FINISHED)
	testtool.WaitFor(t, "the idle executor to exit", 15*time.Second, func() bool { return len(f.executorExits()) == 1 })
	if e := f.executorExits()[0]; e.GetStatus() != 0 {
		t.Errorf("exit %+v", e)
	}
	if n := len(sandboxes(a, f.fid, ex)); n != 1 {
		t.Errorf("%d executor runs, want 1", n)
	}
	if idle := time.Since(time.Unix(0, int64(done.GetTimestamp()*1e9))); idle < 2*time.Second {
		t.Errorf("exited %v after its first task, before the idle timeout", idle)
	}
}

// TestWithoutMesosEnvironment: run by hand, the executor says what is
// missing and exits non-zero.
func TestWithoutMesosEnvironment(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2", err)
	}
	for _, want := range []string{"missing environment variable: MESOS_AGENT_ENDPOINT", "started by a Mesos agent"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestUpdateRetried: an update the agent refuses while the executor stays
// subscribed is re-sent until the agent takes it, without re-subscribing.
func TestUpdateRetried(t *testing.T) {
	c, a := testCluster(t, nil)
	f := startFramework(t, c, true)
	agent := a.ID().Value
	ex := executorInfo(t, time.Minute)
	release := filepath.Join(t.TempDir(), "release")

	task := repairTask(t, ex, agent, 1, `while [ ! -e `+release+` ]; do sleep 0.05; done`, time.Minute, time.Second)
	f.launch(agent, task)
	f.waitUpdate(task.TaskID.Value, mesos.TASK_RUNNING)
	var refused atomic.Int32
	a.SetCallFault(func(*http.Request) (int, time.Duration) {
		refused.Add(1)
		return http.StatusServiceUnavailable, 0
	})
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the refused update", 10*time.Second, func() bool { return refused.Load() > 0 })
	a.SetCallFault(nil)
	f.waitUpdate(task.TaskID.Value, mesos.TASK_FINISHED)
	log := executorLog(t, a, f.fid, ex)
	if !strings.Contains(log, "status update not delivered; will retry") || strings.Count(log, "msg=subscribed") != 1 {
		t.Errorf("executor log:\n%s", log)
	}
}
