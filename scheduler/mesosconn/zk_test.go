package mesosconn

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/internal/zkurl"
)

// disconnectedAny waits for generation gen's Disconnected, whatever the
// reason, and returns it.
func (r *running) disconnectedAny(gen uint64) error {
	r.t.Helper()
	ev := r.next("Disconnected", func(ev Event) bool { return ev.Disconnected != nil })
	if ev.Gen != gen {
		r.t.Fatalf("Disconnected gen %d (%v); want gen %d", ev.Gen, ev.Disconnected, gen)
	}
	return ev.Disconnected
}

// Masters elected in a real ZooKeeper: the connection subscribes at the
// leader the group names, follows a clean failover (the new leader is
// elected at once) and a crash (the dead leader's node stays until its
// session expires, and the standbys redirect to it meanwhile), keeping its
// framework ID throughout.
func TestZooKeeperFollowsElections(t *testing.T) {
	zk := zktest.Start(t)
	cfg := clusterConfig(1)
	cfg.Masters = 3
	cfg.ZK = "zk://" + zk.Addr + "/mesos"
	cfg.ZKSessionTimeout = 2 * time.Second
	cl := startCluster(t, cfg)
	leaderAddr := func() string { return strings.TrimPrefix(cl.LeaderURL(), "http://") }

	ccfg := testConfig(t, cfg.ZK)
	ccfg.ZKSessionTimeout = 2 * time.Second
	r := start(t, ccfg)
	first := r.subscribed(1)
	if first.Master != leaderAddr() {
		t.Fatalf("subscribed at %s; want the elected leader %s", first.Master, leaderAddr())
	}

	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	r.disconnectedAny(1)
	second := r.subscribed(2)
	if second.Master == first.Master || second.Master != leaderAddr() || second.FrameworkID != first.FrameworkID {
		t.Fatalf("after the failover subscribed %+v; want framework %s at the new leader %s", second, first.FrameworkID, leaderAddr())
	}

	crashed := time.Now()
	if err := cl.CrashLeader(); err != nil {
		t.Fatal(err)
	}
	r.disconnectedAny(2)
	third := r.subscribed(3)
	if third.Master == second.Master || third.FrameworkID != first.FrameworkID {
		t.Fatalf("after the crash subscribed %+v; want framework %s elsewhere than %s", third, first.FrameworkID, second.Master)
	}
	if waited := time.Since(crashed); waited > cfg.ZKSessionTimeout+5*time.Second {
		t.Errorf("resubscribed %v after the crash; want soon after the %v session timeout", waited, cfg.ZKSessionTimeout)
	}
	r.mustCall(calls.Revive())
}

// The leader named in ZooKeeper changes while the old master still serves
// the stream: the connection drops that subscription (ErrLeaderChanged)
// and subscribes at the new leader at once. Before any master joins the
// group, it waits. The group is published by the test itself, so the
// change is not mixed up with a master dying.
func TestZooKeeperLeaderChangeMovesSubscription(t *testing.T) {
	zk := zktest.Start(t)
	ccfg := clusterConfig(1)
	ccfg.Masters = 2
	cl := startCluster(t, ccfg)
	m0, m1 := cl.MasterAddr(0), cl.MasterAddr(1)
	master := "zk://" + zk.Addr + "/mesos"
	u, err := zkurl.Parse(master)
	if err != nil {
		t.Fatal(err)
	}
	group := zkgroup.Config{URL: u, SessionTimeout: 2 * time.Second}

	cfg := testConfig(t, master)
	r := start(t, cfg)
	r.quiet(300 * time.Millisecond) // no master in the group yet

	ctx := context.Background()
	c0, err := zkgroup.NewContender(ctx, group, cl.Masters()[0].MasterInfo())
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	first := r.subscribed(1)
	if first.Master != m0 {
		t.Fatalf("subscribed at %s; want %s", first.Master, m0)
	}

	// Master 1 takes over; master 0 keeps serving the stream.
	cl.Masters()[1].Lead()
	cl.Masters()[0].Follow(m1)
	c1, err := zkgroup.NewContender(ctx, group, cl.Masters()[1].MasterInfo())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c0.Close()

	if err := r.disconnectedAny(1); !errors.Is(err, ErrLeaderChanged) {
		t.Fatalf("Disconnected: %v; want ErrLeaderChanged", err)
	}
	if second := r.subscribed(2); second.Master != m1 || second.FrameworkID != first.FrameworkID {
		t.Fatalf("subscribed %+v; want framework %s at %s", second, first.FrameworkID, m1)
	}
	r.mustCall(calls.Revive())
}
