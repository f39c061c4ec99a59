package emulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
	"github.com/healer-mesos/healer/internal/zkurl"
)

// ClusterConfig configures an emulated Mesos cluster: masters (one leading),
// agents, and optionally ZooKeeper for leader election.
type ClusterConfig struct {
	// Masters is the number of masters (default 1). MasterPorts optionally
	// fixes their HTTP ports on 127.0.0.1; missing or 0 entries pick free
	// ports.
	Masters     int
	MasterPorts []int
	// MasterHost is the IP the masters listen on and announce (default
	// 127.0.0.1).
	MasterHost string
	// Master is the template for every master's config; ID, IP, Hostname,
	// Port and Recorder are set per master.
	Master MasterConfig

	// ZK, when set (zk://host:port/path), makes the masters contend in
	// ZooKeeper as Mesos masters do; the elected one leads and the others
	// redirect to it. Without it master 0 leads. ZKSessionTimeout defaults
	// to Mesos' 10 s.
	ZK               string
	ZKSessionTimeout time.Duration

	// Agents is the number of agents. Agent is the template of every
	// agent's config; AgentSpec, when set, adjusts agent i's config
	// further. Zones, when set, spreads agents round-robin over these
	// fault-domain zones (agent i gets Zones[i%len(Zones)]) in Region.
	Agents    int
	Agent     AgentConfig
	AgentSpec func(i int, cfg *AgentConfig)
	Zones     []string
	Region    string

	// Recorder receives everything the cluster, its masters and agents
	// record; nil means a new one that keeps every record (Cluster.Recorder).
	Recorder *Recorder
	Logger   *slog.Logger // nil: discard
}

// clusterMaster is one master with its HTTP listener and ZooKeeper
// candidacy.
type clusterMaster struct {
	master    *Master
	addr      string // host:port it listens on
	server    *http.Server
	contender *zkgroup.Contender // nil without ZooKeeper
	killed    bool
}

// clusterAgent is one agent with the links that connect it to its master.
type clusterAgent struct {
	agent  *Agent
	faults *linkFaults
	// master is the master the agent is registered with (nil: none, e.g.
	// partitioned during a failover or killed).
	master *clusterMaster
	conn   *linkConn // the registration's links; severed when it ends
	zone   string
	killed bool
	// cancelReregister stops the agent's pending re-registration after a
	// master failover (reregisterLaterLocked); nil when none is pending.
	cancelReregister func()
}

// Cluster is a running emulated Mesos cluster. Its methods are safe for
// concurrent use. Close stops everything.
type Cluster struct {
	cfg ClusterConfig
	rec *Recorder
	log *slog.Logger
	zk  *zkgroup.Config
	// reg is the replicated registry every master writes through to and a
	// new leader recovers from.
	reg *Registry

	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	masters []*clusterMaster
	agents  []*clusterAgent
	byID    map[string]*clusterAgent
	leader  *clusterMaster
	elected bool // some master has led before (later elections are failovers)
	closed  bool

	// after and backoff are how reregisterLaterLocked delays an agent's
	// re-registration: time.AfterFunc (its func stops the timer, reporting
	// whether it did) and a random fraction of the agent's
	// RegistrationBackoffFactor. Tests replace them, under mu, to fire
	// re-registrations by hand.
	after   func(d time.Duration, f func()) (stop func() bool)
	backoff func() float64
}

// NewCluster starts the masters and agents, elects a leader (directly, or in
// ZooKeeper) and registers the agents with it. With ZooKeeper it returns once
// a leader is elected.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	return StartCluster(context.Background(), cfg)
}

// StartCluster is NewCluster, giving up (and stopping what it started) when
// ctx ends while it waits for ZooKeeper, so a signal can interrupt start-up.
// ctx bounds only the start: the cluster runs until Close.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.Masters <= 0 {
		cfg.Masters = 1
	}
	if cfg.MasterHost == "" {
		cfg.MasterHost = "127.0.0.1"
	}
	if cfg.Recorder == nil {
		cfg.Recorder = &Recorder{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, rec: cfg.Recorder, log: cfg.Logger, reg: NewRegistry(), stop: make(chan struct{}),
		byID: make(map[string]*clusterAgent), backoff: rand.Float64}
	c.after = c.afterFunc
	if cfg.ZK != "" {
		u, err := zkurl.Parse(cfg.ZK)
		if err != nil {
			return nil, fmt.Errorf("emulator: %w", err)
		}
		timeout := cfg.ZKSessionTimeout
		if timeout <= 0 {
			timeout = zkgroup.DefaultSessionTimeout
		}
		c.zk = &zkgroup.Config{URL: u, SessionTimeout: timeout, Logger: cfg.Logger}
	}
	if err := c.startMasters(); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.startAgents(); err != nil {
		c.Close()
		return nil, err
	}
	if c.zk == nil {
		c.mu.Lock()
		c.electLocked(c.masters[0])
		c.mu.Unlock()
		return c, nil
	}
	if err := c.startElection(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startMasters() error {
	for i := 0; i < c.cfg.Masters; i++ {
		port := 0
		if i < len(c.cfg.MasterPorts) {
			port = c.cfg.MasterPorts[i]
		}
		l, err := listenStable(net.JoinHostPort(c.cfg.MasterHost, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("emulator: master %d: listen: %w", i, err)
		}
		cm := &clusterMaster{}
		c.serveMaster(cm, l)
		c.masters = append(c.masters, cm)
	}
	return nil
}

// serveMaster makes cm a new master serving on l.
func (c *Cluster) serveMaster(cm *clusterMaster, l net.Listener) {
	mcfg := c.cfg.Master
	mcfg.ID = ""
	mcfg.IP = c.cfg.MasterHost
	mcfg.Hostname = c.cfg.MasterHost
	mcfg.Port = l.Addr().(*net.TCPAddr).Port
	mcfg.Recorder = c.rec
	mcfg.Registry = c.reg
	if mcfg.Logger == nil {
		mcfg.Logger = c.log
	}
	m := NewMaster(mcfg)
	cm.master, cm.addr, cm.killed, cm.contender = m, l.Addr().String(), false, nil
	cm.server = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv := cm.server
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		// ErrServerClosed after Close; any other error ends this master's
		// service, which is what a test would observe anyway.
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("master HTTP server failed", "master", l.Addr().String(), "err", err)
		}
	}()
}

// RestartMaster starts master i again after it died (KillLeader,
// CrashLeader, a lost ZooKeeper candidacy), as a restarted Mesos master
// process: on the same address, with a new master id and nothing in memory
// but the replicated registry. With ZooKeeper it contends again and follows
// the current leader meanwhile; without, it leads if no master does. ctx
// bounds the wait for ZooKeeper.
func (c *Cluster) RestartMaster(ctx context.Context, i int) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("emulator: the cluster is closed")
	}
	if i < 0 || i >= len(c.masters) {
		c.mu.Unlock()
		return fmt.Errorf("emulator: no master %d", i)
	}
	cm := c.masters[i]
	if !cm.killed {
		c.mu.Unlock()
		return fmt.Errorf("emulator: master %d (%s) is running", i, cm.addr)
	}
	l, err := net.Listen("tcp", cm.addr)
	if err != nil {
		c.mu.Unlock()
		return fmt.Errorf("emulator: restart master %d: listen: %w", i, err)
	}
	c.serveMaster(cm, l)
	m := cm.master
	c.rec.Add(Record{Kind: RecordFault, Master: m.ID(), Type: "master_restart", Detail: cm.addr})
	switch {
	case c.leader != nil:
		m.Follow(c.leader.addr)
	case c.zk == nil:
		c.electLocked(cm)
	}
	c.mu.Unlock()
	if c.zk == nil {
		return nil
	}
	// Contending only once cm is live: an election the new candidacy wins
	// at once finds it among the masters.
	ct, err := zkgroup.NewContender(ctx, *c.zk, m.MasterInfo())
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.killMasterLocked(cm, false)
		return fmt.Errorf("emulator: restart master %d: %w", i, err)
	}
	if cm.killed || cm.master != m || c.closed {
		ct.Close()
		return nil
	}
	cm.contender = ct
	c.wg.Add(1)
	go c.watchCandidacy(cm, ct)
	return nil
}

func (c *Cluster) startAgents() error {
	for i := 0; i < c.cfg.Agents; i++ {
		acfg := c.cfg.Agent
		acfg.Recorder = c.rec
		if acfg.Logger == nil {
			acfg.Logger = c.log
		}
		if acfg.Hostname == "" {
			acfg.Hostname = fmt.Sprintf("agent-%d", i)
		}
		if acfg.ID.Value == "" {
			// Mesos names agents after the master that first registered
			// them: <masterID>-S<n>.
			acfg.ID.Value = fmt.Sprintf("%s-S%d", c.masters[0].master.ID(), i)
		}
		zone := ""
		if len(c.cfg.Zones) > 0 {
			zone = c.cfg.Zones[i%len(c.cfg.Zones)]
			region := c.cfg.Region
			if region == "" {
				region = "region"
			}
			acfg.Domain = &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
				Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: region},
				Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: zone},
			}}
		}
		if c.cfg.AgentSpec != nil {
			c.cfg.AgentSpec(i, &acfg)
		}
		a, err := NewAgent(acfg)
		if err != nil {
			return fmt.Errorf("emulator: agent %d: %w", i, err)
		}
		ca := &clusterAgent{agent: a, faults: newLinkFaults(), zone: zone}
		c.agents = append(c.agents, ca)
		if err := a.Start(); err != nil {
			return fmt.Errorf("emulator: agent %d: %w", i, err)
		}
		c.byID[a.ID().Value] = ca
	}
	return nil
}

// startElection makes every master contend in ZooKeeper and follows the
// election with a detector, as Mesos masters follow their own group.
func (c *Cluster) startElection(ctx context.Context) error {
	det, err := zkgroup.NewDetector(ctx, *c.zk)
	if err != nil {
		return err
	}
	for _, cm := range c.masters {
		ct, err := zkgroup.NewContender(ctx, *c.zk, cm.master.MasterInfo())
		if err != nil {
			det.Close()
			return err
		}
		c.mu.Lock()
		cm.contender = ct
		c.mu.Unlock()
		c.wg.Add(1)
		go c.watchCandidacy(cm, ct)
	}
	c.wg.Add(1)
	go c.followElection(det)
	ctx, cancel := context.WithTimeout(ctx, c.zk.SessionTimeout+10*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		return fmt.Errorf("emulator: no master elected in ZooKeeper: %w", err)
	}
	return nil
}

// watchCandidacy handles a master losing its ZooKeeper candidacy without
// being killed (session expired, node deleted): a Mesos master then aborts,
// so the cluster kills it.
func (c *Cluster) watchCandidacy(cm *clusterMaster, ct *zkgroup.Contender) {
	defer c.wg.Done()
	select {
	case <-c.stop:
		return
	case <-ct.Lost():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cm.killed || c.closed || cm.contender != ct {
		// Killed meanwhile, or restarted with a new candidacy.
		return
	}
	c.rec.Add(Record{Kind: RecordFault, Master: cm.master.ID(), Type: "zk_candidacy_lost", Detail: cm.addr})
	c.killMasterLocked(cm, false)
}

// followElection applies every leader change the detector sees.
func (c *Cluster) followElection(det *zkgroup.Detector) {
	defer c.wg.Done()
	defer det.Close()
	for {
		info, changed := det.Leader()
		c.mu.Lock()
		if !c.closed {
			c.applyLeaderLocked(info)
		}
		c.mu.Unlock()
		select {
		case <-c.stop:
			return
		case <-changed:
		}
	}
}

// applyLeaderLocked makes the detected master lead and the others follow it.
func (c *Cluster) applyLeaderLocked(info *mesos.MasterInfo) {
	var elected *clusterMaster
	if info != nil {
		for _, cm := range c.masters {
			if cm.master.ID() == info.ID && !cm.killed {
				elected = cm
			}
		}
	}
	if elected == nil {
		// No leader, or one this cluster does not run: follow it.
		hostPort := ""
		if info != nil {
			hostPort = zkgroup.LeaderHostPort(*info)
		}
		c.leader = nil
		for _, cm := range c.masters {
			if !cm.killed {
				cm.master.Follow(hostPort)
			}
		}
		return
	}
	if elected != c.leader {
		c.electLocked(elected)
	}
}

// electLocked makes cm the leader: the others redirect to it, and every
// reachable agent registers with it, reporting its tasks (how a new leader
// recovers agents and tasks after failover): at once for a cluster's first
// leader, spread over each agent's RegistrationBackoffFactor after a
// failover. Frameworks must resubscribe on their own.
func (c *Cluster) electLocked(cm *clusterMaster) {
	c.leader = cm
	for _, o := range c.masters {
		if o != cm && !o.killed {
			o.master.Follow(cm.addr)
		}
	}
	cm.master.Lead() // recovers the registry
	c.log.Info("master elected", "master", cm.addr, "failover", c.elected)
	if !c.elected {
		// A fresh cluster's registry is empty: nothing to wait for.
		cm.master.FinishRecovery()
	}
	if c.elected {
		// A failover: the new leader recovers the agent list from the
		// registry and waits for those agents to re-register (the
		// unreachable ones are marked so after AgentReregisterTimeout;
		// agents the registry holds as unreachable, gone or removed are
		// not expected).
		infos := make([]mesos.AgentInfo, 0, len(c.agents))
		for _, ca := range c.agents {
			infos = append(infos, ca.agent.Info())
		}
		cm.master.ExpectAgents(infos)
	}
	failover := c.elected
	c.elected = true
	for _, ca := range c.agents {
		if ca.killed || ca.faults.isPartitioned() {
			continue
		}
		if failover {
			c.reregisterLaterLocked(ca)
		} else {
			c.registerLocked(ca)
		}
	}
}

// reregisterLaterLocked re-registers an agent with the current leader after
// a random delay in [0, RegistrationBackoffFactor], as a Mesos agent does
// when it detects a new leading master (Slave::detected): after a master
// failover the agents come back spread over their backoff, not at once.
// It replaces any re-registration already pending; registerLocked, a kill,
// a partition or another failover in between wins.
func (c *Cluster) reregisterLaterLocked(ca *clusterAgent) {
	c.cancelReregisterLocked(ca)
	if c.closed {
		return
	}
	leader := c.leader
	d := time.Duration(c.backoff() * float64(ca.agent.cfg.RegistrationBackoffFactor))
	pending := true // guarded by mu; false once fired or cancelled
	stop := c.after(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !pending {
			return
		}
		pending = false
		ca.cancelReregister = nil
		if c.closed || c.leader != leader || ca.killed || ca.faults.isPartitioned() {
			return
		}
		c.registerLocked(ca)
	})
	ca.cancelReregister = func() {
		pending = false
		stop()
	}
}

// cancelReregisterLocked drops an agent's pending re-registration, if any.
func (c *Cluster) cancelReregisterLocked(ca *clusterAgent) {
	if ca.cancelReregister != nil {
		ca.cancelReregister()
		ca.cancelReregister = nil
	}
}

// afterFunc is the Cluster's default timer for delayed re-registrations:
// Close waits for a callback that is running and stops the others.
func (c *Cluster) afterFunc(d time.Duration, f func()) (stop func() bool) {
	c.wg.Add(1) // safe: callers hold mu and checked closed
	t := time.AfterFunc(d, func() {
		defer c.wg.Done()
		f()
	})
	return func() bool {
		if t.Stop() {
			c.wg.Done()
			return true
		}
		return false
	}
}

// registerLocked (re-)registers an agent with the current leader through
// fault-injecting links.
func (c *Cluster) registerLocked(ca *clusterAgent) {
	c.cancelReregisterLocked(ca)
	if c.leader == nil {
		return
	}
	if ca.conn != nil {
		ca.conn.sever()
	}
	conn := &linkConn{faults: ca.faults}
	ca.master, ca.conn = c.leader, conn
	ca.agent.SetMaster(&faultyMasterLink{MasterLink: c.leader.master, conn: conn})
	c.leader.master.AddAgent(&faultyAgentLink{AgentLink: ca.agent, conn: conn})
}

// killMasterLocked stops a master: its candidacy ends (another master is
// elected), its HTTP listener and connections close, its state is gone.
// killMasterLocked stops a master. A crash leaves its ZooKeeper session to
// expire (the others wait the session timeout before one of them leads, as
// after a SIGKILL); otherwise the session is closed and its node goes at
// once.
func (c *Cluster) killMasterLocked(cm *clusterMaster, crash bool) {
	if cm.killed {
		return
	}
	cm.killed = true
	if cm.contender != nil {
		if crash {
			cm.contender.Crash()
		} else {
			cm.contender.Close()
		}
	}
	cm.server.Close()
	cm.master.Close()
	for _, ca := range c.agents {
		if ca.master == cm {
			ca.conn.sever()
			ca.master, ca.conn = nil, nil
		}
	}
	if c.leader == cm {
		c.leader = nil
		if c.zk == nil {
			// Without ZooKeeper the cluster itself elects the next live
			// master.
			for _, o := range c.masters {
				if !o.killed {
					c.electLocked(o)
					break
				}
			}
		}
	}
}

// Close stops every master, agent and goroutine of the cluster.
func (c *Cluster) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.stop)
	for _, ca := range c.agents {
		c.cancelReregisterLocked(ca)
	}
	masters, agents := c.masters, c.agents
	c.mu.Unlock()
	for _, cm := range masters {
		if cm.contender != nil {
			cm.contender.Close()
		}
		cm.server.Close()
		cm.master.Close()
	}
	for _, ca := range agents {
		ca.faults.close()
		if err := ca.agent.Close(); err != nil {
			c.log.Warn("closing agent", "agent", ca.agent.ID().Value, "err", err)
		}
	}
	c.wg.Wait()
}

// Recorder is where the cluster, its masters and its agents record.
func (c *Cluster) Recorder() *Recorder { return c.rec }

// Leader returns the leading master, or nil while none leads.
func (c *Cluster) Leader() *Master {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == nil {
		return nil
	}
	return c.leader.master
}

// LeaderURL is the leading master's base URL (http://127.0.0.1:port), or ""
// while none leads.
func (c *Cluster) LeaderURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == nil {
		return ""
	}
	return "http://" + c.leader.addr
}

// WaitLeader waits until some master leads, or ctx ends.
func (c *Cluster) WaitLeader(ctx context.Context) (*Master, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := c.Leader(); m != nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("emulator: wait for a leading master: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Masters returns every master, killed ones included, in creation order.
func (c *Cluster) Masters() []*Master {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Master, len(c.masters))
	for i, cm := range c.masters {
		out[i] = cm.master
	}
	return out
}

// MasterURLs returns every master's base URL (http://127.0.0.1:port), in
// creation order.
func (c *Cluster) MasterURLs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.masters))
	for i, cm := range c.masters {
		out[i] = "http://" + cm.addr
	}
	return out
}

// MasterAddr returns master i's host:port.
func (c *Cluster) MasterAddr(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.masters[i].addr
}

// MasterLeading reports whether master i is alive and leads.
func (c *Cluster) MasterLeading(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader == c.masters[i]
}

// Agents returns every agent in creation order.
func (c *Cluster) Agents() []*Agent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Agent, len(c.agents))
	for i, ca := range c.agents {
		out[i] = ca.agent
	}
	return out
}

// AgentZone returns the zone agent i was placed in ("" without zones).
func (c *Cluster) AgentZone(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.agents[i].zone
}

// ZK returns the ZooKeeper configuration the masters contend with (nil
// without ZooKeeper).
func (c *Cluster) ZK() *zkgroup.Config { return c.zk }
