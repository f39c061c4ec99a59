package emulator

import (
	"errors"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

// agentEntryOf returns GET_AGENTS' entry for an agent, or nil.
func agentEntryOf(t *testing.T, url, agentID string) *master.Response_GetAgents_Agent {
	t.Helper()
	for _, a := range sendOperator(t, operatorSender(url), mcalls.GetAgents()).GetAgents.Agents {
		if a.AgentInfo.ID.Value == agentID {
			return &a
		}
	}
	return nil
}

// expectNoOfferOf watches a framework's events for d and fails on an offer
// of agentID; it requires an offer of some other agent meanwhile, so the
// allocator demonstrably ran.
func expectNoOfferOf(t *testing.T, c *schedClient, agentID string, d time.Duration) {
	t.Helper()
	sawOther := false
	quiet := time.After(d)
	for {
		select {
		case ev := <-c.events:
			if ev.Type != scheduler.Event_OFFERS {
				continue
			}
			for _, o := range ev.Offers.Offers {
				if o.AgentID.Value == agentID {
					t.Fatalf("offer of deactivated agent %s", agentID)
				}
				sawOther = true
				// Decline without a filter so offers keep coming.
				c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(0)))
			}
		case <-c.closed:
			t.Fatalf("stream ended: %v", c.err)
		case <-quiet:
			if !sawOther {
				t.Fatal("no offer of any other agent: the allocator did not run")
			}
			return
		}
	}
}

func deactivate(t *testing.T, url, agentID string) {
	t.Helper()
	code, _, body := postRaw(t, url+"/api/v1", `{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"`+agentID+`"}}}`, nil)
	if code != 200 {
		t.Fatalf("DEACTIVATE_AGENT = %d %q", code, body)
	}
}

func TestRegistryDeactivationSurvivesFailover(t *testing.T) {
	cfg := fastCluster(2)
	cfg.Masters = 2
	cl := startCluster(t, cfg)
	agentID := cl.Agents()[0].ID().Value
	deactivate(t, cl.LeaderURL(), agentID)

	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	url := cl.LeaderURL()
	if url == "" {
		t.Fatal("no new leader")
	}
	testtool.WaitFor(t, "agent re-registered with the new leader", 5*time.Second, func() bool { return agentEntryOf(t, url, agentID) != nil })
	if a := agentEntryOf(t, url, agentID); !a.GetDeactivated() || a.Active {
		t.Errorf("GET_AGENTS on the new leader: deactivated=%v active=%v; want deactivated, inactive", a.GetDeactivated(), a.Active)
	}
	c := newSchedClient(t, url, protobufCodec)
	c.subscribe(frameworkInfo("after-failover"))
	expectNoOfferOf(t, c, agentID, 500*time.Millisecond)
}

func TestRegistryDeactivationSurvivesUnreachable(t *testing.T) {
	cl := startCluster(t, fastCluster(2))
	agentID := cl.Agents()[0].ID().Value
	url := cl.LeaderURL()
	deactivate(t, url, agentID)

	if err := cl.PartitionAgent(agentID); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "agent unreachable", 5*time.Second, func() bool { return agentEntryOf(t, url, agentID) == nil })
	if err := cl.HealAgent(agentID); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "agent back", 5*time.Second, func() bool { return agentEntryOf(t, url, agentID) != nil })
	if a := agentEntryOf(t, url, agentID); !a.GetDeactivated() {
		t.Errorf("agent back from unreachable is not deactivated: %+v", a)
	}
	c := newSchedClient(t, url, protobufCodec)
	c.subscribe(frameworkInfo("partition"))
	expectNoOfferOf(t, c, agentID, 500*time.Millisecond)
}

func TestRegistryMaintenanceSurvivesFailover(t *testing.T) {
	cfg := fastCluster(2)
	cfg.Masters = 2
	cl := startCluster(t, cfg)
	info := cl.Agents()[0].Info()
	machine := mesos.MachineID{Hostname: proto.String(info.Hostname), IP: proto.String("127.0.0.1")}
	start := time.Now().Add(time.Hour)
	sched := maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: []mesos.MachineID{machine},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}}}}}
	sendOperator(t, operatorSender(cl.LeaderURL()), mcalls.UpdateMaintenanceSchedule(sched))

	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	op := operatorSender(cl.LeaderURL())
	got := sendOperator(t, op, mcalls.GetMaintenanceSchedule()).GetMaintenanceSchedule
	if !proto.Equal(&got.Schedule, &sched) {
		t.Errorf("GET_MAINTENANCE_SCHEDULE on the new leader = %+v; want %+v", got.Schedule, sched)
	}
	status := sendOperator(t, op, mcalls.GetMaintenanceStatus()).GetMaintenanceStatus.Status
	if len(status.DrainingMachines) != 1 || !proto.Equal(&status.DrainingMachines[0].ID, &machine) {
		t.Errorf("GET_MAINTENANCE_STATUS on the new leader = %+v", status)
	}
	// Offers of the agent on the DRAINING machine carry its unavailability.
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("maint-failover"))
	waitEvent(t, c, "offer with unavailability", func(ev *scheduler.Event) bool {
		if ev.Type != scheduler.Event_OFFERS {
			return false
		}
		for _, o := range ev.Offers.Offers {
			if o.AgentID == *info.ID {
				if o.Unavailability == nil || o.Unavailability.Start.Nanoseconds != start.UnixNano() {
					t.Fatalf("offer of a DRAINING agent without its unavailability: %+v", o.Unavailability)
				}
				return true
			}
		}
		return false
	})
}

// TestRegistryMaintenanceRemovalIsNotGone: agents removed by
// START_MAINTENANCE are unknown to reconciliation (case 6), are refused
// while their machine is DOWN, and may register again after
// STOP_MAINTENANCE; MARK_AGENT_GONE agents stay gone.
func TestRegistryMaintenanceRemovalIsNotGone(t *testing.T) {
	m := startStubMaster(t)
	a1, a2 := newStubAgent("a1", 1, 1024), newStubAgent("a2", 1, 1024)
	a2.state.Info.Hostname = "127.0.0.2"
	for _, a := range []*stubAgent{a1, a2} {
		if err := m.AddAgent(a); err != nil {
			t.Fatal(err)
		}
	}
	machine := mesos.MachineID{Hostname: proto.String("127.0.0.1"), IP: proto.String("127.0.0.1")}
	op := operatorSender(m.url)
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{{
		MachineIDs: []mesos.MachineID{machine}, Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().UnixNano()}}}}}))
	sendOperator(t, op, mcalls.StartMaintenance(machine))
	sendOperator(t, op, mcalls.MarkAgentGone(mesos.AgentID{Value: "a2"}))

	for _, pa := range []bool{true, false} {
		var caps []mesos.FrameworkInfo_Capability_Type
		want := mesos.TASK_LOST
		if pa {
			caps, want = append(caps, mesos.FrameworkInfo_Capability_PARTITION_AWARE), mesos.TASK_UNKNOWN
		}
		c := newSchedClient(t, m.url, protobufCodec)
		c.subscribe(frameworkInfo("reconcile", caps...))
		c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"t1": "a1"})))
		st := c.next(scheduler.Event_UPDATE).Update.Status
		if st.GetState() != want || st.GetMessage() != "Reconciliation: Task is unknown" {
			t.Errorf("partition-aware=%v: reconcile a task of a removed agent = %v %q; want %v %q",
				pa, st.GetState(), st.GetMessage(), want, "Reconciliation: Task is unknown")
		}
	}

	if err := m.AddAgent(newStubAgent("a1", 1, 1024)); !errors.Is(err, ErrMachineDown) {
		t.Errorf("re-registering on a DOWN machine = %v; want ErrMachineDown", err)
	}
	sendOperator(t, op, mcalls.StopMaintenance(machine))
	if err := m.AddAgent(newStubAgent("a1", 1, 1024)); err != nil {
		t.Errorf("re-registering after STOP_MAINTENANCE = %v; want nil", err)
	}
	again := newStubAgent("a2", 1, 1024)
	again.state.Info.Hostname = "127.0.0.2"
	if err := m.AddAgent(again); !errors.Is(err, ErrAgentGone) || !again.has("shutdown") {
		t.Errorf("re-registering a gone agent = %v (shutdown sent: %v); want ErrAgentGone", err, again.has("shutdown"))
	}
}

// TestRegistryDrainResumesOnReregistration: an agent still DRAINING when it
// re-registers is told to drain again and reaches DRAINED.
func TestRegistryDrainResumesOnReregistration(t *testing.T) {
	m := startStubMaster(t)
	a := newStubAgent("a1", 1, 1024)
	if err := m.AddAgent(a); err != nil {
		t.Fatal(err)
	}
	// A task keeps the agent DRAINING.
	task := mesos.Task{TaskID: mesos.TaskID{Value: "t1"}, FrameworkID: mesos.FrameworkID{Value: "fw"},
		AgentID: mesos.AgentID{Value: "a1"}, State: mesos.TASK_RUNNING.Enum()}
	a.state.Frameworks = []mesos.FrameworkInfo{{ID: &mesos.FrameworkID{Value: "fw"}, User: "root", Name: "fw",
		Capabilities: []mesos.FrameworkInfo_Capability{{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE}}}}
	a.state.Tasks = []mesos.Task{task}
	if err := m.AddAgent(a); err != nil {
		t.Fatal(err)
	}
	code, _, body := postRaw(t, m.url+"/api/v1", `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a1"}}}`, nil)
	if code != 200 {
		t.Fatalf("DRAIN_AGENT = %d %q", code, body)
	}
	m.MarkAgentUnreachable("a1")
	again := newStubAgent("a1", 1, 1024)
	again.state = a.state
	if err := m.AddAgent(again); err != nil {
		t.Fatal(err)
	}
	if !again.has("drain") {
		t.Error("a DRAINING agent that re-registered was not told to drain")
	}
	if d := agentEntryOf(t, m.url, "a1").GetDrainInfo(); d.GetState() != mesos.DrainState_DRAINING {
		t.Errorf("drain info after re-registration = %v; want DRAINING", d)
	}
	// The task ends; the resumed drain watch moves the agent to DRAINED.
	again.state.Tasks = nil
	if err := m.AddAgent(again); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "DRAINED", 5*time.Second, func() bool {
		return agentEntryOf(t, m.url, "a1").GetDrainInfo().GetState() == mesos.DrainState_DRAINED
	})
}

// TestGetAgentsDoesNotMutate: GET_AGENTS reports a drained-but-unwatched
// agent as it is; only the drain watch moves it to DRAINED.
func TestGetAgentsDoesNotMutate(t *testing.T) {
	m := startStubMaster(t, func(c *MasterConfig) { c.AllocationInterval = time.Hour })
	if err := m.AddAgent(newStubAgent("a1", 1, 1024)); err != nil {
		t.Fatal(err)
	}
	code, _, body := postRaw(t, m.url+"/api/v1", `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a1"},"mark_gone":true}}`, nil)
	if code != 200 {
		t.Fatalf("DRAIN_AGENT = %d %q", code, body)
	}
	for range 3 {
		a := agentEntryOf(t, m.url, "a1")
		if a == nil || a.GetDrainInfo().GetState() != mesos.DrainState_DRAINING {
			t.Fatalf("GET_AGENTS changed the agent: %+v", a)
		}
	}
}
