package emulator

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
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

// TestInverseOffersResent: after an answer without a refusal filter the next
// allocation run sends a new inverse offer (only one outstanding per
// framework and agent); a resubscribed framework gets a new one; ACCEPT is
// what GET_MAINTENANCE_STATUS then reports.
func TestInverseOffersResent(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	info := cl.Agents()[0].Info()
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	fi := frameworkInfo("inverse")
	fi.FailoverTimeout = proto.Float64(60)
	c.subscribe(fi)
	offer := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS)).Offers.Offers[0]
	launchOn(t, c, offer, "t1")

	machine := mesos.MachineID{Hostname: proto.String(info.Hostname), IP: proto.String("127.0.0.1")}
	op := operatorSender(cl.LeaderURL())
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{{
		MachineIDs:     []mesos.MachineID{machine},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(time.Hour).UnixNano()}}}}}))
	first := waitEvent(t, c, "inverse offer", isType(scheduler.Event_INVERSE_OFFERS)).InverseOffers.InverseOffers[0]

	// While it is outstanding, allocation runs send no other.
	quiet := time.After(300 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-c.events:
			if ev.Type == scheduler.Event_INVERSE_OFFERS {
				t.Fatalf("second inverse offer while one is outstanding: %v", ev.InverseOffers)
			}
		case <-quiet:
			done = true
		}
	}

	c.mustCall(calls.DeclineInverseOffers(first.OfferID).With(calls.RefuseSeconds(0)))
	second := waitEvent(t, c, "inverse offer after DECLINE", isType(scheduler.Event_INVERSE_OFFERS)).InverseOffers.InverseOffers[0]
	if second.OfferID == first.OfferID || *second.AgentID != *info.ID {
		t.Errorf("inverse offer after DECLINE = %v; want a new one for %s", second, info.ID.Value)
	}

	// The framework fails over: its new stream gets a new inverse offer.
	c2 := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	fi.ID = &mesos.FrameworkID{Value: c.fid}
	c2.subscribe(fi)
	third := waitEvent(t, c2, "inverse offer after resubscribe", isType(scheduler.Event_INVERSE_OFFERS)).InverseOffers.InverseOffers[0]
	if third.OfferID == second.OfferID {
		t.Errorf("resubscribed framework got the old inverse offer %v", third.OfferID)
	}
	c2.mustCall(calls.AcceptInverseOffers(third.OfferID))
	testtool.WaitFor(t, "ACCEPT in maintenance status", 5*time.Second, func() bool {
		status := sendOperator(t, op, mcalls.GetMaintenanceStatus()).GetMaintenanceStatus.Status
		return len(status.DrainingMachines) == 1 && len(status.DrainingMachines[0].Statuses) == 1 &&
			status.DrainingMachines[0].Statuses[0].GetStatus() == allocator.InverseOfferStatus_ACCEPT &&
			status.DrainingMachines[0].Statuses[0].FrameworkID.Value == c.fid
	})
}

// TestInverseOfferTimeout: --offer_timeout rescinds an unanswered inverse
// offer, and the next run sends a new one.
func TestInverseOfferTimeout(t *testing.T) {
	cfg := fastCluster(1)
	cfg.Master.OfferTimeout = 200 * time.Millisecond
	cl := startCluster(t, cfg)
	info := cl.Agents()[0].Info()
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(frameworkInfo("inverse-timeout"))
	offer := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS)).Offers.Offers[0]
	launchOn(t, c, offer, "t1")
	machine := mesos.MachineID{Hostname: proto.String(info.Hostname), IP: proto.String("127.0.0.1")}
	sendOperator(t, operatorSender(cl.LeaderURL()), mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{{
		MachineIDs:     []mesos.MachineID{machine},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().UnixNano()}}}}}))
	first := waitEvent(t, c, "inverse offer", isType(scheduler.Event_INVERSE_OFFERS)).InverseOffers.InverseOffers[0]
	waitEvent(t, c, "rescind of the inverse offer", func(ev *scheduler.Event) bool {
		return ev.Type == scheduler.Event_RESCIND_INVERSE_OFFER && ev.RescindInverseOffer.InverseOfferID == first.OfferID
	})
	next := waitEvent(t, c, "new inverse offer", isType(scheduler.Event_INVERSE_OFFERS)).InverseOffers.InverseOffers[0]
	if next.OfferID == first.OfferID {
		t.Error("the timed-out inverse offer came back with its old ID")
	}
}

// TestTaskStatusesDoNotGrowWithRetries: a status with the task's last state
// replaces it (agent retries), and the history is bounded.
func TestTaskStatusesDoNotGrowWithRetries(t *testing.T) {
	m := startStubMaster(t)
	a := newStubAgent("a1", 2, 1024)
	if err := m.AddAgent(a); err != nil {
		t.Fatal(err)
	}
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("statuses"))
	offer := c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	task := mesos.TaskInfo{Name: "t1", TaskID: mesos.TaskID{Value: "t1"}, AgentID: offer.AgentID,
		Resources: []mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32)},
		Command:   &mesos.CommandInfo{Value: strPtr("true")}}
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(offer.ID)))
	testtool.WaitFor(t, "launch", 5*time.Second, func() bool { return a.has("run t1") })

	send := func(state mesos.TaskState) {
		st := mesos.TaskStatus{TaskID: task.TaskID, State: state.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(),
			AgentID: &offer.AgentID, UUID: newUUIDBytes(), Data: []byte("payload")}
		m.StatusUpdate(offer.AgentID, mesos.FrameworkID{Value: c.fid}, st, state)
	}
	statuses := func() []mesos.TaskStatus {
		for _, tk := range sendOperator(t, operatorSender(m.url), mcalls.GetTasks()).GetTasks.Tasks {
			if tk.TaskID.Value == "t1" {
				return tk.Statuses
			}
		}
		t.Fatal("t1 not in GET_TASKS")
		return nil
	}
	for range 10 {
		send(mesos.TASK_RUNNING)
	}
	if got := statuses(); len(got) != 1 || got[0].GetState() != mesos.TASK_RUNNING || got[0].Data != nil {
		t.Errorf("after 10 RUNNING retries: %d statuses %v; want one RUNNING without data", len(got), got)
	}
	for i := range 3 * maxTaskStatuses {
		send([]mesos.TaskState{mesos.TASK_STARTING, mesos.TASK_RUNNING}[i%2])
	}
	if got := statuses(); len(got) != maxTaskStatuses {
		t.Errorf("%d statuses after flapping; want the bound %d", len(got), maxTaskStatuses)
	}
}

func TestUnreachableTasksBounded(t *testing.T) {
	m := &Master{}
	fw := newFramework("fw", frameworkInfo("fw"))
	for i := range defaultMaxUnreachableTasks + 5 {
		tk := &mesos.Task{TaskID: mesos.TaskID{Value: fmt.Sprintf("t%05d", i)},
			Statuses: []mesos.TaskStatus{{Timestamp: proto.Float64(float64(i))}}}
		m.addUnreachableTaskLocked(fw, tk)
	}
	if n := len(fw.unreachableTasks); n != defaultMaxUnreachableTasks {
		t.Fatalf("%d unreachable tasks; want %d", n, defaultMaxUnreachableTasks)
	}
	for i := range 5 {
		if _, ok := fw.unreachableTasks[fmt.Sprintf("t%05d", i)]; ok {
			t.Errorf("oldest unreachable task t%05d kept", i)
		}
	}
}

func TestOperatorExplicitUnknownType(t *testing.T) {
	m := startStubMaster(t)
	code, _, body := postRaw(t, m.url+"/api/v1", `{"type":"UNKNOWN"}`, nil)
	if code != http.StatusNotImplemented {
		t.Errorf(`{"type":"UNKNOWN"} = %d %q; want 501`, code, body)
	}
	code, _, body = postRaw(t, m.url+"/api/v1", `{}`, nil)
	if want := "Failed to validate master::Call: Expecting 'type' to be present"; code != 400 || body != want {
		t.Errorf("{} = %d %q; want 400 %q", code, body, want)
	}
	code, _, body = postRaw(t, m.url+"/api/v1", `{"type":"NOT_A_CALL"}`, nil)
	if want := "Failed to validate master::Call: Expecting 'type' to be present"; code != 400 || body != want {
		t.Errorf("unknown type name = %d %q; want 400 %q", code, body, want)
	}
}

func TestReconcileOperationsAcceptNegotiation(t *testing.T) {
	m := startStubMaster(t)
	s := rawSubscribe(t, m.url, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"ops"}}}`)
	ev, _ := s.event(t)
	fid := ev.Subscribed.FrameworkID.Value
	call := fmt.Sprintf(`{"type":"RECONCILE_OPERATIONS","framework_id":{"value":%q},"reconcile_operations":{}}`, fid)
	hdr := map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": s.resp.Header.Get("Mesos-Stream-Id"), "Accept": "text/html"}
	expectError(t, rawPost(t, m.url+"/api/v1/scheduler", call, hdr),
		http.StatusNotAcceptable, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'")
	hdr["Accept"] = "application/json"
	if resp := rawPost(t, m.url+"/api/v1/scheduler", call, hdr); resp.StatusCode != http.StatusAccepted {
		t.Errorf("RECONCILE_OPERATIONS accepting JSON = %d", resp.StatusCode)
	}
	// Other calls do not negotiate.
	hdr["Accept"] = "text/html"
	revive := fmt.Sprintf(`{"type":"REVIVE","framework_id":{"value":%q}}`, fid)
	if resp := rawPost(t, m.url+"/api/v1/scheduler", revive, hdr); resp.StatusCode != http.StatusAccepted {
		t.Errorf("REVIVE with Accept: text/html = %d; want 202", resp.StatusCode)
	}
}

// TestStallSubscription: a stalled stream stays open and writes nothing,
// not even heartbeats, until resumed; then the queued events arrive.
func TestStallSubscription(t *testing.T) {
	m := startStubMaster(t, func(c *MasterConfig) { c.HeartbeatInterval = 50 * time.Millisecond })
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("stall"))
	c.next(scheduler.Event_HEARTBEAT)
	if !m.StallSubscription(c.fid) {
		t.Fatal("StallSubscription: no stream")
	}
	// A batch the pump took just before the stall may still be written.
	drain := time.After(100 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-c.events:
		case <-drain:
			done = true
		}
	}
	if err := m.AddAgent(newStubAgent("a1", 1, 1024)); err != nil { // an OFFERS event queues up
		t.Fatal(err)
	}
	quiet := time.After(400 * time.Millisecond)
	for done := false; !done; {
		select {
		case ev := <-c.events:
			t.Fatalf("%s written to a stalled stream", ev.Type)
		case <-c.closed:
			t.Fatalf("stalled stream ended: %v", c.err)
		case <-quiet:
			done = true
		}
	}
	recs := m.Recorder().Records(RecordFault)
	if len(recs) == 0 || recs[len(recs)-1].Type != "stall_subscription" || recs[len(recs)-1].FrameworkID != c.fid {
		t.Errorf("fault records = %+v", recs)
	}
	m.ResumeSubscription(c.fid)
	c.next(scheduler.Event_OFFERS)
	c.next(scheduler.Event_HEARTBEAT)
}

func TestCallFaultsPerAPI(t *testing.T) {
	cl := startCluster(t, fastCluster(1))
	url := cl.LeaderURL()
	cl.FailCallsFor(APIOperator, http.StatusServiceUnavailable, 0)
	if code, _, _ := postRaw(t, url+"/api/v1", `{"type":"GET_HEALTH"}`, nil); code != http.StatusServiceUnavailable {
		t.Errorf("operator call under fault = %d; want 503", code)
	}
	// The scheduler API is not selected.
	c := newSchedClient(t, url, protobufCodec)
	c.subscribe(frameworkInfo("faults"))

	executorURL := "http://" + cl.Agents()[0].Endpoint() + "/api/v1/executor"
	cl.FailCallsFor(APIExecutor, http.StatusServiceUnavailable, 0)
	expectError(t, rawPost(t, executorURL, `{}`, jsonHeaders), http.StatusServiceUnavailable, "Service Unavailable")
	cl.FailCallsFor(APIOperator|APIExecutor, 0, 0)
	if code, _, body := postRaw(t, url+"/api/v1", `{"type":"GET_HEALTH"}`, nil); code != http.StatusOK {
		t.Errorf("operator call after clearing = %d %q", code, body)
	}
	if resp := rawPost(t, executorURL, `{}`, jsonHeaders); resp.StatusCode == http.StatusServiceUnavailable {
		t.Error("executor call still failing after clearing")
	}
	var executorFaults int
	for _, r := range cl.Recorder().Records(RecordFault) {
		if r.Type == "executor_call_fault" {
			executorFaults++
		}
	}
	if executorFaults != 2 {
		t.Errorf("%d executor call fault records; want 2 (set, clear)", executorFaults)
	}
}

// TestMasterTimersStopOnClose: timers the master schedules (here a delayed
// framework message) are tracked and stopped by Close. Close waits for every
// timer it did not stop, so its returning at once with an hour-long timer
// pending proves the timer was stopped, and a stopped timer never fires: no
// absence window is needed.
func TestMasterTimersStopOnClose(t *testing.T) {
	m := NewMaster(MasterConfig{AllocationInterval: time.Hour, AgentPingTimeout: time.Hour})
	m.Lead()
	var fired atomic.Bool
	m.mu.Lock()
	m.afterLocked(time.Hour, func() { fired.Store(true) })
	n := len(m.timers)
	m.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d tracked timers; want 1", n)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		m.Close()
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close is waiting for a pending timer instead of stopping it")
	}
	m.mu.Lock()
	n = len(m.timers)
	late := m.afterLocked(time.Nanosecond, func() { fired.Store(true) })
	m.mu.Unlock()
	if n != 0 || late.t != nil || fired.Load() {
		t.Errorf("after Close: %d tracked timers, timer scheduled after Close started: %v, fired: %v; want none", n, late.t != nil, fired.Load())
	}
}

func TestDelayedFrameworkMessageIsTracked(t *testing.T) {
	m := startStubMaster(t)
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("delayed"))
	m.SetFrameworkMessageFault(func(string, string, string, []byte) (bool, time.Duration) { return false, time.Hour })
	m.ExecutorMessage(mesos.AgentID{Value: "a1"}, mesos.FrameworkID{Value: c.fid}, mesos.ExecutorID{Value: "e"}, []byte("x"))
	m.mu.Lock()
	n := len(m.timers)
	m.mu.Unlock()
	if n != 1 {
		t.Errorf("%d tracked timers after a delayed message; want 1", n)
	}
}

func TestRecorderLimit(t *testing.T) {
	r := &Recorder{Limit: 10}
	for i := range 25 {
		r.Add(Record{Kind: RecordFault, Detail: fmt.Sprint(i)})
	}
	recs := r.Records()
	if len(recs) != 10 || recs[0].Detail != "15" || recs[9].Detail != "24" || r.Dropped() != 15 {
		var details []string
		for _, x := range recs {
			details = append(details, x.Detail)
		}
		t.Errorf("records %s, dropped %d; want 15..24, dropped 15", strings.Join(details, ","), r.Dropped())
	}
	var unlimited Recorder // the zero value keeps everything
	for range DefaultRecorderLimit + 5 {
		unlimited.Add(Record{})
	}
	if len(unlimited.Records()) != DefaultRecorderLimit+5 || unlimited.Dropped() != 0 {
		t.Error("unlimited recorder dropped records")
	}
}
