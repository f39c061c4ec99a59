package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeBackend answers like a leader (or, with standby set, like a standby:
// reads served, mutations redirected) and records what reached it.
type fakeBackend struct {
	mu       sync.Mutex
	standby  bool
	leader   string
	commands []Command
	repairs  []RepairRequest
	alerts   [][]AlertSignal
	records  []AuditEntry
	callers  []Caller
	filter   RepairFilter
	agentsF  AgentFilter
	// err, when set, is what every backend call returns.
	err error
}

func (f *fakeBackend) seen(ctx context.Context) {
	f.callers = append(f.callers, CallerFrom(ctx))
}

func (f *fakeBackend) mutation(ctx context.Context) error {
	f.seen(ctx)
	if f.err != nil {
		return f.err
	}
	if f.standby {
		return NotLeader(f.leader)
	}
	return nil
}

func (f *fakeBackend) Repair(ctx context.Context, req RepairRequest) (RepairResponse, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.mutation(ctx); err != nil {
		return RepairResponse{}, false, err
	}
	f.repairs = append(f.repairs, req)
	return RepairResponse{AgentID: "a1", State: "repairing", Decision: "opened"}, req.Source != "dup", nil
}

func (f *fakeBackend) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen(ctx)
	return Status{IsLeader: !f.standby, Leader: f.leader, Mode: "execute", AsOf: time.Now()}, f.err
}

func (f *fakeBackend) Agents(ctx context.Context, flt AgentFilter) (AgentList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen(ctx)
	f.agentsF = flt
	return AgentList{Agents: []Agent{{ID: "a1", Hostname: "h1", State: "healthy"}}, Total: 1}, f.err
}

func (f *fakeBackend) Agent(ctx context.Context, id string) (Agent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen(ctx)
	if id != "a1" {
		return Agent{}, &Error{Status: http.StatusNotFound, Msg: "unknown agent"}
	}
	return Agent{ID: "a1", Hostname: "h1", State: "healthy"}, f.err
}

func (f *fakeBackend) Ready(context.Context) error { return f.err }

func (f *fakeBackend) Repairs(ctx context.Context, flt RepairFilter) (RepairList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen(ctx)
	f.filter = flt
	return RepairList{}, f.err
}

func (f *fakeBackend) Command(ctx context.Context, c Command) (CommandResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.mutation(ctx); err != nil {
		return CommandResponse{}, err
	}
	f.commands = append(f.commands, c)
	return CommandResponse{Op: c.Op, AgentID: c.Target, Decision: c.Op + "d"}, nil
}

func (f *fakeBackend) Alerts(ctx context.Context, a []AlertSignal) (AlertResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.mutation(ctx); err != nil {
		return AlertResponse{}, err
	}
	f.alerts = append(f.alerts, a)
	return AlertResponse{}, nil
}

func (f *fakeBackend) Audit(ctx context.Context, limit int) (AuditList, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen(ctx)
	out := AuditList{AsOf: time.Now()}
	for i := len(f.records) - 1; i >= 0 && len(out.Entries) < limit; i-- {
		out.Entries = append(out.Entries, f.records[i])
	}
	return out, f.err
}

func (f *fakeBackend) Record(_ context.Context, e AuditEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, e)
	return nil
}

func (f *fakeBackend) lastRecord(t *testing.T) AuditEntry {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.records) == 0 {
		t.Fatal("nothing was audited")
	}
	return f.records[len(f.records)-1]
}

func (f *fakeBackend) recordCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.records)
}

const (
	viewerToken   = "viewer-token-0123456789"
	operatorToken = "operator-token-0123456789"
)

func writeTokens(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "tokens")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// server starts the API over b, with tokens (viewer "vera", operator
// "olga") unless noTokens; insecure applies without tokens.
type testServer struct {
	t   *testing.T
	url string
	b   *fakeBackend
	reg *prometheus.Registry
}

func newServer(t *testing.T, b *fakeBackend, tokens bool, insecure bool) *testServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{Backend: b, Metrics: reg, APIMetrics: NewMetrics(reg), Insecure: insecure}
	if tokens {
		p := writeTokens(t, t.TempDir(), "# test tokens\nvera viewer "+viewerToken+"\nolga operator "+operatorToken+"\n")
		tk, err := LoadTokens(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Tokens = tk
	}
	srv := httptest.NewServer(NewHandler(cfg))
	t.Cleanup(srv.Close)
	return &testServer{t: t, url: srv.URL, b: b, reg: reg}
}

type answer struct {
	code   int
	header http.Header
	body   []byte
	err    errorBody
}

// do sends method path with body (raw when a string or []byte, else JSON
// when not nil) and the token (none when ""), as JSON unless ct says.
func (s *testServer) do(method, path, token string, body any, ct ...string) answer {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(ct) > 0 {
		if ct[0] != "" {
			req.Header.Set("Content-Type", ct[0])
		}
	} else if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	cli := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cli.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode, header: resp.Header}
	a.body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(a.body, &a.err); err != nil || a.err.Error == "" {
			s.t.Fatalf("%s %s: %d with a body that is not a JSON error: %q", method, path, resp.StatusCode, a.body)
		}
	}
	return a
}

func (s *testServer) want(a answer, code int, what string) {
	s.t.Helper()
	if a.code != code {
		s.t.Fatalf("%s: got %d %s, want %d", what, a.code, a.body, code)
	}
}

// mutations are one request to each mutating endpoint, valid as far as
// the API can tell.
var mutations = []struct {
	path string
	body any
}{
	{"/repair", RepairRequest{Hostname: "h1", Problem: "disk_full"}},
	{"/alertmanager", Webhook{Version: "4", Alerts: []WebhookAlert{{Status: "firing", Labels: map[string]string{"instance": "h1:9100", "alertname": "DiskFull"}}}}},
	{"/agents/a1/isolate", map[string]string{"reason": "bad disk"}},
	{"/agents/a1/reactivate", nil},
	{"/agents/a1/exclude", nil},
	{"/agents/a1/include", nil},
	{"/agents/a1/force", map[string]string{"problem": "hung"}},
	{"/repairs/a1/approve", map[string]int{"incident": 1, "attempt": 2}},
	{"/repairs/a1/cancel", map[string]int{"incident": 1}},
	{"/pause", map[string]string{"reason": "maintenance"}},
	{"/resume", nil},
}

var reads = []string{"/", "/status", "/agents", "/agents/a1", "/repairs", "/audit", "/whoami", "/metrics"}

func TestAccessControlWithTokens(t *testing.T) {
	s := newServer(t, &fakeBackend{}, true, false)
	for _, p := range []string{"/healthz", "/readyz"} {
		s.want(s.do(http.MethodGet, p, "", nil), http.StatusOK, p+" without a token")
	}
	for _, p := range reads {
		a := s.do(http.MethodGet, p, "", nil)
		s.want(a, http.StatusUnauthorized, p+" without a token")
		if got := a.header.Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[0], "Bearer") || !strings.HasPrefix(got[1], "Basic") {
			t.Errorf("%s: WWW-Authenticate %q, want a Bearer and a Basic challenge", p, got)
		}
		s.want(s.do(http.MethodGet, p, "not-a-token-at-all-xx", nil), http.StatusUnauthorized, p+" with a wrong token")
		s.want(s.do(http.MethodGet, p, viewerToken, nil), http.StatusOK, p+" with a viewer token")
		s.want(s.do(http.MethodGet, p, operatorToken, nil), http.StatusOK, p+" with an operator token")
	}
	for _, m := range mutations {
		before := s.b.recordCount()
		a := s.do(http.MethodPost, m.path, "", m.body)
		s.want(a, http.StatusUnauthorized, m.path+" without a token")
		if e := s.b.lastRecord(t); s.b.recordCount() != before+1 || e.Result != ResultRefused || e.Code != 401 || e.Principal != "unauthenticated" {
			t.Errorf("%s without a token: audited %+v", m.path, e)
		}
		a = s.do(http.MethodPost, m.path, viewerToken, m.body)
		s.want(a, http.StatusForbidden, m.path+" with a viewer token")
		if e := s.b.lastRecord(t); e.Principal != "vera" || e.Role != "viewer" || e.Code != 403 || e.Action == "" {
			t.Errorf("%s with a viewer token: audited %+v", m.path, e)
		}
		a = s.do(http.MethodPost, m.path, operatorToken, m.body)
		if a.code >= 300 {
			t.Errorf("%s with an operator token: %d %s", m.path, a.code, a.body)
		}
	}
	// The backend saw the operator's name and role on every mutation.
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if len(s.b.commands) != 9 || len(s.b.repairs) != 1 || len(s.b.alerts) != 1 {
		t.Fatalf("backend got %d commands, %d repairs, %d alert batches; want 9, 1, 1", len(s.b.commands), len(s.b.repairs), len(s.b.alerts))
	}
	for _, c := range s.b.callers {
		if c.Name != "olga" && c.Name != "vera" {
			t.Fatalf("a backend call without the token's caller: %+v", c)
		}
	}
}

func TestBasicAuthCarriesTheToken(t *testing.T) {
	s := newServer(t, &fakeBackend{}, true, false)
	req, _ := http.NewRequest(http.MethodGet, s.url+"/whoami", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("anyone:"+operatorToken)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var who WhoAmI
	if err := json.NewDecoder(resp.Body).Decode(&who); err != nil || resp.StatusCode != 200 {
		t.Fatalf("whoami over basic auth: %d %v", resp.StatusCode, err)
	}
	if who != (WhoAmI{Name: "olga", Role: "operator", Mutations: true, Auth: "tokens"}) {
		t.Fatalf("whoami: %+v", who)
	}
}

func TestWithoutTokens(t *testing.T) {
	t.Run("read-only", func(t *testing.T) {
		s := newServer(t, &fakeBackend{}, false, false)
		for _, p := range reads {
			s.want(s.do(http.MethodGet, p, "", nil), http.StatusOK, p)
		}
		for _, m := range mutations {
			a := s.do(http.MethodPost, m.path, "", m.body)
			s.want(a, http.StatusForbidden, m.path)
			if !strings.Contains(a.err.Detail, "--admin_tokens") || !strings.Contains(a.err.Detail, "--admin_insecure") {
				t.Errorf("%s: the refusal does not say how to enable mutations: %+v", m.path, a.err)
			}
			if e := s.b.lastRecord(t); e.Principal != "anonymous" || e.Code != 403 {
				t.Errorf("%s: audited %+v", m.path, e)
			}
		}
	})
	t.Run("insecure", func(t *testing.T) {
		s := newServer(t, &fakeBackend{}, false, true)
		for _, m := range mutations {
			if a := s.do(http.MethodPost, m.path, "", m.body); a.code >= 300 {
				t.Errorf("%s: %d %s", m.path, a.code, a.body)
			}
		}
		var who WhoAmI
		json.Unmarshal(s.do(http.MethodGet, "/whoami", "", nil).body, &who)
		if who.Auth != "insecure" || !who.Mutations || who.Name != "anonymous" {
			t.Errorf("whoami: %+v", who)
		}
	})
}

func TestCrossSiteMutationsAreRefused(t *testing.T) {
	s := newServer(t, &fakeBackend{}, false, true)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/pause", strings.NewReader(`{"reason":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(s.b.commands) != 0 {
		t.Fatalf("a cross-site pause: %d, %d commands reached the backend", resp.StatusCode, len(s.b.commands))
	}
}

func TestRequestErrors(t *testing.T) {
	s := newServer(t, &fakeBackend{}, true, false)
	op := operatorToken
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		ct     []string
		code   int
		msg    string
	}{
		{"malformed JSON", "POST", "/repair", `{"hostname":`, nil, 400, "malformed JSON"},
		{"two values", "POST", "/repair", `{"hostname":"h1","problem":"p"}{}`, nil, 400, "malformed JSON"},
		{"unknown field", "POST", "/repair", `{"hostname":"h1","problem":"p","force":true}`, nil, 400, "malformed JSON"},
		{"no target", "POST", "/repair", `{"problem":"p"}`, nil, 400, "no target"},
		{"two targets", "POST", "/repair", `{"hostname":"h1","agent_id":"a1","problem":"p"}`, nil, 400, "two targets"},
		{"no problem", "POST", "/repair", `{"hostname":"h1","problem":" "}`, nil, 400, "no problem"},
		{"empty repair body", "POST", "/repair", "", nil, 400, "malformed JSON"},
		{"too large", "POST", "/repair", `{"hostname":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, nil, 413, "too large"},
		{"wrong content type", "POST", "/repair", `{"hostname":"h1","problem":"p"}`, []string{"text/plain"}, 415, "content type"},
		{"no content type", "POST", "/agents/a1/isolate", "", []string{""}, 415, "content type"},
		{"form post", "POST", "/pause", "reason=x", []string{"application/x-www-form-urlencoded"}, 415, "content type"},
		{"wrong method", "GET", "/pause", nil, nil, 405, "method not allowed"},
		{"wrong method on a read", "POST", "/status", `{}`, nil, 405, "method not allowed"},
		{"delete", "DELETE", "/agents/a1", nil, nil, 405, "method not allowed"},
		{"no such endpoint", "GET", "/nope", nil, nil, 404, "no such endpoint"},
		{"approve without attempt", "POST", "/repairs/a1/approve", `{"incident":1}`, nil, 400, "incident and attempt required"},
		{"approve with a field of force", "POST", "/repairs/a1/approve", `{"incident":1,"attempt":2,"problem":"x"}`, nil, 400, "malformed JSON"},
		{"pause without reason", "POST", "/pause", `{}`, nil, 400, "reason required"},
		{"pause with an empty body", "POST", "/pause", "", nil, 400, "reason required"},
		{"isolate with a wrong type", "POST", "/agents/a1/isolate", `{"reason":5}`, nil, 400, "malformed JSON"},
		{"bad state filter", "GET", "/agents?state=sick", nil, nil, 400, "bad query parameter state"},
		{"bad repairs state", "GET", "/repairs?state=broken", nil, nil, 400, "bad query parameter state"},
		{"bad age", "GET", "/repairs?older_than=yesterday", nil, nil, 400, "older_than"},
		{"bad limit", "GET", "/repairs?limit=-1", nil, nil, 400, "limit"},
		{"limit over the maximum", "GET", "/audit?limit=100000", nil, nil, 400, "limit"},
		{"unknown agent", "GET", "/agents/nope", nil, nil, 404, "unknown agent"},
		{"alertmanager version", "POST", "/alertmanager", `{"version":"3","alerts":[]}`, nil, 400, "version"},
		{"alert without the agent label", "POST", "/alertmanager",
			`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"X"}},{"status":"firing","labels":{"instance":"h1","alertname":"Y"}}]}`, nil, 400, "bad alerts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(s.b.commands) + len(s.b.repairs) + len(s.b.alerts)
			a := s.do(c.method, c.path, op, c.body, c.ct...)
			s.want(a, c.code, c.name)
			if !strings.Contains(a.err.Error, c.msg) {
				t.Errorf("error %+v, want it to say %q", a.err, c.msg)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("error Content-Type %q", ct)
			}
			s.b.mu.Lock()
			after := len(s.b.commands) + len(s.b.repairs) + len(s.b.alerts)
			s.b.mu.Unlock()
			if after != before {
				t.Errorf("a refused request reached the backend")
			}
			if c.method == "POST" && c.code != 404 && c.code != 405 {
				if e := s.b.lastRecord(t); e.Result != ResultRefused || e.Code != c.code || e.Principal != "olga" {
					t.Errorf("refusal audited as %+v", e)
				}
			}
		})
	}
}

func TestBackendErrors(t *testing.T) {
	b := &fakeBackend{}
	s := newServer(t, b, false, true)
	b.err = &Error{Status: http.StatusServiceUnavailable, Msg: "immutable: not connected to a Mesos master",
		Detail: "retry shortly", RetryAfter: 5 * time.Second}
	a := s.do(http.MethodPost, "/repair", "", RepairRequest{Hostname: "h1", Problem: "p"})
	s.want(a, 503, "immutable")
	if a.header.Get("Retry-After") != "5" {
		t.Errorf("Retry-After %q, want 5", a.header.Get("Retry-After"))
	}
	b.err = &Error{Status: http.StatusConflict, Msg: "agent is isolated", Detail: "reactivate it first"}
	s.want(s.do(http.MethodPost, "/agents/a1/force", "", nil), 409, "conflict")
	b.err = io.ErrUnexpectedEOF
	a = s.do(http.MethodGet, "/status", "", nil)
	s.want(a, 500, "a backend bug")
	if a.err.Error != "internal error" {
		t.Errorf("500 body %+v", a.err)
	}
}

func TestStandbyRedirectsMutationsAndServesReads(t *testing.T) {
	b := &fakeBackend{standby: true, leader: "http://leader:7070/"}
	s := newServer(t, b, true, false)
	for _, m := range mutations {
		a := s.do(http.MethodPost, m.path+"?x=1", operatorToken, m.body)
		s.want(a, http.StatusTemporaryRedirect, m.path)
		if loc := a.header.Get("Location"); loc != "http://leader:7070"+m.path+"?x=1" {
			t.Errorf("%s: Location %q", m.path, loc)
		}
	}
	for _, p := range reads {
		s.want(s.do(http.MethodGet, p, viewerToken, nil), http.StatusOK, p+" on a standby")
	}
	// Without a known leader: 503 with Retry-After.
	b.leader = ""
	a := s.do(http.MethodPost, "/pause", operatorToken, map[string]string{"reason": "x"})
	s.want(a, http.StatusServiceUnavailable, "no leader")
	if a.header.Get("Retry-After") == "" {
		t.Error("no Retry-After without a leader")
	}
}

func TestFiltersReachTheBackend(t *testing.T) {
	b := &fakeBackend{}
	s := newServer(t, b, false, false)
	s.want(s.do(http.MethodGet, "/repairs?state=awaiting_approval&agent=h1&problem=disk&older_than=1m&newer_than=2h&limit=5&offset=10", "", nil), 200, "repairs")
	want := RepairFilter{State: "awaiting-approval", Agent: "h1", Problem: "disk", OlderThan: time.Minute,
		NewerThan: 2 * time.Hour, Limit: 5, Offset: 10}
	if b.filter != want {
		t.Errorf("repairs filter %+v, want %+v", b.filter, want)
	}
	s.want(s.do(http.MethodGet, "/repairs", "", nil), 200, "repairs")
	if b.filter.State != "open" || b.filter.Limit != DefaultRepairsLimit {
		t.Errorf("default repairs filter %+v", b.filter)
	}
	s.want(s.do(http.MethodGet, "/agents?state=isolated&q=rack-3&limit=50&offset=100", "", nil), 200, "agents")
	if (b.agentsF != AgentFilter{State: "isolated", Query: "rack-3", Limit: 50, Offset: 100}) {
		t.Errorf("agents filter %+v", b.agentsF)
	}
}

func TestAlertmanagerMapping(t *testing.T) {
	b := &fakeBackend{}
	m := NewMetrics(prometheus.NewRegistry())
	srv := httptest.NewServer(NewHandler(Config{Backend: b, Insecure: true, APIMetrics: m,
		AlertAgentLabel: "host", AlertProblemLabel: "problem"}))
	defer srv.Close()
	s := &testServer{t: t, url: srv.URL, b: b}
	body := `{"version":"4","groupKey":"{}:{}","truncatedAlerts":0,"status":"firing","receiver":"healer",
	  "groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093","newField":1,
	  "alerts":[
	    {"status":"firing","labels":{"host":"h1:9100","problem":"disk_full"},"annotations":{"summary":"/var at 99%"},
	     "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p","fingerprint":"f1"},
	    {"status":"resolved","labels":{"host":"h2","problem":"hung"},"annotations":{"description":"ok now"},"fingerprint":"f2"}]}`
	s.want(s.do(http.MethodPost, "/alertmanager", "", body), 200, "webhook")
	want := []AlertSignal{
		{Status: "firing", Target: "h1", Problem: "disk_full", Message: "/var at 99%", Fingerprint: "f1"},
		{Status: "resolved", Target: "h2", Problem: "hung", Message: "ok now", Fingerprint: "f2"},
	}
	if len(b.alerts) != 1 || len(b.alerts[0]) != 2 || b.alerts[0][0] != want[0] || b.alerts[0][1] != want[1] {
		t.Fatalf("signals %+v, want %+v", b.alerts, want)
	}
	var got dto.Metric
	if err := m.alerts.WithLabelValues("firing", "taken").Write(&got); err != nil || got.GetCounter().GetValue() != 1 {
		t.Errorf("firing alerts taken: %v (%v)", got.GetCounter().GetValue(), err)
	}
}

func TestMetricsCountRequestsByRoute(t *testing.T) {
	s := newServer(t, &fakeBackend{}, true, false)
	s.do(http.MethodGet, "/status", viewerToken, nil)
	s.do(http.MethodGet, "/status", "", nil)
	s.do(http.MethodPost, "/pause", viewerToken, map[string]string{"reason": "x"})
	a := s.do(http.MethodGet, "/metrics", viewerToken, nil)
	for _, line := range []string{
		`healer_admin_requests_total{code="200",route="status"} 1`,
		`healer_admin_requests_total{code="401",route="status"} 1`,
		`healer_admin_requests_total{code="403",route="pause"} 1`,
		`healer_admin_auth_failures_total{reason="missing"} 1`,
		`healer_admin_auth_failures_total{reason="forbidden"} 1`,
	} {
		if !bytes.Contains(a.body, []byte(line)) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}

func TestDashboardIsSelfContained(t *testing.T) {
	s := newServer(t, &fakeBackend{}, false, false)
	a := s.do(http.MethodGet, "/", "", nil)
	s.want(a, 200, "dashboard")
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	page := string(a.body)
	for _, ref := range []string{"http://", "https://", "//cdn", "<link ", "src=\""} {
		if strings.Contains(page, ref) {
			t.Errorf("the dashboard refers to something outside itself: %q", ref)
		}
	}
	if !strings.Contains(a.header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("no CSP: %q", a.header.Get("Content-Security-Policy"))
	}
}
