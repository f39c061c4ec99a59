// Package testtool holds what tests across the module share: Path finds an
// external program a test needs (promtool, chromium): a test on a machine
// without it is skipped, but FAILS in CI (CI=true), where .ci/run installs
// it, so a missing install step cannot turn a test into a silent skip; and
// WaitFor waits for a condition with a deadline, the one way tests wait.
package testtool

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// Path returns the path of program, or skips (fails in CI) saying which
// Debian package provides it.
func Path(t testing.TB, program, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (apt-get install %s): %v", program, debianPackage, err)
	}
	t.Skipf("%s not found (apt-get install %s; CI installs it): %v", program, debianPackage, err)
	return ""
}

// WaitFor polls cond until it holds, and fails t, naming what it waited
// for, if timeout passes first. It polls every millisecond at first, then
// less often, up to every 20 ms: quick conditions are seen at once, slow
// ones cost little.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 20*time.Millisecond)
	}
}
