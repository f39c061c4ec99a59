package emulator

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/healer-mesos/healer/internal/mesosduration"
)

// Mesos' agent defaults (src/slave/constants.hpp, src/slave/flags.cpp).
const (
	defaultExecutorRegistrationTimeout   = time.Minute
	defaultExecutorReregistrationTimeout = 2 * time.Second
	defaultExecutorShutdownGracePeriod   = 5 * time.Second
	defaultRecoveryTimeout               = 15 * time.Minute
	defaultStatusUpdateRetryMin          = 10 * time.Second
	defaultStatusUpdateRetryMax          = 10 * time.Minute
	defaultExecutorHeartbeatInterval     = 30 * time.Minute
	// defaultCommandKillGracePeriod is the built-in command executor's
	// SIGTERM→SIGKILL escalation when the task has no kill policy.
	defaultCommandKillGracePeriod = 3 * time.Second
	// defaultRegistrationBackoffFactor is DEFAULT_REGISTRATION_BACKOFF_FACTOR.
	defaultRegistrationBackoffFactor = time.Second
	defaultAgentPort                 = 5051
)

// AgentConfig configures an emulated agent. Zero values take Mesos' defaults;
// tests shrink the durations.
type AgentConfig struct {
	// ID is the agent ID; default "<random-uuid>-S<n>" like a master-assigned one.
	ID mesos.AgentID
	// Hostname reported in AgentInfo; default the host of the listen address.
	Hostname string
	// Listen is the address of the agent's own HTTP endpoint
	// (POST /api/v1/executor); default "127.0.0.1:0".
	Listen string
	// NoHTTP skips the HTTP endpoint: for scale tests whose agents host
	// only fake executors. AgentInfo then reports port 5051.
	NoHTTP bool
	// Resources offered by the agent; default cpus 4, mem 8192, disk 10240,
	// ports [31000-32000].
	Resources []mesos.Resource
	// Attributes of the agent.
	Attributes []mesos.Attribute
	// Domain is the agent's fault domain (region and zone), if any.
	Domain *mesos.DomainInfo
	// WorkDir is the sandbox root (--work_dir); default a temporary
	// directory the agent owns and removes on Close.
	WorkDir string

	ExecutorRegistrationTimeout   time.Duration // --executor_registration_timeout, 1 min
	ExecutorReregistrationTimeout time.Duration // --executor_reregistration_timeout, 2 s
	ExecutorShutdownGracePeriod   time.Duration // --executor_shutdown_grace_period, 5 s
	RecoveryTimeout               time.Duration // --recovery_timeout, 15 min
	StatusUpdateRetryMin          time.Duration // STATUS_UPDATE_RETRY_INTERVAL_MIN, 10 s
	StatusUpdateRetryMax          time.Duration // STATUS_UPDATE_RETRY_INTERVAL_MAX, 10 min
	ExecutorHeartbeatInterval     time.Duration // DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL, 30 min
	CommandKillGracePeriod        time.Duration // command executor SIGTERM→SIGKILL, 3 s
	// RegistrationBackoffFactor is --registration_backoff_factor (default
	// 1 s): an agent that detects a new leading master waits a random time
	// in [0, factor] before it re-registers (Slave::detected), so after a
	// master failover a Cluster's agents come back spread over it.
	RegistrationBackoffFactor time.Duration
	// RecoveryDelay is how long a restarted agent spends recovering its
	// checkpointed state before it runs again; meanwhile its executor API
	// answers 503 "Agent has not finished recovery". Default 0: Restart
	// recovers at once.
	RecoveryDelay time.Duration

	// FakeExecutors, when set, replaces every executor (custom or command)
	// with an in-process scripted one: no process, no HTTP. See
	// fake_executor.go.
	FakeExecutors FakeExecutorFactory

	// Recorder gets the agent's faults (Kill, Restart); launches and kills
	// are recorded by the master that asks for them.
	Recorder *Recorder
	Logger   *slog.Logger
}

var agentCounter atomic.Int64

func (c *AgentConfig) setDefaults() {
	if c.ID.Value == "" {
		c.ID.Value = fmt.Sprintf("%s-S%d", newUUIDString(), agentCounter.Add(1)-1)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Resources == nil {
		c.Resources = DefaultAgentResources()
	}
	durations := []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&c.ExecutorRegistrationTimeout, defaultExecutorRegistrationTimeout},
		{&c.ExecutorReregistrationTimeout, defaultExecutorReregistrationTimeout},
		{&c.ExecutorShutdownGracePeriod, defaultExecutorShutdownGracePeriod},
		{&c.RecoveryTimeout, defaultRecoveryTimeout},
		{&c.StatusUpdateRetryMin, defaultStatusUpdateRetryMin},
		{&c.StatusUpdateRetryMax, defaultStatusUpdateRetryMax},
		{&c.ExecutorHeartbeatInterval, defaultExecutorHeartbeatInterval},
		{&c.CommandKillGracePeriod, defaultCommandKillGracePeriod},
		{&c.RegistrationBackoffFactor, defaultRegistrationBackoffFactor},
	}
	for _, x := range durations {
		if *x.d <= 0 {
			*x.d = x.def
		}
	}
	if c.Recorder == nil {
		c.Recorder = &Recorder{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// DefaultAgentResources are an emulated agent's resources when none are
// configured: a modest realistic machine.
func DefaultAgentResources() []mesos.Resource {
	scalar := func(name string, v float64) mesos.Resource {
		return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
	}
	return []mesos.Resource{
		scalar("cpus", 4),
		scalar("mem", 8192),
		scalar("disk", 10240),
		{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{
			Range: []mesos.Value_Range{{Begin: 31000, End: 32000}}}},
	}
}

// Agent is an emulated Mesos agent. It implements AgentLink; every AgentLink
// method only queues work on the agent's mailbox and returns.
//
// Locking: a.mu guards all state. Nothing is sent (to the master, to an
// executor stream, to a fake executor) while it is held: such effects are
// posted to the mailbox, a FIFO run by one goroutine at a time, which keeps
// them in the order the state changed.
type Agent struct {
	cfg        AgentConfig
	log        *slog.Logger
	ownWorkDir bool

	wg  sync.WaitGroup // every goroutine the agent starts
	box mailbox

	mu         sync.Mutex
	info       mesos.AgentInfo
	endpoint   string // ip:port of the HTTP endpoint
	master     MasterLink
	up         bool          // the agent process runs: answers pings, serves HTTP, takes messages
	recovering bool          // restarted, recovering: serves HTTP (503 to executors), not up yet
	quit       chan struct{} // closed by Close: ends a recovery wait
	run        int           // counts agent runs: a message sent to one run is lost if it restarts
	started    bool
	removed    bool // told to shut down by the master (Shutdown)
	closed     bool
	server     *http.Server
	listener   net.Listener // the server's, closed with it
	draining   *drainConfig
	callFault  CallFault // on the executor API (call_faults.go)
	frameworks map[string]*agentFramework
	updates    map[taskKey]*updateStream
}

type drainConfig struct {
	maxGrace *time.Duration
	markGone bool
}

// agentFramework is a framework with executors on this agent.
type agentFramework struct {
	info        mesos.FrameworkInfo
	executors   map[string]*agentExecutor
	terminating bool // being removed: its tasks end without status updates
}

func (f *agentFramework) id() mesos.FrameworkID { return *f.info.ID }

func (f *agentFramework) hasCapability(c mesos.FrameworkInfo_Capability_Type) bool {
	for _, x := range f.info.Capabilities {
		if x.Type == c {
			return true
		}
	}
	return false
}

func (f *agentFramework) partitionAware() bool {
	return f.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
}

// executorKind says what runs an executor.
type executorKind int

const (
	kindProcess executorKind = iota // a custom executor: a real process speaking the executor API
	kindCommand                     // the built-in command executor, run inside the agent
	kindFake                        // an in-process scripted executor
)

type executorState int

const (
	execRegistering executorState = iota // launched (or recovered), not yet subscribed
	execRunning                          // subscribed
	execTerminating                      // SHUTDOWN sent or being destroyed
	execTerminated                       // gone; kept until its tasks' updates are acknowledged
)

// agentExecutor is one executor run (one container) on the agent.
type agentExecutor struct {
	fw           *agentFramework
	info         mesos.ExecutorInfo
	kind         executorKind
	containerID  string
	sandbox      string
	state        executorState
	tasks        map[string]*agentTask // every task not yet removed, by ID
	queued       []queuedLaunch        // waiting for the executor to subscribe
	everLaunched bool                  // some task was delivered to it
	commandTask  bool                  // generated by the agent for a command task

	stream    *eventStream // process executors: the subscription
	heartbeat *time.Timer
	regTimer  *time.Timer // registration or reregistration timeout
	killTimer *time.Timer // shutdown grace

	proc     *os.Process // process executors: the process (group leader)
	pgid     int         // its process group, killed whole on destroy
	alive    bool        // the process (or fake/command executor) exists
	noUpdate bool        // framework removal: end silently
	// termination overrides the state and reason of the updates sent for
	// live tasks when the executor ends (registration timeout, launch failure...).
	termination *executorTermination

	fake *fakeExecutor
	cmd  *commandTask
}

type executorTermination struct {
	state   mesos.TaskState
	reason  mesos.TaskStatus_Reason
	message string
}

type queuedLaunch struct {
	task  *mesos.TaskInfo
	group *mesos.TaskGroupInfo
}

// agentTask is a task the agent knows, until its terminal update is acknowledged.
type agentTask struct {
	info     mesos.TaskInfo
	exec     *agentExecutor
	state    mesos.TaskState // newest state received
	launched bool            // delivered to the executor
	statuses []mesos.TaskStatus
}

func (t *agentTask) terminal() bool { return isTerminalState(t.state) }

// isTerminalState is Mesos' protobuf::isTerminalState.
func isTerminalState(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// NewAgent creates an agent; Start brings it up.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	cfg.setDefaults()
	a := &Agent{cfg: cfg, log: cfg.Logger.With("agent", cfg.ID.Value), quit: make(chan struct{})}
	a.box.wg = &a.wg
	if a.cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "mesos-agent-")
		if err != nil {
			return nil, fmt.Errorf("emulator: agent work dir: %w", err)
		}
		a.cfg.WorkDir, a.ownWorkDir = dir, true
	}
	id := cfg.ID
	a.info = mesos.AgentInfo{
		Hostname:   cfg.Hostname,
		ID:         &id,
		Resources:  cfg.Resources,
		Attributes: cfg.Attributes,
		Domain:     cfg.Domain,
	}
	return a, nil
}

// Start brings the agent up: it listens on its endpoint and starts
// answering the master.
func (a *Agent) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("emulator: agent already started")
	}
	if err := a.listenLocked(a.cfg.Listen); err != nil {
		return err
	}
	a.started, a.up = true, true
	return nil
}

// listenLocked opens the HTTP endpoint and fixes AgentInfo's hostname and port.
func (a *Agent) listenLocked(addr string) error {
	if a.cfg.NoHTTP {
		if a.info.Hostname == "" {
			a.info.Hostname = "localhost"
		}
		port := int32(defaultAgentPort)
		a.info.Port = &port
		a.endpoint = net.JoinHostPort(a.info.Hostname, strconv.Itoa(defaultAgentPort))
		return nil
	}
	ln, err := listenStable(addr)
	if err != nil {
		return fmt.Errorf("emulator: agent %s listen: %w", a.cfg.ID.Value, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	a.endpoint = tcp.String()
	port := int32(tcp.Port)
	a.info.Port = &port
	if a.info.Hostname == "" {
		a.info.Hostname = tcp.IP.String()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", a.serveExecutor)
	mux.HandleFunc("/slave(1)/api/v1/executor", a.serveExecutor)
	srv := &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	a.server, a.listener = srv, ln
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		srv.Serve(ln) // returns on Close
	}()
	return nil
}

// Endpoint is the agent's ip:port (MESOS_AGENT_ENDPOINT).
func (a *Agent) Endpoint() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.endpoint
}

// endpointIPLocked is the IP the agent is bound to, the host of its
// endpoint (LIBPROCESS_IP of a Mesos agent run with --ip).
func (a *Agent) endpointIPLocked() string {
	host, _, err := net.SplitHostPort(a.endpoint)
	if err != nil {
		return a.endpoint
	}
	return host
}

// WorkDir is the agent's sandbox root.
func (a *Agent) WorkDir() string { return a.cfg.WorkDir }

// Info returns the agent's AgentInfo.
func (a *Agent) Info() mesos.AgentInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.info
}

// ID implements AgentLink.
func (a *Agent) ID() mesos.AgentID { return a.cfg.ID }

// SetMaster sets the master the agent sends to; the cluster calls it on
// (re)registration and on leader change. Unacknowledged status updates are
// re-sent to the new master at once, as Mesos' agent flushes its status
// update streams after re-registering. nil disconnects the agent.
func (a *Agent) SetMaster(m MasterLink) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.master = m
	if m != nil && a.up {
		a.resendUpdatesLocked()
	}
}

// Close stops the agent for good: it destroys every executor (killing
// process groups), closes its endpoint and waits for all its goroutines.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed, a.up, a.recovering = true, false, false
	close(a.quit)
	srv := a.stopRunLocked(true)
	a.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	a.box.close()
	a.wg.Wait()
	if a.ownWorkDir {
		os.RemoveAll(a.cfg.WorkDir)
	}
	return nil
}

// stopRunLocked ends the current agent run: executor streams and timers go,
// and with killExecutors every executor dies (silently: there is no agent
// left to report it). It returns the HTTP server for the caller to close
// outside the lock.
func (a *Agent) stopRunLocked(killExecutors bool) *http.Server {
	for _, f := range a.frameworks {
		for _, e := range f.executors {
			e.closeStream()
			stopTimer(&e.heartbeat)
			stopTimer(&e.regTimer)
			stopTimer(&e.killTimer)
			if killExecutors {
				e.killLocked()
			}
		}
	}
	for _, s := range a.updates {
		stopTimer(&s.timer)
	}
	srv := a.server
	a.server = nil
	if ln := a.listener; ln != nil {
		// Closed here, not only by srv.Close: a server whose Serve has not
		// started yet would keep the port bound, failing a quick Restart.
		a.listener = nil
		ln.Close()
	}
	return srv
}

// killLocked kills whatever runs the executor, silently (the agent process
// is gone or forgets the executor).
func (e *agentExecutor) killLocked() {
	e.destroyProcess()
	if e.cmd != nil {
		e.cmd.destroy()
	}
	if e.fake != nil {
		e.fake.stopTimersLocked()
	}
	e.alive = false
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}

// Kill emulates the agent's host dying: the agent process and every
// executor die, pings go unanswered and messages are lost. State of
// checkpointing frameworks survives for Restart.
func (a *Agent) Kill() {
	a.mu.Lock()
	if !a.up && !a.recovering {
		a.mu.Unlock()
		return
	}
	a.up, a.recovering = false, false
	srv := a.stopRunLocked(true)
	a.mu.Unlock()
	a.record(Record{Kind: RecordFault, Type: "agent_kill"})
	if srv != nil {
		srv.Close()
	}
}

// Restart emulates a new run of the agent process with the same ID on the
// same endpoint, recovering checkpointed state. If the agent is up, its
// process crashes first, leaving executor processes running. Executors of
// checkpointing frameworks get ExecutorReregistrationTimeout to re-subscribe
// (process executors do so themselves; command and fake executors, which run
// inside the agent, reattach at once if they survived); the rest end with
// TASK_GONE (TASK_LOST unless partition-aware) and
// REASON_EXECUTOR_REREGISTRATION_TIMEOUT. Non-checkpointing frameworks are
// forgotten and their executors destroyed. The caller re-registers the agent
// with the master (which reads State) and calls SetMaster.
func (a *Agent) Restart() error {
	a.mu.Lock()
	if a.closed || a.removed {
		a.mu.Unlock()
		return errors.New("emulator: agent closed")
	}
	var oldSrv *http.Server
	if a.up || a.recovering {
		a.up, a.recovering = false, false
		oldSrv = a.stopRunLocked(false)
	}
	a.mu.Unlock()
	if oldSrv != nil {
		oldSrv.Close()
	}
	a.record(Record{Kind: RecordFault, Type: "agent_restart"})

	if err := a.relisten(); err != nil {
		return err
	}
	a.run++
	run := a.run
	a.master = nil
	a.draining = nil
	a.recovering = true
	a.mu.Unlock()

	// Recovery: the endpoint is up but executors are told to come back later.
	if d := a.cfg.RecoveryDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-a.quit:
			t.Stop()
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || !a.recovering || a.run != run {
		return errors.New("emulator: agent stopped while recovering")
	}
	a.recovering, a.up = false, true
	for fid, f := range a.frameworks {
		if !f.info.GetCheckpoint() {
			for _, e := range f.executors {
				e.killLocked()
			}
			for k, s := range a.updates {
				if k.framework == fid {
					stopTimer(&s.timer)
					delete(a.updates, k)
				}
			}
			delete(a.frameworks, fid)
			continue
		}
		for _, e := range f.executors {
			a.recoverExecutorLocked(e)
		}
	}
	for _, s := range a.updates {
		if len(s.pending) > 0 {
			a.armRetryLocked(s)
		}
	}
	return nil
}

// relisten reopens the agent's endpoint on its old address for Restart and
// returns with a.mu held on success. The port can stay busy for a moment
// after the old server closed (its connections are still being torn down),
// so EADDRINUSE is retried for a while, as a restarting agent would.
func (a *Agent) relisten() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		a.mu.Lock()
		if a.closed {
			a.mu.Unlock()
			return errors.New("emulator: agent closed")
		}
		addr := a.endpoint
		if addr == "" || a.cfg.NoHTTP {
			addr = a.cfg.Listen
		}
		err := a.listenLocked(addr)
		if err == nil {
			return nil
		}
		a.mu.Unlock()
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-a.quit:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// recoverExecutorLocked re-attaches an executor after an agent restart.
func (a *Agent) recoverExecutorLocked(e *agentExecutor) {
	switch e.state {
	case execTerminated:
		return
	case execTerminating:
		// Mesos re-issues the shutdown of an executor it was shutting down.
		a.destroyExecutorLocked(e)
		return
	}
	if e.alive && e.kind != kindProcess {
		return // runs inside the agent: nothing to reconnect
	}
	state := mesos.TASK_LOST
	if e.fw.partitionAware() {
		state = mesos.TASK_GONE
	}
	a.awaitRegistrationLocked(e, a.cfg.ExecutorReregistrationTimeout, state,
		mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT, "reregister")
}

// awaitRegistrationLocked puts e in execRegistering and destroys it, its
// live tasks ending in state with reason, unless it (re)subscribes within
// timeout. verb ("register" or "reregister") goes into Mesos' message.
func (a *Agent) awaitRegistrationLocked(e *agentExecutor, timeout time.Duration, state mesos.TaskState, reason mesos.TaskStatus_Reason, verb string) {
	e.state = execRegistering
	e.regTimer = a.afterFunc(timeout, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if e.state != execRegistering || !a.up {
			return
		}
		e.termination = &executorTermination{
			state:   state,
			reason:  reason,
			message: "Executor did not " + verb + " within " + mesosduration.Format(timeout),
		}
		a.destroyExecutorLocked(e)
	})
}

// State implements AgentLink: what the agent reports when it (re)registers.
func (a *Agent) State() AgentState {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AgentState{Info: a.info}
	for _, f := range a.frameworks {
		if f.terminating {
			continue
		}
		st.Frameworks = append(st.Frameworks, f.info)
		for _, e := range f.executors {
			// Slave::doReliableRegistration reports neither executors it
			// generated for command tasks (the master does not know
			// them) nor terminated ones.
			if !e.commandTask && e.state != execTerminated {
				st.Executors = append(st.Executors, e.info)
			}
			for _, t := range e.tasks {
				st.Tasks = append(st.Tasks, a.taskRecordLocked(t))
			}
		}
	}
	return st
}

// taskRecordLocked builds the mesos.Task the agent reports for a task.
func (a *Agent) taskRecordLocked(t *agentTask) mesos.Task {
	state := t.state
	fid := t.exec.fw.id()
	task := mesos.Task{
		Name:        t.info.Name,
		TaskID:      t.info.TaskID,
		FrameworkID: fid,
		AgentID:     a.cfg.ID,
		State:       &state,
		Resources:   t.info.Resources,
		Statuses:    append([]mesos.TaskStatus(nil), t.statuses...),
		Labels:      t.info.Labels,
		Discovery:   t.info.Discovery,
		Container:   t.info.Container,
		HealthCheck: t.info.HealthCheck,
		KillPolicy:  t.info.KillPolicy,
	}
	if !t.exec.commandTask {
		// protobuf::createTask sets executor_id only for a task that
		// names its executor.
		eid := t.exec.info.ExecutorID
		task.ExecutorID = &eid
	}
	if s := a.updates[taskKey{fid.Value, t.info.TaskID.Value}]; s != nil && len(s.pending) > 0 {
		head := s.pending[0]
		task.StatusUpdateState = head.State
		task.StatusUpdateUUID = head.UUID
	}
	return task
}

// ---- AgentLink: master → agent messages ----

// RunTask implements AgentLink.
func (a *Agent) RunTask(framework mesos.FrameworkInfo, task mesos.TaskInfo) {
	a.handle(func() {
		var ei mesos.ExecutorInfo
		if task.Executor != nil {
			ei = *task.Executor
		} else {
			ei = commandExecutorInfo(framework, task)
		}
		a.launchLocked(framework, ei, []mesos.TaskInfo{task}, nil)
	})
}

// RunTaskGroup implements AgentLink.
func (a *Agent) RunTaskGroup(framework mesos.FrameworkInfo, ei mesos.ExecutorInfo, group mesos.TaskGroupInfo) {
	a.handle(func() {
		a.launchLocked(framework, ei, group.Tasks, &group)
	})
}

// KillTask implements AgentLink.
func (a *Agent) KillTask(frameworkID mesos.FrameworkID, taskID mesos.TaskID, killPolicy *mesos.KillPolicy) {
	a.handle(func() {
		f := a.frameworks[frameworkID.Value]
		if f == nil {
			return
		}
		for _, e := range f.executors {
			if t := e.tasks[taskID.Value]; t != nil {
				a.killTaskLocked(t, killPolicy)
				return
			}
		}
	})
}

// ShutdownExecutor implements AgentLink.
func (a *Agent) ShutdownExecutor(frameworkID mesos.FrameworkID, executorID mesos.ExecutorID) {
	a.handle(func() {
		if f := a.frameworks[frameworkID.Value]; f != nil {
			if e := f.executors[executorID.Value]; e != nil {
				a.shutdownExecutorLocked(e)
			}
		}
	})
}

// ShutdownFramework implements AgentLink.
func (a *Agent) ShutdownFramework(frameworkID mesos.FrameworkID) {
	a.handle(func() { a.shutdownFrameworkLocked(frameworkID.Value) })
}

func (a *Agent) shutdownFrameworkLocked(fid string) {
	f := a.frameworks[fid]
	if f == nil {
		return
	}
	f.terminating = true
	for k, s := range a.updates {
		if k.framework == fid {
			stopTimer(&s.timer)
			delete(a.updates, k)
		}
	}
	for _, e := range f.executors {
		e.noUpdate = true
		a.shutdownExecutorLocked(e)
	}
	a.gcFrameworkLocked(f)
}

// FrameworkMessage implements AgentLink.
func (a *Agent) FrameworkMessage(frameworkID mesos.FrameworkID, executorID mesos.ExecutorID, data []byte) {
	a.handle(func() {
		f := a.frameworks[frameworkID.Value]
		if f == nil {
			return
		}
		e := f.executors[executorID.Value]
		if e == nil || e.state != execRunning {
			return // best effort, as in Mesos
		}
		a.deliverLocked(e, &executor.Event{Type: executor.Event_MESSAGE, Message: &executor.Event_Message{Data: data}})
	})
}

// Acknowledge implements AgentLink.
func (a *Agent) Acknowledge(frameworkID mesos.FrameworkID, taskID mesos.TaskID, uuid []byte) {
	a.handle(func() { a.acknowledgeLocked(frameworkID.Value, taskID.Value, uuid) })
}

// Drain implements AgentLink.
func (a *Agent) Drain(maxGracePeriodNanos *int64, markGone bool) {
	a.handle(func() {
		dc := &drainConfig{markGone: markGone}
		if maxGracePeriodNanos != nil {
			d := time.Duration(*maxGracePeriodNanos)
			dc.maxGrace = &d
		}
		a.draining = dc
		for _, f := range a.frameworks {
			for _, e := range f.executors {
				for _, t := range e.tasks {
					if !t.terminal() {
						a.killTaskLocked(t, t.info.KillPolicy)
					}
				}
			}
		}
		a.checkDrainedLocked()
	})
}

// Ping implements AgentLink.
func (a *Agent) Ping() {
	a.handle(func() {
		if m := a.master; m != nil {
			id := a.cfg.ID
			a.post(func() { m.Pong(id) })
		}
	})
}

// Shutdown implements AgentLink: the master removed the agent. Every
// framework is shut down without status updates and the agent stops
// answering; its HTTP endpoint stays up until Close so executors can finish.
func (a *Agent) Shutdown() {
	a.handle(func() {
		for fid := range a.frameworks {
			a.shutdownFrameworkLocked(fid)
		}
		a.removed, a.up = true, false
		a.master = nil
	})
}

// handle runs a master message on the mailbox under the agent lock, unless
// the agent process is down (the message is lost, as on a real network).
func (a *Agent) handle(f func()) {
	a.mu.Lock()
	run, up := a.run, a.up
	a.mu.Unlock()
	if !up {
		return
	}
	a.post(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.up && a.run == run {
			f()
		}
	})
}

// post queues an effect on the mailbox. It may be called with a.mu held.
func (a *Agent) post(f func()) { a.box.post(f) }

// afterFunc runs f on the mailbox after d (f takes the lock itself).
func (a *Agent) afterFunc(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() { a.post(f) })
}

func (a *Agent) record(r Record) {
	r.AgentID = a.cfg.ID.Value
	a.cfg.Recorder.Add(r)
}

// sendToMasterLocked posts a call on the current master, if any.
func (a *Agent) sendToMasterLocked(f func(m MasterLink)) {
	if m := a.master; m != nil && a.up {
		a.post(func() { f(m) })
	}
}

// ---- launching ----

// commandExecutorInfo is the ExecutorInfo Mesos' agent makes for a command
// task (Slave::getExecutorInfo): executor ID = task ID.
func commandExecutorInfo(fw mesos.FrameworkInfo, task mesos.TaskInfo) mesos.ExecutorInfo {
	name := "Command Executor (Task: " + task.TaskID.Value + ") (Command: sh -c '" + task.GetCommand().GetValue() + "')"
	source := task.TaskID.Value
	return mesos.ExecutorInfo{
		Type:        mesos.ExecutorInfo_DEFAULT,
		ExecutorID:  mesos.ExecutorID{Value: task.TaskID.Value},
		FrameworkID: fw.ID,
		Command:     task.Command,
		Name:        &name,
		Source:      &source,
		Labels:      task.Labels,
	}
}

func (a *Agent) launchLocked(fi mesos.FrameworkInfo, ei mesos.ExecutorInfo, tasks []mesos.TaskInfo, group *mesos.TaskGroupInfo) {
	if fi.ID == nil {
		a.log.Warn("launch without framework ID ignored")
		return
	}
	f := a.frameworks[fi.ID.Value]
	if f == nil {
		if a.frameworks == nil {
			a.frameworks = make(map[string]*agentFramework)
		}
		f = &agentFramework{info: fi}
		a.frameworks[fi.ID.Value] = f
	} else if !f.terminating {
		f.info = fi
	}
	if f.terminating {
		// Slave::run: a terminating framework cannot acknowledge, so the
		// launch is dropped without a status update.
		a.log.Warn("ignoring launch: framework is terminating", "framework", fi.ID.Value)
		a.gcFrameworkLocked(f)
		return
	}
	if a.draining != nil {
		state := mesos.TASK_LOST
		if f.partitionAware() {
			state = mesos.TASK_DROPPED
		}
		for _, t := range tasks {
			a.agentUpdateLocked(f, ei.ExecutorID, t.TaskID, state, mesos.REASON_AGENT_DRAINING, "Agent is draining")
		}
		a.gcFrameworkLocked(f)
		return
	}
	e := f.executors[ei.ExecutorID.Value]
	if e != nil && e.state >= execTerminating {
		state := mesos.TASK_LOST
		if f.partitionAware() {
			state = mesos.TASK_DROPPED
		}
		for _, t := range tasks {
			a.agentUpdateLocked(f, ei.ExecutorID, t.TaskID, state, mesos.REASON_EXECUTOR_TERMINATED, "Executor terminating")
		}
		return
	}
	if e == nil {
		e = a.newExecutorLocked(f, ei, tasks)
	}
	var q queuedLaunch
	if group != nil {
		g := *group
		q.group = &g
	} else {
		t := tasks[0]
		q.task = &t
	}
	for _, ti := range tasks {
		e.tasks[ti.TaskID.Value] = &agentTask{info: ti, exec: e, state: mesos.TASK_STAGING}
	}
	if e.state == execRunning {
		a.sendLaunchLocked(e, q)
	} else {
		e.queued = append(e.queued, q)
	}
}

func (a *Agent) newExecutorLocked(f *agentFramework, ei mesos.ExecutorInfo, tasks []mesos.TaskInfo) *agentExecutor {
	if ei.FrameworkID == nil {
		fid := f.id()
		ei.FrameworkID = &fid
	}
	e := &agentExecutor{
		fw:          f,
		info:        ei,
		containerID: newUUIDString(),
		tasks:       make(map[string]*agentTask),
		alive:       true,
	}
	e.commandTask = len(tasks) == 1 && tasks[0].Executor == nil && tasks[0].Command != nil
	e.sandbox = sandboxPath(a.cfg.WorkDir, a.cfg.ID.Value, f.id().Value, ei.ExecutorID.Value, e.containerID)
	if f.executors == nil {
		f.executors = make(map[string]*agentExecutor)
	}
	f.executors[ei.ExecutorID.Value] = e
	switch {
	case a.cfg.FakeExecutors != nil:
		e.kind = kindFake
		e.fake = &fakeExecutor{agent: a, exec: e}
		e.fake.impl = a.cfg.FakeExecutors(f.info, ei)
		e.state = execRunning // an in-process executor subscribes at once
	case e.commandTask:
		e.kind = kindCommand
		e.cmd = &commandTask{agent: a, exec: e}
		e.state = execRunning
	default:
		e.kind = kindProcess
		a.awaitRegistrationLocked(e, a.cfg.ExecutorRegistrationTimeout, mesos.TASK_FAILED,
			mesos.REASON_EXECUTOR_REGISTRATION_TIMEOUT, "register")
		a.startExecutorProcessLocked(e)
	}
	return e
}

// sendLaunchLocked delivers a queued launch to a subscribed executor.
func (a *Agent) sendLaunchLocked(e *agentExecutor, q queuedLaunch) {
	e.everLaunched = true
	if q.task != nil {
		if t := e.tasks[q.task.TaskID.Value]; t != nil {
			t.launched = true
		}
		a.deliverLocked(e, &executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: *q.task}})
		return
	}
	for _, ti := range q.group.Tasks {
		if t := e.tasks[ti.TaskID.Value]; t != nil {
			t.launched = true
		}
	}
	a.deliverLocked(e, &executor.Event{Type: executor.Event_LAUNCH_GROUP, LaunchGroup: &executor.Event_LaunchGroup{TaskGroup: *q.group}})
}

// deliverLocked sends an event to an executor, in order with everything
// else the agent sends.
func (a *Agent) deliverLocked(e *agentExecutor, ev *executor.Event) {
	switch e.kind {
	case kindProcess:
		if s := e.stream; s != nil {
			a.post(func() { s.Send(ev) })
		}
	case kindFake:
		x := e.fake
		a.post(func() { x.handle(ev) })
	case kindCommand:
		c := e.cmd
		a.post(func() { c.handle(ev) })
	}
}

// ---- killing ----

// killTaskLocked kills one task (Slave::killTask).
func (a *Agent) killTaskLocked(t *agentTask, policy *mesos.KillPolicy) {
	e := t.exec
	if t.terminal() {
		return
	}
	if !t.launched {
		// Still queued: the agent answers for the executor. A task group is
		// launched whole or not at all, so killing one of its tasks kills
		// every task of the group (Slave::killTask).
		if g := e.dequeueGroupLocked(t.info.TaskID.Value); g != nil {
			for _, ti := range g.Tasks {
				if gt := e.tasks[ti.TaskID.Value]; gt != nil && !gt.terminal() {
					a.agentUpdateLocked(e.fw, e.info.ExecutorID, ti.TaskID, mesos.TASK_KILLED,
						mesos.REASON_TASK_KILLED_DURING_LAUNCH, "A task within the task group was killed before delivery to the executor")
				}
			}
			return
		}
		a.dequeueLocked(e, t.info.TaskID.Value)
		a.agentUpdateLocked(e.fw, e.info.ExecutorID, t.info.TaskID, mesos.TASK_KILLED,
			mesos.REASON_TASK_KILLED_DURING_LAUNCH, "Killed before delivery to the executor")
		return
	}
	if d := a.draining; d != nil && d.maxGrace != nil {
		if policy == nil || policy.GracePeriod == nil || time.Duration(policy.GracePeriod.Nanoseconds) > *d.maxGrace {
			policy = &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(*d.maxGrace)}}
		}
	}
	if e.state == execRunning || e.state == execTerminating {
		a.deliverLocked(e, &executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: t.info.TaskID, KillPolicy: policy}})
	}
}

// dequeueGroupLocked removes and returns the queued task group holding a
// task, or nil if the task is not queued in a group.
func (e *agentExecutor) dequeueGroupLocked(taskID string) *mesos.TaskGroupInfo {
	for i, q := range e.queued {
		if q.group == nil {
			continue
		}
		for _, ti := range q.group.Tasks {
			if ti.TaskID.Value == taskID {
				e.queued = append(e.queued[:i:i], e.queued[i+1:]...)
				return q.group
			}
		}
	}
	return nil
}

func (a *Agent) dequeueLocked(e *agentExecutor, taskID string) {
	for i, q := range e.queued {
		if q.task != nil && q.task.TaskID.Value == taskID {
			e.queued = append(e.queued[:i], e.queued[i+1:]...)
			return
		}
		if q.group != nil {
			for j, ti := range q.group.Tasks {
				if ti.TaskID.Value == taskID {
					g := *q.group
					g.Tasks = append(append([]mesos.TaskInfo(nil), g.Tasks[:j]...), g.Tasks[j+1:]...)
					if len(g.Tasks) == 0 {
						e.queued = append(e.queued[:i], e.queued[i+1:]...)
					} else {
						e.queued[i].group = &g
					}
					return
				}
			}
		}
	}
}

// shutdownExecutorLocked sends SHUTDOWN and destroys the executor after its
// grace period (Slave::shutdownExecutor).
func (a *Agent) shutdownExecutorLocked(e *agentExecutor) {
	if e.state >= execTerminating {
		return
	}
	wasRunning := e.state == execRunning
	e.state = execTerminating
	stopTimer(&e.regTimer)
	if wasRunning {
		a.deliverLocked(e, &executor.Event{Type: executor.Event_SHUTDOWN})
	}
	grace := a.cfg.ExecutorShutdownGracePeriod
	if g := e.info.ShutdownGracePeriod; g != nil {
		grace = time.Duration(g.Nanoseconds)
	}
	e.killTimer = a.afterFunc(grace, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.up && e.state == execTerminating {
			a.destroyExecutorLocked(e)
		}
	})
}

// destroyExecutorLocked destroys an executor's container. Process executors
// end when the reaper sees the process exit; the others end at once.
func (a *Agent) destroyExecutorLocked(e *agentExecutor) {
	if e.state == execTerminated {
		return
	}
	e.state = execTerminating
	stopTimer(&e.regTimer)
	stopTimer(&e.killTimer)
	if e.kind == kindProcess && e.alive && e.proc != nil {
		e.destroyProcess() // the reaper calls executorTerminatedLocked
		return
	}
	if e.cmd != nil {
		e.cmd.destroy()
	}
	a.executorTerminatedLocked(e, -1, !e.commandTask)
}

// executorTerminatedLocked is Slave::executorTerminated: live tasks fail
// (with the pending termination's state and reason, if any), the master is
// told about custom executors, and the executor is removed once its tasks'
// updates are acknowledged. status is the raw waitpid status (-1 if none).
func (a *Agent) executorTerminatedLocked(e *agentExecutor, status int32, reportExit bool) {
	if e.state == execTerminated {
		return
	}
	e.state = execTerminated
	e.alive = false
	e.proc = nil
	if e.fake != nil {
		e.fake.stopTimersLocked()
	}
	if e.cmd != nil {
		e.cmd.stopTimersLocked()
	}
	stopTimer(&e.regTimer)
	stopTimer(&e.killTimer)
	stopTimer(&e.heartbeat)
	if s := e.stream; s != nil {
		e.stream = nil
		a.post(s.Close)
	}
	e.queued = nil
	if !e.noUpdate && !e.fw.terminating {
		// The master hears of the exit before the updates of its tasks: the
		// scheduler gets FAILURE, then TASK_FAILED (verified on a 1.12 agent).
		if reportExit {
			aid, fid, eid := a.cfg.ID, e.fw.id(), e.info.ExecutorID
			a.sendToMasterLocked(func(m MasterLink) { m.ExecutorExited(aid, fid, eid, status) })
		}
		term := executorTermination{state: mesos.TASK_FAILED, reason: mesos.REASON_EXECUTOR_TERMINATED, message: "Executor terminated"}
		if e.termination != nil {
			term = *e.termination
		}
		for _, t := range e.tasks {
			if !t.terminal() {
				a.agentUpdateLocked(e.fw, e.info.ExecutorID, t.info.TaskID, term.state, term.reason, term.message)
			}
		}
	} else {
		for id := range e.tasks {
			delete(e.tasks, id)
		}
	}
	a.gcExecutorLocked(e)
}

// gcExecutorLocked removes a terminated executor without tasks, then its
// framework if it has no executors left.
func (a *Agent) gcExecutorLocked(e *agentExecutor) {
	if e.state != execTerminated || len(e.tasks) > 0 {
		return
	}
	if e.fw.executors[e.info.ExecutorID.Value] == e {
		delete(e.fw.executors, e.info.ExecutorID.Value)
	}
	a.gcFrameworkLocked(e.fw)
}

func (a *Agent) gcFrameworkLocked(f *agentFramework) {
	if len(f.executors) > 0 {
		return
	}
	for k := range a.updates {
		if k.framework == f.id().Value {
			return
		}
	}
	if a.frameworks[f.id().Value] == f {
		delete(a.frameworks, f.id().Value)
	}
	a.checkDrainedLocked()
}

// checkDrainedLocked ends draining once nothing is left on the agent, as
// Mesos' agent clears its drain config when its last framework is gone.
func (a *Agent) checkDrainedLocked() {
	if a.draining != nil && len(a.frameworks) == 0 {
		a.draining = nil
	}
}

// Draining reports whether the agent is draining.
func (a *Agent) Draining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining != nil
}

// ---- status updates generated or received by the agent ----

// agentUpdateLocked makes a SOURCE_AGENT update for a task and hands it to
// the status update manager.
func (a *Agent) agentUpdateLocked(f *agentFramework, eid mesos.ExecutorID, tid mesos.TaskID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	st := mesos.TaskStatus{
		TaskID:  tid,
		State:   state.Enum(),
		Source:  mesos.SOURCE_AGENT.Enum(),
		Reason:  reason.Enum(),
		Message: &msg,
		UUID:    newUUIDBytes(),
	}
	eidCopy := eid
	st.ExecutorID = &eidCopy
	a.taskUpdateLocked(f, st)
}

// taskUpdateLocked applies an update (from an executor or the agent) to the
// task and queues it for the master. It returns false for a duplicate, an
// update after the terminal one, or an update for a framework being shut
// down, which are not stored (Slave::statusUpdate ignores those: the
// framework cannot acknowledge them).
func (a *Agent) taskUpdateLocked(f *agentFramework, st mesos.TaskStatus) bool {
	if f.terminating {
		return false
	}
	if st.Timestamp == nil {
		ts := float64(time.Now().UnixNano()) / 1e9
		st.Timestamp = &ts
	}
	aid := a.cfg.ID
	st.AgentID = &aid
	if d := a.draining; d != nil {
		// Slave::statusUpdate while draining: TASK_KILLING and TASK_KILLED
		// (and only they) get REASON_AGENT_DRAINING; with mark_gone, a
		// partition-aware framework sees them as TASK_GONE_BY_OPERATOR.
		if state := st.GetState(); state == mesos.TASK_KILLING || state == mesos.TASK_KILLED {
			st.Reason = mesos.REASON_AGENT_DRAINING.Enum()
			if d.markGone && f.partitionAware() {
				st.State = mesos.TASK_GONE_BY_OPERATOR.Enum()
			}
		}
	}
	if !a.enqueueUpdateLocked(f.id(), st) {
		return false
	}
	for _, e := range f.executors {
		if t := e.tasks[st.TaskID.Value]; t != nil {
			t.state = st.GetState()
			t.statuses = append(t.statuses[:0:0], st) // the newest status, as the master keeps it
			if t.terminal() && !t.launched {
				a.dequeueLocked(e, st.TaskID.Value)
			}
			break
		}
	}
	return true
}

// taskAcknowledgedLocked removes a task whose terminal update the scheduler
// acknowledged.
func (a *Agent) taskAcknowledgedLocked(fid, tid string) {
	f := a.frameworks[fid]
	if f == nil {
		return
	}
	for _, e := range f.executors {
		if t := e.tasks[tid]; t != nil && t.terminal() {
			delete(e.tasks, tid)
			if e.kind == kindCommand && len(e.tasks) == 0 && e.state != execTerminated {
				// The command executor exits once its task is done.
				a.executorTerminatedLocked(e, 0, false)
			}
			a.gcExecutorLocked(e)
			a.gcFrameworkLocked(f)
			return
		}
	}
	a.gcFrameworkLocked(f)
}

// mailbox runs posted functions one at a time in order. It has a goroutine
// only while it has work, so idle agents cost no goroutine.
type mailbox struct {
	wg      *sync.WaitGroup
	mu      sync.Mutex
	q       []func()
	running bool
	closed  bool
}

func (m *mailbox) post(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.q = append(m.q, f)
	if !m.running {
		m.running = true
		m.wg.Add(1)
		go m.run()
	}
}

func (m *mailbox) run() {
	defer m.wg.Done()
	for {
		m.mu.Lock()
		if len(m.q) == 0 {
			m.running = false
			m.q = nil
			m.mu.Unlock()
			return
		}
		f := m.q[0]
		m.q[0] = nil
		m.q = m.q[1:]
		m.mu.Unlock()
		f()
	}
}

// close drops queued work and refuses more; the running goroutine ends after
// its current function.
func (m *mailbox) close() {
	m.mu.Lock()
	m.closed = true
	m.q = nil
	m.mu.Unlock()
}

var _ AgentLink = (*Agent)(nil)
