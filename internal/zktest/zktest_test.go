package zktest

import (
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func connect(t *testing.T, addr string, timeout time.Duration) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	conn, events, err := zk.Connect(strings.Split(addr, ","), timeout, zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(conn.Close)
	return conn, events
}

// waitState waits for the connection to report state, dropping others.
func waitState(t *testing.T, events <-chan zk.Event, want zk.State) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Type == zk.EventSession && ev.State == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %v within 30s", want)
		}
	}
}

func TestStartServesClients(t *testing.T) {
	s := Start(t)
	conn, _ := connect(t, s.Addr, 2*time.Second)
	if _, err := conn.Create("/probe", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	data, _, err := conn.Get("/probe")
	if err != nil || string(data) != "x" {
		t.Fatalf("get = %q, %v; want x", data, err)
	}
}

// TestRestartKeepsDataAndSessions: a restart shorter than the session
// timeout is what a rolling ZooKeeper upgrade looks like to healer: the
// data and the session (with its ephemeral node) are still there.
func TestRestartKeepsDataAndSessions(t *testing.T) {
	s := Start(t)
	conn, events := connect(t, s.Addr, 20*time.Second)
	waitState(t, events, zk.StateHasSession)
	if _, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	session := conn.SessionID()
	s.Restart()
	waitState(t, events, zk.StateDisconnected)
	waitState(t, events, zk.StateHasSession)
	if got := conn.SessionID(); got != session {
		t.Fatalf("session %#x after restart, want %#x", got, session)
	}
	if ok, _, err := conn.Exists("/eph"); err != nil || !ok {
		t.Fatalf("ephemeral node after restart: exists %v, %v", ok, err)
	}
}

// TestProxyExpire: Expire ends the session on the server; its ephemeral
// node goes at once and the client learns of the expiry.
func TestProxyExpire(t *testing.T) {
	s := Start(t)
	p := NewProxy(t, s.Addr)
	conn, events := connect(t, p.Addr, 20*time.Second)
	waitState(t, events, zk.StateHasSession)
	if _, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	observer, oevents := connect(t, s.Addr, 20*time.Second)
	waitState(t, oevents, zk.StateHasSession)
	ok, _, watch, err := observer.ExistsW("/eph")
	if err != nil || !ok {
		t.Fatalf("exists: %v, %v", ok, err)
	}
	p.Expire(t, conn.SessionID())
	if ev := <-watch; ev.Type != zk.EventNodeDeleted {
		t.Fatalf("watch: %+v, want the ephemeral node deleted", ev)
	}
	waitState(t, events, zk.StateExpired)
}

// TestProxyPartition: a partition longer than the session timeout expires
// the session on the server; after Heal the client learns it.
func TestProxyPartition(t *testing.T) {
	s := Start(t)
	p := NewProxy(t, s.Addr)
	conn, events := connect(t, p.Addr, time.Second)
	waitState(t, events, zk.StateHasSession)
	if _, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	observer, oevents := connect(t, s.Addr, 20*time.Second)
	waitState(t, oevents, zk.StateHasSession)
	_, _, watch, err := observer.ExistsW("/eph")
	if err != nil {
		t.Fatal(err)
	}
	p.Partition()
	waitState(t, events, zk.StateDisconnected)
	if ev := <-watch; ev.Type != zk.EventNodeDeleted {
		t.Fatalf("watch: %+v, want the ephemeral node deleted by the session's expiry", ev)
	}
	p.Heal()
	waitState(t, events, zk.StateExpired)
}

// TestEnsembleQuorum: a 3-server ensemble keeps serving with one server
// down, stops serving without a quorum, and a session younger than its
// timeout survives both, with its data, once the quorum is back.
func TestEnsembleQuorum(t *testing.T) {
	e := StartEnsemble(t, 3)
	conn, events := connect(t, e.Addr, 20*time.Second)
	waitState(t, events, zk.StateHasSession)
	if _, err := conn.Create("/eph", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	session := conn.SessionID()
	e.Kill(0)
	if _, err := conn.Create("/one-down", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create with one server down: %v", err)
	}
	e.Kill(1)
	// The last server stops serving once it misses its peers (syncLimit).
	deadline := time.Now().Add(30 * time.Second)
	for e.Servers[2].Serving() {
		if time.Now().After(deadline) {
			t.Fatal("the last server still serves without a quorum after 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling the server's state
	}
	if e.Up() != 1 {
		t.Fatalf("%d members running, want 1", e.Up())
	}
	for _, i := range []int{0, 1} {
		if err := e.Revive(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.WaitQuorum(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitState(t, events, zk.StateHasSession)
	if got := conn.SessionID(); got != session {
		t.Fatalf("session %#x after the quorum came back, want %#x", got, session)
	}
	for _, p := range []string{"/eph", "/one-down"} {
		if ok, _, err := conn.Exists(p); err != nil || !ok {
			t.Fatalf("%s after the quorum came back: exists %v, %v", p, ok, err)
		}
	}
}
