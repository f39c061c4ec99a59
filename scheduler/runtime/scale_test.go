package runtime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
	"unsafe"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
)

// What the runtime does at the size of a large cluster (the scale run,
// docs/scale.md, measures it against the real binary).

// offers is one OFFERS event with an offer from each of n agents a1..an.
func offers(n int) mesosconn.Event {
	var os []mesos.Offer
	for i := 1; i <= n; i++ {
		os = append(os, mesos.Offer{
			ID: mesos.OfferID{Value: fmt.Sprintf("o%d", i)}, AgentID: mesos.AgentID{Value: fmt.Sprintf("a%d", i)},
			Hostname: fmt.Sprintf("h%d", i), FrameworkID: mesos.FrameworkID{Value: "fw-1"},
			Resources: []mesos.Resource{
				{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4}},
				{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4096}},
			},
		})
	}
	return mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: os}}}
}

// The first OFFERS event of a large cluster places monitors only as fast
// as the call queue takes their ACCEPTs; the other offers are declined
// with the short filter, to come back, and no call is dropped.
func TestMonitorPlacementKeepsToTheCallQueue(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Monitor = testMonitor() })
	h.elect()
	h.subscribe(1)
	const n = callQueueSize + 500
	h.m.events <- offers(n)
	h.waitFor("the declines", func() bool { return len(h.m.callsOf(scheduler.Call_DECLINE)) > 0 })
	accepts := len(h.m.callsOf(scheduler.Call_ACCEPT))
	declined := 0
	for _, c := range h.m.callsOf(scheduler.Call_DECLINE) {
		if c.Decline.Filters.GetRefuseSeconds() <= shortDecline.Seconds() {
			declined += len(c.Decline.OfferIDs)
		}
	}
	if accepts == 0 || accepts > callQueueSize/2 {
		t.Errorf("%d monitors placed from one event of %d offers; want some, at most %d", accepts, n, callQueueSize/2)
	}
	// Every offer answered: no ACCEPT was dropped on a full queue.
	if accepts+declined != n {
		t.Errorf("%d placed and %d declined with the short filter, of %d offers", accepts, declined, n)
	}
}

// A batch lets go of what a large flush made it allocate.
func TestBatchReleasesLargeArrays(t *testing.T) {
	var b batch
	var rd coordinator.Ready
	for i := range 2 * batchKeep {
		rd.Persist.Agents = append(rd.Persist.Agents, coordinator.AgentRecord{ID: coordinator.AgentID(fmt.Sprint("a", i))})
	}
	b.add(rd)
	b.reset()
	if cap(b.agents) != 0 || b.index != nil {
		t.Fatalf("after a batch of %d records the batch holds %d slots and an index of %d", 2*batchKeep, cap(b.agents), len(b.index))
	}
	b.add(coordinator.Ready{Persist: coordinator.Persist{Agents: rd.Persist.Agents[:2]}})
	b.reset()
	if cap(b.agents) == 0 {
		t.Fatal("a small batch's array was not kept for the next flush")
	}
}

// Agents running the same executor share one ExecutorInfo.
func TestExecutorInfoShared(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Monitor = testMonitor() })
	h.elect()
	h.subscribe(1)
	h.m.events <- offers(3)
	h.waitFor("three monitors placed", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 3 })
	var shared bool
	var n int
	if _, err := h.rt.onLoop(context.Background(), false, func(t *term, done func()) {
		defer done()
		shared = t.executorOf("a1") == t.executorOf("a2") && t.executorOf("a2") == t.executorOf("a3") && t.executorOf("a1") != nil
		n = len(t.executorInfos)
	}); err != nil {
		t.Fatal(err)
	}
	if !shared || n != 1 {
		t.Fatalf("three agents' executors shared: %t, %d distinct ExecutorInfos kept; want one shared", shared, n)
	}
}

func testMonitor() *healerpb.MonitorConfig {
	return &healerpb.MonitorConfig{Checks: []healerpb.Check{{Name: "zk", Problem: "p", Kind: healerpb.CHECK_KIND_TCP,
		Address: "127.0.0.1:1", IntervalNs: int64(time.Minute), TimeoutNs: int64(time.Second),
		Envelope: healerpb.Envelope{HasMin: true, Min: 1}}}}
}

// healer_zookeeper_connected is 1 while a leader's session is usable,
// from the start of its term (the scale run found a leader that never lost
// its session reporting 0).
func TestZooKeeperConnectedMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(c *Config) { c.Metrics = NewMetrics(reg) })
	h.elect()
	h.subscribe(1)
	gauge := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "healer_zookeeper_connected" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	if g := gauge(); g != 1 {
		t.Fatalf("healer_zookeeper_connected %v while leading, want 1", g)
	}
	h.termCtx()
	h.waitFor("the term's end", func() bool { return h.rt.term() == nil })
	if g := gauge(); g != 0 {
		t.Fatalf("healer_zookeeper_connected %v after the term, want 0", g)
	}
}

// BenchmarkOffersEvent35k: the loop's time for one OFFERS event of 35,000
// agents of which it needs none (the usual event of a large cluster),
// until its DECLINE is sent.
func BenchmarkOffersEvent35k(b *testing.B) {
	h := newHarness(b, nil)
	h.elect()
	h.subscribe(1)
	ev := offers(35_000)
	b.ResetTimer()
	for i := range b.N {
		h.m.events <- ev
		// Polled, not waited on through h.waitFor: its own cost would be
		// measured; 100 µs of polling is nothing beside the event (~150 ms).
		deadline := time.Now().Add(10 * time.Second)
		for len(h.m.callsOf(scheduler.Call_DECLINE)) <= i {
			if time.Now().After(deadline) {
				b.Fatalf("no DECLINE for OFFERS event %d within 10s", i+1)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// The maps kept per agent hold the inventory's copy of its id, not the
// copy each offer, update or message brings.
func TestAgentIDsShared(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Monitor = testMonitor() })
	h.m.onOp = agentsAnswer("a1")
	h.elect()
	h.subscribe(1)
	h.known("a1")
	h.m.events <- offers(1)
	h.waitFor("the monitor placed", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 1 })
	data, err := taskspec.EncodeMonitorReport(&healerpb.MonitorReport{AgentId: "a1", AtUnixNano: 1})
	if err != nil {
		t.Fatal(err)
	}
	h.m.events <- mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
		AgentID: mesos.AgentID{Value: string([]byte("a1"))}, ExecutorID: mesos.ExecutorID{Value: "e"}, Data: data}}}
	var bad []string
	h.waitFor("the report taken", func() bool {
		ok := false
		if _, err := h.rt.onLoop(context.Background(), false, func(t *term, done func()) {
			defer done()
			mon := t.monitors.byAgent["a1"]
			if ok = mon != nil && mon.lastReport != 0; !ok {
				return
			}
			canon := unsafe.StringData(t.agents.known["a1"].id)
			bad = nil
			check := func(what string, keys []string) {
				for _, k := range keys {
					if k == "a1" && unsafe.StringData(k) != canon {
						bad = append(bad, what)
					}
				}
			}
			check("monitors", slices.Collect(maps.Keys(t.monitors.byAgent)))
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	})
	if len(bad) > 0 {
		t.Fatalf("maps holding their own copy of the agent id: %v", bad)
	}
}

// A departed agent's machine stays addressable: a drain window it was in
// is ended by its machine id after the agent is gone.
func TestDepartedAgentKeepsItsMachine(t *testing.T) {
	var v inventory
	v.init(nil)
	v.known["a1"] = &agentInfo{id: "a1", hostname: "h1", ip: "10.0.0.1"}
	v.forget("a1")
	if v.isKnown("a1") {
		t.Fatal("a1 still known")
	}
	for _, q := range [][2]string{{"a1", "h1"}, {"a2", "h1"}} {
		m, ok := v.machine(q[0], q[1])
		if !ok || m.GetHostname() != "h1" || m.GetIP() != "10.0.0.1" {
			t.Errorf("machine(%s, %s) = %v, %t; want h1 10.0.0.1", q[0], q[1], m, ok)
		}
	}
}

// Monitor tasks are known by agent and seq, outside term.tasks: a
// reconciliation names them, a second monitor on an agent is killed, and
// the newest report taken from an agent outlives its monitor (a late
// report of the old one says nothing new).
func TestMonitorTasksByAgentAndSeq(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Monitor = testMonitor() })
	h.m.onOp = agentsAnswer("a1")
	h.elect()
	h.subscribe(1)
	h.known("a1")
	h.m.events <- offers(1)
	h.waitFor("the monitor placed", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 1 })
	mon := h.m.callsOf(scheduler.Call_ACCEPT)[0].Accept.Operations[0].Launch.TaskInfos[0].TaskID
	if mon.Value != taskspec.MonitorTaskID("a1", 1) {
		t.Fatalf("monitor task %s", mon.Value)
	}
	h.update(mesos.TaskStatus{TaskID: mon, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_RUNNING.Enum()})

	// A new subscription reconciles what healer counts on.
	before := len(h.m.callsOf(scheduler.Call_RECONCILE))
	h.m.events <- mesosconn.Event{Gen: 2, Subscribed: &mesosconn.Subscribed{FrameworkID: "fw-1", Master: "m:5050"}}
	h.waitFor("the second reconciliation", func() bool { return len(h.m.callsOf(scheduler.Call_RECONCILE)) >= before+3 })
	named, marker := false, ""
	for _, c := range h.m.callsOf(scheduler.Call_RECONCILE)[before:] {
		for _, tk := range c.Reconcile.Tasks {
			named = named || tk.TaskID == mon
			if isMarkerID(tk.TaskID.Value) {
				marker = tk.TaskID.Value
			}
		}
	}
	if !named {
		t.Error("the reconciliation did not name the monitor task")
	}
	h.update(mesos.TaskStatus{TaskID: mesos.TaskID{Value: marker}, State: mesos.TASK_LOST.Enum(),
		Reason: mesos.REASON_RECONCILIATION.Enum()})

	surplus := mesos.TaskID{Value: taskspec.MonitorTaskID("a1", 7)}
	h.update(mesos.TaskStatus{TaskID: surplus, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_RUNNING.Enum()})
	h.waitFor("the surplus monitor killed", func() bool {
		for _, c := range h.m.callsOf(scheduler.Call_KILL) {
			if c.Kill.TaskID == surplus {
				return true
			}
		}
		return false
	})

	report := func(at int64, violated bool) {
		rep := &healerpb.MonitorReport{AgentId: "a1", AtUnixNano: at}
		if violated {
			rep.Violations = []healerpb.Violation{{Check: "c", Problem: "p", Message: "bad"}}
		}
		data, err := taskspec.EncodeMonitorReport(rep)
		if err != nil {
			t.Fatal(err)
		}
		h.m.events <- mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
			AgentID: mesos.AgentID{Value: "a1"}, ExecutorID: mesos.ExecutorID{Value: "e"}, Data: data}}}
	}
	state := func() string {
		a, err := h.rt.Agent(context.Background(), "a1")
		if err != nil {
			t.Fatal(err)
		}
		return a.State
	}
	report(100, false)
	h.update(mesos.TaskStatus{TaskID: mon, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_FAILED.Enum()})
	report(50, true) // late, from before the one taken
	report(60, true)
	h.waitFor("the monitor gone", func() bool {
		gone := false
		if _, err := h.rt.onLoop(context.Background(), false, func(t *term, done func()) {
			defer done()
			gone = t.monitors.byAgent["a1"] == nil
		}); err != nil {
			t.Fatal(err)
		}
		return gone
	})
	if s := state(); s != "healthy" {
		t.Fatalf("a late report opened an incident: %s", s)
	}
	report(200, true)
	h.waitFor("a newer report's incident", func() bool { return state() != "healthy" })
}

// TASK_GONE says a task is gone, not its agent (the soak found healer
// removing live agents after a master failover, when reconciliation
// answered TASK_GONE "Task is unknown to the agent"): the step is lost and
// escalates, and the agent stays registered. TASK_GONE_BY_OPERATOR (the
// agent marked gone) removes it.
func TestTaskGoneIsNotAgentGone(t *testing.T) {
	for _, c := range []struct {
		state   mesos.TaskState
		removed bool
	}{{mesos.TASK_GONE, false}, {mesos.TASK_GONE_BY_OPERATOR, true}} {
		t.Run(c.state.String(), func(t *testing.T) {
			h := newHarness(t, nil)
			h.m.onOp = agentsAnswer("a1")
			h.elect()
			h.subscribe(1)
			h.known("a1")
			if _, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung", Source: "test"}); err != nil {
				t.Fatal(err)
			}
			h.offer("o1", "a1", "h1")
			h.waitFor("the launch", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 1 })
			task := h.m.callsOf(scheduler.Call_ACCEPT)[0].Accept.Operations[0].Launch.TaskInfos[0].TaskID
			h.update(mesos.TaskStatus{TaskID: task, AgentID: &mesos.AgentID{Value: "a1"}, State: c.state.Enum(),
				Message: strPtr("Reconciliation: Task is unknown to the agent")})
			h.waitFor("the step lost", func() bool {
				r, _ := h.st.record("a1")
				return len(r.History) == 1 && r.History[0].Result == coordinator.ResultLost
			})
			r, _ := h.st.record("a1")
			if r.Removed() != c.removed {
				t.Fatalf("agent removed: %t after %s, want %t", r.Removed(), c.state, c.removed)
			}
		})
	}
}

func strPtr(s string) *string { return &s }
