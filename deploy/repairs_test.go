package deploy

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/healer-mesos/healer/executor/taskspec"
)

// The example repair scripts run here only against stub tools: PATH holds a
// directory of stubs that record their calls (systemctl, systemd-run,
// shutdown, curl, ipmitool, ...) and links to the few harmless utilities the
// scripts need (sed, id, dirname). No real reboot, restart or power cycle
// can be reached from a test.

// stubs are the tools a script may call, as shell scripts. Each records its
// arguments in $STUB_LOG, one call per line; STUB_* variables steer them.
var stubs = map[string]string{
	"systemctl": `case "$1" in
show) echo "${STUB_KILLMODE:-process}" ;;
is-active) exit "${STUB_TIMER_ACTIVE:-1}" ;;
esac`,
	"systemd-run": `exit "${STUB_EXIT:-0}"`,
	"shutdown":    `exit "${STUB_EXIT:-0}"`,
	"logger":      `exit 0`,
	"sleep":       `exit 0`,
	"sudo":        `[ "$1" = -n ] && shift; exec "$@"`,
	"wget":        `exit "${STUB_HEALTH_EXIT:-0}"`,
	"curl": `for a in "$@"; do
  if [ "$prev" = --data ]; then printf '%s' "$a" > "$STUB_LOG.data"; fi
  prev=$a
done
case "$*" in
*POST*) exit "${STUB_POST_EXIT:-0}" ;;
*) exit "${STUB_HEALTH_EXIT:-0}" ;;
esac`,
	"ipmitool": `case "$*" in
*"power status"*) [ "${STUB_BMC_EXIT:-0}" = 0 ] || { echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1; }
  echo "Chassis Power is ${STUB_POWER:-on}" ;;
*"power cycle"*) echo "Chassis Power Control: Cycle" ;;
*"power on"*) echo "Chassis Power Control: Up/On" ;;
esac`,
}

// harmless are the real utilities the scripts use.
var harmless = []string{"sed", "id", "dirname"}

// toolbox makes a PATH directory with the stubs (but those in without) and
// the harmless utilities, and returns it and the calls log.
func toolbox(t *testing.T, without ...string) (dir, log string) {
	t.Helper()
	dir = t.TempDir()
	log = filepath.Join(dir, "calls.log")
	for name, body := range stubs {
		if slices.Contains(without, name) {
			continue
		}
		script := "#!/bin/sh\necho \"" + name + " $*\" >> \"$STUB_LOG\"\n" + body + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range harmless {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is needed by the repair scripts: %v", name, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, log
}

// stepEnv is the environment healer gives a step of action in scope
// (docs/configuration.md), plus what a Mesos agent gives its executors.
func stepEnv(action, scope string) map[string]string {
	return map[string]string{
		taskspec.EnvAgentID:    "5e1f0c2a-77d1-4a3b-9c55-0d6b7c3f2e10-S3",
		taskspec.EnvHostname:   "agent3.example.com",
		taskspec.EnvProblem:    `hung "badly"`,
		taskspec.EnvAction:     action,
		taskspec.EnvAttempt:    "7",
		taskspec.EnvIncident:   "3",
		taskspec.EnvTimeout:    "300",
		taskspec.EnvScope:      scope,
		"MESOS_AGENT_ENDPOINT": "10.0.0.3:5051",
	}
}

type run struct {
	code   int
	out    string
	calls  []string
	posted string // the body curl was asked to POST
}

// runStep runs command with /bin/sh -c, as healer runs a step, in the
// toolbox, with env.
func runStep(t *testing.T, box, log, command string, env map[string]string) run {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = []string{"PATH=" + box, "STUB_LOG=" + log}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	r := run{out: string(out)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", command, err)
	}
	if b, err := os.ReadFile(log); err == nil {
		r.calls = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	if b, err := os.ReadFile(log + ".data"); err == nil {
		r.posted = string(b)
	}
	os.Remove(log)
	os.Remove(log + ".data")
	return r
}

func (r run) called(prefix string) bool {
	return slices.ContainsFunc(r.calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

// scripts is deploy/repairs/<name>.
func script(name string) string {
	p, _ := filepath.Abs(filepath.Join("repairs", name))
	return p
}

// exampleSteps is each repair of deploy/healer.yaml with the scope its
// ladders run it in, its command pointing at deploy/repairs and its files
// under /etc/healer at dir.
func exampleSteps(t *testing.T, dir string) map[string][2]string {
	t.Helper()
	data, err := os.ReadFile("healer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RepairSet   map[string]string `yaml:"repair_set"`
		RepairOrder []any             `yaml:"repair_order"`
		Ladders     map[string][]any  `yaml:"ladders"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	scopes := map[string]string{}
	addStep := func(s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return // "isolate"
		}
		id, scope := m["action"].(string), m["scope"].(string)
		if scope == "slave" {
			scope = "agent"
		}
		if old, ok := scopes[id]; ok && old != scope {
			t.Errorf("healer.yaml runs %s in scope %s and in scope %s: its script can be right for only one", id, old, scope)
		}
		scopes[id] = scope
	}
	for _, s := range f.RepairOrder {
		addStep(s)
	}
	for _, steps := range f.Ladders {
		for _, s := range steps {
			addStep(s)
		}
	}
	out := map[string][2]string{}
	for id, command := range f.RepairSet {
		scope, ok := scopes[id]
		if !ok {
			t.Errorf("healer.yaml defines %s but no ladder runs it", id)
			continue
		}
		command = strings.ReplaceAll(command, "/usr/local/libexec/healer/", filepath.Dir(script("x"))+"/")
		command = strings.ReplaceAll(command, "/etc/healer/", dir+"/")
		out[id] = [2]string{scope, command}
	}
	return out
}

// Each repair of the example configuration, run as healer would run it with
// --dry-run added, checks its inputs, says what it would do, and does
// nothing.
func TestRepairScriptsDryRun(t *testing.T) {
	etc := t.TempDir()
	for _, f := range []string{"ipmi-password", "provisioner-auth"} {
		if err := os.WriteFile(filepath.Join(etc, f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{
		"restart_agent": {"would run: systemctl restart mesos-agent", "http://10.0.0.3:5051/health"},
		"reboot":        {"would run: systemd-run --on-active=60s --unit=healer-reboot-3-7", "/bin/systemctl reboot"},
		"reimage": {"would POST to https://provisioner.example.com/api/v1/reimage",
			"Idempotency-Key: healer-5e1f0c2a-77d1-4a3b-9c55-0d6b7c3f2e10-S3-7",
			`"problem":"hung \"badly\""`, "would run: systemd-run --on-active=60s"},
		"power_cycle": {"-H agent3-ipmi.mgmt.example.com -U healer -f " + etc + "/ipmi-password chassis power status"},
	}
	steps := exampleSteps(t, etc)
	if len(steps) != len(want) {
		t.Errorf("healer.yaml has repairs %v; this test knows %v", slices.Sorted(maps.Keys(steps)), slices.Sorted(maps.Keys(want)))
	}
	for _, id := range slices.Sorted(maps.Keys(steps)) {
		t.Run(id, func(t *testing.T) {
			box, log := toolbox(t)
			scope, command := steps[id][0], steps[id][1]
			r := runStep(t, box, log, command+" --dry-run", stepEnv(id, scope))
			if r.code != 0 {
				t.Fatalf("%s --dry-run exited %d:\n%s", command, r.code, r.out)
			}
			if len(r.calls) > 0 {
				t.Errorf("--dry-run ran %v", r.calls)
			}
			for _, w := range append(want[id], "agent3.example.com", "dry-run: nothing was changed") {
				if !strings.Contains(r.out, w) {
					t.Errorf("output lacks %q:\n%s", w, r.out)
				}
			}
		})
	}
}

// Bad input stops every script with exit 2 before it touches anything.
func TestRepairScriptsRefuseBadInput(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ipmi := script("ipmi-power-cycle.sh") + " --bmc-host '{short}-ipmi' --user u --password-file " + pw
	unset := func(k string) func(map[string]string) { return func(e map[string]string) { delete(e, k) } }
	set := func(k, v string) func(map[string]string) { return func(e map[string]string) { e[k] = v } }
	for _, tc := range []struct {
		name, command, scope string
		env                  func(map[string]string)
		want                 string
	}{
		{"reboot without hostname", script("reboot.sh"), "agent", unset("REPAIR_HOSTNAME"), "REPAIR_HOSTNAME is not set"},
		{"reboot from healer's host", script("reboot.sh"), "master", nil, "REPAIR_SCOPE is 'master', not 'agent'"},
		{"reboot too soon", script("reboot.sh") + " --delay 5", "agent", nil, "too short"},
		{"reboot unknown option", script("reboot.sh") + " --now", "agent", nil, "unknown option --now"},
		{"restart from healer's host", script("restart-agent.sh"), "master", nil, "not 'agent'"},
		{"restart bad unit", script("restart-agent.sh") + " --service 'a;b'", "agent", nil, "not a systemd unit name"},
		{"restart without problem", script("restart-agent.sh"), "agent", unset("REPAIR_PROBLEM"), "REPAIR_PROBLEM is not set"},
		{"reimage with no hook", script("reimage.sh"), "agent", nil, "give --url"},
		{"reimage with two hooks", script("reimage.sh") + " --url https://p --command true", "agent", nil, "not both"},
		{"reimage without attempt", script("reimage.sh") + " --url https://p", "agent", unset("REPAIR_ATTEMPT"), "REPAIR_ATTEMPT is not set"},
		{"reimage from healer's host", script("reimage.sh") + " --url https://p", "master", nil, "not 'agent'"},
		{"power cycle from the agent", ipmi, "agent", nil, "REPAIR_SCOPE is 'agent', not 'master'"},
		{"power cycle without user", script("ipmi-power-cycle.sh") + " --bmc-host x --password-file " + pw, "master", nil, "give --user"},
		{"power cycle without password", script("ipmi-power-cycle.sh") + " --bmc-host x --user u --password-file /nonexistent", "master", nil, "cannot be read"},
		{"power cycle of a strange host", ipmi, "master", set("REPAIR_HOSTNAME", "a/b"), "not a DNS name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			box, log := toolbox(t)
			env := stepEnv("x", tc.scope)
			if tc.env != nil {
				tc.env(env)
			}
			for _, dry := range []string{"", " --dry-run"} {
				r := runStep(t, box, log, tc.command+dry, env)
				if r.code != 2 || !strings.Contains(r.out, tc.want) {
					t.Errorf("%s%s: exit %d, output %q; want exit 2 and %q", tc.command, dry, r.code, r.out, tc.want)
				}
				if len(r.calls) > 0 {
					t.Errorf("%s%s ran %v", tc.command, dry, r.calls)
				}
			}
		})
	}
}

// Without --dry-run, against stub tools, each script does what its header
// says, and exits as documented.
func TestRepairScriptsAct(t *testing.T) {
	t.Run("reboot schedules a timer and exits 0", func(t *testing.T) {
		box, log := toolbox(t)
		r := runStep(t, box, log, script("reboot.sh"), stepEnv("reboot", "agent"))
		if r.code != 0 || !r.called("systemd-run --on-active=60s --unit=healer-reboot-3-7") || !r.called("systemd-run") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
		if r.called("shutdown") || slices.ContainsFunc(r.calls, func(c string) bool { return c == "systemctl reboot" }) {
			t.Errorf("rebooted now instead of scheduling: %v", r.calls)
		}
	})
	t.Run("reboot of an attempt already scheduled", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("reboot", "agent")
		env["STUB_TIMER_ACTIVE"] = "0"
		r := runStep(t, box, log, script("reboot.sh"), env)
		if r.code != 0 || r.called("systemd-run") || !strings.Contains(r.out, "already scheduled") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	t.Run("reboot without systemd uses shutdown", func(t *testing.T) {
		box, log := toolbox(t, "systemd-run")
		r := runStep(t, box, log, script("reboot.sh")+" --delay 90", stepEnv("reboot", "agent"))
		if r.code != 0 || !r.called("shutdown -r +2 ") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	t.Run("reboot that cannot be scheduled", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("reboot", "agent")
		env["STUB_EXIT"] = "1"
		if r := runStep(t, box, log, script("reboot.sh"), env); r.code != 1 {
			t.Errorf("exit %d, want 1:\n%s", r.code, r.out)
		}
	})
	t.Run("restart waits for the agent's health", func(t *testing.T) {
		box, log := toolbox(t)
		r := runStep(t, box, log, script("restart-agent.sh"), stepEnv("restart_agent", "agent"))
		if r.code != 0 || !r.called("systemctl restart mesos-agent") || !r.called("curl -fsS -o /dev/null --max-time 5 http://10.0.0.3:5051/health") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	t.Run("restart whose agent stays unhealthy", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("restart_agent", "agent")
		env["STUB_HEALTH_EXIT"] = "7"
		r := runStep(t, box, log, script("restart-agent.sh")+" --wait 20", env)
		if r.code != 1 || !strings.Contains(r.out, "did not answer healthy within 20s") {
			t.Errorf("exit %d:\n%s", r.code, r.out)
		}
	})
	t.Run("restart refused when it would kill its own task", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("restart_agent", "agent")
		env["STUB_KILLMODE"] = "control-group"
		r := runStep(t, box, log, script("restart-agent.sh"), env)
		if r.code != 2 || r.called("systemctl restart") || !strings.Contains(r.out, "KillMode='control-group'") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	t.Run("reimage posts, then schedules the reboot", func(t *testing.T) {
		box, log := toolbox(t)
		r := runStep(t, box, log, script("reimage.sh")+" --url https://prov.example/api", stepEnv("reimage", "agent"))
		if r.code != 0 || !r.called("curl") || !r.called("systemd-run --on-active=60s") {
			t.Fatalf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(r.posted), &body); err != nil {
			t.Fatalf("the POST body is not JSON: %v: %s", err, r.posted)
		}
		want := map[string]any{"hostname": "agent3.example.com", "agent_id": "5e1f0c2a-77d1-4a3b-9c55-0d6b7c3f2e10-S3",
			"problem": `hung "badly"`, "incident": 3.0, "attempt": 7.0, "requested_by": "healer"}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("POST %s = %v, want %v", k, body[k], v)
			}
		}
	})
	t.Run("reimage refused by the provisioning system", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("reimage", "agent")
		env["STUB_POST_EXIT"] = "22"
		r := runStep(t, box, log, script("reimage.sh")+" --url https://prov.example/api", env)
		if r.code != 1 || r.called("systemd-run") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	t.Run("reimage through a command, no reboot", func(t *testing.T) {
		box, log := toolbox(t)
		r := runStep(t, box, log, script("reimage.sh")+` --no-reboot --command 'logger "$REPAIR_HOSTNAME"'`, stepEnv("reimage", "agent"))
		if r.code != 0 || !r.called("logger agent3.example.com") || r.called("systemd-run") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ipmi := script("ipmi-power-cycle.sh") + " --bmc-host '{short}-ipmi.mgmt' --user healer --password-file " + pw
	t.Run("power cycle of a machine that is on", func(t *testing.T) {
		box, log := toolbox(t)
		r := runStep(t, box, log, ipmi, stepEnv("power_cycle", "master"))
		if r.code != 0 || !r.called("ipmitool -I lanplus -H agent3-ipmi.mgmt -U healer -f "+pw+" chassis power cycle") {
			t.Errorf("exit %d, calls %v:\n%s", r.code, r.calls, r.out)
		}
	})
	t.Run("power cycle of a machine that is off powers it on", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("power_cycle", "master")
		env["STUB_POWER"] = "off"
		r := runStep(t, box, log, ipmi+" --wait 10", env)
		if !r.called("ipmitool -I lanplus -H agent3-ipmi.mgmt -U healer -f "+pw+" chassis power on") || r.called("ipmitool -I lanplus -H agent3-ipmi.mgmt -U healer -f "+pw+" chassis power cycle") {
			t.Errorf("calls %v:\n%s", r.calls, r.out)
		}
		// The stub's machine stays off: the step fails once the wait is over.
		if r.code != 1 || !strings.Contains(r.out, "does not report the power on within 10s") {
			t.Errorf("exit %d:\n%s", r.code, r.out)
		}
	})
	t.Run("power cycle with the BMC unreachable", func(t *testing.T) {
		box, log := toolbox(t)
		env := stepEnv("power_cycle", "master")
		env["STUB_BMC_EXIT"] = "1"
		r := runStep(t, box, log, ipmi, env)
		if r.code != 1 || !strings.Contains(r.out, "cannot reach the BMC agent3-ipmi.mgmt") {
			t.Errorf("exit %d:\n%s", r.code, r.out)
		}
	})
}

// Each script documents what it reads and how it exits: every REPAIR_*
// variable it uses is one healer sets and is named in its header, and the
// header has --dry-run and the exit codes.
func TestRepairScriptsDocumented(t *testing.T) {
	known := map[string]bool{}
	for _, v := range []string{taskspec.EnvAgentID, taskspec.EnvHostname, taskspec.EnvProblem, taskspec.EnvAction,
		taskspec.EnvAttempt, taskspec.EnvIncident, taskspec.EnvTimeout, taskspec.EnvScope} {
		known[v] = true
	}
	names, err := filepath.Glob("repairs/*.sh")
	if err != nil || len(names) != 4 {
		t.Fatalf("repairs/*.sh: %v %v", names, err)
	}
	uses := regexp.MustCompile(`REPAIR_[A-Z_]+`)
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		header, body, ok := strings.Cut(text, "\nset -eu\n")
		if !ok {
			t.Errorf("%s: no `set -eu` after its header", name)
			continue
		}
		for _, v := range uses.FindAllString(body, -1) {
			if !known[v] {
				t.Errorf("%s uses %s, which healer does not set (executor/taskspec)", name, v)
			}
			if !strings.Contains(header, v) {
				t.Errorf("%s uses %s but its header does not document it", name, v)
			}
		}
		for _, w := range []string{"--dry-run", "Exit codes:", "Inputs", "\n#   0 ", "\n#   1 ", "\n#   2 "} {
			if !strings.Contains(header, w) {
				t.Errorf("%s: its header lacks %q", name, w)
			}
		}
		if fi, err := os.Stat(name); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", name)
		}
		// --help prints the header.
		box, log := toolbox(t)
		r := runStep(t, box, log, script(filepath.Base(name))+" --help", nil)
		if r.code != 0 || !strings.Contains(r.out, "Exit codes:") || strings.Contains(r.out, "set -eu") {
			t.Errorf("%s --help: exit %d:\n%s", name, r.code, r.out)
		}
	}
}
