package election

import (
	"context"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// TestTermFencesStore: the store fenced by a term's node writes while the
// term lives; once a partition has cost the leader its session and a new
// leader has written, nothing the old leader tries reaches ZooKeeper.
func TestTermFencesStore(t *testing.T) {
	srv := zktest.Start(t)
	proxy := zktest.NewProxy(t, srv.Addr)
	ctx := context.Background()
	const timeout = 2 * time.Second
	a := start(t, "a", proxy.Addr, timeout)
	ta, _ := a.waitKind(t, Elected, 0)
	b := start(t, "b", srv.Addr, timeout)
	b.waitKind(t, LeaderChanged, 0)

	storeFor := func(term Term) *store.ZK {
		s, err := store.NewZK(term.Conn, store.ZKConfig{Chroot: chroot, Fence: term.Node})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	rec := func(id, host string) coordinator.Persist {
		return coordinator.Persist{Agents: []coordinator.AgentRecord{{ID: coordinator.AgentID(id), Hostname: host}}}
	}
	sa := storeFor(ta.Term)
	if err := sa.Save(ctx, rec("a1", "from-a")); err != nil {
		t.Fatal(err)
	}

	proxy.Partition()
	a.waitKind(t, Suspended, 0)
	if err := sa.Save(ctx, rec("a1", "a-while-suspended")); err == nil {
		t.Error("a write went through while the leader was cut off")
	}
	tb, _ := b.waitKind(t, Elected, 0)
	sb := storeFor(tb.Term)
	if err := sb.Save(ctx, rec("a1", "from-b")); err != nil {
		t.Fatal(err)
	}
	proxy.Heal()
	a.waitKind(t, Deposed, 0)
	if _, err := sa.Load(ctx); err == nil {
		if err := sa.Save(ctx, rec("a1", "a-after-deposed")); err == nil {
			t.Error("the deposed leader wrote")
		}
	}
	snap, err := sb.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Agents) != 1 || snap.Agents[0].Hostname != "from-b" {
		t.Fatalf("stored %+v, want only the new leader's write", snap.Agents)
	}
}
