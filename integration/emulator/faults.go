package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// MessageFault decides the fate of one framework message (scheduler →
// executor or executor → scheduler): drop it, or deliver it after delay.
type MessageFault func(frameworkID, agentID, executorID string, data []byte) (drop bool, delay time.Duration)

// linkFaults is the fault state of one agent's connection to the master,
// shared by the two link wrappers that interpose on it. It plays the network
// between the agent and the master: a partition drops every message both
// ways, so pings go unanswered and the master eventually marks the agent
// unreachable, as a real network partition would.
type linkFaults struct {
	mu          sync.Mutex
	partitioned bool
	toExecutor  MessageFault // scheduler → executor framework messages
	toScheduler MessageFault // executor → scheduler framework messages
	closed      bool
	timers      map[*time.Timer]struct{} // delayed deliveries, stopped by close
	wg          sync.WaitGroup           // delayed deliveries running
}

func newLinkFaults() *linkFaults {
	return &linkFaults{timers: make(map[*time.Timer]struct{})}
}

func (f *linkFaults) setPartitioned(p bool) {
	f.mu.Lock()
	f.partitioned = p
	f.mu.Unlock()
}

func (f *linkFaults) isPartitioned() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.partitioned
}

func (f *linkFaults) setMessageFaults(toExecutor, toScheduler MessageFault) {
	f.mu.Lock()
	f.toExecutor, f.toScheduler = toExecutor, toScheduler
	f.mu.Unlock()
}

// deliver runs send now, later, or never, per fault (nil: now). It never
// blocks, so the link contract (no blocking, no synchronous callback) holds.
func (f *linkFaults) deliver(fault MessageFault, frameworkID, agentID, executorID string, data []byte, send func()) {
	f.mu.Lock()
	if f.partitioned || f.closed {
		f.mu.Unlock()
		return
	}
	var drop bool
	var delay time.Duration
	if fault != nil {
		drop, delay = fault(frameworkID, agentID, executorID, data)
	}
	if drop {
		f.mu.Unlock()
		return
	}
	if delay <= 0 {
		f.mu.Unlock()
		send()
		return
	}
	f.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		defer f.wg.Done()
		f.mu.Lock()
		delete(f.timers, t)
		// A partition that started meanwhile swallows the message too.
		ok := !f.partitioned && !f.closed
		f.mu.Unlock()
		if ok {
			send()
		}
	})
	f.timers[t] = struct{}{}
	f.mu.Unlock()
}

// close drops pending delayed messages and waits for running deliveries.
func (f *linkFaults) close() {
	f.mu.Lock()
	f.closed = true
	for t := range f.timers {
		if t.Stop() {
			f.wg.Done()
		}
		delete(f.timers, t)
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// linkConn is one registration of an agent with a master: severed when that
// master dies or the agent registers elsewhere, so neither side hears from a
// stale peer. Faults are per agent and outlive registrations.
type linkConn struct {
	faults  *linkFaults
	severed atomic.Bool
}

func (c *linkConn) sever() { c.severed.Store(true) }

// pass reports whether a message gets through now.
func (c *linkConn) pass() bool { return !c.severed.Load() && !c.faults.isPartitioned() }

// faultyAgentLink is the master's end of an agent connection: what the
// master sends the agent passes through the link's faults.
type faultyAgentLink struct {
	AgentLink
	conn *linkConn
}

var _ AgentLink = (*faultyAgentLink)(nil)

func (l *faultyAgentLink) pass() bool { return l.conn.pass() }

func (l *faultyAgentLink) RunTask(fw mesos.FrameworkInfo, task mesos.TaskInfo) {
	if l.pass() {
		l.AgentLink.RunTask(fw, task)
	}
}

func (l *faultyAgentLink) RunTaskGroup(fw mesos.FrameworkInfo, ex mesos.ExecutorInfo, g mesos.TaskGroupInfo) {
	if l.pass() {
		l.AgentLink.RunTaskGroup(fw, ex, g)
	}
}

func (l *faultyAgentLink) KillTask(fid mesos.FrameworkID, tid mesos.TaskID, kp *mesos.KillPolicy) {
	if l.pass() {
		l.AgentLink.KillTask(fid, tid, kp)
	}
}

func (l *faultyAgentLink) ShutdownExecutor(fid mesos.FrameworkID, eid mesos.ExecutorID) {
	if l.pass() {
		l.AgentLink.ShutdownExecutor(fid, eid)
	}
}

func (l *faultyAgentLink) ShutdownFramework(fid mesos.FrameworkID) {
	if l.pass() {
		l.AgentLink.ShutdownFramework(fid)
	}
}

func (l *faultyAgentLink) FrameworkMessage(fid mesos.FrameworkID, eid mesos.ExecutorID, data []byte) {
	f := l.conn.faults
	f.mu.Lock()
	fault := f.toExecutor
	f.mu.Unlock()
	f.deliver(fault, fid.Value, l.ID().Value, eid.Value, data, func() {
		if !l.conn.severed.Load() {
			l.AgentLink.FrameworkMessage(fid, eid, data)
		}
	})
}

func (l *faultyAgentLink) Acknowledge(fid mesos.FrameworkID, tid mesos.TaskID, uuid []byte) {
	if l.pass() {
		l.AgentLink.Acknowledge(fid, tid, uuid)
	}
}

func (l *faultyAgentLink) Drain(maxGracePeriodNanos *int64, markGone bool) {
	if l.pass() {
		l.AgentLink.Drain(maxGracePeriodNanos, markGone)
	}
}

func (l *faultyAgentLink) Ping() {
	if l.pass() {
		l.AgentLink.Ping()
	}
}

func (l *faultyAgentLink) Shutdown() {
	if l.pass() {
		l.AgentLink.Shutdown()
	}
}

// faultyMasterLink is the agent's end of its master connection: what the
// agent sends passes through the same faults.
type faultyMasterLink struct {
	MasterLink
	conn *linkConn
}

var _ MasterLink = (*faultyMasterLink)(nil)

func (l *faultyMasterLink) pass() bool { return l.conn.pass() }

func (l *faultyMasterLink) StatusUpdate(aid mesos.AgentID, fid mesos.FrameworkID, st mesos.TaskStatus, latest mesos.TaskState) {
	if l.pass() {
		l.MasterLink.StatusUpdate(aid, fid, st, latest)
	}
}

func (l *faultyMasterLink) ExecutorMessage(aid mesos.AgentID, fid mesos.FrameworkID, eid mesos.ExecutorID, data []byte) {
	f := l.conn.faults
	f.mu.Lock()
	fault := f.toScheduler
	f.mu.Unlock()
	f.deliver(fault, fid.Value, aid.Value, eid.Value, data, func() {
		if !l.conn.severed.Load() {
			l.MasterLink.ExecutorMessage(aid, fid, eid, data)
		}
	})
}

func (l *faultyMasterLink) ExecutorExited(aid mesos.AgentID, fid mesos.FrameworkID, eid mesos.ExecutorID, status int32) {
	if l.pass() {
		l.MasterLink.ExecutorExited(aid, fid, eid, status)
	}
}

func (l *faultyMasterLink) Pong(aid mesos.AgentID) {
	if l.pass() {
		l.MasterLink.Pong(aid)
	}
}

// agentLocked finds an agent by ID.
func (c *Cluster) agentLocked(agentID string) (*clusterAgent, error) {
	ca := c.byID[agentID]
	if ca == nil {
		return nil, fmt.Errorf("emulator: no agent %q in the cluster", agentID)
	}
	return ca, nil
}

func (c *Cluster) recordFault(typ, agentID, detail string) {
	c.rec.Add(Record{Kind: RecordFault, AgentID: agentID, Type: typ, Detail: detail})
}

// KillAgent kills an agent's host: the agent and its executors die and stop
// answering the master, which marks the agent unreachable after its ping
// timeout (TASK_UNREACHABLE for partition-aware frameworks, TASK_LOST for the
// others, and FAILURE), as Mesos does.
func (c *Cluster) KillAgent(agentID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, err := c.agentLocked(agentID)
	if err != nil {
		return err
	}
	ca.killed = true
	ca.agent.Kill() // records the fault
	if ca.master != nil {
		// The master sees the agent's connection break at once.
		ca.master.master.DisconnectAgent(agentID)
	}
	return nil
}

// RestartAgent restarts an agent process (after KillAgent, or crashing it
// first): it recovers checkpointed state and re-registers with the leading
// master.
func (c *Cluster) RestartAgent(agentID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, err := c.agentLocked(agentID)
	if err != nil {
		return err
	}
	if err := ca.agent.Restart(); err != nil { // records the fault
		return fmt.Errorf("emulator: restart agent %s: %w", agentID, err)
	}
	ca.killed = false
	if !ca.faults.isPartitioned() {
		c.registerLocked(ca)
	}
	return nil
}

// PartitionAgent cuts the network between an agent and the masters: every
// message is dropped both ways, pings go unanswered, and the master marks the
// agent unreachable after its ping timeout. Tasks keep running.
func (c *Cluster) PartitionAgent(agentID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, err := c.agentLocked(agentID)
	if err != nil {
		return err
	}
	ca.faults.setPartitioned(true)
	c.recordFault("agent_partition", agentID, "")
	return nil
}

// HealAgent ends a partition: the agent re-registers with the leading master
// (as a Mesos agent does when it notices it lost its master), reporting its
// tasks; the master then handles an agent it had marked unreachable.
func (c *Cluster) HealAgent(agentID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, err := c.agentLocked(agentID)
	if err != nil {
		return err
	}
	ca.faults.setPartitioned(false)
	c.recordFault("agent_heal", agentID, "")
	if !ca.killed {
		c.registerLocked(ca)
	}
	return nil
}

// SetFrameworkMessageFaults makes framework messages between schedulers and
// executors on every agent go through the given faults: toExecutor for
// scheduler MESSAGE calls, toScheduler for executor MESSAGE calls. nil lets
// messages through.
func (c *Cluster) SetFrameworkMessageFaults(toExecutor, toScheduler MessageFault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ca := range c.agents {
		ca.faults.setMessageFaults(toExecutor, toScheduler)
	}
	c.recordFault("framework_message_fault", "",
		fmt.Sprintf("to_executor=%t to_scheduler=%t", toExecutor != nil, toScheduler != nil))
}

// DropFrameworkMessages drops (or, with false, stops dropping) every
// framework message in both directions.
func (c *Cluster) DropFrameworkMessages(drop bool) {
	var f MessageFault
	if drop {
		f = func(string, string, string, []byte) (bool, time.Duration) { return true, 0 }
	}
	c.SetFrameworkMessageFaults(f, f)
}

// DelayFrameworkMessages delays every framework message in both directions
// by d (0: no delay).
func (c *Cluster) DelayFrameworkMessages(d time.Duration) {
	var f MessageFault
	if d > 0 {
		f = func(string, string, string, []byte) (bool, time.Duration) { return false, d }
	}
	c.SetFrameworkMessageFaults(f, f)
}

// CloseSubscription ends a framework's scheduler stream on the leading
// master as if its connection broke (the client sees EOF). It reports
// whether the framework had a stream.
func (c *Cluster) CloseSubscription(frameworkID string) bool {
	m := c.Leader()
	return m != nil && m.CloseSubscription(frameworkID) // the master records it
}

// KillLeader stops the leading master cleanly: its ZooKeeper session is
// closed (so another master is elected without waiting for a session
// timeout), its HTTP listener and connections close, and its state is lost.
// Without ZooKeeper the next live master leads at once. Agents re-register
// with the new leader; frameworks must resubscribe.
func (c *Cluster) KillLeader() error { return c.stopLeader(false) }

// CrashLeader kills the leading master as SIGKILL would: like KillLeader,
// but its ZooKeeper session is left to expire, so the standbys keep
// following the dead leader (and redirecting to it) for up to the session
// timeout before one of them is elected, as real masters do.
func (c *Cluster) CrashLeader() error { return c.stopLeader(true) }

func (c *Cluster) stopLeader(crash bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == nil {
		return errors.New("emulator: no leading master to kill")
	}
	cm := c.leader
	typ := "master_kill"
	if crash {
		typ = "master_crash"
	}
	c.rec.Add(Record{Kind: RecordFault, Master: cm.master.ID(), Type: typ, Detail: cm.addr})
	c.killMasterLocked(cm, crash)
	return nil
}

// FailCalls makes every live master answer scheduler API calls with status
// after delay (status 0: handle them normally after delay); FailCalls(0, 0)
// clears the fault. The masters record it.
func (c *Cluster) FailCalls(status int, delay time.Duration) {
	c.SetCallFault(func(*http.Request) (int, time.Duration) { return status, delay })
	if status == 0 && delay == 0 {
		c.SetCallFault(nil)
	}
}

// SetCallFault installs a per-request call fault on every live master (see
// Master.SetCallFault); nil clears it.
func (c *Cluster) SetCallFault(f func(*http.Request) (status int, delay time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cm := range c.masters {
		if !cm.killed {
			cm.master.SetCallFault(f)
		}
	}
}
