package coordinator

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// allowedImports is everything the coordinator's non-test code may import
// directly: no I/O, no clock source, no randomness, no logging.
var allowedImports = []string{"errors", "fmt", "maps", "slices", "strconv", "strings", "time", "unicode/utf8"}

// forbiddenTime are the package time functions that read or wait on the
// wall clock; the coordinator's time arrives in events.
var forbiddenTime = []string{"Now", "Since", "Until", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick", "Sleep"}

// impurities lists what in one file breaks the coordinator's purity: an
// import outside the allow-list, a wall-clock read, or a goroutine.
func impurities(fset *token.FileSet, f *ast.File) []string {
	var bad []string
	timeName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if !slices.Contains(allowedImports, path) {
			bad = append(bad, fset.Position(imp.Pos()).String()+": imports "+path)
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && slices.Contains(forbiddenTime, n.Sel.Name) {
				bad = append(bad, fset.Position(n.Pos()).String()+": reads the clock with time."+n.Sel.Name)
			}
		case *ast.GoStmt:
			bad = append(bad, fset.Position(n.Pos()).String()+": starts a goroutine")
		}
		return true
	})
	return bad
}

func TestPureImportsAndNoClock(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range impurities(fset, f) {
			t.Error(b)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("checked only %d files; is the test running in the package directory?", checked)
	}
}

// TestPurityCheckCanFail feeds the checker a source that breaks every rule.
func TestPurityCheckCanFail(t *testing.T) {
	const src = `package coordinator

import (
	"net"
	clock "time"
)

func f() {
	_ = clock.Now()
	clock.Sleep(1)
	go f()
	_ = net.IPv4len
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := impurities(fset, f)
	for _, want := range []string{"imports net", "time.Now", "time.Sleep", "goroutine"} {
		if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("checker missed %q; it found %q", want, got)
		}
	}
}

// forbiddenDep reports whether a transitive dependency does I/O the
// coordinator must not do itself. os, syscall and io/fs are not listed:
// fmt imports them, and the direct-import check keeps the coordinator
// from using them.
func forbiddenDep(pkg string) bool {
	switch {
	case pkg == "net" || strings.HasPrefix(pkg, "net/"),
		pkg == "os/exec", pkg == "os/signal",
		pkg == "log" || strings.HasPrefix(pkg, "log/"),
		pkg == "math/rand" || strings.HasPrefix(pkg, "math/rand/"), pkg == "crypto/rand",
		pkg == "plugin", pkg == "database/sql":
		return true
	}
	// Any module outside the standard library (ZooKeeper, mesos-go,
	// Prometheus, gorilla/mux, gogo/protobuf, ...): its first path element
	// has a dot.
	first, _, _ := strings.Cut(pkg, "/")
	return strings.Contains(first, ".") && !strings.HasPrefix(pkg, "github.com/healer-mesos/healer/scheduler/coordinator")
}

func TestNoIODependencies(t *testing.T) {
	for _, p := range []string{"net/http", "github.com/go-zookeeper/zk", "github.com/mesos/mesos-go/api/v1/lib", "log/slog", "math/rand/v2", "os/exec"} {
		if !forbiddenDep(p) {
			t.Fatalf("forbiddenDep(%q) = false; the dependency check could not fail", p)
		}
	}
	// go test puts the go command that runs it on PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not on PATH: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "time") {
		t.Fatalf("go list -deps gave an implausible list: %q", deps)
	}
	for _, d := range deps {
		if forbiddenDep(d) {
			t.Errorf("coordinator depends (transitively) on %s", d)
		}
	}
}
