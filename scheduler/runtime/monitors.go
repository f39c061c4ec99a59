package runtime

import (
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// SourceMonitor is the source of signals from healer's own monitors.
const SourceMonitor = "monitor"

// monitorBackoff bounds how often a monitor that keeps failing on an agent
// is launched again; monitorBackoffMax caps it.
const (
	monitorBackoff    = 10 * time.Second
	monitorBackoffMax = 10 * time.Minute
)

// monitorState keeps one monitor task on every registered agent, when a
// monitor configuration is set. It is rebuilt every term from
// reconciliation: monitors are not in ZooKeeper (they are cheap to
// relaunch, and a healthy report must cost no write).
type monitorState struct {
	cfg *healerpb.MonitorConfig
	// byAgent is the monitor task healer counts on per agent.
	byAgent map[string]*monitor
	// want are the agents that need one, with when to try next.
	want map[string]*monitorWant
	// health remembers each agent's monitor failures, for the backoff
	// and for GET /agents/{id}.
	health map[string]*monitorWant
	// ready counts wants due now (recomputed on ticks and changes).
	ready int
	// lastReport is the time of the newest report taken from each agent
	// without a monitor here (one that ended, or one reconciliation has
	// not yet adopted); an agent's monitor keeps its own.
	lastReport map[string]int64
	seq        uint64
}

// monitor is an agent's monitor task: healer.monitor.<agent>.<seq>. It is
// not in term.tasks (one entry and id string per agent for nothing, at
// 35,000 agents): the agent and seq name it.
type monitor struct {
	seq     uint64
	running bool
	// lastReport is the time of the newest report taken from the agent.
	lastReport int64
	// executor is the ExecutorInfo of the executor it runs in, when this
	// term launched it (see term.setExecutor).
	executor *mesos.ExecutorInfo
}

// taskIDs lists the monitor tasks healer counts on, with their agents.
func (m *monitorState) taskIDs(out map[string]string) {
	for agent, mon := range m.byAgent {
		out[taskspec.MonitorTaskID(agent, mon.seq)] = agent
	}
}

// track makes mon agent's monitor, taking over what is known of the
// agent's reports.
func (m *monitorState) track(agent string, mon *monitor) {
	if at, ok := m.lastReport[agent]; ok {
		mon.lastReport = at
		delete(m.lastReport, agent)
	}
	m.byAgent[agent] = mon
}

// untrack forgets agent's monitor, keeping what is known of its reports.
func (m *monitorState) untrack(agent string) {
	if mon := m.byAgent[agent]; mon != nil {
		if mon.lastReport != 0 {
			m.lastReport[agent] = mon.lastReport
		}
		delete(m.byAgent, agent)
	}
}

type monitorWant struct {
	next     time.Time
	failures int
	// lastError says why the last monitor on the agent ended.
	lastError string
}

// MonitorInfo is what GET /agents/{id} shows of an agent's monitor.
type MonitorInfo struct {
	State     string `json:"state"` // running, launching, waiting, failing, off
	Failures  int    `json:"failures,omitempty"`
	LastError string `json:"last_error,omitempty"`
}

func (m *monitorState) init(cfg *healerpb.MonitorConfig, agents []string, now time.Time) {
	m.cfg = cfg
	m.byAgent = make(map[string]*monitor)
	m.want = make(map[string]*monitorWant)
	m.health = make(map[string]*monitorWant)
	m.lastReport = make(map[string]int64)
	if cfg == nil {
		return
	}
	for _, a := range agents {
		m.want[a] = &monitorWant{next: now}
	}
	m.ready = len(m.want)
}

func (m *monitorState) agentAdded(agent string, now time.Time) {
	if m.cfg == nil || m.byAgent[agent] != nil || m.want[agent] != nil {
		return
	}
	m.want[agent] = &monitorWant{next: now}
	m.ready++
}

func (m *monitorState) agentRemoved(agent string) {
	delete(m.byAgent, agent)
	delete(m.want, agent)
	delete(m.health, agent)
	delete(m.lastReport, agent)
}

func (m *monitorState) needOffers(*term) bool { return m.ready > 0 }

func (m *monitorState) liveOn(agent string) bool { return m.byAgent[agent] != nil }

// due reports whether agent needs a monitor now (its backoff, if any,
// has passed).
func (m *monitorState) due(t *term, agent string) bool {
	w := m.want[agent]
	return m.cfg != nil && w != nil && !w.next.After(t.now())
}

// wants reports whether agent needs a monitor.
func (m *monitorState) wants(agent string) bool { return m.want[agent] != nil }

func (m *monitorState) tick(_ *term, now time.Time) {
	n := 0
	for _, w := range m.want {
		if !w.next.After(now) {
			n++
		}
	}
	m.ready = n
}

// place puts a monitor task on the offer's agent (agent: the inventory's
// copy of its id) if it needs one.
func (m *monitorState) place(t *term, agent string, o *mesos.Offer, pool *mesos.Resources, ex mesos.ExecutorInfo) (mesos.TaskInfo, bool) {
	w := m.want[agent]
	if m.cfg == nil || w == nil || w.next.After(t.now()) {
		return mesos.TaskInfo{}, false
	}
	res, ok := takeScalars(pool, t.cfg.TaskCPUs, t.cfg.TaskMemMB)
	if !ok {
		return mesos.TaskInfo{}, false
	}
	m.seq++
	ti, err := taskspec.MonitorTaskInfo(ex, o.AgentID, m.seq, m.cfg, res)
	if err != nil {
		t.log.Error("cannot build a monitor task", "agent", agent, "err", err)
		return mesos.TaskInfo{}, false
	}
	delete(m.want, agent)
	if len(m.want) == 0 {
		// A map keeps its buckets when emptied: let those of the first
		// placement of every agent's monitor go.
		m.want = make(map[string]*monitorWant)
	}
	m.ready--
	m.track(agent, &monitor{seq: m.seq})
	m.health[agent] = w
	return ti, true
}

func (m *monitorState) retry(t *term, agent, why string) {
	w := m.health[agent]
	if w == nil {
		w = &monitorWant{}
		m.health[agent] = w
	}
	w.failures++
	w.lastError = why
	d := monitorBackoff << min(w.failures-1, 10)
	w.next = t.now().Add(min(d, monitorBackoffMax))
	if t.agents.isKnown(agent) {
		m.want[agent] = w
	}
}

func (m *monitorState) launchFailed(t *term, agent string) {
	if mon := m.byAgent[agent]; mon != nil && !mon.running {
		m.untrack(agent)
		m.retry(t, agent, "launch failed")
	}
}

// onUpdate tracks a monitor task: adopts one found by reconciliation,
// kills duplicates, and relaunches one that ended.
func (m *monitorState) onUpdate(t *term, ref taskspec.TaskRef, st mesos.TaskStatus) {
	id := st.TaskID.Value
	agent := t.agents.canonical(ref.Agent)
	cur := m.byAgent[agent]
	// A monitor is known by its agent and seq; an id healer would not have
	// written for them (another form of the number) is no monitor of ours.
	ours := taskspec.MonitorTaskID(agent, ref.Seq) == id
	if !terminal(st.GetState()) {
		switch {
		case m.cfg == nil || !ours || cur != nil && cur.seq != ref.Seq:
			t.log.Info("killing a surplus monitor task", "task", id)
			t.killTask(id, agent)
			return
		case cur == nil:
			if w := m.want[agent]; w != nil {
				delete(m.want, agent)
				if !w.next.After(t.now()) {
					m.ready--
				}
			}
			cur = &monitor{seq: ref.Seq}
			m.track(agent, cur)
		}
		if st.GetState() == mesos.TASK_RUNNING && !cur.running {
			cur.running = true
			if w := m.health[agent]; w != nil {
				w.failures = 0
				if w.lastError == "" {
					// Nothing to remember of a monitor that never failed
					// (at 35,000 agents, a map entry each for nothing).
					delete(m.health, agent)
				}
			}
		}
		return
	}
	if cur == nil || !ours || cur.seq != ref.Seq {
		return
	}
	m.untrack(agent)
	why := st.GetState().String()
	if msg := st.GetMessage(); msg != "" {
		why += ": " + msg
	}
	t.log.Warn("monitor task ended; relaunching with backoff", "agent", agent, "task", id, "why", why)
	m.retry(t, agent, why)
}

// onMessage turns a monitor's report into signals. The agent is the one
// Mesos says sent the message, never one the payload names: a monitor
// speaks for its own agent only.
func (m *monitorState) onMessage(t *term, agent string, data []byte) {
	rep, err := taskspec.DecodeMonitorReport(data)
	if err != nil {
		t.log.Warn("ignoring a malformed framework message", "agent", agent, "err", err)
		t.cfg.Metrics.reportsMalformed.Inc()
		return
	}
	t.cfg.Metrics.reports.Inc()
	// Framework messages may arrive late and out of order: a report older
	// than one already taken says nothing new (a violation it lists may
	// have recovered since).
	if at := rep.AtUnixNano; at != 0 {
		if mon := m.byAgent[agent]; mon != nil {
			if at <= mon.lastReport {
				return
			}
			mon.lastReport = at
		} else {
			if at <= m.lastReport[agent] {
				return
			}
			m.lastReport[agent] = at
		}
	}
	for _, v := range rep.Recovered {
		t.log.Info("monitor: check back in range", "agent", agent, "check", v.Check, "problem", v.Problem)
	}
	now := t.now()
	if stale := m.staleReport(t, agent, rep.AtUnixNano); stale != "" {
		t.log.Info("monitor: ignoring a report older than the agent's last repair", "agent", agent, "why", stale)
		return
	}
	for _, v := range rep.Violations {
		rd, err := t.step(coordinator.Signal{At: now, Agent: agent, Problem: v.Problem, Source: SourceMonitor,
			Message: v.Check + ": " + v.Message})
		t.countSignal(SourceMonitor, v.Problem, rd, err)
	}
}

// staleReport says why a report taken at at (Unix ns; 0: unknown) must not
// count, or "": a violation measured before the agent's last step
// succeeded says nothing about whether the repair held, and delivered
// during probation it would be taken as a relapse. (The time is the
// agent's clock; a report dropped for clock skew is repeated the next
// interval while the problem lasts.)
func (m *monitorState) staleReport(t *term, agent string, at int64) string {
	if at == 0 {
		return ""
	}
	rec, ok := t.coord.Agent(coordinator.AgentID(agent))
	if !ok || rec.State != coordinator.StateProbation {
		return ""
	}
	began := rec.Incident.ProbationEnds.Add(-t.cfg.Policy.Probation)
	if time.Unix(0, at).Before(began) {
		return "measured at " + time.Unix(0, at).UTC().Format(time.RFC3339Nano) + ", before probation began at " +
			began.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// info says how an agent's monitor is doing.
func (m *monitorState) info(t *term, agent string) MonitorInfo {
	if m.cfg == nil {
		return MonitorInfo{State: "off"}
	}
	w := m.health[agent]
	info := MonitorInfo{State: "waiting"}
	if w != nil {
		info.Failures, info.LastError = w.failures, w.lastError
	}
	if mon := m.byAgent[agent]; mon != nil {
		info.State = "launching"
		if mon.running {
			info.State = "running"
		}
	} else if w != nil && w.failures > 0 {
		info.State = "failing"
	}
	return info
}
