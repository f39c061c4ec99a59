package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mesos-emulator")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--agents=-1"},
		{"--zk=zk://127.0.0.1:2181/"},
		{"--allocation_interval=0s"},
		{"--no_such_flag"},
		{"--masters=2"},
		{"--resources=cpus"},
		{"--log_level=loud"},
		{"--allocation_interval=1sec"},
		{"extra"},
	} {
		var stderr strings.Builder
		if code := run(context.Background(), args, &strings.Builder{}, &stderr); code != 2 {
			t.Errorf("run(%q) = %d; want 2", args, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("run(%q) printed no error", args)
		}
	}
}

// TestBinaryServesSchedulers runs the real binary, reads where it listens,
// subscribes a mesos-go scheduler and gets offers from every agent, then
// stops it with SIGTERM.
func TestBinaryServesSchedulers(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "--listen=127.0.0.1:0", "--agents=3", "--allocation_interval=50ms",
		"--zones=a,b,c", "--fake_executors", "--resources=cpus:2;mem:1024")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	}()

	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	masterRE := regexp.MustCompile(`^master (127\.0\.0\.1:\d+) \(leading\)$`)
	agentRE := regexp.MustCompile(`^agent (\S+) (\S+) 127\.0\.0\.1:\d+ zone=([abc])$`)
	var masterAddr string
	agents := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for masterAddr == "" || len(agents) < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("emulator output ended early")
			}
			if m := masterRE.FindStringSubmatch(l); m != nil {
				masterAddr = m[1]
			} else if m := agentRE.FindStringSubmatch(l); m != nil {
				agents[m[1]] = true
			} else {
				t.Fatalf("unexpected output line %q", l)
			}
		case <-timeout:
			t.Fatal("emulator did not describe itself")
		}
	}

	cli := httpcli.New(httpcli.Endpoint("http://"+masterAddr+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]))
	caller := httpsched.NewCaller(cli)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := caller.Call(ctx, calls.Subscribe(&mesos.FrameworkInfo{User: "root", Name: "binary-test"}))
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer resp.Close()
	offered := map[string]bool{}
	for len(offered) < 3 {
		var ev scheduler.Event
		if err := resp.Decode(&ev); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if ev.Type == scheduler.Event_OFFERS {
			for _, o := range ev.Offers.Offers {
				if !agents[o.AgentID.Value] {
					t.Errorf("offer from unknown agent %s", o.AgentID.Value)
				}
				offered[o.AgentID.Value] = true
			}
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulator did not stop on SIGTERM")
	}
}

// A signal during start-up (here: waiting for an unreachable ZooKeeper,
// which go-zookeeper would retry for 15 s) ends the binary promptly, with a
// message that says what it was doing and names no package twice.
func TestSIGTERMWhileConnectingToZooKeeper(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "--listen=127.0.0.1:0", "--agents=1", "--zk=zk://127.0.0.1:1/mesos", "--log_level=debug")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // no-op once it has exited
	lines := make(chan string, 64)
	go func() { // ends at EOF, when the binary exits
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var out []string
	timeout := time.After(20 * time.Second)
	// The debug log says when it starts waiting for a session.
	for connecting := false; !connecting; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("exited before connecting to ZooKeeper:\n%s", strings.Join(out, "\n"))
			}
			out = append(out, l)
			connecting = strings.Contains(l, "connecting to ZooKeeper")
		case <-timeout:
			t.Fatalf("no 'connecting to ZooKeeper' log line in:\n%s", strings.Join(out, "\n"))
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if ok {
				rest = append(rest, l)
			}
			done = !ok
		case <-time.After(10 * time.Second):
			t.Fatal("still running 10s after SIGTERM")
		}
	}
	err = cmd.Wait()
	if took := time.Since(sent); took > 2*time.Second {
		t.Errorf("exited %v after SIGTERM; want within 2s", took)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit: %v; want status 1", err)
	}
	msg := strings.Join(rest, "\n")
	if !strings.Contains(msg, "mesos-emulator: interrupted while starting: ") || !strings.Contains(msg, "connect to ZooKeeper at 127.0.0.1:1") ||
		strings.Contains(msg, "emulator: emulator:") {
		t.Errorf("stderr after SIGTERM:\n%s\nwant 'mesos-emulator: interrupted while starting: ... connect to ZooKeeper at 127.0.0.1:1'", msg)
	}
}

func TestStartErrorMessages(t *testing.T) {
	noSession := fmt.Errorf("emulator: connect to ZooKeeper at 127.0.0.1:1: %w within 15s", zkgroup.ErrNoSession)
	got := startError(context.Background(), noSession, "zk://u:secret@127.0.0.1:1/mesos")
	if want := "connect to ZooKeeper at 127.0.0.1:1: no ZooKeeper session within 15s; is ZooKeeper running at 127.0.0.1:1? check --zk"; got != want {
		t.Errorf("startError = %q\nwant %q", got, want)
	}
	if got := startError(context.Background(), errors.New("emulator: master 0: listen: address in use"), ""); got != "master 0: listen: address in use" {
		t.Errorf("startError = %q", got)
	}
}
