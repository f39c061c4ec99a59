package emulator

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/allocator"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

// These conformance tests drive the emulator with the mesos-go v0.0.11
// client healer uses (protobuf codec, httpsched with EndpointCandidates
// returning "") through the calls, events and failures the other tests
// cover only with raw HTTP or not at all.

// nextOffer waits for an OFFERS event and returns its first offer.
func nextOffer(t *testing.T, c *schedClient) mesos.Offer {
	t.Helper()
	return waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS)).Offers.Offers[0]
}

// smallResources is what every test task asks for.
func smallResources() []mesos.Resource {
	return []mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32)}
}

// waitAll waits until every predicate has matched some event, in any order
// (Mesos does not order FAILURE and UPDATE, for one), and returns the
// matching events in predicate order.
func waitAll(t *testing.T, c *schedClient, what string, preds ...func(*scheduler.Event) bool) []*scheduler.Event {
	t.Helper()
	got := make([]*scheduler.Event, len(preds))
	left := len(preds)
	timeout := time.After(10 * time.Second)
	for left > 0 {
		select {
		case ev := <-c.events:
			// One event may satisfy several predicates (an INVERSE_OFFERS
			// event carries a run's inverse offers for every agent).
			for i, p := range preds {
				if got[i] == nil && p(ev) {
					got[i] = ev
					left--
				}
			}
		case <-c.closed:
			t.Fatalf("waiting for %s: stream ended: %v", what, c.err)
		case <-timeout:
			t.Fatalf("timed out waiting for %s (%d of %d seen)", what, len(preds)-left, len(preds))
		}
	}
	return got
}

// expectNone fails if an event matching pred arrives within d; other events
// are skipped. It is an absence check over a bounded window.
func expectNone(t *testing.T, c *schedClient, d time.Duration, what string, pred func(*scheduler.Event) bool) {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev := <-c.events:
			if pred(ev) {
				t.Fatalf("unexpected %s: %v", what, ev)
			}
		case <-timeout:
			return
		}
	}
}

func ackEvent(t *testing.T, c *schedClient, ev *scheduler.Event) {
	t.Helper()
	st := ev.Update.Status
	c.mustCall(calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID))
}

// agentByID finds a cluster agent.
func agentByID(t *testing.T, cl *Cluster, id mesos.AgentID) *Agent {
	t.Helper()
	for _, a := range cl.Agents() {
		if a.ID() == id {
			return a
		}
	}
	t.Fatalf("no agent %s", id.Value)
	return nil
}

// agentTaskState is a task's state on an agent, or -1 if the agent does not
// know it.
func agentTaskState(a *Agent, taskID string) mesos.TaskState {
	for _, tk := range a.State().Tasks {
		if tk.TaskID.Value == taskID {
			return tk.GetState()
		}
	}
	return -1
}

// SUPPRESS stops offers until REVIVE; the offer outstanding when it came
// stays valid (no RESCIND) and can still be used.
func TestClientSuppressRevive(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("suppress"))
	o := nextOffer(t, c)

	c.mustCall(calls.Suppress())
	// Ten allocation intervals: neither an offer nor a RESCIND.
	c.expectQuiet(500 * time.Millisecond)
	// The outstanding offer is still good; what the launch leaves over goes
	// back without a filter, and still nothing is offered while suppressed.
	launchOn(t, c, o, "t1")
	c.expectQuiet(500 * time.Millisecond)

	c.mustCall(calls.Revive())
	if rest := nextOffer(t, c); rest.AgentID != o.AgentID {
		t.Errorf("offer after REVIVE from %s; want %s", rest.AgentID.Value, o.AgentID.Value)
	}
}

// SHUTDOWN of a real executor process that ignores it: the process gets
// the SHUTDOWN event, is destroyed after the grace period, and the scheduler
// gets FAILURE with the SIGKILL status plus TASK_FAILED /
// REASON_EXECUTOR_TERMINATED for its live task.
func TestClientShutdownProcessExecutor(t *testing.T) {
	const grace = 300 * time.Millisecond
	cfg := fastCluster(1)
	cfg.Agent.FakeExecutors = nil
	cfg.Agent.ExecutorShutdownGracePeriod = grace
	cl := startCluster(t, cfg)
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("shutdown"))
	o := nextOffer(t, c)

	task := executorTask(t, "t1", "e1", "hold", envVar("TESTEXEC_IGNORE_SHUTDOWN", "1"))
	task.AgentID = o.AgentID
	task.Resources = smallResources()
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	running := waitEvent(t, c, "t1 RUNNING", isUpdate("t1", mesos.TASK_RUNNING))
	ackEvent(t, c, running)

	start := time.Now()
	c.mustCall(calls.Shutdown("e1", o.AgentID.Value))
	evs := waitAll(t, c, "TASK_FAILED and FAILURE",
		isUpdate("t1", mesos.TASK_FAILED),
		func(ev *scheduler.Event) bool {
			return ev.Type == scheduler.Event_FAILURE && ev.Failure.GetExecutorID().GetValue() == "e1"
		})
	if el := time.Since(start); el < grace-20*time.Millisecond {
		t.Errorf("executor destroyed %v after SHUTDOWN, within the %v grace period", el, grace)
	}
	failed := evs[0].Update.Status
	if failed.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || failed.GetSource() != mesos.SOURCE_AGENT || len(failed.UUID) != 16 {
		t.Errorf("TASK_FAILED update = %+v; want REASON_EXECUTOR_TERMINATED, SOURCE_AGENT, a uuid", failed)
	}
	ackEvent(t, c, evs[0])
	f := evs[1].Failure
	if f.GetAgentID().GetValue() != o.AgentID.Value || f.Status == nil || syscall.WaitStatus(*f.Status).Signal() != syscall.SIGKILL {
		t.Errorf("FAILURE = %+v; want agent %s and a SIGKILL waitpid status", f, o.AgentID.Value)
	}
	out, err := os.ReadFile(filepath.Join(sandboxOf(t, agentByID(t, cl, o.AgentID), c.fid, "e1"), "stdout"))
	if err != nil || !strings.Contains(string(out), "EVENT SHUTDOWN") {
		t.Errorf("executor never got SHUTDOWN (%v):\n%s", err, out)
	}
}

// MESSAGE both ways and KILL through a real agent and a real executor
// process (the HTTP executor API): the executor echoes framework messages.
func TestClientMessageAndKillProcessExecutor(t *testing.T) {
	cfg := fastCluster(1)
	cfg.Agent.FakeExecutors = nil
	cl := startCluster(t, cfg)
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("messages"))
	o := nextOffer(t, c)
	task := executorTask(t, "t1", "e1", "hold")
	task.AgentID = o.AgentID
	task.Resources = smallResources()
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	ackEvent(t, c, waitEvent(t, c, "t1 RUNNING", isUpdate("t1", mesos.TASK_RUNNING)))

	c.mustCall(calls.Message(o.AgentID.Value, "e1", []byte("ping")))
	msg := waitEvent(t, c, "echoed MESSAGE", isType(scheduler.Event_MESSAGE)).Message
	if string(msg.Data) != "ping" || msg.AgentID != o.AgentID || msg.ExecutorID.Value != "e1" {
		t.Errorf("MESSAGE = %+v; want data ping from e1 on %s", msg, o.AgentID.Value)
	}

	c.mustCall(calls.Kill("t1", o.AgentID.Value))
	killed := waitEvent(t, c, "t1 KILLED", isUpdate("t1", mesos.TASK_KILLED))
	if st := killed.Update.Status; st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) != 16 || st.GetExecutorID().GetValue() != "e1" {
		t.Errorf("TASK_KILLED update = %+v", st)
	}
	ackEvent(t, c, killed)
	testtool.WaitFor(t, "t1 removed from the master", 5*time.Second, func() bool { return masterTaskState(cl.Leader(), c.fid, "t1") == -1 })
}

// KILL of a running task on a real agent (fake executor): TASK_KILLED from
// the executor, and after the ack the task is gone from master and agent.
func TestClientKillRunningTask(t *testing.T) {
	cl, c, agentID := oneTaskCluster(t)
	c.mustCall(calls.Kill("t1", agentID.Value))
	killed := waitEvent(t, c, "t1 KILLED", isUpdate("t1", mesos.TASK_KILLED))
	if st := killed.Update.Status; st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) != 16 || *st.AgentID != agentID {
		t.Errorf("TASK_KILLED update = %+v", st)
	}
	if recs := cl.Recorder().Records(RecordKill); len(recs) != 1 || recs[0].TaskID != "t1" {
		t.Errorf("kill records = %+v", recs)
	}
	ackEvent(t, c, killed)
	a := agentByID(t, cl, agentID)
	testtool.WaitFor(t, "t1 removed", 5*time.Second, func() bool {
		return masterTaskState(cl.Leader(), c.fid, "t1") == -1 && agentTaskState(a, "t1") == -1
	})
}

// LAUNCH_GROUP through the master onto a real agent: every task of the
// group reports TASK_RUNNING (with a uuid, under the group's executor) and
// is acknowledged.
func TestClientLaunchGroup(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("group"))
	o := nextOffer(t, c)
	exec := mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: "g1"},
		Type:       mesos.ExecutorInfo_DEFAULT,
		Resources:  smallResources(),
	}
	var tasks []mesos.TaskInfo
	for _, id := range []string{"ga", "gb"} {
		tasks = append(tasks, mesos.TaskInfo{
			Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID, Resources: smallResources(),
			Command: &mesos.CommandInfo{Value: strPtr("sleep 1000")},
		})
	}
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunchGroup(exec, tasks...)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))
	evs := waitAll(t, c, "both tasks RUNNING", isUpdate("ga", mesos.TASK_RUNNING), isUpdate("gb", mesos.TASK_RUNNING))
	for _, ev := range evs {
		st := ev.Update.Status
		if len(st.UUID) != 16 || st.GetExecutorID().GetValue() != "g1" || *st.AgentID != o.AgentID {
			t.Errorf("RUNNING update = %+v; want a uuid, executor g1, agent %s", st, o.AgentID.Value)
		}
		ackEvent(t, c, ev)
	}
	a := agentByID(t, cl, o.AgentID)
	testtool.WaitFor(t, "group running on the agent", 5*time.Second, func() bool {
		st := a.State()
		return len(st.Executors) == 1 && st.Executors[0].ExecutorID.Value == "g1" &&
			agentTaskState(a, "ga") == mesos.TASK_RUNNING && agentTaskState(a, "gb") == mesos.TASK_RUNNING
	})
	for _, id := range []string{"ga", "gb"} {
		if st := masterTaskState(cl.Leader(), c.fid, id); st != mesos.TASK_RUNNING {
			t.Errorf("master has %s in %v; want TASK_RUNNING", id, st)
		}
	}
}

// Inverse offers with the mesos-go client: UPDATE_MAINTENANCE_SCHEDULE
// (httpmaster) sends INVERSE_OFFERS to the framework running tasks on the
// machine; removing the machine from the schedule rescinds an unanswered one
// (RESCIND_INVERSE_OFFER); ACCEPT_INVERSE_OFFERS and DECLINE_INVERSE_OFFERS
// are recorded in GET_MAINTENANCE_STATUS.
func TestClientInverseOffers(t *testing.T) {
	cl := startCluster(t, fastCluster(2))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("inverse"))
	// A task on each agent, so the framework holds resources on both.
	launched := map[mesos.AgentID]bool{}
	for len(launched) < 2 {
		ev := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS))
		for _, o := range ev.Offers.Offers {
			if !launched[o.AgentID] {
				launched[o.AgentID] = true
				launchOn(t, c, o, "t-"+o.AgentID.Value)
			}
		}
	}
	agents := cl.Agents()
	machine := func(a *Agent) mesos.MachineID {
		return mesos.MachineID{Hostname: proto.String(a.Info().Hostname), IP: proto.String("127.0.0.1")}
	}
	op := operatorSender(cl.LeaderURL())
	unavail := mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(time.Hour).UnixNano()}}
	// inverseFor returns the event's inverse offer for agent a, if any: an
	// allocation run sends its inverse offers in one event per framework.
	inverseFor := func(ev *scheduler.Event, a *Agent) *mesos.InverseOffer {
		if ev.Type != scheduler.Event_INVERSE_OFFERS {
			return nil
		}
		for i, io := range ev.InverseOffers.InverseOffers {
			if *io.AgentID == a.ID() {
				return &ev.InverseOffers.InverseOffers[i]
			}
		}
		return nil
	}
	isInverseFor := func(a *Agent) func(*scheduler.Event) bool {
		return func(ev *scheduler.Event) bool { return inverseFor(ev, a) != nil }
	}

	// Scheduled, then unscheduled before the framework answers: rescinded.
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{
		{MachineIDs: []mesos.MachineID{machine(agents[0])}, Unavailability: unavail}}}))
	inv := inverseFor(waitEvent(t, c, "inverse offer for agent 0", isInverseFor(agents[0])), agents[0])
	if inv.FrameworkID.Value != c.fid || inv.Unavailability.Start != unavail.Start || len(inv.Resources) != 0 {
		t.Errorf("inverse offer = %+v", inv)
	}
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{}))
	resc := waitEvent(t, c, "RESCIND_INVERSE_OFFER", isType(scheduler.Event_RESCIND_INVERSE_OFFER))
	if resc.RescindInverseOffer.InverseOfferID != inv.OfferID {
		t.Errorf("rescinded %s; want %s", resc.RescindInverseOffer.InverseOfferID.Value, inv.OfferID.Value)
	}

	// Both machines scheduled: the framework accepts one inverse offer and
	// declines the other.
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{
		{MachineIDs: []mesos.MachineID{machine(agents[0]), machine(agents[1])}, Unavailability: unavail}}}))
	evs := waitAll(t, c, "inverse offers for both agents", isInverseFor(agents[0]), isInverseFor(agents[1]))
	c.mustCall(calls.AcceptInverseOffers(inverseFor(evs[0], agents[0]).OfferID))
	c.mustCall(calls.DeclineInverseOffers(inverseFor(evs[1], agents[1]).OfferID))
	want := map[string]allocator.InverseOfferStatus_Status{
		agents[0].Info().Hostname: allocator.InverseOfferStatus_ACCEPT,
		agents[1].Info().Hostname: allocator.InverseOfferStatus_DECLINE,
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		status := sendOperator(t, op, mcalls.GetMaintenanceStatus()).GetMaintenanceStatus.Status
		var got []string
		ok := len(status.DrainingMachines) == 2
		for _, dm := range status.DrainingMachines {
			for _, st := range dm.Statuses {
				got = append(got, dm.ID.GetHostname()+":"+st.GetStatus().String()+":"+st.FrameworkID.Value)
			}
			ok = ok && len(dm.Statuses) == 1 && dm.Statuses[0].FrameworkID.Value == c.fid &&
				dm.Statuses[0].GetStatus() == want[strings.ToLower(dm.ID.GetHostname())]
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET_MAINTENANCE_STATUS: %d draining machines, statuses %v; want agent-0 ACCEPT and agent-1 DECLINE by %s",
				len(status.DrainingMachines), got, c.fid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TEARDOWN through the client: the stream ends without an ERROR event, the
// framework is completed, and its tasks and executors are gone from the
// agent.
func TestClientTeardown(t *testing.T) {
	cl, c, agentID := oneTaskCluster(t)
	// mesos-go has no builder for TEARDOWN.
	c.mustCall(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-c.events:
			if ev.Type == scheduler.Event_ERROR {
				t.Errorf("ERROR event after TEARDOWN: %q", ev.Error.Message)
			}
		case <-c.closed:
			done = true
		case <-timeout:
			t.Fatal("stream still open after TEARDOWN")
		}
	}
	for len(c.events) > 0 {
		if ev := <-c.events; ev.Type == scheduler.Event_ERROR {
			t.Errorf("ERROR event after TEARDOWN: %q", ev.Error.Message)
		}
	}
	if !errors.Is(c.err, io.EOF) {
		t.Errorf("stream ended with %v; want EOF (closed by the master)", c.err)
	}

	fws := sendOperator(t, operatorSender(cl.LeaderURL()), mcalls.GetFrameworks()).GetFrameworks
	if len(fws.Frameworks) != 0 || len(fws.CompletedFrameworks) != 1 || fws.CompletedFrameworks[0].FrameworkInfo.ID.Value != c.fid {
		t.Errorf("GET_FRAMEWORKS after TEARDOWN: %d active, completed %+v", len(fws.Frameworks), fws.CompletedFrameworks)
	}
	a := agentByID(t, cl, agentID)
	testtool.WaitFor(t, "framework gone from the agent", 5*time.Second, func() bool {
		st := a.State()
		return len(st.Tasks) == 0 && len(st.Executors) == 0 && len(st.Frameworks) == 0
	})
	var killed bool
	for _, r := range cl.Recorder().Records(RecordKill) {
		killed = killed || r.TaskID == "t1"
	}
	if !killed {
		t.Error("no kill of t1 recorded")
	}
}

// UPDATE_FRAMEWORK through the client (mesos-protocol.md 8.5 pitfall 3):
// the master answers 200 with no Content-Type, which mesos-go v0.0.11
// reports as ProtocolError `unexpected content type: ""` although the
// update took effect. With EndpointCandidates returning "" the stream stays
// open and later calls work.
func TestClientUpdateFrameworkPitfall(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	fi := frameworkInfo("update")
	c.subscribe(fi)
	o := nextOffer(t, c)

	fi.ID = &mesos.FrameworkID{Value: c.fid}
	fi.WebUiURL = proto.String("http://updated.example/")
	err := c.call(calls.UpdateFramework(fi))
	var perr httpcli.ProtocolError
	if !errors.As(err, &perr) || err.Error() != `unexpected content type: ""` {
		t.Fatalf("UPDATE_FRAMEWORK error = %#v; want httpcli.ProtocolError `unexpected content type: \"\"`", err)
	}
	fws := sendOperator(t, operatorSender(cl.LeaderURL()), mcalls.GetFrameworks()).GetFrameworks.Frameworks
	if len(fws) != 1 || fws[0].FrameworkInfo.GetWebUiURL() != "http://updated.example/" {
		t.Errorf("GET_FRAMEWORKS after UPDATE_FRAMEWORK = %+v; want webui_url updated", fws)
	}
	// Still subscribed: the stream is open and calls are accepted.
	select {
	case <-c.closed:
		t.Fatalf("stream ended after UPDATE_FRAMEWORK: %v", c.err)
	default:
	}
	// The offer outstanding before the update is still valid: declined
	// without a filter, the agent is offered again.
	c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(0)))
	if again := nextOffer(t, c); again.AgentID != o.AgentID || again.ID == o.ID {
		t.Errorf("offer after DECLINE = %v", again)
	}
}

// A standby answers SUBSCRIBE with 307; httpsched follows it and subscribes
// at the leader. It keeps the standby as its endpoint, though
// (mesos-protocol.md 8.5 pitfall 2): the next call goes to the standby, gets
// 307, and the client drops its subscription.
func TestClientSubscribeRedirectHalfFollowed(t *testing.T) {
	cfg := fastCluster(1)
	cfg.Masters = 2
	cl := startCluster(t, cfg)
	leader := cl.Leader()
	if !cl.MasterLeading(0) {
		t.Fatal("master 0 does not lead")
	}
	c := newSchedClient(t, cl.MasterURLs()[1], protobufCodec)
	sub := c.subscribe(frameworkInfo("redirect"))
	if sub.Subscribed.MasterInfo.ID != leader.ID() {
		t.Errorf("SUBSCRIBED from master %s; want the leader %s", sub.Subscribed.MasterInfo.ID, leader.ID())
	}
	if st := masterFrameworkConnected(leader, c.fid); !st {
		t.Errorf("framework %s not connected at the leader", c.fid)
	}
	nextOffer(t, c)

	err := c.call(calls.Revive())
	if want := "mesos server sent redirect to: http://" + cl.MasterAddr(0) + "/api/v1/scheduler"; err == nil || err.Error() != want {
		t.Fatalf("REVIVE after a followed redirect: %v; want %q", err, want)
	}
	waitStreamEnd(t, c)
	if !errors.Is(c.err, context.Canceled) {
		t.Errorf("stream ended with %v; want context.Canceled (the client dropped it)", c.err)
	}
	if err := c.call(calls.Revive()); err == nil || !strings.Contains(err.Error(), "no subscription established") {
		t.Errorf("call after the drop: %v; want no subscription established", err)
	}
	testtool.WaitFor(t, "leader sees the framework disconnected", 5*time.Second, func() bool { return !masterFrameworkConnected(leader, c.fid) })
}

func masterFrameworkConnected(m *Master, frameworkID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	return fw != nil && fw.sub != nil
}

// driverCapture is FakeBehavior that also hands each launched task's
// driver to the test, so the test can make the executor send an update at
// a moment of its choosing.
type driverCapture struct {
	FakeBehavior
	drivers chan *FakeDriver
}

func (b driverCapture) Launch(d *FakeDriver, task mesos.TaskInfo) {
	b.drivers <- d
	b.FakeBehavior.Launch(d, task)
}

// Status updates end to end: an unacknowledged update is re-delivered to
// the mesos-go scheduler after the retry interval with the same uuid and
// stops after the ACK; an update sent while the framework is disconnected
// arrives once it resubscribes.
func TestClientStatusUpdateRetry(t *testing.T) {
	const retryMin = 300 * time.Millisecond
	capture := driverCapture{drivers: make(chan *FakeDriver, 1)}
	cfg := fastCluster(1)
	cfg.Agent.StatusUpdateRetryMin = retryMin
	cfg.Agent.StatusUpdateRetryMax = 2 * retryMin
	cfg.Agent.FakeExecutors = func(mesos.FrameworkInfo, mesos.ExecutorInfo) FakeExecutor { return capture }
	cl := startCluster(t, cfg)
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	fi := frameworkInfo("retry")
	fi.Checkpoint = boolTrue()
	fi.FailoverTimeout = proto.Float64(3600)
	c.subscribe(fi)
	o := nextOffer(t, c)
	task := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: o.AgentID, Resources: smallResources(),
		Command: &mesos.CommandInfo{Value: strPtr("sleep 1000")}}
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)).With(calls.RefuseSeconds(0)))

	first := waitEvent(t, c, "t1 RUNNING", isUpdate("t1", mesos.TASK_RUNNING))
	again := waitEvent(t, c, "t1 RUNNING again", isUpdate("t1", mesos.TASK_RUNNING))
	// When the master sent them (the recorder's stamps, free of the test's
	// own scheduling delays).
	var sent []time.Time
	for _, r := range cl.Recorder().Records(RecordStatusUpdate) {
		if r.TaskID == "t1" {
			sent = append(sent, r.At)
		}
	}
	if len(sent) < 2 {
		t.Fatalf("%d deliveries of t1 recorded; want 2", len(sent))
	}
	if gap := sent[1].Sub(sent[0]); gap < retryMin-10*time.Millisecond {
		t.Errorf("update re-delivered after %v; want at least the %v retry interval", gap, retryMin)
	}
	if len(first.Update.Status.UUID) != 16 || !bytes.Equal(first.Update.Status.UUID, again.Update.Status.UUID) {
		t.Errorf("re-delivered uuid %x; want the original %x", again.Update.Status.UUID, first.Update.Status.UUID)
	}
	ackEvent(t, c, again)
	// Several retry intervals: the acknowledged update is not sent again.
	expectNone(t, c, 4*retryMin, "t1 update after its ACK", isType(scheduler.Event_UPDATE))

	// Disconnected (the framework stays registered), the executor reports
	// the task finished; the master has nowhere to send it.
	driver := <-capture.drivers
	if !cl.CloseSubscription(c.fid) {
		t.Fatal("CloseSubscription found no stream")
	}
	waitStreamEnd(t, c)
	testtool.WaitFor(t, "framework disconnected", 5*time.Second, func() bool { return !masterFrameworkConnected(cl.Leader(), c.fid) })
	driver.SendState(task.TaskID, mesos.TASK_FINISHED)
	testtool.WaitFor(t, "master hears of TASK_FINISHED", 5*time.Second, func() bool {
		return masterTaskState(cl.Leader(), c.fid, "t1") == mesos.TASK_FINISHED
	})

	fi.ID = &mesos.FrameworkID{Value: c.fid}
	c2 := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c2.subscribe(fi)
	finished := waitEvent(t, c2, "t1 FINISHED after resubscribing", isUpdate("t1", mesos.TASK_FINISHED))
	if st := finished.Update.Status; len(st.UUID) != 16 || st.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Errorf("TASK_FINISHED update = %+v", st)
	}
	ackEvent(t, c2, finished)
	testtool.WaitFor(t, "t1 removed", 5*time.Second, func() bool { return masterTaskState(cl.Leader(), c.fid, "t1") == -1 })
}

// refusalFilter returns the expiry of the newest refusal filter a
// framework holds on an agent for role "*".
func refusalFilter(m *Master, frameworkID, agentID string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if fw == nil || len(fw.filters[agentID]["*"]) == 0 {
		return time.Time{}, false
	}
	set := fw.filters[agentID]["*"]
	return set[len(set)-1].expires, true
}

// Refusal filters (mesos-protocol.md 1.8, checklist 19), through DECLINE
// from the mesos-go client.
func TestClientRefusalFilters(t *testing.T) {
	// setup: a master with one agent, a subscribed framework, its first offer.
	setup := func(t *testing.T, allocation time.Duration) (*stubMaster, *schedClient, mesos.Offer) {
		m := startStubMaster(t, func(cfg *MasterConfig) { cfg.AllocationInterval = allocation })
		if err := m.AddAgent(newStubAgent("agent-1", 4, 4096)); err != nil {
			t.Fatal(err)
		}
		c := newSchedClient(t, m.url, protobufCodec)
		c.subscribe(frameworkInfo("filters"))
		return m, c, c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	}
	isOffer := isType(scheduler.Event_OFFERS)
	// checkFilter fails unless the filter installed by a DECLINE sent
	// between before and after lasts want.
	checkFilter := func(t *testing.T, m *stubMaster, c *schedClient, before, after time.Time, want time.Duration) {
		t.Helper()
		exp, ok := refusalFilter(m.Master, c.fid, "agent-1")
		if !ok {
			t.Fatalf("no refusal filter; want one of %v", want)
		}
		if exp.Before(before.Add(want)) || exp.After(after.Add(want)) {
			t.Errorf("filter expires %v after the DECLINE; want %v", exp.Sub(before), want)
		}
	}

	t.Run("missing filters mean 5s", func(t *testing.T) {
		t.Parallel()
		m, c, o := setup(t, 50*time.Millisecond)
		decline := calls.Decline(o.ID)
		decline.Decline.Filters = nil
		before := time.Now()
		c.mustCall(decline)
		after := time.Now()
		checkFilter(t, m, c, before, after, 5*time.Second)
		// In real time: nothing for 4.5 s (90 allocation runs), then the
		// agent is offered again once the filter expires.
		expectNone(t, c, time.Until(before.Add(4500*time.Millisecond)), "offer within the default filter", isOffer)
		nextOffer(t, c)
		if el := time.Since(before); el < 5*time.Second || el > 7*time.Second {
			t.Errorf("re-offered %v after DECLINE; want shortly after 5s", el)
		}
	})
	t.Run("negative means 5s", func(t *testing.T) {
		t.Parallel()
		m, c, o := setup(t, 50*time.Millisecond)
		before := time.Now()
		c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(-3 * time.Second)))
		after := time.Now()
		checkFilter(t, m, c, before, after, 5*time.Second)
		expectNone(t, c, time.Second, "offer within the filter", isOffer)
	})
	t.Run("zero means none", func(t *testing.T) {
		t.Parallel()
		m, c, o := setup(t, 50*time.Millisecond)
		before := time.Now()
		c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(0)))
		if _, ok := refusalFilter(m.Master, c.fid, "agent-1"); ok {
			t.Error("refuse_seconds 0 installed a filter")
		}
		nextOffer(t, c)
		if el := time.Since(before); el > 2*time.Second {
			t.Errorf("re-offered %v after DECLINE; want on the next 50ms allocation run", el)
		}
	})
	t.Run("capped at 365 days", func(t *testing.T) {
		t.Parallel()
		m, c, o := setup(t, 50*time.Millisecond)
		before := time.Now()
		c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(400 * 24 * time.Hour)))
		after := time.Now()
		checkFilter(t, m, c, before, after, 365*24*time.Hour)
	})
	t.Run("at least one allocation interval", func(t *testing.T) {
		t.Parallel()
		const interval = time.Second
		m, c, o := setup(t, interval)
		before := time.Now()
		c.mustCall(calls.Decline(o.ID).With(calls.RefuseSeconds(10 * time.Millisecond)))
		after := time.Now()
		checkFilter(t, m, c, before, after, interval)
		// A 10ms filter would let the next periodic run re-offer the agent.
		expectNone(t, c, time.Until(before.Add(900*time.Millisecond)), "offer within one allocation interval", isOffer)
		nextOffer(t, c)
	})
}

// gzip (mesos-protocol.md 0.6): a non-streaming operator response of at
// least 1 KiB is gzip-compressed when the request accepts gzip, and plain
// otherwise; smaller bodies are never compressed.
func TestOperatorGzip(t *testing.T) {
	cl := startCluster(t, fastCluster(4))
	// A transport that neither asks for gzip nor decompresses on its own.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	post := func(body, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, cl.LeaderURL()+"/api/v1", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	decodeState := func(what string, b []byte) {
		t.Helper()
		var r struct {
			Type     string          `json:"type"`
			GetState json.RawMessage `json:"get_state"`
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Type != "GET_STATE" || len(r.GetState) == 0 {
			t.Errorf("%s: body does not decode as GET_STATE (%v): %.200q", what, err, b)
		}
	}

	resp, b := post(`{"type":"GET_STATE"}`, "gzip")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("GET_STATE with Accept-Encoding gzip: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) < 1024 {
		t.Fatalf("GET_STATE body is %d bytes; the test needs at least 1 KiB", len(plain))
	}
	decodeState("gzip", plain)

	resp, b = post(`{"type":"GET_STATE"}`, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("GET_STATE without Accept-Encoding: %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	decodeState("plain", b)

	resp, b = post(`{"type":"GET_HEALTH"}`, "gzip")
	if resp.Header.Get("Content-Encoding") != "" || string(b) != `{"type":"GET_HEALTH","get_health":{"healthy":true}}` {
		t.Errorf("small GET_HEALTH with gzip accepted: Content-Encoding %q body %q; want it plain", resp.Header.Get("Content-Encoding"), b)
	}
}
