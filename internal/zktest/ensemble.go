package zktest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Ensemble is a replicated ZooKeeper ensemble of real servers on loopback,
// for tests of what an ensemble does that one server cannot show: a server
// lost without clients noticing more than a reconnect, and a lost quorum
// (a majority down), during which no server serves and sessions cannot be
// kept alive until a quorum is back.
//
// Unlike Server's methods, Kill, Revive and WaitQuorum return errors
// instead of failing the test, so a fault-injection driver may call them
// from its own goroutine (one at a time: they are not safe for concurrent
// use).
type Ensemble struct {
	// Servers are the members; Servers[i] has myid i+1.
	Servers []*Server
	// Addr is the connect string of every member: host:port,host:port,...
	Addr string
}

// StartEnsemble starts an ensemble of n servers (n odd, at least 3) and
// waits until every member serves. They are stopped by t.Cleanup.
func StartEnsemble(t testing.TB, n int) *Ensemble {
	t.Helper()
	if n < 3 || n%2 == 0 {
		t.Fatalf("zktest: an ensemble needs an odd number of servers, at least 3; got %d", n)
	}
	classPath := requireZooKeeper(t)
	ports := make([]int, 3*n) // client, quorum and election port per server
	seen := make(map[int]bool)
	for i := range ports {
		for {
			p, err := freePort()
			if err != nil {
				t.Fatalf("zktest: pick a port: %v", err)
			}
			if !seen[p] {
				seen[p] = true
				ports[i] = p
				break
			}
		}
	}
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i+1, ports[3*i+1], ports[3*i+2]))
	}
	e := &Ensemble{}
	var addrs []string
	for i := range n {
		s := newServer(t, classPath, ports[3*i], peers)
		if err := writeMyID(s, i+1); err != nil {
			t.Fatal(err)
		}
		e.Servers = append(e.Servers, s)
		addrs = append(addrs, s.Addr)
	}
	e.Addr = strings.Join(addrs, ",")
	for _, s := range e.Servers {
		if err := s.spawn(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range e.Servers {
		if err := s.waitServing(60 * time.Second); err != nil {
			s.dumpLog()
			t.Fatal(err)
		}
	}
	return e
}

// Kill crashes member i (SIGKILL). Killing a stopped member does nothing.
func (e *Ensemble) Kill(i int) { e.Servers[i].Stop() }

// Revive starts member i again with its data, if it is stopped. It does not
// wait for it to serve: without a quorum it cannot (see WaitQuorum).
func (e *Ensemble) Revive(i int) error {
	s := e.Servers[i]
	if s.cmd != nil {
		return nil
	}
	return s.spawn()
}

// Running reports whether member i's process runs.
func (e *Ensemble) Running(i int) bool { return e.Servers[i].cmd != nil }

// Up counts the members whose process runs.
func (e *Ensemble) Up() int {
	n := 0
	for i := range e.Servers {
		if e.Running(i) {
			n++
		}
	}
	return n
}

// WaitQuorum waits until every running member serves, which it does once
// a quorum of members has formed.
func (e *Ensemble) WaitQuorum(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var errs []error
	for _, s := range e.Servers {
		if s.cmd == nil {
			continue
		}
		if err := s.waitServing(time.Until(deadline)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeMyID writes the member's id into its data directory, as every
// ensemble member needs.
func writeMyID(s *Server, id int) error {
	dir := filepath.Join(s.dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("zktest: data dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "myid"), []byte(fmt.Sprintf("%d\n", id)), 0o644); err != nil {
		return fmt.Errorf("zktest: write myid: %w", err)
	}
	return nil
}
