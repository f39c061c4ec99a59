package emulator

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/healer-mesos/healer/integration/emulator/mesosjson"
	"github.com/healer-mesos/healer/internal/testtool"
)

// rawExecutorAgent starts an agent with one framework "fw-1" whose executor
// "e1" is a process that never subscribes, so the test can play it over raw
// HTTP; its task "t1" is queued.
func rawExecutorAgent(t *testing.T) (*Agent, *masterDouble, string) {
	t.Helper()
	a, m := startTestAgent(t, testAgentConfig(t))
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "sleep 30"))
	testtool.WaitFor(t, "executor registered", 5*time.Second, func() bool { return len(a.State().Executors) == 1 })
	return a, m, "http://" + a.Endpoint() + "/api/v1/executor"
}

func postExecutor(t *testing.T, url, contentType, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Length") == "" {
		return resp, "" // a stream: the caller reads it
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func updateCall(fw, exec, status string) string {
	return `{"type":"UPDATE","framework_id":{"value":"` + fw + `"},"executor_id":{"value":"` + exec +
		`"},"update":{"status":` + status + `}}`
}

func TestExecutorAPIErrors(t *testing.T) {
	_, _, url := rawExecutorAgent(t)
	good := b64(newUUIDBytes())
	badUUID := b64([]byte("0123456789abcdef0123456789abcdef0123"))
	cases := []struct {
		name        string
		method      string
		contentType string
		body        string
		accept      string
		code        int
		msg         string
	}{
		{"GET", http.MethodGet, "", "", "", 405, "Expecting one of { 'POST' }, but received 'GET'"},
		{"no content type", "", "", `{}`, "", 400, "Expecting 'Content-Type' to be present"},
		{"wrong content type", "", "application/json; charset=utf-8", `{}`, "", 415,
			"Expecting 'Content-Type' of application/json or application/x-protobuf"},
		{"bad protobuf", "", mediaProtobuf, "\xff\xff\xff", "", 400, "Failed to parse body into Call protobuf"},
		{"no uuid", "", mediaJSON, updateCall("fw-1", "e1",
			`{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR"}`), "", 400,
			"Failed to validate Executor::Call: Expecting 'uuid' to be present"},
		{"36-byte uuid", "", mediaJSON, updateCall("fw-1", "e1",
			`{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"`+badUUID+`"}`), "", 400,
			"Failed to validate Executor::Call: Not a valid UUID"},
		{"executor mismatch", "", mediaJSON, updateCall("fw-1", "e1",
			`{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"`+good+`","executor_id":{"value":"other"}}`), "", 400,
			"Failed to validate Executor::Call: ExecutorID in Call: e1 does not match ExecutorID in TaskStatus: other"},
		{"agent source", "", mediaJSON, updateCall("fw-1", "e1",
			`{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_AGENT","uuid":"`+good+`"}`), "", 400,
			"Failed to validate Executor::Call: Received Call from executor e1 of framework fw-1 with invalid source, expecting 'SOURCE_EXECUTOR'"},
		{"staging", "", mediaJSON, updateCall("fw-1", "e1",
			`{"task_id":{"value":"t1"},"state":"TASK_STAGING","source":"SOURCE_EXECUTOR","uuid":"`+good+`"}`), "", 400,
			"Failed to validate Executor::Call: Received TASK_STAGING from executor e1 of framework fw-1 which is not allowed"},
		{"heartbeat unknown framework", "", mediaJSON,
			`{"type":"HEARTBEAT","framework_id":{"value":"nope"},"executor_id":{"value":"nope"}}`, "", 202, ""},
		{"unknown framework", "", mediaJSON,
			`{"type":"MESSAGE","framework_id":{"value":"nope"},"executor_id":{"value":"e1"},"message":{"data":"eA=="}}`, "", 400,
			"Framework cannot be found"},
		{"unknown executor", "", mediaJSON,
			`{"type":"MESSAGE","framework_id":{"value":"fw-1"},"executor_id":{"value":"nope"},"message":{"data":"eA=="}}`, "", 400,
			"Executor cannot be found"},
		{"not subscribed", "", mediaJSON,
			`{"type":"MESSAGE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"message":{"data":"eA=="}}`, "", 403,
			"Executor is not subscribed"},
		{"subscribe not acceptable", "", mediaJSON,
			`{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`, "text/plain", 406,
			"Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req, _ := http.NewRequest(method, url, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if c.accept != "" {
				req.Header.Set("Accept", c.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code || string(body) != c.msg {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, c.code, c.msg)
			}
			if c.code == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
			if c.code == 202 && (resp.Header.Get("Content-Type") != "" || resp.Header.Get("Content-Length") != "0") {
				t.Errorf("202 headers: %v", resp.Header)
			}
		})
	}
}

// recordReader reads RecordIO-framed executor events from a stream.
type recordReader struct {
	r           *bufio.Reader
	contentType string
}

func (rr *recordReader) next(t *testing.T) *executor.Event {
	t.Helper()
	line, err := rr.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read record length: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || n <= 0 {
		t.Fatalf("bad record length %q", line)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(rr.r, buf); err != nil {
		t.Fatalf("read record: %v", err)
	}
	var ev executor.Event
	if rr.contentType == mediaProtobuf {
		err = proto.Unmarshal(buf, &ev)
	} else {
		err = mesosjson.Unmarshal(buf, &ev)
	}
	if err != nil {
		t.Fatalf("decode %s: %v", buf, err)
	}
	return &ev
}

func subscribeRaw(t *testing.T, url, accept, body string) (*http.Response, *recordReader) {
	t.Helper()
	resp, _ := postExecutor(t, url, mediaJSON, body, "Accept", accept)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SUBSCRIBE: %d", resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &recordReader{r: bufio.NewReader(resp.Body), contentType: resp.Header.Get("Content-Type")}
}

func TestExecutorSubscribeStream(t *testing.T) {
	a, m, url := rawExecutorAgent(t)
	m.autoAck = a
	sub := `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`
	resp, rr := subscribeRaw(t, url, mediaJSON, sub)
	if ct := resp.Header.Get("Content-Type"); ct != mediaJSON {
		t.Errorf("Content-Type %q", ct)
	}
	if resp.Header.Get("Content-Length") != "" || resp.Header.Get("Mesos-Stream-Id") != "" {
		t.Errorf("stream headers: %v", resp.Header)
	}
	ev := rr.next(t)
	if ev.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev.Type)
	}
	s := ev.Subscribed
	info := a.Info()
	if s.AgentInfo.Hostname != info.Hostname || s.AgentInfo.GetPort() != info.GetPort() ||
		s.AgentInfo.GetID().Value != a.ID().Value || len(s.AgentInfo.Resources) == 0 ||
		s.ExecutorInfo.ExecutorID.Value != "e1" || s.FrameworkInfo.GetID().Value != "fw-1" ||
		s.ContainerID == nil || s.ContainerID.Value == "" {
		t.Errorf("SUBSCRIBED = %+v", s)
	}
	ev = rr.next(t)
	if ev.Type != executor.Event_LAUNCH || ev.Launch.Task.TaskID.Value != "t1" {
		t.Fatalf("second event %+v", ev)
	}

	// UPDATE: 202, then ACKNOWLEDGED with the same uuid.
	uuid := newUUIDBytes()
	r, body := postExecutor(t, url, mediaJSON, updateCall("fw-1", "e1",
		`{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"`+b64(uuid)+`"}`))
	if r.StatusCode != http.StatusAccepted || body != "" {
		t.Fatalf("UPDATE: %d %q", r.StatusCode, body)
	}
	ev = rr.next(t)
	if ev.Type != executor.Event_ACKNOWLEDGED || ev.Acknowledged.TaskID.Value != "t1" || string(ev.Acknowledged.UUID) != string(uuid) {
		t.Fatalf("expected ACKNOWLEDGED, got %+v", ev)
	}
	u := waitAgentUpdate(t, m, "t1", 1)
	if string(u.Status.UUID) != string(uuid) || u.Status.GetState() != mesos.TASK_RUNNING {
		t.Errorf("forwarded %+v", u.Status)
	}

	// MESSAGE from the executor reaches the master; one from the scheduler
	// reaches the executor.
	r, _ = postExecutor(t, url, mediaJSON,
		`{"type":"MESSAGE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"message":{"data":"`+b64([]byte("up"))+`"}}`)
	if r.StatusCode != http.StatusAccepted {
		t.Errorf("MESSAGE: %d", r.StatusCode)
	}
	testtool.WaitFor(t, "executor message", 5*time.Second, func() bool { return len(m.Messages()) == 1 })
	a.FrameworkMessage(mesos.FrameworkID{Value: "fw-1"}, mesos.ExecutorID{Value: "e1"}, []byte("down"))
	ev = rr.next(t)
	if ev.Type != executor.Event_MESSAGE || string(ev.Message.Data) != "down" {
		t.Errorf("expected MESSAGE, got %+v", ev)
	}
	a.KillTask(mesos.FrameworkID{Value: "fw-1"}, mesos.TaskID{Value: "t1"}, nil)
	ev = rr.next(t)
	if ev.Type != executor.Event_KILL || ev.Kill.TaskID.Value != "t1" {
		t.Errorf("expected KILL, got %+v", ev)
	}

	// UNKNOWN: 501.
	r, _ = postExecutor(t, url, mediaJSON, `{"type":"UNKNOWN","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"}}`)
	if r.StatusCode != http.StatusNotImplemented {
		t.Errorf("UNKNOWN: %d", r.StatusCode)
	}

	// A new SUBSCRIBE (protobuf this time) closes the old stream; the
	// executor's unacknowledged update is recognised as a duplicate and
	// acknowledged again.
	sub2 := `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{` +
		`"unacknowledged_updates":[{"status":{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"` + b64(uuid) + `"}}]}}`
	resp2, rr2 := subscribeRaw(t, url, mediaProtobuf, sub2)
	if resp2.Header.Get("Content-Type") != mediaProtobuf {
		t.Errorf("Content-Type %q", resp2.Header.Get("Content-Type"))
	}
	if _, err := rr.r.ReadString('\n'); err != io.EOF {
		t.Errorf("old stream not closed: %v", err)
	}
	if ev := rr2.next(t); ev.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev.Type)
	}
	if ev := rr2.next(t); ev.Type != executor.Event_ACKNOWLEDGED || string(ev.Acknowledged.UUID) != string(uuid) {
		t.Fatalf("expected ACKNOWLEDGED for the replayed update, got %+v", ev)
	}
	if n := len(m.updatesFor("t1")); n != 1 {
		t.Errorf("duplicate update forwarded: %d updates", n)
	}

	// SHUTDOWN reaches the executor.
	a.ShutdownExecutor(mesos.FrameworkID{Value: "fw-1"}, mesos.ExecutorID{Value: "e1"})
	if ev := rr2.next(t); ev.Type != executor.Event_SHUTDOWN {
		t.Errorf("expected SHUTDOWN, got %v", ev.Type)
	}
}

func TestExecutorHeartbeats(t *testing.T) {
	cfg := testAgentConfig(t)
	cfg.ExecutorHeartbeatInterval = 50 * time.Millisecond
	a, _ := startTestAgent(t, cfg)
	a.RunTask(agentTestFramework("fw-1"), customExecTask("t1", "e1", "sleep 30"))
	testtool.WaitFor(t, "executor registered", 5*time.Second, func() bool { return len(a.State().Executors) == 1 })
	url := "http://" + a.Endpoint() + "/api/v1/executor"
	_, rr := subscribeRaw(t, url, mediaJSON, `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`)
	var types []string
	for i := 0; i < 4; i++ {
		types = append(types, rr.next(t).Type.String())
	}
	if fmt.Sprint(types) != "[SUBSCRIBED LAUNCH HEARTBEAT HEARTBEAT]" {
		t.Errorf("events %v", types)
	}
}

func TestSubscribeDropsUnknownStagingTasks(t *testing.T) {
	a, m := startTestAgent(t, testAgentConfig(t))
	fw := agentTestFramework("fw-1")
	checkpoint := true // else the executor is shut down when its connection drops
	fw.Checkpoint = &checkpoint
	a.RunTask(fw, customExecTask("t1", "e1", "sleep 30"))
	url := "http://" + a.Endpoint() + "/api/v1/executor"
	sub := `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`
	resp, rr := subscribeRaw(t, url, mediaJSON, sub)
	rr.next(t) // SUBSCRIBED
	rr.next(t) // LAUNCH t1: now delivered, still STAGING
	resp.Body.Close()
	// The executor comes back without knowing t1 (it never got it).
	_, rr2 := subscribeRaw(t, url, mediaJSON, sub)
	if ev := rr2.next(t); ev.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev.Type)
	}
	u := waitAgentUpdate(t, m, "t1", 1)
	if u.Status.GetState() != mesos.TASK_LOST || u.Status.GetReason() != mesos.REASON_AGENT_RESTARTED {
		t.Errorf("update %v %v", u.Status.GetState(), u.Status.GetReason())
	}
}

func TestSubscribeAfterKillDuringLaunchShutsDown(t *testing.T) {
	a, m, url := rawExecutorAgent(t)
	a.KillTask(mesos.FrameworkID{Value: "fw-1"}, mesos.TaskID{Value: "t1"}, nil)
	waitAgentState(t, m, "t1", mesos.TASK_KILLED)
	_, rr := subscribeRaw(t, url, mediaJSON, `{"type":"SUBSCRIBE","framework_id":{"value":"fw-1"},"executor_id":{"value":"e1"},"subscribe":{}}`)
	if ev := rr.next(t); ev.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("first event %v", ev.Type)
	}
	if ev := rr.next(t); ev.Type != executor.Event_SHUTDOWN {
		t.Fatalf("an executor whose only task was killed must be shut down, got %v", ev.Type)
	}
}
