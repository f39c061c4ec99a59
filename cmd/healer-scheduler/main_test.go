package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the real healer-scheduler once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "healer-scheduler-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "healer-scheduler")
		// go test puts its own toolchain's bin directory first on PATH.
		gobin, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		out, err := exec.Command(gobin, "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out) + err.Error())
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// runBinary runs the binary with only the given environment (no HEALER_*
// variables of the machine running the tests leak in).
func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run: %v", err)
	}
	return code, o.String(), e.String()
}

// effective returns the settings of the JSON "effective configuration" line.
func effective(t *testing.T, stderr string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "effective configuration" {
			return m
		}
	}
	t.Fatalf("no effective configuration logged:\n%s", stderr)
	return nil
}

func TestBadRepairOrderExitsBeforeAnythingElse(t *testing.T) {
	code, stdout, stderr := runBinary(t, nil, "--master=m1:5050", "--repair_set=reboot=/sbin/reboot", "--repair_order=rebot:slave")
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, `--repair_order=rebot:slave: unknown repair id "rebot"; did you mean "reboot"? (not in --repair_set, and not a built-in: isolate; define it in --repair_set or fix the name)`) {
		t.Errorf("stderr does not name the bad value:\n%s", stderr)
	}
	if strings.Contains(stderr, "effective configuration") || stdout != "" {
		t.Errorf("did something before refusing the configuration:\nstdout: %s\nstderr: %s", stdout, stderr)
	}
}

func TestEnvironment(t *testing.T) {
	code, _, stderr := runBinary(t, []string{"HEALER_NUM_ALLOWED_REPAIRS=3", "HEALER_MASTER=m1:5050", "HEALER_REPAIR_ORDER=isolate"},
		"--validate_only", "--log_format=json")
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, stderr)
	}
	if got := effective(t, stderr)["num_allowed_repairs"]; got != "3" {
		t.Errorf("num_allowed_repairs = %v, want 3 from HEALER_NUM_ALLOWED_REPAIRS", got)
	}
	code, _, stderr = runBinary(t, []string{"HEALER_NUM_ALLOWED_REPAIRS=0"}, "--master=m1:5050", "--repair_order=isolate")
	if code != 2 || !strings.Contains(stderr, "HEALER_NUM_ALLOWED_REPAIRS=0: must be at least 1, got 0") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestConfigFileAndFlagPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "healer.yaml")
	body := "master: m1:5050\nnum_allowed_repairs: 2\nprobation: 5mins\nmode: dry-run\nrepair_order: [isolate]\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runBinary(t, []string{"HEALER_PROBATION=7m", "HEALER_MODE=observe"},
		"--config="+file, "--probation=1m", "--validate_only", "--log_format=json")
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, stderr)
	}
	got := effective(t, stderr)
	for k, want := range map[string]string{
		"num_allowed_repairs": "2",       // file over default
		"probation":           "1m0s",    // flag over environment over file
		"mode":                "observe", // environment over file
		"reset_after":         "1h0m0s",  // default
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %s", k, got[k], want)
		}
	}
}

// Without the executor binary to serve (and no --executor_uri), the
// scheduler stops at once and says how to fix it, rather than subscribe
// and launch tasks agents cannot fetch.
func TestMissingExecutorStops(t *testing.T) {
	code, _, stderr := runBinary(t, nil, "--master=127.0.0.1:1", "--repair_order=isolate",
		"--admin_listen=127.0.0.1:0", "--executor_path=/nonexistent/healer-executor")
	if code != 1 || !strings.Contains(stderr, "healer-executor not found at /nonexistent/healer-executor") ||
		!strings.Contains(stderr, "--executor_uri") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// An admin port already in use stops the scheduler with the address and
// the flag to change.
func TestAdminPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := runBinary(t, nil, "--master=127.0.0.1:1", "--repair_order=isolate",
		"--admin_listen="+ln.Addr().String())
	if code != 1 || !strings.Contains(stderr, "listen on "+ln.Addr().String()) || !strings.Contains(stderr, "--admin_listen") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runBinary(t, nil, "--help")
	if code != 0 || !strings.Contains(stdout, "--repair_order (HEALER_REPAIR_ORDER)") {
		t.Errorf("exit %d, stdout:\n%s", code, stdout)
	}
}

// --print_config writes the effective configuration as a config file that
// the binary reads back to the same effective settings.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "healer.yaml")
	body := "master: m1:5050\nrepair_set: {reboot: /sbin/reboot}\nrepair_order: [{action: reboot, scope: agent, timeout: 20m, drain: true}, isolate]\nladders:\n  disk_full: [isolate]\nzone_caps: {a: 1}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runBinary(t, []string{"HEALER_MODE=observe"}, "--config="+file, "--probation=1m", "--print_config")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	printed := filepath.Join(dir, "printed.yaml")
	if err := os.WriteFile(printed, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, want := runBinary(t, []string{"HEALER_MODE=observe"}, "--config="+file, "--probation=1m", "--validate_only", "--log_format=json")
	code, _, got := runBinary(t, nil, "--config="+printed, "--validate_only", "--log_format=json")
	if code != 0 {
		t.Fatalf("printed config does not load: exit %d\n%s\n%s", code, got, stdout)
	}
	w, g := effective(t, want), effective(t, got)
	delete(w, "time")
	delete(g, "time")
	delete(w, "config")
	delete(g, "config")
	if !reflect.DeepEqual(w, g) {
		t.Errorf("reloaded printed config differs:\n%v\n%v\n%s", w, g, stdout)
	}
}

func TestMissingSecretFile(t *testing.T) {
	code, _, stderr := runBinary(t, nil, "--master=m1:5050", "--principal=p", "--secret_file=/nonexistent", "--validate_only")
	if code != 2 || !strings.Contains(stderr, "--secret_file=/nonexistent: cannot read the principal's secret") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// Every problem at once, one per line.
func TestEveryProblemReported(t *testing.T) {
	code, _, stderr := runBinary(t, nil, "--master=m1:5050", "--mode=foo", "--probation=x")
	if code != 2 || !strings.Contains(stderr, "  --mode=foo: unknown mode \"foo\"") || !strings.Contains(stderr, "\n  --probation=x: invalid duration \"x\"") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
