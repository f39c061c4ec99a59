package runtime

import (
	"strconv"
	"strings"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// markerPrefix starts the task id of a reconciliation's end marker: no
// task of healer's (or anybody's) is ever named so.
const markerPrefix = "healer.reconciliation-marker."

// Reconciliation limits: how long to wait for the marker before starting
// over, how many tasks one explicit RECONCILE names, and how often a task
// the master does not know is asked about again before it counts as lost.
const (
	reconcileTimeout = 30 * time.Second
	reconcileChunk   = 1000
	reaskMax         = 3
	reaskBase        = 2 * time.Second
	// launchQuiet: a launch that heard nothing for this long is asked
	// about (explicit reconciliation).
	launchQuiet = 30 * time.Second
)

type reconciliation struct {
	// active: a reconciliation is under way; marker is its end marker.
	active  bool
	initial bool
	marker  string
	sentAt  time.Time
	seq     uint64
	last    time.Time
	// reasks are in-flight tasks the master said it did not know, to ask
	// about again (MESOS-6250: TASK_LOST right after a failover can be
	// false).
	reasks map[string]*reask
}

type reask struct {
	agent string
	tries int
	at    time.Time
	sent  bool
}

func (r *reconciliation) isMarker(id string) bool { return strings.HasPrefix(id, markerPrefix) }

func (r *reconciliation) abort() {
	r.active = false
	clear(r.reasks)
}

// startReconcile reconciles after SUBSCRIBED: the coordinator stays
// Immutable until the marker's answer.
func (t *term) startReconcile() {
	t.recon.initial = true
	t.sendReconcile()
}

// sendReconcile sends the explicit RECONCILE for the tasks healer's records
// and this term know, the implicit one, and the marker.
func (t *term) sendReconcile() {
	r := &t.recon
	r.seq++
	r.active = true
	r.marker = markerPrefix + strconv.FormatUint(t.gen, 10) + "." + strconv.FormatUint(r.seq, 10)
	r.sentAt = t.now()
	tasks := make(map[string]string)
	for _, inc := range t.coord.OpenIncidents() {
		run := inc.Incident.Run
		if inc.State == coordinator.StateRepairing && run.Step.Scope == coordinator.ScopeAgent {
			tasks[taskspec.RepairTaskID(string(inc.Agent), inc.Incident.ID, run.Attempt)] = string(inc.Agent)
		}
	}
	for id, tk := range t.tasks {
		tasks[id] = tk.agent
	}
	t.monitors.taskIDs(tasks)
	chunk := make(map[string]string)
	flush := func() {
		if len(chunk) > 0 {
			t.calls.send(calls.Reconcile(calls.ReconcileTasks(chunk)), nil)
			chunk = make(map[string]string)
		}
	}
	for id, agent := range tasks {
		chunk[id] = agent
		if len(chunk) == reconcileChunk {
			flush()
		}
	}
	flush()
	t.calls.send(calls.Reconcile(), nil)
	t.calls.send(calls.Reconcile(calls.ReconcileTasks(map[string]string{r.marker: ""})), nil)
	t.cfg.Metrics.reconciliations.Inc()
	t.log.Info("reconciling", "explicit_tasks", len(tasks), "initial", r.initial)
}

// markerAnswered ends the reconciliation whose marker this is: every
// answer the master had is in.
func (r *reconciliation) markerAnswered(t *term, id string) {
	if !r.active || id != r.marker {
		return
	}
	r.active = false
	r.last = t.now()
	t.log.Info("reconciled", "took", t.now().Sub(r.sentAt))
	if r.initial {
		r.initial = false
		t.step(coordinator.Connectivity{At: t.now(), Change: coordinator.Reconciled})
		// Offers declined while healer could not act yet carry filters:
		// revive if anything waits.
		t.offers.wanted = true
	}
}

// reask schedules another explicit RECONCILE for an in-flight task the
// master said it does not know; false once it was asked reaskMax times.
func (r *reconciliation) reask(t *term, id string, tk *task) bool {
	if r.reasks == nil {
		r.reasks = make(map[string]*reask)
	}
	q := r.reasks[id]
	if q == nil {
		agent := ""
		if tk != nil {
			agent = tk.agent
		}
		q = &reask{agent: agent}
		r.reasks[id] = q
	}
	if q.tries >= reaskMax {
		delete(r.reasks, id)
		return false
	}
	q.at = t.now().Add(reaskBase << q.tries)
	q.tries++
	q.sent = false
	return true
}

// tick re-sends a reconciliation whose marker is overdue, runs the
// periodic one, and sends due re-asks.
func (r *reconciliation) tick(t *term, now time.Time) {
	if !t.subscribed {
		return
	}
	switch {
	case r.active && now.Sub(r.sentAt) >= reconcileTimeout:
		t.log.Warn("reconciliation did not finish in time; starting it over")
		t.sendReconcile()
	case !r.active && now.Sub(r.last) >= t.cfg.ReconcileInterval:
		t.sendReconcile()
	}
	due := make(map[string]string)
	// A launch that has heard nothing since its ACCEPT (no update at all):
	// ask the master about it rather than wait for the step's deadline.
	for _, l := range t.launches {
		if l.state == launchAccepting && now.Sub(l.sentAt) >= launchQuiet && now.Sub(l.askedAt) >= launchQuiet {
			l.askedAt = now
			due[l.taskID] = string(l.action.Agent)
		}
	}
	for id, q := range r.reasks {
		if !q.sent && !q.at.After(now) {
			q.sent = true
			due[id] = q.agent
		}
	}
	if len(due) > 0 {
		t.calls.send(calls.Reconcile(calls.ReconcileTasks(due)), nil)
	}
}
