// Package integration runs healer's real binaries (healer-scheduler,
// healer-executor) against the Mesos emulator and a real ZooKeeper, and
// checks what the emulator recorded: every launch, kill, status update and
// operator call.
package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
)

// bins are the binaries under test, built once by TestMain.
var bins struct{ scheduler, executor string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "healer-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.scheduler = filepath.Join(dir, "healer-scheduler")
	bins.executor = filepath.Join(dir, "healer-executor")
	args := []string{"build", "-o", dir}
	if raceEnabled {
		// The binaries race-checked too: a data race in the scheduler
		// shows up in its output, which the tests fail on.
		args = append(args, "-race")
	}
	if os.Getenv("SCALE_PPROF") != "" {
		// The scale run profiles the scheduler (docs/scale.md).
		args = append(args, "-tags", "pprof")
	}
	args = append(args, "github.com/healer-mesos/healer/cmd/healer-scheduler", "github.com/healer-mesos/healer/cmd/healer-executor")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build the binaries: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startCluster starts an emulated cluster closed with the test.
func startCluster(t testing.TB, cfg emulator.ClusterConfig) *emulator.Cluster {
	t.Helper()
	if cfg.Agent.WorkDir == "" {
		cfg.Agent.WorkDir = t.TempDir()
	}
	c, err := emulator.NewCluster(cfg)
	if err != nil {
		t.Fatalf("start the emulated cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// scheduler is a running healer-scheduler process.
type scheduler struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	logs *lockedBuffer
	done chan struct{}
	err  error
	// token, when set, is sent as a bearer token (--admin_tokens).
	token string
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startScheduler starts healer-scheduler with the harness's defaults
// (overridable: later flags win) and waits until its admin API listens.
func startScheduler(t testing.TB, master string, flags ...string) *scheduler {
	t.Helper()
	me := "root"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	args := append([]string{
		"--master=" + master, "--admin_listen=127.0.0.1:0", "--hostname=127.0.0.1", "--mode=execute",
		"--user=" + me, "--executor_path=" + bins.executor, "--log_format=json", "--log_level=debug",
		"--failover_timeout=1hrs", "--max_unhealthy=100%", "--admin_insecure",
	}, flags...)
	for _, f := range flags {
		if strings.HasPrefix(f, "--admin_tokens=") {
			// Tokens and --admin_insecure exclude each other.
			args = slices.DeleteFunc(args, func(a string) bool { return a == "--admin_insecure" })
		}
	}
	s := &scheduler{t: t, cmd: exec.Command(bins.scheduler, args...), logs: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start healer-scheduler: %v", err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			s.logs.Write(append(line, '\n'))
			var rec struct {
				Msg   string `json:"msg"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "healer-scheduler started" {
				urls <- rec.Admin
			}
		}
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.signal(syscall.SIGKILL)
		<-s.done
		if t.Failed() {
			t.Logf("healer-scheduler %s log:\n%s", s.URL, s.logs.String())
		}
	})
	select {
	case s.URL = <-urls:
	case <-s.done:
		t.Fatalf("healer-scheduler exited at start: %v\n%s", s.err, s.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("healer-scheduler did not start within 30s:\n%s", s.logs.String())
	}
	return s
}

func (s *scheduler) signal(sig syscall.Signal) {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *scheduler) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.t.Fatalf("healer-scheduler did not stop on SIGTERM")
	}
}

// request sends method path with a JSON body and decodes the JSON answer
// into out (when not nil); it returns the status code.
func (s *scheduler) request(method, path string, body, out any) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil || method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	cli := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := cli.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

// repair posts a signal and returns the status code.
func (s *scheduler) repair(host, problem string) int {
	s.t.Helper()
	var out map[string]any
	code := s.request(http.MethodPost, "/repair", map[string]string{"hostname": host, "problem": problem, "source": "test"}, &out)
	return code
}

type agentView struct {
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	State    string `json:"state"`
	Incident *struct {
		ID     uint64 `json:"id"`
		Action string `json:"action"`
	} `json:"incident"`
	History []struct {
		ID         uint64 `json:"id"`
		Action     string `json:"action"`
		Scope      string `json:"scope"`
		Result     string `json:"result"`
		ExitCode   int    `json:"exit_code"`
		OutputTail string `json:"output_tail"`
	} `json:"history"`
}

func (s *scheduler) agent(id string) agentView {
	s.t.Helper()
	var a agentView
	if code := s.request(http.MethodGet, "/agents/"+id, nil, &a); code != http.StatusOK {
		s.t.Fatalf("GET /agents/%s: %d", id, code)
	}
	return a
}

func (s *scheduler) status() (admin.Status, int) {
	var st admin.Status
	code := s.request(http.MethodGet, "/status", nil, &st)
	return st, code
}

// ready waits until the scheduler leads, is subscribed and reconciled.
func (s *scheduler) ready(timeout time.Duration) {
	s.t.Helper()
	testtool.WaitFor(s.t, "healer-scheduler leading and mutable", timeout, func() bool {
		st, code := s.status()
		return code == http.StatusOK && st.IsLeader && st.Subscribed && !st.Immutable
	})
}

// script writes an executable shell script into dir and returns its path.
func script(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// agentID is the emulator's id of the agent on host.
func agentID(t testing.TB, c *emulator.Cluster, host string) string {
	t.Helper()
	for _, a := range c.Agents() {
		if info := a.Info(); info.Hostname == host {
			return info.GetID().GetValue()
		}
	}
	t.Fatalf("no agent on %s", host)
	return ""
}

// launchesOn lists the task ids the master accepted for launch on agent.
func launchesOn(c *emulator.Cluster, agent string) []string {
	var ids []string
	for _, r := range c.Recorder().Records(emulator.RecordLaunch) {
		if r.AgentID == agent && strings.HasPrefix(r.TaskID, "healer.repair.") {
			ids = append(ids, r.TaskID)
		}
	}
	return ids
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func asExit(err error, target **exec.ExitError) bool { return errors.As(err, target) }
