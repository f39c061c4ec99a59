package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
)

// ErrHelp is returned by Load when the arguments ask for help (-h, --help).
var ErrHelp = flag.ErrHelp

// Load builds the Config from the command-line arguments (without the program
// name) and the environment (as os.Environ returns it), reading the config
// file they name, and validates it. Precedence per setting: command line,
// then environment, then config file, then default (see the package doc).
//
// On error the Config is not usable. Every problem is reported at once, one
// per line: first those of the command line (in argument order), then of the
// environment (by variable name), then of the config file (in file order),
// then the checks of the whole configuration. Each names the offending flag,
// variable or key, its value, and what to do.
func Load(args, environ []string) (Config, error) {
	return load(args, environ, readFile)
}

// readFunc reads a file Load needs (the config file, the secret file) and
// reports its mode; tests and fuzzing substitute one that touches no disk.
type readFunc func(path string) ([]byte, fs.FileMode, error)

// readFile reads path if it is a regular file or a pipe (--config=<(...)),
// never a device such as /dev/zero that would never end.
func readFile(path string) ([]byte, fs.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	m := st.Mode()
	if !m.IsRegular() && m.Type() != fs.ModeNamedPipe {
		return nil, m, fmt.Errorf("%s is not a regular file (%s)", path, m.Type())
	}
	data, err := os.ReadFile(path)
	return data, m, err
}

func load(args, environ []string, read readFunc) (Config, error) {
	// Pass 1: which flags are given, and where the config file is. The
	// arguments' own problems are collected here.
	probe := Default()
	explicit, argErrs, help := probe.parseArgs(args)
	if help {
		return Config{}, ErrHelp
	}
	env, errs := healerEnv(environ)
	errs = append(argErrs, errs...)

	c := Default()
	c.origin = map[string]source{}
	c.raw = map[string]string{}
	failed := explicit.failed // settings whose value did not parse; file and environment add theirs
	path, pathLabel := "", ""
	if _, ok := explicit.raw["config"]; ok {
		path, pathLabel = probe.ConfigFile, "--config="+probe.ConfigFile
	} else if v, ok := env[EnvName("config")]; ok {
		path, pathLabel = strings.TrimSpace(v), EnvName("config")+"="+v
	}
	if path != "" {
		data, _, err := read(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot read the config file: %w (check the path and its permissions)", pathLabel, err))
		} else {
			for _, fe := range c.applyFile(path, data) {
				errs = append(errs, fe.err)
				failed[fe.key] = true
			}
		}
	}

	// Pass 2: over the file, the command line's value of each setting given
	// there (its last occurrence; its problems were collected in pass 1), and
	// the environment's for the others (a bad variable that a flag overrides
	// is not an error: it is not in effect).
	for _, b := range c.bindings() {
		if v, ok := explicit.raw[b.name]; ok {
			_ = b.value.Set(v) // an error here was reported in pass 1.
			c.origin[b.name], c.raw[b.name] = fromFlag, v
			continue
		}
		name := EnvName(b.name)
		v, ok := env[name]
		if !ok {
			continue
		}
		c.origin[b.name], c.raw[b.name] = fromEnv, v
		if err := b.value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%s: %w", name, redactValue(b.name, v), err))
			failed[b.name] = true
		}
	}
	c.ConfigFile = path
	c.finalize()
	for _, p := range c.problems() {
		if !failed[p.name] && !(p.name == "repairs" && (failed["repair_set"] || failed["repair_order"] || failed[keyLadders])) {
			errs = append(errs, p.err)
		}
	}
	if len(errs) == 0 {
		errs = c.checkSecretFile(read)
	}
	if len(errs) == 0 {
		errs = c.loadMonitorConfig(read)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// givenFlags is what parseArgs found: the flags given, with the raw value
// of the last occurrence of each, and those whose value did not parse.
type givenFlags struct {
	raw    map[string]string
	failed map[string]bool
}

// parseArgs parses args into c, collecting every problem instead of stopping
// at the first (the flag package stops). help is true when -h or --help is
// among the arguments; then the problems do not matter.
func (c *Config) parseArgs(args []string) (given givenFlags, errs []error, help bool) {
	given = givenFlags{raw: map[string]string{}, failed: map[string]bool{}}
	byName := map[string]binding{}
	for _, b := range c.bindings() {
		byName[b.name] = b
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			for _, p := range args[i+1:] {
				errs = append(errs, unexpectedArg(p))
			}
			break
		}
		if len(a) < 2 || a[0] != '-' || a == "--" || strings.HasPrefix(a, "---") {
			errs = append(errs, unexpectedArg(a))
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if name == "h" || name == "help" {
			help = true
			continue
		}
		b, ok := byName[name]
		if !ok {
			hint := ""
			if s := closest(name, flagNames()); s != "" {
				hint = fmt.Sprintf("; did you mean --%s?", s)
			}
			errs = append(errs, fmt.Errorf("unknown flag --%s%s (run with --help for the list)", name, hint))
			continue
		}
		if bf, ok := b.value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(args) {
				errs = append(errs, fmt.Errorf("--%s needs a value (--%s=...)", name, name))
				continue
			}
			i++
			value = args[i]
		}
		given.raw[name] = value
		delete(given.failed, name) // the last occurrence is the one in effect
		if err := b.value.Set(value); err != nil {
			errs = append(errs, fmt.Errorf("--%s=%s: %w", name, redactValue(name, value), err))
			given.failed[name] = true
		}
	}
	return given, errs, help
}

func unexpectedArg(a string) error {
	return fmt.Errorf("unexpected argument %q: healer-scheduler takes only --flags (values with spaces need --flag=\"...\")", a)
}

// healerEnv returns the HEALER_* variables of environ, and an error for each
// unknown one, by name: a misspelt safety setting must not be ignored.
func healerEnv(environ []string) (map[string]string, []error) {
	known := map[string]bool{}
	for _, n := range flagNames() {
		known[EnvName(n)] = true
	}
	env := map[string]string{}
	var unknown []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		if !known[k] {
			unknown = append(unknown, k)
			continue
		}
		env[k] = v
	}
	sort.Strings(unknown)
	var errs []error
	for i, k := range unknown {
		if i > 0 && unknown[i-1] == k {
			continue
		}
		hint := ""
		if s := closest(strings.TrimPrefix(k, envPrefix), flagNames()); s != "" {
			hint = fmt.Sprintf("; did you mean %s?", EnvName(s))
		}
		errs = append(errs, fmt.Errorf("environment variable %s is not a healer-scheduler setting%s (unset it; every setting is %s<FLAG_NAME_UPPERCASE>, see --help)", k, hint, envPrefix))
	}
	return env, errs
}

func flagNames() []string {
	var c Config
	var out []string
	for _, b := range c.bindings() {
		out = append(out, b.name)
	}
	return out
}

// Usage returns the help text: every flag with its default and environment
// variable, and the precedence rule.
func Usage() string {
	var buf bytes.Buffer
	c := Default()
	fs := flag.NewFlagSet("healer-scheduler", flag.ContinueOnError)
	c.AddFlags(fs)
	fmt.Fprintf(&buf, "Usage: healer-scheduler --master=host:port [--flag=value ...]\n\n")
	fmt.Fprintf(&buf, "Every flag can also be set as HEALER_<FLAG_NAME_UPPERCASE> in the environment\n")
	fmt.Fprintf(&buf, "and, except --config, --validate_only and --print_config, as a key in the --config file.\n")
	fmt.Fprintf(&buf, "Precedence: command line > environment > config file > default.\n")
	fmt.Fprintf(&buf, "Durations: Go (90s, 10m, 1h30m) or Mesos (90secs, 10mins, 1days, 1weeks).\n\n")
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(&buf, "  --%s (%s)\n    \t%s", f.Name, EnvName(f.Name), f.Usage)
		if f.DefValue != "" {
			fmt.Fprintf(&buf, " (default %q)", f.DefValue)
		}
		buf.WriteString("\n")
	})
	return buf.String()
}

// closest returns the candidate s most plausibly is a typo of, or "": one
// within an edit distance (adjacent swaps count once) of 2 and of a third
// of s's length, or else the only candidate that s is a prefix of (at least
// 4 characters: "num_allowed" for num_allowed_repairs).
func closest(s string, candidates []string) string {
	s = strings.ToLower(s)
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(s, strings.ToLower(c))
		if d < bestD && d*3 <= len(s) {
			best, bestD = c, d
		}
	}
	if best != "" || len(s) < 4 {
		return best
	}
	var prefixed []string
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), s) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the optimal-string-alignment (restricted
// Damerau-Levenshtein) distance: insertions, deletions, substitutions and
// swaps of adjacent characters each cost 1.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// Settings returns every setting's effective value in a form the operator
// can paste back (the flag's syntax, or for what the flag cannot express,
// such as per-step timeouts, the config file's YAML flow syntax), sorted by
// name, with ZooKeeper passwords redacted: what the scheduler logs at
// start-up. Ladders and zone caps are included.
func (c Config) Settings() [][2]string {
	var out [][2]string
	for _, b := range c.bindings() {
		v := b.value.String()
		switch b.name {
		case "zk", "master":
			v = redactValue(b.name, v)
		case "repair_order":
			v = c.formatSteps(c.RepairOrder)
		case "repair_set":
			for _, r := range c.RepairSet {
				if strings.Contains(r.Command, ",") {
					// The flag cannot say it; the file's mapping can.
					v = c.formatRepairSetYAML()
					break
				}
			}
		}
		out = append(out, [2]string{b.name, v})
	}
	for _, p := range slices.Sorted(maps.Keys(c.Ladders)) {
		out = append(out, [2]string{"ladders." + p, c.formatSteps(c.Ladders[p])})
	}
	if len(c.ZoneCaps) > 0 {
		parts := make([]string, 0, len(c.ZoneCaps))
		for _, z := range slices.Sorted(maps.Keys(c.ZoneCaps)) {
			parts = append(parts, fmt.Sprintf("%s: %d", yamlScalar(z), c.ZoneCaps[z]))
		}
		out = append(out, [2]string{keyZoneCaps, "{" + strings.Join(parts, ", ") + "}"})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// formatSteps prints a ladder as --repair_order would take it when it can
// (every step with the default timeout, no approval, no drain), else as the
// config file's YAML flow list, which says everything a step carries.
func (c Config) formatSteps(steps []Step) string {
	plain := true
	for _, s := range steps {
		plain = plain && !s.Approval && !s.Drain && (s.Timeout == 0 || s.Timeout == c.StepTimeout)
	}
	if plain {
		return FormatRepairOrder(steps)
	}
	parts := make([]string, len(steps))
	for i, s := range steps {
		p := fmt.Sprintf("{action: %s, scope: %s, timeout: %s", s.Action, s.Scope, s.Timeout)
		if s.Approval {
			p += ", approval: true"
		}
		if s.Drain {
			p += ", drain: true"
		}
		parts[i] = p + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (c Config) formatRepairSetYAML() string {
	parts := make([]string, len(c.RepairSet))
	for i, r := range c.RepairSet {
		parts[i] = r.ID + ": " + yamlScalar(r.Command)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// yamlScalar quotes s for a YAML flow collection when it needs it.
func yamlScalar(s string) string {
	if s == "" || strings.ContainsAny(s, ",:{}[]#&*!|>'\"%@`") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	return s
}
