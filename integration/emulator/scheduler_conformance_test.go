package emulator

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

// TestSchedulerCoreFlow drives subscribe → offers → decline → revive →
// accept/launch → agent status updates → ack with the mesos-go client and
// the protobuf codec healer uses (a JSON-codec mesos-go client cannot read
// SUBSCRIBED from a 1.12 master: TestJSONCodecClientRejectsQuotaV2).
func TestSchedulerCoreFlow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec encoding.Codec
	}{{"protobuf", protobufCodec}} {
		t.Run(tc.name, func(t *testing.T) {
			// A long allocation interval: every offer within it comes from
			// an immediate allocation run (subscribe, REVIVE), not a
			// periodic one.
			m := startStubMaster(t, func(cfg *MasterConfig) { cfg.AllocationInterval = 5 * time.Second })
			agent := newStubAgent("agent-1", 4, 4096)
			if err := m.AddAgent(agent); err != nil {
				t.Fatal(err)
			}
			c := newSchedClient(t, m.url, tc.codec)
			sub := c.subscribe(frameworkInfo("core"))
			if got := sub.Subscribed.GetHeartbeatIntervalSeconds(); got != 0.2 {
				t.Errorf("heartbeat_interval_seconds = %v, want 0.2", got)
			}
			if sub.Subscribed.MasterInfo == nil || sub.Subscribed.MasterInfo.ID != m.ID() {
				t.Errorf("master_info = %v", sub.Subscribed.MasterInfo)
			}
			// HEARTBEAT comes immediately after SUBSCRIBED, before OFFERS.
			if ev := <-c.events; ev.Type != scheduler.Event_HEARTBEAT {
				t.Fatalf("second event = %s, want HEARTBEAT", ev.Type)
			}
			start := time.Now()
			offers := c.next(scheduler.Event_OFFERS).Offers.Offers
			if d := time.Since(start); d > time.Second {
				t.Errorf("first offers after %v", d)
			}
			if len(offers) != 1 {
				t.Fatalf("got %d offers, want 1", len(offers))
			}
			o := offers[0]
			if o.AgentID.Value != "agent-1" || o.FrameworkID.Value != c.fid || o.Hostname != "127.0.0.1" ||
				o.URL.GetPath() != "/slave(1)" || o.AllocationInfo != nil || len(o.Attributes) != 1 {
				t.Errorf("offer = %v", o)
			}
			// Without RESERVATION_REFINEMENT, unreserved resources come in the
			// pre-refinement format: an explicit "role":"*".
			for _, r := range o.Resources {
				if r.Role == nil || *r.Role != "*" || len(r.Reservations) != 0 {
					t.Errorf("offered resource %v: want role \"*\" and no reservations[]", r)
				}
			}

			// DECLINE with a long filter: no offer for that agent until REVIVE.
			c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(time.Hour)))
			c.expectQuiet(300 * time.Millisecond)
			reviveAt := time.Now()
			c.mustCall(calls.Revive())
			o = c.next(scheduler.Event_OFFERS).Offers.Offers[0]
			if d := time.Since(reviveAt); d > 2*time.Second {
				t.Errorf("offers %v after REVIVE; want an immediate allocation run, well before the 5s periodic one", d)
			}

			// ACCEPT with a LAUNCH.
			task := mesos.TaskInfo{
				Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID,
				Resources: []mesos.Resource{scalarRes("cpus", 1), scalarRes("mem", 128)},
				Command:   &mesos.CommandInfo{Value: strPtr("sleep 1")},
			}
			// Frameworks launch with the resources as offered, role included.
			for i := range task.Resources {
				task.Resources[i].Role = strPtr("*")
			}
			c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)))
			testtool.WaitFor(t, "RunTask", 5*time.Second, func() bool { return agent.has("run t1") })
			if st := masterTaskState(m.Master, c.fid, "t1"); st != mesos.TASK_STAGING {
				t.Fatalf("task state %s, want TASK_STAGING", st)
			}
			// The rest (3 cpus) is offered again after the 5 s default filter
			// only; REVIVE brings it at once.
			c.mustCall(calls.Revive())
			rest := c.next(scheduler.Event_OFFERS).Offers.Offers[0]
			if cpus := sumScalar(rest.Resources, "cpus"); cpus != 3 {
				t.Errorf("remaining offer has %v cpus, want 3", cpus)
			}

			// Agent reports RUNNING with a uuid: forwarded as UPDATE.
			uuid := newUUIDBytes()
			running := mesos.TASK_RUNNING
			src := mesos.SOURCE_EXECUTOR
			m.StatusUpdate(o.AgentID, mesos.FrameworkID{Value: c.fid}, mesos.TaskStatus{
				TaskID: task.TaskID, State: &running, Source: &src, UUID: uuid, AgentID: &o.AgentID,
			}, running)
			up := c.next(scheduler.Event_UPDATE).Update.Status
			if up.GetState() != mesos.TASK_RUNNING || string(up.UUID) != string(uuid) {
				t.Fatalf("update = %v", up)
			}
			c.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", up.UUID))
			testtool.WaitFor(t, "ack forwarded", 5*time.Second, func() bool { return agent.has("ack t1") })

			// Terminal update, then its ack removes the task.
			finished := mesos.TASK_FINISHED
			uuid2 := newUUIDBytes()
			m.StatusUpdate(o.AgentID, mesos.FrameworkID{Value: c.fid}, mesos.TaskStatus{
				TaskID: task.TaskID, State: &finished, Source: &src, UUID: uuid2, AgentID: &o.AgentID,
			}, finished)
			up = c.next(scheduler.Event_UPDATE).Update.Status
			if up.GetState() != mesos.TASK_FINISHED {
				t.Fatalf("update = %v", up)
			}
			if st := masterTaskState(m.Master, c.fid, "t1"); st != mesos.TASK_FINISHED {
				t.Fatalf("task state %s before ack, want TASK_FINISHED", st)
			}
			c.mustCall(calls.Acknowledge(o.AgentID.Value, "t1", up.UUID))
			testtool.WaitFor(t, "task removed", 5*time.Second, func() bool { return masterTaskState(m.Master, c.fid, "t1") == -1 })

			recs := m.Recorder().Records(RecordLaunch)
			if len(recs) != 1 || recs[0].TaskID != "t1" {
				t.Errorf("launch records = %v", recs)
			}
		})
	}
}

func sumScalar(rs []mesos.Resource, name string) float64 {
	total := 0.0
	for _, r := range rs {
		if r.Name == name {
			total += r.GetScalar().GetValue()
		}
	}
	return total
}

// masterTaskState returns a task's state in the master's active tasks, or -1.
func masterTaskState(m *Master, frameworkID, taskID string) mesos.TaskState {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if fw == nil || fw.tasks[taskID] == nil {
		return -1
	}
	return fw.tasks[taskID].GetState()
}
