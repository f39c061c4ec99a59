package zktest

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func connect(t *testing.T, addr string, timeout time.Duration) (*zk.Conn, <-chan zk.Event) {
	t.Helper()
	conn, events, err := zk.Connect([]string{addr}, timeout, zk.WithLogInfo(false))
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
