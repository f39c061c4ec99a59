package emulator

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

func f64(v float64) *float64 { return &v }
func u32(v uint32) *uint32   { return &v }

// fastCheck sets tiny timings (the fields are double seconds).
func fastCheck(hc mesos.HealthCheck, failures uint32, grace float64) *mesos.HealthCheck {
	hc.DelaySeconds = f64(0.05)
	hc.IntervalSeconds = f64(0.05)
	hc.TimeoutSeconds = f64(5)
	hc.GracePeriodSeconds = f64(grace)
	hc.ConsecutiveFailures = u32(failures)
	return &hc
}

func TestValidateTaskHealthCheck(t *testing.T) {
	cmd := &mesos.CommandInfo{Value: strPtr("true")}
	httpInfo := &mesos.HealthCheck_HTTPCheckInfo{Port: 80}
	for _, tc := range []struct {
		name     string
		hc       mesos.HealthCheck
		want     string
		inferred mesos.HealthCheck_Type
	}{
		{"command", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: cmd}, "", mesos.HealthCheck_COMMAND},
		{"infer command", mesos.HealthCheck{Command: cmd}, "", mesos.HealthCheck_COMMAND},
		{"infer http", mesos.HealthCheck{HTTP: httpInfo}, "", mesos.HealthCheck_HTTP},
		{"no type, both", mesos.HealthCheck{Command: cmd, HTTP: httpInfo}, "HealthCheck must specify 'type'", 0},
		{"no type, tcp only", mesos.HealthCheck{TCP: &mesos.HealthCheck_TCPCheckInfo{Port: 1}}, "HealthCheck must specify 'type'", 0},
		{"command missing", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND}, "Expecting 'command' to be set for COMMAND health check", 0},
		{"command without value", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: &mesos.CommandInfo{}},
			"Command health check must contain 'shell command'", 0},
		{"http missing", mesos.HealthCheck{Type: mesos.HealthCheck_HTTP}, "Expecting 'http' to be set for HTTP health check", 0},
		{"http scheme", mesos.HealthCheck{Type: mesos.HealthCheck_HTTP, HTTP: &mesos.HealthCheck_HTTPCheckInfo{Port: 1, Scheme: strPtr("ftp")}},
			"Unsupported HTTP health check scheme: 'ftp'", 0},
		{"http path", mesos.HealthCheck{Type: mesos.HealthCheck_HTTP, HTTP: &mesos.HealthCheck_HTTPCheckInfo{Port: 1, Path: strPtr("x")}},
			"The path 'x' of HTTP health check must start with '/'", 0},
		{"tcp missing", mesos.HealthCheck{Type: mesos.HealthCheck_TCP}, "Expecting 'tcp' to be set for TCP health check", 0},
		{"negative delay", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: cmd, DelaySeconds: f64(-1)},
			"Expecting 'delay_seconds' to be non-negative", 0},
		{"negative grace", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: cmd, GracePeriodSeconds: f64(-1)},
			"Expecting 'grace_period_seconds' to be non-negative", 0},
		{"negative interval", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: cmd, IntervalSeconds: f64(-0.5)},
			"Expecting 'interval_seconds' to be non-negative", 0},
		{"negative timeout", mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: cmd, TimeoutSeconds: f64(-1)},
			"Expecting 'timeout_seconds' to be non-negative", 0},
		{"zero durations", mesos.HealthCheck{Type: mesos.HealthCheck_TCP, TCP: &mesos.HealthCheck_TCPCheckInfo{Port: 1},
			DelaySeconds: f64(0), TimeoutSeconds: f64(0)}, "", mesos.HealthCheck_TCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.hc
			task := mesos.TaskInfo{HealthCheck: &tc.hc}
			got := validateTaskHealthCheck(&task)
			want := ""
			if tc.want != "" {
				want = "Task uses invalid health check: " + tc.want
			}
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if want == "" && task.HealthCheck.Type != tc.inferred {
				t.Errorf("type %v, want %v", task.HealthCheck.Type, tc.inferred)
			}
			if tc.hc.Type != orig.Type {
				t.Error("the caller's HealthCheck was modified")
			}
		})
	}
}

// healthTask is a long-running command task with a health check.
func healthTask(id string, hc *mesos.HealthCheck) mesos.TaskInfo {
	task := cmdTask(id, "sleep 30")
	task.HealthCheck = hc
	return task
}

// healthStates summarises a task's updates: "RUNNING", "RUNNING+healthy",
// "RUNNING-healthy", "KILLED-healthy"...
func healthStates(m *masterDouble, id string) []string {
	var out []string
	for _, u := range m.updatesFor(id) {
		s := strings.TrimPrefix(u.Status.GetState().String(), "TASK_")
		if h := u.Status.Healthy; h != nil {
			s += map[bool]string{true: "+healthy", false: "-healthy"}[*h]
		}
		out = append(out, s)
	}
	return out
}

func waitHealthStates(t *testing.T, m *masterDouble, id string, want ...string) []agentSentUpdate {
	t.Helper()
	var got []string
	testtool.WaitFor(t, strings.Join(want, ","), 20*time.Second, func() bool {
		got = healthStates(m, id)
		return len(got) >= len(want)
	})
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: updates %v, want %v", id, got, want)
	}
	return m.updatesFor(id)
}

// checkHealthUpdates verifies that every health update is a copy of the
// previous status with a new uuid and the health reason.
func checkHealthUpdates(t *testing.T, us []agentSentUpdate) {
	t.Helper()
	seen := map[string]bool{}
	for i, u := range us {
		st := u.Status
		if len(st.UUID) != 16 || seen[string(st.UUID)] {
			t.Errorf("update %d: uuid %x not new", i, st.UUID)
		}
		seen[string(st.UUID)] = true
		if st.Healthy == nil || st.GetState() != mesos.TASK_RUNNING {
			continue
		}
		prev := us[i-1].Status
		if st.GetReason() != mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED || st.GetSource() != mesos.SOURCE_EXECUTOR ||
			st.GetExecutorID().Value != prev.GetExecutorID().Value || st.GetAgentID().Value != prev.GetAgentID().Value ||
			st.GetMessage() != prev.GetMessage() || bytes.Equal(st.UUID, prev.UUID) {
			t.Errorf("health update %d is not a copy of the previous status: %+v after %+v", i, st, prev)
		}
	}
}

func TestHealthCheckHTTP(t *testing.T) {
	// Requests to /health follow a script; /ok is where the redirect lands.
	script := []int{http.StatusFound, http.StatusOK, 500, 399, 503, 500, 404}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			return
		}
		if r.URL.Path != "/health" {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		i := int(n.Add(1)) - 1
		code := 500
		if i < len(script) {
			code = script[i]
		}
		if code == http.StatusFound {
			http.Redirect(w, r, "/ok", code)
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	port := uint32(srv.Listener.Addr().(*net.TCPAddr).Port)

	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	hc := fastCheck(mesos.HealthCheck{Type: mesos.HealthCheck_HTTP,
		HTTP: &mesos.HealthCheck_HTTPCheckInfo{Port: port, Path: strPtr("/health")}}, 3, 0)
	a.RunTask(agentTestFramework("fw-1"), healthTask("web", hc))
	us := waitHealthStates(t, m, "web",
		"STARTING", "RUNNING",
		"RUNNING+healthy",                                       // 302 → 200: the first success; the second (200) is not reported
		"RUNNING-healthy",                                       // 500
		"RUNNING+healthy",                                       // 399: the first success after a failure
		"RUNNING-healthy", "RUNNING-healthy", "RUNNING-healthy", // 503, 500, 404: three in a row
		"KILLED-healthy")
	checkHealthUpdates(t, us)
	if killed := us[len(us)-1].Status; killed.Reason != nil {
		t.Errorf("TASK_KILLED after failed health checks has reason %v; Mesos sets none", killed.GetReason())
	}
	// Checks stop with the kill.
	testtool.WaitFor(t, "task gone", 5*time.Second, func() bool { return len(a.State().Frameworks) == 0 })
	// The failure that kills the task stops the checker in the same locked
	// step that applies its result, before the next check is scheduled, so
	// the script's last request is the last one ever: exactly len(script)
	// requests, with no window to wait out.
	if got := n.Load(); got != int32(len(script)) {
		t.Errorf("%d health check requests; want %d (none after the kill)", got, len(script))
	}
}

func TestHealthCheckTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := uint32(ln.Addr().(*net.TCPAddr).Port)

	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	fw := agentTestFramework("fw-1", mesos.FrameworkInfo_Capability_TASK_KILLING_STATE)
	hc := fastCheck(mesos.HealthCheck{Type: mesos.HealthCheck_TCP, TCP: &mesos.HealthCheck_TCPCheckInfo{Port: port}}, 2, 0)
	a.RunTask(fw, healthTask("db", hc))
	waitHealthStates(t, m, "db", "STARTING", "RUNNING", "RUNNING+healthy")
	ln.Close()
	<-accepted
	us := waitHealthStates(t, m, "db", "STARTING", "RUNNING", "RUNNING+healthy",
		"RUNNING-healthy", "RUNNING-healthy", "KILLING", "KILLED-healthy")
	checkHealthUpdates(t, us)
}

func TestHealthCheckCommand(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	fw := agentTestFramework("fw-1")

	// Run in the task's sandbox with the task's environment plus its own.
	check := &mesos.CommandInfo{
		Value:       strPtr(`test -f marker && test "$TASK_VAR" = v1 && test "$CHECK_VAR" = c1`),
		Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{envVar("CHECK_VAR", "c1")}},
	}
	ok := cmdTask("ok", "touch marker; exec sleep 30")
	ok.Command.Environment = &mesos.Environment{Variables: []mesos.Environment_Variable{envVar("TASK_VAR", "v1")}}
	ok.HealthCheck = fastCheck(mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: check}, 1, 0)
	a.RunTask(fw, ok)

	// Failures within the grace period are ignored.
	graced := healthTask("graced", fastCheck(mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND,
		Command: &mesos.CommandInfo{Value: strPtr("exit 1")}}, 1, 60))
	a.RunTask(fw, graced)

	// A check running past its timeout fails.
	slow := fastCheck(mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND,
		Command: &mesos.CommandInfo{Value: strPtr("sleep 10")}}, 1, 0)
	slow.TimeoutSeconds = f64(0.1)
	a.RunTask(fw, healthTask("slow", slow))

	waitHealthStates(t, m, "ok", "STARTING", "RUNNING", "RUNNING+healthy")
	us := waitHealthStates(t, m, "slow", "STARTING", "RUNNING", "RUNNING-healthy", "KILLED-healthy")
	checkHealthUpdates(t, us)

	// A kill by the scheduler: no health field on TASK_KILLED.
	a.KillTask(*fw.ID, mesos.TaskID{Value: "ok"}, nil)
	waitHealthStates(t, m, "ok", "STARTING", "RUNNING", "RUNNING+healthy", "KILLED")

	if got := healthStates(m, "graced"); strings.Join(got, ",") != "STARTING,RUNNING" {
		t.Errorf("graced: %v, want no health update within the grace period", got)
	}
}

func TestHealthCheckDefaultsAndClose(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	m.autoAck = a
	a.RunTask(agentTestFramework("fw-1"), healthTask("t", &mesos.HealthCheck{Type: mesos.HealthCheck_TCP,
		TCP: &mesos.HealthCheck_TCPCheckInfo{Port: 1}}))
	waitAgentState(t, m, "t", mesos.TASK_RUNNING)
	a.mu.Lock()
	var h *healthChecker
	if e := a.frameworks["fw-1"].executors["t"]; e != nil && e.cmd != nil {
		h = e.cmd.health
	}
	a.mu.Unlock()
	if h == nil {
		t.Fatal("no health checker")
	}
	if h.delay != 15*time.Second || h.interval != 10*time.Second || h.timeout != 20*time.Second ||
		h.maxFails != 3 || h.grace != 10*time.Second {
		t.Errorf("defaults: delay %v interval %v timeout %v failures %d grace %v, want 15s 10s 20s 3 10s",
			h.delay, h.interval, h.timeout, h.maxFails, h.grace)
	}
	// Close stops the pending 15 s timer and returns at once.
	done := make(chan struct{})
	go func() {
		a.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the health check timer")
	}
	a.mu.Lock()
	stopped := h.stopped
	a.mu.Unlock()
	if !stopped {
		t.Error("health checker still running after Close")
	}
}

// runCapture is a stub agent that keeps the TaskInfos the master sends.
type runCapture struct {
	*stubAgent
	tasks chan mesos.TaskInfo
}

func (r *runCapture) RunTask(fw mesos.FrameworkInfo, t mesos.TaskInfo) {
	r.stubAgent.RunTask(fw, t)
	r.tasks <- t
}

// TestHealthCheckValidationAtLaunch drives the master with the mesos-go
// client: invalid health checks give TASK_ERROR / REASON_TASK_INVALID, a
// missing type is inferred, and a task group rejects HTTP/TCP checks in a
// container with its own network.
func TestHealthCheckValidationAtLaunch(t *testing.T) {
	m := startStubMaster(t)
	agent := &runCapture{stubAgent: newStubAgent("a1", 8, 4096), tasks: make(chan mesos.TaskInfo, 10)}
	if err := m.AddAgent(agent); err != nil {
		t.Fatal(err)
	}
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("hc"))
	o := c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	mk := func(id string, hc *mesos.HealthCheck) mesos.TaskInfo {
		return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: []mesos.Resource{scalarRes("cpus", 1)}, Command: &mesos.CommandInfo{Value: strPtr("sleep 1")},
			HealthCheck: hc}
	}
	cmd := &mesos.CommandInfo{Value: strPtr("true")}
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(
		mk("notype", &mesos.HealthCheck{TCP: &mesos.HealthCheck_TCPCheckInfo{Port: 1}}),
		mk("nohttp", &mesos.HealthCheck{Type: mesos.HealthCheck_HTTP}),
		mk("negative", &mesos.HealthCheck{Type: mesos.HealthCheck_COMMAND, Command: cmd, IntervalSeconds: f64(-1)}),
		mk("inferred", &mesos.HealthCheck{Command: cmd}),
	)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	for _, want := range []struct{ id, msg string }{
		{"notype", "Task uses invalid health check: HealthCheck must specify 'type'"},
		{"nohttp", "Task uses invalid health check: Expecting 'http' to be set for HTTP health check"},
		{"negative", "Task uses invalid health check: Expecting 'interval_seconds' to be non-negative"},
	} {
		st := c.next(scheduler.Event_UPDATE).Update.Status
		if st.TaskID.Value != want.id || st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID ||
			st.GetSource() != mesos.SOURCE_MASTER || st.GetMessage() != want.msg || st.UUID != nil {
			t.Fatalf("got %v, want TASK_ERROR %q for %s", st, want.msg, want.id)
		}
	}
	select {
	case task := <-agent.tasks:
		if task.TaskID.Value != "inferred" || task.HealthCheck.GetType() != mesos.HealthCheck_COMMAND {
			t.Errorf("launched %s with health check type %v, want inferred COMMAND", task.TaskID.Value, task.HealthCheck.GetType())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the valid task was not launched")
	}

	// Task groups: no HTTP/TCP check in a container with its own network.
	o = c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	ei := mesos.ExecutorInfo{Type: mesos.ExecutorInfo_DEFAULT, ExecutorID: mesos.ExecutorID{Value: "ge"},
		Resources: []mesos.Resource{scalarRes("cpus", 0.1)}}
	netTask := mk("g-net", &mesos.HealthCheck{Type: mesos.HealthCheck_TCP, TCP: &mesos.HealthCheck_TCPCheckInfo{Port: 1}})
	netTask.AgentID = o.AgentID
	netTask.Command = nil
	netTask.Container = &mesos.ContainerInfo{Type: mesos.ContainerInfo_MESOS.Enum(),
		NetworkInfos: []mesos.NetworkInfo{{Name: strPtr("overlay")}}}
	plain := mk("g-plain", nil)
	plain.AgentID = o.AgentID
	plain.Command = nil
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(ei, netTask, plain)}.WithOffers(o.ID)))
	for _, id := range []string{"g-net", "g-plain"} {
		st := c.next(scheduler.Event_UPDATE).Update.Status
		want := "Task 'g-net' is invalid: HTTP and TCP health checks are not supported for nested containers not joining parent's network"
		if st.TaskID.Value != id || st.GetState() != mesos.TASK_ERROR || st.GetMessage() != want {
			t.Fatalf("group: got %v, want TASK_ERROR %q for %s", st, want, id)
		}
	}
}
