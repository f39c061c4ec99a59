// Package stepcmd runs one repair-step (or check) command the way healer runs
// every command it does not own: `/bin/sh -c <command>` in a process group
// of its own, with an explicit environment, a timeout and a kill grace, and
// with the end of its combined output kept in a bounded buffer.
//
// The contract, which both scopes rely on (healer-executor for agent-scope
// steps and monitor command checks, the scheduler for master-scope steps):
//
//   - The command runs as the leader of a new process group. Everything it
//     starts stays in that group unless it leaves it on purpose (setsid,
//     systemd-run, at, shutdown -r: the documented way for a step to leave
//     something behind, such as a scheduled reboot).
//   - On timeout, or when ctx ends (a KILL), the whole group gets SIGTERM,
//     then SIGKILL after KillGrace if any member is still there.
//   - When the shell exits by itself, whatever it left behind in its group
//     gets the same SIGTERM-then-SIGKILL treatment before Run returns: no
//     process outlives Run inside the group, so a step can never leave an
//     orphan holding its output pipe or its resources.
//   - Output (stdout and stderr, interleaved as written) is counted in full
//     and its last TailBytes are kept; memory use is bounded by TailBytes
//     whatever the command writes.
//   - Run returns an error only when the command could not be started; how
//     it ended (exit status, signal, timeout, kill) is in the Result.
//
// The package knows nothing of Mesos, tasks or healer's payloads: callers
// build the environment (executor/taskspec.StepEnv) and map the Result.
package stepcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Shell is the shell every command runs with.
const Shell = "/bin/sh"

// Defaults for a Spec's zero fields.
const (
	// DefaultKillGrace is the time between SIGTERM and SIGKILL.
	DefaultKillGrace = 10 * time.Second
	// DefaultTailBytes is how much of the output's end is kept: 4 KiB, what
	// healer records per attempt (coordinator.MaxOutputTailBytes).
	DefaultTailBytes = 4096
)

// drainTimeout bounds the wait for the output pipe to reach EOF once the
// group is gone: a process that left the group on purpose (setsid) but kept
// the pipe open must not hold Run forever.
const drainTimeout = 2 * time.Second

// groupPoll is how often Run looks whether a signalled group is empty.
const groupPoll = 20 * time.Millisecond

// Spec is one command to run.
type Spec struct {
	// Command is run as `/bin/sh -c Command`.
	Command string
	// Env is the command's complete environment ("K=V" entries); it does not
	// inherit the caller's. Give os.Environ() plus additions to inherit.
	Env []string
	// Dir is the working directory; empty means the caller's.
	Dir string
	// Timeout ends the command (SIGTERM, then SIGKILL after KillGrace) when
	// it runs longer; 0 means no timeout (only ctx ends it).
	Timeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL; 0 means
	// DefaultKillGrace.
	KillGrace time.Duration
	// TailBytes is how much of the output's end Result.Tail keeps; 0 means
	// DefaultTailBytes.
	TailBytes int
}

// Result is how a command ended.
type Result struct {
	// ExitCode is the shell's exit status, or -1 when a signal ended it.
	ExitCode int
	// Signal is the signal that ended the shell, 0 when it exited.
	Signal syscall.Signal
	// TimedOut: Spec.Timeout expired and the group was killed.
	TimedOut bool
	// Killed: ctx ended before the command did, and the group was killed.
	Killed bool
	// Started and Ended are wall-clock times; Duration is measured on the
	// monotonic clock.
	Started, Ended time.Time
	Duration       time.Duration
	// Tail is the end of the combined output; OutputBytes counts all of it.
	Tail        []byte
	OutputBytes int64
}

// Success reports whether the command exited 0 by itself.
func (r Result) Success() bool {
	return r.ExitCode == 0 && r.Signal == 0 && !r.TimedOut && !r.Killed
}

// String summarises how the command ended, for status messages and logs.
func (r Result) String() string {
	switch {
	case r.TimedOut:
		return fmt.Sprintf("timed out after %s; process group killed", r.Duration.Round(time.Millisecond))
	case r.Killed:
		return fmt.Sprintf("killed after %s", r.Duration.Round(time.Millisecond))
	case r.Signal != 0:
		return fmt.Sprintf("terminated by signal %s after %s", r.Signal, r.Duration.Round(time.Millisecond))
	}
	return fmt.Sprintf("exited with status %d after %s", r.ExitCode, r.Duration.Round(time.Millisecond))
}

// KillGrace, as the cause of a context's cancellation
// (context.WithCancelCause), sets the grace period of that kill instead of
// Spec.KillGrace: a Mesos KILL may carry its own kill policy, and a
// shutting-down executor has less time than a step's usual grace.
type KillGrace time.Duration

func (g KillGrace) Error() string {
	return "stepcmd: killed with a grace period of " + time.Duration(g).String()
}

// Run runs spec.Command and returns once it and every process left in its
// group have ended. ctx ending kills the command (Result.Killed), with the
// grace period of a KillGrace cause if it has one. The error is non-nil
// only when the command could not be started.
func Run(ctx context.Context, spec Spec) (Result, error) {
	grace := spec.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	tailBytes := spec.TailBytes
	if tailBytes <= 0 {
		tailBytes = DefaultTailBytes
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("stepcmd: output pipe: %w", err)
	}
	cmd := exec.Command(Shell, "-c", spec.Command)
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // never the caller's environment by accident
	}
	cmd.Dir = spec.Dir
	// An *os.File, not an io.Writer: exec then hands the pipe to the child
	// as is and starts no copying goroutine that Wait would block on.
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var res Result
	res.Started = time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return Result{}, fmt.Errorf("stepcmd: start %s -c: %w", Shell, err)
	}
	pw.Close() // the child holds the write end now
	pgid := cmd.Process.Pid

	tail := newTail(tailBytes)
	drained := make(chan struct{})
	go func() { // owned: Run waits for drained before returning
		defer close(drained)
		io.Copy(tail, pr)
	}()
	exited := make(chan struct{})
	go func() { // owned: Run receives from exited before returning
		cmd.Wait()
		close(exited)
	}()

	var timeout <-chan time.Time
	if spec.Timeout > 0 {
		t := time.NewTimer(spec.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-exited:
	case <-timeout:
		res.TimedOut = true
		killGroup(pgid, grace, exited)
	case <-ctx.Done():
		res.Killed = true
		var kg KillGrace
		if errors.As(context.Cause(ctx), &kg) {
			grace = max(0, time.Duration(kg))
		}
		killGroup(pgid, grace, exited)
	}
	<-exited
	res.Ended = time.Now()
	res.Duration = res.Ended.Sub(res.Started)
	// The shell is gone; anything it left in its group goes too.
	killGroup(pgid, grace, nil)

	select {
	case <-drained:
	case <-time.After(drainTimeout):
		// Someone outside the group still holds the pipe: stop reading.
		pr.SetReadDeadline(time.Now())
		<-drained
	}
	pr.Close()

	res.ExitCode = -1
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Exited():
			res.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			res.Signal = ws.Signal()
		}
	}
	res.Tail, res.OutputBytes = tail.bytes(), tail.total
	return res, nil
}

// killGroup sends SIGTERM to the process group and SIGKILL after grace if
// it is not empty by then. leaderExited, when not nil, also ends the wait
// early once the leader has exited (the SIGKILL still goes to the rest of
// the group); with nil the wait is for the whole group.
func killGroup(pgid int, grace time.Duration, leaderExited <-chan struct{}) {
	if !groupAlive(pgid) {
		return
	}
	syscall.Kill(-pgid, syscall.SIGTERM)
	// A stopped process would never see SIGTERM.
	syscall.Kill(-pgid, syscall.SIGCONT)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(groupPoll)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
			waitGroupGone(pgid)
			return
		case <-leaderExited:
			leaderExited = nil // from now on wait for the rest of the group
		case <-tick.C:
			if leaderExited == nil && !groupAlive(pgid) {
				return
			}
		}
	}
}

// waitGroupGone waits a little for SIGKILLed processes to disappear, so
// that a caller checking for survivors right after Run sees none.
func waitGroupGone(pgid int) {
	for i := 0; i < 50 && groupAlive(pgid); i++ {
		time.Sleep(groupPoll)
	}
}

// groupAlive reports whether a live process is left in the group. A zombie
// (dead, not yet reaped by the init that inherited it, which some container
// inits are slow or never do) is not alive: signalling it is pointless, and
// counting it would make every kill wait out its grace period.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	live, ok := liveMember(pgid)
	return live || !ok
}

// liveMember scans /proc for a process of the group that is not a zombie;
// ok is false when /proc cannot be read (the caller then trusts kill(2)).
func liveMember(pgid int) (live, ok bool) {
	d, err := os.Open("/proc")
	if err != nil {
		return false, false
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return false, false
	}
	want := strconv.Itoa(pgid)
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 3 && f[2] == want && f[0] != "Z" && f[0] != "X" {
			return true, true
		}
	}
	return false, true
}

// tailBuffer keeps the last len(buf) bytes written to it: a ring buffer, so
// memory stays bounded whatever the command writes.
type tailBuffer struct {
	buf   []byte
	next  int // where the next byte goes
	full  bool
	total int64
}

func newTail(n int) *tailBuffer { return &tailBuffer{buf: make([]byte, n)} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	t.total += int64(n)
	if len(p) >= len(t.buf) {
		copy(t.buf, p[len(p)-len(t.buf):])
		t.next, t.full = 0, true
		return n, nil
	}
	c := copy(t.buf[t.next:], p)
	if c < len(p) {
		copy(t.buf, p[c:])
		t.full = true
	}
	t.next = (t.next + len(p)) % len(t.buf)
	if t.next == 0 && len(p) > 0 {
		t.full = true
	}
	return n, nil
}

// bytes returns the kept tail, oldest byte first.
func (t *tailBuffer) bytes() []byte {
	if !t.full {
		return append([]byte(nil), t.buf[:t.next]...)
	}
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.next:]...)
	return append(out, t.buf[:t.next]...)
}
