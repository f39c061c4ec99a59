package emulator

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
	"github.com/healer-mesos/healer/internal/testtool"
)

// launchOn accepts an offer with one small fake task and waits for its
// TASK_RUNNING, which it acknowledges.
func launchOn(t *testing.T, c *schedClient, offer mesos.Offer, taskID string) {
	t.Helper()
	task := mesos.TaskInfo{
		Name:      taskID,
		TaskID:    mesos.TaskID{Value: taskID},
		AgentID:   offer.AgentID,
		Resources: []mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32)},
		Command:   &mesos.CommandInfo{Value: strPtr("sleep 1000")},
	}
	// No refusal filter, so the rest of the agent is offered again at once.
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(offer.ID)).With(calls.RefuseSeconds(0)))
	ev := waitEvent(t, c, taskID+" RUNNING", isUpdate(taskID, mesos.TASK_RUNNING))
	c.mustCall(calls.Acknowledge(ev.Update.Status.AgentID.Value, taskID, ev.Update.Status.UUID))
}

func TestClusterWithoutZooKeeper(t *testing.T) {
	cfg := fastCluster(4)
	cfg.Zones = []string{"a", "b"}
	cl := startCluster(t, cfg)

	var out strings.Builder
	if err := cl.Describe(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !regexp.MustCompile(`^master 127\.0\.0\.1:\d+ \(leading\)$`).MatchString(lines[0]) {
		t.Fatalf("Describe:\n%s", out.String())
	}
	agentRE := regexp.MustCompile(`^agent \S+-S\d+ agent-(\d) 127\.0\.0\.1:\d+ zone=([ab])$`)
	for i, l := range lines[1:] {
		m := agentRE.FindStringSubmatch(l)
		if m == nil || m[2] != []string{"a", "b"}[i%2] {
			t.Errorf("agent line %q; want zone %s", l, []string{"a", "b"}[i%2])
		}
	}

	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("zones"))
	seen := map[string]string{}
	for len(seen) < 4 {
		ev := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS))
		for _, o := range ev.Offers.Offers {
			if fd := o.GetDomain().GetFaultDomain(); fd != nil {
				seen[o.AgentID.Value] = fd.Zone.Name
			} else {
				seen[o.AgentID.Value] = ""
			}
		}
	}
	for i, a := range cl.Agents() {
		if got, want := seen[a.ID().Value], cl.AgentZone(i); got != want {
			t.Errorf("agent %d offered with zone %q; want %q", i, got, want)
		}
	}
}

func TestClusterZooKeeperFailover(t *testing.T) {
	cfg, zkAddr := zkClusterConfig(t, 2)
	cl := startCluster(t, cfg)

	// Both masters joined as json.info_ members; the lowest sequence leads,
	// as a Mesos detector reading the group sees it.
	conn, _, err := zk.Connect([]string{zkAddr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	children, _, err := conn.Children("/mesos")
	if err != nil || len(children) != 2 {
		t.Fatalf("children of /mesos = %v, %v; want two members", children, err)
	}
	for _, ch := range children {
		if !strings.HasPrefix(ch, "json.info_") {
			t.Errorf("member %q; want json.info_<seq>", ch)
		}
	}
	det, err := zkgroup.NewDetector(context.Background(), *cl.ZK())
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	info, err := det.WaitLeader(wctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	leader := cl.Leader()
	if leader == nil || info.ID != leader.ID() {
		t.Fatalf("detected leader %s; the cluster's leader is %v", info.ID, leader)
	}
	leaderIdx, standbyIdx := 0, 1
	if !cl.MasterLeading(0) {
		leaderIdx, standbyIdx = 1, 0
	}

	// The standby redirects to the leader under /master.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Post(cl.MasterURLs()[standbyIdx]+"/api/v1/scheduler", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "//" + cl.MasterAddr(leaderIdx) + "/master/api/v1/scheduler"; resp.StatusCode != http.StatusTemporaryRedirect ||
		resp.Header.Get("Location") != want {
		t.Fatalf("standby answered %d Location %q; want 307 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// A checkpointing framework with a long failover timeout runs a task.
	fi := frameworkInfo("failover", mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	fi.Checkpoint = proto.Bool(true)
	fi.FailoverTimeout = proto.Float64(3600)
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(fi)
	offers := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS))
	launchOn(t, c, offers.Offers.Offers[0], "t1")

	// Kill the leader: the standby is elected, agents re-register with it.
	var otherAgent string
	for _, a := range cl.Agents() {
		if a.ID() != offers.Offers.Offers[0].AgentID {
			otherAgent = a.ID().Value
		}
	}
	if err := cl.PartitionAgent(otherAgent); err != nil {
		t.Fatal(err)
	}
	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	waitStreamEnd(t, c)
	testtool.WaitFor(t, "standby elected", 5*time.Second, func() bool { return cl.MasterLeading(standbyIdx) })
	if _, err := http.Post(cl.MasterURLs()[leaderIdx]+"/api/v1/scheduler", "application/json", strings.NewReader(`{}`)); err == nil {
		t.Error("killed master still answers HTTP")
	}
	children, _, err = conn.Children("/mesos")
	if err != nil || len(children) != 1 {
		t.Errorf("children of /mesos after the kill = %v, %v; want one member", children, err)
	}

	// The reachable agent re-registers within its registration backoff; a
	// partitioned agent does not, and the new leader lists it among the
	// recovered agents.
	op := operatorSender(cl.LeaderURL())
	testtool.WaitFor(t, "one agent re-registered, one recovered", 5*time.Second, func() bool {
		agents := sendOperator(t, op, mcalls.GetAgents()).GetAgents
		return len(agents.Agents) == 1 && len(agents.RecoveredAgents) == 1
	})

	// The new leader knows nothing of the framework's connection: it must
	// resubscribe with its ID, and gets that same ID back.
	fi.ID = &mesos.FrameworkID{Value: c.fid}
	c2 := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	ev := c2.subscribe(fi)
	if ev.Subscribed.FrameworkID.Value != c.fid {
		t.Fatalf("resubscribed as %s; want %s", ev.Subscribed.FrameworkID.Value, c.fid)
	}
	if ev.Subscribed.MasterInfo.ID != cl.Leader().ID() {
		t.Errorf("SUBSCRIBED.master_info.id = %s; want the new leader %s", ev.Subscribed.MasterInfo.ID, cl.Leader().ID())
	}
	// The task was recovered from its agent: reconciliation reports it
	// RUNNING.
	agentID := offers.Offers.Offers[0].AgentID.Value
	c2.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": agentID})))
	ev = waitEvent(t, c2, "t1 reconciled", isUpdate("t1", mesos.TASK_RUNNING))
	if ev.Update.Status.GetReason() != mesos.REASON_RECONCILIATION || ev.Update.Status.UUID != nil {
		t.Errorf("reconciliation update = %+v", ev.Update.Status)
	}
}

// waitStreamEnd waits for a scheduler's event stream to end.
func waitStreamEnd(t *testing.T, c *schedClient) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-c.events:
		case <-c.closed:
			return
		case <-timeout:
			t.Fatal("event stream did not end")
		}
	}
}

// The emulator reads ZooKeeper URLs with internal/zkurl, healer's own
// parser (tested there); a cluster refuses what it refuses, before starting.
func TestClusterRefusesBadZKURL(t *testing.T) {
	_, err := NewCluster(ClusterConfig{ZK: "zk://127.0.0.1:2181/"})
	if err == nil || !strings.Contains(err.Error(), "Expecting a (chroot) path for ZooKeeper ('/' is not supported)") {
		t.Fatalf("NewCluster with path /: %v", err)
	}
}
