package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/internal/mesosduration"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// This file holds the value types of the configuration and their parsers.
// Every parser is used for all three sources (flag, environment, file), so a
// value means the same thing wherever an operator writes it, and every String
// method prints a form its parser accepts again (the fuzz tests hold us to it).

// Scope, Step, Mode and Isolation are the coordinator's own types, so a
// loaded Config hands them to the coordinator as they are.

// Scope says where a repair step runs: ScopeAgent runs the step as a task on
// the broken agent itself, through an offer from that agent (the
// self-healing design calls this scope "slave", accepted on input and
// normalised to "agent"); ScopeMaster runs it on the scheduler's host (e.g. an
// IPMI power cycle), for agents too broken to run a task.
type Scope = coordinator.Scope

const (
	ScopeAgent  = coordinator.ScopeAgent
	ScopeMaster = coordinator.ScopeMaster
)

// ParseScope accepts "agent", "master" and the design's legacy "slave".
func ParseScope(s string) (Scope, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "agent", "slave":
		return ScopeAgent, nil
	case "master":
		return ScopeMaster, nil
	case "":
		return 0, errors.New(`missing scope (want "master" or "slave"/"agent")`)
	}
	return 0, fmt.Errorf(`unknown scope %q (want "master" or "slave"/"agent")`, s)
}

// Mode is the staged-rollout mode of the self-healing design: ModeObserve
// records signals and incidents but decides nothing, ModeDryRun decides and
// records what it would do and does nothing, ModeExecute repairs.
type Mode = coordinator.Mode

const (
	ModeObserve = coordinator.ModeObserve
	ModeDryRun  = coordinator.ModeDryRun
	ModeExecute = coordinator.ModeExecute
)

// ParseMode accepts what coordinator.ParseMode does (observe, dry-run or
// dry_run, execute), in any case and with surrounding spaces.
func ParseMode(s string) (Mode, error) {
	m, err := coordinator.ParseMode(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		return 0, fmt.Errorf("unknown mode %q (want observe, dry-run or execute)", s)
	}
	return m, nil
}

// Isolation is how healer tells the Mesos master to stop using an agent at
// the end of its ladder: IsolationDeactivate uses the operator API's
// DEACTIVATE_AGENT (no new offers from the agent, running tasks untouched),
// IsolationDrain uses DRAIN_AGENT (tasks are killed and the agent drained),
// IsolationMaintenance schedules a maintenance window and marks the machine
// DOWN.
type Isolation = coordinator.IsolationMethod

const (
	IsolationDeactivate  = coordinator.IsolateDeactivate
	IsolationDrain       = coordinator.IsolateDrain
	IsolationMaintenance = coordinator.IsolateMaintenanceDown
)

// isolationNames are the names operators write; coordinator's String says
// maintenance_down for IsolationMaintenance, which no parser here accepts.
var isolationNames = map[Isolation]string{
	IsolationDeactivate:  "deactivate",
	IsolationDrain:       "drain",
	IsolationMaintenance: "maintenance",
}

// formatIsolation prints the form ParseIsolation accepts.
func formatIsolation(i Isolation) string {
	if n, ok := isolationNames[i]; ok {
		return n
	}
	return i.String()
}

// ParseIsolation accepts deactivate, drain and maintenance.
func ParseIsolation(s string) (Isolation, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "deactivate":
		return IsolationDeactivate, nil
	case "drain":
		return IsolationDrain, nil
	case "maintenance":
		return IsolationMaintenance, nil
	}
	return 0, fmt.Errorf("unknown isolation method %q (want deactivate, drain or maintenance)", s)
}

// Threshold is a limit given either as an absolute count ("25") or as a
// whole percentage of known agents ("20%"). Percent is meaningful when
// IsPercent, Count otherwise.
type Threshold struct {
	Count     int
	Percent   int
	IsPercent bool
}

// ParseThreshold parses "25" or "20%". Percentages are whole numbers in
// 1..100: the coordinator's breaker works in whole percent, and a limit that
// silently rounded would not be the limit the operator wrote.
func ParseThreshold(s string) (Threshold, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 100 {
			return Threshold{}, fmt.Errorf("invalid percentage %q (want a whole number from 1 to 100 followed by %%, e.g. 20%%)", s)
		}
		return Threshold{Percent: n, IsPercent: true}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 {
		return Threshold{}, fmt.Errorf("invalid threshold %q (want a count ≥ 1 such as 25, or a percentage such as 20%%)", s)
	}
	return Threshold{Count: n}, nil
}

// String prints the form ParseThreshold accepts.
func (t Threshold) String() string {
	if t.IsPercent {
		return strconv.Itoa(t.Percent) + "%"
	}
	return strconv.Itoa(t.Count)
}

// ParseDuration accepts Go durations ("10m", "1h30m", "500ms") and the
// Mesos forms operators type into Mesos flags ("10mins", "5secs", "1days",
// "2weeks", "1.5hrs"); see internal/mesosduration, which the Mesos emulator
// shares. Negative durations are rejected: no knob in healer means anything
// with a negative time.
func ParseDuration(s string) (time.Duration, error) {
	return mesosduration.Parse(s)
}

// Repair is one entry of --repair_set: an action id and the command that
// performs it.
type Repair struct {
	ID string
	// Command is a command line, run with /bin/sh -c on the agent (agent
	// scope) or on the scheduler's host (master scope). Spaces are allowed; a
	// path that contains spaces must be quoted for the shell. Commas cannot be
	// written in --repair_set (they separate entries): define such commands
	// in the config file's repair_set mapping instead.
	Command string
}

// Step is one rung of a repair ladder. A zero Timeout means --step_timeout;
// Load fills it in, so a loaded Config never has a zero timeout.
type Step = coordinator.Step

// BuiltinIsolate is the built-in last-resort action: tell the master to stop
// using the agent (see --isolation). It is run by the scheduler, so its scope
// is always master.
const BuiltinIsolate = coordinator.ActionIsolate

// builtins are action ids that need no repair_set entry.
var builtins = map[string]Scope{BuiltinIsolate: ScopeMaster}

// Builtins lists the built-in action ids, for messages and documentation.
func Builtins() []string { return []string{BuiltinIsolate} }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func checkID(id string) error {
	if id == "" {
		return errors.New("empty repair id")
	}
	if !idPattern.MatchString(id) {
		return fmt.Errorf("invalid repair id %q (use letters, digits, '_', '-', '.'; at most 63 characters; start with a letter or digit)", id)
	}
	return nil
}

// ParseRepairSet parses the self-healing design's
// --repair_set=<repair_id>=<path_to_cmd>,... The command is everything after
// the first '=' up to the next ','. Ids must be unique and must not redefine a
// built-in. An empty string is an empty set.
func ParseRepairSet(s string) ([]Repair, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Repair
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		id, cmd, ok := strings.Cut(entry, "=")
		id, cmd = strings.TrimSpace(id), strings.TrimSpace(cmd)
		if !ok {
			return nil, fmt.Errorf("entry %q is not <repair_id>=<path_to_cmd>", entry)
		}
		if err := checkRepair(id, cmd); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, fmt.Errorf("duplicate repair id %q (each id may be defined once)", id)
		}
		seen[id] = true
		out = append(out, Repair{ID: id, Command: cmd})
	}
	return out, nil
}

func checkRepair(id, cmd string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if _, ok := builtins[id]; ok {
		return fmt.Errorf("repair id %q is a built-in and cannot be redefined; pick another id", id)
	}
	if cmd == "" {
		return fmt.Errorf("repair id %q has an empty command", id)
	}
	if strings.ContainsAny(cmd, "\x00\n\r") {
		return fmt.Errorf("repair id %q: command contains a NUL or newline; put multi-line logic in a script and give its path", id)
	}
	return nil
}

// FormatRepairSet prints repairs in --repair_set syntax. It is the inverse of
// ParseRepairSet for every set that contains no comma in a command.
func FormatRepairSet(rs []Repair) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.ID + "=" + r.Command
	}
	return strings.Join(parts, ",")
}

// ParseRepairOrder parses the self-healing design's
// --repair_order=<repair_id>:<scope>,... Scope is master or slave (agent is
// accepted and "slave" is normalised to agent). The built-in isolate may be
// written without a scope and is always master-scoped. Ids must be unique.
// Whether an id is defined is checked by Config.Validate, which knows the
// repair set. Timeouts are left zero (meaning --step_timeout).
func ParseRepairOrder(s string) ([]Step, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Step
	seen := map[string]bool{}
	for _, entry := range strings.Split(s, ",") {
		st, err := parseOrderEntry(entry)
		if err != nil {
			return nil, err
		}
		if seen[st.Action] {
			return nil, fmt.Errorf("duplicate repair id %q (a ladder runs each repair once; list it once)", st.Action)
		}
		seen[st.Action] = true
		out = append(out, st)
	}
	return out, nil
}

func parseOrderEntry(entry string) (Step, error) {
	id, scope, hasScope := strings.Cut(entry, ":")
	id = strings.TrimSpace(id)
	if err := checkID(id); err != nil {
		return Step{}, fmt.Errorf("entry %q: %w", entry, err)
	}
	if !hasScope {
		if b, ok := builtins[id]; ok {
			return Step{Action: id, Scope: b}, nil
		}
		return Step{}, fmt.Errorf("entry %q has no scope (write %s:master or %s:slave)", entry, id, id)
	}
	sc, err := ParseScope(scope)
	if err != nil {
		return Step{}, fmt.Errorf("entry %q: %w", entry, err)
	}
	if err := checkBuiltinScope(id, sc); err != nil {
		return Step{}, fmt.Errorf("entry %q: %w", entry, err)
	}
	return Step{Action: id, Scope: sc}, nil
}

func checkBuiltinScope(id string, sc Scope) error {
	if b, ok := builtins[id]; ok && sc != b {
		return fmt.Errorf("built-in %q runs on the scheduler through the master; its scope must be %s", id, b)
	}
	return nil
}

// FormatRepairOrder prints steps in --repair_order syntax (action:scope).
// Timeouts, approval and drain have no flag syntax; use the config file.
func FormatRepairOrder(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.Action + ":" + s.Scope.String()
	}
	return strings.Join(parts, ",")
}

// The environment a repair step's command runs with (docs/configuration.md,
// "What a repair command gets"): executor/taskspec defines it, and its
// StepEnv builds it for either scope. The prefix is REPAIR_, never HEALER_:
// every HEALER_* variable in the scheduler's environment must be a setting.
const (
	StepEnvAgentID  = taskspec.EnvAgentID
	StepEnvHostname = taskspec.EnvHostname
	StepEnvProblem  = taskspec.EnvProblem
	StepEnvAction   = taskspec.EnvAction
	StepEnvAttempt  = taskspec.EnvAttempt
	StepEnvIncident = taskspec.EnvIncident
	StepEnvTimeout  = taskspec.EnvTimeout
	StepEnvScope    = taskspec.EnvScope
)
