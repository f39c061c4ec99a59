package emulator

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Containers launched at once, each fetching an executable and running
// it, all start: a file one fetch still holds open for writing must not be
// inherited by another container's process while it is being executed
// (ETXTBSY, "text file busy"): Mesos fetches in a separate process.
func TestConcurrentFetchAndExec(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "exe.sh")
	big := make([]byte, 4<<20) // a write that takes a while, as an executor binary's does
	for i := range big {
		big[i] = '#'
	}
	if err := os.WriteFile(src, append([]byte("#!/bin/sh\nexit 0\n"), append(big, '\n')...), 0o755); err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exe := true
			shell := true
			ci := &mesos.CommandInfo{URIs: []mesos.CommandInfo_URI{{Value: src, Executable: &exe}},
				Shell: &shell, Value: strPtr("./exe.sh")}
			cmd, err := launchContainer(filepath.Join(dir, fmt.Sprintf("c%d", i)), fmt.Sprintf("c%d", i), ci, []string{"PATH=/usr/bin:/bin"})
			if err != nil {
				errs <- err
				return
			}
			if err := cmd.Wait(); err != nil {
				out, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("c%d", i), "stderr"))
				errs <- fmt.Errorf("container %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
