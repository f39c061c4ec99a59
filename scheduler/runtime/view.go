package runtime

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// requestQueue bounds admin requests waiting for the loop: a full queue
// answers 503 rather than block an HTTP handler behind a busy leader.
const requestQueue = 1024

// request is an admin request served on the loop goroutine.
type request struct {
	// write requests are refused (refuse is called instead of do) while
	// the term's ZooKeeper session is in doubt.
	write  bool
	do     func(t *term)
	refuse func()
}

func (r *Runtime) setTerm(t *term) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = t
}

func (r *Runtime) term() *term {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *Runtime) setFramework(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fwID = id
}

var errBusy = &admin.Error{Status: http.StatusServiceUnavailable, Msg: "busy",
	Detail: "the leader's request queue is full; retry shortly", RetryAfter: time.Second}

var errTermEnded = &admin.Error{Status: http.StatusServiceUnavailable, Msg: "leadership changing",
	Detail: "the leader's term ended while serving the request; retry shortly", RetryAfter: 2 * time.Second}

// onLoop runs do on the current term's loop and waits for it to call
// done; ok is false on a standby. On an error (the request or the term
// ended first) do may still run later: the caller must not read what do
// writes.
func (r *Runtime) onLoop(ctx context.Context, write bool, do func(t *term, done func())) (bool, error) {
	t := r.term()
	if t == nil {
		return false, nil
	}
	finished := make(chan struct{})
	var once sync.Once
	done := func() { once.Do(func() { close(finished) }) }
	refused := false
	q := request{write: write, do: func(t *term) { do(t, done) }, refuse: func() { refused = true; done() }}
	select {
	case t.requests <- q:
	default:
		return true, errBusy
	}
	select {
	case <-finished:
		if refused {
			return true, immutableError(coordinator.Immutability{Immutable: true, Why: "ZooKeeper connection lost"})
		}
		return true, nil
	case <-ctx.Done():
		return true, ctx.Err()
	case <-t.ctx.Done():
		return true, errTermEnded
	}
}

// serve runs an admin request; a mutation waits for no ZooKeeper session.
func (t *term) serve(q request) {
	if q.write && t.suspended {
		q.refuse()
		return
	}
	q.do(t)
}

// notLeading answers a mutation this instance cannot take: a standby
// redirects to the leader; a leader between terms (its ZooKeeper session in
// doubt, or rebuilding after a failed write) says so.
func (r *Runtime) notLeading() error {
	leader := r.cfg.LeaderURL()
	if leader != "" && leader == r.cfg.Self {
		return &admin.Error{Status: http.StatusServiceUnavailable, Msg: "leader not ready",
			Detail:     "this instance leads but is re-establishing its ZooKeeper session or rebuilding its state; retry shortly",
			RetryAfter: 2 * time.Second}
	}
	return admin.NotLeader(leader)
}

// Repair implements admin.Backend.
func (r *Runtime) Repair(ctx context.Context, req admin.RepairRequest) (admin.RepairResponse, bool, error) {
	var (
		resp    admin.RepairResponse
		created bool
		rerr    error
	)
	target := req.AgentID
	if target == "" {
		target = req.Hostname
	}
	caller := admin.CallerFrom(ctx)
	leading, err := r.onLoop(ctx, true, func(t *term, done func()) {
		// Audited: a refusal, or a signal that changed something (not
		// one attached to an open incident: that costs no write).
		entry := auditEntry(t.now(), caller, "repair", target)
		entry.Reason = req.Problem
		refuse := func(e *admin.Error) {
			rerr = e
			t.addAudit(refused(entry, e))
			t.batch.after = append(t.batch.after, func(error) { done() })
		}
		if imm := t.coord.Immutable(); imm.Immutable {
			refuse(immutableError(imm))
			return
		}
		rd, serr := t.step(coordinator.Signal{At: t.now(), Agent: target, Problem: req.Problem,
			Source: req.Source, Message: req.Message})
		t.countSignal(req.Source, req.Problem, rd, serr)
		decisions := make([]admin.Decision, len(rd.Decisions))
		for i, d := range rd.Decisions {
			decisions[i] = decisionView(d)
		}
		if serr != nil {
			refuse(signalError(serr))
			return
		}
		resp.Decisions = decisions
		created = true
		for _, d := range rd.Decisions {
			if d.Kind == coordinator.DecAttached {
				resp.Attached, created = true, false
			}
			if d.Kind == coordinator.DecIgnored && errors.Is(d.Err, coordinator.ErrIsolated) {
				rerr = &admin.Error{Status: http.StatusConflict, Msg: "agent is isolated",
					Detail: "healer isolated this agent after its ladder ran out; an operator must reactivate it before it is repaired again"}
			}
		}
		if len(decisions) > 0 {
			resp.Decision = decisions[0].Text
			resp.AgentID = decisions[0].AgentID
		}
		switch {
		case rerr != nil:
			t.addAudit(refused(entry, rerr.(*admin.Error)))
		case created:
			t.addAudit(accepted(entry, http.StatusAccepted, resp.Decision))
		}
		t.batch.after = append(t.batch.after, func(err error) {
			defer done()
			if err != nil {
				rerr = notRecorded(err)
				return
			}
			if rec, ok := t.coord.Agent(coordinator.AgentID(resp.AgentID)); ok {
				resp.Hostname, resp.State = rec.Hostname, rec.State.String()
				resp.Incident = incidentView(rec)
			}
		})
	})
	switch {
	case err != nil:
		// The request ended before the loop answered: the loop may still
		// fill resp in, so it is not read.
		return admin.RepairResponse{}, false, err
	case !leading:
		return resp, false, r.notLeading()
	case rerr != nil:
		return resp, false, rerr
	}
	return resp, created, nil
}

// sourceLabel bounds the source label: free text from callers must not
// mint series.
func sourceLabel(s string) string {
	switch s {
	case SourceMonitor, "operator", SourceAlertmanager, "healerctl":
		return s
	}
	return "other"
}

func immutableError(imm coordinator.Immutability) *admin.Error {
	return &admin.Error{Status: http.StatusServiceUnavailable, Msg: "immutable: " + imm.Why,
		Detail:     "healer starts no repair and takes no signal until it is connected and reconciled again; retry shortly",
		RetryAfter: 5 * time.Second}
}

// signalError maps the coordinator's refusal of a signal to a status.
func signalError(err error) *admin.Error {
	switch {
	case errors.Is(err, coordinator.ErrUnknownAgent):
		return &admin.Error{Status: http.StatusNotFound, Msg: "unknown agent", Detail: err.Error()}
	case errors.Is(err, coordinator.ErrAgentRemoved):
		return &admin.Error{Status: http.StatusNotFound, Msg: "agent removed", Detail: err.Error()}
	}
	return &admin.Error{Status: http.StatusBadRequest, Msg: "signal refused", Detail: err.Error()}
}

// Status implements admin.Backend.
func (r *Runtime) Status(ctx context.Context) (admin.Status, error) {
	var st admin.Status
	leading, err := r.onLoop(ctx, false, func(t *term, done func()) {
		defer done()
		st = statusView(t.coord.Status())
		st.IsLeader, st.Subscribed, st.FrameworkID = true, t.subscribed, t.fwID
		if t.suspended {
			st.Immutable, st.ImmutableReason = true, "ZooKeeper connection lost"
		}
		st.AsOf = t.now()
	})
	if err != nil {
		return admin.Status{}, err // the loop may still fill st in
	}
	st.Leader = r.cfg.LeaderURL()
	if leading {
		return st, nil
	}
	snap, asOf, err := r.standbyView(ctx)
	if err != nil {
		return st, err
	}
	st = standbyStatus(r.cfg.Policy, snap)
	st.Leader, st.AsOf = r.cfg.LeaderURL(), asOf
	st.Immutable, st.ImmutableReason = true, "standby: not leading"
	return st, nil
}

// Agents implements admin.Backend.
func (r *Runtime) Agents(ctx context.Context, f admin.AgentFilter) (admin.AgentList, error) {
	var list admin.AgentList
	leading, err := r.onLoop(ctx, false, func(t *term, done func()) {
		defer done()
		recs, _ := t.coord.Records()
		list = agentList(recs, f)
		list.AsOf = t.now()
	})
	switch {
	case err != nil:
		return admin.AgentList{}, err // the loop may still fill list in
	case leading:
		return list, nil
	}
	snap, asOf, err := r.standbyView(ctx)
	if err != nil {
		return list, err
	}
	list = agentList(sortedRecords(snap.Agents), f)
	list.AsOf = asOf
	return list, nil
}

// Agent implements admin.Backend: by agent id or hostname.
func (r *Runtime) Agent(ctx context.Context, id string) (admin.Agent, error) {
	var (
		a     admin.Agent
		found bool
	)
	leading, err := r.onLoop(ctx, false, func(t *term, done func()) {
		defer done()
		rec, ok := t.coord.Agent(coordinator.AgentID(id))
		if !ok {
			if m := t.coord.Machine(id); len(m) > 0 {
				rec, ok = m[0], true
			}
		}
		if ok {
			a, found = agentView(rec, true), true
			info := t.monitors.info(t, string(rec.ID))
			a.Monitor = &admin.Monitor{State: info.State, Failures: info.Failures, LastError: info.LastError}
		}
	})
	if err != nil {
		return admin.Agent{}, err // the loop may still fill a in
	}
	if !leading {
		snap, _, err := r.standbyView(ctx)
		if err != nil {
			return a, err
		}
		for _, rec := range snap.Agents {
			if string(rec.ID) == id || rec.Hostname == id && !found {
				a, found = agentView(rec, true), true
			}
		}
	}
	if !found {
		return a, &admin.Error{Status: http.StatusNotFound, Msg: "unknown agent",
			Detail: "no agent with id or hostname " + id + " is known to healer"}
	}
	return a, nil
}

// Ready implements admin.Backend: the leader is ready once subscribed; a
// standby once it can read the store.
func (r *Runtime) Ready(ctx context.Context) error {
	var subscribed bool
	leading, err := r.onLoop(ctx, false, func(t *term, done func()) {
		defer done()
		subscribed = t.subscribed && !t.suspended
	})
	switch {
	case err != nil:
		return err
	case leading && !subscribed:
		return &admin.Error{Status: http.StatusServiceUnavailable, Msg: "leading but not subscribed to a Mesos master",
			RetryAfter: 2 * time.Second}
	case leading:
		return nil
	}
	if r.cfg.Standby == nil {
		return &admin.Error{Status: http.StatusServiceUnavailable, Msg: "not leading yet", RetryAfter: 2 * time.Second}
	}
	_, _, err = r.standbyView(ctx)
	return err
}

// standbyCache is a standby's recent read of the store.
type standbyCache struct {
	mu   sync.Mutex
	snap store.Snapshot
	at   time.Time
}

// standbyMaxAge bounds how stale a standby's view may be.
const standbyMaxAge = 2 * time.Second

func (r *Runtime) standbyView(ctx context.Context) (store.Snapshot, time.Time, error) {
	if r.cfg.Standby == nil {
		return store.Snapshot{}, time.Time{}, &admin.Error{Status: http.StatusServiceUnavailable,
			Msg: "not leading yet", Detail: "this instance has not started leading; retry shortly", RetryAfter: 2 * time.Second}
	}
	c := &r.standby
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < standbyMaxAge {
		return c.snap, c.at, nil
	}
	snap, err := r.cfg.Standby(ctx)
	if err != nil {
		return store.Snapshot{}, time.Time{}, &admin.Error{Status: http.StatusServiceUnavailable,
			Msg: "cannot read healer's state", Detail: err.Error(), RetryAfter: 2 * time.Second}
	}
	c.snap, c.at = snap, time.Now()
	return c.snap, c.at, nil
}

func sortedRecords(recs []coordinator.AgentRecord) []coordinator.AgentRecord {
	out := slices.Clone(recs)
	slices.SortFunc(out, func(a, b coordinator.AgentRecord) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// agentList filters recs (sorted by id) by state and query and returns the
// page f asks for, with the total before paging.
func agentList(recs []coordinator.AgentRecord, f admin.AgentFilter) admin.AgentList {
	var list admin.AgentList
	for _, rec := range recs {
		if f.State != "" && rec.State.String() != f.State ||
			f.Query != "" && !strings.Contains(string(rec.ID), f.Query) && !strings.Contains(rec.Hostname, f.Query) {
			continue
		}
		list.Total++
		if list.Total > f.Offset && (f.Limit <= 0 || len(list.Agents) < f.Limit) {
			list.Agents = append(list.Agents, agentView(rec, false))
		}
	}
	return list
}

func standbyStatus(p coordinator.Policy, snap store.Snapshot) admin.Status {
	var c coordinator.Counts
	for _, r := range snap.Agents {
		switch r.State {
		case coordinator.StateHealthy:
			c.Healthy++
		case coordinator.StatePending:
			c.Pending++
		case coordinator.StateAwaitingApproval:
			c.AwaitingApproval++
		case coordinator.StateRepairing:
			c.Repairing++
		case coordinator.StateProbation:
			c.Probation++
		case coordinator.StateIsolated:
			c.Isolated++
		}
		if r.Excluded {
			c.Excluded++
		}
		if r.Removed() {
			c.Removed++
		}
	}
	g := snap.Global
	st := statusView(coordinator.Status{Mode: p.Mode, Paused: g.Paused, PausedBy: g.PausedBy, Reason: g.PauseReason,
		PausedAt: g.PausedAt, Breaker: g.Breaker, Counts: c, InFlight: c.Repairing, Limits: limitsOf(p)})
	if snap.Framework != nil {
		st.FrameworkID = snap.Framework.ID
	}
	return st
}

func limitsOf(p coordinator.Policy) coordinator.Limits {
	return coordinator.Limits{NumAllowedRepairs: p.NumAllowedRepairs, ZoneCap: p.ZoneCap, ZoneCaps: p.ZoneCaps,
		MaxUnhealthyPercent: p.MaxUnhealthyPercent, MaxUnhealthyMin: p.MaxUnhealthyMin, MinSpacing: p.MinSpacing}
}

// Views: coordinator values as the admin API shows them.

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func statusView(s coordinator.Status) admin.Status {
	c := s.Counts
	return admin.Status{
		Immutable: s.Immutable.Immutable, ImmutableReason: s.Immutable.Why, ImmutableSince: timePtr(s.Immutable.Since),
		Mode: s.Mode.String(), Paused: s.Paused, PauseReason: s.Reason, PausedBy: s.PausedBy, PausedAt: timePtr(s.PausedAt),
		Breaker: admin.Breaker{Tripped: s.Breaker.Tripped, TrippedAt: timePtr(s.Breaker.TrippedAt),
			Unhealthy: s.Breaker.Unhealthy, Known: s.Breaker.Known},
		Limits: admin.Limits{NumAllowedRepairs: s.Limits.NumAllowedRepairs, ZoneCap: s.Limits.ZoneCap,
			ZoneCaps: s.Limits.ZoneCaps, MaxUnhealthyPercent: s.Limits.MaxUnhealthyPercent,
			MaxUnhealthyMin: s.Limits.MaxUnhealthyMin, MinRepairSpacing: s.Limits.MinSpacing.String()},
		Counts: admin.Counts{Healthy: c.Healthy, Pending: c.Pending, AwaitingApproval: c.AwaitingApproval,
			Repairing: c.Repairing, Probation: c.Probation, Isolated: c.Isolated, Excluded: c.Excluded, Removed: c.Removed},
		Known: s.Known, Unhealthy: s.Unhealthy, InFlight: s.InFlight,
	}
}

func agentView(r coordinator.AgentRecord, detail bool) admin.Agent {
	a := admin.Agent{ID: string(r.ID), Hostname: r.Hostname, Zone: r.Zone, State: r.State.String(),
		Excluded: r.Excluded, Drained: r.Drained, Removed: r.Removed(), RemovedAt: timePtr(r.RemovedAt),
		IsolatedAt: timePtr(r.IsolatedAt), LastClosedAt: timePtr(r.LastClosedAt), PreviousID: string(r.PreviousID),
		Incident: incidentView(r)}
	if detail {
		for _, h := range r.History {
			a.History = append(a.History, admin.Attempt{ID: h.ID, Incident: h.Incident, Problem: h.Problem,
				Action: h.Action, Scope: h.Scope.String(), StartedAt: h.StartedAt, EndedAt: h.EndedAt,
				Result: h.Result.String(), ExitCode: h.ExitCode, OutputTail: h.OutputTail, Forced: h.Forced, By: h.Principal})
		}
	}
	return a
}

func incidentView(r coordinator.AgentRecord) *admin.Incident {
	in := r.Incident
	if in.ID == 0 {
		return nil
	}
	v := &admin.Incident{ID: in.ID, Problem: in.Problem, Source: in.Source, Message: in.Message, OpenedAt: in.OpenedAt,
		Signals: in.Signals, LastSignalAt: in.LastSignalAt, Step: in.Step + 1, Action: in.StepAction,
		StepsRun: in.StepsRun, Approved: in.Approved, ApprovedBy: in.ApprovedBy, ApprovalAttempt: in.ApprovalAttempt,
		ProbationEnds: timePtr(in.ProbationEnds)}
	if run := in.Run; run.Attempt != 0 {
		deadline := run.Deadline
		if run.StartedAt.IsZero() {
			deadline = run.OfferDeadline
		}
		v.Run = &admin.Run{Attempt: run.Attempt, Action: run.Step.Action, Scope: run.Step.Scope.String(),
			LaunchedAt: run.LaunchedAt, StartedAt: timePtr(run.StartedAt), Deadline: deadline,
			Forced: run.Forced, ForcedBy: run.ForcedBy}
	}
	return v
}

func decisionView(d coordinator.Decision) admin.Decision {
	v := admin.Decision{At: d.At, Kind: d.Kind.String(), AgentID: string(d.Agent), Hostname: d.Hostname,
		Incident: d.Incident, Attempt: d.Attempt, Problem: d.Problem, Action: d.Action, DryRun: d.DryRun,
		Note: d.Note, By: d.Principal, Text: d.String()}
	if d.Action != "" {
		v.Step = d.Step + 1
	}
	if d.Result != 0 {
		v.Result = d.Result.String()
	}
	if d.Err != nil {
		v.Error = d.Err.Error()
	}
	return v
}
