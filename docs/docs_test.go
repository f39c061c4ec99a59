package docs

import (
	"flag"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/healer-mesos/healer/cmd/healerctl/ctl"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/scheduler/config"
)

// root is the repository, from this package's directory.
const root = ".."

// pages are the Markdown files the tests read: README.md and docs/*.md.
func pages(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range append(names, filepath.Join(root, "README.md")) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Clean(n)] = string(b)
	}
	return out
}

// prose is a page without its fenced code blocks (``` … ```).
func prose(page string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// pending are pages other work owns and has not delivered yet: links to
// them are allowed until they exist (then this list must lose them).
var pending = map[string]string{}

var (
	linkRE    = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
)

// anchors are the GitHub anchors of a page's headings.
func anchors(page string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	for _, m := range headingRE.FindAllStringSubmatch(prose(page), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// inDocs tells whether path (relative to this directory) is in docs/.
func inDocs(path string) bool {
	abs, err := filepath.Abs(path)
	here, err2 := filepath.Abs(".")
	return err == nil && err2 == nil && filepath.Dir(abs) == here
}

// Every relative link in README.md and docs/ names a file that exists, and
// every #anchor a heading of its page.
func TestLinksResolve(t *testing.T) {
	ps := pages(t)
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		for _, m := range linkRE.FindAllStringSubmatch(prose(ps[name]), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			path := name
			if file != "" {
				path = filepath.Join(filepath.Dir(name), file)
			}
			if _, ok := pending[filepath.Base(path)]; ok && inDocs(path) {
				if _, err := os.Stat(path); err == nil {
					t.Errorf("%s exists now: remove it from pending in docs/docs_test.go", path)
				}
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", name, target, err)
				continue
			}
			if anchor == "" {
				continue
			}
			page, ok := ps[filepath.Clean(path)]
			if !ok {
				t.Errorf("%s: link %s: anchors are checked only in README.md and docs/*.md", name, target)
				continue
			}
			if !anchors(page)[anchor] {
				t.Errorf("%s: link %s: %s has no heading with the anchor #%s", name, target, path, anchor)
			}
		}
	}
}

// The anchors are GitHub's.
func TestAnchors(t *testing.T) {
	got := anchors("# How healer is built\n## 2. Prepare the hosts that run healer\n## A machine's life\n" +
		"## Pausing healer, and the other brakes\n### `not leading yet`\n## Limits\n## Limits\n```\n## not a heading\n```\n")
	for _, want := range []string{"how-healer-is-built", "2-prepare-the-hosts-that-run-healer", "a-machines-life",
		"pausing-healer-and-the-other-brakes", "not-leading-yet", "limits", "limits-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a line in a code block counted as a heading")
	}
}

// emitted is the text of every file whose messages the troubleshooting
// guide may quote: healer's non-test Go code (not the Mesos emulator's)
// and the example repair scripts.
func emitted(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, dir := range []string{"scheduler", "admin", "executor", "internal", "cmd", "deploy/repairs"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			base := filepath.Base(p)
			if d.IsDir() {
				if base == "testdata" || base == "mesos-emulator" || base == "healer-demo" {
					return filepath.SkipDir
				}
				return nil
			}
			if (strings.HasSuffix(base, ".go") && !strings.HasSuffix(base, "_test.go")) || strings.HasSuffix(base, ".sh") {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				b.Write(data)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// The troubleshooting guide is built from what healer really says: every
// heading quoted in backquotes occurs in healer's code or scripts.
func TestTroubleshootingQuotesRealMessages(t *testing.T) {
	page, err := os.ReadFile("troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	code := emitted(t)
	quoted := regexp.MustCompile("(?m)^### `([^`]+)`$").FindAllStringSubmatch(string(page), -1)
	if len(quoted) < 30 {
		t.Fatalf("troubleshooting.md quotes %d messages in its headings; the test expects the guide's ### `message` form", len(quoted))
	}
	for _, m := range quoted {
		if !strings.Contains(code, m[1]) {
			t.Errorf("troubleshooting.md quotes %q, which healer no longer emits: update the entry to the current message", m[1])
		}
	}
}

// placeholders and names that are not scheduler settings but are
// rightly mentioned.
var otherHealerVars = map[string]string{
	"HEALER_NAME":            "placeholder: HEALER_<NAME>",
	"HEALER_X":               "placeholder",
	"HEALER_ROLES":           "configuration.md's example of a misspelt variable",
	taskspec.EnvIdleTimeout:  "healer-executor's idle timeout (docs/executor.md)",
	"HEALER_UPDATE_DOCS":     "rewrites the flags table (scheduler/config's docs test)",
	"HEALER_BENCH_FOOTPRINT": "make bench-executor's run length",
	ctl.EnvAddr:              "healerctl's admin API addresses",
	ctl.EnvToken:             "healerctl's bearer token",
}

// Every HEALER_* variable, REPAIR_* variable and healer_* metric the pages
// mention exists: a setting of healer-scheduler (or one of the few listed
// others), a variable healer sets for a step, a metric healer registers.
func TestNamesExist(t *testing.T) {
	settings := map[string]bool{}
	c := config.Default()
	fs := flag.NewFlagSet("healer-scheduler", flag.ContinueOnError)
	c.AddFlags(fs)
	fs.VisitAll(func(f *flag.Flag) { settings[config.EnvName(f.Name)] = true })
	repairVars := map[string]bool{}
	for _, v := range []string{taskspec.EnvAgentID, taskspec.EnvHostname, taskspec.EnvProblem, taskspec.EnvAction,
		taskspec.EnvAttempt, taskspec.EnvIncident, taskspec.EnvTimeout, taskspec.EnvScope} {
		repairVars[v] = true
	}
	code := emitted(t)
	ps := pages(t)
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		for _, v := range regexp.MustCompile(`\bHEALER_[A-Z0-9_]*[A-Z0-9]\b`).FindAllString(ps[name], -1) {
			if _, ok := otherHealerVars[v]; !settings[v] && !ok {
				t.Errorf("%s mentions %s, which is not a healer-scheduler setting", name, v)
			}
		}
		for _, v := range regexp.MustCompile(`\bREPAIR_[A-Z0-9_]*[A-Z0-9]\b`).FindAllString(ps[name], -1) {
			if !repairVars[v] {
				t.Errorf("%s mentions %s, which healer does not set for a step (executor/taskspec)", name, v)
			}
		}
		if filepath.Base(name) == "metrics.md" {
			continue // the metrics reference has its own test
		}
		for _, v := range regexp.MustCompile("`(healer_[a-z0-9_]+)").FindAllStringSubmatch(ps[name], -1) {
			// A histogram's series carry its name with _count, _sum or _bucket.
			base := regexp.MustCompile(`_(count|sum|bucket)$`).ReplaceAllString(v[1], "")
			if !strings.Contains(code, `"`+v[1]+`"`) && !strings.Contains(code, `"`+base+`"`) {
				t.Errorf("%s mentions the metric %s, which healer does not register", name, v[1])
			}
		}
	}
}
