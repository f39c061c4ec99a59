package soak

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/store"
)

// The operator's side of the soak: the commands an on-call engineer sends
// mid-chaos, each to any running instance (a standby's 307 is followed to
// the leader, token and body included), with every answer recorded for
// the verifier (Observations.Commands) and the summary.

// command posts an operator command (path such as /agents/<id>/isolate,
// /pause) to p and records the answer. action is the audit trail's name of
// it, target what the path names ("" for pause and resume).
func (d *driver) command(p *proc, path, action, target string, body map[string]any) int {
	if body == nil {
		body = map[string]any{}
	}
	if _, ok := body["reason"]; !ok && action != admin.OpForce {
		body["reason"] = "soak: " + action
	}
	b, _ := json.Marshal(body)
	sent := time.Now()
	code, detail := 0, ""
	resp, err := httpClient.Post(p.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		detail = err.Error()
	} else {
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
		var e struct {
			Error  string `json:"error"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			detail = strings.TrimSpace(e.Error + ": " + e.Detail)
		}
	}
	d.mu.Lock()
	d.commands = append(d.commands, OperatorCommand{Sent: sent, Answered: time.Now(), Action: action, Target: target,
		Code: code, Detail: detail})
	d.mu.Unlock()
	what := action
	if target != "" {
		what += " " + target
	}
	if code/100 == 2 {
		d.logf("operator: %s: %d", what, code)
	} else {
		d.logf("operator: %s: %d %s", what, code, detail)
	}
	return code
}

// definitive reports whether an answer settles a command: taken (2xx) or
// refused for good (4xx). No answer or a 503 (Immutable, between leaders)
// is worth trying again.
func definitive(code int) bool { return code/100 == 2 || code/100 == 4 }

// anyInstance is the running instance a fault's command goes to.
func (d *driver) anyInstance(f Fault) *proc {
	live := d.e.live()
	if len(live) == 0 {
		return nil
	}
	return live[int(f.At/time.Millisecond)%len(live)]
}

// retryCommand sends a heal's command until it is definitive, trying again
// two seconds later each time it is not (the driver's loop goes on
// meanwhile); quiesce makes sure of the rest.
func (d *driver) retryCommand(path, action, target string) {
	live := d.e.live()
	if len(live) > 0 {
		if definitive(d.command(live[0], path, action, target, nil)) {
			return
		}
	}
	d.healLater(2*time.Second, "again: "+action+" "+target, func() { d.retryCommand(path, action, target) })
}

// injectOp carries out an operator fault; false when it found nothing to
// hit. A command that may have been taken (any answer but a refusal: no
// answer may still mean done) gets its undoing later.
func (d *driver) injectOp(f Fault) bool {
	p := d.anyInstance(f)
	if p == nil {
		return false
	}
	switch f.Kind {
	case FOpIsolate:
		id := d.agent(f.Agents[0])
		if code := d.command(p, "/agents/"+id+"/isolate", admin.OpIsolate, id, nil); code/100 != 4 {
			d.healLater(f.Duration, "reactivate "+id, func() { d.retryCommand("/agents/"+id+"/reactivate", admin.OpReactivate, id) })
		}
	case FOpReactivate:
		var list struct {
			Agents []struct {
				ID string `json:"id"`
			} `json:"agents"`
		}
		if get(p.url+"/agents?state=isolated", &list) != http.StatusOK || len(list.Agents) == 0 {
			return false
		}
		ids := make([]string, 0, len(list.Agents))
		for _, a := range list.Agents {
			ids = append(ids, a.ID)
		}
		slices.Sort(ids)
		id := ids[f.Pick%len(ids)]
		d.command(p, "/agents/"+id+"/reactivate", admin.OpReactivate, id, nil)
	case FOpForce:
		id := d.agent(f.Agents[0])
		d.command(p, "/agents/"+id+"/force", admin.OpForce, id, map[string]any{"reason": "soak: force"})
	case FOpPause:
		d.mu.Lock()
		d.pausedOnce = true
		d.mu.Unlock()
		if code := d.command(p, "/pause", admin.OpPause, "", nil); code/100 != 4 {
			d.healLater(f.Duration, "resume", func() { d.retryCommand("/resume", admin.OpResume, "") })
		}
	case FOpExclude:
		id := d.agent(f.Agents[0])
		d.mu.Lock()
		d.excluded = append(d.excluded, id)
		d.mu.Unlock()
		if code := d.command(p, "/agents/"+id+"/exclude", admin.OpExclude, id, nil); code/100 != 4 {
			d.healLater(f.Duration, "include "+id, func() { d.retryCommand("/agents/"+id+"/include", admin.OpInclude, id) })
		}
	case FOpCancel:
		var list struct {
			Repairs []struct {
				AgentID  string `json:"agent_id"`
				Incident uint64 `json:"incident"`
			} `json:"repairs"`
		}
		if get(p.url+"/repairs", &list) != http.StatusOK || len(list.Repairs) == 0 {
			return false
		}
		slices.SortFunc(list.Repairs, func(a, b struct {
			AgentID  string `json:"agent_id"`
			Incident uint64 `json:"incident"`
		}) int {
			return strings.Compare(a.AgentID, b.AgentID)
		})
		r := list.Repairs[f.Pick%len(list.Repairs)]
		d.command(p, "/repairs/"+r.AgentID+"/cancel", admin.OpCancel, r.AgentID, map[string]any{"incident": r.Incident})
	}
	return true
}

// undoOperators resumes healer and includes every agent the run excluded,
// until healer has taken both (or the deadline passes): faults may have
// swallowed the heals' commands, and a paused healer or an excluded agent
// with an incident never converges.
func (d *driver) undoOperators(deadline time.Duration) {
	d.mu.Lock()
	paused, excluded := d.pausedOnce, slices.Clone(d.excluded)
	d.mu.Unlock()
	slices.Sort(excluded)
	excluded = slices.Compact(excluded)
	waitCond(deadline, func() bool {
		live := d.e.live()
		if len(live) == 0 {
			return false
		}
		p := live[0]
		for len(excluded) > 0 {
			if !definitive(d.command(p, "/agents/"+excluded[0]+"/include", admin.OpInclude, excluded[0], nil)) {
				return false
			}
			excluded = excluded[1:]
		}
		if paused {
			st, ok := p.status()
			if !ok {
				return false
			}
			if st.Paused && !definitive(d.command(p, "/resume", admin.OpResume, "", nil)) {
				return false
			}
			paused = st.Paused
			return !paused
		}
		return true
	})
}

// auditTrail reads GET /audit (the newest 1000 entries) from a running
// instance, to fill in what the watch may have missed.
func (d *driver) auditTrail() []store.AuditEntry {
	for _, p := range d.e.live() {
		var list admin.AuditList
		if get(p.url+"/audit?limit=1000", &list) != http.StatusOK {
			continue
		}
		out := make([]store.AuditEntry, 0, len(list.Entries))
		for _, e := range list.Entries {
			out = append(out, store.AuditEntry{Seq: e.Seq, At: e.At, Principal: e.Principal, Role: e.Role,
				Action: e.Action, Target: e.Target, Incident: e.Incident, Attempt: e.Attempt, Result: e.Result,
				Code: e.Code, Detail: e.Detail})
		}
		return out
	}
	d.logf("GET /audit: no instance answered")
	return nil
}

// mergeAudit adds the entries of more that all lacks (by seq), oldest
// first.
func mergeAudit(all, more []store.AuditEntry) []store.AuditEntry {
	have := map[uint64]bool{}
	for _, a := range all {
		have[a.Seq] = true
	}
	out := slices.Clone(all)
	for _, a := range more {
		if !have[a.Seq] {
			out = append(out, a)
			have[a.Seq] = true
		}
	}
	slices.SortFunc(out, func(a, b store.AuditEntry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out
}
