// Package testtool finds an external program a test needs (promtool,
// chromium): a test on a machine without it is skipped, but FAILS in CI
// (CI=true), where .ci/run installs it, so a missing install step cannot
// turn a test into a silent skip.
package testtool

import (
	"os"
	"os/exec"
	"testing"
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
