package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
)

// opQueueSize bounds the operator-API work waiting to be done.
const opQueueSize = 1024

// opRetryMax caps the backoff between retries of a failed operator call.
const opRetryMax = time.Minute

// opQueue runs operator-API work one item at a time, so that the
// maintenance schedule, which Mesos only replaces whole, is read and
// written by one hand in healer.
type opQueue struct {
	t   *term
	q   chan func(*opQueue)
	ctx context.Context
}

func newOpQueue(t *term) *opQueue {
	return &opQueue{t: t, q: make(chan func(*opQueue), opQueueSize), ctx: t.ctx}
}

// queue adds work; false when the queue is full (the caller retries).
func (q *opQueue) queue(f func(*opQueue)) bool {
	select {
	case q.q <- f:
		return true
	default:
		q.t.log.Warn("operator work queue full: the master is not keeping up")
		return false
	}
}

func (q *opQueue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-q.q:
			if q.t.gate.wait(ctx) != nil {
				return
			}
			f(q)
		}
	}
}

// call makes one operator call on the leading master.
func (q *opQueue) call(c master.Call) (*master.Response, error) {
	var resp *master.Response
	err := q.timed(c, func(ctx context.Context) (err error) {
		resp, err = q.t.m.Operator(ctx, &c)
		return err
	})
	return resp, err
}

// query makes one operator query on the leading master, decoding its
// answer into out (Master.OperatorInto).
func (q *opQueue) query(c master.Call, out proto.Message) error {
	return q.timed(c, func(ctx context.Context) error { return q.t.m.OperatorInto(ctx, &c, out) })
}

// timed runs an operator call with the queue's deadline and metrics.
func (q *opQueue) timed(c master.Call, do func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(q.ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	err := do(ctx)
	q.t.cfg.Metrics.observeCall("operator_"+strings.ToLower(c.Type.String()), time.Since(start), err)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Type, err)
	}
	return nil
}

// The master's answers that mean an isolation or reactivation has nothing
// left to do (Master::Http in src/master/http.cpp): the agent is gone
// (mesosconn.IsUnknownAgent), or already in the wanted state.
func isNotDeactivated(err error) bool {
	return strings.Contains(err.Error(), "is not deactivated")
}

func isNotInMaintenance(err error) bool {
	s := err.Error()
	return strings.Contains(s, "is not part of a maintenance schedule") || strings.Contains(s, "is not in DOWN mode") ||
		strings.Contains(s, "is not in DRAINING mode")
}

// isolate carries out an ActIsolate: the master stops using the agent.
func (q *opQueue) isolate(a coordinator.Action) {
	t := q.t
	id := mesos.AgentID{Value: string(a.Agent)}
	machine, hasMachine := t.agents.machine(string(a.Agent), a.Hostname)
	ok := q.queue(func(q *opQueue) {
		var err error
		switch a.Isolation {
		case coordinator.IsolateDrain:
			_, err = q.call(master.Call{Type: master.Call_DRAIN_AGENT, DrainAgent: &master.Call_DrainAgent{AgentID: id}})
		case coordinator.IsolateMaintenanceDown:
			if !hasMachine {
				err = fmt.Errorf("agent %s: %w", a.Agent, errNoMachine)
				break
			}
			err = q.maintenanceDown(machine, t.now(), t.cfg.Policy.DrainTimeout)
		default:
			_, err = q.call(master.Call{Type: master.Call_DEACTIVATE_AGENT, DeactivateAgent: &master.Call_DeactivateAgent{AgentID: id}})
		}
		if err != nil && mesosconn.IsUnknownAgent(err) {
			err = nil // gone: it cannot be used anyway
		}
		t.post(func() { t.opDone(a, err) })
	})
	if !ok {
		t.opDone(a, errOpQueueFull)
	}
}

// reactivate carries out an ActReactivate: whatever isolated the agent
// (the current policy's method may not be the one that did) is undone, and
// healer's maintenance windows for the machine end. Windows healer did not
// create are never touched.
func (q *opQueue) reactivate(a coordinator.Action) {
	t := q.t
	id := mesos.AgentID{Value: string(a.Agent)}
	machine, hasMachine := t.agents.machine(string(a.Agent), a.Hostname)
	ok := q.queue(func(q *opQueue) {
		_, err := q.call(master.Call{Type: master.Call_REACTIVATE_AGENT, ReactivateAgent: &master.Call_ReactivateAgent{AgentID: id}})
		if err != nil && (mesosconn.IsUnknownAgent(err) || isNotDeactivated(err)) {
			err = nil
		}
		if err == nil && hasMachine {
			err = q.endHealerMaintenance(machine, true)
		}
		t.post(func() { t.opDone(a, err) })
	})
	if !ok {
		t.opDone(a, errOpQueueFull)
	}
}

// up carries out an ActUp: the drain window healer opened for the machine
// ends.
func (q *opQueue) up(a coordinator.Action) {
	t := q.t
	machine, hasMachine := t.agents.machine(string(a.Agent), a.Hostname)
	ok := q.queue(func(q *opQueue) {
		var err error
		if hasMachine {
			err = q.endHealerMaintenance(machine, false)
		}
		t.post(func() { t.opDone(a, err) })
	})
	if !ok {
		t.opDone(a, errOpQueueFull)
	}
}

var (
	errOpQueueFull = errors.New("operator work queue full")
	errNoMachine   = errors.New("the master never listed the agent's machine (hostname and IP): cannot schedule maintenance for it")
)

// healerWindowMark marks the maintenance windows healer creates: their
// duration's nanoseconds end in it. Mesos keeps no owner for a window, and
// the schedule is replaced whole on update, so this is how healer (any
// instance, after any failover) tells its own windows from an operator's
// and never alters one it did not create.
const healerWindowMark = 417

func isHealerWindow(w maintenance.Window) bool {
	d := w.Unavailability.Duration
	return len(w.MachineIDs) == 1 && d != nil && d.Nanoseconds%1000 == healerWindowMark
}

func sameMachine(a, b mesos.MachineID) bool {
	return strings.EqualFold(a.GetHostname(), b.GetHostname()) && a.GetIP() == b.GetIP()
}

// schedule reads, edits and writes back the maintenance schedule; edit
// reports whether it changed anything. Mesos has no compare-and-swap for
// the schedule: an operator's edit between the read and the write would
// be lost, which is why healer keeps the window short-lived and the edit
// minimal.
func (q *opQueue) schedule(edit func(*maintenance.Schedule) bool) error {
	resp, err := q.call(master.Call{Type: master.Call_GET_MAINTENANCE_SCHEDULE})
	if err != nil {
		return err
	}
	s := resp.GetGetMaintenanceSchedule().GetSchedule()
	if !edit(&s) {
		return nil
	}
	_, err = q.call(master.Call{Type: master.Call_UPDATE_MAINTENANCE_SCHEDULE,
		UpdateMaintenanceSchedule: &master.Call_UpdateMaintenanceSchedule{Schedule: s}})
	return err
}

// openWindow puts machine into a healer window starting now, unless a
// window (healer's or not) already holds it: Mesos allows a machine in one
// window only, and an operator's window already drains it.
func (q *opQueue) openWindow(machine mesos.MachineID, now time.Time, length time.Duration) error {
	return q.schedule(func(s *maintenance.Schedule) bool {
		for _, w := range s.Windows {
			for _, m := range w.MachineIDs {
				if sameMachine(m, machine) {
					return false
				}
			}
		}
		d := length.Truncate(time.Microsecond).Nanoseconds() + healerWindowMark
		s.Windows = append(s.Windows, maintenance.Window{
			MachineIDs: []mesos.MachineID{machine},
			Unavailability: mesos.Unavailability{
				Start:    mesos.TimeInfo{Nanoseconds: now.UnixNano()},
				Duration: &mesos.DurationInfo{Nanoseconds: d},
			},
		})
		return true
	})
}

// endHealerMaintenance brings the machine back up from a DOWN healer put
// it in (when down is set) and removes healer's window for it.
func (q *opQueue) endHealerMaintenance(machine mesos.MachineID, down bool) error {
	if down {
		_, err := q.call(master.Call{Type: master.Call_STOP_MAINTENANCE,
			StopMaintenance: &master.Call_StopMaintenance{Machines: []mesos.MachineID{machine}}})
		if err != nil && !isNotInMaintenance(err) {
			return err
		}
	}
	return q.schedule(func(s *maintenance.Schedule) bool {
		n := len(s.Windows)
		s.Windows = slices.DeleteFunc(s.Windows, func(w maintenance.Window) bool {
			return isHealerWindow(w) && sameMachine(w.MachineIDs[0], machine)
		})
		return len(s.Windows) != n
	})
}

// maintenanceDown isolates a machine with a maintenance window brought
// DOWN: Mesos removes its agents and refuses them until it is brought UP.
func (q *opQueue) maintenanceDown(machine mesos.MachineID, now time.Time, length time.Duration) error {
	if err := q.openWindow(machine, now, length); err != nil {
		return err
	}
	_, err := q.call(master.Call{Type: master.Call_START_MAINTENANCE,
		StartMaintenance: &master.Call_StartMaintenance{Machines: []mesos.MachineID{machine}}})
	if err != nil && strings.Contains(err.Error(), "is not in DRAINING mode") {
		return nil // already DOWN
	}
	return err
}

// opRetry is an operator action to try again.
type opRetry struct {
	at     time.Time
	action coordinator.Action
	tries  int
}

// opDone takes the outcome of an isolation, reactivation or UP: done is
// acknowledged to the coordinator; a failure is retried with backoff while
// this term leads (and, should the term end first, the next one gets the
// action again from the records).
func (t *term) opDone(a coordinator.Action, err error) {
	if err == nil {
		t.confirm(a)
		return
	}
	tries := 1
	for i, r := range t.retries {
		if r.action.Kind == a.Kind && r.action.Agent == a.Agent {
			tries = r.tries + 1
			t.retries = slices.Delete(t.retries, i, i+1)
			break
		}
	}
	d := min(time.Second<<min(tries, 10), opRetryMax)
	t.log.Warn("operator action failed; retrying", "action", a.Kind.String(), "agent", a.Agent, "err", err, "retry_in", d)
	t.retries = append(t.retries, opRetry{at: t.now().Add(d), action: a, tries: tries})
}

func (t *term) tickRetries(now time.Time) {
	if !t.subscribed || len(t.retries) == 0 {
		return
	}
	var due []opRetry
	t.retries = slices.DeleteFunc(t.retries, func(r opRetry) bool {
		if r.at.After(now) {
			return false
		}
		due = append(due, r)
		return true
	})
	for _, r := range due {
		// Keep the count: opDone finds it again on the next failure.
		t.retries = append(t.retries, opRetry{at: now.Add(opRetryMax), action: r.action, tries: r.tries})
		t.act(r.action)
	}
}
