package monitorconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/healer-mesos/healer/internal/mesosduration"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// The file (docs/monitor.md): YAML or JSON,
//
//	interval: 60s              # default interval of the checks (optional)
//	checks:
//	  - name: root_disk        # unique; names the check in reports
//	    problem: disk_full     # what the scheduler repairs
//	    metric: disk_used_ratio
//	    path: /
//	    max: 0.9               # envelope: min and/or max
//	    for: 5m                # violated this long before it counts
//	  - name: agent_health
//	    problem: agent_unhealthy
//	    http: http://127.0.0.1:5051/health
//	    timeout: 5s
//	  - name: docker
//	    problem: docker_down
//	    command: docker info
//	  - name: zookeeper
//	    problem: zk_unreachable
//	    tcp: 127.0.0.1:2181
//
// A check's kind is given by which of metric, command, http and tcp it sets
// (exactly one).

// Top-level and check keys.
var (
	topKeys   = []string{"interval", "checks"}
	checkKeys = []string{"name", "problem", "metric", "path", "command", "http", "tcp",
		"min", "max", "expect_status", "interval", "for", "timeout"}
)

// Parse reads a monitor config file (name is used in messages and to detect
// JSON by its extension) and returns it resolved, or an error listing every
// problem with its line.
func Parse(name string, data []byte) (*healerpb.MonitorConfig, error) {
	p := &parser{file: name}
	cfg := p.parse(data)
	if err := errors.Join(p.errs...); err != nil {
		return nil, err
	}
	// Parse resolves and checks every check as it reads it; this catches
	// nothing new, but keeps Parse's output and Validate's input one rule.
	if err := Validate(cfg); err != nil {
		return nil, fmt.Errorf("monitor config %s: %w", name, err)
	}
	return cfg, nil
}

type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if n != nil && n.Line > 0 {
		p.errs = append(p.errs, fmt.Errorf("monitor config %s: line %d: %s", p.file, n.Line, msg))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("monitor config %s: %s", p.file, msg))
}

func isJSON(name string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return true
	}
	t := bytes.TrimLeft(data, " \t\r\n\ufeff")
	return len(t) > 0 && t[0] == '{'
}

func (p *parser) parse(data []byte) *healerpb.MonitorConfig {
	if isJSON(p.file, data) {
		// YAML reads JSON too, but JSON's own parser says where a JSON
		// syntax error is.
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				line, col := lineCol(data, se.Offset-1)
				p.errorf(nil, "line %d, column %d: invalid JSON: %v", line, col, err)
				return nil
			}
			p.errorf(nil, "invalid JSON: %v", err)
			return nil
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		p.errorf(nil, "%v", err) // yaml.v3 says "line N" where it knows it
		return nil
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		p.errorf(nil, "empty file: give at least one check (see docs/monitor.md)")
		return nil
	}
	doc := deref(root.Content[0])
	if doc.Kind != yaml.MappingNode {
		p.errorf(doc, "the top level must be a mapping with checks (and optionally interval)")
		return nil
	}
	cfg := &healerpb.MonitorConfig{}
	defaultInterval := DefaultInterval
	var checks *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := deref(doc.Content[i]), deref(doc.Content[i+1])
		key, ok := p.key(k, seen, topKeys)
		if !ok {
			continue
		}
		switch key {
		case "interval":
			if d, ok := p.duration(key, v); ok {
				defaultInterval = d
			}
		case "checks":
			checks = v
		}
	}
	cfg.DefaultIntervalNs = int64(defaultInterval)
	if checks == nil {
		p.errorf(doc, "no checks: add a checks list (see docs/monitor.md)")
		return cfg
	}
	if checks.Kind != yaml.SequenceNode {
		p.errorf(checks, "checks: want a list of checks")
		return cfg
	}
	if len(checks.Content) > MaxChecks {
		p.errorf(checks, "checks: %d checks, at most %d are allowed", len(checks.Content), MaxChecks)
		return cfg
	}
	names := map[string]int{}
	for i, n := range checks.Content {
		n = deref(n)
		c, ok := p.check(n, i, defaultInterval)
		if c.Name != "" {
			if line, dup := names[c.Name]; dup {
				p.errorf(n, "check %q: name already used by the check on line %d (names must be unique)", c.Name, line)
				continue
			}
			names[c.Name] = n.Line
		}
		if ok {
			cfg.Checks = append(cfg.Checks, c)
		}
	}
	if len(checks.Content) == 0 {
		p.errorf(checks, "checks: empty list: give at least one check")
	}
	return cfg
}

// key reads a mapping key, refusing non-scalars, repeats and unknown names.
func (p *parser) key(k *yaml.Node, seen map[string]bool, known []string) (string, bool) {
	if k.Kind != yaml.ScalarNode {
		p.errorf(k, "a key must be a plain name")
		return "", false
	}
	if seen[k.Value] {
		p.errorf(k, "%s: set twice (keep one)", k.Value)
		return "", false
	}
	seen[k.Value] = true
	if !contains(known, k.Value) {
		hint := ""
		if s := closest(k.Value, known); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		p.errorf(k, "unknown key %q%s (known: %s)", k.Value, hint, strings.Join(known, ", "))
		return "", false
	}
	return k.Value, true
}

// check reads one check and resolves its defaults; ok is false when it had
// problems (already recorded).
func (p *parser) check(n *yaml.Node, i int, defaultInterval time.Duration) (healerpb.Check, bool) {
	var c healerpb.Check
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "check #%d: want a mapping (name: ..., problem: ..., and one of metric, command, http, tcp)", i+1)
		return c, false
	}
	before := len(p.errs)
	seen := map[string]bool{}
	var interval, timeout *time.Duration
	var expect *int
	var kinds []string
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := deref(n.Content[j]), deref(n.Content[j+1])
		key, ok := p.key(k, seen, checkKeys)
		if !ok {
			continue
		}
		s, ok := p.scalar(key, v)
		if !ok {
			continue
		}
		switch key {
		case "name":
			c.Name = s
		case "problem":
			c.Problem = s
		case "metric":
			c.Kind, c.Metric = healerpb.CHECK_KIND_BUILTIN, s
			kinds = append(kinds, key)
		case "path":
			c.Path = s
		case "command":
			c.Kind, c.Command = healerpb.CHECK_KIND_COMMAND, s
			kinds = append(kinds, key)
		case "http":
			c.Kind, c.Url = healerpb.CHECK_KIND_HTTP, s
			kinds = append(kinds, key)
		case "tcp":
			c.Kind, c.Address = healerpb.CHECK_KIND_TCP, s
			kinds = append(kinds, key)
		case "min", "max":
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || !finite(f) {
				p.errorf(v, "%s: %q is not a number", key, s)
				continue
			}
			if key == "min" {
				c.Envelope.HasMin, c.Envelope.Min = true, f
			} else {
				c.Envelope.HasMax, c.Envelope.Max = true, f
			}
		case "expect_status":
			st, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || st < 100 || st > 599 {
				p.errorf(v, "expect_status: %q is not an HTTP status (100..599)", s)
				continue
			}
			expect = &st
		case "interval", "timeout":
			if d, ok := p.duration(key, v); ok {
				if key == "interval" {
					interval = &d
				} else {
					timeout = &d
				}
			}
		case "for":
			if d, ok := p.duration(key, v); ok {
				c.ForNs = int64(d)
			}
		}
	}
	label := fmt.Sprintf("check #%d", i+1)
	if c.Name != "" {
		label = fmt.Sprintf("check %q", c.Name)
	}
	switch len(kinds) {
	case 0:
		p.errorf(n, "%s: say what it checks: one of metric, command, http or tcp", label)
	case 1:
	default:
		p.errorf(n, "%s: sets %s: a check has exactly one of metric, command, http or tcp", label, strings.Join(kinds, " and "))
	}
	if len(p.errs) > before {
		return c, false
	}

	c.IntervalNs = int64(defaultInterval)
	if interval != nil {
		c.IntervalNs = int64(*interval)
	}
	c.TimeoutNs = int64(min(DefaultTimeout, time.Duration(c.IntervalNs)))
	if timeout != nil {
		c.TimeoutNs = int64(*timeout)
	}
	if expect != nil {
		if c.Kind != healerpb.CHECK_KIND_HTTP {
			p.errorf(n, "%s: expect_status is for http checks", label)
			return c, false
		}
		if c.Envelope.HasMin || c.Envelope.HasMax {
			p.errorf(n, "%s: give expect_status or min/max, not both", label)
			return c, false
		}
		c.Envelope = healerpb.Envelope{HasMin: true, Min: float64(*expect), HasMax: true, Max: float64(*expect)}
	}
	if !c.Envelope.HasMin && !c.Envelope.HasMax {
		switch c.Kind {
		case healerpb.CHECK_KIND_COMMAND: // exit status 0 is healthy
			c.Envelope = healerpb.Envelope{HasMax: true, Max: 0}
		case healerpb.CHECK_KIND_HTTP: // any 2xx is healthy
			c.Envelope = healerpb.Envelope{HasMin: true, Min: 200, HasMax: true, Max: 299}
		case healerpb.CHECK_KIND_TCP: // connected is healthy
			c.Envelope = healerpb.Envelope{HasMin: true, Min: 1}
		}
	}
	for _, problem := range checkProblems(&c) {
		p.errorf(n, "%s: %s", label, problem)
	}
	return c, len(p.errs) == before
}

func (p *parser) scalar(key string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, "%s: want a single value, not a list or mapping", key)
		return "", false
	}
	if v.Tag == "!!null" {
		p.errorf(v, "%s: no value (remove the key to keep the default)", key)
		return "", false
	}
	return v.Value, true
}

func (p *parser) duration(key string, v *yaml.Node) (time.Duration, bool) {
	s, ok := p.scalar(key, v)
	if !ok {
		return 0, false
	}
	d, err := mesosduration.Parse(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(strings.TrimSpace(s), 64); nerr == nil {
			p.errorf(v, "%s: %q has no unit (write e.g. %ss or %smins)", key, s, strings.TrimSpace(s), strings.TrimSpace(s))
			return 0, false
		}
		p.errorf(v, "%s: %v", key, err)
		return 0, false
	}
	return d, true
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func lineCol(data []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(data))))
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	col = int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// closest suggests the known key an unknown one was probably meant to be.
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(s), k); d < bestD && d*3 <= len(s) {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein distance, for short keys only.
func distance(a, b string) int {
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
