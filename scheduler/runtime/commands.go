package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

var commandOps = map[string]coordinator.Op{
	admin.OpApprove: coordinator.OpApprove, admin.OpCancel: coordinator.OpCancel,
	admin.OpIsolate: coordinator.OpIsolate, admin.OpReactivate: coordinator.OpReactivate,
	admin.OpExclude: coordinator.OpExclude, admin.OpInclude: coordinator.OpInclude,
	admin.OpForce: coordinator.OpForce, admin.OpPause: coordinator.OpPause, admin.OpResume: coordinator.OpResume,
}

// Command implements admin.Backend. The command is stepped on the loop and
// answered once its effect (and its audit entry) is stored; a refusal is
// audited too, and changes nothing else.
func (r *Runtime) Command(ctx context.Context, c admin.Command) (admin.CommandResponse, error) {
	caller := admin.CallerFrom(ctx)
	var (
		resp admin.CommandResponse
		rerr *admin.Error
	)
	op, ok := commandOps[c.Op]
	if !ok {
		return resp, &admin.Error{Status: http.StatusBadRequest, Msg: "unknown command " + c.Op}
	}
	resp.Op = c.Op
	leading, err := r.onLoop(ctx, true, func(t *term, done func()) {
		entry := auditEntry(t.now(), caller, c.Op, c.Target)
		entry.Incident, entry.Attempt, entry.Reason = c.Incident, c.Attempt, c.Reason
		if c.Op == admin.OpForce && c.Problem != "" {
			entry.Reason = strings.TrimSpace("problem=" + c.Problem + " " + c.Reason)
		}
		refuse := func(e *admin.Error) {
			rerr = e
			t.addAudit(refused(entry, e))
			t.batch.after = append(t.batch.after, func(error) { done() })
		}
		if t.suspended {
			refuse(immutableError(coordinator.Immutability{Why: "ZooKeeper connection lost"}))
			return
		}
		cmd := coordinator.Command{At: t.now(), Op: op, Principal: principalOf(caller), Incident: c.Incident,
			Attempt: c.Attempt, Reason: c.Reason, Problem: c.Problem}
		switch op {
		case coordinator.OpPause, coordinator.OpResume:
			if e := globalConflict(t.coord.Status(), op); e != nil {
				refuse(e)
				return
			}
		default:
			id, e := resolveAgent(t.coord, c.Target)
			if e != nil {
				refuse(e)
				return
			}
			cmd.Agent = id
		}
		rd, serr := t.step(cmd)
		if serr != nil {
			refuse(commandError(serr))
			return
		}
		for _, d := range rd.Decisions {
			resp.Decisions = append(resp.Decisions, decisionView(d))
		}
		if len(resp.Decisions) > 0 {
			resp.Decision = resp.Decisions[0].Text
		}
		t.addAudit(accepted(entry, http.StatusOK, resp.Decision))
		t.batch.after = append(t.batch.after, func(err error) {
			defer done()
			if err != nil {
				rerr = notRecorded(err)
				return
			}
			if cmd.Agent != "" {
				if rec, ok := t.coord.Agent(cmd.Agent); ok {
					resp.AgentID, resp.Hostname, resp.State = string(rec.ID), rec.Hostname, rec.State.String()
					resp.Incident = incidentView(rec)
				}
				return
			}
			st := statusView(t.coord.Status())
			resp.Paused, resp.Breaker = &st.Paused, &st.Breaker
		})
	})
	switch {
	case err != nil:
		// The request ended before the loop answered: the loop may still
		// fill resp in, so it is not read.
		return admin.CommandResponse{}, err
	case !leading:
		return resp, r.notLeading()
	case rerr != nil:
		return resp, rerr
	}
	return resp, nil
}

// globalConflict refuses a pause of a paused healer (the first pause's
// reason and principal would be lost) and a resume with nothing to resume.
func globalConflict(s coordinator.Status, op coordinator.Op) *admin.Error {
	switch {
	case op == coordinator.OpPause && s.Paused:
		return &admin.Error{Status: http.StatusConflict, Msg: "already paused",
			Detail: fmt.Sprintf("paused by %s at %s: %s; resume first to pause with another reason",
				s.PausedBy, s.PausedAt.UTC().Format(time.RFC3339), s.Reason)}
	case op == coordinator.OpResume && !s.Paused && !s.Breaker.Tripped:
		return &admin.Error{Status: http.StatusConflict, Msg: "nothing to resume",
			Detail: "repairs are not paused and the storm breaker is not tripped"}
	}
	return nil
}

// resolveAgent finds the record an operator command names: an agent id
// (a removed machine's tombstone included), else the live agent on a
// hostname, else the most recently removed machine there.
func resolveAgent(c *coordinator.Coordinator, target string) (coordinator.AgentID, *admin.Error) {
	if target == "" {
		return "", &admin.Error{Status: http.StatusBadRequest, Msg: "no target", Detail: "name the agent by id or hostname"}
	}
	if rec, ok := c.Agent(coordinator.AgentID(target)); ok {
		return rec.ID, nil
	}
	recs := c.Machine(target)
	switch {
	case len(recs) == 0:
		return "", &admin.Error{Status: http.StatusNotFound, Msg: "unknown agent",
			Detail: "no agent with id or hostname " + target + " is known to healer (GET /agents lists them)"}
	case len(recs) > 1 && !recs[1].Removed():
		ids := make([]string, 0, len(recs))
		for _, r := range recs {
			if !r.Removed() {
				ids = append(ids, string(r.ID))
			}
		}
		return "", &admin.Error{Status: http.StatusBadRequest, Msg: "ambiguous target",
			Detail: "hostname " + target + " has several agents (" + strings.Join(ids, ", ") + "): name one by its id"}
	}
	return recs[0].ID, nil
}

// commandError maps the coordinator's refusal of a command to a status and
// says what to do.
func commandError(err error) *admin.Error {
	conflict := func(msg, do string) *admin.Error {
		return &admin.Error{Status: http.StatusConflict, Msg: msg, Detail: err.Error() + "; " + do}
	}
	switch {
	case errors.Is(err, coordinator.ErrUnknownAgent):
		return &admin.Error{Status: http.StatusNotFound, Msg: "unknown agent", Detail: err.Error()}
	case errors.Is(err, coordinator.ErrImmutable):
		return immutableError(coordinator.Immutability{Why: "not connected to a master, not reconciled, or no ZooKeeper session"})
	case errors.Is(err, coordinator.ErrIncidentRequired):
		return &admin.Error{Status: http.StatusBadRequest, Msg: "incident and attempt required",
			Detail: `an approval names the incident and the attempt it approves: see "approval" in GET /repairs?state=awaiting-approval`}
	case errors.Is(err, coordinator.ErrNoReason):
		return &admin.Error{Status: http.StatusBadRequest, Msg: "reason required", Detail: `say why in "reason"`}
	case errors.Is(err, coordinator.ErrBadProblem), errors.Is(err, coordinator.ErrBadPrincipal),
		errors.Is(err, coordinator.ErrNoPrincipal), errors.Is(err, coordinator.ErrUnknownCommand):
		return &admin.Error{Status: http.StatusBadRequest, Msg: "command refused", Detail: err.Error()}
	case errors.Is(err, coordinator.ErrStaleIncident):
		return conflict("not the open incident", "GET /repairs shows the agent's open incident")
	case errors.Is(err, coordinator.ErrStaleApproval):
		return conflict("stale approval", "review the step that waits now and approve its attempt")
	case errors.Is(err, coordinator.ErrNotAwaitingApproval):
		return conflict("nothing awaits approval", "only a step in awaiting-approval can be approved")
	case errors.Is(err, coordinator.ErrNoIncident):
		return conflict("no open incident", "there is nothing to cancel")
	case errors.Is(err, coordinator.ErrNotIsolated):
		return conflict("agent is not isolated", "only an isolated agent can be reactivated")
	case errors.Is(err, coordinator.ErrIsolated):
		return conflict("agent is isolated", "reactivate it first")
	case errors.Is(err, coordinator.ErrStepInFlight):
		return conflict("a step is in flight", "wait for it to end, or cancel it")
	case errors.Is(err, coordinator.ErrKillPending):
		return conflict("a killed step has not ended yet", "retry once Mesos confirms it ended")
	case errors.Is(err, coordinator.ErrNotExecuting):
		return conflict("not in execute mode", "force launches nothing in observe or dry-run; change --mode")
	}
	return &admin.Error{Status: http.StatusConflict, Msg: "command refused", Detail: err.Error()}
}

// Repairs implements admin.Backend. The leader copies the records on the
// loop and filters them off it.
func (r *Runtime) Repairs(ctx context.Context, f admin.RepairFilter) (admin.RepairList, error) {
	var (
		recs []coordinator.AgentRecord
		asOf time.Time
	)
	leading, err := r.onLoop(ctx, false, func(t *term, done func()) {
		defer done()
		recs, _ = t.coord.Records()
		asOf = t.now()
	})
	if err != nil {
		return admin.RepairList{}, err
	}
	if !leading {
		snap, at, err := r.standbyView(ctx)
		if err != nil {
			return admin.RepairList{}, err
		}
		recs, asOf = snap.Agents, at
	}
	return repairList(recs, f, asOf), nil
}

func repairList(recs []coordinator.AgentRecord, f admin.RepairFilter, now time.Time) admin.RepairList {
	list := admin.RepairList{Repairs: []admin.Repair{}, AsOf: now}
	keep := func(rp admin.Repair, since time.Time) bool {
		age := now.Sub(since)
		return (f.Problem == "" || rp.Problem == f.Problem) &&
			(f.OlderThan == 0 || age >= f.OlderThan) && (f.NewerThan == 0 || age <= f.NewerThan)
	}
	var open, closed []admin.Repair
	for _, rec := range recs {
		if f.Agent != "" && string(rec.ID) != f.Agent && rec.Hostname != f.Agent {
			continue
		}
		if f.State != "closed" && rec.State != coordinator.StateHealthy && rec.State != coordinator.StateIsolated &&
			rec.Incident.ID != 0 && (f.State == "" || f.State == "open" || f.State == "all" || f.State == rec.State.String()) {
			rp := openRepair(rec, now)
			if keep(rp, rec.Incident.OpenedAt) {
				open = append(open, rp)
			}
		}
		if f.State == "closed" || f.State == "all" {
			for _, rp := range closedRepairs(rec, now) {
				if keep(rp, *rp.EndedAt) {
					closed = append(closed, rp)
				}
			}
		}
	}
	// Open: oldest first (the longest-running need a look first); closed:
	// newest first.
	slices.SortStableFunc(open, func(a, b admin.Repair) int { return a.OpenedAt.Compare(b.OpenedAt) })
	slices.SortStableFunc(closed, func(a, b admin.Repair) int { return b.EndedAt.Compare(*a.EndedAt) })
	all := append(open, closed...)
	list.Total = len(all)
	lo := min(max(f.Offset, 0), len(all))
	hi := len(all)
	if f.Limit > 0 {
		hi = min(lo+f.Limit, hi)
	}
	list.Repairs = append(list.Repairs, all[lo:hi]...)
	return list
}

func openRepair(rec coordinator.AgentRecord, now time.Time) admin.Repair {
	in := incidentView(rec)
	rp := admin.Repair{AgentID: string(rec.ID), Hostname: rec.Hostname, Zone: rec.Zone, State: rec.State.String(),
		Open: true, Incident: in.ID, Problem: in.Problem, Source: in.Source, Message: in.Message, OpenedAt: in.OpenedAt,
		AgeSeconds: now.Sub(in.OpenedAt).Seconds(), Signals: in.Signals, Step: in.Step, Action: in.Action,
		StepsRun: in.StepsRun, Run: in.Run, ProbationEnds: in.ProbationEnds, Removed: rec.Removed()}
	if rec.State == coordinator.StateAwaitingApproval {
		rp.Approval = &admin.Approval{Attempt: rec.Incident.ApprovalAttempt, Step: in.Step, Action: in.Action}
	}
	return rp
}

// closedRepairs are the agent's ended incidents its history still shows
// (the last coordinator.HistoryLen steps), one per incident.
func closedRepairs(rec coordinator.AgentRecord, now time.Time) []admin.Repair {
	var out []admin.Repair
	for _, h := range rec.History {
		if h.Incident == rec.Incident.ID && rec.State != coordinator.StateHealthy && rec.State != coordinator.StateIsolated {
			continue // the open incident's steps
		}
		at := admin.Attempt{ID: h.ID, Incident: h.Incident, Problem: h.Problem, Action: h.Action, Scope: h.Scope.String(),
			StartedAt: h.StartedAt, EndedAt: h.EndedAt, Result: h.Result.String(), ExitCode: h.ExitCode,
			OutputTail: h.OutputTail, Forced: h.Forced, By: h.Principal}
		if n := len(out); n > 0 && out[n-1].Incident == h.Incident {
			rp := &out[n-1]
			rp.Attempts = append(rp.Attempts, at)
			rp.Step, rp.Action, rp.Result, rp.StepsRun = rp.Step+1, h.Action, at.Result, rp.StepsRun+1
			end := h.EndedAt
			rp.EndedAt, rp.AgeSeconds = &end, now.Sub(end).Seconds()
			continue
		}
		end := h.EndedAt
		out = append(out, admin.Repair{AgentID: string(rec.ID), Hostname: rec.Hostname, Zone: rec.Zone, State: "closed",
			Incident: h.Incident, Problem: h.Problem, OpenedAt: h.StartedAt, AgeSeconds: now.Sub(end).Seconds(),
			Step: 1, Action: h.Action, StepsRun: 1, EndedAt: &end, Result: at.Result, Attempts: []admin.Attempt{at},
			Removed: rec.Removed()})
	}
	return out
}

// Alerts implements admin.Backend: the batch is checked whole before any
// of it is stepped, so it is taken or refused whole, in one store write.
func (r *Runtime) Alerts(ctx context.Context, alerts []admin.AlertSignal) (admin.AlertResponse, error) {
	caller := admin.CallerFrom(ctx)
	var (
		resp admin.AlertResponse
		rerr *admin.Error
	)
	firing, resolved := 0, 0
	for _, a := range alerts {
		if a.Status == "firing" {
			firing++
		} else {
			resolved++
		}
	}
	leading, err := r.onLoop(ctx, true, func(t *term, done func()) {
		entry := auditEntry(t.now(), caller, "alertmanager", fmt.Sprintf("%d firing, %d resolved", firing, resolved))
		refuse := func(e *admin.Error) {
			rerr = e
			t.addAudit(refused(entry, e))
			t.batch.after = append(t.batch.after, func(error) { done() })
		}
		if imm := t.coord.Immutable(); imm.Immutable || t.suspended {
			refuse(immutableError(imm))
			return
		}
		if e := checkAlerts(t.coord, alerts); e != nil {
			refuse(e)
			return
		}
		changed := resolved > 0
		var notes []string
		for _, a := range alerts {
			res := admin.AlertResult{Fingerprint: a.Fingerprint, Status: a.Status, Target: a.Target, Problem: a.Problem}
			if a.Status != "firing" {
				res.Decision = "resolved: recorded (healer's probation decides whether the repair held)"
				t.log.Info("alertmanager: alert resolved", "target", a.Target, "problem", a.Problem, "fingerprint", a.Fingerprint)
				resp.Alerts = append(resp.Alerts, res)
				continue
			}
			rd, serr := t.step(coordinator.Signal{At: t.now(), Agent: a.Target, Problem: a.Problem,
				Source: SourceAlertmanager, Message: a.Message})
			t.countSignal(SourceAlertmanager, a.Problem, rd, serr)
			if serr != nil {
				// checkAlerts should have caught it: the rest of the batch
				// stands, and this alert says why it was not taken.
				t.log.Error("alertmanager: a signal the batch check passed was refused", "target", a.Target, "err", serr)
				res.Decision = "refused: " + serr.Error()
				resp.Alerts = append(resp.Alerts, res)
				continue
			}
			for i, d := range rd.Decisions {
				if i == 0 {
					res.Decision, res.AgentID, res.Incident = d.String(), string(d.Agent), d.Incident
				}
				if d.Kind == coordinator.DecAttached {
					res.Attached = true
				}
			}
			if !res.Attached {
				changed = true
				notes = append(notes, res.Decision)
			}
			resp.Alerts = append(resp.Alerts, res)
		}
		if changed {
			detail := fmt.Sprintf("%d firing, %d resolved", firing, resolved)
			if len(notes) > 0 {
				detail += ": " + strings.Join(notes, "; ")
			}
			t.addAudit(accepted(entry, http.StatusOK, detail))
		}
		t.batch.after = append(t.batch.after, func(err error) {
			defer done()
			if err != nil {
				rerr = notRecorded(err)
			}
		})
	})
	switch {
	case err != nil:
		return admin.AlertResponse{}, err // the loop may still fill resp in
	case !leading:
		return resp, r.notLeading()
	case rerr != nil:
		return resp, rerr
	}
	return resp, nil
}

// SourceAlertmanager is the source of signals from POST /alertmanager.
const SourceAlertmanager = "alertmanager"

// checkAlerts refuses a batch with any firing alert the coordinator would
// refuse as a signal (by the same rules: one live agent, a valid problem),
// naming every such alert.
func checkAlerts(c *coordinator.Coordinator, alerts []admin.AlertSignal) *admin.Error {
	var bad []string
	status := http.StatusNotFound
	for i, a := range alerts {
		if a.Status != "firing" {
			continue
		}
		why, code := "", http.StatusNotFound
		switch {
		case !validProblem(a.Problem):
			why, code = fmt.Sprintf("problem %q is not a name healer takes (at most %d bytes of UTF-8 without control characters)", a.Problem, coordinator.MaxProblemBytes), http.StatusBadRequest
		default:
			why, code = signalTarget(c, a.Target)
		}
		if why != "" {
			bad = append(bad, fmt.Sprintf("alert %d (%s): %s", i+1, a.Fingerprint, why))
			if code != http.StatusNotFound {
				status = http.StatusBadRequest
			}
		}
	}
	if len(bad) == 0 {
		return nil
	}
	msg := "unknown agents in the batch"
	if status == http.StatusBadRequest {
		msg = "bad alerts in the batch"
	}
	return &admin.Error{Status: status, Msg: msg + ": none of it was taken",
		Detail: strings.Join(bad, "; ") + " (route only alerts about Mesos agents to healer, or fix the labels)"}
}

// signalTarget says why target does not name exactly one live agent, as
// the coordinator resolves a signal's target, with the status to answer.
func signalTarget(c *coordinator.Coordinator, target string) (string, int) {
	if rec, ok := c.Agent(coordinator.AgentID(target)); ok {
		if rec.Removed() {
			return "agent " + target + " was removed from the cluster", http.StatusNotFound
		}
		for _, m := range c.Machine(target) {
			if m.ID != rec.ID && !m.Removed() {
				return "target " + target + " names more than one agent", http.StatusBadRequest
			}
		}
		return "", 0
	}
	live := 0
	for _, m := range c.Machine(target) {
		if !m.Removed() {
			live++
		}
	}
	switch {
	case live == 1:
		return "", 0
	case live > 1:
		return "hostname " + target + " has several agents", http.StatusBadRequest
	}
	return "no live agent with id or hostname " + strconv.Quote(target), http.StatusNotFound
}

func validProblem(p string) bool {
	return p != "" && len(p) <= coordinator.MaxProblemBytes && utf8.ValidString(p) &&
		strings.IndexFunc(p, unicode.IsControl) < 0
}
