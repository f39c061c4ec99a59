package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
// On error the Config is not usable; the error names the offending flag,
// variable or key and says what to do. Validation problems are all reported
// at once (joined), one per line.
func Load(args, environ []string) (Config, error) {
	// Pass 1: find out which flags are given and where the config file is.
	// Parsing the arguments into a throwaway Config also reports a malformed
	// flag before anything else is read.
	probe := Default()
	explicit, err := parseArgs(&probe, args)
	if err != nil {
		return Config{}, err
	}
	env, err := healerEnv(environ)
	if err != nil {
		return Config{}, err
	}

	c := Default()
	c.origin = map[string]source{}
	path, pathLabel := "", ""
	if explicit["config"] {
		path, pathLabel = probe.ConfigFile, "--config"
	} else if v, ok := env[EnvName("config")]; ok {
		path, pathLabel = strings.TrimSpace(v), EnvName("config")
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("%s: cannot read the config file: %w", pathLabel, err)
		}
		if err := c.applyFile(path, data); err != nil {
			return Config{}, err
		}
	}

	// Pass 2: the environment over the file, for settings not on the command
	// line (a bad variable that a flag overrides is not an error: it is not
	// in effect).
	for _, b := range c.bindings() {
		v, ok := env[EnvName(b.name)]
		if !ok || explicit[b.name] {
			continue
		}
		if err := b.value.Set(v); err != nil {
			return Config{}, fmt.Errorf("%s=%s: %w", EnvName(b.name), v, err)
		}
		c.origin[b.name] = fromEnv
	}
	// Pass 3: the command line over everything.
	if _, err := parseArgs(&c, args); err != nil {
		return Config{}, fmt.Errorf("config: second parse of the arguments disagrees with the first: %w", err)
	}
	for name := range explicit {
		c.origin[name] = fromFlag
	}
	c.ConfigFile = path
	c.finalize()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseArgs parses args into c and returns the names of the flags given.
func parseArgs(c *Config, args []string) (map[string]bool, error) {
	var setErr error
	fs := flag.NewFlagSet("healer-scheduler", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.addFlags(fs, &setErr)
	if err := fs.Parse(args); err != nil {
		switch {
		case errors.Is(err, flag.ErrHelp):
			return nil, ErrHelp
		case setErr != nil:
			return nil, setErr
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			name = strings.TrimLeft(name, "-")
			hint := ""
			if s := closest(name, flagNames()); s != "" {
				hint = fmt.Sprintf("; did you mean --%s?", s)
			}
			return nil, fmt.Errorf("unknown flag --%s%s (run with --help for the list)", name, hint)
		}
		if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
			return nil, fmt.Errorf("--%s needs a value (--%s=...)", strings.TrimLeft(name, "-"), strings.TrimLeft(name, "-"))
		}
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: healer-scheduler takes only --flags (values with spaces need --flag=\"...\")", fs.Arg(0))
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	return explicit, nil
}

// healerEnv returns the HEALER_* variables of environ. An unknown HEALER_*
// variable is an error: a misspelt safety setting must not be ignored.
func healerEnv(environ []string) (map[string]string, error) {
	known := map[string]bool{}
	var names []string
	for _, n := range flagNames() {
		known[EnvName(n)] = true
		names = append(names, EnvName(n))
	}
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "HEALER_") {
			continue
		}
		if !known[k] {
			hint := ""
			if s := closest(k, names); s != "" {
				hint = fmt.Sprintf("; did you mean %s?", s)
			}
			return nil, fmt.Errorf("environment variable %s is not a healer-scheduler setting%s (unset it; every setting is HEALER_<FLAG_NAME_UPPERCASE>)", k, hint)
		}
		env[k] = v
	}
	return env, nil
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
	fmt.Fprintf(&buf, "Every flag can also be set as HEALER_<FLAG_NAME_UPPERCASE> in the environment,\n")
	fmt.Fprintf(&buf, "and (but --config, --validate_only) as a key in the --config file.\n")
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

// closest returns the candidate nearest to s by edit distance, if it is near
// enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 4
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Settings returns every setting's effective value as it would be written on
// the command line, sorted by name, with ZooKeeper passwords redacted: what
// the scheduler logs at start-up. Ladders and zone caps are included.
func (c Config) Settings() [][2]string {
	var out [][2]string
	for _, b := range c.bindings() {
		v := b.value.String()
		switch b.name {
		case "zk", "master":
			v = redactZK(v)
		case "repair_order":
			v = formatSteps(c.RepairOrder)
		}
		out = append(out, [2]string{b.name, v})
	}
	for _, p := range sortedKeys(c.Ladders) {
		out = append(out, [2]string{"ladders." + p, formatSteps(c.Ladders[p])})
	}
	for _, z := range sortedKeys(c.ZoneCaps) {
		out = append(out, [2]string{"zone_caps." + z, fmt.Sprint(c.ZoneCaps[z])})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// formatSteps prints a ladder with everything a step carries, for logs.
func formatSteps(steps []Step) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		p := fmt.Sprintf("%s:%s/%s", s.Action, s.Scope, s.Timeout)
		if s.Approval {
			p += "/approval"
		}
		if s.Drain {
			p += "/drain"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
