package stepcmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(t *testing.T, spec Spec) Result {
	t.Helper()
	res, err := Run(context.Background(), spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestExitStatusOutputAndEnvironment(t *testing.T) {
	res := run(t, Spec{
		Command: `echo "out $A"; echo "err $B" >&2; [ -z "$HOME_LEAK" ] || echo leaked; exit 3`,
		Env:     []string{"A=1", "B=2", "PATH=/usr/bin:/bin"},
	})
	if res.ExitCode != 3 || res.Signal != 0 || res.TimedOut || res.Killed || res.Success() {
		t.Fatalf("result %+v", res)
	}
	if got := string(res.Tail); got != "out 1\nerr 2\n" {
		t.Errorf("tail %q", got)
	}
	if res.OutputBytes != int64(len("out 1\nerr 2\n")) {
		t.Errorf("output bytes %d", res.OutputBytes)
	}
	if res.Duration <= 0 || res.Ended.Before(res.Started) {
		t.Errorf("times %v %v %v", res.Started, res.Ended, res.Duration)
	}
	if !strings.Contains(res.String(), "status 3") {
		t.Errorf("String %q", res.String())
	}
}

func TestCallerEnvironmentIsNotInherited(t *testing.T) {
	t.Setenv("STEPCMD_CANARY", "leaked")
	res := run(t, Spec{Command: `echo "[$STEPCMD_CANARY]"`})
	if string(res.Tail) != "[]\n" {
		t.Errorf("tail %q: the caller's environment leaked", res.Tail)
	}
}

func TestSuccessAndDir(t *testing.T) {
	dir := t.TempDir()
	res := run(t, Spec{Command: "pwd", Dir: dir, Env: []string{"PATH=/usr/bin:/bin"}})
	if !res.Success() || strings.TrimSpace(string(res.Tail)) != dir {
		t.Fatalf("result %+v tail %q", res, res.Tail)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	res := run(t, Spec{
		Command:   `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done`,
		TailBytes: 64,
	})
	if len(res.Tail) != 64 || !bytes.HasSuffix(res.Tail, []byte("line 1999\n")) {
		t.Fatalf("tail %q", res.Tail)
	}
	if res.OutputBytes <= 64 {
		t.Errorf("output bytes %d", res.OutputBytes)
	}
}

func TestTailBuffer(t *testing.T) {
	var all []byte
	tb := newTail(7)
	for i, w := range []string{"ab", "", "cdefg", "h", "ijklmnopqrstu", "v", "wxyz"} {
		tb.Write([]byte(w))
		all = append(all, w...)
		want := all
		if len(want) > 7 {
			want = want[len(want)-7:]
		}
		if got := tb.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("after write %d: %q, want %q", i, got, want)
		}
		if tb.total != int64(len(all)) {
			t.Fatalf("total %d", tb.total)
		}
	}
}

func TestStartFailure(t *testing.T) {
	_, err := Run(context.Background(), Spec{Command: "true", Dir: "/nonexistent/dir"})
	if err == nil || !strings.Contains(err.Error(), "stepcmd: start") {
		t.Fatalf("err %v", err)
	}
}

// spawnStubborn is a command whose shell and background grandchild both
// ignore SIGTERM; the grandchild writes its pid to pidFile.
func spawnStubborn(pidFile string) string {
	return `trap "" TERM; (trap "" TERM; echo $(sh -c 'echo $PPID') > ` + pidFile + `; while :; do sleep 1; done) & ` +
		`echo started; while :; do sleep 1; done`
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether pid no longer runs: absent, or a zombie waiting for
// its new parent to reap it.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d survived Run: an orphan was left behind", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTimeoutKillsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res := run(t, Spec{
		Command:   spawnStubborn(pidFile),
		Env:       []string{"PATH=/usr/bin:/bin"},
		Timeout:   300 * time.Millisecond,
		KillGrace: 200 * time.Millisecond,
	})
	if !res.TimedOut || res.Killed || res.Signal != syscall.SIGKILL || res.ExitCode != -1 || res.Success() {
		t.Fatalf("result %+v", res)
	}
	if res.Duration < 500*time.Millisecond {
		t.Errorf("duration %v: SIGKILL came before the grace period ended", res.Duration)
	}
	if !strings.Contains(string(res.Tail), "started") || !strings.Contains(res.String(), "timed out") {
		t.Errorf("tail %q, %s", res.Tail, res)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestCancelKillsWithSIGTERMFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() {
		res, _ := Run(ctx, Spec{Command: `trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done`,
			Env: []string{"PATH=/usr/bin:/bin"}, KillGrace: 10 * time.Second})
		done <- res
	}()
	time.AfterFunc(300*time.Millisecond, cancel)
	res := <-done
	if !res.Killed || res.TimedOut || res.ExitCode != 7 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(string(res.Tail), "got TERM") {
		t.Errorf("tail %q", res.Tail)
	}
	if res.Duration > 5*time.Second {
		t.Errorf("took %v: the shell handled SIGTERM, no SIGKILL wait was needed", res.Duration)
	}
}

func TestLeftoversAreKilledAfterANormalExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res := run(t, Spec{
		Command: `(trap "" TERM; echo $(sh -c 'echo $PPID') > ` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile + `; while :; do sleep 1; done) & ` +
			`while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done; echo bye`,
		Env:       []string{"PATH=/usr/bin:/bin"},
		KillGrace: 200 * time.Millisecond,
	})
	if !res.Success() || string(res.Tail) != "bye\n" {
		t.Fatalf("result %+v tail %q", res, res.Tail)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestSetsidEscapesAndDoesNotHoldRun(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// setsid leaves the group (the documented way to schedule a reboot);
	// it keeps the output pipe open, which must not block Run for long.
	// The command waits until the escapee has left, as `systemd-run` or
	// `shutdown -r +1` would return only once the reboot is scheduled.
	start := time.Now()
	res := run(t, Spec{
		Command: `setsid sh -c 'echo $$ > ` + pidFile + `.tmp; mv ` + pidFile + `.tmp ` + pidFile + `; sleep 30' & ` +
			`while [ ! -s ` + pidFile + ` ]; do sleep 0.01; done; echo scheduled`,
		Env: []string{"PATH=/usr/bin:/bin"},
	})
	took := time.Since(start)
	pid := readPid(t, pidFile)
	defer syscall.Kill(pid, syscall.SIGKILL)
	if !res.Success() || !strings.Contains(string(res.Tail), "scheduled") {
		t.Fatalf("result %+v tail %q", res, res.Tail)
	}
	if took > drainTimeout+2*time.Second {
		t.Errorf("Run took %v", took)
	}
	if gone(pid) {
		t.Errorf("the setsid process was killed; it had left the group")
	}
}

func TestKillGraceCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan Result, 1)
	go func() {
		res, _ := Run(ctx, Spec{Command: `trap "" TERM; echo ready; while :; do sleep 0.05; done`,
			Env: []string{"PATH=/usr/bin:/bin"}, KillGrace: time.Hour})
		done <- res
	}()
	time.AfterFunc(200*time.Millisecond, func() { cancel(KillGrace(100 * time.Millisecond)) })
	select {
	case res := <-done:
		if !res.Killed || res.Signal != syscall.SIGKILL {
			t.Fatalf("result %+v", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the kill waited for Spec.KillGrace, not the cause's")
	}
}
