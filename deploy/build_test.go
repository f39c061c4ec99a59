package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// built is one `make build` for the whole package, into a temporary BIN.
var built struct {
	once sync.Once
	dir  string
	out  []byte
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// makeBuild runs `make build` once, as the README and the Dockerfile do,
// with BIN set to a temporary directory, and returns that directory.
func makeBuild(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "healer-deploy-bin-")
		if built.err != nil {
			return
		}
		cmd := exec.Command("make", "-C", "..", "build", "BIN="+built.dir)
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("make build: %v\n%s", built.err, built.out)
	}
	return built.dir
}

// binaries lists the files `make build` wrote.
func binaries(t *testing.T) map[string]bool {
	t.Helper()
	dir := makeBuild(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			out[e.Name()] = true
		}
	}
	return out
}

// binary is the path of one binary `make build` wrote.
func binary(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(makeBuild(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("make build did not write %s: %v", name, err)
	}
	return p
}
