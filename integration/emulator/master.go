package emulator

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
	"github.com/healer-mesos/healer/internal/mesosduration"
)

// Mesos defaults (mesos-protocol.md section 7).
const (
	defaultAllocationInterval     = time.Second
	defaultHeartbeatInterval      = 15 * time.Second
	defaultAgentPingTimeout       = 15 * time.Second
	defaultMaxAgentPingTimeouts   = 5
	defaultAgentReregisterTimeout = 10 * time.Minute
	defaultMaxCompletedFrameworks = 50
	defaultMaxCompletedTasks      = 1000
	defaultMasterPort             = 5050
	masterVersion                 = "1.12.0"
)

// masterCapabilityQuotaV2 is MasterInfo.Capability QUOTA_V2, which mesos-go
// v0.0.11 does not name. A real 1.12 master announces it, and a JSON-codec
// mesos-go scheduler cannot decode it (mesos-protocol.md 8.4); the emulator
// reproduces that.
const masterCapabilityQuotaV2 mesos.MasterInfo_Capability_Type = 3

// MasterConfig configures a Master. Zero values mean the Mesos defaults;
// tests shrink the intervals, never production code.
type MasterConfig struct {
	// ID is the master's ID; empty means a random UUID, as Mesos does.
	ID string
	// Hostname, IP and Port are what MasterInfo announces and what
	// redirects from standbys name. IP defaults to 127.0.0.1, Hostname to
	// IP, Port to 5050.
	Hostname string
	IP       string
	Port     int

	// AllocationInterval is --allocation_interval (default 1 s).
	AllocationInterval time.Duration
	// HeartbeatInterval is the scheduler stream heartbeat period. Mesos
	// hard-codes 15 s (the default); it is configurable only so tests are
	// fast. SUBSCRIBED announces it in heartbeat_interval_seconds.
	HeartbeatInterval time.Duration
	// OfferTimeout is --offer_timeout; zero means offers never expire.
	OfferTimeout time.Duration
	// AgentPingTimeout × MaxAgentPingTimeouts is how long an agent may miss
	// pongs before it is marked unreachable (default 15 s × 5).
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	// AgentReregisterTimeout is how long agents expected after a master
	// failover (ExpectAgents) have to re-register (default 10 min).
	AgentReregisterTimeout time.Duration
	// MaxCompletedFrameworks is --max_completed_frameworks (default 50).
	MaxCompletedFrameworks int
	// MaxOperatorEventStreamSubscribers is
	// --max_operator_event_stream_subscribers (default 1000): when an
	// operator SUBSCRIBE would exceed it, the oldest stream is closed.
	MaxOperatorEventStreamSubscribers int
	// RecoveryDelay is how long a master, once elected, takes to recover
	// the registry; until then its scheduler and operator APIs answer 503
	// Master has not finished recovery. Zero (the default) recovers at
	// once. A Cluster's first leader skips it (FinishRecovery): its
	// registry is empty, so only leaders elected after a failover wait.
	RecoveryDelay time.Duration

	// Credentials maps principals to secrets (Mesos' --credentials) for
	// HTTP Basic authentication (auth.go). AuthenticateFrameworks is
	// --authenticate_http_frameworks: the scheduler API requires
	// credentials (realm mesos-master-scheduler) and checks
	// FrameworkInfo.principal against them. AuthenticateHTTPReadwrite is
	// --authenticate_http_readwrite: the operator API requires credentials
	// (realm mesos-master-readwrite).
	Credentials               map[string]string
	AuthenticateFrameworks    bool
	AuthenticateHTTPReadwrite bool

	// Recorder receives every scheduler call, launch, kill and status
	// update; nil means a private one (see Master.Recorder).
	Recorder *Recorder
	// Registry is the replicated registry the master writes its operator
	// state through to and recovers from when it becomes leader; a Cluster
	// shares one among its masters. nil means a private one.
	Registry *Registry
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Version is MasterInfo.version (default "1.12.0").
	Version string

	// now, when set, replaces the wall clock for allocation runs, offers
	// and refusal filters: a test hook, so the emulator's tests can step
	// time past a filter's expiry and run an allocation (allocate) without
	// waiting. Only tests in this package set it.
	now func() time.Time
}

func (c *MasterConfig) setDefaults() {
	if c.ID == "" {
		c.ID = newUUIDString()
	}
	if c.IP == "" {
		c.IP = "127.0.0.1"
	}
	if c.Hostname == "" {
		c.Hostname = c.IP
	}
	if c.Port == 0 {
		c.Port = defaultMasterPort
	}
	if c.AllocationInterval <= 0 {
		c.AllocationInterval = defaultAllocationInterval
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = defaultHeartbeatInterval
	}
	if c.AgentPingTimeout <= 0 {
		c.AgentPingTimeout = defaultAgentPingTimeout
	}
	if c.MaxAgentPingTimeouts <= 0 {
		c.MaxAgentPingTimeouts = defaultMaxAgentPingTimeouts
	}
	if c.AgentReregisterTimeout <= 0 {
		c.AgentReregisterTimeout = defaultAgentReregisterTimeout
	}
	if c.MaxCompletedFrameworks <= 0 {
		c.MaxCompletedFrameworks = defaultMaxCompletedFrameworks
	}
	if c.MaxOperatorEventStreamSubscribers <= 0 {
		c.MaxOperatorEventStreamSubscribers = defaultMaxOperatorEventStreamSubscribers
	}
	if c.Recorder == nil {
		c.Recorder = &Recorder{}
	}
	if c.Registry == nil {
		c.Registry = NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Version == "" {
		c.Version = masterVersion
	}
}

// Master is an emulated Mesos master: leadership, the agent registry, the
// scheduler API, offers and framework failover. The operator API lives in
// operator.go and maintenance.go on the same type.
//
// Locking rule: every field below mu is guarded by mu. Exported methods take
// mu themselves; unexported methods whose names end in "Locked" expect it to
// be held. While holding mu the master may call AgentLink methods (they never
// block or call back) and enqueue scheduler events (subscription.send never
// blocks); it never does network I/O. Stream writes happen on the SUBSCRIBE
// handler's goroutine.
type Master struct {
	cfg      MasterConfig
	rec      *Recorder
	reg      *Registry
	log      *slog.Logger
	info     mesos.MasterInfo
	started  time.Time
	done     chan struct{}
	wg       sync.WaitGroup
	allocNow chan struct{} // wakes the allocation loop for an immediate run

	allocRuns allocRunCounters // AllocationRuns; atomic, read without mu

	mu        sync.Mutex
	closed    bool
	leading   bool
	leader    string // host:port of the known leader while standing by
	elected   time.Time
	recovered time.Time // until then, API calls get 503 Master has not finished recovery (recovery.go)
	callFault func(*http.Request) (status int, delay time.Duration)
	// callFaultAPIs are the APIs callFault applies to (call_faults.go).
	callFaultAPIs API
	msgFault      func(frameworkID, agentID, executorID string, data []byte) (drop bool, delay time.Duration)

	nextFrameworkID int
	nextOfferID     int

	// allocAll and allocCandidates are the agents the next triggered
	// allocation run visits (triggerAllocationLocked): all of them, or
	// these IDs.
	allocAll        bool
	allocCandidates map[string]bool

	agents      map[string]*agentEntry // registered agents (active, deactivated or disconnected)
	agentOrder  []*agentEntry          // registered agents in registration order (allocation order)
	unreachable map[string]*unreachableAgent
	gone        map[string]time.Time // agents marked gone; never re-admitted
	removed     map[string]time.Time // agents removed by START_MAINTENANCE; re-admitted once their machine is UP
	expected    map[string]*expectedAgent
	drainWatch  map[string]bool           // agents whose drain watch runs (watchDrainLocked)
	timers      map[*masterTimer]struct{} // pending timers (timers.go), stopped by Close

	// operatorSubs are the operator API event streams, oldest first
	// (operator_stream.go).
	operatorSubs []*operatorSubscriber

	frameworks map[string]*framework
	completed  []*framework // completed frameworks, oldest first, at most MaxCompletedFrameworks
	offers     map[string]*offer

	// InverseOffers holds maintenance inverse offers and the frameworks'
	// answers; maintenance.go creates them and reads the answers.
	InverseOffers inverseOfferBook

	// maintenance is the operator's maintenance schedule and per-agent
	// state (maintenance.go, operator.go).
	maintenance maintenanceState
}

// NewMaster creates a master. It neither leads nor knows a leader until Lead
// or Follow is called: until then every API call gets 503 No leader elected.
// Close stops it.
func NewMaster(cfg MasterConfig) *Master {
	cfg.setDefaults()
	m := &Master{
		cfg:         cfg,
		rec:         cfg.Recorder,
		reg:         cfg.Registry,
		log:         cfg.Logger,
		started:     time.Now(),
		done:        make(chan struct{}),
		allocNow:    make(chan struct{}, 1),
		agents:      make(map[string]*agentEntry),
		unreachable: make(map[string]*unreachableAgent),
		gone:        make(map[string]time.Time),
		removed:     make(map[string]time.Time),
		drainWatch:  make(map[string]bool),
		expected:    make(map[string]*expectedAgent),
		frameworks:  make(map[string]*framework),
		offers:      make(map[string]*offer),
	}
	m.InverseOffers.init()
	m.info = buildMasterInfo(cfg)
	m.wg.Add(2)
	go m.allocationLoop()
	go m.pingLoop()
	return m
}

// Close stops the master's goroutines and timers and ends every scheduler
// stream (clients see EOF). It does not touch agents.
func (m *Master) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	for _, fw := range m.frameworks {
		fw.stopFailoverTimer()
		if fw.sub != nil {
			fw.sub.close()
			fw.sub = nil
		}
	}
	for _, e := range m.expected {
		e.timer.Stop()
	}
	m.stopTimersLocked()
	m.mu.Unlock()
	close(m.done)
	m.wg.Wait()
}

// Recorder returns the recorder the master records into.
func (m *Master) Recorder() *Recorder { return m.rec }

// ID returns the master's ID.
func (m *Master) ID() string { return m.cfg.ID }

// MasterInfo returns what this master announces in SUBSCRIBED and in
// ZooKeeper.
func (m *Master) MasterInfo() mesos.MasterInfo {
	return *proto.Clone(&m.info).(*mesos.MasterInfo)
}

// StartTime is when the master was created (GET_MASTER start_time).
func (m *Master) StartTime() time.Time { return m.started }

// Lead makes this master the leader, recording the elected time, and
// recovers the Registry (maintenance, deactivated, drained, unreachable,
// gone and removed agents). Agents and frameworks are not recovered by this
// call: the cluster re-registers agents (AddAgent, after ExpectAgents) and
// frameworks resubscribe.
func (m *Master) Lead() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.leading {
		return
	}
	m.leading = true
	m.leader = ""
	m.elected = time.Now()
	m.recovered = m.elected.Add(m.cfg.RecoveryDelay)
	m.recoverLocked()
	m.rec.Add(Record{Kind: RecordLeader, Master: m.cfg.ID, Detail: net.JoinHostPort(m.cfg.Hostname, strconv.Itoa(m.cfg.Port))})
}

// Follow makes this master a standby that redirects to leaderHostPort
// (host:port); empty means no leader is known (503 No leader elected).
func (m *Master) Follow(leaderHostPort string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leading = false
	m.leader = leaderHostPort
}

// ElectedTime is when this master last became leader (zero if never).
func (m *Master) ElectedTime() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.elected
}

// SetCallFault installs a fault on scheduler API calls: for each request,
// f returns a status to answer with instead of handling the call (0: handle
// it) and a delay to wait first. nil removes the fault. SetCallFaultFor
// also covers the operator API.
func (m *Master) SetCallFault(f func(*http.Request) (status int, delay time.Duration)) {
	m.SetCallFaultFor(APIScheduler, f)
}

// CallFault returns the installed call fault, or nil.
func (m *Master) CallFault() func(*http.Request) (status int, delay time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.callFault
}

// SetFrameworkMessageFault installs a fault on executor→framework MESSAGE
// events: f may drop a message or delay its delivery. nil removes it.
func (m *Master) SetFrameworkMessageFault(f func(frameworkID, agentID, executorID string, data []byte) (drop bool, delay time.Duration)) {
	m.mu.Lock()
	m.msgFault = f
	m.mu.Unlock()
	m.rec.Add(Record{Kind: RecordFault, Master: m.cfg.ID, Type: "message_fault", Detail: strconv.FormatBool(f != nil)})
}

// Handler serves the master's v1 endpoints, each both at /<path> and at
// /master/<path> (the libprocess process prefix that redirects name).
func (m *Master) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/scheduler", m.serveScheduler)
	mux.HandleFunc("/master/api/v1/scheduler", m.serveScheduler)
	mux.HandleFunc("/api/v1", m.serveOperator)
	mux.HandleFunc("/master/api/v1", m.serveOperator)
	mux.HandleFunc("/redirect", m.serveRedirect)
	mux.HandleFunc("/redirect/", m.serveRedirect)
	mux.HandleFunc("/master/redirect", m.serveRedirect)
	mux.HandleFunc("/master/redirect/", m.serveRedirect)
	mux.HandleFunc("/health", serveHealth)
	mux.HandleFunc("/master/health", serveHealth)
	return mux
}

// serveRedirect is Mesos' /master/redirect (Master::Http::redirect, the
// REDIRECT endpoint tools use to find the leader): 307 to the leading
// master's root as a protocol-relative //host:port, from a standby and
// from the leader itself alike; 503 No leader elected when none is known;
// 404 for paths below it, which Mesos refuses to avoid a redirect loop. It
// answers any method and, like /health, needs no authentication.
func (m *Master) serveRedirect(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/redirect" && r.URL.Path != "/master/redirect" {
		http.NotFound(w, r)
		return
	}
	m.mu.Lock()
	leader := m.leader
	if m.leading {
		leader = zkgroup.LeaderHostPort(m.info)
	}
	m.mu.Unlock()
	if leader == "" {
		writeError(w, http.StatusServiceUnavailable, "No leader elected")
		return
	}
	w.Header().Del("Content-Type")
	w.Header().Set("Location", "//"+leader)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// serveHealth is Mesos' /master/health: 200 OK with an empty body from any
// running master, leading or not (Master::Http::health).
func serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// checkLeader applies mesos-protocol.md 0.2 steps 2–3: a standby redirects
// to the leader (307), a master that knows no leader answers 503, and so
// does a leader still recovering its registry. It reports whether the
// request may proceed; otherwise it has answered.
func (m *Master) checkLeader(w http.ResponseWriter, r *http.Request) bool {
	m.mu.Lock()
	leading, leader, recovered := m.leading, m.leader, m.recovered
	m.mu.Unlock()
	if leading {
		if time.Now().Before(recovered) {
			writeError(w, http.StatusServiceUnavailable, "Master has not finished recovery")
			return false
		}
		return true
	}
	if leader == "" {
		writeError(w, http.StatusServiceUnavailable, "No leader elected")
		return false
	}
	writeRedirect(w, leader, r.URL.Path)
	return false
}

// buildMasterInfo fills MasterInfo as a 1.12 master does (mesos-protocol.md
// 3.3): ip is the IPv4 address in network order read as a host integer.
func buildMasterInfo(cfg MasterConfig) mesos.MasterInfo {
	port := uint32(cfg.Port)
	pid := fmt.Sprintf("master@%s:%d", cfg.IP, cfg.Port)
	hostname, ip, version := cfg.Hostname, cfg.IP, cfg.Version
	return mesos.MasterInfo{
		ID:       cfg.ID,
		IP:       ipv4NetworkOrder(cfg.IP),
		Port:     &port,
		PID:      &pid,
		Hostname: &hostname,
		Version:  &version,
		Address:  &mesos.Address{Hostname: &hostname, IP: &ip, Port: int32(cfg.Port)},
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
			{Type: masterCapabilityQuotaV2},
		},
	}
}

// ipv4NetworkOrder returns a.b.c.d as a | b<<8 | c<<16 | d<<24 (MESOS-1201);
// 0 for a non-IPv4 address.
func ipv4NetworkOrder(s string) uint32 {
	ip := net.ParseIP(s).To4()
	if ip == nil {
		return 0
	}
	return uint32(ip[0]) | uint32(ip[1])<<8 | uint32(ip[2])<<16 | uint32(ip[3])<<24
}

// unreachableAgent is an agent marked unreachable: it may re-register.
type unreachableAgent struct {
	info mesos.AgentInfo
	at   time.Time
}

// expectedAgent is an agent a new leader expects to re-register after a
// master failover (the "recovered" agents of Mesos' registry).
type expectedAgent struct {
	info  mesos.AgentInfo
	timer *masterTimer
}

// ErrAgentGone is returned by AddAgent for an agent that was marked gone:
// Mesos never lets it register again.
var ErrAgentGone = fmt.Errorf("emulator: agent is gone")

// ExpectAgents tells a master that has just become leader which agents its
// predecessor had (the registry Mesos recovers). Until each re-registers
// (AddAgent) or AgentReregisterTimeout passes, explicit reconciliation of
// tasks on it gets no answer; after the timeout it is marked unreachable.
func (m *Master) ExpectAgents(infos []mesos.AgentInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, info := range infos {
		id := info.GetID().GetValue()
		if id == "" || m.agents[id] != nil || m.expected[id] != nil || m.unreachable[id] != nil {
			continue
		}
		if _, gone := m.gone[id]; gone {
			continue
		}
		if _, removed := m.removed[id]; removed {
			continue
		}
		e := &expectedAgent{info: info}
		e.timer = m.afterLocked(m.cfg.AgentReregisterTimeout, func() { m.reregisterTimeout(id, e) })
		m.expected[id] = e
	}
}

// reregisterTimeout marks an agent that did not re-register after a master
// failover unreachable (Master::recoveredSlavesTimeout): the master knows
// none of its tasks, so every connected framework only gets
// FAILURE{agent_id} (Master::_markUnreachable, sendSlaveLost).
func (m *Master) reregisterTimeout(id string, e *expectedAgent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.expected[id] != e {
		return
	}
	m.log.Info("agent unreachable", "agent", id, "reason",
		"did not reregister within "+mesosduration.Format(m.cfg.AgentReregisterTimeout)+" after master failover")
	delete(m.expected, id)
	m.unreachable[id] = &unreachableAgent{info: e.info, at: time.Now()}
	m.persistLocked()
	m.sendAgentLostLocked(id)
}

// AddAgent registers an agent, or re-registers one the master already
// knows (after a restart with recovery, a partition, or a master failover).
// The agent keeps its own ID (AgentLink.ID), so it survives master
// failovers. Frameworks, executors and tasks it reports (AgentLink.State)
// are recovered: frameworks unknown to the master become "recovered"
// (known, but 403 until they resubscribe).
//
// An agent that was neither registered nor expected after a failover (one
// marked unreachable, typically) is re-admitted as Master::__reregisterSlave
// does since Mesos 1.5: all its tasks are re-added, whatever the framework's
// PARTITION_AWARE capability, and each connected framework gets an UPDATE
// per task with its current state, REASON_AGENT_REREGISTERED, SOURCE_MASTER,
// no uuid, and the message "Unreachable agent re-reregistered" (or "Unknown
// agent reregistered" for an agent the master did not hold as unreachable).
//
// An agent new to the master, re-admitted or recovered is allocated at once
// (HierarchicalAllocatorProcess::addSlave); one that was registered and
// re-registers waits for the next periodic run.
func (m *Master) AddAgent(link AgentLink) error {
	st := link.State() // synchronous by contract, answered without calling the master
	id := link.ID().Value
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("emulator: add agent %s: master closed", id)
	}
	if _, gone := m.gone[id]; gone {
		link.Shutdown()
		return fmt.Errorf("emulator: add agent %s: %w", id, ErrAgentGone)
	}
	info := st.Info
	info.ID = &mesos.AgentID{Value: id}
	if m.machineDownLocked(&info) {
		// Agents on DOWN machines are refused and told to shut down.
		link.Shutdown()
		return fmt.Errorf("emulator: add agent %s: %w", id, ErrMachineDown)
	}
	now := time.Now()
	recovered := m.expected[id] != nil
	if recovered {
		m.expected[id].timer.Stop()
		delete(m.expected, id)
	}
	_, wasUnreachable := m.unreachable[id]
	_, wasRemoved := m.removed[id]
	delete(m.unreachable, id)
	delete(m.removed, id)

	a := m.agents[id]
	added := a == nil // AGENT_ADDED once set up (operator_stream.go)
	// Master::__reregisterSlave announces the tasks of an agent it did not
	// recover from the registry.
	readmitted := added && !recovered
	readmitMessage := "Unknown agent reregistered"
	if wasUnreachable {
		readmitMessage = "Unreachable agent re-reregistered"
	}
	reported := make(map[string]bool, len(st.Tasks))
	for _, t := range st.Tasks {
		reported[t.FrameworkID.Value+"/"+t.TaskID.Value] = true
	}
	if a == nil {
		a = &agentEntry{id: id, registered: now, offers: make(map[string]*offer)}
		m.agents[id] = a
		m.agentOrder = append(m.agentOrder, a)
	} else {
		a.reregistered = now
		// Tasks the master has there but the agent no longer knows are
		// gone (Mesos reconciles them with the agent on re-registration).
		for _, fw := range m.frameworks {
			for _, t := range fw.tasks {
				if t.AgentID.Value == id && !reported[fw.id+"/"+t.TaskID.Value] && !isTerminalState(t.GetState()) {
					state := mesos.TASK_LOST
					if fw.partitionAware() {
						state = mesos.TASK_DROPPED
					}
					m.sendMasterUpdateLocked(fw, t.TaskID, &t.AgentID, state, mesos.REASON_RECONCILIATION,
						"Reconciliation: task unknown to the agent", nil)
					m.finishTaskLocked(fw, t, state, mesos.REASON_RECONCILIATION, "Reconciliation: task unknown to the agent")
				}
			}
		}
	}
	a.link = link
	a.info = info
	a.ip = agentIP(&info)
	a.total = mesos.Resources{}.Plus(unallocated(info.Resources)...)
	a.hasReservations = false
	for i := range a.total {
		if !a.total[i].IsUnreserved() {
			a.hasReservations = true
		}
	}
	a.connected = true
	a.pongSeen = true
	a.missedPings = 0
	a.used = nil
	if a.registered.IsZero() {
		a.registered = now
	}

	for _, fi := range st.Frameworks {
		fid := fi.GetID().GetValue()
		if fid == "" {
			continue
		}
		if m.completedFrameworkLocked(fid) != nil {
			// Removed while the agent was away: the agent shuts it down.
			link.ShutdownFramework(mesos.FrameworkID{Value: fid})
			continue
		}
		if m.frameworks[fid] == nil {
			fw := newFramework(fid, fi)
			fw.recovered = true
			m.frameworks[fid] = fw
			m.publishFrameworkAddedLocked(fw)
		}
	}
	for _, e := range st.Executors {
		fw := m.frameworks[e.GetFrameworkID().GetValue()]
		if fw == nil {
			continue
		}
		execs := fw.executors[id]
		if execs == nil {
			execs = make(map[string]mesos.ExecutorInfo)
			fw.executors[id] = execs
		}
		execs[e.ExecutorID.Value] = e
		a.used.Add(unallocated(e.Resources)...)
	}
	for i := range st.Tasks {
		t := st.Tasks[i]
		fw := m.frameworks[t.FrameworkID.Value]
		if fw == nil {
			continue
		}
		delete(fw.unreachableTasks, t.TaskID.Value)
		task := &t
		task.AgentID = mesos.AgentID{Value: id}
		if old := fw.tasks[t.TaskID.Value]; old != nil && len(task.Statuses) == 0 {
			task.Statuses = old.Statuses
		}
		if fw.tasks[t.TaskID.Value] == nil {
			m.publishTaskAddedLocked(task)
		}
		fw.tasks[t.TaskID.Value] = task
		if !isTerminalState(task.GetState()) {
			a.used.Add(unallocated(task.Resources)...)
		}
		if readmitted {
			m.forwardLocked(fw, readmittedTaskStatus(task, readmitMessage))
		}
	}
	for _, o := range a.offers {
		m.removeOfferLocked(o, true)
	}
	a.offered = nil
	a.recompute()
	for _, k := range a.pendingKills {
		link.KillTask(mesos.FrameworkID{Value: k.frameworkID}, k.taskID, k.policy)
	}
	a.pendingKills = nil
	m.applyOperatorStateLocked(a)
	if wasUnreachable || wasRemoved {
		m.persistLocked()
	}
	if added {
		m.publishAgentAddedLocked(a)
		m.triggerAllocationLocked(id)
	}
	return nil
}

// readmittedTaskStatus is the update Master::__reregisterSlave sends for a
// task of a re-admitted agent: the task's state as the agent reports it,
// with the health, check and container status of its latest status.
func readmittedTaskStatus(t *mesos.Task, message string) mesos.TaskStatus {
	st := masterStatus(t.TaskID, &t.AgentID, t.GetState(), mesos.REASON_AGENT_REREGISTERED, message)
	st.ExecutorID = t.ExecutorID
	if n := len(t.Statuses); n > 0 {
		last := t.Statuses[n-1]
		st.Healthy = last.Healthy
		st.CheckStatus = last.CheckStatus
		st.ContainerStatus = last.ContainerStatus
	}
	return st
}

// DisconnectAgent is a fault: the agent's connection to the master broke
// (its process was killed, or the network dropped it). As in
// Master::exited(UPID) and Master::disconnect(Slave*), the agent is
// deactivated: its offers and inverse offers are rescinded and it gets no
// new ones; tasks of frameworks without checkpoint become TASK_LOST /
// REASON_AGENT_DISCONNECTED at once and their executors are forgotten; the
// rest wait for the agent to re-register (AddAgent) or, as it no longer
// answers pings, to be marked unreachable after the ping timeouts.
func (m *Master) DisconnectAgent(agentID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.agents[agentID]
	if a == nil || !a.connected {
		return
	}
	m.rec.Add(Record{Kind: RecordFault, Master: m.cfg.ID, AgentID: agentID, Type: "agent_disconnected"})
	a.connected = false
	for _, o := range a.offers {
		m.removeOfferLocked(o, true)
	}
	m.rescindAgentInverseOffersLocked(agentID)
	msg := "Agent " + a.info.Hostname + " disconnected"
	for _, fw := range sortedFrameworks(m.frameworks) {
		if fw.info.GetCheckpoint() {
			continue
		}
		// Master::removeFramework(Slave*, Framework*).
		for _, t := range fw.tasks {
			if t.AgentID.Value != agentID {
				continue
			}
			m.sendMasterUpdateLocked(fw, t.TaskID, &t.AgentID, mesos.TASK_LOST, mesos.REASON_AGENT_DISCONNECTED, msg,
				func(st *mesos.TaskStatus) { st.ExecutorID = t.ExecutorID })
			m.finishTaskLocked(fw, t, mesos.TASK_LOST, mesos.REASON_AGENT_DISCONNECTED, msg)
		}
		for _, e := range fw.executors[agentID] {
			a.releaseLocked(e.Resources)
		}
		delete(fw.executors, agentID)
	}
}

// agentHealthTimeoutMessage is why Mesos' SlaveObserver marks an agent that
// missed its pongs unreachable; its task updates carry it.
const agentHealthTimeoutMessage = "health check timed out"

// MarkAgentUnreachable marks an agent unreachable at once, as the master
// does after MaxAgentPingTimeouts missed pongs (a test can skip the wait).
func (m *Master) MarkAgentUnreachable(agentID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.agents[agentID]; a != nil {
		m.markUnreachableLocked(a, agentHealthTimeoutMessage)
	}
}

// markUnreachableLocked removes an agent as unreachable
// (Master::markUnreachable, _markUnreachable, __removeSlave): each task
// becomes TASK_UNREACHABLE for partition-aware frameworks, TASK_LOST for
// the others, both REASON_AGENT_REMOVED with the given message and
// unreachable_time; then its offers are rescinded and every connected
// framework gets FAILURE{agent_id}.
func (m *Master) markUnreachableLocked(a *agentEntry, message string) {
	now := time.Now()
	m.unreachable[a.id] = &unreachableAgent{info: a.info, at: now}
	m.removeAgentLocked(a, func(fw *framework, t *mesos.Task) {
		state := mesos.TASK_LOST
		if fw.partitionAware() {
			state = mesos.TASK_UNREACHABLE
		}
		st := masterStatus(t.TaskID, &t.AgentID, state, mesos.REASON_AGENT_REMOVED, message)
		st.ExecutorID = t.ExecutorID
		st.UnreachableTime = &mesos.TimeInfo{Nanoseconds: now.UnixNano()}
		t.State = &state
		t.StatusUpdateState = nil
		t.StatusUpdateUUID = nil
		m.publishTaskUpdatedLocked(t, st)
		appendTaskStatus(t, st)
		delete(fw.tasks, t.TaskID.Value)
		m.addUnreachableTaskLocked(fw, t)
		m.forwardLocked(fw, st)
	})
	m.persistLocked()
}

// AgentRemoval says why an agent is removed for good.
type AgentRemoval int

const (
	// AgentRemovedForMaintenance: START_MAINTENANCE; every task becomes
	// TASK_LOST / REASON_AGENT_REMOVED, partition-aware or not.
	AgentRemovedForMaintenance AgentRemoval = iota
	// AgentMarkedGone: MARK_AGENT_GONE (and DRAIN_AGENT with mark_gone);
	// TASK_GONE_BY_OPERATOR / REASON_AGENT_REMOVED_BY_OPERATOR for
	// partition-aware frameworks, TASK_LOST / REASON_AGENT_REMOVED otherwise.
	AgentMarkedGone
)

// agentGoneMessage is the message of the updates and of the shutdown an
// agent marked gone brings (Master::markGone).
const agentGoneMessage = "Agent has been marked gone"

// RemoveAgentLocked removes a registered agent: the agent is told to shut
// down, its tasks end as the removal kind says, offers are rescinded and
// every connected framework gets FAILURE{agent_id}. A gone agent can never
// register again; one removed for maintenance can once its machine is UP
// (reconciliation treats it as unknown). Call with the master's lock held;
// it reports whether the agent was registered.
func (m *Master) RemoveAgentLocked(agentID string, kind AgentRemoval) bool {
	a := m.agents[agentID]
	if a == nil {
		return false
	}
	// Master::markGone, or START_MAINTENANCE's Master::removeSlave with
	// "Operator initiated 'Machine DOWN'" (Master::_removeSlave prefixes it).
	msg := "Agent " + a.info.Hostname + " removed: Operator initiated 'Machine DOWN'"
	if kind == AgentMarkedGone {
		m.gone[agentID] = time.Now()
		msg = agentGoneMessage
	} else {
		m.removed[agentID] = time.Now()
	}
	defer m.persistLocked()
	a.link.Shutdown()
	m.removeAgentLocked(a, func(fw *framework, t *mesos.Task) {
		m.endRemovedTaskLocked(fw, t, kind == AgentMarkedGone, msg)
	})
	if kind == AgentRemovedForMaintenance {
		m.publishAgentRemovedLocked(agentID) // not for gone agents: __removeSlave sends none
	}
	return true
}

// markUnreachableAgentGoneLocked is Master::markGone for an agent the master
// holds as unreachable: each of its unreachable tasks becomes
// TASK_GONE_BY_OPERATOR / REASON_AGENT_REMOVED_BY_OPERATOR (partition-aware
// frameworks) or TASK_LOST / REASON_AGENT_REMOVED, "Agent has been marked
// gone", sent to connected frameworks, and moves to the completed tasks.
func (m *Master) markUnreachableAgentGoneLocked(agentID string) {
	for _, fw := range sortedFrameworks(m.frameworks) {
		for _, tid := range slices.Sorted(maps.Keys(fw.unreachableTasks)) {
			t := fw.unreachableTasks[tid]
			if t.AgentID.Value != agentID {
				continue
			}
			m.endRemovedTaskLocked(fw, t, true, agentGoneMessage)
		}
	}
}

// endRemovedTaskLocked ends a task of an agent removed for good:
// TASK_LOST / REASON_AGENT_REMOVED, or, when the agent was marked gone,
// TASK_GONE_BY_OPERATOR / REASON_AGENT_REMOVED_BY_OPERATOR for a
// partition-aware framework; published, completed and sent to fw.
func (m *Master) endRemovedTaskLocked(fw *framework, t *mesos.Task, gone bool, msg string) {
	state, reason := mesos.TASK_LOST, mesos.REASON_AGENT_REMOVED
	if gone && fw.partitionAware() {
		state, reason = mesos.TASK_GONE_BY_OPERATOR, mesos.REASON_AGENT_REMOVED_BY_OPERATOR
	}
	st := masterStatus(t.TaskID, &t.AgentID, state, reason, msg)
	st.ExecutorID = t.ExecutorID
	t.State = &state
	m.publishTaskUpdatedLocked(t, st)
	appendTaskStatus(t, st)
	m.completeTaskLocked(fw, t)
	m.forwardLocked(fw, st)
}

// removeAgentLocked takes an agent out of the registry in the order
// Master::__removeSlave and _removeSlave follow, which is the order a
// framework sees: each of its tasks ends with endTask (the UPDATEs), its
// executors are forgotten, its offers are rescinded (RESCIND), its inverse
// offers too, and every connected framework gets FAILURE{agent_id}. The
// allocator forgets the agent first, with its refusal and inverse-offer
// filters (removeSlave).
func (m *Master) removeAgentLocked(a *agentEntry, endTask func(*framework, *mesos.Task)) {
	delete(m.agents, a.id)
	for i, x := range m.agentOrder {
		if x == a {
			m.agentOrder = append(m.agentOrder[:i:i], m.agentOrder[i+1:]...)
			break
		}
	}
	delete(m.allocCandidates, a.id)
	for _, fw := range sortedFrameworks(m.frameworks) {
		for _, t := range fw.tasks {
			if t.AgentID.Value == a.id {
				endTask(fw, t)
			}
		}
		delete(fw.executors, a.id)
		delete(fw.filters, a.id)
	}
	for _, o := range a.offers {
		m.removeOfferLocked(o, true)
	}
	m.rescindAgentInverseOffersLocked(a.id)
	m.InverseOffers.resetAgentLocked(a.id)
	m.sendAgentLostLocked(a.id)
}

// sendAgentLostLocked sends FAILURE{agent_id} to every connected framework
// (Master::sendSlaveLost).
func (m *Master) sendAgentLostLocked(agentID string) {
	aid := mesos.AgentID{Value: agentID}
	for _, fw := range sortedFrameworks(m.frameworks) {
		fw.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &aid}})
	}
}

// pingLoop pings every registered agent each AgentPingTimeout; an agent
// that misses MaxAgentPingTimeouts pongs in a row is marked unreachable.
func (m *Master) pingLoop() {
	defer m.wg.Done()
	m.every(m.cfg.AgentPingTimeout, nil, func(bool) bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		var lost []*agentEntry
		for _, a := range m.agentOrder {
			if a.pongSeen {
				a.missedPings = 0
			} else {
				a.missedPings++
			}
			if a.missedPings >= m.cfg.MaxAgentPingTimeouts {
				lost = append(lost, a)
				continue
			}
			a.pongSeen = false
			a.link.Ping()
		}
		if m.leading {
			for _, a := range lost {
				m.log.Info("agent unreachable", "agent", a.id, "reason", agentHealthTimeoutMessage)
				m.markUnreachableLocked(a, agentHealthTimeoutMessage)
			}
		}
		return false
	})
}
