package runtime

import (
	"context"
	"net/http"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/store"
)

// The audit trail. Every request to a mutating endpoint that reaches the
// leader's loop is audited there, accepted or refused, in the same store
// write as the change it made (or as nothing, for a refusal); requests the
// admin API refused before (access control, bad input) arrive through
// Record. The entry is durable before the request is answered. A signal
// attached to an open incident changed nothing and is not audited (it is
// counted on the incident); see docs/admin-api.md.
//
// Refusals repeat: a monitor keeps naming a decommissioned host, a script
// keeps using a revoked token. An identical refusal (same principal,
// action, target, status and error) within refusalMergeWindow of the last
// one is merged into its entry (Count, LastAt), so a flood of them takes
// one slot of the bounded trail, not all of it.

const (
	// refusalMergeWindow is how long a refusal's entry takes identical
	// ones.
	refusalMergeWindow = 10 * time.Minute
	// maxRecentRefusals bounds the refusals remembered for merging.
	maxRecentRefusals = 256
)

// auditState is the loop's memory of recent refusals (per term: a new
// leader starts new entries).
type auditState struct {
	recent map[refusalKey]store.AuditEntry
}

type refusalKey struct {
	principal, action, target, detail string
	code                              int
}

func refusalOf(e store.AuditEntry) refusalKey {
	return refusalKey{principal: e.Principal, action: e.Action, target: e.Target, detail: e.Detail, code: e.Code}
}

// addAudit queues e to be stored with the current batch. While the
// ZooKeeper session is suspended nothing may be written: the entry is
// logged only.
func (t *term) addAudit(e store.AuditEntry) {
	if t.suspended {
		t.log.Info("audit (not stored: ZooKeeper session suspended)", "principal", e.Principal, "action", e.Action,
			"target", e.Target, "result", e.Result, "code", e.Code, "detail", e.Detail)
		return
	}
	e.Count = 1
	if e.Result == admin.ResultRefused {
		k := refusalOf(e)
		// Merge into an entry of this batch, then into a stored one.
		for i := range t.batch.audit {
			if b := &t.batch.audit[i]; b.Result == admin.ResultRefused && refusalOf(*b) == k {
				b.Count++
				b.LastAt = e.At
				return
			}
		}
		if prev, ok := t.audit.recent[k]; ok && e.At.Sub(prev.LastAt) < refusalMergeWindow {
			prev.Count++
			prev.LastAt = e.At
			e = prev
		}
	}
	if e.LastAt.IsZero() {
		e.LastAt = e.At
	}
	t.batch.audit = append(t.batch.audit, e)
}

// save writes the batch and its audit entries; a store that keeps no audit
// trail (a test's) gets the entries in the log only.
func (t *term) save(b *batch) error {
	a, ok := t.store.(store.Auditor)
	if len(b.audit) == 0 || !ok {
		for _, e := range b.audit {
			t.log.Info("audit (not stored)", "principal", e.Principal, "action", e.Action, "target", e.Target,
				"result", e.Result, "code", e.Code, "detail", e.Detail)
		}
		return t.store.Save(t.ctx, b.persist())
	}
	if err := a.SaveAudited(t.ctx, b.persist(), b.audit); err != nil {
		return err
	}
	now := t.now()
	for _, e := range b.audit {
		t.cfg.Metrics.auditEntries.WithLabelValues(e.Result).Inc()
		t.log.Info("audit", "seq", e.Seq, "principal", e.Principal, "role", e.Role, "remote", e.Remote,
			"action", e.Action, "target", e.Target, "result", e.Result, "code", e.Code, "detail", e.Detail)
		if e.Result != admin.ResultRefused {
			continue
		}
		if t.audit.recent == nil {
			t.audit.recent = make(map[refusalKey]store.AuditEntry)
		}
		if len(t.audit.recent) >= maxRecentRefusals {
			for k, old := range t.audit.recent {
				if now.Sub(old.LastAt) >= refusalMergeWindow {
					delete(t.audit.recent, k)
				}
			}
			if len(t.audit.recent) >= maxRecentRefusals {
				continue // all recent: no merging for this one
			}
		}
		t.audit.recent[refusalOf(e)] = e
	}
	return nil
}

// auditEntry starts the entry of a request by caller.
func auditEntry(now time.Time, c admin.Caller, action, target string) store.AuditEntry {
	return store.AuditEntry{At: now, Principal: principalOf(c), Role: c.Role.String(), Remote: c.Remote,
		Action: action, Target: target}
}

// principalOf is the principal a caller acts as: its token's name, or
// "anonymous" without one (no token file, or a caller inside the process).
func principalOf(c admin.Caller) string {
	if c.Name == "" {
		return "anonymous"
	}
	return c.Name
}

// refused completes e as a refusal with err's status.
func refused(e store.AuditEntry, err *admin.Error) store.AuditEntry {
	e.Result, e.Code, e.Detail = admin.ResultRefused, err.Status, err.Error()
	return e
}

// accepted completes e as accepted with code and what was decided.
func accepted(e store.AuditEntry, code int, detail string) store.AuditEntry {
	e.Result, e.Code, e.Detail = admin.ResultAccepted, code, detail
	return e
}

// notRecorded is the answer when the store refused a batch.
func notRecorded(err error) *admin.Error {
	return &admin.Error{Status: http.StatusServiceUnavailable, Msg: "not recorded",
		Detail: "the state store refused the write: " + err.Error() + "; retry shortly", RetryAfter: 2 * time.Second}
}

// Record implements admin.Backend: a refusal the admin API made itself
// goes into the trail on the leader. A standby keeps no trail of its own
// (only the leader writes to ZooKeeper): it logs the refusal.
func (r *Runtime) Record(ctx context.Context, e admin.AuditEntry) error {
	entry := store.AuditEntry{At: e.At, Principal: e.Principal, Role: e.Role, Remote: e.Remote, Action: e.Action,
		Target: e.Target, Incident: e.Incident, Attempt: e.Attempt, Reason: e.Reason, Result: e.Result,
		Code: e.Code, Detail: e.Detail}
	leading, err := r.onLoop(ctx, true, func(t *term, done func()) {
		if t.suspended {
			done()
			return
		}
		if entry.At.IsZero() {
			entry.At = t.now()
		}
		t.addAudit(entry)
		t.batch.after = append(t.batch.after, func(error) { done() })
	})
	if err != nil || !leading {
		r.log.Info("audit (not stored: not leading)", "principal", e.Principal, "remote", e.Remote,
			"action", e.Action, "target", e.Target, "result", e.Result, "code", e.Code, "detail", e.Detail)
	}
	if !leading {
		return nil
	}
	return err
}

// Audit implements admin.Backend: the newest entries, newest first, read
// from the store (the leader's own, or a standby's read of ZooKeeper)
// without holding up the loop.
func (r *Runtime) Audit(ctx context.Context, limit int) (admin.AuditList, error) {
	var (
		entries []store.AuditEntry
		err     error
	)
	asOf := time.Now()
	if t := r.term(); t != nil {
		a, ok := t.store.(store.Auditor)
		if !ok {
			return admin.AuditList{Entries: []admin.AuditEntry{}, AsOf: asOf}, nil
		}
		entries, err = a.LoadAudit(ctx, limit)
	} else if r.cfg.StandbyAudit != nil {
		entries, err = r.cfg.StandbyAudit(ctx, limit)
	} else {
		return admin.AuditList{}, &admin.Error{Status: http.StatusServiceUnavailable, Msg: "not leading yet",
			Detail: "this instance has not started leading; retry shortly", RetryAfter: 2 * time.Second}
	}
	if err != nil {
		return admin.AuditList{}, &admin.Error{Status: http.StatusServiceUnavailable, Msg: "cannot read the audit trail",
			Detail: err.Error(), RetryAfter: 2 * time.Second}
	}
	list := admin.AuditList{Entries: make([]admin.AuditEntry, 0, len(entries)), AsOf: asOf}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		v := admin.AuditEntry{Seq: e.Seq, At: e.At, Principal: e.Principal, Role: e.Role, Remote: e.Remote,
			Action: e.Action, Target: e.Target, Incident: e.Incident, Attempt: e.Attempt, Reason: e.Reason,
			Result: e.Result, Code: e.Code, Detail: e.Detail}
		if e.Count > 1 {
			v.Count, v.LastAt = int(e.Count), timePtr(e.LastAt)
		}
		list.Entries = append(list.Entries, v)
	}
	return list, nil
}
