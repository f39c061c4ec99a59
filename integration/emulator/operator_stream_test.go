package emulator

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// opStream is an operator SUBSCRIBE stream read with mesos-go's httpmaster
// sender; its events arrive on events until the stream ends.
type opStream struct {
	t      *testing.T
	events chan *master.Event
	closed chan struct{}
	err    error
}

func subscribeOperator(t *testing.T, url string) *opStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	resp, err := operatorSender(url).Send(ctx, mcalls.NonStreaming(mcalls.Subscribe()))
	if err != nil {
		t.Fatalf("operator SUBSCRIBE: %v", err)
	}
	s := &opStream{t: t, events: make(chan *master.Event, 1000), closed: make(chan struct{})}
	go func() {
		defer close(s.closed)
		defer resp.Close()
		for {
			var ev master.Event
			if err := resp.Decode(&ev); err != nil {
				s.err = err
				return
			}
			s.events <- &ev
		}
	}()
	return s
}

// next returns the next event, HEARTBEATs included.
func (s *opStream) next() *master.Event {
	s.t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-s.closed:
		if len(s.events) > 0 {
			return <-s.events
		}
		s.t.Fatalf("operator stream ended: %v", s.err)
	case <-time.After(10 * time.Second):
		s.t.Fatal("timed out waiting for an operator event")
	}
	return nil
}

// waitFor returns the first event satisfying pred and the non-HEARTBEAT
// events skipped before it.
func (s *opStream) waitFor(what string, pred func(*master.Event) bool) (*master.Event, []*master.Event) {
	s.t.Helper()
	var skipped []*master.Event
	for {
		ev := s.next()
		if pred(ev) {
			return ev, skipped
		}
		if ev.Type != master.Event_HEARTBEAT {
			skipped = append(skipped, ev)
		}
		if len(skipped) > 500 {
			s.t.Fatalf("no %s among %d events", what, len(skipped))
		}
	}
}

func opType(typ master.Event_Type) func(*master.Event) bool {
	return func(ev *master.Event) bool { return ev.Type == typ }
}

func opTaskUpdated(taskID string, state mesos.TaskState) func(*master.Event) bool {
	return func(ev *master.Event) bool {
		return ev.Type == master.Event_TASK_UPDATED && ev.TaskUpdated.Status.TaskID.Value == taskID &&
			ev.TaskUpdated.Status.GetState() == state
	}
}

func typesOf(evs []*master.Event) []master.Event_Type {
	out := make([]master.Event_Type, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

func noneOf(t *testing.T, evs []*master.Event, typ master.Event_Type, when string) {
	t.Helper()
	for _, ev := range evs {
		if ev.Type == typ {
			t.Errorf("%s: unexpected %s: %v", when, typ, ev)
		}
	}
}

// TestOperatorStreamWire checks the response of an operator SUBSCRIBE on the
// wire: 200, the negotiated Content-Type, chunked with no Content-Length,
// no Mesos-Stream-Id, and a RecordIO stream that starts with SUBSCRIBED and
// an immediate HEARTBEAT.
func TestOperatorStreamWire(t *testing.T) {
	m := startStubMaster(t)
	m.AddAgent(newStubAgent("a1", 4, 4096))
	req, _ := http.NewRequest(http.MethodPost, m.url+"/api/v1", strings.NewReader(`{"type":"SUBSCRIBE"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("SUBSCRIBE answered %d Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, ok := resp.Header["Mesos-Stream-Id"]; ok {
		t.Errorf("operator stream has a Mesos-Stream-Id header: %q", resp.Header.Get("Mesos-Stream-Id"))
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Content-Length %d, Transfer-Encoding %v; want chunked", resp.ContentLength, resp.TransferEncoding)
	}
	br := bufio.NewReader(resp.Body)
	record := func() string {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil || n <= 0 {
			t.Fatalf("bad RecordIO length %q", line)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		return string(buf)
	}
	first := record()
	if !strings.HasPrefix(first, `{"type":"SUBSCRIBED","subscribed":{"get_state":{`) ||
		!strings.Contains(first, `"heartbeat_interval_seconds":0.2`) || !strings.Contains(first, `"hostname":"127.0.0.1"`) {
		t.Errorf("first record = %s", first)
	}
	if second := record(); second != `{"type":"HEARTBEAT"}` {
		t.Errorf("second record = %s; want HEARTBEAT", second)
	}
	// Then a HEARTBEAT every HeartbeatInterval (200 ms here).
	if third := record(); third != `{"type":"HEARTBEAT"}` {
		t.Errorf("third record = %s; want HEARTBEAT", third)
	}
}

// TestOperatorStreamEvents drives a cluster through real actions and checks
// the event each one produces on the operator stream, in order.
func TestOperatorStreamEvents(t *testing.T) {
	cfg := fastCluster(1)
	cl := startCluster(t, cfg)
	agent := cl.Agents()[0]
	agentID := agent.ID().Value

	s := subscribeOperator(t, cl.LeaderURL())
	ev := s.next()
	if ev.Type != master.Event_SUBSCRIBED {
		t.Fatalf("first event %s; want SUBSCRIBED", ev.Type)
	}
	if got := ev.Subscribed.GetHeartbeatIntervalSeconds(); got != cfg.Master.HeartbeatInterval.Seconds() {
		t.Errorf("heartbeat_interval_seconds = %v; want %v", got, cfg.Master.HeartbeatInterval.Seconds())
	}
	if agents := ev.Subscribed.GetState.GetGetAgents().Agents; len(agents) != 1 || agents[0].AgentInfo.GetID().GetValue() != agentID {
		t.Errorf("SUBSCRIBED.get_state agents = %v", agents)
	}
	if ev := s.next(); ev.Type != master.Event_HEARTBEAT {
		t.Fatalf("second event %s; want HEARTBEAT", ev.Type)
	}

	// A new framework: FRAMEWORK_ADDED.
	fi := frameworkInfo("opstream")
	fi.FailoverTimeout = proto.Float64(3600)
	c := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c.subscribe(fi)
	ev, skipped := s.waitFor("FRAMEWORK_ADDED", opType(master.Event_FRAMEWORK_ADDED))
	if len(skipped) > 0 {
		t.Errorf("events before FRAMEWORK_ADDED: %v", typesOf(skipped))
	}
	if fw := ev.FrameworkAdded.Framework; fw.FrameworkInfo.GetID().GetValue() != c.fid || fw.FrameworkInfo.Name != "opstream" ||
		!fw.Active || !fw.Connected {
		t.Errorf("FRAMEWORK_ADDED = %+v", fw)
	}

	// A launch: TASK_ADDED (STAGING), then TASK_UPDATED up to RUNNING.
	offers := waitEvent(t, c, "offers", isType(scheduler.Event_OFFERS))
	launchOn(t, c, offers.Offers.Offers[0], "t1")
	ev, skipped = s.waitFor("TASK_ADDED", opType(master.Event_TASK_ADDED))
	if len(skipped) > 0 {
		t.Errorf("events before TASK_ADDED: %v", typesOf(skipped))
	}
	if task := ev.TaskAdded.Task; task.TaskID.Value != "t1" || task.GetState() != mesos.TASK_STAGING ||
		task.FrameworkID.Value != c.fid || task.AgentID.Value != agentID {
		t.Errorf("TASK_ADDED = %+v", task)
	}
	ev, skipped = s.waitFor("TASK_UPDATED RUNNING", opTaskUpdated("t1", mesos.TASK_RUNNING))
	for _, e := range skipped {
		if e.Type != master.Event_TASK_UPDATED {
			t.Errorf("unexpected %s before TASK_UPDATED RUNNING", e.Type)
		}
	}
	if ev.TaskUpdated.FrameworkID.Value != c.fid || ev.TaskUpdated.GetState() != mesos.TASK_RUNNING {
		t.Errorf("TASK_UPDATED = %+v", ev.TaskUpdated)
	}

	// UPDATE_FRAMEWORK changing FrameworkInfo, then a re-subscription:
	// FRAMEWORK_UPDATED each time.
	fi.ID = &mesos.FrameworkID{Value: c.fid}
	updated := fi
	updated.WebUiURL = proto.String("http://ui")
	// mesos-go reports success as `unexpected content type: ""`
	// (mesos-protocol.md 8.5 pitfall 3); the event tells what happened.
	_ = c.call(calls.UpdateFramework(updated))
	ev, _ = s.waitFor("FRAMEWORK_UPDATED", opType(master.Event_FRAMEWORK_UPDATED))
	if ev.FrameworkUpdated.Framework.FrameworkInfo.GetWebUiURL() != "http://ui" {
		t.Errorf("FRAMEWORK_UPDATED after UPDATE_FRAMEWORK = %+v", ev.FrameworkUpdated.Framework.FrameworkInfo)
	}
	c2 := newSchedClient(t, cl.LeaderURL(), protobufCodec)
	c2.subscribe(fi)
	ev, skipped = s.waitFor("FRAMEWORK_UPDATED", opType(master.Event_FRAMEWORK_UPDATED))
	noneOf(t, skipped, master.Event_FRAMEWORK_ADDED, "re-subscription")
	if fw := ev.FrameworkUpdated.Framework; fw.FrameworkInfo.GetID().GetValue() != c.fid || fw.ReregisteredTime == nil {
		t.Errorf("FRAMEWORK_UPDATED after re-subscription = %+v", fw)
	}

	// The agent is killed: its task is lost once it is marked unreachable
	// (TASK_UPDATED), but, as in Mesos, marking an agent unreachable sends
	// no AGENT_REMOVED. When it comes back it is added again.
	if err := cl.KillAgent(agentID); err != nil {
		t.Fatal(err)
	}
	_, skipped = s.waitFor("TASK_UPDATED LOST", opTaskUpdated("t1", mesos.TASK_LOST))
	noneOf(t, skipped, master.Event_AGENT_REMOVED, "agent killed")
	testtool.WaitFor(t, "agent unreachable", 5*time.Second, func() bool {
		return len(sendOperator(t, operatorSender(cl.LeaderURL()), mcalls.GetAgents()).GetAgents.Agents) == 0
	})
	if err := cl.RestartAgent(agentID); err != nil {
		t.Fatal(err)
	}
	ev, skipped = s.waitFor("AGENT_ADDED", opType(master.Event_AGENT_ADDED))
	noneOf(t, skipped, master.Event_AGENT_REMOVED, "agent killed and restarted")
	if a := ev.AgentAdded.Agent; a.AgentInfo.GetID().GetValue() != agentID || !a.Active || len(a.TotalResources) == 0 {
		t.Errorf("AGENT_ADDED = %+v", a)
	}

	// START_MAINTENANCE removes the agent: AGENT_REMOVED.
	op := operatorSender(cl.LeaderURL())
	machine := mesos.MachineID{Hostname: proto.String(agent.Info().Hostname), IP: proto.String("127.0.0.1")}
	sched := maintenance.Schedule{Windows: []maintenance.Window{{MachineIDs: []mesos.MachineID{machine},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(time.Hour).UnixNano()}}}}}
	sendOperator(t, op, mcalls.UpdateMaintenanceSchedule(sched))
	sendOperator(t, op, mcalls.StartMaintenance(machine))
	ev, _ = s.waitFor("AGENT_REMOVED", opType(master.Event_AGENT_REMOVED))
	if ev.AgentRemoved.AgentID.Value != agentID {
		t.Errorf("AGENT_REMOVED = %+v", ev.AgentRemoved)
	}

	// An operator TEARDOWN: FRAMEWORK_REMOVED.
	sendOperator(t, op, mcalls.Teardown(mesos.FrameworkID{Value: c.fid}))
	ev, _ = s.waitFor("FRAMEWORK_REMOVED", opType(master.Event_FRAMEWORK_REMOVED))
	if ev.FrameworkRemoved.FrameworkInfo.GetID().GetValue() != c.fid {
		t.Errorf("FRAMEWORK_REMOVED = %+v", ev.FrameworkRemoved)
	}
}

// TestOperatorStreamSubscriberLimit: at the limit, a new subscriber closes
// the oldest stream; the others keep receiving events.
func TestOperatorStreamSubscriberLimit(t *testing.T) {
	m := startStubMaster(t, func(c *MasterConfig) { c.MaxOperatorEventStreamSubscribers = 2 })
	// Subscribe one at a time: the stream headers come before the master
	// registers the subscriber, so only SUBSCRIBED proves the order.
	var s1, s2 *opStream
	for _, s := range []**opStream{&s1, &s2} {
		*s = subscribeOperator(t, m.url)
		if ev := (*s).next(); ev.Type != master.Event_SUBSCRIBED {
			t.Fatalf("first event %s", ev.Type)
		}
	}
	s3 := subscribeOperator(t, m.url)
	if ev := s3.next(); ev.Type != master.Event_SUBSCRIBED {
		t.Fatalf("first event %s", ev.Type)
	}
	select {
	case <-s1.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the oldest stream was not closed")
	}
	if s1.err != io.EOF {
		t.Errorf("oldest stream ended with %v; want EOF", s1.err)
	}
	m.AddAgent(newStubAgent("a1", 4, 4096))
	for _, s := range []*opStream{s2, s3} {
		s.waitFor("AGENT_ADDED", opType(master.Event_AGENT_ADDED))
	}
	select {
	case <-s2.closed:
		t.Error("the second stream was closed too")
	default:
	}
}
