package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The config file: YAML or JSON, a mapping whose keys are flag names (any
// flag but config and validate_only) plus the file-only keys ladders and
// zone_caps. Two settings have a richer form than their flag:
//
//	repair_set:            # a mapping id → command (commas allowed), or the flag string
//	  restart_agent: systemctl restart mesos-agent
//	  reboot: /usr/local/sbin/healer-reboot
//	repair_order:          # a list of steps, or the flag string
//	  - {action: restart_agent, scope: agent, timeout: 5m}
//	  - {action: reboot, scope: slave, drain: true, approval: true}
//	  - isolate            # a step may also be written as in the flag
//	ladders:               # per-problem ladders, same step syntax
//	  disk_full:
//	    - {action: clean_disk, scope: agent}
//	    - isolate
//	zone_caps: {us-east-1a: 1}

// Keys of the config file that are not flags.
const (
	keyLadders  = "ladders"
	keyZoneCaps = "zone_caps"
)

// stepKeys are the keys of a step mapping.
var stepKeys = []string{"action", "scope", "timeout", "approval", "drain"}

// fileError is an error at a place in the config file.
func (c *Config) fileError(n *yaml.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		return fmt.Errorf("config file %s: line %d: %s", c.file, n.Line, msg)
	}
	return fmt.Errorf("config file %s: %s", c.file, msg)
}

// ParseFile parses a config file's contents onto the defaults, without the
// environment or flags and without validating; name is used in messages and
// to detect JSON by its extension. Every problem in the file is reported,
// joined, in file order. Load reads --config with the same parser.
func ParseFile(name string, data []byte) (Config, error) {
	c := Default()
	c.origin = map[string]source{}
	c.raw = map[string]string{}
	var errs []error
	for _, p := range c.applyFile(name, data) {
		errs = append(errs, p.err)
	}
	return c, errors.Join(errs...)
}

// fileProblem is one error in the config file, and the top-level key it is
// under ("" for the file as a whole).
type fileProblem struct {
	key string
	err error
}

func isJSON(name string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '{'
}

// applyFile sets on c every setting the file holds, and returns every
// problem it finds: a bad key does not hide the next one.
func (c *Config) applyFile(name string, data []byte) []fileProblem {
	c.file = name
	whole := func(err error) []fileProblem { return []fileProblem{{"", err}} }
	if isJSON(name, data) {
		// YAML reads JSON too, but JSON's own parser gives the better message
		// for a JSON syntax error.
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				// Offset counts the bytes read, the offending one included.
				line, col := lineCol(data, se.Offset-1)
				return whole(fmt.Errorf("config file %s: line %d, column %d: invalid JSON: %w", name, line, col, err))
			}
			return whole(fmt.Errorf("config file %s: invalid JSON: %w", name, err))
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		// yaml.v3's messages carry "line N" where it knows it.
		return whole(fmt.Errorf("config file %s: %w", name, err))
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil // empty file: nothing set.
	}
	doc := deref(root.Content[0])
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil
	}
	if doc.Kind != yaml.MappingNode {
		return whole(c.fileError(doc, "the top level must be a mapping of settings (key: value)"))
	}
	byName := map[string]binding{}
	var fileKeys []string
	for _, b := range c.bindings() {
		if b.fileOK {
			byName[b.name] = b
			fileKeys = append(fileKeys, b.name)
		}
	}
	fileKeys = append(fileKeys, keyLadders, keyZoneCaps)
	var problems []fileProblem
	seen := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := deref(doc.Content[i]), deref(doc.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			problems = append(problems, fileProblem{"", c.fileError(k, "a key must be a plain name")})
			continue
		}
		key := k.Value
		if seen[key] {
			problems = append(problems, fileProblem{key, c.fileError(k, "%s: set twice (keep one)", key)})
			continue
		}
		seen[key] = true
		var errs []error
		switch key {
		case keyLadders:
			errs = c.fileLadders(v)
		case keyZoneCaps:
			errs = c.fileZoneCaps(v)
		case "repair_set":
			errs = c.fileRepairSet(v)
		case "repair_order":
			var steps []Step
			if steps, errs = c.fileSteps(key, v); len(errs) == 0 {
				c.RepairOrder = steps
			}
		default:
			b, ok := byName[key]
			if !ok {
				if key == "config" || key == "validate_only" || key == "print_config" {
					errs = append(errs, c.fileError(k, "%s: only allowed on the command line or in the environment", key))
					break
				}
				hint := ""
				if s := closest(key, fileKeys); s != "" {
					hint = fmt.Sprintf("; did you mean %q?", s)
				}
				errs = append(errs, c.fileError(k, "unknown key %q%s (remove it, or see docs/configuration.md for the keys)", key, hint))
				break
			}
			s, err := scalar(key, v)
			if err == nil {
				if err = b.value.Set(s); err != nil {
					err = fmt.Errorf("%s: %w", key, err)
				}
			}
			if err != nil {
				errs = append(errs, c.fileError(v, "%v", err))
			}
		}
		for _, err := range errs {
			problems = append(problems, fileProblem{key, err})
		}
		c.origin[key] = fromFile
	}
	return problems
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func scalar(key string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s: want a single value, not a list or mapping", key)
	}
	if v.Tag == "!!null" {
		return "", fmt.Errorf("%s: no value (remove the key to keep the default)", key)
	}
	return v.Value, nil
}

func (c *Config) fileRepairSet(v *yaml.Node) []error {
	if v.Kind == yaml.ScalarNode {
		s, err := scalar("repair_set", v)
		var rs []Repair
		if err == nil {
			rs, err = ParseRepairSet(s)
		}
		if err != nil {
			return []error{c.fileError(v, "repair_set: %v", err)}
		}
		c.RepairSet = rs
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return []error{c.fileError(v, "repair_set: want a mapping of repair id to command")}
	}
	var rs []Repair
	var errs []error
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, cmd := deref(v.Content[i]), deref(v.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, c.fileError(k, "repair_set: a repair id must be a plain name"))
			continue
		}
		s, err := scalar("repair_set."+k.Value, cmd)
		if err != nil {
			errs = append(errs, c.fileError(cmd, "%v", err))
			continue
		}
		id, s := strings.TrimSpace(k.Value), strings.TrimSpace(s)
		if err := checkRepair(id, s); err != nil {
			errs = append(errs, c.fileError(k, "repair_set: %v", err))
			continue
		}
		if seen[id] {
			errs = append(errs, c.fileError(k, "repair_set: duplicate repair id %q (each id may be defined once)", id))
			continue
		}
		seen[id] = true
		rs = append(rs, Repair{ID: id, Command: s})
	}
	if len(errs) == 0 {
		c.RepairSet = rs
	}
	return errs
}

// fileSteps reads a ladder: the flag string, or a list whose items are
// "id:scope" strings or step mappings.
func (c *Config) fileSteps(where string, v *yaml.Node) ([]Step, []error) {
	if v.Kind == yaml.ScalarNode {
		s, err := scalar(where, v)
		var steps []Step
		if err == nil {
			steps, err = ParseRepairOrder(s)
		}
		if err != nil {
			return nil, []error{c.fileError(v, "%s: %v", where, err)}
		}
		return steps, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, []error{c.fileError(v, "%s: want a list of steps", where)}
	}
	var steps []Step
	var errs []error
	seen := map[string]bool{}
	for i, item := range v.Content {
		item = deref(item)
		at := fmt.Sprintf("%s[%d]", where, i)
		var st Step
		switch item.Kind {
		case yaml.ScalarNode:
			s, err := scalar(at, item)
			if err == nil {
				st, err = parseOrderEntry(s)
			}
			if err != nil {
				errs = append(errs, c.fileError(item, "%s: %v", at, err))
				continue
			}
		case yaml.MappingNode:
			var stepErrs []error
			if st, stepErrs = c.fileStep(at, item); len(stepErrs) > 0 {
				errs = append(errs, stepErrs...)
				continue
			}
		default:
			errs = append(errs, c.fileError(item, "%s: want a step mapping {action: ..., scope: ...} or \"id:scope\"", at))
			continue
		}
		if seen[st.Action] {
			errs = append(errs, c.fileError(item, "%s: duplicate repair id %q (a ladder runs each repair once; list it once)", at, st.Action))
			continue
		}
		seen[st.Action] = true
		steps = append(steps, st)
	}
	return steps, errs
}

func (c *Config) fileStep(at string, m *yaml.Node) (Step, []error) {
	var st Step
	var errs []error
	got := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		key := k.Value
		if got[key] {
			errs = append(errs, c.fileError(k, "%s.%s: set twice (keep one)", at, key))
			continue
		}
		got[key] = true
		s, err := scalar(at+"."+key, v)
		if err != nil {
			errs = append(errs, c.fileError(v, "%v", err))
			continue
		}
		switch key {
		case "action":
			st.Action = strings.TrimSpace(s)
			err = checkID(st.Action)
		case "scope":
			st.Scope, err = ParseScope(s)
		case "timeout":
			st.Timeout, err = ParseDuration(s)
		case "approval":
			err = (&boolValue{&st.Approval}).Set(s)
		case "drain":
			err = (&boolValue{&st.Drain}).Set(s)
		default:
			hint := ""
			if h := closest(key, stepKeys); h != "" {
				hint = fmt.Sprintf("; did you mean %q?", h)
			}
			errs = append(errs, c.fileError(k, "%s: unknown step key %q%s (a step has %s)", at, key, hint, strings.Join(stepKeys, ", ")))
			continue
		}
		if err != nil {
			errs = append(errs, c.fileError(v, "%s.%s: %v", at, key, err))
		}
	}
	if len(errs) > 0 {
		return Step{}, errs
	}
	if !got["action"] {
		return Step{}, []error{c.fileError(m, "%s: missing action (a repair id or a built-in: %s)", at, strings.Join(Builtins(), ", "))}
	}
	if b, builtin := builtins[st.Action]; !got["scope"] {
		if !builtin {
			return Step{}, []error{c.fileError(m, "%s: missing scope for %q (master or slave/agent)", at, st.Action)}
		}
		st.Scope = b
	}
	if err := checkBuiltinScope(st.Action, st.Scope); err != nil {
		return Step{}, []error{c.fileError(m, "%s: %v", at, err)}
	}
	return st, nil
}

func (c *Config) fileLadders(v *yaml.Node) []error {
	if v.Kind != yaml.MappingNode {
		return []error{c.fileError(v, "ladders: want a mapping of problem name to a list of steps")}
	}
	var errs []error
	ladders := map[string][]Step{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, l := deref(v.Content[i]), deref(v.Content[i+1])
		p := k.Value
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, c.fileError(k, "ladders: a problem name must be a plain name"))
			continue
		}
		if err := checkProblem(p); err != nil {
			errs = append(errs, c.fileError(k, "ladders: %v", err))
			continue
		}
		if _, dup := ladders[p]; dup {
			errs = append(errs, c.fileError(k, "ladders: problem %q has two ladders (keep one)", p))
			continue
		}
		steps, stepErrs := c.fileSteps("ladders."+p, l)
		if len(stepErrs) > 0 {
			errs = append(errs, stepErrs...)
			ladders[p] = nil
			continue
		}
		if len(steps) == 0 {
			errs = append(errs, c.fileError(l, "ladders.%s: empty ladder; give it at least one step or remove it to use repair_order", p))
			continue
		}
		ladders[p] = steps
	}
	if len(errs) > 0 {
		return errs
	}
	c.Ladders = nil
	if len(ladders) > 0 {
		c.Ladders = ladders
	}
	return nil
}

func (c *Config) fileZoneCaps(v *yaml.Node) []error {
	if v.Kind != yaml.MappingNode {
		return []error{c.fileError(v, "zone_caps: want a mapping of zone name to cap")}
	}
	var errs []error
	caps := map[string]int{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, n := deref(v.Content[i]), deref(v.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			errs = append(errs, c.fileError(k, "zone_caps: a zone must be a non-empty name"))
			continue
		}
		if _, dup := caps[k.Value]; dup {
			errs = append(errs, c.fileError(k, "zone_caps: zone %q set twice (keep one)", k.Value))
			continue
		}
		s, err := scalar("zone_caps."+k.Value, n)
		if err != nil {
			errs = append(errs, c.fileError(n, "%v", err))
			continue
		}
		cp, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || cp < 1 {
			errs = append(errs, c.fileError(n, "zone_caps.%s: %q is not a cap ≥ 1 (leave the zone out for --zone_cap)", k.Value, s))
			continue
		}
		caps[k.Value] = cp
	}
	if len(errs) > 0 {
		return errs
	}
	c.ZoneCaps = nil // an empty mapping is no caps: keep one representation.
	if len(caps) > 0 {
		c.ZoneCaps = caps
	}
	return nil
}

func lineCol(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// MarshalFile writes c as a YAML config file that Load reads back to the same
// settings, every setting the file can hold written out (defaults included):
// what --print_config prints, for an operator to keep or diff. ZooKeeper
// passwords are written as xxxxx, so the output is safe to share; put the
// real one back before using it.
func (c Config) MarshalFile() ([]byte, error) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	mapping := func() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }
	steps := func(ss []Step) *yaml.Node {
		seq := &yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range ss {
			m := mapping()
			m.Style = yaml.FlowStyle
			m.Content = append(m.Content,
				str("action"), str(s.Action),
				str("scope"), str(s.Scope.String()),
				str("timeout"), str(s.Timeout.String()),
				str("approval"), str(strconv.FormatBool(s.Approval)),
				str("drain"), str(strconv.FormatBool(s.Drain)))
			seq.Content = append(seq.Content, m)
		}
		return seq
	}
	doc := mapping()
	for _, b := range c.bindings() {
		if !b.fileOK {
			continue
		}
		switch b.name {
		case "repair_set":
			m := mapping()
			for _, r := range c.RepairSet {
				m.Content = append(m.Content, str(r.ID), str(r.Command))
			}
			doc.Content = append(doc.Content, str(b.name), m)
		case "repair_order":
			doc.Content = append(doc.Content, str(b.name), steps(c.RepairOrder))
		default:
			doc.Content = append(doc.Content, str(b.name), str(redactValue(b.name, b.value.String())))
		}
	}
	if len(c.Ladders) > 0 {
		m := mapping()
		for _, p := range slices.Sorted(maps.Keys(c.Ladders)) {
			m.Content = append(m.Content, str(p), steps(c.Ladders[p]))
		}
		doc.Content = append(doc.Content, str(keyLadders), m)
	}
	if len(c.ZoneCaps) > 0 {
		m := mapping()
		for _, z := range slices.Sorted(maps.Keys(c.ZoneCaps)) {
			m.Content = append(m.Content, str(z), str(strconv.Itoa(c.ZoneCaps[z])))
		}
		doc.Content = append(doc.Content, str(keyZoneCaps), m)
	}
	doc.HeadComment = "healer-scheduler configuration (--print_config): every setting, defaults included.\nZooKeeper passwords are shown as xxxxx."
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return out, nil
}
