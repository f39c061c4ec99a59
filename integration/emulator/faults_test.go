package emulator

import (
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

// oneTaskCluster starts a one-agent cluster with a subscribed framework
// running task t1 there.
func oneTaskCluster(t *testing.T, caps ...mesos.FrameworkInfo_Capability_Type) (*Cluster, *schedClient, mesos.AgentID) {
	t.Helper()
	cl := startCluster(t, fastCluster(1))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	fi := frameworkInfo("faults", caps...)
	fi.Checkpoint = boolTrue()
	c.subscribe(fi)
	offer := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS)).Offers.Offers[0]
	launchOn(t, c, offer, "t1")
	return cl, c, offer.AgentID
}

func boolTrue() *bool { b := true; return &b }

func faultRecorded(cl *Cluster, typ string) bool {
	for _, r := range cl.Recorder().Records(RecordFault) {
		if r.Type == typ {
			return true
		}
	}
	return false
}

func TestFaultPartitionAgent(t *testing.T) {
	cl, c, agentID := oneTaskCluster(t, mesos.FrameworkInfo_Capability_PARTITION_AWARE)
	if err := cl.PartitionAgent(agentID.Value); err != nil {
		t.Fatal(err)
	}
	// Pings go unanswered: after the ping timeouts the agent is unreachable.
	ev := waitEvent(t, c, "t1 unreachable", isUpdate("t1", mesos.TASK_UNREACHABLE))
	if ev.Update.Status.UnreachableTime == nil || ev.Update.Status.GetReason() != mesos.REASON_AGENT_REMOVED {
		t.Errorf("unreachable update = %+v", ev.Update.Status)
	}
	waitEvent(t, c, "FAILURE", func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_FAILURE && ev.Failure.GetAgentID().GetValue() == agentID.Value
	})
	// Healed, the agent re-registers with its task; reconciliation finds it
	// running again.
	if err := cl.HealAgent(agentID.Value); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "agent back", 5*time.Second, func() bool {
		c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": agentID.Value})))
		select {
		case ev := <-c.events:
			return isUpdate("t1", mesos.TASK_RUNNING)(ev)
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	if !faultRecorded(cl, "agent_partition") || !faultRecorded(cl, "agent_heal") {
		t.Error("partition and heal not recorded")
	}
}

func TestFaultKillAndRestartAgent(t *testing.T) {
	cl, c, agentID := oneTaskCluster(t)
	if err := cl.KillAgent(agentID.Value); err != nil {
		t.Fatal(err)
	}
	// A killed agent answers no pings: not partition-aware, t1 is LOST.
	ev := waitEvent(t, c, "t1 lost", isUpdate("t1", mesos.TASK_LOST))
	if ev.Update.Status.GetSource() != mesos.SOURCE_MASTER {
		t.Errorf("lost update = %+v", ev.Update.Status)
	}
	waitEvent(t, c, "FAILURE", isType(scheduler.Event_FAILURE))
	if err := cl.RestartAgent(agentID.Value); err != nil {
		t.Fatal(err)
	}
	// The restarted agent registers again and is offered.
	waitEvent(t, c, "offer of the restarted agent", func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_OFFERS && ev.Offers.Offers[0].AgentID == agentID
	})
	if !faultRecorded(cl, "agent_kill") || !faultRecorded(cl, "agent_restart") {
		t.Error("kill and restart not recorded")
	}
}

func TestFaultFrameworkMessages(t *testing.T) {
	cl, c, agentID := oneTaskCluster(t)
	send := func(data string) {
		c.mustCall(calls.Message(agentID.Value, "t1", []byte(data)))
	}
	isMessage := func(data string) func(*scheduler.Event) bool {
		return func(ev *scheduler.Event) bool {
			return ev.Type == scheduler.Event_MESSAGE && string(ev.Message.Data) == data
		}
	}
	// The fake executor echoes messages back.
	send("hello")
	waitEvent(t, c, "echo", isMessage("hello"))

	cl.DropFrameworkMessages(true)
	send("dropped")
	cl.DropFrameworkMessages(false)
	send("after")
	ev := waitEvent(t, c, "a message", isType(scheduler.Event_MESSAGE))
	if string(ev.Message.Data) != "after" {
		t.Errorf("got message %q; the dropped one should never arrive", ev.Message.Data)
	}

	cl.DelayFrameworkMessages(200 * time.Millisecond)
	sent := time.Now()
	send("slow")
	waitEvent(t, c, "delayed echo", isMessage("slow"))
	if d := time.Since(sent); d < 400*time.Millisecond {
		t.Errorf("echo after %v; want both directions delayed 200ms", d)
	}
	if !faultRecorded(cl, "framework_message_fault") {
		t.Error("message fault not recorded")
	}
}

func TestFaultCloseSubscription(t *testing.T) {
	cl, c, _ := oneTaskCluster(t)
	if !cl.CloseSubscription(c.fid) {
		t.Fatal("CloseSubscription found no stream")
	}
	waitStreamEnd(t, c)
	// The framework is disconnected: calls get 403 until it resubscribes.
	if err := c.call(calls.Revive()); err == nil {
		t.Fatal("call after the stream closed succeeded; want 403")
	}
	if !faultRecorded(cl, "close_subscription") {
		t.Error("close_subscription not recorded")
	}
}

func TestFaultCallsFailAndSlow(t *testing.T) {
	cl, c, _ := oneTaskCluster(t)
	cl.FailCalls(http.StatusServiceUnavailable, 0)
	if err := c.call(calls.Revive()); err == nil {
		t.Error("REVIVE succeeded while calls fail")
	}
	cl.FailCalls(0, 150*time.Millisecond)
	start := time.Now()
	if err := c.call(calls.Revive()); err != nil {
		t.Errorf("slow REVIVE: %v", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("slow call took %v", d)
	}
	cl.FailCalls(0, 0)
	if !faultRecorded(cl, "call_fault") {
		t.Error("call fault not recorded")
	}
}
