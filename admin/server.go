package admin

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// Config is what the admin API serves besides its Backend.
type Config struct {
	Backend Backend
	// Metrics is the registry /metrics exposes.
	Metrics *prometheus.Registry
	// APIMetrics, when set, counts the API's own requests.
	APIMetrics *Metrics
	// ExecutorPath, when set, is the healer-executor binary served at
	// ExecutorURLPath for agents to fetch.
	ExecutorPath string
	Logger       *slog.Logger
	// Tokens, when set, are required on every endpoint but /healthz,
	// /readyz and the executor binary: viewer tokens read, operator
	// tokens also mutate. Without Tokens reads are open and mutations are
	// refused, unless Insecure.
	Tokens   *Tokens
	Insecure bool
	// AlertAgentLabel and AlertProblemLabel name the Alertmanager labels
	// that name the agent and the problem (DefaultAlertAgentLabel,
	// DefaultAlertProblemLabel when empty).
	AlertAgentLabel, AlertProblemLabel string
}

// ExecutorURLPath is where the scheduler serves the executor binary.
const ExecutorURLPath = "/executor/healer-executor"

// access is what a route needs from its caller.
type access uint8

const (
	open   access = iota // no token (health checks, the executor binary)
	read                 // a viewer token
	mutate               // an operator token; audited
)

// route is one endpoint.
type route struct {
	name    string
	methods []string
	path    string
	access  access
	h       http.HandlerFunc
}

// NewHandler returns the admin API's router.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AlertAgentLabel == "" {
		cfg.AlertAgentLabel = DefaultAlertAgentLabel
	}
	if cfg.AlertProblemLabel == "" {
		cfg.AlertProblemLabel = DefaultAlertProblemLabel
	}
	s := &server{cfg: cfg, b: cfg.Backend, log: cfg.Logger, m: cfg.APIMetrics}
	r := mux.NewRouter()
	for _, rt := range s.routes() {
		r.Handle(rt.path, s.wrap(rt)).Methods(rt.methods...).Name(rt.name)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Msg: "no such endpoint", Detail: r.URL.Path})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Msg: "method not allowed",
			Detail: r.Method + " " + r.URL.Path})
	})
	return r
}

var (
	get  = []string{http.MethodGet, http.MethodHead}
	post = []string{http.MethodPost}
)

func (s *server) routes() []route {
	rs := []route{
		{"dashboard", get, "/", read, s.dashboard},
		{"repair", post, "/repair", mutate, s.repair},
		{"alertmanager", post, "/alertmanager", mutate, s.alertmanager},
		{"status", get, "/status", read, s.status},
		{"agents", get, "/agents", read, s.agents},
		{"agent", get, "/agents/{id}", read, s.agent},
		{"repairs", get, "/repairs", read, s.repairs},
		{"audit", get, "/audit", read, s.audit},
		{"whoami", get, "/whoami", read, s.whoami},
		{"pause", post, "/pause", mutate, s.command(OpPause)},
		{"resume", post, "/resume", mutate, s.command(OpResume)},
		{"healthz", get, "/healthz", open, s.healthz},
		{"readyz", get, "/readyz", open, s.readyz},
	}
	for _, op := range []string{OpIsolate, OpReactivate, OpExclude, OpInclude, OpForce} {
		rs = append(rs, route{op, post, "/agents/{id}/" + op, mutate, s.command(op)})
	}
	for _, op := range []string{OpApprove, OpCancel} {
		rs = append(rs, route{op, post, "/repairs/{id}/" + op, mutate, s.command(op)})
	}
	if s.cfg.Metrics != nil {
		h := promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{})
		rs = append(rs, route{"metrics", []string{http.MethodGet}, "/metrics", read, h.ServeHTTP})
	}
	if s.cfg.ExecutorPath != "" {
		// Open: the Mesos fetcher cannot send a token, and the binary is
		// no secret.
		rs = append(rs, route{"executor", get, ExecutorURLPath, open, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeFile(w, r, s.cfg.ExecutorPath)
		}})
	}
	return rs
}

type server struct {
	cfg Config
	b   Backend
	log *slog.Logger
	m   *Metrics
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap adds access control, the audit of refused mutations, and metrics.
func (s *server) wrap(rt route) http.Handler {
	rm := s.m.route(rt.name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		caller, e := s.authenticate(r, rt.access)
		if e != nil {
			writeError(sw, e)
			if rt.access == mutate {
				s.record(r, rt.name, caller, e, "", 0, 0)
			}
		} else {
			rt.h(sw, r.WithContext(WithCaller(r.Context(), caller)))
		}
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		rm.observe(sw.code, time.Since(start))
	})
}

// authenticate says who sent r and refuses it when that caller may not
// use the route.
func (s *server) authenticate(r *http.Request, need access) (Caller, *Error) {
	c := Caller{Remote: r.RemoteAddr}
	if need == open {
		return c, nil
	}
	if need == mutate && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		// A page on another site must not drive healer through an
		// operator's browser.
		s.m.authFailure("cross_site")
		return c, &Error{Status: http.StatusForbidden, Msg: "cross-site request refused",
			Detail: "mutations are taken from healer's own dashboard, healerctl and API clients only"}
	}
	if s.cfg.Tokens == nil {
		c.Name, c.Role = "anonymous", RoleViewer
		if s.cfg.Insecure {
			c.Role = RoleOperator
		}
		if need == mutate && c.Role != RoleOperator {
			s.m.authFailure("disabled")
			return c, &Error{Status: http.StatusForbidden, Msg: "mutations are disabled",
				Detail: "healer runs without --admin_tokens: start it with --admin_tokens=FILE and send an operator token " +
					"(or, for a trial, with --admin_insecure)"}
		}
		return c, nil
	}
	secret, ok := credentials(r)
	if !ok {
		s.m.authFailure("missing")
		return c, unauthorized("authentication required", "send Authorization: Bearer <token>, a token from --admin_tokens")
	}
	name, role, ok := s.cfg.Tokens.Authenticate(secret)
	if !ok {
		s.m.authFailure("invalid")
		return c, unauthorized("invalid token", "the token is not in --admin_tokens (revoked, or mistyped)")
	}
	c.Name, c.Role = name, role
	if need == mutate && role != RoleOperator {
		s.m.authFailure("forbidden")
		return c, &Error{Status: http.StatusForbidden, Msg: "forbidden",
			Detail: "token " + name + " is a viewer token: mutations need an operator token"}
	}
	return c, nil
}

func unauthorized(msg, detail string) *Error {
	return &Error{Status: http.StatusUnauthorized, Msg: msg, Detail: detail,
		challenge: []string{`Bearer realm="healer"`, `Basic realm="healer", charset="UTF-8"`}}
}

// credentials is the token a request carries: a bearer token, or the
// password of HTTP basic auth (how a browser sends it to the dashboard;
// the user name is ignored).
func credentials(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return rest, rest != ""
	case "basic":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", false
		}
		_, pw, ok := strings.Cut(string(b), ":")
		return pw, ok && pw != ""
	}
	return "", false
}

// record audits a mutation the API refused before it reached the backend.
func (s *server) record(r *http.Request, action string, c Caller, e *Error, reason string, incident, attempt uint64) {
	principal := c.Name
	if principal == "" {
		principal = "unauthenticated"
	}
	role := ""
	if c.Role != 0 {
		role = c.Role.String()
	}
	entry := AuditEntry{At: time.Now(), Principal: principal, Role: role, Remote: c.Remote, Action: action,
		Target: mux.Vars(r)["id"], Incident: incident, Attempt: attempt, Reason: reason, Result: ResultRefused,
		Code: e.Status, Detail: e.Error()}
	if err := s.b.Record(r.Context(), entry); err != nil {
		s.log.Warn("audit entry not stored", "action", action, "principal", principal, "err", err)
	}
}

// refuse answers a mutation refused by the API's own checks, and audits it.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, action string, e *Error, reason string) {
	writeError(w, e)
	s.record(r, action, CallerFrom(r.Context()), e, reason, 0, 0)
}

func (s *server) repair(w http.ResponseWriter, r *http.Request) {
	var req RepairRequest
	if err := decode(w, r, &req, false); err != nil {
		s.refuse(w, r, "repair", err, "")
		return
	}
	if err := req.validate(); err != nil {
		s.refuse(w, r, "repair", err, req.Problem)
		return
	}
	resp, created, err := s.b.Repair(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusAccepted
	}
	writeJSON(w, code, resp)
}

// validate checks what the API itself can: one target, a problem. The
// coordinator checks the rest (names, bounds, wildcards).
func (q *RepairRequest) validate() *Error {
	bad := func(msg, detail string) *Error {
		return &Error{Status: http.StatusBadRequest, Msg: msg, Detail: detail}
	}
	switch {
	case q.AgentID == "" && q.Hostname == "":
		return bad("no target", `name the sick agent with "agent_id" or "hostname"`)
	case q.AgentID != "" && q.Hostname != "":
		return bad("two targets", `give "agent_id" or "hostname", not both`)
	case strings.TrimSpace(q.Problem) == "":
		return bad("no problem", `say what is wrong in "problem", e.g. "disk_full"`)
	}
	return nil
}

func (s *server) alertmanager(w http.ResponseWriter, r *http.Request) {
	var hook Webhook
	// Read leniently about fields: a later Alertmanager may add some, and
	// refusing its alerts would lose them (version must still be "4").
	if err := decodeBody(w, r, &hook, false, false); err != nil {
		s.refuse(w, r, "alertmanager", err, "")
		return
	}
	signals, e := hook.Signals(s.cfg.AlertAgentLabel, s.cfg.AlertProblemLabel)
	if e != nil {
		s.m.alert("firing", "refused", len(hook.Alerts))
		s.refuse(w, r, "alertmanager", e, fmt.Sprintf("%d alerts", len(hook.Alerts)))
		return
	}
	firing := 0
	for _, a := range signals {
		if a.Status == "firing" {
			firing++
		}
	}
	resp, err := s.b.Alerts(r.Context(), signals)
	if err != nil {
		s.m.alert("firing", "refused", firing)
		s.m.alert("resolved", "refused", len(signals)-firing)
		s.fail(w, r, err)
		return
	}
	s.m.alert("firing", "taken", firing)
	s.m.alert("resolved", "taken", len(signals)-firing)
	if resp.Alerts == nil {
		resp.Alerts = []AlertResult{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// Command bodies: each endpoint takes only its own fields.
type (
	approveBody struct {
		Incident uint64 `json:"incident"`
		Attempt  uint64 `json:"attempt"`
		Reason   string `json:"reason,omitempty"`
	}
	cancelBody struct {
		Incident uint64 `json:"incident,omitempty"`
		Reason   string `json:"reason,omitempty"`
	}
	forceBody struct {
		Incident uint64 `json:"incident,omitempty"`
		Problem  string `json:"problem,omitempty"`
		Reason   string `json:"reason,omitempty"`
	}
	reasonBody struct {
		Reason string `json:"reason,omitempty"`
	}
)

// decodeCommand reads an operator command's body for op (strictly: only
// the fields op takes) and checks what the API can check itself.
func decodeCommand(op string, body []byte) (Command, *Error) {
	c := Command{Op: op}
	var err *Error
	switch op {
	case OpApprove:
		var b approveBody
		err = unmarshalStrict(body, &b, true)
		c.Incident, c.Attempt, c.Reason = b.Incident, b.Attempt, b.Reason
		if err == nil && (b.Incident == 0 || b.Attempt == 0) {
			err = &Error{Status: http.StatusBadRequest, Msg: "incident and attempt required",
				Detail: `an approval names the "incident" and the "attempt" it approves: see "approval" in GET /repairs?state=awaiting-approval`}
		}
	case OpCancel:
		var b cancelBody
		err = unmarshalStrict(body, &b, true)
		c.Incident, c.Reason = b.Incident, b.Reason
	case OpForce:
		var b forceBody
		err = unmarshalStrict(body, &b, true)
		c.Incident, c.Problem, c.Reason = b.Incident, b.Problem, b.Reason
	default:
		var b reasonBody
		err = unmarshalStrict(body, &b, true)
		c.Reason = b.Reason
		if err == nil && op == OpPause && strings.TrimSpace(b.Reason) == "" {
			err = &Error{Status: http.StatusBadRequest, Msg: "reason required", Detail: `say why repairs are paused in "reason"`}
		}
	}
	return c, err
}

// command serves an operator command endpoint.
func (s *server) command(op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, e := readBody(w, r)
		if e != nil {
			s.refuse(w, r, op, e, "")
			return
		}
		c, e := decodeCommand(op, body)
		c.Target = mux.Vars(r)["id"]
		if e != nil {
			writeError(w, e)
			s.record(r, op, CallerFrom(r.Context()), e, c.Reason, c.Incident, c.Attempt)
			return
		}
		resp, err := s.b.Command(r.Context(), c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if resp.Decisions == nil {
			resp.Decisions = []Decision{}
		}
		writeJSON(w, http.StatusOK, resp)
	}
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.b.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// agentStates are the states GET /agents filters by.
var agentStates = map[string]string{
	"healthy": "healthy", "pending": "pending", "awaiting-approval": "awaiting-approval",
	"awaiting_approval": "awaiting-approval", "repairing": "repairing", "probation": "probation",
	"isolated": "isolated",
}

// badQuery is the error of a query parameter the API does not take.
func badQuery(name, value, want string) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: "bad query parameter " + name + "=" + strconv.Quote(value), Detail: want}
}

// paging reads limit and offset (limit 0: def).
func paging(r *http.Request, def, most int) (limit, offset int, e *Error) {
	q := r.URL.Query()
	limit, offset = def, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > most {
			return 0, 0, badQuery("limit", v, fmt.Sprintf("a count from 0 to %d", most))
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, badQuery("offset", v, "a count from 0")
		}
		offset = n
	}
	return limit, offset, nil
}

func (s *server) agents(w http.ResponseWriter, r *http.Request) {
	var f AgentFilter
	q := r.URL.Query()
	if v := q.Get("state"); v != "" {
		st, ok := agentStates[v]
		if !ok {
			writeError(w, badQuery("state", v, "one of healthy, pending, awaiting-approval, repairing, probation, isolated"))
			return
		}
		f.State = st
	}
	f.Query = q.Get("q")
	var e *Error
	if f.Limit, f.Offset, e = paging(r, 0, 1<<30); e != nil {
		writeError(w, e)
		return
	}
	list, err := s.b.Agents(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list.Agents == nil {
		list.Agents = []Agent{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *server) agent(w http.ResponseWriter, r *http.Request) {
	a, err := s.b.Agent(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// repairStates are the states GET /repairs filters by.
var repairStates = map[string]string{
	"open": "open", "closed": "closed", "all": "all", "pending": "pending",
	"awaiting-approval": "awaiting-approval", "awaiting_approval": "awaiting-approval",
	"repairing": "repairing", "probation": "probation",
}

// DefaultRepairsLimit and MaxListLimit bound GET /repairs and /audit pages.
const (
	DefaultRepairsLimit = 100
	MaxListLimit        = 1000
)

// parseRepairFilter reads GET /repairs' query.
func parseRepairFilter(r *http.Request) (RepairFilter, *Error) {
	var f RepairFilter
	q := r.URL.Query()
	f.State = "open"
	if v := q.Get("state"); v != "" {
		st, ok := repairStates[v]
		if !ok {
			return f, badQuery("state", v, "one of open, closed, all, pending, awaiting-approval, repairing, probation")
		}
		f.State = st
	}
	f.Agent, f.Problem = q.Get("agent"), q.Get("problem")
	for _, p := range []struct {
		name string
		d    *time.Duration
	}{{"older_than", &f.OlderThan}, {"newer_than", &f.NewerThan}} {
		if v := q.Get(p.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return f, badQuery(p.name, v, "a duration such as 90s, 15m or 2h")
			}
			*p.d = d
		}
	}
	var e *Error
	f.Limit, f.Offset, e = paging(r, DefaultRepairsLimit, MaxListLimit)
	return f, e
}

func (s *server) repairs(w http.ResponseWriter, r *http.Request) {
	f, e := parseRepairFilter(r)
	if e != nil {
		writeError(w, e)
		return
	}
	list, err := s.b.Repairs(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list.Repairs == nil {
		list.Repairs = []Repair{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *server) audit(w http.ResponseWriter, r *http.Request) {
	limit, _, e := paging(r, DefaultRepairsLimit, MaxListLimit)
	if e != nil {
		writeError(w, e)
		return
	}
	list, err := s.b.Audit(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list.Entries == nil {
		list.Entries = []AuditEntry{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	c := CallerFrom(r.Context())
	auth := "tokens"
	switch {
	case s.cfg.Tokens != nil:
	case s.cfg.Insecure:
		auth = "insecure"
	default:
		auth = "read-only"
	}
	writeJSON(w, http.StatusOK, WhoAmI{Name: c.Name, Role: c.Role.String(), Mutations: c.Role == RoleOperator, Auth: auth})
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.b.Ready(r.Context()); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// fail writes a backend error; one that is not an *Error is a bug or an
// outage the operator cannot fix by changing the request.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Status: http.StatusInternalServerError, Msg: "internal error", Detail: err.Error()}
	}
	if e.Status == http.StatusTemporaryRedirect && e.Location != "" {
		w.Header().Set("Location", strings.TrimSuffix(e.Location, "/")+r.URL.RequestURI())
	}
	writeError(w, e)
}

// checkContentType refuses a body that is not declared JSON: also what
// keeps a page on another site from posting a form to healer.
func checkContentType(r *http.Request) *Error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &Error{Status: http.StatusUnsupportedMediaType, Msg: "unsupported content type " + strconv.Quote(ct),
			Detail: "send Content-Type: application/json (an empty body counts as {} where every field is optional)"}
	}
	return nil
}

// readBody reads a JSON request's body, at most MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *Error) {
	if e := checkContentType(r); e != nil {
		return nil, e
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large",
				Detail: fmt.Sprintf("at most %d bytes", MaxBodyBytes)}
		}
		return nil, &Error{Status: http.StatusBadRequest, Msg: "cannot read the request body", Detail: err.Error()}
	}
	return b, nil
}

// decode reads a JSON body strictly into v.
func decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) *Error {
	return decodeBody(w, r, v, emptyOK, true)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any, emptyOK, strict bool) *Error {
	b, e := readBody(w, r)
	if e != nil {
		return e
	}
	if strict {
		return unmarshalStrict(b, v, emptyOK)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &Error{Status: http.StatusBadRequest, Msg: "malformed JSON body", Detail: err.Error()}
	}
	return nil
}

// unmarshalStrict decodes one JSON value with no unknown fields; an empty
// body is {} when emptyOK.
func unmarshalStrict(b []byte, v any, emptyOK bool) *Error {
	if len(bytes.TrimSpace(b)) == 0 {
		if emptyOK {
			return nil
		}
		return &Error{Status: http.StatusBadRequest, Msg: "malformed JSON body", Detail: "empty body"}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &Error{Status: http.StatusBadRequest, Msg: "malformed JSON body", Detail: err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: http.StatusBadRequest, Msg: "malformed JSON body", Detail: "more than one JSON value"}
	}
	return nil
}

type errorBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	for _, c := range e.challenge {
		w.Header().Add("WWW-Authenticate", c)
	}
	writeJSON(w, e.Status, errorBody{Error: e.Msg, Detail: e.Detail})
}

// writeJSON answers v as compact JSON: indenting cost a quarter of the
// signal path's CPU (BenchmarkIngest's profile); pipe to jq to read it.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
