package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
	"github.com/healer-mesos/healer/scheduler/store"
)

// Master is the runtime's view of one Mesos subscription
// (scheduler/mesosconn.Conn).
type Master interface {
	Run(ctx context.Context) error
	Events() <-chan mesosconn.Event
	Call(ctx context.Context, call *scheduler.Call) error
	Operator(ctx context.Context, call *master.Call) (*master.Response, error)
	// OperatorInto is Operator decoding the answer into out, a message
	// mirroring master.Response with only the fields the caller reads.
	OperatorInto(ctx context.Context, call *master.Call, out proto.Message) error
}

// MasterFactory makes the master connection of a term, subscribing with
// frameworkID ("" registers a new framework: only when the store holds
// none).
type MasterFactory func(frameworkID string) (Master, error)

// LeadershipKind says what changed about this instance's leadership.
type LeadershipKind uint8

const (
	// Elected: this instance leads; Term carries the term's context and
	// its fenced store.
	Elected LeadershipKind = iota + 1
	// Suspended: the ZooKeeper connection dropped while leading; the
	// session may already be gone, so nothing may be done until Resumed.
	Suspended
	// Resumed: the same session came back; leadership holds.
	Resumed
	// Deposed: leadership is lost (session expired, member node gone).
	Deposed
)

// Leadership is one change of this instance's leadership.
type Leadership struct {
	Kind LeadershipKind
	Term *Term
}

// Term is one leadership term.
type Term struct {
	// Ctx ends when the term's leadership is lost.
	Ctx context.Context
	// Store is fenced on the term's election node: a write after the node
	// is gone fails with store.ErrFenced.
	Store store.Store
}

// Clock is the runtime's time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is a Clock's ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTicker returns a time.Ticker.
func (SystemClock) NewTicker(d time.Duration) Ticker { return sysTicker{time.NewTicker(d)} }

type sysTicker struct{ t *time.Ticker }

func (t sysTicker) C() <-chan time.Time { return t.t.C }
func (t sysTicker) Stop()               { t.t.Stop() }

// Config is what a Runtime needs. Zero durations take the defaults in
// Defaults.
type Config struct {
	Policy coordinator.Policy
	// Commands maps a repair id (--repair_set) to its command.
	Commands map[string]string
	// Framework is the FrameworkInfo healer registers with (no id: the
	// runtime adds the stored one).
	Framework mesos.FrameworkInfo
	// ExecutorURI is where agents fetch healer-executor.
	ExecutorURI string
	// TaskCPUs and TaskMemMB are a repair task's resources; ExecutorCPUs
	// and ExecutorMemMB the executor's own.
	TaskCPUs, TaskMemMB         float64
	ExecutorCPUs, ExecutorMemMB float64
	// Monitor, when set, is the monitor configuration: the leader keeps
	// one monitor task on every agent that offers.
	Monitor *healerpb.MonitorConfig

	// TickInterval is how often the coordinator gets a Tick.
	TickInterval time.Duration
	// ReconcileInterval is how often a periodic reconciliation runs.
	ReconcileInterval time.Duration
	// AgentRefresh is how often the agent list is read from the master.
	AgentRefresh time.Duration
	// AgentRemovalGrace is how long an agent healer knows may be missing
	// from the master's agent list before it is taken as removed (an
	// unreachable agent is missing too, and may come back).
	AgentRemovalGrace time.Duration
	// DeclineFor is the refusal filter on offers healer does not need.
	DeclineFor time.Duration
	// KillGrace is the SIGTERM → SIGKILL grace of master-scope steps, and
	// the kill grace period asked of agents.
	KillGrace time.Duration
	// DrainPoll is how often a draining agent is checked for other
	// frameworks' tasks.
	DrainPoll time.Duration

	NewMaster MasterFactory
	Clock     Clock
	Logger    *slog.Logger
	Metrics   *Metrics
	// LeaderURL returns the current leader's admin URL ("" when unknown),
	// for standbys' redirects and /status; Self is this instance's.
	LeaderURL func() string
	Self      string
	// Standby reads the stored state for a standby's reads; nil when there
	// is no shared store (the in-memory store has no standbys).
	Standby func(ctx context.Context) (store.Snapshot, error)
	// StandbyAudit reads the audit trail's newest entries for a standby's
	// GET /audit; nil without a shared store.
	StandbyAudit func(ctx context.Context, limit int) ([]store.AuditEntry, error)
}

// Defaults fills zero settings with their defaults.
func (c *Config) Defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.TickInterval, time.Second)
	def(&c.ReconcileInterval, 15*time.Minute)
	def(&c.AgentRefresh, time.Minute)
	def(&c.AgentRemovalGrace, 10*time.Minute)
	def(&c.DeclineFor, time.Hour)
	def(&c.KillGrace, 10*time.Second)
	def(&c.DrainPoll, 2*time.Second)
	if c.ExecutorCPUs == 0 {
		c.ExecutorCPUs = 0.05
	}
	if c.ExecutorMemMB == 0 {
		c.ExecutorMemMB = 32
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.LeaderURL == nil {
		c.LeaderURL = func() string { return "" }
	}
}

// Runtime runs terms as leadership comes and goes.
type Runtime struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// cur is the running term, nil while standing by.
	cur *term
	// fwID is the framework id, once known.
	fwID string
	// standby caches the standby's view of the store.
	standby standbyCache
}

// New checks cfg and returns a Runtime.
func New(cfg Config) (*Runtime, error) {
	cfg.Defaults()
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if cfg.NewMaster == nil {
		return nil, errors.New("runtime: no master connection factory")
	}
	if cfg.Framework.FailoverTimeout == nil || *cfg.Framework.FailoverTimeout <= 0 {
		// Without a failover timeout Mesos tears the framework down the
		// moment its connection drops (mesos-go pitfall 5).
		return nil, errors.New("runtime: the framework needs a failover timeout")
	}
	return &Runtime{cfg: cfg, log: cfg.Logger}, nil
}

// ErrFrameworkRemoved is returned by Run when the master no longer knows
// healer's framework: healer stops rather than register a new one.
var ErrFrameworkRemoved = mesosconn.ErrFrameworkRemoved

// Run consumes leadership changes until ctx ends or a term fails in a way
// healer must not paper over (the framework was removed). Each Elected
// starts a term; a term that ends on its own while still leading (a failed
// store write, a panic) is restarted from the store after a capped backoff.
func (r *Runtime) Run(ctx context.Context, leadership <-chan Leadership) error {
	var (
		cur     *runningTerm
		retry   *Term // a failed term to restart, while still leading
		timer   *time.Timer
		backoff = newBackoff(500*time.Millisecond, 15*time.Second)
		// suspended: the elector says the session is in doubt; no term
		// starts until it is back.
		suspended bool
	)
	stopTimer := func() {
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		retry = nil
	}
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stop()
	defer stopTimer()
	start := func(t *Term) {
		rt := &runningTerm{term: t, done: make(chan struct{}), suspend: make(chan bool, 1)}
		var tctx context.Context
		tctx, rt.cancel = context.WithCancel(t.Ctx)
		cur = rt
		go func() {
			defer close(rt.done)
			rt.err = r.runTerm(tctx, t, rt.suspend)
		}()
	}
	for {
		var done chan struct{}
		if cur != nil {
			done = cur.done
		}
		var fire <-chan time.Time
		if timer != nil {
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-leadership:
			if !ok {
				return nil
			}
			switch l.Kind {
			case Elected:
				stop()
				stopTimer()
				suspended = false
				backoff.reset()
				start(l.Term)
			case Suspended, Resumed:
				suspended = l.Kind == Suspended
				if !suspended && cur == nil && retry != nil && timer == nil && retry.Ctx.Err() == nil {
					t := retry
					retry = nil
					start(t)
				}
				if cur != nil {
					// Only the latest state matters: replace an unread one.
					select {
					case <-cur.suspend:
					default:
					}
					cur.suspend <- l.Kind == Suspended
				}
			case Deposed:
				stop()
				stopTimer()
			}
		case <-done:
			err, t := cur.err, cur.term
			cur = nil
			switch {
			case errors.Is(err, ErrFrameworkRemoved):
				return err
			case t.Ctx.Err() != nil:
				continue // leadership ended; the elector says so too
			case errors.Is(err, mesosconn.ErrFailedOver):
				// Another scheduler subscribed with healer's framework id:
				// most likely the new leader while this one has not yet
				// learnt it was deposed. Subscribing again would steal the
				// subscription back and forth (etcd-mesos #122); wait to be
				// elected again instead.
				r.log.Error("another scheduler took over healer's framework; not resubscribing until elected again", "err", err)
				continue
			}
			d := backoff.next()
			r.log.Error("leadership term failed; rebuilding from the store", "err", err, "retry_in", d)
			retry, timer = t, time.NewTimer(d)
		case <-fire:
			t := retry
			timer = nil
			switch {
			case t.Ctx.Err() != nil:
				retry = nil
			case suspended:
				// Restarted when the session is back (Resumed).
			default:
				retry = nil
				start(t)
			}
		}
	}
}

type runningTerm struct {
	term    *Term
	cancel  context.CancelFunc
	done    chan struct{}
	suspend chan bool
	err     error
}
