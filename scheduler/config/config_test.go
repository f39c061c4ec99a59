package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// base is the smallest valid command line.
var base = []string{"--master=m1:5050", "--repair_order=isolate:master"}

// writeFile writes a config file into a temp dir and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsLoad(t *testing.T) {
	c, err := Load([]string{"--master=m1:5050"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if c.NumAllowedRepairs != 1 || c.FailoverTimeout != 7*24*time.Hour || c.Mode != ModeDryRun ||
		c.Probation != want.Probation || c.ResetAfter != time.Hour || c.Isolation != IsolationDeactivate ||
		!c.Checkpoint || c.MaxUnhealthy.String() != "20%" || c.MaxUnhealthyMin != 5 {
		t.Errorf("defaults not in effect: %+v", c)
	}
	if got := c.RepairOrder; len(got) != 1 || got[0].Timeout != c.StepTimeout {
		t.Errorf("step timeout not filled from --step_timeout: %+v", got)
	}
}

func TestDesignFlags(t *testing.T) {
	c, err := Load([]string{
		"--master=m1:5050",
		"--repair_set=restart_agent=systemctl restart mesos-slave,reboot=/usr/local/sbin/reboot-node",
		"--repair_order=restart_agent:slave,reboot:agent,isolate:master",
		"--num_allowed_repairs=3",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantSet := []Repair{{"restart_agent", "systemctl restart mesos-slave"}, {"reboot", "/usr/local/sbin/reboot-node"}}
	if !reflect.DeepEqual(c.RepairSet, wantSet) {
		t.Errorf("repair_set = %+v", c.RepairSet)
	}
	var scopes []Scope
	for _, s := range c.RepairOrder {
		scopes = append(scopes, s.Scope)
	}
	if !reflect.DeepEqual(scopes, []Scope{ScopeAgent, ScopeAgent, ScopeMaster}) {
		t.Errorf("scopes = %v, want slave normalised to agent", scopes)
	}
	if c.NumAllowedRepairs != 3 {
		t.Errorf("num_allowed_repairs = %d", c.NumAllowedRepairs)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
		file string // body of a config.yaml, or "name.json:body"
		want []string
	}{
		{"unknown repair id", []string{"--master=m:5050", "--repair_set=reboot=/sbin/reboot", "--repair_order=reboot:slave,rebot:slave,isolate"}, nil, "",
			[]string{`--repair_order=reboot:slave,rebot:slave,isolate: unknown repair id "rebot"; did you mean "reboot"? (not in --repair_set, and not a built-in: isolate; define it in --repair_set or fix the name)`}},
		{"unknown scope", []string{"--master=m:5050", "--repair_order=isolate:master,x:rack"}, nil, "",
			[]string{`--repair_order=isolate:master,x:rack: entry "x:rack": unknown scope "rack" (want "master" or "slave"/"agent")`}},
		{"missing scope", []string{"--master=m:5050", "--repair_set=a=/a", "--repair_order=a"}, nil, "",
			[]string{`entry "a" has no scope (write a:master or a:slave)`}},
		{"duplicate in repair_order", []string{"--master=m:5050", "--repair_set=a=/a", "--repair_order=a:slave,a:master"}, nil, "",
			[]string{`--repair_order=a:slave,a:master: duplicate repair id "a"`}},
		{"duplicate in repair_set", []string{"--master=m:5050", "--repair_set=a=/a,a=/b"}, nil, "",
			[]string{`--repair_set=a=/a,a=/b: duplicate repair id "a"`}},
		{"repair_set without =", []string{"--master=m:5050", "--repair_set=reboot"}, nil, "",
			[]string{`entry "reboot" is not <repair_id>=<path_to_cmd>`}},
		{"repair_set empty command", []string{"--master=m:5050", "--repair_set=reboot="}, nil, "",
			[]string{`repair id "reboot" has an empty command`}},
		{"redefine builtin", []string{"--master=m:5050", "--repair_set=isolate=/x"}, nil, "",
			[]string{`repair id "isolate" is a built-in and cannot be redefined`}},
		{"isolate on agent", []string{"--master=m:5050", "--repair_order=isolate:slave"}, nil, "",
			[]string{`built-in "isolate" runs on the scheduler through the master; its scope must be master`}},
		{"bad id", []string{"--master=m:5050", "--repair_set=re boot=/x"}, nil, "",
			[]string{`invalid repair id "re boot"`}},
		{"tokens and insecure", append(base, "--admin_tokens=/etc/healer/tokens", "--admin_insecure"), nil, "",
			[]string{`--admin_insecure=true: is set together with --admin_tokens: choose tokens (access control) or --admin_insecure (none), not both`}},
		{"tls cert without key", append(base, "--admin_tls_cert=/c.pem"), nil, "",
			[]string{`--admin_tls_key: is required with --admin_tls_cert: give both the certificate and its key, or neither`}},
		{"tls key without cert", append(base, "--admin_tls_key=/k.pem"), nil, "",
			[]string{`--admin_tls_cert: is required with --admin_tls_key`}},
		{"bad alert label", append(base, "--alertmanager_agent_label=host-name"), nil, "",
			[]string{`--alertmanager_agent_label=host-name: "host-name" is not a Prometheus label name`}},
		{"zero repairs", append(base, "--num_allowed_repairs=0"), nil, "",
			[]string{`--num_allowed_repairs=0: must be at least 1, got 0; to stop repairs use --mode=observe or dry-run`}},
		{"not an integer", append(base, "--num_allowed_repairs=two"), nil, "",
			[]string{`--num_allowed_repairs=two: invalid integer "two"`}},
		{"no master", []string{"--repair_order=isolate"}, nil, "",
			[]string{`--master: required`}},
		{"bad master", []string{"--master=m", "--repair_order=isolate"}, nil, "",
			[]string{`--master=m: "m" is not host:port (want host:port, a comma-separated list, or zk://host:port/mesos)`}},
		{"bad zk", append(base, "--zk=zk://h/healer"), nil, "",
			[]string{`--zk=zk://h/healer: ZooKeeper URL "zk://h/healer": server "h": no port; write host:port, e.g. h:2181 (want zk://[user:password@]host:port[,host:port...]/path, e.g. zk://h:2181/healer)`}},
		{"zk password redacted", append(base, "--zk=zk://u:secret@h/x"), nil, "",
			[]string{`--zk=zk://u:xxxxx@h/x: ZooKeeper URL "zk://u:xxxxx@h/x"`}},
		{"zk not a url", append(base, "--zk=h:2181"), nil, "",
			[]string{`--zk=h:2181: ZooKeeper URL "h:2181": expecting 'zk://' at the beginning of the URL`}},
		{"zk names no server", append(base, "--zk=zk://"), nil, "",
			[]string{`--zk=zk://: ZooKeeper URL "zk://": names no ZooKeeper server; list at least one host:port after zk:// (want zk://[user:password@]host:port[,host:port...]/path, e.g. zk://zk1:2181,zk2:2181/healer)`}},
		{"zk root path", append(base, "--zk=zk://h:2181/"), nil, "",
			[]string{`--zk=zk://h:2181/: ZooKeeper URL "zk://h:2181/": Expecting a (chroot) path for ZooKeeper ('/' is not supported)`, `or leave the path out for healer's default chroot /healer`}},
		// Credentials end at the last '@' (mesos-protocol.md 3.1): this is
		// host h with password p@ss, and no message shows any of it.
		{"zk password with @", append(base, "--zk=zk://u:p@ss@h/x"), nil, "",
			[]string{`--zk=zk://u:xxxxx@h/x: ZooKeeper URL "zk://u:xxxxx@h/x": server "h": no port`}},
		{"master zk without path", []string{"--master=zk://h:2181"}, nil, "",
			[]string{`--master=zk://h:2181: ZooKeeper URL "zk://h:2181": no path`, `e.g. zk://h:2181/mesos)`, `the path is required: Mesos masters elect their leader under it`}},
		{"bad duration", append(base, "--probation=10 minutes"), nil, "",
			[]string{`--probation=10 minutes: invalid duration "10 minutes" (want a Go duration such as 90s, 10m, 1h30m, or a Mesos one such as 10mins, 5secs, 1days)`}},
		{"negative duration", append(base, "--reset_after=-1h"), nil, "",
			[]string{`--reset_after=-1h: negative duration "-1h"`}},
		{"probation of 150 years", append(base, "--probation=7800weeks"), nil, "",
			[]string{`--probation=7800weeks: 1310400h0m0s is longer than the maximum, 365days: no repair duration can be meant longer; use a shorter one (e.g. 7days, 1weeks)`}},
		{"offer timeout over a year", nil, []string{"HEALER_MASTER=m:5050", "HEALER_OFFER_TIMEOUT=366days"}, "",
			[]string{`HEALER_OFFER_TIMEOUT=366days: 8784h0m0s is longer than the maximum, 365days`}},
		{"every policy duration bounded", append(base, "--min_repair_spacing=400days", "--reset_after=400days", "--step_timeout=400days", "--drain_timeout=400days"), nil, "",
			[]string{`--min_repair_spacing=400days: 9600h0m0s is longer than the maximum`, `--reset_after=400days: 9600h0m0s is longer`,
				`--step_timeout=400days: 9600h0m0s is longer`, `--drain_timeout=400days: 9600h0m0s is longer`}},
		{"step timeout in the file over a year", []string{"--master=m:5050"}, nil,
			"repair_set: {reboot: /sbin/reboot}\nrepair_order:\n  - {action: reboot, scope: agent, timeout: 53weeks}\n  - isolate\n",
			[]string{`step 1 (reboot): timeout 8904h0m0s is longer than the maximum, 365days`}},
		{"zero step timeout", append(base, "--step_timeout=0s"), nil, "",
			[]string{`--step_timeout=0s: must be positive, got 0s`}},
		{"zero failover timeout", append(base, "--failover_timeout=0secs"), nil, "",
			[]string{`--failover_timeout=0secs: must be positive`}},
		{"bad mode", append(base, "--mode=yolo"), nil, "",
			[]string{`--mode=yolo: unknown mode "yolo" (want observe, dry-run or execute)`}},
		{"bad isolation", append(base, "--isolation=shoot"), nil, "",
			[]string{`unknown isolation method "shoot" (want deactivate, drain or maintenance)`}},
		{"bad log format", append(base, "--log_format=xml"), nil, "",
			[]string{`--log_format=xml: invalid value "xml" (want text or json)`}},
		{"bad threshold", append(base, "--max_unhealthy=150%"), nil, "",
			[]string{`--max_unhealthy=150%: invalid percentage "150%"`}},
		{"bad bool", append(base, "--checkpoint=maybe"), nil, "",
			[]string{`--checkpoint=maybe: invalid boolean "maybe"`}},
		{"negative zone cap", append(base, "--zone_cap=-1"), nil, "",
			[]string{`--zone_cap=-1: must be 0 (unlimited) or more, got -1`}},
		{"secret without principal", append(base, "--secret_file=/etc/secret"), nil, "",
			[]string{`--secret_file=/etc/secret: is set but --principal is not`}},
		{"bad role", append(base, "--role=a b"), nil, "",
			[]string{`--role=a b: invalid Mesos role "a b"`}},
		{"bad admin listen", append(base, "--admin_listen=7070"), nil, "",
			[]string{`--admin_listen=7070: "7070" is not host:port or :port`}},
		{"bad task cpus", append(base, "--task_cpus=0"), nil, "",
			[]string{`--task_cpus=0: must be positive`}},
		{"empty repair_order", []string{"--master=m:5050", "--repair_order="}, nil, "",
			[]string{`--repair_order=: empty: problems without a ladder of their own would have no repair to run; give at least one step, e.g. --repair_order=isolate:master`}},
		{"isolate not last", []string{"--master=m:5050", "--repair_set=reboot=/sbin/reboot", "--repair_order=isolate,reboot:slave"}, nil, "",
			[]string{`--repair_order=isolate,reboot:slave step 1 (isolate): isolate must be the last step`}},
		{"unknown flag", append(base, "--num_allowed_repair=2"), nil, "",
			[]string{`unknown flag --num_allowed_repair; did you mean --num_allowed_repairs?`}},
		{"flag without value", append(base, "--master"), nil, "",
			[]string{`--master needs a value`}},
		{"positional argument", append(base, "extra"), nil, "",
			[]string{`unexpected argument "extra"`}},
		{"several problems at once", []string{"--master=m:5050", "--num_allowed_repairs=0", "--zone_cap=-2", "--repair_order=isolate"}, nil, "",
			[]string{"--num_allowed_repairs=0: must be at least 1", "--zone_cap=-2: must be 0"}},

		// The environment.
		{"env unknown variable", base, []string{"HEALER_NUM_ALLOWED_REPAIR=2"}, "",
			[]string{`environment variable HEALER_NUM_ALLOWED_REPAIR is not a healer-scheduler setting; did you mean HEALER_NUM_ALLOWED_REPAIRS?`}},
		{"env bad value", base, []string{"HEALER_NUM_ALLOWED_REPAIRS=lots"}, "",
			[]string{`HEALER_NUM_ALLOWED_REPAIRS=lots: invalid integer "lots"`}},
		{"env value fails validation", base, []string{"HEALER_NUM_ALLOWED_REPAIRS=0"}, "",
			[]string{`HEALER_NUM_ALLOWED_REPAIRS=0: must be at least 1, got 0`}},
		{"env repair_order", []string{"--master=m:5050"}, []string{"HEALER_REPAIR_ORDER=rebot:slave"}, "",
			[]string{`HEALER_REPAIR_ORDER=rebot:slave: unknown repair id "rebot" (not in --repair_set, and not a built-in: isolate; define it in --repair_set or fix the name)`}},
		{"env missing config file", base, []string{"HEALER_CONFIG=/nonexistent/healer.yaml"}, "",
			[]string{`HEALER_CONFIG=/nonexistent/healer.yaml: cannot read the config file: stat /nonexistent/healer.yaml: no such file or directory (check the path and its permissions)`}},

		// The config file.
		{"file unknown key", base, nil, "num_allowed_repairs: 2\nprobaton: 5m\n",
			[]string{`line 2: unknown key "probaton"; did you mean "probation"?`}},
		{"file syntax error", base, nil, "mode: execute\nladders: [\n",
			[]string{`config file`, `healer.yaml: yaml: line 2: did not find expected node content`}},
		{"file bad value", base, nil, "mode: execute\nprobation: soon\n",
			[]string{`line 2: probation: invalid duration "soon"`}},
		{"file list for scalar", base, nil, "probation: [1m]\n",
			[]string{`line 1: probation: want a single value, not a list or mapping`}},
		{"file null value", base, nil, "probation:\n",
			[]string{`line 1: probation: no value (remove the key to keep the default)`}},
		{"file duplicate key", base, nil, "mode: observe\nmode: execute\n",
			[]string{`line 2`, `mode`}},
		{"file not a mapping", base, nil, "- a\n- b\n",
			[]string{`line 1: the top level must be a mapping of settings`}},
		{"file config key", base, nil, "config: other.yaml\n",
			[]string{`line 1: config: only allowed on the command line or in the environment`}},
		{"file unknown step key", base, nil, "repair_set: {reboot: /sbin/reboot}\nladders:\n  disk_full:\n    - {action: reboot, scope: agent, aproval: true}\n",
			[]string{`line 4: ladders.disk_full[0]: unknown step key "aproval"; did you mean "approval"?`}},
		{"file step without action", base, nil, "ladders:\n  disk_full:\n    - {scope: agent}\n",
			[]string{`line 3: ladders.disk_full[0]: missing action`}},
		{"file step without scope", base, nil, "repair_set: {reboot: /sbin/reboot}\nladders:\n  disk_full:\n    - action: reboot\n",
			[]string{`line 4: ladders.disk_full[0]: missing scope for "reboot" (master or slave/agent)`}},
		{"file step bad scope", base, nil, "repair_set: {reboot: /sbin/reboot}\nladders:\n  disk_full:\n    - {action: reboot, scope: rack}\n",
			[]string{`line 4: ladders.disk_full[0].scope: unknown scope "rack"`}},
		{"file step bad timeout", base, nil, "repair_set: {reboot: /sbin/reboot}\nladders:\n  disk_full:\n    - {action: reboot, scope: agent, timeout: forever}\n",
			[]string{`line 4: ladders.disk_full[0].timeout: invalid duration "forever"`}},
		{"file ladder unknown action", base, nil, "ladders:\n  disk_full: [clean_disk:agent, isolate]\n",
			[]string{`: ladders.disk_full: unknown repair id "clean_disk" (not in --repair_set, and not a built-in: isolate; define it in --repair_set or fix the name)`}},
		{"file ladder duplicate step", base, nil, "ladders:\n  disk_full: [isolate, isolate]\n",
			[]string{`line 2: ladders.disk_full[1]: duplicate repair id "isolate"`}},
		{"file empty ladder", base, nil, "ladders:\n  disk_full: []\n",
			[]string{`line 2: ladders.disk_full: empty ladder`}},
		{"file bad problem", base, nil, "ladders:\n  disk full: [isolate]\n",
			[]string{`line 2: ladders: invalid problem name "disk full"`}},
		{"file repair_set duplicate", base, nil, "repair_set:\n  a: /a\n  a: /b\n",
			[]string{`line 3`, `"a"`}},
		{"file zone cap zero", base, nil, "zone_caps: {us-east-1a: 0}\n",
			[]string{`line 1: zone_caps.us-east-1a: "0" is not a cap ≥ 1`}},
		{"file validation names the file", []string{"--master=m:5050"}, nil, "repair_order: rebot:slave\n",
			[]string{`config file `, `: repair_order: unknown repair id "rebot" (not in --repair_set, and not a built-in: isolate; define it in --repair_set or fix the name)`}},
		{"json unknown key", base, nil, "healer.json:{\"num_allowed_repairs\": 2, \"mdoe\": \"observe\"}",
			[]string{`line 1: unknown key "mdoe"; did you mean "mode"?`}},
		{"json syntax error", base, nil, "healer.json:{\n  \"mode\": \"observe\",\n}\n",
			[]string{`line 3, column 1: invalid JSON`}},
		{"missing file", append(base, "--config=/nonexistent/x.yaml"), nil, "",
			[]string{`--config=/nonexistent/x.yaml: cannot read the config file: stat /nonexistent/x.yaml: no such file or directory`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				name, body := "healer.yaml", tc.file
				if n, b, ok := strings.Cut(tc.file, ":"); ok && strings.HasSuffix(n, ".json") {
					name, body = n, b
				}
				args = append(append([]string{}, args...), "--config="+writeFile(t, name, body))
			}
			_, err := Load(args, tc.env)
			if err == nil {
				t.Fatalf("Load accepted %v %v", args, tc.env)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestZKDefaultChrootHintOnlyForPaths: the hint to leave the path out is
// for path problems; after a bad server it would mislead.
func TestZKDefaultChrootHintOnlyForPaths(t *testing.T) {
	_, err := Load([]string{"--master=m:5050", "--zk=zk://h/healer"}, nil)
	if err == nil || strings.Contains(err.Error(), "leave the path out") {
		t.Fatalf("bad server with a path: %v; want an error without the default-chroot hint", err)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "healer.yaml", `
num_allowed_repairs: 2
probation: 5mins
reset_after: 2h
zone_cap: 4
mode: dry-run
repair_set:
  reboot: /sbin/reboot
repair_order:
  - {action: reboot, scope: slave, timeout: 20m, drain: true}
  - isolate
`)
	cases := []struct {
		name string
		args []string
		env  []string
		want func(c Config) []any // got, want pairs
	}{
		{"file over default", []string{"--master=m:5050", "--config=" + file}, nil, func(c Config) []any {
			return []any{c.NumAllowedRepairs, 2, c.Probation, 5 * time.Minute, c.ResetAfter, 2 * time.Hour, c.Mode, ModeDryRun, c.OfferTimeout, 5 * time.Minute}
		}},
		{"env over file", []string{"--master=m:5050", "--config=" + file}, []string{"HEALER_NUM_ALLOWED_REPAIRS=3", "HEALER_PROBATION=1m"}, func(c Config) []any {
			return []any{c.NumAllowedRepairs, 3, c.Probation, time.Minute, c.ResetAfter, 2 * time.Hour}
		}},
		{"flag over env over file", []string{"--master=m:5050", "--config=" + file, "--num_allowed_repairs=4"}, []string{"HEALER_NUM_ALLOWED_REPAIRS=3"}, func(c Config) []any {
			return []any{c.NumAllowedRepairs, 4, c.ZoneCap, 4}
		}},
		{"config file from the environment", []string{"--master=m:5050"}, []string{"HEALER_CONFIG=" + file}, func(c Config) []any {
			return []any{c.NumAllowedRepairs, 2, c.ConfigFile, file}
		}},
		{"--config over HEALER_CONFIG", []string{"--master=m:5050", "--config=" + file}, []string{"HEALER_CONFIG=/nonexistent"}, func(c Config) []any {
			return []any{c.NumAllowedRepairs, 2}
		}},
		{"bad env value overridden by a flag is not in effect", []string{"--master=m:5050", "--config=" + file, "--probation=1m"}, []string{"HEALER_PROBATION=garbage"}, func(c Config) []any {
			return []any{c.Probation, time.Minute}
		}},
		{"a setting is replaced whole, not merged", []string{"--master=m:5050", "--config=" + file, "--repair_order=isolate"}, nil, func(c Config) []any {
			return []any{len(c.RepairOrder), 1, c.RepairOrder[0].Action, "isolate", len(c.RepairSet), 1}
		}},
		{"file step keeps its timeout, others get step_timeout", []string{"--master=m:5050", "--config=" + file, "--step_timeout=7m"}, nil, func(c Config) []any {
			return []any{c.RepairOrder[0].Timeout, 20 * time.Minute, c.RepairOrder[0].Drain, true, c.RepairOrder[1].Timeout, 7 * time.Minute}
		}},
		{"env step_timeout reaches file steps", []string{"--master=m:5050", "--config=" + file}, []string{"HEALER_STEP_TIMEOUT=9mins"}, func(c Config) []any {
			return []any{c.RepairOrder[1].Timeout, 9 * time.Minute}
		}},
		{"every flag has an env var", []string{"--config=" + file}, []string{"HEALER_MASTER=zk://z1:2181,z2:2181/mesos", "HEALER_CHECKPOINT=false", "HEALER_MAX_UNHEALTHY=30", "HEALER_LOG_FORMAT=json"}, func(c Config) []any {
			return []any{c.Master, "zk://z1:2181,z2:2181/mesos", c.Checkpoint, false, c.MaxUnhealthy.String(), "30", c.LogFormat, "json"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			pairs := tc.want(c)
			for i := 0; i+1 < len(pairs); i += 2 {
				if !reflect.DeepEqual(pairs[i], pairs[i+1]) {
					t.Errorf("value %d: got %v, want %v", i/2, pairs[i], pairs[i+1])
				}
			}
		})
	}
}

func TestEnvNames(t *testing.T) {
	var c Config
	for _, b := range c.bindings() {
		if got := EnvName(b.name); got != "HEALER_"+strings.ToUpper(b.name) {
			t.Errorf("EnvName(%s) = %s", b.name, got)
		}
		if !strings.Contains(Usage(), "--"+b.name+" ("+EnvName(b.name)+")") {
			t.Errorf("Usage does not list --%s", b.name)
		}
	}
}

func TestHelp(t *testing.T) {
	if _, err := Load([]string{"--help"}, nil); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: err = %v, want ErrHelp", err)
	}
}

func TestDurations(t *testing.T) {
	ok := map[string]time.Duration{
		"10m": 10 * time.Minute, "1h30m": 90 * time.Minute, "0": 0, "500ms": 500 * time.Millisecond,
		"10mins": 10 * time.Minute, "5secs": 5 * time.Second, "1days": 24 * time.Hour, "1weeks": 7 * 24 * time.Hour,
		"1.5hrs": 90 * time.Minute, "250ms": 250 * time.Millisecond, " 2mins ": 2 * time.Minute, "3us": 3 * time.Microsecond,
	}
	for in, want := range ok {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10", "mins", "-5secs", "10 mins", "1e3secs", "Infdays", "0x10secs", "1fortnights", "99999999999weeks"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestThreshold(t *testing.T) {
	if p, err := ParseThreshold(" 20% "); err != nil || p != (Threshold{Percent: 20, IsPercent: true}) {
		t.Errorf("20%% = %+v, %v", p, err)
	}
	if n, err := ParseThreshold("25"); err != nil || n != (Threshold{Count: 25}) {
		t.Errorf("25 = %+v, %v", n, err)
	}
	for _, bad := range []string{"0", "-1", "0%", "101%", "12.5%", "NaN%", "x"} {
		if _, err := ParseThreshold(bad); err == nil {
			t.Errorf("ParseThreshold(%q) accepted", bad)
		}
	}
}

func TestSettingsRedactAndList(t *testing.T) {
	c, err := Load(append(base, "--zk=zk://u:hunter2@z:2181/h"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range c.Settings() {
		if strings.Contains(kv[1], "hunter2") {
			t.Errorf("setting %s leaks the ZooKeeper password: %s", kv[0], kv[1])
		}
	}
}

// TestMarshalFileRoundTrip: the effective configuration written as a file
// loads back to the same configuration.
func TestMarshalFileRoundTrip(t *testing.T) {
	file := writeFile(t, "healer.yaml", `
master: zk://z1:2181/mesos
repair_set:
  restart: systemctl restart mesos-agent
  reimage: /opt/reimage --wipe, --yes   # a comma: only the file can say it
repair_order: [restart:slave, "reimage:master", isolate]
ladders:
  disk_full:
    - {action: restart, scope: agent, timeout: 90secs, approval: true}
    - isolate
zone_caps: {us-east-1a: 1, us-east-1b: 2}
max_unhealthy: 15%
task_cpus: 0.25
`)
	c, err := Load([]string{"--config=" + file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.MarshalFile()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Load([]string{"--config=" + writeFile(t, "again.yaml", string(out))}, nil)
	if err != nil {
		t.Fatalf("reloading the marshalled file: %v\n%s", err, out)
	}
	c.origin, c2.origin, c.raw, c2.raw, c.file, c2.file, c.ConfigFile, c2.ConfigFile = nil, nil, nil, nil, "", "", "", ""
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("round trip changed the config:\n%+v\n%+v\nfile:\n%s", c, c2, out)
	}
}
