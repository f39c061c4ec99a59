package deploy

import (
	"encoding/json"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// stage is one FROM and what follows it.
type stage struct {
	base, name string
	ins        []instruction
}

// dockerfile parses ../Dockerfile into its stages, with the global ARGs'
// defaults substituted into FROM lines (as Docker does).
func dockerfile(t *testing.T) (stages []stage, globalArgs map[string]string) {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	globalArgs = map[string]string{}
	var cur *stage
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		start, l := i+1, strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			l = strings.TrimSuffix(l, `\`) + " " + next
		}
		cmd, args, _ := strings.Cut(l, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		switch {
		case in.cmd == "ARG" && cur == nil:
			k, v, _ := strings.Cut(in.args, "=")
			globalArgs[k] = strings.Trim(v, `"`)
		case in.cmd == "FROM":
			f := strings.Fields(os.Expand(in.args, func(k string) string { return globalArgs[k] }))
			s := stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			cur = &stages[len(stages)-1]
		case cur != nil:
			cur.ins = append(cur.ins, in)
		default:
			t.Fatalf("Dockerfile:%d: %s before the first FROM", start, in.cmd)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(stages))
	}
	return stages, globalArgs
}

// dockerEntrypoint is the path of the final image's ENTRYPOINT binary.
func dockerEntrypoint(t *testing.T) string {
	t.Helper()
	stages, _ := dockerfile(t)
	final := stages[len(stages)-1]
	for _, in := range final.ins {
		if in.cmd == "ENTRYPOINT" {
			var argv []string
			if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
				t.Fatalf("Dockerfile:%d: ENTRYPOINT %s: want the exec form, [\"/path/to/healer-scheduler\"]", in.line, in.args)
			}
			return argv[0]
		}
	}
	t.Fatal("Dockerfile: the final stage has no ENTRYPOINT")
	return ""
}

// copySpec is a COPY instruction's sources and destination.
type copySpec struct {
	from    string
	sources []string
	dest    string
}

func parseCopy(in instruction) copySpec {
	var c copySpec
	f := strings.Fields(in.args)
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		if v, ok := strings.CutPrefix(f[0], "--from="); ok {
			c.from = v
		}
		f = f[1:]
	}
	if len(f) >= 2 {
		c.sources, c.dest = f[:len(f)-1], f[len(f)-1]
	}
	return c
}

// operatorBinaries are the binaries the image ships: the scheduler, the
// executor it serves to agents, and the operator CLI (built once
// cmd/healerctl exists; make build builds every cmd/). Any other binary
// make build produces must be removed by the Dockerfile, deliberately.
var operatorBinaries = []string{"healer-scheduler", "healer-executor", "healerctl"}

// shellBases are final-stage bases known to have /bin/sh, which Mesos needs
// for the Marathon app's cmd and healer for master-scope steps.
var shellBases = regexp.MustCompile(`^(alpine|busybox|debian|ubuntu)(:|@|$)`)

// The Dockerfile builds with `make build`, ships exactly the operator's
// binaries with healer-executor beside healer-scheduler, runs as a non-root
// user on a base with a shell, and every path it copies exists.
func TestDockerfile(t *testing.T) {
	stages, args := dockerfile(t)
	byName := map[string]stage{}
	for _, s := range stages {
		if s.name != "" {
			byName[s.name] = s
		}
	}

	// The builder's Go is go.mod's.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	builder := stages[0]
	if want := "golang:" + string(m[1]) + "-"; !strings.HasPrefix(builder.base, want) {
		t.Errorf("builder image %s (GO_VERSION=%s): want %s…, go.mod's Go", builder.base, args["GO_VERSION"], want)
	}

	// The build stage runs make build into BIN and removes test tools.
	var bin string
	removed := map[string]bool{}
	makeBuildRE := regexp.MustCompile(`\bmake build BIN=(\S+)`)
	for _, in := range builder.ins {
		if in.cmd != "RUN" {
			continue
		}
		if mm := makeBuildRE.FindStringSubmatch(in.args); mm != nil {
			bin = path.Clean(mm[1])
		}
		for _, part := range strings.Split(in.args, "&&") {
			f := strings.Fields(part)
			if len(f) > 1 && f[0] == "rm" {
				for _, p := range f[1:] {
					if !strings.HasPrefix(p, "-") {
						if d, ok := strings.CutPrefix(path.Clean(p), bin+"/"); ok {
							removed[d] = true
						}
					}
				}
			}
		}
	}
	if bin == "" {
		t.Fatal("the build stage does not run `make build BIN=...`: the image must hold what make build builds")
	}
	produced := binaries(t)
	shipped := map[string]bool{}
	for b := range produced {
		if !removed[b] {
			shipped[b] = true
		}
	}
	for b := range removed {
		if !produced[b] {
			t.Errorf("the Dockerfile removes %s/%s, which make build does not produce: docker build would fail", bin, b)
		}
	}
	for _, b := range slices.Sorted(maps.Keys(shipped)) {
		if !slices.Contains(operatorBinaries, b) {
			t.Errorf("make build produces %s and the image would ship it: remove it in the build stage, or add it to operatorBinaries if operators need it", b)
		}
	}
	for _, b := range []string{"healer-scheduler", "healer-executor"} {
		if !shipped[b] {
			t.Errorf("the image would not ship %s", b)
		}
	}
	if _, err := os.Stat("../cmd/healerctl"); err == nil && !shipped["healerctl"] {
		t.Error("cmd/healerctl exists but the image would not ship healerctl")
	}

	// The final stage.
	final := stages[len(stages)-1]
	if !shellBases.MatchString(final.base) {
		t.Errorf("final base %s: want one with /bin/sh (%s): Mesos runs the app's cmd and healer runs master-scope steps with /bin/sh -c", final.base, shellBases)
	}
	image := map[string]string{} // path in the image → what it is
	var user string
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = strings.Fields(in.args)[0]
		case "COPY", "ADD":
			c := parseCopy(in)
			if in.cmd == "ADD" || len(c.sources) == 0 {
				t.Errorf("Dockerfile:%d: %s %s: want COPY [--from=stage] src... dest", in.line, in.cmd, in.args)
				continue
			}
			for _, src := range c.sources {
				var local string
				switch {
				case c.from == "":
					local = filepath.Join("..", src)
					if p := ignoredBy(t, src); p != "" {
						t.Errorf("Dockerfile:%d: COPY %s: .dockerignore leaves it out of the build context (%s)", in.line, src, p)
					}
				case byName[c.from].name == "":
					t.Errorf("Dockerfile:%d: COPY --from=%s: no such stage", in.line, c.from)
					continue
				default:
					rel, ok := strings.CutPrefix(path.Clean(src), bin)
					if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
						t.Errorf("Dockerfile:%d: COPY --from=%s %s: only make build's %s is known to exist in that stage", in.line, c.from, src, bin)
						continue
					}
					local = filepath.Join(makeBuild(t), rel)
				}
				fi, err := os.Stat(local)
				if err != nil {
					t.Errorf("Dockerfile:%d: COPY %s: %v", in.line, src, err)
					continue
				}
				if !fi.IsDir() {
					image[path.Join(c.dest, path.Base(src))] = local
					continue
				}
				entries, _ := os.ReadDir(local)
				for _, e := range entries {
					if c.from != "" && !shipped[e.Name()] {
						continue // removed by the build stage
					}
					image[path.Join(c.dest, e.Name())] = filepath.Join(local, e.Name())
				}
			}
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q: the image must run as a non-root user", user)
	}
	entry := dockerEntrypoint(t)
	if path.Base(entry) != "healer-scheduler" || image[entry] == "" {
		t.Errorf("ENTRYPOINT %s is not the healer-scheduler the image holds", entry)
	}
	// healer-scheduler serves the executor from beside itself by default
	// (scheduler/app: --executor_path).
	if exe := path.Join(path.Dir(entry), "healer-executor"); image[exe] == "" {
		t.Errorf("the image has no %s beside %s, where healer-scheduler looks for the executor it serves", exe, entry)
	}

	// Every script the example configuration names is in the image, and
	// executable.
	cfg := exampleRepairSet(t)
	for _, id := range slices.Sorted(maps.Keys(cfg)) {
		script := strings.Fields(cfg[id])[0]
		local := image[script]
		if local == "" {
			t.Errorf("repair %s: %s is not in the image", id, script)
			continue
		}
		if fi, err := os.Stat(local); err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("repair %s: %s is not executable", id, local)
		}
	}
}

// ignoredBy is the .dockerignore pattern that leaves src (a path in the
// build context) out of the context, or "". Only the simple patterns
// (names and globs, no exceptions) are understood; others fail the test.
func ignoredBy(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		return ""
	}
	src = path.Clean(src)
	for _, l := range strings.Split(string(data), "\n") {
		p := strings.TrimSpace(l)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		if strings.HasPrefix(p, "!") || strings.Contains(p, "**") {
			t.Fatalf(".dockerignore pattern %q: this test only understands simple patterns; teach ignoredBy", p)
		}
		p = path.Clean(strings.TrimPrefix(p, "/"))
		// A pattern excludes what it matches and everything under it.
		for q := src; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(p, q); ok {
				return p
			}
		}
	}
	return ""
}

// exampleRepairSet is deploy/healer.yaml's repair_set.
func exampleRepairSet(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("healer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RepairSet map[string]string `yaml:"repair_set"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f.RepairSet
}
