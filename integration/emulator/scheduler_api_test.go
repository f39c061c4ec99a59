package emulator

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/integration/emulator/mesosjson"
	"github.com/healer-mesos/healer/internal/testtool"
)

// rawPost posts body to the master with the given headers.
func rawPost(t *testing.T, url, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := noRedirectClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectError checks a plain-text error response.
func expectError(t *testing.T, resp *http.Response, code int, body string) {
	t.Helper()
	got := readBody(t, resp)
	if resp.StatusCode != code || got != body {
		t.Errorf("got %d %q, want %d %q", resp.StatusCode, got, code, body)
	}
	if body != "" && resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("error Content-Type = %q", resp.Header.Get("Content-Type"))
	}
}

// noRedirectClient shows 307s instead of following them.
var noRedirectClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

var jsonHeaders = map[string]string{"Content-Type": "application/json", "Accept": "application/json"}

func TestLeadershipRedirectAndNoLeader(t *testing.T) {
	m := startStubMaster(t)
	m.Follow("leader.example:5050")
	for _, path := range []string{"/api/v1/scheduler", "/master/api/v1/scheduler"} {
		resp := rawPost(t, m.url+path, `{"type":"SUBSCRIBE"}`, jsonHeaders)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusTemporaryRedirect || body != "" ||
			resp.Header.Get("Location") != "//leader.example:5050/master/api/v1/scheduler" ||
			resp.Header.Get("Content-Type") != "" || resp.Header.Get("Date") == "" {
			t.Errorf("%s: %d %q headers %v", path, resp.StatusCode, body, resp.Header)
		}
	}
	// Leadership is checked before the method.
	resp, err := noRedirectClient.Get(m.url + "/api/v1/scheduler")
	if err != nil {
		t.Fatal(err)
	}
	if readBody(t, resp); resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("GET on standby: %d", resp.StatusCode)
	}
	m.Follow("")
	expectError(t, rawPost(t, m.url+"/api/v1/scheduler", `{"type":"SUBSCRIBE"}`, jsonHeaders),
		http.StatusServiceUnavailable, "No leader elected")
	info := m.MasterInfo()
	if info.IP != 16777343 || info.GetPID() != "master@127.0.0.1:5050" || info.Address.GetIP() != "127.0.0.1" ||
		len(info.Capabilities) != 3 || info.Capabilities[2].Type != 3 || info.GetVersion() != "1.12.0" {
		t.Errorf("master info = %v", info)
	}
}

func TestSchedulerRequestErrors(t *testing.T) {
	m := startStubMaster(t)
	url := m.url + "/api/v1/scheduler"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, resp, http.StatusMethodNotAllowed, "Expecting one of { 'POST' }, but received 'GET'")
	if resp.Header.Get("Allow") != "POST" {
		t.Errorf("Allow = %q", resp.Header.Get("Allow"))
	}
	expectError(t, rawPost(t, url, `{}`, nil), http.StatusBadRequest, "Expecting 'Content-Type' to be present")
	expectError(t, rawPost(t, url, `{}`, map[string]string{"Content-Type": "application/json; charset=utf-8"}),
		http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of application/json or application/x-protobuf")
	expectError(t, rawPost(t, url, "\xff\xff\xff", map[string]string{"Content-Type": "application/x-protobuf"}),
		http.StatusBadRequest, "Failed to parse body into Call protobuf")
	resp = rawPost(t, url, `{not json`, jsonHeaders)
	if body := readBody(t, resp); resp.StatusCode != 400 || !strings.HasPrefix(body, "Failed to parse body into JSON") {
		t.Errorf("malformed JSON: %d %q", resp.StatusCode, body)
	}
	expectError(t, rawPost(t, url, `{"framework_id":{"value":"x"}}`, jsonHeaders),
		http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'type' to be present")
	expectError(t, rawPost(t, url, `{"type":"DECLINE","decline":{}}`, jsonHeaders),
		http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'framework_id' to be present")
	expectError(t, rawPost(t, url, `{"type":"ACCEPT","framework_id":{"value":"x"}}`, jsonHeaders),
		http.StatusBadRequest, "Failed to validate scheduler::Call: Expecting 'accept' to be present")
	expectError(t, rawPost(t, url, `{"type":"ACKNOWLEDGE","framework_id":{"value":"x"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"YWJj"}}`, jsonHeaders),
		http.StatusBadRequest, "Failed to validate scheduler::Call: Not a valid UUID")
	expectError(t, rawPost(t, url, `{"type":"SUBSCRIBE","framework_id":{"value":"x"},"subscribe":{"framework_info":{"user":"u","name":"n"}}}`, jsonHeaders),
		http.StatusBadRequest, "Failed to validate scheduler::Call: 'framework_id' differs from 'subscribe.framework_info.id'")
	withStream := map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": "abc"}
	expectError(t, rawPost(t, url, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`, withStream),
		http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
	expectError(t, rawPost(t, url, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`,
		map[string]string{"Content-Type": "application/json", "Accept": "text/html"}),
		http.StatusNotAcceptable, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'")
	expectError(t, rawPost(t, url, `{"type":"DECLINE","framework_id":{"value":"nope"},"decline":{}}`, jsonHeaders),
		http.StatusBadRequest, "Framework cannot be found")
}

// rawStream is a SUBSCRIBE stream read with net/http and decoded by hand.
type rawStream struct {
	resp *http.Response
	r    *bufio.Reader
}

func rawSubscribe(t *testing.T, url, body string) *rawStream {
	t.Helper()
	resp := rawPost(t, url+"/api/v1/scheduler", body, jsonHeaders)
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.ContentLength != -1 {
		t.Fatalf("subscribe: %d headers %v", resp.StatusCode, resp.Header)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(resp.Header.Get("Mesos-Stream-Id")) {
		t.Fatalf("Mesos-Stream-Id = %q", resp.Header.Get("Mesos-Stream-Id"))
	}
	return &rawStream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next reads one RecordIO record; io.EOF when the stream ended.
func (s *rawStream) next() ([]byte, error) {
	line, err := s.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("bad record length %q", line)
	}
	buf := make([]byte, n)
	_, err = io.ReadFull(s.r, buf)
	return buf, err
}

func (s *rawStream) event(t *testing.T) (*scheduler.Event, []byte) {
	t.Helper()
	rec, err := s.next()
	if err != nil {
		t.Fatalf("read event: %v", err)
	}
	var ev scheduler.Event
	if err := mesosjson.Unmarshal(rec, &ev); err != nil {
		t.Fatalf("decode %s: %v", rec, err)
	}
	return &ev, rec
}

func TestRawJSONSubscribeAndCalls(t *testing.T) {
	m := startStubMaster(t)
	if err := m.AddAgent(newStubAgent("a1", 2, 1024)); err != nil {
		t.Fatal(err)
	}
	s := rawSubscribe(t, m.url, `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"raw"}}}`)
	ev, rec := s.event(t)
	if ev.Type != scheduler.Event_SUBSCRIBED || !bytes.Contains(rec, []byte(`"QUOTA_V2"`)) {
		t.Fatalf("first event %s", rec)
	}
	fid := ev.Subscribed.FrameworkID.Value
	if !strings.HasPrefix(fid, m.ID()+"-0000") {
		t.Errorf("framework id %q", fid)
	}
	if ev, rec = s.event(t); ev.Type != scheduler.Event_HEARTBEAT {
		t.Fatalf("second event %s", rec)
	}
	ev, rec = s.event(t)
	for ev.Type == scheduler.Event_HEARTBEAT {
		ev, rec = s.event(t)
	}
	if ev.Type != scheduler.Event_OFFERS || len(ev.Offers.Offers) != 1 {
		t.Fatalf("third event %s", rec)
	}
	offerID := ev.Offers.Offers[0].ID.Value
	if !strings.HasPrefix(offerID, m.ID()+"-O") {
		t.Errorf("offer id %q", offerID)
	}
	url := m.url + "/api/v1/scheduler"
	stream := s.resp.Header.Get("Mesos-Stream-Id")
	hdr := map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": stream}
	decline := fmt.Sprintf(`{"type":"DECLINE","framework_id":{"value":%q},"decline":{"offer_ids":[{"value":%q}]}}`, fid, offerID)
	expectError(t, rawPost(t, url, decline, map[string]string{"Content-Type": "application/json"}),
		http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
	expectError(t, rawPost(t, url, decline, map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": "other"}),
		http.StatusBadRequest, "The stream ID 'other' included in this request didn't match the stream ID currently associated with framework ID "+fid)
	resp := rawPost(t, url, decline, hdr)
	if body := readBody(t, resp); resp.StatusCode != 202 || body != "" || resp.Header.Get("Content-Type") != "" || resp.Header.Get("Content-Length") != "0" {
		t.Errorf("DECLINE: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	expectError(t, rawPost(t, url, fmt.Sprintf(`{"type":"UNKNOWN","framework_id":{"value":%q}}`, fid), hdr),
		http.StatusNotImplemented, "")
	update := fmt.Sprintf(`{"type":"UPDATE_FRAMEWORK","framework_id":{"value":%q},"update_framework":{"framework_info":{"user":"u","name":"renamed","id":{"value":%q}}}}`, fid, fid)
	resp = rawPost(t, url, update, hdr)
	if body := readBody(t, resp); resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Type") != "" {
		t.Errorf("UPDATE_FRAMEWORK: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	badUpdate := strings.Replace(update, `"user":"u"`, `"user":"other"`, 1)
	resp = rawPost(t, url, badUpdate, hdr)
	if body := readBody(t, resp); resp.StatusCode != 400 || !strings.HasPrefix(body, "FrameworkInfo update is not valid: ") {
		t.Errorf("UPDATE_FRAMEWORK changing user: %d %q", resp.StatusCode, body)
	}
	// TEARDOWN: 202, then the stream ends without an ERROR event.
	resp = rawPost(t, url, fmt.Sprintf(`{"type":"TEARDOWN","framework_id":{"value":%q}}`, fid), hdr)
	if readBody(t, resp); resp.StatusCode != 202 {
		t.Fatalf("TEARDOWN: %d", resp.StatusCode)
	}
	for {
		rec, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after TEARDOWN: %v", err)
		}
		if bytes.Contains(rec, []byte(`"ERROR"`)) {
			t.Fatalf("ERROR after TEARDOWN: %s", rec)
		}
	}
	expectError(t, rawPost(t, url, decline, hdr), http.StatusBadRequest, "Framework cannot be found")
	s2 := rawSubscribe(t, m.url, fmt.Sprintf(`{"type":"SUBSCRIBE","framework_id":{"value":%q},"subscribe":{"framework_info":{"user":"u","name":"raw","id":{"value":%q}}}}`, fid, fid))
	if ev, rec := s2.event(t); ev.Type != scheduler.Event_ERROR || ev.Error.Message != "Framework has been removed" {
		t.Fatalf("resubscribe after teardown: %s", rec)
	}
	if _, err := s2.next(); err != io.EOF {
		t.Fatalf("stream after ERROR: %v", err)
	}
}

// TestJSONCodecClientRejectsQuotaV2 reproduces mesos-protocol.md 8.4: a
// mesos-go JSON-codec scheduler cannot decode SUBSCRIBED from a 1.12 master
// because of the QUOTA_V2 master capability.
func TestJSONCodecClientRejectsQuotaV2(t *testing.T) {
	m := startStubMaster(t)
	c := newSchedClient(t, m.url, jsonCodec)
	fi := frameworkInfo("json")
	resp, err := c.caller.Call(context.Background(), calls.Subscribe(&fi))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	var ev scheduler.Event
	err = resp.Decode(&ev)
	if err == nil || !strings.Contains(err.Error(), `unrecognized enum MasterInfo_Capability_Type value "QUOTA_V2"`) {
		t.Fatalf("decode SUBSCRIBED: %v, want the QUOTA_V2 enum error", err)
	}
}

func TestResubscribeFailsOverOldStream(t *testing.T) {
	m := startStubMaster(t)
	if err := m.AddAgent(newStubAgent("a1", 2, 1024)); err != nil {
		t.Fatal(err)
	}
	fi := frameworkInfo("fo")
	ft := 60.0
	fi.FailoverTimeout = &ft
	c1 := newSchedClient(t, m.url, protobufCodec)
	c1.subscribe(fi)
	c1.next(scheduler.Event_OFFERS)
	fi.ID = &mesos.FrameworkID{Value: c1.fid}
	fi.User = "changed" // silently ignored on re-subscribe
	c2 := newSchedClient(t, m.url, protobufCodec)
	c2.subscribe(fi)
	if c2.fid != c1.fid {
		t.Fatalf("resubscribed as %s, want %s", c2.fid, c1.fid)
	}
	if ev := c1.next(scheduler.Event_ERROR); ev.Error.Message != "Framework failed over" {
		t.Fatalf("old stream error %q", ev.Error.Message)
	}
	<-c1.closed
	// The old offer was discarded without RESCIND; a fresh one comes.
	c2.next(scheduler.Event_OFFERS)
	m.mu.Lock()
	user := m.frameworks[c1.fid].info.User
	m.mu.Unlock()
	if user != "root" {
		t.Errorf("user changed to %q on re-subscribe", user)
	}
}

func TestFailoverTimeoutRemovesFramework(t *testing.T) {
	m := startStubMaster(t)
	agent := newStubAgent("a1", 2, 1024)
	if err := m.AddAgent(agent); err != nil {
		t.Fatal(err)
	}
	fi := frameworkInfo("ft")
	ft := 0.3
	fi.FailoverTimeout = &ft
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(fi)
	o := c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	task := mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t"}, AgentID: o.AgentID,
		Resources: []mesos.Resource{scalarRes("cpus", 1)}, Command: &mesos.CommandInfo{Value: strPtr("true")}}
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)))
	testtool.WaitFor(t, "launch", 5*time.Second, func() bool { return agent.has("run t") })

	if !m.CloseSubscription(c.fid) {
		t.Fatal("CloseSubscription found no stream")
	}
	<-c.closed
	// Disconnected: calls get 403 until resubscription or removal.
	raw := rawPost(t, m.url+"/api/v1/scheduler", fmt.Sprintf(`{"type":"REVIVE","framework_id":{"value":%q}}`, c.fid),
		map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": "x"})
	expectError(t, raw, http.StatusForbidden, "Framework is not subscribed")
	testtool.WaitFor(t, "framework removed", 5*time.Second, func() bool { return agent.has("shutdown_framework " + c.fid) })
	expectError(t, rawPost(t, m.url+"/api/v1/scheduler", fmt.Sprintf(`{"type":"REVIVE","framework_id":{"value":%q}}`, c.fid),
		map[string]string{"Content-Type": "application/json", "Mesos-Stream-Id": "x"}),
		http.StatusBadRequest, "Framework cannot be found")
	m.mu.Lock()
	fw := m.completedFrameworkLocked(c.fid)
	var state mesos.TaskState
	var reason mesos.TaskStatus_Reason
	if fw != nil && len(fw.completedTasks) == 1 {
		t := fw.completedTasks[0]
		state, reason = t.GetState(), t.Statuses[len(t.Statuses)-1].GetReason()
	}
	m.mu.Unlock()
	if fw == nil || state != mesos.TASK_KILLED || reason != mesos.REASON_FRAMEWORK_REMOVED {
		t.Errorf("completed framework %v, task %s %s", fw != nil, state, reason)
	}
	fi.ID = &mesos.FrameworkID{Value: c.fid}
	s := rawSubscribe(t, m.url, fmt.Sprintf(`{"type":"SUBSCRIBE","framework_id":{"value":%q},"subscribe":{"framework_info":{"user":"root","name":"ft","id":{"value":%q}}}}`, c.fid, c.fid))
	if ev, rec := s.event(t); ev.Type != scheduler.Event_ERROR || ev.Error.Message != "Framework has been removed" {
		t.Fatalf("resubscribe: %s", rec)
	}
}

func TestUnknownFrameworkIDIsRecovered(t *testing.T) {
	m := startStubMaster(t)
	fi := frameworkInfo("recovered")
	fi.ID = &mesos.FrameworkID{Value: "from-old-master-0007"}
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(fi)
	if c.fid != "from-old-master-0007" {
		t.Fatalf("framework id %q", c.fid)
	}
}

func TestReconciliation(t *testing.T) {
	for _, pa := range []bool{false, true} {
		t.Run(fmt.Sprintf("partition_aware=%v", pa), func(t *testing.T) {
			m := startStubMaster(t)
			agent := newStubAgent("a1", 2, 1024)
			if err := m.AddAgent(agent); err != nil {
				t.Fatal(err)
			}
			lost := newStubAgent("a-lost", 1, 512)
			if err := m.AddAgent(lost); err != nil {
				t.Fatal(err)
			}
			var caps []mesos.FrameworkInfo_Capability_Type
			if pa {
				caps = append(caps, mesos.FrameworkInfo_Capability_PARTITION_AWARE)
			}
			c := newSchedClient(t, m.url, protobufCodec)
			c.subscribe(frameworkInfo("rec", caps...))
			offers := c.next(scheduler.Event_OFFERS).Offers.Offers
			var o mesos.Offer
			for _, x := range offers {
				if x.AgentID.Value == "a1" {
					o = x
				}
			}
			task := mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "known"}, AgentID: o.AgentID,
				Resources: []mesos.Resource{scalarRes("cpus", 1)}, Command: &mesos.CommandInfo{Value: strPtr("true")}}
			c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)))
			testtool.WaitFor(t, "launch", 5*time.Second, func() bool { return agent.has("run known") })
			m.MarkAgentUnreachable("a-lost")
			c.next(scheduler.Event_FAILURE)
			m.ExpectAgents([]mesos.AgentInfo{{Hostname: "h", ID: &mesos.AgentID{Value: "a-recovering"}}})

			lostState := func(s mesos.TaskState) mesos.TaskState {
				if pa {
					return s
				}
				return mesos.TASK_LOST
			}
			c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"known": "a1"})))
			expectReconcile(t, c, "known", mesos.TASK_STAGING, "Reconciliation: Latest task state")
			c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"x": "a-recovering"})))
			c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"gone-task": "a1"})))
			// Case 2 gives no reply at all: the next answer is case 3's.
			expectReconcile(t, c, "gone-task", lostState(mesos.TASK_GONE), "Reconciliation: Task is unknown to the agent")
			c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"u": "a-lost"})))
			st := expectReconcile(t, c, "u", lostState(mesos.TASK_UNREACHABLE), "Reconciliation: Task is unreachable")
			if pa && st.UnreachableTime == nil {
				t.Error("TASK_UNREACHABLE without unreachable_time")
			}
			c.mustCall(calls.Reconcile(calls.ReconcileTasks(map[string]string{"nobody": "a-unknown"})))
			expectReconcile(t, c, "nobody", lostState(mesos.TASK_UNKNOWN), "Reconciliation: Task is unknown")
			// KILL of an unknown task is an explicit reconciliation.
			c.mustCall(calls.Kill("ghost", "a1"))
			expectReconcile(t, c, "ghost", lostState(mesos.TASK_GONE), "Reconciliation: Task is unknown to the agent")
			// Implicit: the active tasks only.
			c.mustCall(calls.Reconcile())
			expectReconcile(t, c, "known", mesos.TASK_STAGING, "Reconciliation: Latest task state")
			c.expectQuiet(100 * time.Millisecond)
		})
	}
}

func expectReconcile(t *testing.T, c *schedClient, taskID string, state mesos.TaskState, msg string) mesos.TaskStatus {
	t.Helper()
	st := c.next(scheduler.Event_UPDATE).Update.Status
	if st.TaskID.Value != taskID || st.GetState() != state || st.GetMessage() != msg ||
		st.GetSource() != mesos.SOURCE_MASTER || st.GetReason() != mesos.REASON_RECONCILIATION || st.UUID != nil {
		t.Fatalf("reconcile %s: got %v, want %s %q", taskID, st, state, msg)
	}
	return st
}

func TestInvalidLaunches(t *testing.T) {
	m := startStubMaster(t)
	agent := newStubAgent("a1", 2, 1024)
	if err := m.AddAgent(agent); err != nil {
		t.Fatal(err)
	}
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("bad"))
	o := c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	mk := func(id string, cpus float64) mesos.TaskInfo {
		return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: o.AgentID,
			Resources: []mesos.Resource{scalarRes("cpus", cpus)}, Command: &mesos.CommandInfo{Value: strPtr("true")}}
	}
	big := mk("big", 5)
	noCmd := mk("nocmd", 1)
	noCmd.Command = nil
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(big, noCmd, mk("ok", 1), mk("ok", 1))}.WithOffers(o.ID)))
	for _, want := range []struct {
		id, prefix string
	}{
		{"big", "Total resources "},
		{"nocmd", "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present"},
		{"ok", "Task has duplicate ID: ok"},
	} {
		st := c.next(scheduler.Event_UPDATE).Update.Status
		if st.TaskID.Value != want.id || st.GetState() != mesos.TASK_ERROR || st.GetReason() != mesos.REASON_TASK_INVALID ||
			!strings.HasPrefix(st.GetMessage(), want.prefix) || st.UUID != nil {
			t.Fatalf("got %v, want TASK_ERROR for %s", st, want.id)
		}
	}
	testtool.WaitFor(t, "valid task launched", 5*time.Second, func() bool { return agent.has("run ok") })
	// The offer is gone: reusing it is an invalid-offer launch.
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(mk("late", 1))}.WithOffers(o.ID)))
	st := c.next(scheduler.Event_UPDATE).Update.Status
	if st.GetState() != mesos.TASK_LOST || st.GetReason() != mesos.REASON_INVALID_OFFERS ||
		st.GetMessage() != "Task launched with invalid offers: Offer "+o.ID.Value+" is no longer valid" {
		t.Fatalf("got %v", st)
	}
}

func TestAgentUnreachableAfterMissedPings(t *testing.T) {
	m := startStubMaster(t, func(c *MasterConfig) {
		c.AgentPingTimeout = 20 * time.Millisecond
		c.MaxAgentPingTimeouts = 2
	})
	agent := newStubAgent("a1", 2, 1024) // never pongs
	if err := m.AddAgent(agent); err != nil {
		t.Fatal(err)
	}
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("ping", mesos.FrameworkInfo_Capability_PARTITION_AWARE))
	o := c.next(scheduler.Event_OFFERS).Offers.Offers[0]
	task := mesos.TaskInfo{Name: "t", TaskID: mesos.TaskID{Value: "t"}, AgentID: o.AgentID,
		Resources: []mesos.Resource{scalarRes("cpus", 1)}, Command: &mesos.CommandInfo{Value: strPtr("true")}}
	c.mustCall(calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(o.ID)))
	seen := map[scheduler.Event_Type]bool{}
	deadline := time.After(5 * time.Second)
	for !(seen[scheduler.Event_UPDATE] && seen[scheduler.Event_FAILURE]) {
		select {
		case ev := <-c.events:
			seen[ev.Type] = true
			switch ev.Type {
			case scheduler.Event_UPDATE:
				st := ev.Update.Status
				if st.GetState() != mesos.TASK_UNREACHABLE || st.GetReason() != mesos.REASON_AGENT_REMOVED || st.UnreachableTime == nil {
					t.Fatalf("update %v", st)
				}
			case scheduler.Event_FAILURE:
				if ev.Failure.GetAgentID().GetValue() != "a1" || ev.Failure.ExecutorID != nil {
					t.Fatalf("failure %v", ev.Failure)
				}
			}
		case <-deadline:
			t.Fatalf("saw %v", seen)
		}
	}
	// The agent comes back: partition-aware tasks survive.
	agent.state.Frameworks = []mesos.FrameworkInfo{{User: "root", Name: "ping", ID: &mesos.FrameworkID{Value: c.fid}}}
	running := mesos.TASK_RUNNING
	agent.state.Tasks = []mesos.Task{{Name: "t", TaskID: task.TaskID, FrameworkID: mesos.FrameworkID{Value: c.fid},
		AgentID: o.AgentID, State: &running, Resources: task.Resources}}
	if err := m.AddAgent(agent); err != nil {
		t.Fatal(err)
	}
	if st := masterTaskState(m.Master, c.fid, "t"); st != mesos.TASK_RUNNING {
		t.Fatalf("task state after re-registration: %s", st)
	}
}

// Ensure protobuf stream headers too.
func TestProtobufSubscribeHeaders(t *testing.T) {
	m := startStubMaster(t)
	fi := frameworkInfo("pb")
	body, err := proto.Marshal(calls.Subscribe(&fi))
	if err != nil {
		t.Fatal(err)
	}
	resp := rawPost(t, m.url+"/master/api/v1/scheduler", string(body),
		map[string]string{"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"})
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" ||
		resp.Header.Get("Mesos-Stream-Id") == "" || resp.ContentLength != -1 {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
}
