package emulator

import (
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/healer-mesos/healer/internal/mesosduration"
)

// defaultExecutorPath is the PATH an executor gets when nothing else sets it
// (os::host_default_path in Mesos).
const defaultExecutorPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// fetchTimeout bounds one http(s) download by the fetcher.
const fetchTimeout = time.Minute

// sandboxPath is Mesos' executor run directory.
func sandboxPath(workDir, agentID, frameworkID, executorID, containerID string) string {
	return filepath.Join(workDir, "slaves", agentID, "frameworks", frameworkID,
		"executors", executorID, "runs", containerID)
}

// executorEnvLocked is exactly the environment Mesos' agent gives an
// executor under the mesos containerizer (Slave::executorEnvironment plus
// the containerizer's additions, mesos-protocol.md 4.1 item 5): the agent's
// own environment is not inherited. extra (CommandInfo.environment) comes
// last; PATH falls back to the default.
func (a *Agent) executorEnvLocked(e *agentExecutor, extra *mesos.Environment) []string {
	var names []string
	values := make(map[string]string)
	set := func(k, v string) {
		if _, ok := values[k]; !ok {
			names = append(names, k)
		}
		values[k] = v
	}
	// Slave::executorEnvironment passes the agent's LIBPROCESS_IP on, and
	// mesos-agent sets it from --ip (src/slave/main.cpp): an emulated agent
	// is bound to its endpoint's IP, as an agent started with --ip is.
	set("LIBPROCESS_IP", a.endpointIPLocked())
	set("LIBPROCESS_PORT", "0")
	set("MESOS_FRAMEWORK_ID", e.fw.id().Value)
	set("MESOS_EXECUTOR_ID", e.info.ExecutorID.Value)
	set("MESOS_DIRECTORY", e.sandbox)
	set("MESOS_SANDBOX", e.sandbox)
	set("MESOS_SLAVE_ID", a.cfg.ID.Value)
	set("MESOS_SLAVE_PID", "slave(1)@"+a.endpoint)
	set("MESOS_AGENT_ENDPOINT", a.endpoint)
	checkpoint := e.fw.info.GetCheckpoint()
	if checkpoint {
		set("MESOS_CHECKPOINT", "1")
	} else {
		set("MESOS_CHECKPOINT", "0")
	}
	set("MESOS_HTTP_COMMAND_EXECUTOR", "0")
	set("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", mesosduration.Format(a.shutdownGraceLocked(e)))
	if checkpoint {
		set("MESOS_RECOVERY_TIMEOUT", mesosduration.Format(a.cfg.RecoveryTimeout))
		set("MESOS_SUBSCRIPTION_BACKOFF_MAX", mesosduration.Format(a.cfg.ExecutorReregistrationTimeout))
	}
	if extra != nil {
		for _, v := range extra.Variables {
			if v.Type != nil && *v.Type != mesos.Environment_Variable_VALUE {
				continue // secrets are not emulated
			}
			set(v.Name, v.GetValue())
		}
	}
	if _, ok := values["PATH"]; !ok {
		set("PATH", defaultExecutorPath)
	}
	env := make([]string, 0, len(names))
	for _, k := range names {
		env = append(env, k+"="+values[k])
	}
	return env
}

func (a *Agent) shutdownGraceLocked(e *agentExecutor) time.Duration {
	if g := e.info.ShutdownGracePeriod; g != nil {
		return time.Duration(g.Nanoseconds)
	}
	return a.cfg.ExecutorShutdownGracePeriod
}

// startExecutorProcessLocked launches a custom executor's container in the
// background: sandbox, fetch, then the process. A failure ends the executor
// with TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED.
func (a *Agent) startExecutorProcessLocked(e *agentExecutor) {
	cmdInfo := e.info.GetCommand()
	env := a.executorEnvLocked(e, cmdInfo.Environment)
	a.launchContainerLocked(e, cmdInfo, env, true, func(cmd *exec.Cmd) {
		e.proc, e.pgid = cmd.Process, cmd.Process.Pid
		if !e.alive || e.state >= execTerminating || a.closed {
			e.destroyProcess() // destroyed while launching
		}
		a.wg.Add(1)
		go a.reap(e, cmd)
	})
}

// launchContainerLocked runs launchContainer for e's container off the
// agent's lock (fetching may take a while) and calls started, with the lock
// held, once the process runs. A failure ends the executor with
// TASK_FAILED / REASON_CONTAINER_LAUNCH_FAILED; reportExit is passed on to
// executorTerminatedLocked.
func (a *Agent) launchContainerLocked(e *agentExecutor, ci *mesos.CommandInfo, env []string, reportExit bool, started func(*exec.Cmd)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		cmd, err := launchContainer(e.sandbox, e.containerID, ci, env)
		a.mu.Lock()
		defer a.mu.Unlock()
		if err != nil {
			if e.state != execTerminated && e.alive {
				e.termination = &executorTermination{
					state:   mesos.TASK_FAILED,
					reason:  mesos.REASON_CONTAINER_LAUNCH_FAILED,
					message: "Failed to launch container: " + err.Error(),
				}
				if a.up {
					a.executorTerminatedLocked(e, -1, reportExit)
				}
			}
			return
		}
		started(cmd)
	}()
}

// reap waits for an executor process and reports its end.
func (a *Agent) reap(e *agentExecutor, cmd *exec.Cmd) {
	defer a.wg.Done()
	cmd.Wait()
	status := int32(-1)
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		status = int32(ws)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.proc != cmd.Process {
		return
	}
	e.proc = nil
	e.alive = false
	if a.up {
		a.executorTerminatedLocked(e, status, !e.commandTask)
	}
	// A dead agent learns of it on Restart (reregistration timeout).
}

// destroyProcess kills the executor's whole process group.
func (e *agentExecutor) destroyProcess() {
	if e.pgid > 0 {
		syscall.Kill(-e.pgid, syscall.SIGKILL)
	}
}

// closeStream ends the executor's subscription, if any.
func (e *agentExecutor) closeStream() {
	if s := e.stream; s != nil {
		e.stream = nil
		s.Close()
	}
}

// launchContainer creates the sandbox, fetches the URIs into it and starts
// the command in its own process group with stdout/stderr in the sandbox.
func launchContainer(sandbox, containerID string, ci *mesos.CommandInfo, env []string) (*exec.Cmd, error) {
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	if err := fetchURIs(sandbox, ci.GetURIs()); err != nil {
		return nil, fmt.Errorf("Failed to fetch all URIs for container '%s': %w", containerID, err)
	}
	var cmd *exec.Cmd
	if ci == nil || ci.Shell == nil || *ci.Shell {
		cmd = exec.Command("/bin/sh", "-c", ci.GetValue())
	} else {
		if ci.GetValue() == "" {
			return nil, errors.New("no command value")
		}
		cmd = &exec.Cmd{Path: ci.GetValue(), Args: ci.Arguments}
		if !strings.Contains(ci.GetValue(), "/") {
			p, err := lookPath(ci.GetValue(), env)
			if err != nil {
				return nil, err
			}
			cmd.Path = p
		}
		if len(cmd.Args) == 0 {
			cmd.Args = []string{ci.GetValue()}
		}
	}
	cmd.Dir = sandbox
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := os.OpenFile(filepath.Join(sandbox, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stdout: %w", err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(sandbox, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open stderr: %w", err)
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", ci.GetValue(), err)
	}
	return cmd, nil
}

// lookPath resolves a program name on the executor's PATH, not the agent's.
func lookPath(name string, env []string) (string, error) {
	path := defaultExecutorPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found on PATH", name)
}

// fetchURIs is Mesos' fetcher without its cache: each URI is copied or
// downloaded into the sandbox (as output_file if set), made executable, or
// else extracted when it names an archive and extract is not false.
func fetchURIs(sandbox string, uris []mesos.CommandInfo_URI) error {
	for _, u := range uris {
		if err := fetchURI(sandbox, u); err != nil {
			return err
		}
	}
	return nil
}

func fetchURI(sandbox string, u mesos.CommandInfo_URI) error {
	var open func() (io.ReadCloser, error)
	var base string
	switch {
	case strings.HasPrefix(u.Value, "http://"), strings.HasPrefix(u.Value, "https://"):
		pu, err := url.Parse(u.Value)
		if err != nil {
			return fmt.Errorf("fetch %s: %w", u.Value, err)
		}
		base = filepath.Base(pu.Path)
		open = func() (io.ReadCloser, error) {
			cli := &http.Client{Timeout: fetchTimeout}
			resp, err := cli.Get(u.Value)
			if err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusOK {
				resp.Body.Close()
				return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return resp.Body, nil
		}
	case strings.HasPrefix(u.Value, "file://"), strings.HasPrefix(u.Value, "/"):
		p := strings.TrimPrefix(u.Value, "file://")
		base = filepath.Base(p)
		open = func() (io.ReadCloser, error) { return os.Open(p) }
	default:
		return fmt.Errorf("fetch %s: unsupported URI", u.Value)
	}
	if u.OutputFile != nil && *u.OutputFile != "" {
		base = *u.OutputFile
	}
	dst := filepath.Join(sandbox, base)
	if base == "" || base == "." || base == "/" {
		return fmt.Errorf("fetch %s: no file name", u.Value)
	}
	r, err := open()
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u.Value, err)
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("fetch %s: %w", u.Value, err)
	}
	if err := writeUnshared(dst, r); err != nil {
		return fmt.Errorf("fetch %s: %w", u.Value, err)
	}
	if u.GetExecutable() {
		return os.Chmod(dst, 0o755)
	}
	if u.Extract == nil || *u.Extract {
		if err := extract(dst, sandbox); err != nil {
			return fmt.Errorf("extract %s: %w", dst, err)
		}
	}
	return nil
}

// extract unpacks an archive into dir by its extension, as the fetcher
// does; other files are left alone.
func extract(path, dir string) error {
	name := strings.ToLower(path)
	for _, ext := range []string{".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz"} {
		if strings.HasSuffix(name, ext) {
			out, err := exec.Command("tar", "-C", dir, "-xf", path).CombinedOutput()
			if err != nil {
				return fmt.Errorf("tar: %w: %s", err, out)
			}
			return nil
		}
	}
	switch {
	case strings.HasSuffix(name, ".zip"):
		return unzip(path, dir)
	case strings.HasSuffix(name, ".gz"):
		return gunzip(path, strings.TrimSuffix(path, filepath.Ext(path)))
	}
	return nil
}

func unzip(path, dir string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		dst := filepath.Join(dir, f.Name)
		if !strings.HasPrefix(dst, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("zip entry %q escapes the sandbox", f.Name)
		}
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyZipEntry(f, dst); err != nil {
			return err
		}
	}
	return nil
}

func copyZipEntry(f *zip.File, dst string) error {
	r, err := f.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, f.Mode().Perm()|0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func gunzip(path, dst string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	w, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, zr); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// commandTask is the built-in command executor (src/launcher/executor.cpp),
// run inside the agent since no mesos-executor binary exists here: it runs
// the task's command as a process and reports TASK_STARTING, TASK_RUNNING,
// then FINISHED / FAILED / KILLED (TASK_KILLING first with the
// TASK_KILLING_STATE capability). It runs the task's health check, if any
// (healthcheck.go). Its fields are guarded by agent.mu; its timers are owned
// (the agent's Close waits for them).
type commandTask struct {
	agent          *Agent
	exec           *agentExecutor
	taskID         mesos.TaskID
	pgid           int
	killed         bool // a kill was requested
	killedByHealth bool // ... because the health check failed too often
	launched       bool
	exited         bool
	killTimer      *ownedTimer      // SIGTERM → SIGKILL escalation
	health         *healthChecker   // nil without a health check
	last           mesos.TaskStatus // the newest status sent
}

// handle receives the agent's events (on the mailbox, unlocked).
func (c *commandTask) handle(ev *executor.Event) {
	a := c.agent
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.up || !c.exec.alive || c.exec.state == execTerminated {
		return
	}
	switch ev.Type {
	case executor.Event_LAUNCH:
		c.launchLocked(ev.Launch.Task)
	case executor.Event_KILL:
		c.killLocked(ev.Kill.KillPolicy)
	case executor.Event_SHUTDOWN:
		c.killLocked(nil)
	}
}

// updateLocked sends an update as the executor.
func (c *commandTask) updateLocked(state mesos.TaskState, msg string) {
	eid := c.exec.info.ExecutorID
	st := mesos.TaskStatus{
		TaskID:     c.taskID,
		State:      state.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		UUID:       newUUIDBytes(),
		ExecutorID: &eid,
	}
	if msg != "" {
		st.Message = &msg
	}
	if state == mesos.TASK_KILLED && c.killedByHealth {
		// The kill came from a failing health check; Mesos has no reason for it.
		unhealthy := false
		st.Healthy = &unhealthy
	}
	c.sendLocked(st)
}

// sendLocked hands a status to the agent's status update manager and keeps
// it as the task's newest.
func (c *commandTask) sendLocked(st mesos.TaskStatus) {
	if c.agent.taskUpdateLocked(c.exec.fw, st) {
		c.last = st
	}
}

// stopTimersLocked stops the kill escalation and the health checker.
func (c *commandTask) stopTimersLocked() {
	stopOwned(&c.killTimer)
	c.health.stopLocked()
}

func (c *commandTask) launchLocked(task mesos.TaskInfo) {
	if c.launched {
		return // one task per command executor
	}
	a, e := c.agent, c.exec
	c.launched, c.taskID = true, task.TaskID
	c.updateLocked(mesos.TASK_STARTING, "")
	ci := task.GetCommand()
	env := a.executorEnvLocked(e, ci.Environment)
	a.launchContainerLocked(e, ci, env, false, func(cmd *exec.Cmd) {
		c.pgid = cmd.Process.Pid
		a.wg.Add(1)
		go c.reap(cmd)
		switch {
		case !e.alive || e.state == execTerminated:
			c.destroy()
		case c.killed:
			c.signalLocked(nil)
		default:
			c.updateLocked(mesos.TASK_RUNNING, "")
			if hc := task.HealthCheck; hc != nil {
				c.startHealthCheckLocked(*hc, env)
			}
		}
	})
}

func (c *commandTask) reap(cmd *exec.Cmd) {
	a := c.agent
	defer a.wg.Done()
	cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	a.mu.Lock()
	defer a.mu.Unlock()
	c.exited = true
	c.stopTimersLocked()
	if !a.up || !c.exec.alive || c.exec.state == execTerminated {
		return
	}
	var msg string
	if ws.Signaled() {
		msg = "Command terminated with signal " + ws.Signal().String()
	} else {
		msg = "Command exited with status " + strconv.Itoa(ws.ExitStatus())
	}
	switch {
	case c.killed:
		c.updateLocked(mesos.TASK_KILLED, msg)
	case ws.Exited() && ws.ExitStatus() == 0:
		c.updateLocked(mesos.TASK_FINISHED, msg)
	default:
		c.updateLocked(mesos.TASK_FAILED, msg)
	}
	if c.exec.state == execTerminating {
		// Shut down: the executor exits with its task.
		a.executorTerminatedLocked(c.exec, int32(ws), false)
	}
}

// killLocked kills the task: TASK_KILLING if the framework understands it,
// SIGTERM to the process group, SIGKILL after the grace period.
func (c *commandTask) killLocked(policy *mesos.KillPolicy) {
	if c.killed || c.exited {
		return
	}
	c.killed = true
	c.health.stopLocked() // the command executor pauses health checks when killing
	if !c.launched {
		return
	}
	if c.exec.fw.hasCapability(mesos.FrameworkInfo_Capability_TASK_KILLING_STATE) {
		c.updateLocked(mesos.TASK_KILLING, "")
	}
	if c.pgid > 0 {
		c.signalLocked(policy)
	}
}

func (c *commandTask) signalLocked(policy *mesos.KillPolicy) {
	grace := c.agent.cfg.CommandKillGracePeriod
	if policy == nil {
		if t := c.exec.tasks[c.taskID.Value]; t != nil {
			policy = t.info.KillPolicy
		}
	}
	if policy != nil && policy.GracePeriod != nil {
		grace = time.Duration(policy.GracePeriod.Nanoseconds)
	}
	syscall.Kill(-c.pgid, syscall.SIGTERM)
	pgid := c.pgid
	c.killTimer = afterFuncOwned(&c.agent.wg, grace, func() {
		// The process group outlives the task only until it is reaped,
		// which stops this timer first; a stale pgid is never signalled.
		a := c.agent
		a.mu.Lock()
		defer a.mu.Unlock()
		if !c.exited {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
}

// destroy kills the task's process group at once.
func (c *commandTask) destroy() {
	c.stopTimersLocked()
	if c.pgid > 0 && !c.exited {
		syscall.Kill(-c.pgid, syscall.SIGKILL)
	}
}

// writeUnshared writes r to path so that no process started meanwhile
// holds it open for writing. Mesos fetches in a process of its own; the
// emulator fetches in the process that starts every container, and a
// container forked while a fetched executable is still open for writing
// keeps that descriptor until it execs, long enough for another container
// executing the file to fail with ETXTBSY ("Text file busy"). The body is
// first written to a side file, never executed; the final copy, a local
// one, is made holding syscall.ForkLock, which every fork takes.
func writeUnshared(path string, r io.Reader) error {
	side := path + ".fetching"
	f, err := os.OpenFile(side, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(side)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	in, err := os.Open(side)
	if err != nil {
		return err
	}
	defer in.Close()
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
