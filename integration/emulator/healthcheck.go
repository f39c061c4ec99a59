package emulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Health checks (mesos-protocol.md section 6): the master validates
// TaskInfo.health_check at launch; the built-in command executor runs it.
// Custom executors run their own checks, if any.

// validateTaskHealthCheck is the master's check of a task's health check
// (validation::task::internal::validateHealthCheck). A missing type is first
// inferred, as the master does for old schedulers, from whichever of command
// and http is set; the inferred type is written into t (on a copy of its
// HealthCheck). It returns "" or the TASK_ERROR message.
func validateTaskHealthCheck(t *mesos.TaskInfo) string {
	if t.HealthCheck == nil {
		return ""
	}
	if t.HealthCheck.Type == mesos.HealthCheck_UNKNOWN {
		hc := *t.HealthCheck
		switch {
		case hc.Command != nil && hc.HTTP == nil:
			hc.Type = mesos.HealthCheck_COMMAND
		case hc.HTTP != nil && hc.Command == nil:
			hc.Type = mesos.HealthCheck_HTTP
		}
		t.HealthCheck = &hc
	}
	if msg := validateHealthCheck(t.HealthCheck); msg != "" {
		return "Task uses invalid health check: " + msg
	}
	return ""
}

// validateHealthCheck is common::validation::validateHealthCheck. A type
// of UNKNOWN cannot be told from a missing one in mesos-go's types, so it
// counts as missing.
func validateHealthCheck(hc *mesos.HealthCheck) string {
	switch hc.Type {
	case mesos.HealthCheck_COMMAND:
		if hc.Command == nil {
			return "Expecting 'command' to be set for COMMAND health check"
		}
		if hc.Command.Value == nil {
			if hc.Command.GetShell() {
				return "Command health check must contain 'shell command'"
			}
			return "Command health check must contain 'executable path'"
		}
	case mesos.HealthCheck_HTTP:
		if hc.HTTP == nil {
			return "Expecting 'http' to be set for HTTP health check"
		}
		if s := hc.HTTP.Scheme; s != nil && *s != "http" && *s != "https" {
			return "Unsupported HTTP health check scheme: '" + *s + "'"
		}
		if p := hc.HTTP.Path; p != nil && !strings.HasPrefix(*p, "/") {
			return "The path '" + *p + "' of HTTP health check must start with '/'"
		}
	case mesos.HealthCheck_TCP:
		if hc.TCP == nil {
			return "Expecting 'tcp' to be set for TCP health check"
		}
	default:
		return "HealthCheck must specify 'type'"
	}
	for _, f := range []struct {
		v    *float64
		name string
	}{
		{hc.DelaySeconds, "delay_seconds"},
		{hc.GracePeriodSeconds, "grace_period_seconds"},
		{hc.IntervalSeconds, "interval_seconds"},
		{hc.TimeoutSeconds, "timeout_seconds"},
	} {
		if f.v != nil && *f.v < 0 {
			return "Expecting '" + f.name + "' to be non-negative"
		}
	}
	return ""
}

// validateGroupTaskHealthCheck is the task group's own rule
// (validation::task::group::internal::validateTask): a nested container with
// its own network cannot be probed over HTTP or TCP by the default executor.
func validateGroupTaskHealthCheck(t *mesos.TaskInfo) string {
	hc := t.HealthCheck
	if hc == nil || t.Container == nil || len(t.Container.NetworkInfos) == 0 {
		return ""
	}
	if hc.Type == mesos.HealthCheck_HTTP || hc.Type == mesos.HealthCheck_TCP {
		return "HTTP and TCP health checks are not supported for nested containers not joining parent's network"
	}
	return ""
}

// ownedTimer is a time.AfterFunc whose callback the agent waits for: wg
// counts it from creation until it has run or been stopped, so Close's
// wg.Wait covers it.
type ownedTimer struct {
	t  *time.Timer
	wg *sync.WaitGroup
}

func afterFuncOwned(wg *sync.WaitGroup, d time.Duration, f func()) *ownedTimer {
	wg.Add(1)
	return &ownedTimer{wg: wg, t: time.AfterFunc(d, func() {
		defer wg.Done()
		f()
	})}
}

// stopOwned stops a timer; a callback already running is waited for by
// the timer's WaitGroup, not here (it may need the lock the caller holds).
func stopOwned(o **ownedTimer) {
	if *o != nil {
		if (*o).t.Stop() {
			(*o).wg.Done()
		}
		*o = nil
	}
}

// seconds converts a HealthCheck field (double seconds) with its default.
func seconds(v *float64, def float64) time.Duration {
	s := def
	if v != nil {
		s = *v
	}
	return time.Duration(s * float64(time.Second))
}

// healthChecker runs one command task's HealthCheck as Mesos' HealthChecker
// does for the command executor (src/checks/health_checker.cpp): the first
// check after delay_seconds, the next interval_seconds after the end of the
// previous one, each bounded by timeout_seconds (0: none). Failures before
// the first success within grace_period_seconds of the start are ignored;
// consecutive_failures failures in a row kill the task. Its state is guarded
// by the agent's lock; one check runs at a time, on an owned timer's
// goroutine, and stop cancels it.
type healthChecker struct {
	c        *commandTask
	check    mesos.HealthCheck
	env      []string
	delay    time.Duration
	interval time.Duration
	timeout  time.Duration
	grace    time.Duration
	maxFails uint32
	started  time.Time
	ctx      context.Context
	cancel   context.CancelFunc

	timer        *ownedTimer
	initializing bool // no success yet
	failures     uint32
	stopped      bool
}

// startHealthCheckLocked starts checking c's task; env is the task's
// environment (the check command's own variables are added last).
func (c *commandTask) startHealthCheckLocked(hc mesos.HealthCheck, env []string) {
	a := c.agent
	if hc.Command != nil && hc.Command.Environment != nil {
		env = append([]string(nil), env...)
		for _, v := range hc.Command.Environment.Variables {
			if v.Type == nil || *v.Type == mesos.Environment_Variable_VALUE {
				env = append(env, v.Name+"="+v.GetValue()) // later entries win
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthChecker{
		c:            c,
		check:        hc,
		env:          env,
		delay:        seconds(hc.DelaySeconds, mesos.Default_HealthCheck_DelaySeconds),
		interval:     seconds(hc.IntervalSeconds, mesos.Default_HealthCheck_IntervalSeconds),
		timeout:      seconds(hc.TimeoutSeconds, mesos.Default_HealthCheck_TimeoutSeconds),
		grace:        seconds(hc.GracePeriodSeconds, mesos.Default_HealthCheck_GracePeriodSeconds),
		maxFails:     mesos.Default_HealthCheck_ConsecutiveFailures,
		started:      time.Now(),
		ctx:          ctx,
		cancel:       cancel,
		initializing: true,
	}
	if hc.ConsecutiveFailures != nil {
		h.maxFails = *hc.ConsecutiveFailures
	}
	c.health = h
	h.timer = afterFuncOwned(&a.wg, h.delay, h.run)
}

// stopLocked ends health checking: no further check starts and a running
// one is cancelled.
func (h *healthChecker) stopLocked() {
	if h == nil || h.stopped {
		return
	}
	h.stopped = true
	h.cancel()
	stopOwned(&h.timer)
}

// run performs one check (without the lock), applies its result and
// schedules the next.
func (h *healthChecker) run() {
	ctx, cancel := h.ctx, context.CancelFunc(func() {})
	if h.timeout > 0 {
		ctx, cancel = context.WithTimeout(h.ctx, h.timeout)
	}
	err := h.probe(ctx)
	cancel()
	a := h.c.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	if h.stopped {
		return
	}
	if a.up { // a restarting agent applies no result
		h.resultLocked(err)
	}
	if !h.stopped {
		h.timer = afterFuncOwned(&a.wg, h.interval, h.run)
	}
}

// resultLocked is HealthCheckerProcess::success / failure.
func (h *healthChecker) resultLocked(err error) {
	c := h.c
	if err == nil {
		// The first success, and the first after failures, are reported.
		if h.initializing || h.failures > 0 {
			c.healthUpdateLocked(true)
			h.initializing = false
		}
		h.failures = 0
		return
	}
	if h.initializing && h.grace > 0 && time.Since(h.started) <= h.grace {
		c.agent.log.Debug("health check failure ignored in grace period", "task", c.taskID.Value, "err", err)
		return
	}
	h.failures++
	c.agent.log.Info("health check failed", "task", c.taskID.Value, "failures", h.failures, "err", err)
	c.healthUpdateLocked(false)
	if h.failures >= h.maxFails {
		c.killedByHealth = true
		c.killLocked(nil)
	}
}

// probe runs the check once; nil means healthy.
func (h *healthChecker) probe(ctx context.Context) error {
	switch h.check.Type {
	case mesos.HealthCheck_COMMAND:
		return h.probeCommand(ctx)
	case mesos.HealthCheck_HTTP:
		return h.probeHTTP(ctx)
	case mesos.HealthCheck_TCP:
		return probeTCP(ctx, h.check.TCP.GetProtocol(), h.check.TCP.Port)
	}
	return fmt.Errorf("health check type %v", h.check.Type)
}

// probeCommand runs the check command in the task's sandbox with the task's
// environment: exit code 0 passes.
func (h *healthChecker) probeCommand(ctx context.Context) error {
	ci := h.check.Command
	var cmd *exec.Cmd
	if ci.Shell == nil || *ci.Shell {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", ci.GetValue())
	} else {
		path := ci.GetValue()
		if !strings.Contains(path, "/") {
			p, err := lookPath(path, h.env)
			if err != nil {
				return err
			}
			path = p
		}
		cmd = exec.CommandContext(ctx, path)
		if len(ci.Arguments) > 0 {
			cmd.Args = ci.Arguments
		}
	}
	cmd.Dir = h.c.exec.sandbox
	cmd.Env = h.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("health check command: %w", ctx.Err())
		}
		return fmt.Errorf("health check command: %w", err)
	}
	return nil
}

// probeHTTP GETs http(s)://127.0.0.1:port/path as Mesos' curl does
// (redirects followed, certificates not verified): 200–399 passes;
// `statuses` is ignored by the built-in executors.
func (h *healthChecker) probeHTTP(ctx context.Context) error {
	hc := h.check.HTTP
	scheme := "http"
	if hc.Scheme != nil && *hc.Scheme != "" {
		scheme = *hc.Scheme
	}
	url := scheme + "://" + loopback(hc.GetProtocol(), hc.Port) + hc.GetPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	cli := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	}}
	resp, err := cli.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return errors.New("HTTP health check: status " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// probeTCP passes when a connection to 127.0.0.1:port opens.
func probeTCP(ctx context.Context, proto mesos.NetworkInfo_Protocol, port uint32) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", loopback(proto, port))
	if err != nil {
		return err
	}
	return conn.Close()
}

func loopback(proto mesos.NetworkInfo_Protocol, port uint32) string {
	host := "127.0.0.1"
	if proto == mesos.IPv6 {
		host = "::1"
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}

// healthUpdateLocked reports a health result as the command executor does
// (taskHealthUpdated): a copy of the task's previous status with a new uuid,
// `healthy` and REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, through the status
// update manager. Nothing is reported once the task is being killed.
func (c *commandTask) healthUpdateLocked(healthy bool) {
	if c.killed || c.exited || c.last.State == nil {
		return
	}
	st := c.last
	st.UUID = newUUIDBytes()
	ts := float64(time.Now().UnixNano()) / 1e9
	st.Timestamp = &ts
	st.Reason = mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum()
	st.Healthy = &healthy
	c.sendLocked(st)
}
