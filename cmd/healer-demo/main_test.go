package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// make demo as an operator runs it: the banner, a repair that runs on an
// emulated agent through the real executor, and Ctrl-C leaving no process
// of the demo behind.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole demo")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "github.com/healer-mesos/healer/cmd/healer-demo",
		"github.com/healer-mesos/healer/cmd/healer-scheduler", "github.com/healer-mesos/healer/cmd/healer-executor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(filepath.Join(bin, "healer-demo"), "--bin="+bin, "--agents=3", "--admin_listen="+addr)
	var out bytes.Buffer
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	banner := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Ctrl-C stops everything") {
				banner <- b.String()
			}
		}
		done <- cmd.Wait()
	}()
	defer func() { _ = cmd.Process.Kill() }()
	var text string
	select {
	case text = <-banner:
	case err := <-done:
		t.Fatalf("healer-demo exited: %v\n%s", err, out.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("no banner within 90s:\n%s", out.String())
	}
	if !strings.Contains(text, "http://"+addr+"/repair") {
		t.Errorf("the banner does not show the repair command for %s:\n%s", addr, text)
	}
	body := `{"hostname":"agent-1","problem":"hung","source":"demo"}`
	resp, err := http.Post("http://"+addr+"/repair", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var a struct{ State string }
		if r, err := http.Get("http://" + addr + "/agents/agent-1"); err == nil {
			json.NewDecoder(r.Body).Decode(&a)
			r.Body.Close()
		}
		if a.State == "probation" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the demo's restart step did not succeed within 60s (state %q):\n%s", a.State, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pids := descendants(cmd.Process.Pid)
	if len(pids) == 0 {
		t.Fatal("found no process under healer-demo (the scheduler should be one)")
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("healer-demo after Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("healer-demo did not stop within 30s of Ctrl-C")
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil && !zombie(pid) {
			t.Errorf("process %d (%s) outlived the demo", pid, comm(pid))
		}
	}
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := ppid(p); pp > 0 {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

func stat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func ppid(pid int) int {
	f := stat(pid)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func zombie(pid int) bool {
	f := stat(pid)
	return len(f) > 0 && f[0] == "Z"
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}
