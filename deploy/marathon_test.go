package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/healer-mesos/healer/scheduler/config"
)

// app is deploy/marathon.json, decoded loosely (for the schema walk) and
// into the fields the tests reason about.
type app struct {
	raw  map[string]any
	ID   string            `json:"id"`
	Cmd  string            `json:"cmd"`
	Args []string          `json:"args"`
	N    int               `json:"instances"`
	Env  map[string]string `json:"env"`
	Mem  float64           `json:"mem"`
	CPUs float64           `json:"cpus"`

	Constraints [][]string `json:"constraints"`
	Container   struct {
		Type   string `json:"type"`
		Docker struct {
			Image string `json:"image"`
		} `json:"docker"`
		Volumes []struct {
			ContainerPath string `json:"containerPath"`
			HostPath      string `json:"hostPath"`
			Mode          string `json:"mode"`
		} `json:"volumes"`
	} `json:"container"`
	Networks []struct {
		Mode string `json:"mode"`
	} `json:"networks"`
	Ports []struct {
		Name string `json:"name"`
	} `json:"portDefinitions"`
	HealthChecks []struct {
		Protocol  string `json:"protocol"`
		Path      string `json:"path"`
		PortIndex int    `json:"portIndex"`
	} `json:"healthChecks"`
	ReadinessChecks []struct {
		Path     string `json:"path"`
		PortName string `json:"portName"`
	} `json:"readinessChecks"`
	Upgrade struct {
		MinimumHealthCapacity *float64 `json:"minimumHealthCapacity"`
		MaximumOverCapacity   *float64 `json:"maximumOverCapacity"`
	} `json:"upgradeStrategy"`
	KillGrace int `json:"taskKillGracePeriodSeconds"`
}

func loadApp(t *testing.T) app {
	t.Helper()
	data, err := os.ReadFile("marathon.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := duplicateKeys(data); err != nil {
		t.Fatalf("marathon.json: %v", err)
	}
	var a app
	if err := json.Unmarshal(data, &a.raw); err != nil {
		t.Fatalf("marathon.json does not parse: %v", err)
	}
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("marathon.json: %v", err)
	}
	return a
}

// duplicateKeys finds an object key given twice, which encoding/json would
// silently resolve to the last one.
func duplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return fmt.Errorf("key %q appears twice in one object", k)
				}
				top.keys[k] = true
				top.expect = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object the next token is a key again.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}

// The app uses only what Marathon's app schema allows, with the types and
// enumerations the schema gives.
func TestMarathonAppSchema(t *testing.T) {
	a := loadApp(t)
	for _, e := range marathonApp.check("app", a.raw) {
		t.Error(e)
	}
	_, hasCmd := a.raw["cmd"]
	_, hasArgs := a.raw["args"]
	if hasCmd == hasArgs {
		t.Error("app: Marathon wants exactly one of cmd and args")
	}
}

// The schema check itself catches what it must: a misspelt field, a wrong
// enumeration value, a wrong type, a field left undescribed.
func TestMarathonSchemaCheckCatchesMistakes(t *testing.T) {
	for _, tc := range []struct {
		json, want string
	}{
		{`{"id": "/h", "instance": 2}`, "app.instance: not a field of Marathon's schema"},
		{`{"id": "/h", "healthChecks": [{"protocol": "MESOS_HTTPX"}]}`, `app.healthChecks[0].protocol: "MESOS_HTTPX" is not one of`},
		{`{"id": "/h", "instances": "2"}`, "app.instances: want a number, got a string"},
		{`{"id": "/h", "upgradeStrategy": {"minimumHealthCapacity": 1.5}}`, "outside [0, 1]"},
		{`{"id": "/h", "constraints": [["hostname", "UNIQ"]]}`, `app.constraints[0][1]: "UNIQ" is not one of`},
		{`{"id": "/h", "container": {"volumes": [{"containerPath": "/x", "hostpath": "/x"}]}}`, "app.container.volumes[0].hostpath: not a field"},
		{`{"id": "/h", "secrets": {}}`, "app.secrets: a Marathon field (Secrets) this test does not describe yet"},
		{`{"id": "/h", "env": {"A": 1}}`, "app.env.A: matches none of its forms"},
	} {
		var v map[string]any
		if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
			t.Fatal(err)
		}
		errs := strings.Join(marathonApp.check("app", v), "\n")
		if !strings.Contains(errs, tc.want) {
			t.Errorf("%s: got %q, want an error containing %q", tc.json, errs, tc.want)
		}
	}
	if err := duplicateKeys([]byte(`{"env": {"A": "1"}, "cmd": "x", "env": {}}`)); err == nil {
		t.Error("a key given twice was not found")
	}
	if err := duplicateKeys([]byte(`{"a": [{"b": 1}, {"b": 2}], "c": {"b": [1, {"b": 2}]}}`)); err != nil {
		t.Errorf("equal keys in different objects: %v", err)
	}
}

// The app is what the operator guide promises: two instances on distinct
// hosts, one admin port, a MESOS_HTTP health check on /healthz, a rolling
// upgrade that keeps one instance up, the config mounted read-only.
func TestMarathonAppDeploysHealer(t *testing.T) {
	a := loadApp(t)
	if a.N != 2 {
		t.Errorf("instances = %d, want 2 (a leader and a standby)", a.N)
	}
	if !slices.ContainsFunc(a.Constraints, func(c []string) bool { return slices.Equal(c, []string{"hostname", "UNIQUE"}) }) {
		t.Errorf("constraints %v lack [hostname, UNIQUE]: both instances could land on one host", a.Constraints)
	}
	if len(a.Ports) != 1 || a.Ports[0].Name == "" {
		t.Errorf("portDefinitions = %+v, want one named port, the admin API", a.Ports)
	}
	if len(a.Networks) != 1 || a.Networks[0].Mode != "host" {
		t.Errorf("networks = %+v, want host networking: agents and the other instance reach $HOST:$PORT0", a.Networks)
	}
	hc := 0
	for _, h := range a.HealthChecks {
		if h.Protocol == "MESOS_HTTP" && h.Path == "/healthz" && h.PortIndex == 0 {
			hc++
		}
	}
	if hc != 1 || len(a.HealthChecks) != 1 {
		t.Errorf("healthChecks = %+v, want one MESOS_HTTP check of /healthz on port index 0", a.HealthChecks)
	}
	for _, r := range a.ReadinessChecks {
		if len(a.Ports) == 0 || r.PortName != a.Ports[0].Name || r.Path != "/readyz" {
			t.Errorf("readiness check %+v: want /readyz on the admin port", r)
		}
	}

	// Marathon keeps ceil(instances × minimumHealthCapacity) healthy during
	// an upgrade, and may start instances × maximumOverCapacity extra.
	// Its defaults (1 and 1) start both new instances beside the old ones,
	// which under hostname:UNIQUE takes four eligible hosts.
	minHealth, over := 1.0, 1.0
	if p := a.Upgrade.MinimumHealthCapacity; p != nil {
		minHealth = *p
	}
	if p := a.Upgrade.MaximumOverCapacity; p != nil {
		over = *p
	}
	keep := int(math.Ceil(float64(a.N) * minHealth))
	extra := int(math.Floor(float64(a.N) * over))
	if keep < 1 {
		t.Errorf("upgradeStrategy keeps %d instances healthy during an upgrade, want at least 1", keep)
	}
	if keep >= a.N && extra == 0 {
		t.Errorf("upgradeStrategy keeps all %d instances up and may start none extra: an upgrade can never proceed", a.N)
	}
	if a.KillGrace < 10 {
		t.Errorf("taskKillGracePeriodSeconds = %d: healer-scheduler needs a few seconds after SIGTERM to hand leadership over and stop its HTTP server", a.KillGrace)
	}
	if a.Mem < 256 || a.CPUs < 0.1 {
		t.Errorf("resources cpus=%v mem=%v: too small for a scheduler holding a large cluster's state", a.CPUs, a.Mem)
	}

	// The config directory is mounted read-only, and every file the
	// environment names lies inside a mounted volume.
	if a.Container.Type == "" || a.Container.Docker.Image == "" {
		t.Error("container: want the healer image (docker.image)")
	}
	mounted := map[string]bool{}
	for _, v := range a.Container.Volumes {
		if v.Mode != "RO" {
			t.Errorf("volume %s is %s: healer only reads its configuration, mount it RO", v.ContainerPath, v.Mode)
		}
		mounted[v.ContainerPath] = true
	}
	for _, k := range slices.Sorted(maps.Keys(a.Env)) {
		v := a.Env[k]
		if !strings.HasPrefix(v, "/") {
			continue
		}
		in := false
		for dir := range mounted {
			in = in || strings.HasPrefix(v, strings.TrimSuffix(dir, "/")+"/")
		}
		if !in {
			t.Errorf("%s=%s is not inside a mounted volume (%v): the container would not find it", k, v, slices.Sorted(maps.Keys(mounted)))
		}
	}
	if _, ok := a.Env["HEALER_CONFIG"]; !ok {
		t.Error("env: no HEALER_CONFIG: the mounted config file is never read")
	}
}

// marathonTaskEnv is what Marathon and Mesos add to a task's environment
// (Marathon's TaskBuilder and EnvironmentHelper: HOST, PORT0, PORT_<NAME>,
// PORTS, ...), for one representative task.
func marathonTaskEnv(a app) map[string]string {
	env := map[string]string{
		"HOST": "agent7.example.com", "PORT0": "31005", "PORT": "31005", "PORTS": "31005",
		"MARATHON_APP_ID": a.ID, "MESOS_TASK_ID": "healer.4f3c", "MESOS_SANDBOX": "/mnt/mesos/sandbox",
	}
	if len(a.Ports) > 0 {
		env["PORT_"+strings.ToUpper(a.Ports[0].Name)] = "31005"
	}
	return env
}

// mountConfig writes what the app's volume holds on a host — the example
// healer.yaml and monitor.yaml, and a Mesos secret — into a temporary
// directory, and returns the app's environment with /etc/healer/ paths moved
// there.
func mountConfig(t *testing.T, a app) map[string]string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"healer.yaml", "monitor.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "mesos-secret"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range a.Env {
		if after, ok := strings.CutPrefix(v, "/etc/healer/"); ok {
			v = filepath.Join(dir, after)
			if _, err := os.Stat(v); err != nil {
				t.Fatalf("%s=%s: the test does not provide %s; add it to mountConfig", k, a.Env[k], after)
			}
		}
		env[k] = v
	}
	return env
}

// nonHealerEnv are the variables the app may set besides HEALER_* ones:
// healer-scheduler ignores them, the Go runtime reads them.
var nonHealerEnv = map[string]string{
	"GOMEMLIMIT": "the Go runtime's soft memory limit, kept under the task's mem",
}

// Every variable the app sets is one healer-scheduler accepts: config.Load
// takes each alone and all together, with the mounted config file.
func TestMarathonEnvAccepted(t *testing.T) {
	a := loadApp(t)
	env := mountConfig(t, a)
	settings := map[string]bool{}
	c := config.Default()
	fs := flag.NewFlagSet("healer-scheduler", flag.ContinueOnError)
	c.AddFlags(fs)
	fs.VisitAll(func(f *flag.Flag) { settings[config.EnvName(f.Name)] = true })
	var all []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		all = append(all, k+"="+env[k])
		if strings.HasPrefix(k, "HEALER_") && !settings[k] {
			t.Errorf("env %s: not a healer-scheduler setting", k)
		}
		if _, known := nonHealerEnv[k]; !strings.HasPrefix(k, "HEALER_") && !known {
			t.Errorf("env %s: not a healer-scheduler setting (HEALER_*) nor a known runtime variable", k)
		}
	}
	c, err := config.Load(nil, all)
	if err != nil {
		t.Fatalf("healer-scheduler refuses the app's environment:\n%v", err)
	}
	if c.Mode.String() != "dry-run" {
		t.Errorf("mode %s: a fresh install starts in dry-run and is switched to execute by the operator", c.Mode)
	}
	if c.ZK == "" {
		t.Error("no --zk: two instances need ZooKeeper to elect a leader and share state")
	}
	if len(c.RepairSet) == 0 {
		t.Error("the mounted config file defines no repairs")
	}
	// GOMEMLIMIT must leave headroom under the task's memory.
	if lim, ok := env["GOMEMLIMIT"]; ok {
		var mib float64
		if _, err := fmt.Sscanf(lim, "%gMiB", &mib); err != nil || mib <= 0 || mib > 0.9*a.Mem {
			t.Errorf("GOMEMLIMIT=%s: want at most 90%% of mem (%v MB), written in MiB", lim, a.Mem)
		}
	}
}

// The app's cmd, run as Mesos runs it (/bin/sh -c, with Marathon's task
// environment), starts the image's healer-scheduler with the admin API on
// $PORT0 and reachable at http://$HOST:$PORT0. The real binary, asked to
// print its configuration, says what it would run with.
func TestMarathonCmdStartsScheduler(t *testing.T) {
	a := loadApp(t)
	entry := dockerEntrypoint(t)
	if !strings.Contains(a.Cmd, "exec "+entry) {
		t.Fatalf("cmd %q does not exec the image's entrypoint %s: SIGTERM must reach healer-scheduler itself, which hands leadership over at once", a.Cmd, entry)
	}
	cmd := strings.Replace(a.Cmd, entry, binary(t, filepath.Base(entry)), 1)
	task := marathonTaskEnv(a)
	env := []string{"PATH=" + os.Getenv("PATH"), "HEALER_PRINT_CONFIG=true"}
	for k, v := range task {
		env = append(env, k+"="+v)
	}
	for k, v := range mountConfig(t, a) {
		env = append(env, k+"="+v)
	}
	sh := exec.Command("/bin/sh", "-c", cmd)
	sh.Env = env
	var stderr bytes.Buffer
	sh.Stderr = &stderr
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("the app's cmd failed: %v\n%s", err, stderr.String())
	}
	var got map[string]any
	if err := yaml.Unmarshal(out, &got); err != nil {
		t.Fatalf("--print_config output: %v\n%s", err, out)
	}
	want := map[string]string{
		"admin_listen": ":" + task["PORT0"],
		"admin_url":    "http://" + task["HOST"] + ":" + task["PORT0"],
		"hostname":     task["HOST"],
		"mode":         "dry-run",
	}
	for k, v := range want {
		if fmt.Sprint(got[k]) != v {
			t.Errorf("%s = %v, want %s", k, got[k], v)
		}
	}
}

// The guides quote the app's cmd as it is.
func TestMarathonCmdDocumented(t *testing.T) {
	a := loadApp(t)
	for _, doc := range []string{"../docs/install-marathon.md", "../docs/configuration.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), a.Cmd) {
			t.Errorf("%s does not quote the app's cmd as deploy/marathon.json has it:\n%s", doc, a.Cmd)
		}
	}
}
