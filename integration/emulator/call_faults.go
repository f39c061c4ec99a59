package emulator

import (
	"fmt"
	"net/http"
	"time"
)

// API selects the HTTP APIs a call fault applies to.
type API int

// The APIs a call fault can apply to; combine them with |.
const (
	// APIScheduler is the master's POST /api/v1/scheduler.
	APIScheduler API = 1 << iota
	// APIOperator is the master's POST /api/v1.
	APIOperator
	// APIExecutor is every agent's POST /api/v1/executor.
	APIExecutor
)

func (a API) String() string {
	s := ""
	for _, x := range []struct {
		api  API
		name string
	}{{APIScheduler, "scheduler"}, {APIOperator, "operator"}, {APIExecutor, "executor"}} {
		if a&x.api != 0 {
			if s != "" {
				s += "|"
			}
			s += x.name
		}
	}
	return s
}

// CallFault decides the fate of one API request: a status to answer with
// instead of handling it (0: handle it) and a delay to wait first.
type CallFault func(*http.Request) (status int, delay time.Duration)

// SetCallFaultFor installs a call fault on the master's APIs selected by apis
// (APIScheduler and/or APIOperator; APIExecutor is the agents'), replacing
// any installed one; nil removes it.
func (m *Master) SetCallFaultFor(apis API, f CallFault) {
	m.mu.Lock()
	m.callFault = f
	m.callFaultAPIs = apis
	m.mu.Unlock()
	m.rec.Add(Record{Kind: RecordFault, Master: m.cfg.ID, Type: "call_fault",
		Detail: fmt.Sprintf("%t apis=%s", f != nil, apis)})
}

// applyCallFaultFor applies an injected call fault to a request of api; it
// reports whether the call may proceed (otherwise it has answered or the
// client went away).
func (m *Master) applyCallFaultFor(api API, w http.ResponseWriter, r *http.Request) bool {
	m.mu.Lock()
	f := m.callFault
	if m.callFaultAPIs&api == 0 {
		f = nil
	}
	m.mu.Unlock()
	return applyCallFault(f, w, r, m.done)
}

// applyCallFault waits out f's delay (until the client goes away or done
// closes) and answers with f's status if it has one.
func applyCallFault(f CallFault, w http.ResponseWriter, r *http.Request, done <-chan struct{}) bool {
	if f == nil {
		return true
	}
	status, delay := f(r)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-done:
			t.Stop()
		}
	}
	if status != 0 {
		writeError(w, status, http.StatusText(status))
		return false
	}
	return true
}

// SetCallFault installs a fault on the agent's executor API (POST
// /api/v1/executor); nil removes it.
func (a *Agent) SetCallFault(f CallFault) {
	a.mu.Lock()
	a.callFault = f
	a.mu.Unlock()
	a.record(Record{Kind: RecordFault, Type: "executor_call_fault", Detail: fmt.Sprint(f != nil)})
}

func (a *Agent) applyCallFault(w http.ResponseWriter, r *http.Request) bool {
	a.mu.Lock()
	f := a.callFault
	a.mu.Unlock()
	return applyCallFault(f, w, r, nil)
}

// SetCallFaultFor installs a call fault on the APIs selected by apis: the
// scheduler and operator APIs of every live master, the executor API of
// every agent. nil clears it there. The masters and agents record it.
func (c *Cluster) SetCallFaultFor(apis API, f CallFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	masterAPIs := apis &^ APIExecutor
	for _, cm := range c.masters {
		if !cm.killed && masterAPIs != 0 {
			cm.master.SetCallFaultFor(masterAPIs, f)
		}
	}
	if apis&APIExecutor != 0 {
		for _, ca := range c.agents {
			ca.agent.SetCallFault(f)
		}
	}
}

// FailCallsFor makes the selected APIs answer every call with status after
// delay (status 0: handle them normally after delay); FailCallsFor(apis, 0,
// 0) clears the fault there.
func (c *Cluster) FailCallsFor(apis API, status int, delay time.Duration) {
	if status == 0 && delay == 0 {
		c.SetCallFaultFor(apis, nil)
		return
	}
	c.SetCallFaultFor(apis, func(*http.Request) (int, time.Duration) { return status, delay })
}
