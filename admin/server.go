package admin

import (
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
	// ExecutorPath, when set, is the healer-executor binary served at
	// ExecutorURLPath for agents to fetch.
	ExecutorPath string
	Logger       *slog.Logger
}

// ExecutorURLPath is where the scheduler serves the executor binary.
const ExecutorURLPath = "/executor/healer-executor"

// NewHandler returns the admin API's router.
func NewHandler(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{cfg: cfg, b: cfg.Backend, log: cfg.Logger}
	r := mux.NewRouter()
	r.HandleFunc("/repair", s.repair).Methods(http.MethodPost)
	r.HandleFunc("/status", s.status).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/agents", s.agents).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/agents/{id}", s.agent).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet, http.MethodHead)
	if cfg.Metrics != nil {
		r.Handle("/metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	}
	if cfg.ExecutorPath != "" {
		r.HandleFunc(ExecutorURLPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			http.ServeFile(w, r, cfg.ExecutorPath)
		}).Methods(http.MethodGet, http.MethodHead)
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

type server struct {
	cfg Config
	b   Backend
	log *slog.Logger
}

func (s *server) repair(w http.ResponseWriter, r *http.Request) {
	var req RepairRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := req.validate(); err != nil {
		writeError(w, err)
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

func (s *server) agents(w http.ResponseWriter, r *http.Request) {
	var f AgentFilter
	if v := r.URL.Query().Get("state"); v != "" {
		st, ok := agentStates[v]
		if !ok {
			writeError(w, &Error{Status: http.StatusBadRequest, Msg: "unknown state " + strconv.Quote(v),
				Detail: "one of healthy, pending, awaiting-approval, repairing, probation, isolated"})
			return
		}
		f.State = st
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

// decode reads a JSON body strictly into v.
func decode(w http.ResponseWriter, r *http.Request, v any) *Error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &Error{Status: http.StatusUnsupportedMediaType, Msg: "unsupported content type " + strconv.Quote(ct),
			Detail: "send a JSON body with Content-Type: application/json"}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large",
				Detail: fmt.Sprintf("at most %d bytes", MaxBodyBytes)}
		}
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
	writeJSON(w, e.Status, errorBody{Error: e.Msg, Detail: e.Detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
