package emulator

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/internal/testtool"
)

// The test executor (testdata/testexecutor) is built once per test binary,
// on first use, and removed by TestMain.
var testExecutor struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testExecutor.dir != "" {
		os.RemoveAll(testExecutor.dir)
	}
	if code == 0 {
		// Every goroutine a master, agent or cluster starts must have ended
		// once the tests closed them.
		if err := goroutineLeaks(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func testExecutorBinary(t *testing.T) string {
	t.Helper()
	testExecutor.once.Do(func() {
		testExecutor.dir, testExecutor.err = os.MkdirTemp("", "testexecutor-")
		if testExecutor.err != nil {
			return
		}
		testExecutor.path = filepath.Join(testExecutor.dir, "testexecutor")
		testExecutor.out, testExecutor.err = exec.Command("go", "build", "-o", testExecutor.path, "./testdata/testexecutor").CombinedOutput()
	})
	if testExecutor.err != nil {
		t.Fatalf("build test executor: %v\n%s", testExecutor.err, testExecutor.out)
	}
	return testExecutor.path
}

// executorTask is a task run by the test executor binary; data "hold" keeps
// it running until killed.
func executorTask(t *testing.T, id, execID, data string, env ...mesos.Environment_Variable) mesos.TaskInfo {
	task := customExecTask(id, execID, testExecutorBinary(t))
	task.Data = []byte(data)
	if len(env) > 0 {
		task.Executor.Command.Environment = &mesos.Environment{Variables: env}
	}
	return task
}

func envVar(k, v string) mesos.Environment_Variable {
	return mesos.Environment_Variable{Name: k, Value: &v}
}

// sandboxOf finds an executor's (latest) sandbox.
func sandboxOf(t *testing.T, a *Agent, fwID, execID string) string {
	t.Helper()
	runs, _ := filepath.Glob(filepath.Join(a.WorkDir(), "slaves", a.ID().Value, "frameworks", fwID, "executors", execID, "runs", "*"))
	if len(runs) != 1 {
		t.Fatalf("sandboxes of %s: %v", execID, runs)
	}
	return runs[0]
}

// executorEnvOutput reads the ENV lines and CONFIG line the test executor wrote.
func executorEnvOutput(t *testing.T, sandbox string) (map[string]string, string) {
	t.Helper()
	var env map[string]string
	var cfgLine string
	testtool.WaitFor(t, "executor output", 10*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(sandbox, "stdout"))
		if err != nil {
			return false
		}
		env = map[string]string{}
		cfgLine = ""
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := sc.Text()
			if kv, ok := strings.CutPrefix(line, "ENV "); ok {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			} else if strings.HasPrefix(line, "CONFIG") {
				cfgLine = line
			}
		}
		return cfgLine != ""
	})
	return env, cfgLine
}

func TestProcessExecutorEnvironmentAndLifecycle(t *testing.T) {
	t.Setenv("HEALER_CANARY", "leaked")
	t.Setenv("LIBPROCESS_IP", "192.0.2.1") // the emulator's own: not the agent's
	for _, checkpoint := range []bool{false, true} {
		name := map[bool]string{false: "no-checkpoint", true: "checkpoint"}[checkpoint]
		t.Run(name, func(t *testing.T) {
			cfg := testAgentConfig(t)
			a, m := startTestAgent(t, cfg)
			m.autoAck = a
			fw := agentTestFramework("fw-" + name)
			fw.Checkpoint = &checkpoint
			a.RunTask(fw, executorTask(t, "t1", "e1", "", envVar("EXTRA", "x"), envVar("MESOS_SANDBOX", "overridden-last")))
			running := waitAgentUpdate(t, m, "t1", 1)
			finished := waitAgentUpdate(t, m, "t1", 2)
			if running.Status.GetState() != mesos.TASK_RUNNING || finished.Status.GetState() != mesos.TASK_FINISHED ||
				running.Status.GetSource() != mesos.SOURCE_EXECUTOR || running.Status.GetExecutorID().Value != "e1" {
				t.Fatalf("updates: %v then %v", running.Status, finished.Status)
			}

			sandbox := sandboxOf(t, a, "fw-"+name, "e1")
			env, cfgLine := executorEnvOutput(t, sandbox)
			if cfgLine != "CONFIG ok" {
				t.Errorf("config.FromEnv: %s", cfgLine)
			}
			want := map[string]string{
				"LIBPROCESS_PORT":                      "0",
				"MESOS_FRAMEWORK_ID":                   "fw-" + name,
				"MESOS_EXECUTOR_ID":                    "e1",
				"MESOS_DIRECTORY":                      sandbox,
				"MESOS_SANDBOX":                        "overridden-last",
				"MESOS_SLAVE_ID":                       a.ID().Value,
				"MESOS_SLAVE_PID":                      "slave(1)@" + a.Endpoint(),
				"MESOS_AGENT_ENDPOINT":                 a.Endpoint(),
				"MESOS_CHECKPOINT":                     "0",
				"MESOS_HTTP_COMMAND_EXECUTOR":          "0",
				"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "300ms",
				"EXTRA":                                "x",
				"PATH":                                 defaultExecutorPath,
				"PWD":                                  sandbox, // set by the shell
			}
			if checkpoint {
				want["MESOS_CHECKPOINT"] = "1"
				want["MESOS_RECOVERY_TIMEOUT"] = "15mins"
				want["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = "300ms"
			}
			// The shell may add SHLVL and "_"; nothing else is allowed.
			delete(env, "SHLVL")
			delete(env, "_")
			// A real agent passes its LIBPROCESS_IP on, which mesos-agent
			// sets from --ip (Slave::executorEnvironment in
			// src/slave/slave.cpp; src/slave/main.cpp): the emulated
			// agent's is the IP it listens on, whatever the emulator's own
			// environment holds.
			host, _, _ := net.SplitHostPort(a.Endpoint())
			want["LIBPROCESS_IP"] = host
			if !equalEnv(env, want) {
				t.Errorf("executor environment:\n got %v\nwant %v", sortedEnv(env), sortedEnv(want))
			}
			if _, ok := env["HEALER_CANARY"]; ok {
				t.Error("the agent's environment leaked into the executor")
			}

			// Framework messages are echoed back through the agent.
			a.FrameworkMessage(*fw.ID, mesos.ExecutorID{Value: "e1"}, []byte("hello"))
			testtool.WaitFor(t, "echo", 10*time.Second, func() bool {
				ms := m.Messages()
				return len(ms) == 1 && ms[0] == agentSentMessage{"e1", "hello"}
			})

			// SHUTDOWN: the executor exits 0; with no live task nothing fails.
			a.ShutdownExecutor(*fw.ID, mesos.ExecutorID{Value: "e1"})
			testtool.WaitFor(t, "executor exit", 10*time.Second, func() bool {
				ex := m.Exits()
				return len(ex) == 1 && ex[0] == agentSentExit{"e1", 0}
			})
			if n := len(m.updatesFor("t1")); n != 2 {
				t.Errorf("%d updates, want 2", n)
			}
			testtool.WaitFor(t, "executor removed", 5*time.Second, func() bool { return len(a.State().Executors) == 0 })
		})
	}
}

func equalEnv(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sortedEnv(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestProcessExecutorExitFailsLiveTasks(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	om := &orderedMaster{masterDouble: m}
	a.SetMaster(om)
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, executorTask(t, "t1", "e1", "hold"))
	waitAgentState(t, m, "t1", mesos.TASK_RUNNING)
	a.FrameworkMessage(*fw.ID, mesos.ExecutorID{Value: "e1"}, []byte("exit")) // exits with status 3
	u := waitAgentState(t, m, "t1", mesos.TASK_FAILED)
	if u.Status.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || u.Status.GetSource() != mesos.SOURCE_AGENT ||
		u.Status.GetMessage() != "Executor terminated" || len(u.Status.UUID) != 16 {
		t.Errorf("update after exit: %+v", u.Status)
	}
	testtool.WaitFor(t, "FAILURE", 5*time.Second, func() bool {
		ex := m.Exits()
		return len(ex) == 1 && ex[0] == agentSentExit{"e1", 3 << 8}
	})
	om.expectOrder(t, "FAILURE e1", "UPDATE t1 TASK_FAILED")
}

func TestProcessExecutorExitBeforeSubscribing(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	om := &orderedMaster{masterDouble: m}
	a.SetMaster(om)
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "exit 0"))
	u := waitAgentUpdate(t, m, "t1", 1)
	if u.Status.GetState() != mesos.TASK_FAILED || u.Status.GetReason() != mesos.REASON_EXECUTOR_TERMINATED ||
		u.Status.GetSource() != mesos.SOURCE_AGENT || u.Status.GetMessage() != "Executor terminated" {
		t.Errorf("update: %+v", u.Status)
	}
	testtool.WaitFor(t, "FAILURE status 0", 5*time.Second, func() bool {
		ex := m.Exits()
		return len(ex) == 1 && ex[0] == agentSentExit{"e1", 0}
	})
	// As on a real 1.12 agent: FAILURE first, then TASK_FAILED.
	om.expectOrder(t, "FAILURE e1", "UPDATE t1 TASK_FAILED")
}

func TestExecutorRegistrationTimeout(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.ExecutorRegistrationTimeout = 200 * time.Millisecond
	a, m := startTestAgent(t, cfg)
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "sleep 30"))
	u := waitAgentUpdate(t, m, "t1", 1)
	if u.Status.GetState() != mesos.TASK_FAILED || u.Status.GetReason() != mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT ||
		u.Status.GetSource() != mesos.SOURCE_AGENT {
		t.Errorf("update: %+v", u.Status)
	}
	testtool.WaitFor(t, "FAILURE with SIGKILL status", 5*time.Second, func() bool {
		ex := m.Exits()
		return len(ex) == 1 && syscall.WaitStatus(ex[0].Status).Signal() == syscall.SIGKILL
	})
}

func TestProcessExecutorShutdownGrace(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.ExecutorShutdownGracePeriod = 300 * time.Millisecond
	a, m := startTestAgent(t, cfg)
	m.autoAck = a
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, executorTask(t, "t1", "e1", "hold", envVar("TESTEXEC_IGNORE_SHUTDOWN", "1")))
	waitAgentState(t, m, "t1", mesos.TASK_RUNNING)
	start := time.Now()
	a.ShutdownExecutor(*fw.ID, mesos.ExecutorID{Value: "e1"})
	u := waitAgentState(t, m, "t1", mesos.TASK_FAILED)
	if el := time.Since(start); el < 290*time.Millisecond {
		t.Errorf("destroyed after %v, within the grace period", el)
	}
	if u.Status.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
		t.Errorf("reason %v", u.Status.GetReason())
	}
	testtool.WaitFor(t, "FAILURE", 5*time.Second, func() bool { return len(m.Exits()) == 1 })
	sandbox := sandboxOf(t, a, "fw-1", "e1")
	out, _ := os.ReadFile(filepath.Join(sandbox, "stdout"))
	if !strings.Contains(string(out), "EVENT SHUTDOWN") {
		t.Errorf("executor never got SHUTDOWN:\n%s", out)
	}
}

func TestProcessExecutorKillTask(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	fw := agentTestFramework("fw-1")
	a.RunTask(fw, executorTask(t, "t1", "e1", "hold"))
	waitAgentState(t, m, "t1", mesos.TASK_RUNNING)
	a.KillTask(*fw.ID, mesos.TaskID{Value: "t1"}, nil)
	u := waitAgentState(t, m, "t1", mesos.TASK_KILLED)
	if u.Status.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Errorf("source %v", u.Status.GetSource())
	}
}

func TestProcessExecutorRecoversAfterAgentRestart(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.ExecutorReregistrationTimeout = 3 * time.Second
	a, m := startTestAgent(t, cfg)
	m.autoAck = a
	fw := agentTestFramework("fw-1")
	fw.Checkpoint = new(bool)
	*fw.Checkpoint = true
	a.RunTask(fw, executorTask(t, "t1", "e1", "hold"))
	waitAgentState(t, m, "t1", mesos.TASK_RUNNING)
	testtool.WaitFor(t, "ack processed", 5*time.Second, func() bool { return a.PendingUpdates() == 0 })
	if err := a.Restart(); err != nil {
		t.Fatal(err)
	}
	a.SetMaster(m)
	// The executor re-subscribes; a kill then reaches it.
	testtool.WaitFor(t, "re-subscription", 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		f := a.frameworks["fw-1"]
		return f != nil && f.executors["e1"] != nil && f.executors["e1"].state == execRunning
	})
	a.KillTask(*fw.ID, mesos.TaskID{Value: "t1"}, nil)
	waitAgentState(t, m, "t1", mesos.TASK_KILLED)
}

func TestFetchFailureFailsLaunch(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	task := customExecTask("t1", "e1", "true")
	task.Executor.Command.URIs = []mesos.CommandInfo_URI{{Value: "file:///nonexistent/file.tgz"}}
	a.RunTask(agentTestFramework("fw-1"), task)
	u := waitAgentUpdate(t, m, "t1", 1)
	if u.Status.GetState() != mesos.TASK_FAILED || u.Status.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED ||
		u.Status.GetSource() != mesos.SOURCE_AGENT {
		t.Errorf("update: %+v", u.Status)
	}
}

func TestFetcher(t *testing.T) {
	src := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := write("plain.txt", "plain")
	script := write("run.sh", "#!/bin/sh\necho hi\n")
	write("inner.txt", "from tar")
	if out, err := exec.Command("tar", "-C", src, "-czf", filepath.Join(src, "bundle.tgz"), "inner.txt").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	zipPath := filepath.Join(src, "bundle.zip")
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("dir/zipped.txt")
	w.Write([]byte("from zip"))
	zw.Close()
	os.WriteFile(zipPath, zbuf.Bytes(), 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(src)))
	defer srv.Close()

	no := false
	out := "renamed.txt"
	sandbox := t.TempDir()
	err := fetchURIs(sandbox, []mesos.CommandInfo_URI{
		{Value: plain},
		{Value: "file://" + script, Executable: new(bool)},
		{Value: filepath.Join(src, "bundle.tgz")},
		{Value: srv.URL + "/bundle.zip"},
		{Value: srv.URL + "/plain.txt", OutputFile: &out},
		{Value: filepath.Join(src, "bundle.tgz"), Extract: &no, OutputFile: strPtr("kept.tgz")},
	})
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]string{
		"plain.txt":      "plain",
		"inner.txt":      "from tar",
		"dir/zipped.txt": "from zip",
		"renamed.txt":    "plain",
		"bundle.tgz":     "",
		"kept.tgz":       "",
		"bundle.zip":     "",
		"run.sh":         "#!/bin/sh\necho hi\n",
	}
	for name, want := range checks {
		b, err := os.ReadFile(filepath.Join(sandbox, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want != "" && string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}

	// executable=true sets the execute bit (and does not extract).
	sandbox2 := t.TempDir()
	yes := true
	if err := fetchURIs(sandbox2, []mesos.CommandInfo_URI{{Value: script, Executable: &yes}}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(sandbox2, "run.sh")); err != nil || st.Mode()&0o100 == 0 {
		t.Errorf("run.sh not executable: %v %v", st.Mode(), err)
	}
	if err := fetchURIs(t.TempDir(), []mesos.CommandInfo_URI{{Value: srv.URL + "/missing"}}); err == nil {
		t.Error("a 404 must fail the fetch")
	}
	if err := fetchURIs(t.TempDir(), []mesos.CommandInfo_URI{{Value: "ftp://x/y"}}); err == nil {
		t.Error("an unsupported scheme must fail the fetch")
	}
}

func TestExecWithoutShell(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	no := false
	value := "/bin/sh"
	task := cmdTask("t1", "")
	task.Command = &mesos.CommandInfo{Shell: &no, Value: &value,
		Arguments: []string{"my-argv0", "-c", `echo "$0" > argv0`}}
	a.RunTask(agentTestFramework("fw-1"), task)
	waitAgentState(t, m, "t1", mesos.TASK_FINISHED)
	b, err := os.ReadFile(filepath.Join(sandboxOf(t, a, "fw-1", "t1"), "argv0"))
	if err != nil || strings.TrimSpace(string(b)) != "my-argv0" {
		t.Errorf("argv[0] = %q (%v), want arguments[0]", b, err)
	}
}

func TestCommandTasks(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	fw := agentTestFramework("fw-1")
	killing := agentTestFramework("fw-killing", mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)

	a.RunTask(fw, cmdTask("ok", "pwd > where; env > env.txt; exit 0"))
	a.RunTask(fw, cmdTask("bad", "exit 2"))
	a.RunTask(fw, cmdTask("killed", "sleep 30"))
	a.RunTask(killing, cmdTask("killed2", "sleep 30"))

	states := func(id string) []mesos.TaskState {
		var out []mesos.TaskState
		for _, u := range m.updatesFor(id) {
			out = append(out, u.Status.GetState())
		}
		return out
	}
	waitAgentState(t, m, "ok", mesos.TASK_FINISHED)
	waitAgentState(t, m, "bad", mesos.TASK_FAILED)
	waitAgentState(t, m, "killed", mesos.TASK_RUNNING)
	waitAgentState(t, m, "killed2", mesos.TASK_RUNNING)
	a.KillTask(*fw.ID, mesos.TaskID{Value: "killed"}, nil)
	a.KillTask(*killing.ID, mesos.TaskID{Value: "killed2"}, nil)
	waitAgentState(t, m, "killed", mesos.TASK_KILLED)
	waitAgentState(t, m, "killed2", mesos.TASK_KILLED)

	for id, want := range map[string][]mesos.TaskState{
		"ok":      {mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FINISHED},
		"bad":     {mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_FAILED},
		"killed":  {mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLED},
		"killed2": {mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLING, mesos.TASK_KILLED},
	} {
		got := states(id)
		if len(got) != len(want) {
			t.Errorf("%s: states %v, want %v", id, got, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: states %v, want %v", id, got, want)
				break
			}
		}
		for _, u := range m.updatesFor(id) {
			if u.Status.GetExecutorID().Value != id || u.Status.GetSource() != mesos.SOURCE_EXECUTOR {
				t.Errorf("%s: update %+v: executor ID must be the task ID, source EXECUTOR", id, u.Status)
			}
		}
	}
	sandbox := sandboxOf(t, a, "fw-1", "ok")
	where, _ := os.ReadFile(filepath.Join(sandbox, "where"))
	if strings.TrimSpace(string(where)) != sandbox {
		t.Errorf("cwd %q, want the sandbox %q", where, sandbox)
	}
	if len(m.Exits()) != 0 {
		t.Errorf("command executors must not report FAILURE: %+v", m.Exits())
	}
	testtool.WaitFor(t, "command executors gone", 5*time.Second, func() bool { return len(a.State().Frameworks) == 0 })
}

func TestCloseKillsProcessGroups(t *testing.T) {
	cfg := testAgentConfig(t)
	a, err := NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	m := &masterDouble{}
	a.SetMaster(m)
	// The executor's child outlives the shell unless the group is killed.
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "sleep 30 & echo $! > child; wait"))
	var pid int
	testtool.WaitFor(t, "child pid", 5*time.Second, func() bool {
		runs, _ := filepath.Glob(filepath.Join(cfg.WorkDir, "slaves", "*", "frameworks", "*", "executors", "e1", "runs", "*", "child"))
		if len(runs) != 1 {
			return false
		}
		b, _ := os.ReadFile(runs[0])
		_, err := fmt.Sscan(strings.TrimSpace(string(b)), &pid)
		return err == nil && pid > 0
	})
	a.Close()
	testtool.WaitFor(t, "child killed", 5*time.Second, func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH || isZombie(pid)
	})
}

// isZombie reports whether a process has exited but is not yet reaped (by
// init, once its parent is gone).
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "Z")
}
