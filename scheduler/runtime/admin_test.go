package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// auditStore is the harness's store with an audit trail (kept by a
// store.Memory).
type auditStore struct {
	*fakeStore
	mem *store.Memory
}

func (s auditStore) SaveAudited(ctx context.Context, p coordinator.Persist, audit []store.AuditEntry) error {
	if err := s.Save(ctx, p); err != nil {
		return err
	}
	return s.mem.SaveAudited(ctx, coordinator.Persist{}, audit)
}

func (s auditStore) LoadAudit(ctx context.Context, limit int) ([]store.AuditEntry, error) {
	return s.mem.LoadAudit(ctx, limit)
}

const (
	opToken     = "operator-token-0123456789"
	viewToken   = "viewer-token-0123456789"
	approveStep = "restart"
)

// api is the admin API over a harness' runtime, with tokens.
type api struct {
	t   testing.TB
	url string
}

func newAPI(t testing.TB, b admin.Backend) *api {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte("olga operator "+opToken+"\nvera viewer "+viewToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tk, err := admin.LoadTokens(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Backend: b, Tokens: tk}))
	t.Cleanup(srv.Close)
	return &api{t: t, url: srv.URL}
}

// call sends a request with the operator token and decodes the answer
// into out (unless nil); it returns the status and the error body.
func (a *api) call(method, path string, body, out any) (int, http.Header, string) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+opToken)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	cli := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cli.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, resp.Header, string(data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode, resp.Header, ""
}

func (a *api) want(code int, method, path string, body, out any) string {
	a.t.Helper()
	got, _, errBody := a.call(method, path, body, out)
	if got != code {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, got, errBody, code)
	}
	return errBody
}

func approvalPolicy(c *Config) {
	c.Policy.DefaultLadder[0].Approval = true
	c.Policy.NumAllowedRepairs = 10
}

// leading starts a harness whose store keeps an audit trail, elected,
// subscribed and mutable, knowing agents a1..a3 (hosts h1..h3).
func leading(t testing.TB, tweak func(*Config)) (*harness, *api) {
	h := newHarness(t, tweak)
	h.m.onOp = agentsAnswer("a1", "a2", "a3")
	st := auditStore{fakeStore: h.st, mem: store.NewMemory()}
	ctx, cancel := context.WithCancel(context.Background())
	h.termCtx = cancel
	h.lead <- Leadership{Kind: Elected, Term: &Term{Ctx: ctx, Store: st}}
	h.waitFor("term running", func() bool { return h.rt.term() != nil })
	h.subscribe(1)
	h.known("a3")
	return h, newAPI(t, h.rt)
}

func TestOperatorCommandsThroughTheAPI(t *testing.T) {
	_, a := leading(t, approvalPolicy)

	// A signal opens an incident whose first step waits for approval; a
	// second one attaches and is not audited.
	var rep admin.RepairResponse
	a.want(http.StatusAccepted, "POST", "/repair", admin.RepairRequest{Hostname: "h1", Problem: "hung", Source: "nagios"}, &rep)
	if rep.State != "awaiting-approval" || rep.Incident == nil || rep.Incident.ApprovalAttempt == 0 {
		t.Fatalf("repair: %+v", rep)
	}
	a.want(http.StatusOK, "POST", "/repair", admin.RepairRequest{Hostname: "h1", Problem: "hung"}, &rep)
	if !rep.Attached {
		t.Fatalf("the second signal was not attached: %+v", rep)
	}
	// Wildcard and unknown targets.
	a.want(http.StatusBadRequest, "POST", "/repair", admin.RepairRequest{Hostname: "*", Problem: "hung"}, nil)
	a.want(http.StatusNotFound, "POST", "/repair", admin.RepairRequest{Hostname: "h9", Problem: "hung"}, nil)

	var waiting admin.RepairList
	a.want(http.StatusOK, "GET", "/repairs?state=awaiting-approval", nil, &waiting)
	if waiting.Total != 1 || waiting.Repairs[0].Approval == nil || waiting.Repairs[0].Hostname != "h1" {
		t.Fatalf("awaiting approval: %+v", waiting)
	}
	w := waiting.Repairs[0]
	// A stale approval is refused and changes nothing.
	detail := a.want(http.StatusConflict, "POST", "/repairs/h1/approve",
		map[string]uint64{"incident": w.Incident, "attempt": w.Approval.Attempt + 5}, nil)
	if !strings.Contains(detail, "stale approval") {
		t.Errorf("stale approval: %s", detail)
	}
	a.want(http.StatusConflict, "POST", "/repairs/h1/approve", map[string]uint64{"incident": w.Incident + 1, "attempt": w.Approval.Attempt}, nil)
	var cr admin.CommandResponse
	a.want(http.StatusOK, "POST", "/repairs/h1/approve", map[string]uint64{"incident": w.Incident, "attempt": w.Approval.Attempt}, &cr)
	if cr.State != "repairing" || !strings.Contains(cr.Decision, "approved") || !strings.Contains(cr.Decision, "by=olga") {
		t.Fatalf("approve: %+v", cr)
	}
	a.want(http.StatusConflict, "POST", "/repairs/h1/approve", map[string]uint64{"incident": w.Incident, "attempt": w.Approval.Attempt}, nil)
	a.want(http.StatusOK, "POST", "/repairs/h1/cancel", map[string]any{"incident": w.Incident, "reason": "false alarm"}, &cr)
	a.want(http.StatusConflict, "POST", "/repairs/h1/cancel", nil, nil)

	// Overrides on h2.
	a.want(http.StatusOK, "POST", "/agents/h2/isolate", map[string]string{"reason": "bad DIMM"}, &cr)
	if cr.State != "isolated" || cr.AgentID != "a2" {
		t.Fatalf("isolate: %+v", cr)
	}
	a.want(http.StatusConflict, "POST", "/agents/a2/isolate", nil, nil)
	a.want(http.StatusConflict, "POST", "/agents/a2/force", nil, nil)
	a.want(http.StatusOK, "POST", "/agents/a2/reactivate", nil, &cr)
	a.want(http.StatusConflict, "POST", "/agents/a2/reactivate", nil, nil)
	a.want(http.StatusOK, "POST", "/agents/h3/exclude", nil, &cr)
	a.want(http.StatusOK, "POST", "/agents/h3/include", nil, &cr)
	a.want(http.StatusOK, "POST", "/agents/h3/force", map[string]string{"problem": "disk", "reason": "by hand"}, &cr)
	if cr.State != "repairing" || cr.Incident == nil || cr.Incident.Run == nil || !cr.Incident.Run.Forced {
		t.Fatalf("force: %+v", cr)
	}
	a.want(http.StatusNotFound, "POST", "/agents/nope/isolate", nil, nil)
	a.want(http.StatusNotFound, "POST", "/agents/nope/isolate", nil, nil)

	// Pause and resume.
	a.want(http.StatusOK, "POST", "/pause", map[string]string{"reason": "network maintenance"}, &cr)
	if cr.Paused == nil || !*cr.Paused {
		t.Fatalf("pause: %+v", cr)
	}
	if detail := a.want(http.StatusConflict, "POST", "/pause", map[string]string{"reason": "again"}, nil); !strings.Contains(detail, "network maintenance") {
		t.Errorf("a second pause does not say who paused and why: %s", detail)
	}
	var st admin.Status
	a.want(http.StatusOK, "GET", "/status", nil, &st)
	if !st.Paused || st.PausedBy != "olga" || st.PauseReason != "network maintenance" {
		t.Fatalf("status while paused: %+v", st)
	}
	a.want(http.StatusOK, "POST", "/resume", nil, &cr)
	a.want(http.StatusConflict, "POST", "/resume", nil, nil)

	// The audit trail: newest first, every mutation but the attached
	// signal, the two identical refusals merged.
	var audit admin.AuditList
	a.want(http.StatusOK, "GET", "/audit?limit=100", nil, &audit)
	var got []string
	for _, e := range audit.Entries {
		if e.Principal != "olga" || e.Role != "operator" || e.Remote == "" || e.At.IsZero() {
			t.Errorf("entry without who/when: %+v", e)
		}
		s := e.Action + ":" + e.Result
		if e.Count > 1 {
			s += "x" + string(rune('0'+e.Count))
		}
		got = append(got, s)
	}
	want := []string{"resume:refused", "resume:accepted", "pause:refused", "pause:accepted", "isolate:refusedx2",
		"force:accepted", "include:accepted", "exclude:accepted", "reactivate:refused", "reactivate:accepted",
		"force:refused", "isolate:refused", "isolate:accepted", "cancel:refused", "cancel:accepted", "approve:refused",
		"approve:accepted", "approve:refused", "approve:refused", "repair:refused", "repair:refused", "repair:accepted"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit trail:\n got %v\nwant %v", got, want)
	}
	if e := audit.Entries[len(audit.Entries)-1]; e.Target != "h1" || e.Code != http.StatusAccepted || e.Reason != "hung" {
		t.Errorf("the repair's entry: %+v", e)
	}
}

func TestRepairsListsOpenAndClosed(t *testing.T) {
	h, a := leading(t, func(c *Config) { c.Policy.NumAllowedRepairs = 10 })
	a.want(http.StatusAccepted, "POST", "/repair", admin.RepairRequest{Hostname: "h1", Problem: "hung"}, nil)
	h.clock.Advance(time.Hour)
	a.want(http.StatusAccepted, "POST", "/repair", admin.RepairRequest{Hostname: "h2", Problem: "disk"}, nil)
	a.want(http.StatusOK, "POST", "/repairs/h2/cancel", nil, nil)
	a.want(http.StatusAccepted, "POST", "/repair", admin.RepairRequest{Hostname: "h2", Problem: "disk"}, nil)

	var l admin.RepairList
	a.want(http.StatusOK, "GET", "/repairs", nil, &l)
	if l.Total != 2 || l.Repairs[0].Hostname != "h1" || l.Repairs[1].Hostname != "h2" {
		t.Fatalf("open repairs, oldest first: %+v", l.Repairs)
	}
	a.want(http.StatusOK, "GET", "/repairs?older_than=30m", nil, &l)
	if l.Total != 1 || l.Repairs[0].Hostname != "h1" || l.Repairs[0].AgeSeconds < 3600 {
		t.Fatalf("older than 30m: %+v", l.Repairs)
	}
	a.want(http.StatusOK, "GET", "/repairs?problem=disk&agent=a2", nil, &l)
	if l.Total != 1 || l.Repairs[0].Problem != "disk" {
		t.Fatalf("by problem and agent: %+v", l.Repairs)
	}
	a.want(http.StatusOK, "GET", "/repairs?limit=1&offset=1", nil, &l)
	if l.Total != 2 || len(l.Repairs) != 1 || l.Repairs[0].Hostname != "h2" {
		t.Fatalf("paged: %+v", l)
	}
	var agents admin.AgentList
	a.want(http.StatusOK, "GET", "/agents?q=h&limit=2&offset=1", nil, &agents)
	if agents.Total != 3 || len(agents.Agents) != 2 || agents.Agents[0].ID != "a2" {
		t.Fatalf("agents paged: %+v", agents)
	}
}

func TestAlertmanagerBatchIsTakenOrRefusedWhole(t *testing.T) {
	_, a := leading(t, func(c *Config) { c.Policy.NumAllowedRepairs = 10 })
	hook := func(hosts ...string) admin.Webhook {
		w := admin.Webhook{Version: "4", Status: "firing"}
		for _, h := range hosts {
			w.Alerts = append(w.Alerts, admin.WebhookAlert{Status: "firing", Fingerprint: "f-" + h,
				Labels: map[string]string{"instance": h + ":9100", "alertname": "NodeHung"}})
		}
		return w
	}
	detail := a.want(http.StatusNotFound, "POST", "/alertmanager", hook("h1", "decommissioned-7", "h2"), nil)
	if !strings.Contains(detail, "decommissioned-7") || strings.Contains(detail, "f-h1") {
		t.Errorf("the refusal does not name (only) the bad alert: %s", detail)
	}
	var st admin.Status
	a.want(http.StatusOK, "GET", "/status", nil, &st)
	if st.Counts.Healthy != 3 {
		t.Fatalf("a refused batch changed something: %+v", st.Counts)
	}
	var resp admin.AlertResponse
	w := hook("h1", "h2")
	w.Alerts = append(w.Alerts, admin.WebhookAlert{Status: "resolved", Labels: map[string]string{"instance": "h3"}})
	a.want(http.StatusOK, "POST", "/alertmanager", w, &resp)
	if len(resp.Alerts) != 3 || resp.Alerts[0].Incident != 1 || resp.Alerts[1].AgentID != "a2" || resp.Alerts[2].Status != "resolved" {
		t.Fatalf("taken: %+v", resp)
	}
	a.want(http.StatusOK, "GET", "/status", nil, &st)
	if st.Counts.Healthy != 1 {
		t.Fatalf("after the batch: %+v", st.Counts)
	}
	var audit admin.AuditList
	a.want(http.StatusOK, "GET", "/audit", nil, &audit)
	if len(audit.Entries) != 2 || audit.Entries[0].Result != "accepted" || audit.Entries[1].Code != http.StatusNotFound {
		t.Fatalf("audit: %+v", audit.Entries)
	}
}

func TestImmutableRefusesWithRetryAfter(t *testing.T) {
	h := newHarness(t, nil)
	h.m.onOp = agentsAnswer("a1")
	h.elect()
	a := newAPI(t, h.rt)
	code, hdr, body := a.call("POST", "/repair", admin.RepairRequest{Hostname: "h1", Problem: "hung"}, nil)
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "immutable") {
		t.Fatalf("repair while Immutable: %d %q %s", code, hdr.Get("Retry-After"), body)
	}
	code, _, _ = a.call("POST", "/alertmanager", admin.Webhook{Version: "4"}, nil)
	if code != http.StatusServiceUnavailable {
		t.Fatalf("alertmanager while Immutable: %d", code)
	}
}

func TestStandbyAnswersFromItsViewAndRedirects(t *testing.T) {
	now := time.Now().UTC()
	snap := store.Snapshot{Framework: &store.Framework{ID: "fw-1"}, Agents: []coordinator.AgentRecord{
		{ID: "a1", Hostname: "h1"},
		{ID: "a2", Hostname: "h2", State: coordinator.StatePending, Incidents: 1,
			Incident: coordinator.Incident{ID: 1, Problem: "hung", OpenedAt: now.Add(-time.Minute), PendingSince: now}},
	}}
	mem := store.NewMemory()
	entries := []store.AuditEntry{{At: now, Principal: "olga", Action: "pause", Result: "accepted", Code: 200}}
	if err := mem.SaveAudited(context.Background(), coordinator.Persist{}, entries); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(c *Config) {
		c.LeaderURL = func() string { return "http://leader:7070" }
		c.Self = "http://standby:7070"
		c.Standby = func(context.Context) (store.Snapshot, error) { return snap, nil }
		c.StandbyAudit = mem.LoadAudit
	})
	a := newAPI(t, h.rt)
	var l admin.RepairList
	a.want(http.StatusOK, "GET", "/repairs", nil, &l)
	if l.Total != 1 || l.Repairs[0].AgentID != "a2" || l.AsOf.IsZero() {
		t.Fatalf("a standby's repairs: %+v", l)
	}
	var st admin.Status
	a.want(http.StatusOK, "GET", "/status", nil, &st)
	if st.IsLeader || st.Leader != "http://leader:7070" || st.Counts.Pending != 1 {
		t.Fatalf("a standby's status: %+v", st)
	}
	var audit admin.AuditList
	a.want(http.StatusOK, "GET", "/audit", nil, &audit)
	if len(audit.Entries) != 1 || audit.Entries[0].Principal != "olga" {
		t.Fatalf("a standby's audit: %+v", audit)
	}
	for _, p := range []string{"/repair", "/pause", "/agents/a1/isolate", "/repairs/a2/cancel", "/alertmanager"} {
		var body any = map[string]string{"reason": "x"}
		switch p {
		case "/repair":
			body = admin.RepairRequest{Hostname: "h1", Problem: "p"}
		case "/alertmanager":
			body = admin.Webhook{Version: "4"}
		case "/agents/a1/isolate", "/repairs/a2/cancel":
			body = nil
		}
		code, hdr, _ := a.call("POST", p, body, nil)
		if code != http.StatusTemporaryRedirect || hdr.Get("Location") != "http://leader:7070"+p {
			t.Errorf("%s on a standby: %d, Location %q", p, code, hdr.Get("Location"))
		}
	}
}

func TestClosedRepairsComeFromHistory(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	recs := []coordinator.AgentRecord{{ID: "a1", Hostname: "h1", Incidents: 2, History: []coordinator.Attempt{
		{ID: 1, Incident: 1, Problem: "hung", Action: "restart", StartedAt: at(0), EndedAt: at(1), Result: coordinator.ResultFailed, ExitCode: 1},
		{ID: 2, Incident: 1, Problem: "hung", Action: "reboot", StartedAt: at(2), EndedAt: at(5), Result: coordinator.ResultSucceeded},
		{ID: 3, Incident: 2, Problem: "disk", Action: "restart", StartedAt: at(60), EndedAt: at(61), Result: coordinator.ResultSucceeded},
	}}}
	l := repairList(recs, admin.RepairFilter{State: "closed"}, at(120))
	if l.Total != 2 {
		t.Fatalf("closed: %+v", l)
	}
	newest, older := l.Repairs[0], l.Repairs[1]
	if newest.Incident != 2 || older.Incident != 1 || older.StepsRun != 2 || older.Action != "reboot" ||
		older.Result != "succeeded" || len(older.Attempts) != 2 || !older.EndedAt.Equal(at(5)) || older.State != "closed" {
		t.Fatalf("closed repairs: %+v", l.Repairs)
	}
	if l := repairList(recs, admin.RepairFilter{State: "closed", NewerThan: time.Hour}, at(120)); l.Total != 1 || l.Repairs[0].Incident != 2 {
		t.Fatalf("closed within the hour: %+v", l.Repairs)
	}
}

// Found by the soak: a request whose client gave up while the loop was
// busy returned its response variable while the loop, taking the request
// later, still wrote it (a data race under -race). A request that ends
// early answers with nothing the loop may touch.
func TestRequestEndingBeforeTheLoopTakesIt(t *testing.T) {
	h, _ := leading(t, nil)
	release := make(chan struct{})
	term := h.rt.term()
	if !term.post(func() { <-release }) {
		t.Fatal("the term ended")
	}
	// The loop is let go once a request is queued, by a goroutine that
	// does not wait for the caller: nothing orders the loop's handling of
	// the request after the caller's return, as with a real client that
	// gives up.
	freed := make(chan struct{})
	go func() {
		defer close(freed)
		for len(term.requests) == 0 {
			runtime.Gosched()
		}
		close(release)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.rt.Command(ctx, admin.Command{Op: admin.OpIsolate, Target: "a2", Reason: "gave up"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("command with its request ended: %v", err)
	}
	if _, err := h.rt.Status(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("status with its request ended: %v", err)
	}
	if _, err := h.rt.Agents(ctx, admin.AgentFilter{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("agents with its request ended: %v", err)
	}
	if _, err := h.rt.Agent(ctx, "a2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("agent with its request ended: %v", err)
	}
	if _, _, err := h.rt.Repair(ctx, admin.RepairRequest{Hostname: "h1", Problem: "hung"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("repair with its request ended: %v", err)
	}
	<-freed
	// The loop takes the queued requests after it is free; the isolation
	// they asked for happens (the request was taken, only its answer was
	// lost).
	h.waitFor("the queued isolate taken", func() bool {
		st, err := h.rt.Status(context.Background())
		return err == nil && st.Counts.Isolated == 1
	})
}
