package runtime

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/gogo/protobuf/proto"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
	"github.com/healer-mesos/healer/scheduler/store"
)

// agentsAnswer makes the fake master list agents a1..an on hosts h1..hn.
func agentsAnswer(ids ...string) func(*master.Call) (*master.Response, error) {
	return func(c *master.Call) (*master.Response, error) {
		if c.Type != master.Call_GET_AGENTS {
			return &master.Response{}, nil
		}
		g := &master.Response_GetAgents{}
		for i, id := range ids {
			pid := "slave(1)@10.0.0." + string(rune('1'+i)) + ":5051"
			g.Agents = append(g.Agents, master.Response_GetAgents_Agent{
				AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: id}, Hostname: "h" + id[1:]}, PID: &pid, Active: true})
		}
		return &master.Response{Type: master.Response_GET_AGENTS, GetAgents: g}, nil
	}
}

// leading makes the runtime lead a cluster of the given agents, subscribed
// and reconciled.
func (h *harness) leading(agents ...string) {
	h.t.Helper()
	h.m.onOp = agentsAnswer(agents...)
	h.elect()
	h.subscribe(1)
	for _, a := range agents {
		h.known(a)
	}
}

func (h *harness) known(id string) {
	h.waitFor("agent "+id+" known", func() bool {
		_, err := h.rt.Agent(context.Background(), id)
		return err == nil
	})
}

func TestFirstSubscriptionStoresTheFrameworkIDBeforeAnythingElse(t *testing.T) {
	h := newHarness(t, nil)
	var ids []string
	h.rt.cfg.NewMaster = func(id string) (Master, error) { ids = append(ids, id); return h.m, nil }
	h.elect()
	h.subscribe(1)
	log := h.log.snapshot()
	if i := slices.Index(log, "save-framework"); i != 0 {
		t.Fatalf("framework id not stored first: %v", log)
	}
	// A new term (say, after a failover) subscribes with the stored id.
	h.termCtx()
	h.waitFor("term ended", func() bool { return h.rt.term() == nil })
	h.elect()
	h.waitFor("second term", func() bool { return len(ids) == 2 })
	if ids[0] != "" || ids[1] != "fw-1" {
		t.Errorf("framework ids subscribed with = %q, want [\"\" fw-1]", ids)
	}
}

func TestStateWithoutFrameworkIDIsRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.st.agents["a1"] = coordinator.AgentRecord{ID: "a1", Hostname: "h1"}
	lt := &Term{Ctx: context.Background(), Store: h.st}
	err := h.rt.runTerm(context.Background(), lt, make(chan bool))
	if !errors.Is(err, ErrCorruptState) || !strings.Contains(err.Error(), "refusing to register a new framework") {
		t.Fatalf("runTerm over records without a framework id: %v", err)
	}
}

// The core path: a signal opens an incident, its launch is persisted
// before the ACCEPT carries it, the task's updates drive the step, and
// every update is acknowledged only after its effect is stored.
func TestSignalToLaunchToOutcome(t *testing.T) {
	h := newHarness(t, nil)
	h.leading("a1", "a2")

	resp, created, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung", Source: "test"})
	if err != nil || !created || resp.Incident == nil || resp.State != "repairing" {
		t.Fatalf("Repair = %+v, %v, %v", resp, created, err)
	}
	h.waitFor("REVIVE", func() bool { return len(h.m.callsOf(scheduler.Call_REVIVE)) > 0 })
	rec, _ := h.st.record("a1")
	if rec.State != coordinator.StateRepairing || rec.Incident.Run.Attempt != 1 {
		t.Fatalf("stored record before the launch: %+v", rec)
	}

	h.offer("o2", "a2", "h2") // not needed: declined
	h.offer("o1", "a1", "h1")
	h.waitFor("ACCEPT", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 1 })
	acc := h.m.callsOf(scheduler.Call_ACCEPT)[0].Accept
	if len(acc.OfferIDs) != 1 || acc.OfferIDs[0].Value != "o1" {
		t.Fatalf("accepted offers %v, want o1", acc.OfferIDs)
	}
	ti := acc.Operations[0].Launch.TaskInfos[0]
	var payload healerpb.RepairTask
	if err := payload.Unmarshal(ti.Data); err != nil || payload.Command != "true" || payload.Attempt != 1 || payload.Action != "restart" {
		t.Fatalf("task payload %+v (%v)", payload, err)
	}
	h.waitFor("decline of o2", func() bool { return len(h.m.callsOf(scheduler.Call_DECLINE)) > 0 })
	// Write-ahead: the step's start was stored before the ACCEPT left.
	log := h.log.snapshot()
	iAcc := slices.Index(log, "call:ACCEPT")
	iRev := slices.Index(log, "call:REVIVE")
	if iAcc < 0 || iRev < 0 || !slices.Contains(log[iRev:iAcc], "save") {
		t.Errorf("ACCEPT not after the save of the step's start: %v", log)
	}
	if r, _ := h.st.record("a1"); r.Incident.Run.StartedAt.IsZero() {
		t.Errorf("step not recorded as started at its launch: %+v", r.Incident.Run)
	}

	h.update(mesos.TaskStatus{TaskID: ti.TaskID, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_RUNNING.Enum(),
		UUID: []byte("0123456789abcdef")})
	h.waitFor("ack of RUNNING", func() bool { return len(h.m.callsOf(scheduler.Call_ACKNOWLEDGE)) == 1 })

	res, err := taskspec.EncodeRepairResult(&healerpb.RepairResult{ExitCode: 0, OutputTail: []byte("ok\n"), OutputBytes: 3})
	if err != nil {
		t.Fatal(err)
	}
	h.update(mesos.TaskStatus{TaskID: ti.TaskID, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_FINISHED.Enum(),
		UUID: []byte("fedcba9876543210"), Data: res})
	h.waitFor("ack of FINISHED", func() bool { return len(h.m.callsOf(scheduler.Call_ACKNOWLEDGE)) == 2 })
	// The outcome's effect is stored before its update is acknowledged.
	log = h.log.snapshot()
	first := slices.Index(log, "call:ACKNOWLEDGE")
	second := first + 1 + slices.Index(log[first+1:], "call:ACKNOWLEDGE")
	if !slices.Contains(log[first:second], "save") {
		t.Errorf("FINISHED acknowledged before its effect was saved: %v", log)
	}
	h.waitFor("probation", func() bool {
		r, _ := h.st.record("a1")
		return r.State == coordinator.StateProbation && len(r.History) == 1 && r.History[0].OutputTail == "ok\n"
	})
	h.waitFor("SUPPRESS once nothing waits", func() bool { return len(h.m.callsOf(scheduler.Call_SUPPRESS)) > 0 })
}

// Write-ahead: when the store refuses a write, nothing of that batch
// reaches the master, the caller is told, and the term rebuilds.
func TestFailedWriteActsOnNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.leading("a1")
	before := len(h.m.callsOf(scheduler.Call_REVIVE))
	h.st.failWith(errStoreDown)
	_, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung"})
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("Repair with the store down: %v", err)
	}
	h.waitFor("term ended", func() bool { return h.rt.term() == nil })
	if n := len(h.m.callsOf(scheduler.Call_REVIVE)); n != before {
		t.Errorf("REVIVE sent for an unpersisted launch (%d → %d)", before, n)
	}
	if _, ok := h.st.record("a1"); ok {
		if r, _ := h.st.record("a1"); r.State != coordinator.StateHealthy {
			t.Errorf("record changed although the write failed: %+v", r)
		}
	}
}

func TestImmutableUntilReconciled(t *testing.T) {
	h := newHarness(t, nil)
	h.m.onOp = agentsAnswer("a1")
	h.elect()
	h.m.events <- mesosconnSubscribed(1)
	h.known("a1")
	_, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung"})
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.RetryAfter == 0 ||
		!strings.Contains(ae.Msg, "not reconciled") {
		t.Fatalf("Repair before reconciliation: %v", err)
	}
}

func TestStandbyRedirectsMutations(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.LeaderURL = func() string { return "http://leader:7070" }
		c.Standby = func(context.Context) (store.Snapshot, error) {
			return store.Snapshot{Agents: []coordinator.AgentRecord{{ID: "a1", Hostname: "h1"}}}, nil
		}
	})
	_, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung"})
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusTemporaryRedirect || ae.Location != "http://leader:7070" {
		t.Fatalf("Repair on a standby: %v", err)
	}
	st, err := h.rt.Status(context.Background())
	if err != nil || st.IsLeader || st.Leader != "http://leader:7070" || st.Counts.Healthy != 1 {
		t.Fatalf("standby Status = %+v, %v", st, err)
	}
	a, err := h.rt.Agent(context.Background(), "h1")
	if err != nil || a.ID != "a1" {
		t.Fatalf("standby Agent(h1) = %+v, %v", a, err)
	}
}

// A repair task healer's records do not have in flight is killed, not
// left running unaccounted (an earlier attempt, a deposed leader's launch).
func TestOrphanRepairTaskIsKilled(t *testing.T) {
	h := newHarness(t, nil)
	h.leading("a1")
	h.update(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "healer.repair.a1.7.9"}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum()})
	h.waitFor("KILL", func() bool {
		ks := h.m.callsOf(scheduler.Call_KILL)
		return len(ks) == 1 && ks[0].Kill.TaskID.Value == "healer.repair.a1.7.9"
	})
}

func mesosconnSubscribed(gen uint64) mesosconn.Event {
	return mesosconn.Event{Gen: gen, Subscribed: &mesosconn.Subscribed{FrameworkID: "fw-1", Master: "m:5050"}}
}

// A leader whose ZooKeeper connection drops takes no mutation and sends
// nothing to the master until the same session is back.
func TestSuspendedLeaderActsOnNothing(t *testing.T) {
	h := newHarness(t, nil)
	h.leading("a1")
	h.lead <- Leadership{Kind: Suspended}
	h.waitFor("suspended", func() bool {
		st, err := h.rt.Status(context.Background())
		return err == nil && st.Immutable
	})
	calls := len(h.m.log.snapshot())
	_, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung"})
	var ae *admin.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Msg, "ZooKeeper") {
		t.Fatalf("Repair while suspended: %v", err)
	}
	// Offers arriving meanwhile wait unread: nothing is declined, launched
	// or acknowledged.
	h.offer("o1", "a1", "h1")
	h.update(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "healer.repair.a1.1.1"}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum(), UUID: []byte("0123456789abcdef")})
	if _, err := h.rt.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.m.log.snapshot()[calls:]; len(got) != 0 {
		t.Errorf("acted while suspended: %v", got)
	}
	h.lead <- Leadership{Kind: Resumed}
	h.waitFor("the held events handled after resuming", func() bool {
		return len(h.m.callsOf(scheduler.Call_DECLINE)) > 0
	})
	if _, created, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung"}); err != nil || !created {
		t.Fatalf("Repair after resuming: %v %v", created, err)
	}
}

// A launch that hears nothing after its ACCEPT is asked about (explicit
// reconciliation) instead of waiting silently for the step's deadline.
func TestSilentLaunchIsReconciled(t *testing.T) {
	h := newHarness(t, nil)
	h.leading("a1")
	if _, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "hung"}); err != nil {
		t.Fatal(err)
	}
	h.offer("o1", "a1", "h1")
	h.waitFor("ACCEPT", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 1 })
	task := h.m.callsOf(scheduler.Call_ACCEPT)[0].Accept.Operations[0].Launch.TaskInfos[0].TaskID.Value
	asked := func() bool {
		for _, c := range h.m.callsOf(scheduler.Call_RECONCILE) {
			for _, tk := range c.Reconcile.Tasks {
				if tk.TaskID.Value == task {
					return true
				}
			}
		}
		return false
	}
	h.clock.Advance(10 * time.Second)
	h.waitFor("a tick handled", func() bool { _, err := h.rt.Status(context.Background()); return err == nil })
	if asked() {
		t.Fatal("asked about the launch after 10s already")
	}
	h.clock.Advance(25 * time.Second)
	h.waitFor("RECONCILE of the silent launch", asked)
}

// The leader keeps one monitor task per agent: it places one on the
// agent's offer, relaunches it (with backoff) when it ends, kills a
// surplus one found after a failover, shows a failing monitor in
// GET /agents/{id}, and turns a report into a signal from "monitor".
func TestMonitorTasks(t *testing.T) {
	cfg, err := monitorconfig.Parse("monitor.yaml", []byte("checks:\n  - {name: disk, problem: disk_full, metric: disk_used_ratio, path: /, max: 0.9}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) { c.Monitor = cfg })
	h.leading("a1")
	monitors := func() []mesos.TaskInfo {
		var out []mesos.TaskInfo
		for _, c := range h.m.callsOf(scheduler.Call_ACCEPT) {
			for _, op := range c.Accept.Operations {
				for _, ti := range op.Launch.TaskInfos {
					if strings.HasPrefix(ti.TaskID.Value, "healer.monitor.") {
						out = append(out, ti)
					}
				}
			}
		}
		return out
	}
	h.waitFor("REVIVE for the monitor", func() bool { return len(h.m.callsOf(scheduler.Call_REVIVE)) > 0 })
	h.offer("o1", "a1", "h1")
	h.waitFor("the monitor launched", func() bool { return len(monitors()) == 1 })
	first := monitors()[0].TaskID
	h.update(mesos.TaskStatus{TaskID: first, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_RUNNING.Enum()})
	h.waitFor("running", func() bool { a, _ := h.rt.Agent(context.Background(), "a1"); return a.Monitor.State == "running" })

	// A second monitor on the agent (a deposed leader's) is killed.
	h.update(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "healer.monitor.a1.99"}, AgentID: &mesos.AgentID{Value: "a1"},
		State: mesos.TASK_RUNNING.Enum()})
	h.waitFor("the surplus monitor killed", func() bool {
		for _, k := range h.m.callsOf(scheduler.Call_KILL) {
			if k.Kill.TaskID.Value == "healer.monitor.a1.99" {
				return true
			}
		}
		return false
	})

	// A report becomes a signal from the monitor.
	rep, err := taskspec.EncodeMonitorReport(&healerpb.MonitorReport{AgentId: "a1", AtUnixNano: h.clock.Now().UnixNano(),
		Violations: []healerpb.Violation{{Check: "disk", Problem: "disk_full", Value: 0.97, Message: "/ at 97%"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.m.events <- mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
		AgentID: mesos.AgentID{Value: "a1"}, ExecutorID: mesos.ExecutorID{Value: "healer-executor.x"}, Data: rep}}}
	h.waitFor("an incident from the report", func() bool {
		a, _ := h.rt.Agent(context.Background(), "a1")
		return a.Incident != nil && a.Incident.Source == SourceMonitor && a.Incident.Problem == "disk_full"
	})

	// The monitor fails: it shows, and a new one is launched after the backoff.
	h.update(mesos.TaskStatus{TaskID: first, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_FAILED.Enum(),
		Message: proto.String("bad config")})
	h.waitFor("failing shown", func() bool {
		a, _ := h.rt.Agent(context.Background(), "a1")
		return a.Monitor.State == "failing" && strings.Contains(a.Monitor.LastError, "bad config")
	})
	h.clock.Advance(monitorBackoff + time.Second)
	h.offer("o2", "a1", "h1")
	h.waitFor("a new monitor", func() bool { return len(monitors()) == 2 })
	if monitors()[1].TaskID == first {
		t.Errorf("relaunched with the same task id %s", first.Value)
	}
}

// A monitor report measured before the agent's repair succeeded, delivered
// during its probation, is no relapse; one measured after is.
func TestLateMonitorReportIsNoRelapse(t *testing.T) {
	h := newHarness(t, nil)
	h.leading("a1")
	measured := h.clock.Now()
	if _, _, err := h.rt.Repair(context.Background(), admin.RepairRequest{AgentID: "a1", Problem: "disk_full"}); err != nil {
		t.Fatal(err)
	}
	h.offer("o1", "a1", "h1")
	h.waitFor("ACCEPT", func() bool { return len(h.m.callsOf(scheduler.Call_ACCEPT)) == 1 })
	ti := h.m.callsOf(scheduler.Call_ACCEPT)[0].Accept.Operations[0].Launch.TaskInfos[0]
	h.clock.Advance(time.Second)
	h.update(mesos.TaskStatus{TaskID: ti.TaskID, AgentID: &mesos.AgentID{Value: "a1"}, State: mesos.TASK_FINISHED.Enum()})
	h.waitFor("probation", func() bool { a, _ := h.rt.Agent(context.Background(), "a1"); return a.State == "probation" })
	report := func(at time.Time) {
		rep, err := taskspec.EncodeMonitorReport(&healerpb.MonitorReport{AgentId: "a1", AtUnixNano: at.UnixNano(),
			Violations: []healerpb.Violation{{Check: "disk", Problem: "disk_full", Value: 0.97, Message: "/ at 97%"}}})
		if err != nil {
			t.Fatal(err)
		}
		h.m.events <- mesosconn.Event{Event: &scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
			AgentID: mesos.AgentID{Value: "a1"}, ExecutorID: mesos.ExecutorID{Value: "healer-executor.x"}, Data: rep}}}
	}
	report(measured)
	h.waitFor("the report taken", func() bool { return testutil.ToFloat64(h.rt.cfg.Metrics.reports) == 1 })
	if a, _ := h.rt.Agent(context.Background(), "a1"); a.State != "probation" {
		t.Fatalf("a report measured before the repair made the agent %s", a.State)
	}
	h.clock.Advance(time.Second)
	report(h.clock.Now())
	h.waitFor("a relapse from a fresh report", func() bool {
		a, _ := h.rt.Agent(context.Background(), "a1")
		return a.State != "probation"
	})
}
