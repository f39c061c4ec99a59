package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every problem is reported at once, one per line, in a stable order:
// command line (argument order), environment (by name), file (file order),
// then the checks of the whole configuration.
func TestEveryProblemAtOnce(t *testing.T) {
	file := writeFile(t, "healer.yaml", "probaton: 5m\nmode: fast\nzone_caps: {a: 0, b: x}\nladders:\n  disk_full:\n    - {action: isolate, aproval: true}\n")
	args := []string{"--mode=foo", "--probation=x", "--num_allowed_repair=2", "--master=m:5050", "--config=" + file, "--zone_cap=-1"}
	env := []string{"HEALER_ROLES=x", "HEALER_TASK_MEM=lots", "HEALER_HELP=1"}
	_, err := Load(args, env)
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`--mode=foo: unknown mode "foo" (want observe, dry-run or execute)`,
		`--probation=x: invalid duration "x"`,
		`unknown flag --num_allowed_repair; did you mean --num_allowed_repairs?`,
		`environment variable HEALER_HELP is not a healer-scheduler setting (unset it`,
		`environment variable HEALER_ROLES is not a healer-scheduler setting; did you mean HEALER_ROLE?`,
		`line 1: unknown key "probaton"; did you mean "probation"?`,
		`line 2: mode: unknown mode "fast"`,
		`line 3: zone_caps.a: "0" is not a cap ≥ 1`,
		`line 3: zone_caps.b: "x" is not a cap ≥ 1`,
		`line 6: ladders.disk_full[0]: unknown step key "aproval"; did you mean "approval"?`,
		`HEALER_TASK_MEM=lots: invalid number "lots"`,
		`--zone_cap=-1: must be 0 (unlimited) or more, got -1`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d lines, want %d:\n%v", len(lines), len(want), err)
	}
	for i := range min(len(lines), len(want)) {
		if !strings.Contains(lines[i], want[i]) {
			t.Errorf("line %d:\n %s\nwant it to contain\n %s", i+1, lines[i], want[i])
		}
	}
	// Stable: the same input gives the same message.
	for range 5 {
		if _, again := Load(args, env); again.Error() != err.Error() {
			t.Fatalf("order changed:\n%v\n---\n%v", err, again)
		}
	}
}

// A setting whose value did not parse is not also reported by the checks of
// the whole configuration (which would see the default, or a half value).
func TestBadValueReportedOnce(t *testing.T) {
	_, err := Load([]string{"--master=m:5050", "--repair_set=reboot", "--repair_order=reboot:slave"}, nil)
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), `--repair_set=reboot: entry "reboot" is not <repair_id>=<path_to_cmd>`) {
		t.Errorf("got:\n%v", err)
	}
}

func TestParseFileReportsEveryProblem(t *testing.T) {
	_, err := ParseFile("f.yaml", []byte("a: 1\nb: 2\nprobation: soon\n"))
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("want three problems, got:\n%v", err)
	}
}

func TestSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "s3cret-value\n", 0o600)
	open := write("open", "s3cret-value\n", 0o644)
	empty := write("empty", " \n", 0o600)
	for _, tc := range []struct{ path, want string }{
		{"/nonexistent/secret", `--secret_file=/nonexistent/secret: cannot read the principal's secret: stat /nonexistent/secret: no such file or directory (give a readable file that holds the secret of --principal)`},
		{dir, `--secret_file=` + dir + `: cannot read the principal's secret: ` + dir + ` is not a regular file`},
		{empty, `--secret_file=` + empty + `: the file is empty; write the secret of --principal into it`},
	} {
		_, err := Load(append(base, "--principal=p", "--secret_file="+tc.path, "--validate_only"), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %s", tc.path, err, tc.want)
		}
	}
	c, err := Load(append(base, "--principal=p", "--secret_file="+good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, "secret_file") {
		t.Errorf("0600 secret warned about: %s", w)
	}
	c, err = Load(append(base, "--principal=p", "--secret_file="+open), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "--secret_file "+open+" can be read by group or others (mode 0644); chmod 600 it") {
		t.Errorf("warnings: %s", w)
	}
	if strings.Contains(w, "s3cret") {
		t.Errorf("warning shows the secret: %s", w)
	}
}

// A secret file that cannot be read is reported like any other problem, and
// the secret never appears in any message.
func TestSecretFileContentNeverShown(t *testing.T) {
	read := func(path string) ([]byte, fs.FileMode, error) { return []byte("   "), 0o600, nil }
	_, err := load(append(base, "--principal=p", "--secret_file=/s"), nil, read)
	if err == nil || !strings.Contains(err.Error(), "the file is empty") {
		t.Errorf("got %v", err)
	}
}

func TestClosest(t *testing.T) {
	names := flagNames()
	for in, want := range map[string]string{
		"help":               "", // not role: 3 edits in 4 letters is no typo
		"roles":              "role",
		"mdoe":               "mode", // a swap is one edit
		"probaton":           "probation",
		"num_allowed":        "num_allowed_repairs", // the only flag it begins
		"task":               "",                    // begins two flags
		"zk_session":         "zk_session_timeout",
		"xyz":                "",
		"num_allowed_repair": "num_allowed_repairs",
	} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsageWording(t *testing.T) {
	if u := Usage(); !strings.Contains(u, "and, except --config, --validate_only and --print_config, as a key in the --config file.") || strings.Contains(u, "(but") {
		t.Errorf("usage:\n%s", u)
	}
}

// Settings prints values an operator can paste back: each, given as its
// flag (or, for ladders the flag cannot express, as the file's key), loads
// to the same configuration.
func TestSettingsPasteBack(t *testing.T) {
	file := writeFile(t, "healer.yaml", `
master: zk://u:pw@z1:2181/mesos
repair_set: {restart: systemctl restart mesos-agent, reimage: "/opt/reimage --wipe, --yes"}
repair_order: [restart:slave, {action: reimage, scope: agent, timeout: 20m, drain: true}, isolate]
ladders:
  disk_full: [restart:agent, isolate]
zone_caps: {us-east-1a: 1, "b:c": 2}
max_unhealthy: 15%
`)
	c, err := Load([]string{"--config=" + file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var yaml strings.Builder
	byKey := map[string]string{}
	for _, kv := range c.Settings() {
		byKey[kv[0]] = kv[1]
		if kv[0] == "master" || kv[0] == "config" || kv[0] == "validate_only" || kv[0] == "print_config" {
			continue // master's password is redacted; put it back below
		}
		key, val := kv[0], kv[1]
		if p, ok := strings.CutPrefix(key, "ladders."); ok {
			yaml.WriteString("ladders:\n  " + p + ": " + val + "\n")
			continue
		}
		if !strings.HasPrefix(val, "[") && !strings.HasPrefix(val, "{") {
			val = `"` + strings.ReplaceAll(val, `"`, `\"`) + `"`
		}
		yaml.WriteString(key + ": " + val + "\n")
	}
	if byKey["repair_order"] != "[{action: restart, scope: agent, timeout: 10m0s}, {action: reimage, scope: agent, timeout: 20m0s, drain: true}, {action: isolate, scope: master, timeout: 10m0s}]" {
		t.Errorf("repair_order = %s", byKey["repair_order"])
	}
	if byKey["ladders.disk_full"] != "restart:agent,isolate:master" {
		t.Errorf("ladders.disk_full = %s, want the flag form", byKey["ladders.disk_full"])
	}
	if byKey["master"] != "zk://u:xxxxx@z1:2181/mesos" {
		t.Errorf("master = %s", byKey["master"])
	}
	yaml.WriteString("master: zk://u:pw@z1:2181/mesos\n")
	c2, err := Load([]string{"--config=" + writeFile(t, "again.yaml", yaml.String())}, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml.String())
	}
	if a, b := c.Settings(), c2.Settings(); strings.Join(flat(a), "\n") != strings.Join(flat(b), "\n") {
		t.Errorf("pasted back:\n%v\n%v\n%s", a, b, yaml.String())
	}
	// The default ladder logs as the flag takes it.
	d, _ := Load([]string{"--master=m:5050"}, nil)
	for _, kv := range d.Settings() {
		if kv[0] == "repair_order" && kv[1] != "isolate:master" {
			t.Errorf("default repair_order logged as %q", kv[1])
		}
	}
}

func flat(kvs [][2]string) []string {
	var out []string
	for _, kv := range kvs {
		if kv[0] != "config" {
			out = append(out, kv[0]+"="+kv[1])
		}
	}
	return out
}

// Help wins over other problems.
func TestHelpOverErrors(t *testing.T) {
	if _, err := Load([]string{"--mode=x", "-h"}, []string{"HEALER_X=1"}); !errors.Is(err, ErrHelp) {
		t.Errorf("err = %v", err)
	}
}

// A step command's variables never collide with the scheduler's settings.
func TestStepEnvOutsideHealerNamespace(t *testing.T) {
	for _, v := range []string{StepEnvAgentID, StepEnvHostname, StepEnvProblem, StepEnvAction, StepEnvAttempt, StepEnvIncident, StepEnvTimeout, StepEnvScope} {
		if strings.HasPrefix(v, envPrefix) {
			t.Errorf("%s is in the HEALER_ namespace", v)
		}
		if _, err := Load(base, []string{v + "=x"}); err != nil {
			t.Errorf("%s in the scheduler's environment: %v", v, err)
		}
	}
}
