package emulator

import (
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

func TestOperatorWire(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	url := cl.LeaderURL()
	cases := []struct {
		body, accept string
		code         int
		want         string
		ctype        string
	}{
		{`{"type":"GET_HEALTH"}`, "", 200, `{"type":"GET_HEALTH","get_health":{"healthy":true}}`, "application/json"},
		{`{"type":"GET_HEALTH"}`, "text/plain", 406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'", "text/plain; charset=utf-8"},
		{`{"type":"STOP_MAINTENANCE"}`, "", 400, "Failed to validate master::Call: Expecting 'stop_maintenance' to be present", "text/plain; charset=utf-8"},
		{`{}`, "", 400, "Failed to validate master::Call: Expecting 'type' to be present", "text/plain; charset=utf-8"},
		{`{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"nope"}}}`, "", 404, "Agent 'nope' not found", "text/plain; charset=utf-8"},
		{`{"type":"TEARDOWN","teardown":{"framework_id":{"value":"nope"}}}`, "", 400, "No framework found with ID nope", "text/plain; charset=utf-8"},
		{`{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"nope"}}}`, "", 400, "Unknown agent", "text/plain; charset=utf-8"},
		{`{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"nope"}}}`, "", 400, "Agent is not deactivated", "text/plain; charset=utf-8"},
		{`{"type":"START_MAINTENANCE","start_maintenance":{}}`, "", 400, "List of machines is empty", "text/plain; charset=utf-8"},
		{`{"type":"START_MAINTENANCE","start_maintenance":{"machines":[{"hostname":"x","ip":"10.0.0.1"}]}}`, "", 400,
			`Machine '{"hostname":"x","ip":"10.0.0.1"}' is not part of a maintenance schedule`, "text/plain; charset=utf-8"},
		{`{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[{"machine_ids":[{}],"unavailability":{"start":{"nanoseconds":1}}}]}}}`, "", 400,
			"Both 'hostname' and 'ip' for a machine are empty", "text/plain; charset=utf-8"},
		{`{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{}}}`, "", 200, "", ""},
	}
	for _, c := range cases {
		h := map[string]string{}
		if c.accept != "" {
			h["Accept"] = c.accept
		}
		code, hdr, body := postRaw(t, url+"/api/v1", c.body, h)
		if code != c.code || body != c.want || hdr.Get("Content-Type") != c.ctype {
			t.Errorf("%s (Accept %q) = %d %q %q; want %d %q %q", c.body, c.accept, code, hdr.Get("Content-Type"), body, c.code, c.ctype, c.want)
		}
	}
}

func TestOperatorStateQueries(t *testing.T) {
	cl := startCluster(t, fastCluster(2))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("state"))
	offers := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS))
	launchOn(t, c, offers.Offers.Offers[0], "t1")

	op := operatorSender(cl.LeaderURL())
	gm := sendOperator(t, op, mcalls.GetMaster()).GetMaster
	if gm == nil || gm.MasterInfo.ID != cl.Leader().ID() || gm.GetStartTime() <= 0 || gm.GetElectedTime() <= 0 {
		t.Errorf("GET_MASTER = %+v", gm)
	}
	st := sendOperator(t, op, mcalls.GetState()).GetState
	if n := len(st.GetGetAgents().Agents); n != 2 {
		t.Errorf("GET_STATE agents = %d; want 2", n)
	}
	if fws := st.GetGetFrameworks().Frameworks; len(fws) != 1 || fws[0].FrameworkInfo.ID.Value != c.fid || !fws[0].Connected || !fws[0].Active {
		t.Errorf("GET_STATE frameworks = %+v", fws)
	}
	tasks := st.GetGetTasks().Tasks
	if len(tasks) != 1 || tasks[0].TaskID.Value != "t1" || tasks[0].GetState() != mesos.TASK_RUNNING {
		t.Errorf("GET_STATE tasks = %+v", tasks)
	}
	// The master does not track the command executors agents generate.
	if ex := sendOperator(t, op, mcalls.GetExecutors()).GetExecutors; len(ex.Executors) != 0 {
		t.Errorf("GET_EXECUTORS = %+v", ex)
	}
	for _, a := range sendOperator(t, op, mcalls.GetAgents()).GetAgents.Agents {
		if !a.Active || a.Version == "" || a.RegisteredTime == nil || len(a.TotalResources) == 0 {
			t.Errorf("GET_AGENTS agent = %+v", a)
		}
	}
}

func TestOperatorDeactivateReactivate(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	agentID := cl.Agents()[0].ID()
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("deactivate"))
	offer := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS)).Offers.Offers[0]

	code, hdr, body := postRaw(t, cl.LeaderURL()+"/api/v1",
		`{"type":"DEACTIVATE_AGENT","deactivate_agent":{"agent_id":{"value":"`+agentID.Value+`"}}}`, nil)
	if code != 200 || body != "" || hdr.Get("Content-Type") != "" {
		t.Fatalf("DEACTIVATE_AGENT = %d %q %q", code, hdr.Get("Content-Type"), body)
	}
	ev := waitEvent(t, c, "rescind", isType(scheduler.Event_RESCIND))
	if ev.Rescind.OfferID != offer.ID {
		t.Errorf("rescinded %v; want %v", ev.Rescind.OfferID, offer.ID)
	}
	// No offers while deactivated: several allocation intervals pass quietly.
	quiet := time.After(300 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-c.events:
			if ev.Type == scheduler.Event_OFFERS {
				t.Fatal("offer for a deactivated agent")
			}
		case <-quiet:
			done = true
		}
	}
	code, _, body = postRaw(t, cl.LeaderURL()+"/api/v1",
		`{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"`+agentID.Value+`"}}}`, nil)
	if code != 200 {
		t.Fatalf("REACTIVATE_AGENT = %d %q", code, body)
	}
	waitEvent(t, c, "offers after reactivation", isType(scheduler.Event_OFFERS))
}

func TestOperatorMaintenance(t *testing.T) {
	cl := startCluster(t, fastCluster(2))
	agent := cl.Agents()[0]
	info := agent.Info()
	machine := mesos.MachineID{Hostname: proto.String(strings.ToUpper(info.Hostname)), IP: proto.String("127.0.0.1")}
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("maint"))
	var offer mesos.Offer
	waitEvent(t, c, "offer of agent 0", func(ev *scheduler.Event) bool {
		if ev.Type != scheduler.Event_OFFERS {
			return false
		}
		for _, o := range ev.Offers.Offers {
			if o.AgentID == *info.ID {
				offer = o
				return true
			}
		}
		return false
	})
	launchOn(t, c, offer, "t1")

	op := operatorSender(cl.LeaderURL())
	start := time.Now().Add(time.Hour)
	unavail := mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: start.UnixNano()}}
	sched := maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: []mesos.MachineID{machine}, Unavailability: unavail}}}
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(sched))

	// The agent is offered again at once, its offers carrying the
	// unavailability; in the same allocation run, after the offers, the
	// framework running a task there gets an inverse offer
	// (HierarchicalAllocatorProcess::_generateOffers: __generateOffers, then
	// generateInverseOffers).
	waitEvent(t, c, "offer with unavailability", func(ev *scheduler.Event) bool {
		if ev.Type == scheduler.Event_INVERSE_OFFERS {
			t.Fatalf("inverse offer before the agent's offer with unavailability: %v", ev.InverseOffers)
		}
		if ev.Type != scheduler.Event_OFFERS {
			return false
		}
		for _, o := range ev.Offers.Offers {
			if o.AgentID == *info.ID && o.Unavailability != nil && o.Unavailability.Start.Nanoseconds == start.UnixNano() {
				return true
			}
		}
		return false
	})
	inv := waitEvent(t, c, "inverse offer", isType(scheduler.Event_INVERSE_OFFERS)).InverseOffers.InverseOffers[0]
	if *inv.AgentID != *info.ID || inv.Unavailability.Start.Nanoseconds != start.UnixNano() || len(inv.Resources) != 0 {
		t.Errorf("inverse offer = %+v", inv)
	}
	got := sendOperator(t, op, mcalls.GetMaintenanceSchedule()).GetMaintenanceSchedule
	if !proto.Equal(&got.Schedule, &sched) {
		t.Errorf("GET_MAINTENANCE_SCHEDULE = %+v", got.Schedule)
	}
	c.mustCall(calls.DeclineInverseOffers(inv.OfferID))
	testtool.WaitFor(t, "DECLINE in maintenance status", 5*time.Second, func() bool {
		status := sendOperator(t, op, mcalls.GetMaintenanceStatus()).GetMaintenanceStatus.Status
		return len(status.DrainingMachines) == 1 && len(status.DrainingMachines[0].Statuses) == 1 &&
			status.DrainingMachines[0].Statuses[0].GetStatus() == allocator.InverseOfferStatus_DECLINE &&
			status.DrainingMachines[0].Statuses[0].FrameworkID.Value == c.fid
	})

	// STOP before START is refused; START removes the agent: TASK_LOST /
	// REASON_AGENT_REMOVED and FAILURE.
	code, _, body := postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"STOP_MAINTENANCE","stop_maintenance":{"machines":[{"hostname":"`+
		*machine.Hostname+`","ip":"127.0.0.1"}]}}`, nil)
	if want := `Machine '{"hostname":"` + *machine.Hostname + `","ip":"127.0.0.1"}' is not in DOWN mode and cannot be brought up`; code != 400 || body != want {
		t.Errorf("early STOP_MAINTENANCE = %d %q; want 400 %q", code, body, want)
	}
	sendOperator(t, op, mcalls.StartMaintenance(machine))
	lost := waitEvent(t, c, "t1 lost", isUpdate("t1", mesos.TASK_LOST))
	// Master::_removeSlave: "Agent <hostname> removed: <cause>", the cause
	// given by Master::Http::_startMaintenance.
	if st := lost.Update.Status; st.GetReason() != mesos.REASON_AGENT_REMOVED ||
		st.GetMessage() != "Agent "+info.Hostname+" removed: Operator initiated 'Machine DOWN'" {
		t.Errorf("update = %v %q; want REASON_AGENT_REMOVED, \"Agent %s removed: Operator initiated 'Machine DOWN'\"",
			st.GetReason(), st.GetMessage(), info.Hostname)
	}
	waitEvent(t, c, "FAILURE", func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_FAILURE && ev.Failure.GetAgentID().GetValue() == info.ID.Value
	})
	status := sendOperator(t, op, mcalls.GetMaintenanceStatus()).GetMaintenanceStatus.Status
	if len(status.DownMachines) != 1 || len(status.DrainingMachines) != 0 {
		t.Errorf("status after START = %+v", status)
	}
	if n := len(sendOperator(t, op, mcalls.GetAgents()).GetAgents.Agents); n != 1 {
		t.Errorf("%d agents after START_MAINTENANCE; want 1", n)
	}
	// A DOWN machine cannot leave the schedule; STOP brings it up and
	// removes it.
	sched.Windows = nil
	code, _, body = postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{}}}`, nil)
	if !strings.HasSuffix(body, "is deactivated and cannot be removed from the schedule") || code != 400 {
		t.Errorf("dropping a DOWN machine = %d %q", code, body)
	}
	sendOperator(t, op, mcalls.StopMaintenance(machine))
	if got := sendOperator(t, op, mcalls.GetMaintenanceSchedule()).GetMaintenanceSchedule; len(got.Schedule.Windows) != 0 {
		t.Errorf("schedule after STOP = %+v", got.Schedule)
	}
}

func TestOperatorDrainAgent(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	agentID := cl.Agents()[0].ID()
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("drain", mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	offer := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS)).Offers.Offers[0]
	launchOn(t, c, offer, "t1")

	op := operatorSender(cl.LeaderURL())
	code, _, body := postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"`+
		agentID.Value+`"},"max_grace_period":{"seconds":1},"mark_gone":true}}`, nil)
	if code != 200 {
		t.Fatalf("DRAIN_AGENT = %d %q", code, body)
	}
	ev := waitEvent(t, c, "t1 gone by operator", isUpdate("t1", mesos.TASK_GONE_BY_OPERATOR))
	if ev.Update.Status.GetReason() != mesos.REASON_AGENT_DRAINING {
		t.Errorf("drain reason = %v", ev.Update.Status.GetReason())
	}
	agents := sendOperator(t, op, mcalls.GetAgents()).GetAgents.Agents
	if len(agents) != 1 || agents[0].GetDrainInfo().GetState() != mesos.DrainState_DRAINING ||
		agents[0].GetDrainInfo().Config.GetMaxGracePeriod().GetNanoseconds() != int64(time.Second) || agents[0].Active {
		t.Errorf("agent while draining = %+v", agents)
	}
	code, _, body = postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"REACTIVATE_AGENT","reactivate_agent":{"agent_id":{"value":"`+agentID.Value+`"}}}`, nil)
	if code != 400 || body != "Agent is still in the DRAINING state" {
		t.Errorf("REACTIVATE while draining = %d %q", code, body)
	}
	// Once the terminal update is acknowledged the agent is DRAINED, and
	// with mark_gone it is then marked gone.
	c.mustCall(calls.Acknowledge(agentID.Value, "t1", ev.Update.Status.UUID))
	testtool.WaitFor(t, "drained agent marked gone", 5*time.Second, func() bool {
		return len(sendOperator(t, op, mcalls.GetAgents()).GetAgents.Agents) == 0
	})
	code, _, _ = postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"MARK_AGENT_GONE","mark_agent_gone":{"agent_id":{"value":"`+agentID.Value+`"}}}`, nil)
	if code != 200 {
		t.Errorf("MARK_AGENT_GONE of a gone agent = %d; want 200 (idempotent)", code)
	}
}
