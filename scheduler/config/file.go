package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
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
// to detect JSON by its extension. It is what Load uses for --config.
func ParseFile(name string, data []byte) (Config, error) {
	c := Default()
	c.origin = map[string]source{}
	err := c.applyFile(name, data)
	return c, err
}

func isJSON(name string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '{'
}

// applyFile sets on c every setting the file holds.
func (c *Config) applyFile(name string, data []byte) error {
	c.file = name
	if isJSON(name, data) {
		// YAML reads JSON too, but JSON's own parser gives the better message
		// for a JSON syntax error.
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				// Offset counts the bytes read, the offending one included.
				line, col := lineCol(data, se.Offset-1)
				return fmt.Errorf("config file %s: line %d, column %d: invalid JSON: %w", name, line, col, err)
			}
			return fmt.Errorf("config file %s: invalid JSON: %w", name, err)
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		// yaml.v3's messages carry "line N" where it knows it.
		return fmt.Errorf("config file %s: %w", name, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil // empty file: nothing set.
	}
	doc := deref(root.Content[0])
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return nil
	}
	if doc.Kind != yaml.MappingNode {
		return c.fileError(doc, "the top level must be a mapping of settings (key: value)")
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
	seen := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := deref(doc.Content[i]), deref(doc.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return c.fileError(k, "a key must be a plain name")
		}
		key := k.Value
		if seen[key] {
			return c.fileError(k, "%s: set twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case keyLadders:
			err = c.fileLadders(v)
		case keyZoneCaps:
			err = c.fileZoneCaps(v)
		case "repair_set":
			err = c.fileRepairSet(v)
		case "repair_order":
			var steps []Step
			if steps, err = c.fileSteps(key, v); err == nil {
				c.RepairOrder = steps
			}
		default:
			b, ok := byName[key]
			if !ok {
				if key == "config" || key == "validate_only" {
					return c.fileError(k, "%s: only allowed on the command line or in the environment", key)
				}
				hint := ""
				if s := closest(key, fileKeys); s != "" {
					hint = fmt.Sprintf("; did you mean %q?", s)
				}
				return c.fileError(k, "unknown key %q%s (see docs/configuration.md for the keys)", key, hint)
			}
			var s string
			if s, err = scalar(key, v); err == nil {
				if err = b.value.Set(s); err != nil {
					err = fmt.Errorf("%s: %w", key, err)
				}
			}
			if err != nil {
				return c.fileError(v, "%v", err)
			}
		}
		if err != nil {
			return err
		}
		c.origin[key] = fromFile
	}
	return nil
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

func (c *Config) fileRepairSet(v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode {
		s, err := scalar("repair_set", v)
		if err == nil {
			c.RepairSet, err = ParseRepairSet(s)
		}
		if err != nil {
			return c.fileError(v, "repair_set: %v", err)
		}
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return c.fileError(v, "repair_set: want a mapping of repair id to command")
	}
	var rs []Repair
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, cmd := deref(v.Content[i]), deref(v.Content[i+1])
		s, err := scalar("repair_set."+k.Value, cmd)
		if err != nil {
			return c.fileError(cmd, "%v", err)
		}
		id, s := strings.TrimSpace(k.Value), strings.TrimSpace(s)
		if k.Kind != yaml.ScalarNode {
			return c.fileError(k, "repair_set: a repair id must be a plain name")
		}
		if err := checkRepair(id, s); err != nil {
			return c.fileError(k, "repair_set: %v", err)
		}
		if seen[id] {
			return c.fileError(k, "repair_set: duplicate repair id %q (each id may be defined once)", id)
		}
		seen[id] = true
		rs = append(rs, Repair{ID: id, Command: s})
	}
	c.RepairSet = rs
	return nil
}

// fileSteps reads a ladder: the flag string, or a list whose items are
// "id:scope" strings or step mappings.
func (c *Config) fileSteps(where string, v *yaml.Node) ([]Step, error) {
	if v.Kind == yaml.ScalarNode {
		s, err := scalar(where, v)
		var steps []Step
		if err == nil {
			steps, err = ParseRepairOrder(s)
		}
		if err != nil {
			return nil, c.fileError(v, "%s: %v", where, err)
		}
		return steps, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, c.fileError(v, "%s: want a list of steps", where)
	}
	var steps []Step
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
				return nil, c.fileError(item, "%s: %v", at, err)
			}
		case yaml.MappingNode:
			var err error
			if st, err = c.fileStep(at, item); err != nil {
				return nil, err
			}
		default:
			return nil, c.fileError(item, "%s: want a step mapping {action: ..., scope: ...} or \"id:scope\"", at)
		}
		if seen[st.Action] {
			return nil, c.fileError(item, "%s: duplicate repair id %q (a ladder runs each repair once; list it once)", at, st.Action)
		}
		seen[st.Action] = true
		steps = append(steps, st)
	}
	return steps, nil
}

func (c *Config) fileStep(at string, m *yaml.Node) (Step, error) {
	var st Step
	got := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		key := k.Value
		if got[key] {
			return Step{}, c.fileError(k, "%s.%s: set twice", at, key)
		}
		got[key] = true
		s, err := scalar(at+"."+key, v)
		if err != nil {
			return Step{}, c.fileError(v, "%v", err)
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
			return Step{}, c.fileError(k, "%s: unknown step key %q%s (a step has %s)", at, key, hint, strings.Join(stepKeys, ", "))
		}
		if err != nil {
			return Step{}, c.fileError(v, "%s.%s: %v", at, key, err)
		}
	}
	if !got["action"] {
		return Step{}, c.fileError(m, "%s: missing action (a repair id or a built-in: %s)", at, strings.Join(Builtins(), ", "))
	}
	if b, builtin := builtins[st.Action]; !got["scope"] {
		if !builtin {
			return Step{}, c.fileError(m, "%s: missing scope for %q (master or slave/agent)", at, st.Action)
		}
		st.Scope = b
	}
	if err := checkBuiltinScope(st.Action, st.Scope); err != nil {
		return Step{}, c.fileError(m, "%s: %v", at, err)
	}
	return st, nil
}

func (c *Config) fileLadders(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return c.fileError(v, "ladders: want a mapping of problem name to a list of steps")
	}
	ladders := map[string][]Step{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, l := deref(v.Content[i]), deref(v.Content[i+1])
		p := k.Value
		if k.Kind != yaml.ScalarNode {
			return c.fileError(k, "ladders: a problem name must be a plain name")
		}
		if err := checkProblem(p); err != nil {
			return c.fileError(k, "ladders: %v", err)
		}
		if _, dup := ladders[p]; dup {
			return c.fileError(k, "ladders: problem %q has two ladders", p)
		}
		steps, err := c.fileSteps("ladders."+p, l)
		if err != nil {
			return err
		}
		if len(steps) == 0 {
			return c.fileError(l, "ladders.%s: empty ladder; give it at least one step or remove it to use repair_order", p)
		}
		ladders[p] = steps
	}
	c.Ladders = nil
	if len(ladders) > 0 {
		c.Ladders = ladders
	}
	return nil
}

func (c *Config) fileZoneCaps(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return c.fileError(v, "zone_caps: want a mapping of zone name to cap")
	}
	caps := map[string]int{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, n := deref(v.Content[i]), deref(v.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return c.fileError(k, "zone_caps: a zone must be a non-empty name")
		}
		if _, dup := caps[k.Value]; dup {
			return c.fileError(k, "zone_caps: zone %q set twice", k.Value)
		}
		s, err := scalar("zone_caps."+k.Value, n)
		if err != nil {
			return c.fileError(n, "%v", err)
		}
		cp, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || cp < 1 {
			return c.fileError(n, "zone_caps.%s: %q is not a cap ≥ 1 (leave the zone out for --zone_cap)", k.Value, s)
		}
		caps[k.Value] = cp
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
// settings: the effective configuration, for an operator to keep or diff.
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
				str("scope"), str(string(s.Scope)),
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
			doc.Content = append(doc.Content, str(b.name), str(b.value.String()))
		}
	}
	if len(c.Ladders) > 0 {
		m := mapping()
		for _, p := range sortedKeys(c.Ladders) {
			m.Content = append(m.Content, str(p), steps(c.Ladders[p]))
		}
		doc.Content = append(doc.Content, str(keyLadders), m)
	}
	if len(c.ZoneCaps) > 0 {
		m := mapping()
		for _, z := range sortedKeys(c.ZoneCaps) {
			m.Content = append(m.Content, str(z), str(strconv.Itoa(c.ZoneCaps[z])))
		}
		doc.Content = append(doc.Content, str(keyZoneCaps), m)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return out, nil
}
