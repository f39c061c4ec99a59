// Package config is the configuration of healer-scheduler: one Config with
// its defaults, its flags, its environment variables and its config file, and
// the checks that refuse a bad configuration at start-up.
//
// # Sources and precedence
//
// Every setting has a Mesos-style flag (--snake_case). The same setting can
// be given as an environment variable HEALER_<FLAG_NAME_UPPERCASE> (how
// Marathon configures apps) and, except --config, --validate_only and
// --print_config, as a key of the same name in the --config file. For each setting the value
// comes from exactly one place, the first of:
//
//  1. the command line (--num_allowed_repairs=2),
//  2. the environment (HEALER_NUM_ALLOWED_REPAIRS=2),
//  3. the config file (num_allowed_repairs: 2),
//  4. the built-in default (Default).
//
// Values are never merged across sources: --repair_set on the command line
// replaces the file's repair_set as a whole, so an operator reading one place
// sees the whole setting. The config file alone can express per-problem
// ladders (ladders), per-zone caps (zone_caps) and steps with a timeout,
// approval or drain (repair_order as a list of steps).
//
// The config file is YAML, or JSON (chosen by a .json extension or a leading
// '{'). Unknown keys are errors that name the key, because a typo in a safety
// setting must never be silently ignored; so are unknown HEALER_* variables.
// The HEALER_ prefix belongs to the scheduler's settings alone: repair
// commands get their context as REPAIR_* variables (StepEnvAgentID and the
// rest), so an operator who tries a step command in the scheduler's shell
// cannot break start-up.
//
// # The self-healing design's flags
//
//	--repair_set=<repair_id>=<path_to_cmd>,...
//	--repair_order=<repair_id>:<scope>,...
//	--num_allowed_repairs=<integer>
//
// are accepted exactly as written in that design; see ParseRepairSet and
// ParseRepairOrder for the syntax and docs/configuration.md for the rest.
//
// # Defaults
//
// The settings the coordinator consumes default to coordinator.DefaultPolicy
// (dry-run mode, a default ladder of just isolate, one repair at a time), so
// the two packages cannot disagree; Config.Policy converts back and lets the
// coordinator validate too.
//
// # Contract
//
// Load returns either an error that lists every problem found, each naming
// the offending flag, variable or key, its value and what to do, or a Config
// that has passed Validate (the coordinator's own policy checks included),
// whose secret file is readable, and in which every step has a non-zero
// timeout. Load reads no process globals:
// arguments and environment are passed in, so tests and main share it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/healer-mesos/healer/internal/zkurl"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// Config is everything healer-scheduler is configured with.
type Config struct {
	// Mesos.

	// Master is host:port, a comma-separated list of them, or
	// zk://[user:pass@]host:port,.../mesos.
	Master string
	// FrameworkName, Role, Principal and SecretFile go into the FrameworkInfo
	// and the HTTP basic auth of the scheduler API.
	FrameworkName string
	Role          string
	Principal     string
	SecretFile    string
	// FailoverTimeout is how long the master keeps healer's tasks after the
	// scheduler disconnects. Long by default, so a failover never loses the
	// repair tasks in flight.
	FailoverTimeout time.Duration
	Checkpoint      bool
	// ExecutorURI overrides where agents fetch healer-executor from; empty
	// means the scheduler's own admin port serves it.
	ExecutorURI string
	// TaskCPUs and TaskMemMB are the resources of a repair or monitor task.
	TaskCPUs  float64
	TaskMemMB float64

	// ZooKeeper. ZK is zk://[user:pass@]host:port,.../path; the path is
	// healer's chroot, DefaultZKPath when the URL names none (added before
	// parsing, so "zk://h:2181" is zk://h:2181/healer; a path of "/" alone is
	// refused, as Mesos refuses it). Empty means an in-memory store, for
	// trial runs only.
	ZK               string
	ZKSessionTimeout time.Duration

	// Admin API.
	AdminListen string
	// AdminURL is how other scheduler instances, operators and agents
	// reach this instance's admin API (the leader's is where standbys
	// redirect, the framework's webui_url, and where agents fetch the
	// executor). Empty: http://<Hostname>:<AdminListen's port>.
	AdminURL string

	// AdminTokens is the bearer token file of the admin API (see
	// admin.Tokens): viewer tokens read, operator tokens also mutate.
	// Without it reads are open and mutations refused, unless
	// AdminInsecure, which opens them to anyone who can connect.
	AdminTokens   string
	AdminInsecure bool
	// AdminTLSCert and AdminTLSKey, together, serve the admin API over
	// TLS.
	AdminTLSCert string
	AdminTLSKey  string
	// AlertmanagerAgentLabel and AlertmanagerProblemLabel name the alert
	// labels POST /alertmanager reads the agent and the problem from.
	AlertmanagerAgentLabel   string
	AlertmanagerProblemLabel string

	// Hostname is the host healer advertises (FrameworkInfo.hostname and
	// the default AdminURL); empty means the machine's hostname.
	Hostname string
	// User is the Unix user repair tasks run as on agents
	// (FrameworkInfo.user); empty means the user healer runs as.
	User string
	// MonitorConfig is the monitor configuration file (docs/monitor.md);
	// with it the leader keeps a monitor task on every agent. Monitor is
	// that file, parsed and validated by Load.
	MonitorConfig string
	Monitor       *healerpb.MonitorConfig
	// ExecutorPath is the healer-executor binary the admin port serves to
	// agents (unless ExecutorURI points elsewhere); empty means
	// healer-executor beside the healer-scheduler binary.
	ExecutorPath string

	// Repairs.

	// RepairSet is --repair_set: the repair commands by id.
	RepairSet []Repair
	// RepairOrder is --repair_order: the default ladder, used for problems
	// without their own ladder.
	RepairOrder []Step
	// Ladders are per-problem ladders (config file only).
	Ladders map[string][]Step
	// NumAllowedRepairs is the cluster-wide cap on agents with a step in
	// flight. At least 1: to stop repairs use --mode or a pause instead.
	NumAllowedRepairs int
	// ZoneCap caps agents in a step per fault-domain zone; 0 is unlimited.
	// ZoneCaps overrides it per zone (config file only; each at least 1).
	ZoneCap  int
	ZoneCaps map[string]int
	// MaxUnhealthy trips the storm breaker: it trips when the agents in an
	// incident or isolated exceed both MaxUnhealthy (of known agents) and
	// MaxUnhealthyMin, so a tiny cluster does not trip on its first repair.
	MaxUnhealthy    Threshold
	MaxUnhealthyMin int
	// MinRepairSpacing is the minimum time between two repair starts.
	MinRepairSpacing time.Duration
	// Probation is how long an agent is watched after a successful step.
	Probation time.Duration
	// ResetAfter: an incident within this long of the previous one continues
	// the ladder; after it the ladder starts over.
	ResetAfter time.Duration
	// OfferTimeout: an agent-scope step that gets no usable offer from its
	// agent within this long fails (the agent is too broken to run a task).
	OfferTimeout time.Duration
	// StepTimeout is the timeout of steps that do not set their own.
	StepTimeout time.Duration
	// KillConfirmTimeout is how long past a killed step's deadline healer
	// waits for Mesos to confirm the step ended before freeing its slot.
	KillConfirmTimeout time.Duration
	// DrainTimeout bounds the wait for other frameworks' tasks to leave a
	// draining agent before a drain: true step runs anyway.
	DrainTimeout time.Duration
	Isolation    Isolation
	Mode         Mode

	// Process.
	LogFormat    string
	LogLevel     string
	ConfigFile   string
	ValidateOnly bool
	// PrintConfig asks for the effective configuration as a config file on
	// stdout (see MarshalFile) instead of running.
	PrintConfig bool

	// origin says where each setting came from (flag name → source), and raw
	// the value as written on the command line or in the environment, for
	// error messages. Nil for a Config not made by Load.
	origin map[string]source
	raw    map[string]string
	file   string
	// secretMode is the secret file's mode, for Warnings.
	secretMode fs.FileMode
}

type source int

const (
	fromDefault source = iota
	fromFile
	fromEnv
	fromFlag
)

// Default returns the built-in defaults. Those the coordinator consumes
// (mode, default ladder, limits, durations) are coordinator.DefaultPolicy's:
// dry-run mode, a ladder of just isolate, one repair at a time.
func Default() Config {
	c := Config{
		FrameworkName:            "healer",
		Role:                     "*",
		FailoverTimeout:          7 * 24 * time.Hour,
		Checkpoint:               true,
		TaskCPUs:                 0.1,
		TaskMemMB:                32,
		ZKSessionTimeout:         10 * time.Second,
		AdminListen:              ":7070",
		AlertmanagerAgentLabel:   "instance",
		AlertmanagerProblemLabel: "alertname",
		LogFormat:                "text",
		LogLevel:                 "info",
	}
	// Mode, ladder, limits and durations: the coordinator's defaults.
	c.policyDefaults()
	return c
}

// maxDuration is coordinator.MaxDuration as the flags write it.
const maxDuration = "365days"

const whyMaxDuration = "no repair duration can be meant longer; use a shorter one (e.g. 7days, 1weeks)"

// DefaultZKPath is healer's chroot when --zk names none.
const DefaultZKPath = "/healer"

// binding ties one setting to its flag name, its usage and a flag.Value that
// reads and writes the Config field. All three sources go through it.
type binding struct {
	name  string
	usage string
	value flag.Value
	// fileOK is false for settings that make no sense in the file itself.
	fileOK bool
}

func (c *Config) bindings() []binding {
	b := []binding{
		{"master", "Mesos master: host:port, a comma-separated list, or zk://host:port,.../mesos (required)", &stringValue{&c.Master}, true},
		{"zk", "ZooKeeper for healer's state: zk://[user:pass@]host:port,.../path; the path is healer's chroot (default " + DefaultZKPath + "); empty means an in-memory store (trial runs only)", &stringValue{&c.ZK}, true},
		{"zk_session_timeout", "ZooKeeper session timeout", durationValue(&c.ZKSessionTimeout), true},
		{"framework_name", "Mesos framework name", &stringValue{&c.FrameworkName}, true},
		{"role", "Mesos role to subscribe with", &stringValue{&c.Role}, true},
		{"principal", "Mesos principal (HTTP basic auth user)", &stringValue{&c.Principal}, true},
		{"secret_file", "file holding the principal's secret (HTTP basic auth password)", &stringValue{&c.SecretFile}, true},
		{"failover_timeout", "how long the master keeps healer's tasks while no scheduler is connected", durationValue(&c.FailoverTimeout), true},
		{"checkpoint", "ask agents to checkpoint healer's tasks", &boolValue{&c.Checkpoint}, true},
		{"executor_uri", "URI agents fetch healer-executor from (default: served by the scheduler's admin port)", &stringValue{&c.ExecutorURI}, true},
		{"task_cpus", "CPUs of a repair or monitor task", floatValue(&c.TaskCPUs), true},
		{"task_mem", "memory of a repair or monitor task, in MB", floatValue(&c.TaskMemMB), true},
		{"admin_listen", "address of the admin HTTP API, host:port or :port", &stringValue{&c.AdminListen}, true},
		{"admin_url", "URL at which others reach this instance's admin API (default http://<hostname>:<admin port>)", &stringValue{&c.AdminURL}, true},
		{"admin_tokens", "bearer token file of the admin API, lines \"<name> <viewer|operator> <token>\" (reloaded on change and SIGHUP); without it mutations are refused", &stringValue{&c.AdminTokens}, true},
		{"admin_insecure", "without --admin_tokens, let anyone who can connect send mutations (trials and the demo only)", &boolValue{&c.AdminInsecure}, true},
		{"admin_tls_cert", "PEM certificate (chain) to serve the admin API over TLS, with --admin_tls_key", &stringValue{&c.AdminTLSCert}, true},
		{"admin_tls_key", "PEM private key of --admin_tls_cert", &stringValue{&c.AdminTLSKey}, true},
		{"alertmanager_agent_label", "alert label naming the agent in POST /alertmanager (a host:port value names the host)", &stringValue{&c.AlertmanagerAgentLabel}, true},
		{"alertmanager_problem_label", "alert label naming the problem in POST /alertmanager", &stringValue{&c.AlertmanagerProblemLabel}, true},
		{"hostname", "hostname healer advertises to Mesos and in its admin URL (default: this machine's)", &stringValue{&c.Hostname}, true},
		{"user", "Unix user repair tasks run as on agents (default: the user healer runs as)", &stringValue{&c.User}, true},
		{"monitor_config", "monitor configuration file (YAML or JSON, see docs/monitor.md): keep a monitor task on every agent", &stringValue{&c.MonitorConfig}, true},
		{"executor_path", "healer-executor binary served to agents by the admin port (default: beside healer-scheduler)", &stringValue{&c.ExecutorPath}, true},
		{"repair_set", "repair commands: <repair_id>=<path_to_cmd>,... (run with /bin/sh -c; no commas; use the config file for more)", repairSetValue(&c.RepairSet), true},
		{"repair_order", "default ladder: <repair_id>:<scope>,... with scope master or slave (agent); built-in: isolate", repairOrderValue(&c.RepairOrder), true},
		{"num_allowed_repairs", "agents with a repair step in flight, cluster-wide (≥ 1)", intValue(&c.NumAllowedRepairs), true},
		{"zone_cap", "agents with a repair step in flight per fault-domain zone (0 = unlimited)", intValue(&c.ZoneCap), true},
		{"max_unhealthy", "storm breaker: stop repairs above this many unhealthy agents, a count or a percentage of known agents", thresholdValue(&c.MaxUnhealthy), true},
		{"max_unhealthy_min", "storm breaker never trips at or below this many unhealthy agents", intValue(&c.MaxUnhealthyMin), true},
		{"min_repair_spacing", "minimum time between two repair starts", durationValue(&c.MinRepairSpacing), true},
		{"probation", "how long an agent is watched after a successful step", durationValue(&c.Probation), true},
		{"reset_after", "a new incident within this long of the last continues the ladder; later ones start it over", durationValue(&c.ResetAfter), true},
		{"offer_timeout", "an agent-scope step with no usable offer from its agent within this long fails", durationValue(&c.OfferTimeout), true},
		{"step_timeout", "timeout of steps that set none", durationValue(&c.StepTimeout), true},
		{"drain_timeout", "longest wait for an agent to drain before a drain step runs anyway", durationValue(&c.DrainTimeout), true},
		{"kill_confirm_timeout", "how long past a killed step's deadline healer waits for Mesos to confirm it ended (its repair slot stays taken meanwhile; an unreachable agent never confirms)", durationValue(&c.KillConfirmTimeout), true},
		{"isolation", "how to isolate an agent: deactivate, drain or maintenance", isolationValue(&c.Isolation), true},
		{"mode", "observe (record signals), dry-run (decide, do nothing) or execute", modeValue(&c.Mode), true},
		{"log_format", "text or json", &choiceValue{&c.LogFormat, []string{"text", "json"}}, true},
		{"log_level", "debug, info, warn or error", &choiceValue{&c.LogLevel, []string{"debug", "info", "warn", "error"}}, true},
		{"config", "YAML or JSON config file (per-problem ladders, zone caps, any flag)", &stringValue{&c.ConfigFile}, false},
		{"validate_only", "check the configuration, log the effective settings and exit 0 (or 2 on error)", &boolValue{&c.ValidateOnly}, false},
		{"print_config", "check the configuration, write it to stdout as a YAML config file (ZooKeeper passwords hidden) and exit 0 (or 2 on error)", &boolValue{&c.PrintConfig}, false},
	}
	return b
}

// AddFlags registers every setting on fs, bound to c's fields, with c's
// current values as defaults. Call it on a Default() Config. (Load parses
// the command line itself, so that it can report every bad flag at once.)
func (c *Config) AddFlags(fs *flag.FlagSet) {
	for _, b := range c.bindings() {
		fs.Var(b.value, b.name, b.usage)
	}
}

// EnvName is the environment variable for a flag: HEALER_ and the flag name
// in upper case.
func EnvName(flagName string) string { return envPrefix + strings.ToUpper(flagName) }

const envPrefix = "HEALER_"

// label names a setting the way the operator wrote it, so an error points at
// the right place: --x=value, HEALER_X=value or "config file F: x".
func (c *Config) label(name string) string {
	raw, hasRaw := c.raw[name]
	switch c.origin[name] {
	case fromEnv:
		return EnvName(name) + "=" + redactValue(name, raw)
	case fromFile:
		return fmt.Sprintf("config file %s: %s", c.file, name)
	case fromFlag:
		if hasRaw {
			return "--" + name + "=" + redactValue(name, raw)
		}
	}
	return "--" + name
}

// repairSetName names where repair_set came from, without its value.
func (c *Config) repairSetName() string {
	switch c.origin["repair_set"] {
	case fromEnv:
		return EnvName("repair_set")
	case fromFile:
		return "the config file's repair_set"
	}
	return "--repair_set"
}

// redactValue hides the ZooKeeper password in the value of a setting.
func redactValue(name, v string) string {
	if name == "zk" || name == "master" {
		return zkurl.Redact(v)
	}
	return v
}

// finalize fills what depends on other settings once all sources are in.
func (c *Config) finalize() {
	fill := func(steps []Step) {
		for i := range steps {
			if steps[i].Timeout == 0 {
				steps[i].Timeout = c.StepTimeout
			}
		}
	}
	fill(c.RepairOrder)
	for _, l := range c.Ladders {
		fill(l)
	}
}

// Validate checks the whole configuration and returns every problem found,
// joined, one per line, each naming the setting, its value and what to do.
// It includes the coordinator's own checks of the policy (Policy), so a
// configuration the coordinator would refuse fails here, at start-up.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, p.err)
	}
	return errors.Join(errs...)
}

// problem is one thing wrong with a Config, and the setting it is about
// ("repairs" for the cross-checks of repair_set, repair_order and ladders;
// "policy" for the coordinator's checks).
type problem struct {
	name string
	err  error
}

func (c Config) problems() []problem {
	var errs []problem
	bad := func(name, format string, args ...any) {
		errs = append(errs, problem{name, fmt.Errorf("%s: "+format, append([]any{c.label(name)}, args...)...)})
	}

	if strings.TrimSpace(c.Master) == "" {
		bad("master", "required: the Mesos master as host:port, a comma-separated list, or zk://host:port/mesos")
	} else if err := checkMaster(c.Master); err != nil {
		bad("master", "%v", err)
	}
	if c.ZK != "" {
		var e *zkurl.Error
		if _, err := c.ZKURL(); errors.As(err, &e) && e.InPath {
			bad("zk", "%v; or leave the path out for healer's default chroot %s", err, DefaultZKPath)
		} else if err != nil {
			bad("zk", "%v", err)
		}
	}
	if c.ZKSessionTimeout <= 0 {
		bad("zk_session_timeout", "must be positive (e.g. 10secs)")
	}
	if strings.TrimSpace(c.FrameworkName) == "" {
		bad("framework_name", "must not be empty")
	}
	if c.Role == "" || strings.IndexFunc(c.Role, unicode.IsSpace) >= 0 || c.Role == "." || c.Role == ".." || strings.HasPrefix(c.Role, "/") || strings.HasPrefix(c.Role, "-") {
		bad("role", "invalid Mesos role %q (non-empty, no whitespace, not . or .., not starting with / or -; * is the default role)", c.Role)
	}
	if c.SecretFile != "" && c.Principal == "" {
		bad("secret_file", "is set but --principal is not; set --principal to the user the secret belongs to")
	}
	if c.FailoverTimeout <= 0 {
		bad("failover_timeout", "must be positive: with 0 the master kills healer's repair tasks whenever the scheduler fails over (the default is 1weeks)")
	}
	if !(c.TaskCPUs > 0) {
		bad("task_cpus", "must be positive, got %v", c.TaskCPUs)
	}
	if !(c.TaskMemMB > 0) {
		bad("task_mem", "must be positive (MB), got %v", c.TaskMemMB)
	}
	if _, port, err := net.SplitHostPort(c.AdminListen); err != nil {
		bad("admin_listen", "%q is not host:port or :port", c.AdminListen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("admin_listen", "%q has an invalid port", c.AdminListen)
	}
	if strings.IndexFunc(c.ExecutorURI, unicode.IsSpace) >= 0 {
		bad("executor_uri", "%q contains whitespace", c.ExecutorURI)
	}
	if c.AdminURL != "" {
		if u, err := url.Parse(c.AdminURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("admin_url", "%q is not an http:// or https:// URL with a host", c.AdminURL)
		}
	}
	if c.AdminTokens != "" && c.AdminInsecure {
		bad("admin_insecure", "is set together with --admin_tokens: choose tokens (access control) or --admin_insecure (none), not both")
	}
	if (c.AdminTLSCert == "") != (c.AdminTLSKey == "") {
		name := "admin_tls_cert"
		if c.AdminTLSCert != "" {
			name = "admin_tls_key"
		}
		bad(name, "is required with --%s: give both the certificate and its key, or neither", map[string]string{"admin_tls_cert": "admin_tls_key", "admin_tls_key": "admin_tls_cert"}[name])
	}
	for _, l := range []struct{ name, v string }{
		{"alertmanager_agent_label", c.AlertmanagerAgentLabel}, {"alertmanager_problem_label", c.AlertmanagerProblemLabel},
	} {
		if !validLabelName(l.v) {
			bad(l.name, "%q is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)", l.v)
		}
	}
	if strings.IndexFunc(c.Hostname, unicode.IsSpace) >= 0 {
		bad("hostname", "%q contains whitespace", c.Hostname)
	}

	if c.NumAllowedRepairs < 1 {
		bad("num_allowed_repairs", "must be at least 1, got %d; to stop repairs use --mode=observe or dry-run, or pause healer", c.NumAllowedRepairs)
	}
	if c.ZoneCap < 0 {
		bad("zone_cap", "must be 0 (unlimited) or more, got %d", c.ZoneCap)
	}
	for _, z := range slices.Sorted(maps.Keys(c.ZoneCaps)) {
		if z == "" {
			bad("zone_caps", "empty zone name")
		}
		if c.ZoneCaps[z] < 1 {
			bad("zone_caps", "zone %q: cap must be at least 1, got %d (leave the zone out for --zone_cap)", z, c.ZoneCaps[z])
		}
	}
	if c.MaxUnhealthy.IsPercent && !(c.MaxUnhealthy.Percent > 0 && c.MaxUnhealthy.Percent <= 100) ||
		!c.MaxUnhealthy.IsPercent && c.MaxUnhealthy.Count < 1 {
		bad("max_unhealthy", "%q must be a count ≥ 1 or a percentage in (0, 100]", c.MaxUnhealthy)
	}
	if c.MaxUnhealthyMin < 0 {
		bad("max_unhealthy_min", "must be 0 or more, got %d", c.MaxUnhealthyMin)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		zero bool
	}{
		{"min_repair_spacing", c.MinRepairSpacing, true},
		{"probation", c.Probation, true},
		{"reset_after", c.ResetAfter, true},
		{"offer_timeout", c.OfferTimeout, false},
		{"step_timeout", c.StepTimeout, false},
		{"drain_timeout", c.DrainTimeout, false},
		{"kill_confirm_timeout", c.KillConfirmTimeout, true},
	} {
		switch {
		case d.v < 0 || d.v == 0 && !d.zero:
			bad(d.name, "must be positive, got %s", d.v)
		case d.v > coordinator.MaxDuration:
			bad(d.name, "%s is longer than the maximum, %s: %s", d.v, maxDuration, whyMaxDuration)
		}
	}
	if _, err := ParseIsolation(formatIsolation(c.Isolation)); err != nil {
		bad("isolation", "%v", err)
	}
	if _, err := ParseMode(c.Mode.String()); err != nil {
		bad("mode", "%v", err)
	}

	for _, err := range c.validateRepairs() {
		errs = append(errs, problem{"repairs", err})
	}
	if len(errs) == 0 {
		// The coordinator's checks, on a configuration that passed ours.
		if _, err := c.Policy(); err != nil {
			errs = append(errs, problem{"policy", err})
		}
	}
	return errs
}

func (c Config) validateRepairs() []error {
	var errs []error
	known := map[string]bool{}
	for _, r := range c.RepairSet {
		if err := checkRepair(r.ID, r.Command); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.label("repair_set"), err))
		} else if known[r.ID] {
			errs = append(errs, fmt.Errorf("%s: duplicate repair id %q (each id may be defined once)", c.label("repair_set"), r.ID))
		}
		known[r.ID] = true
	}
	ids := Builtins()
	for _, r := range c.RepairSet {
		ids = append(ids, r.ID)
	}
	unknown := func(id string) string {
		hint := ""
		if s := closest(id, ids); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		return fmt.Sprintf("unknown repair id %q%s (not in %s, and not a built-in: %s; define it in --repair_set or fix the name)", id, hint, c.repairSetName(), strings.Join(Builtins(), ", "))
	}
	checkLadder := func(where string, steps []Step) {
		seen := map[string]bool{}
		for i, s := range steps {
			at := where
			if len(steps) > 1 {
				at = fmt.Sprintf("%s step %d (%s)", where, i+1, s.Action)
			}
			if err := checkID(s.Action); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
				continue
			}
			if _, builtin := builtins[s.Action]; !builtin && !known[s.Action] {
				// The id names the step; "step 2 (rebot)" would say it twice.
				errs = append(errs, fmt.Errorf("%s: %s", where, unknown(s.Action)))
			}
			if seen[s.Action] {
				errs = append(errs, fmt.Errorf("%s: duplicate repair id %q (a ladder runs each repair once; list it once)", where, s.Action))
			}
			seen[s.Action] = true
			if s.Scope != ScopeAgent && s.Scope != ScopeMaster {
				errs = append(errs, fmt.Errorf("%s: unknown scope %q (want master or slave/agent)", at, s.Scope))
			} else if err := checkBuiltinScope(s.Action, s.Scope); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", at, err))
			}
			if s.Timeout < 0 {
				errs = append(errs, fmt.Errorf("%s: negative timeout %s", at, s.Timeout))
			} else if s.Timeout > coordinator.MaxDuration {
				errs = append(errs, fmt.Errorf("%s: timeout %s is longer than the maximum, %s: %s", at, s.Timeout, maxDuration, whyMaxDuration))
			}
			if s.Action == BuiltinIsolate && i != len(steps)-1 {
				errs = append(errs, fmt.Errorf("%s: %s must be the last step (isolation ends the incident, so later steps would never run)", at, BuiltinIsolate))
			}
		}
	}
	checkLadder(c.label("repair_order"), c.RepairOrder)
	for _, p := range slices.Sorted(maps.Keys(c.Ladders)) {
		where := fmt.Sprintf("%s.%s", c.label("ladders"), p)
		if err := checkProblem(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.label("ladders"), err))
		}
		if len(c.Ladders[p]) == 0 {
			errs = append(errs, fmt.Errorf("%s: empty ladder; give it at least one step or remove it to use repair_order", where))
		}
		checkLadder(where, c.Ladders[p])
	}
	if len(c.RepairOrder) == 0 {
		// Problems without a ladder of their own need a default one.
		errs = append(errs, fmt.Errorf("%s: empty: problems without a ladder of their own would have no repair to run; give at least one step, e.g. --repair_order=isolate:master", c.label("repair_order")))
	}
	return errs
}

var problemPattern = idPattern

func checkProblem(p string) error {
	if !problemPattern.MatchString(p) {
		return fmt.Errorf("invalid problem name %q (use letters, digits, '_', '-', '.'; at most 63 characters)", p)
	}
	return nil
}

// checkMaster accepts what Mesos' own --master accepts, less file://: a
// zk:// URL (with its path: the master group's znode, which Mesos requires
// for detection) or host:port[,host:port...].
func checkMaster(m string) error {
	if strings.HasPrefix(strings.TrimSpace(m), zkurl.Scheme) {
		if _, err := zkurl.Parse(m); err != nil {
			return fmt.Errorf("%w; the path is required: Mesos masters elect their leader under it (usually /mesos)", err)
		}
		return nil
	}
	for _, hp := range strings.Split(m, ",") {
		if err := checkHostPort(strings.TrimSpace(hp)); err != nil {
			return fmt.Errorf("%w (want host:port, a comma-separated list, or zk://host:port/mesos)", err)
		}
	}
	return nil
}

func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q is not host:port", hp)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", hp)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", hp)
	}
	return nil
}

// ZKURL parses --zk, its path defaulting to DefaultZKPath. Empty --zk is
// not a URL (the in-memory store): an error.
func (c Config) ZKURL() (zkurl.URL, error) {
	u, err := zkurl.Parse(zkurl.WithDefaultPath(c.ZK, DefaultZKPath))
	var e *zkurl.Error
	if errors.As(err, &e) && !zkurl.HasPath(c.ZK) {
		// Quote what the operator wrote, not the URL with the default
		// chroot added.
		e.Input = zkurl.Redact(c.ZK)
	}
	return u, err
}

// validLabelName says whether s is a Prometheus label name.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
