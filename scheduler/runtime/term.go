package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
	"github.com/healer-mesos/healer/scheduler/store"
)

// maxBatch bounds how many inputs one loop iteration steps before it
// persists: a burst of signals or status updates shares one store write
// (group commit) without making any of them wait long.
const maxBatch = 256

// inboxSize bounds the results workers hand back to the loop.
const inboxSize = 1024

// term is one leadership term: the loop's state. Every field is owned by
// the loop goroutine, except those documented otherwise.
type term struct {
	rt    *Runtime
	cfg   *Config
	log   *slog.Logger
	ctx   context.Context
	store store.Store
	coord *coordinator.Coordinator
	m     Master

	// fwID is the framework id, "" until the first SUBSCRIBED of a new
	// framework.
	fwID string
	// subscribed and gen describe the current subscription.
	subscribed bool
	gen        uint64
	// suspended: the ZooKeeper connection dropped; nothing may be done.
	suspended bool
	// immutable is the coordinator's Immutable as of the last flush.
	immutable bool
	// gate is closed while suspended; workers wait on it before acting.
	gate *gate

	batch batch
	// inbox carries closures from workers, run on the loop goroutine.
	inbox chan func()
	// requests carries admin requests.
	requests chan request

	calls *callQueue
	ops   *opQueue
	wg    sync.WaitGroup

	tasks    map[string]*task
	launches map[launchKey]*launch
	runs     map[launchKey]*masterRun
	recon    reconciliation
	offers   offerState
	agents   inventory
	monitors monitorState
	drains   map[launchKey]*drain
	// drainRetries are drain windows to try opening again.
	drainRetries []drainRetry
	// executors are the ExecutorInfos healer's executor runs with, by
	// agent, while it runs, for agents without a monitor (which holds
	// it otherwise: setExecutor): shared copies from executorInfos, which
	// holds one of each distinct ExecutorInfo (by executor id), since
	// nearly every agent runs the same one.
	executors     map[string]*mesos.ExecutorInfo
	executorInfos map[string]*mesos.ExecutorInfo
	// retries are operator actions to try again.
	retries []opRetry
	// audit merges repeated refusals (audit.go).
	audit auditState
}

// runTerm runs one leadership term until ctx ends (nil) or the term can
// no longer trust its state (an error: the caller rebuilds from the store).
func (r *Runtime) runTerm(ctx context.Context, lt *Term, suspend <-chan bool) (err error) {
	cfg := &r.cfg
	snap, err := lt.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	fwID := ""
	switch {
	case snap.Framework != nil:
		fwID = snap.Framework.ID
	case len(snap.Agents) > 0 || snap.Global != (coordinator.GlobalRecord{}):
		// Never a fresh start over existing state: that would register a
		// second framework beside the first (Marathon #1063, #2224).
		return fmt.Errorf("%w: the store holds %d agent records but no framework id; "+
			"refusing to register a new framework over existing state (restore the framework "+
			"znode, or delete healer's ZooKeeper state to start over)", ErrCorruptState, len(snap.Agents))
	}
	coord, err := coordinator.Restore(cfg.Policy, snap.Agents, snap.Global)
	if err != nil {
		return fmt.Errorf("rebuild coordinator: %w", err)
	}
	m, err := cfg.NewMaster(fwID)
	if err != nil {
		return fmt.Errorf("master connection: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &term{
		rt: r, cfg: cfg, log: r.log, ctx: ctx, store: lt.Store, coord: coord, m: m, fwID: fwID,
		gate:      newGate(),
		inbox:     make(chan func(), inboxSize),
		requests:  make(chan request, requestQueue),
		tasks:     make(map[string]*task),
		launches:  make(map[launchKey]*launch),
		runs:      make(map[launchKey]*masterRun),
		drains:    make(map[launchKey]*drain),
		executors: make(map[string]*mesos.ExecutorInfo), executorInfos: make(map[string]*mesos.ExecutorInfo),
	}
	t.agents.init(snap.Agents)
	t.monitors.init(cfg.Monitor, t.agents.ids(), t.now())
	t.calls = newCallQueue(t)
	t.ops = newOpQueue(t)
	cfg.Metrics.loaded(snap.Stats, len(snap.Agents))

	masterErr := make(chan error, 1)
	t.wg.Add(3)
	go func() { defer t.wg.Done(); masterErr <- m.Run(ctx) }()
	go func() { defer t.wg.Done(); t.calls.run(ctx) }()
	go func() { defer t.wg.Done(); t.ops.run(ctx) }()
	defer func() {
		cancel()
		t.wg.Wait()
	}()

	r.setTerm(t)
	defer r.setTerm(nil)
	cfg.Metrics.isLeader.Set(1)
	defer cfg.Metrics.isLeader.Set(0)
	// A term starts with its session up (it was just elected on it).
	cfg.Metrics.zkConnected.Set(1)
	defer cfg.Metrics.zkConnected.Set(0)
	r.log.Info("leading: state loaded", "agents", len(snap.Agents), "framework_id", fwID,
		"znodes", snap.Stats.Znodes, "bytes", snap.Stats.Bytes, "load_took", snap.Stats.Took)
	defer func() {
		if p := recover(); p != nil {
			// A half-applied Step is not trusted: the next term rebuilds.
			err = fmt.Errorf("panic in the event loop: %v\n%s", p, debug.Stack())
		}
	}()
	return t.loop(ctx, suspend, masterErr)
}

// ErrCorruptState: what the store holds cannot be what healer wrote.
var ErrCorruptState = errors.New("inconsistent stored state")

func (t *term) now() time.Time { return t.cfg.Clock.Now() }

func (t *term) loop(ctx context.Context, suspend <-chan bool, masterErr <-chan error) error {
	tick := t.cfg.Clock.NewTicker(t.cfg.TickInterval)
	defer tick.Stop()
	t.step(coordinator.Connectivity{At: t.now(), Change: coordinator.ZKSessionUp})
	if err := t.flush(); err != nil {
		return err
	}
	events := t.m.Events()
	for {
		// While suspended only leadership, reads and the end are served:
		// everything else waits in its channel.
		ev, req, inbox, ticks := events, t.requests, t.inbox, tick.C()
		if t.suspended {
			ev, inbox, ticks = nil, nil, nil
		}
		var err error
		select {
		case <-ctx.Done():
			return nil
		case err = <-masterErr:
			if err == nil {
				err = errors.New("master connection ended")
			}
			return err
		case s := <-suspend:
			t.onSuspend(s)
		case e, ok := <-ev:
			if !ok {
				// The connection ended; its error follows on masterErr.
				events = nil
				continue
			}
			err = t.onMaster(e)
		case q := <-req:
			t.serve(q)
		case f := <-inbox:
			f()
		case now := <-ticks:
			t.onTick(now)
		}
		for i := 0; err == nil && i < maxBatch && !t.suspended; i++ {
			select {
			case e, ok := <-ev:
				if !ok {
					events, ev = nil, nil
					continue
				}
				err = t.onMaster(e)
				continue
			case q := <-req:
				t.serve(q)
				continue
			case f := <-inbox:
				f()
				continue
			default:
			}
			break
		}
		if err != nil {
			return err
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
}

// post hands f to the loop from a worker; false when the term ended.
func (t *term) post(f func()) bool {
	select {
	case t.inbox <- f:
		return true
	case <-t.ctx.Done():
		return false
	}
}

func (t *term) onSuspend(s bool) {
	if s == t.suspended {
		return
	}
	t.suspended = s
	if s {
		t.gate.close()
		t.log.Warn("ZooKeeper connection lost while leading: acting on nothing until the session is back")
		t.step(coordinator.Connectivity{At: t.now(), Change: coordinator.ZKSessionDown})
		t.cfg.Metrics.zkConnected.Set(0)
		return
	}
	t.log.Info("ZooKeeper session is back: leadership holds")
	t.gate.open()
	t.cfg.Metrics.zkConnected.Set(1)
	t.step(coordinator.Connectivity{At: t.now(), Change: coordinator.ZKSessionUp})
}

// step feeds one event to the coordinator and queues its Ready for the
// next flush.
func (t *term) step(ev coordinator.Event) (coordinator.Ready, error) {
	rd, err := t.coord.Step(ev)
	t.batch.add(rd)
	return rd, err
}

// flush persists the batch, then acts on it, then logs it: the
// write-ahead order. A failed write ends the term: nothing of the batch is
// acted on, and the coordinator, which has already applied it, is
// discarded.
func (t *term) flush() error {
	b := &t.batch
	defer b.reset()
	if !b.persistEmpty() || len(b.audit) > 0 {
		start := time.Now()
		err := t.save(b)
		t.cfg.Metrics.ObserveStore("save", time.Since(start), err)
		if err != nil {
			err = fmt.Errorf("persist: %w", err)
			for _, f := range b.after {
				f(err)
			}
			return err
		}
	}
	for _, id := range b.deleted {
		t.agents.deleted(id)
	}
	for _, a := range b.actions {
		t.act(a)
	}
	if imm := t.coord.Immutable().Immutable; imm != t.immutable {
		t.immutable = imm
		if imm {
			t.dropWaits()
		}
	}
	for _, d := range b.decisions {
		t.logDecision(d)
	}
	for _, f := range b.after {
		f(nil)
	}
	t.afterFlush()
	return nil
}

// afterFlush runs what depends on the state after a batch: offer interest
// and reconciliation progress.
func (t *term) afterFlush() {
	t.updateInterest()
}

func (t *term) logDecision(d coordinator.Decision) {
	t.observeDecision(d)
	level := slog.LevelInfo
	switch d.Kind {
	case coordinator.DecRejected, coordinator.DecBreakerTripped, coordinator.DecIsolated, coordinator.DecStepFailed:
		level = slog.LevelWarn
	case coordinator.DecAttached, coordinator.DecHeld:
		level = slog.LevelDebug
	}
	t.log.Log(t.ctx, level, "decision: "+d.String())
}

// batch accumulates the Readys of one loop iteration. Later records of an
// agent replace earlier ones; a deletion cancels an earlier write of the
// same id and a write cancels an earlier deletion.
type batch struct {
	agents    []coordinator.AgentRecord
	index     map[coordinator.AgentID]int
	deleted   []coordinator.AgentID
	global    *coordinator.GlobalRecord
	actions   []coordinator.Action
	decisions []coordinator.Decision
	// after run once the batch is persisted (err nil) or failed: admin
	// replies, acknowledgements.
	after []func(err error)
	// audit are audit trail entries, stored with the batch (audit.go).
	audit []store.AuditEntry
}

func (b *batch) add(rd coordinator.Ready) {
	if b.index == nil {
		b.index = make(map[coordinator.AgentID]int)
	}
	for _, id := range rd.Persist.Deleted {
		if i, ok := b.index[id]; ok {
			b.agents[i] = coordinator.AgentRecord{}
			delete(b.index, id)
		}
		b.deleted = append(b.deleted, id)
	}
	for _, r := range rd.Persist.Agents {
		if i, ok := b.index[r.ID]; ok {
			b.agents[i] = r
			continue
		}
		for j, id := range b.deleted {
			if id == r.ID {
				b.deleted = append(b.deleted[:j], b.deleted[j+1:]...)
				break
			}
		}
		b.index[r.ID] = len(b.agents)
		b.agents = append(b.agents, r)
	}
	if g := rd.Persist.Global; g != nil {
		gc := *g
		b.global = &gc
	}
	b.actions = append(b.actions, rd.Actions...)
	b.decisions = append(b.decisions, rd.Decisions...)
}

func (b *batch) persistEmpty() bool {
	return len(b.index) == 0 && len(b.deleted) == 0 && b.global == nil
}

func (b *batch) persist() coordinator.Persist {
	p := coordinator.Persist{Deleted: b.deleted, Global: b.global}
	for _, r := range b.agents {
		if r.ID != "" {
			p.Agents = append(p.Agents, r)
		}
	}
	return p
}

// batchKeep bounds what a batch keeps allocated between flushes. One
// large batch (35,000 agents added at the first agent list, a storm) must
// not pin its arrays, about a kilobyte per record, for the rest of the
// term: the scale run found 38 MB held that way.
const batchKeep = 1024

func (b *batch) reset() {
	if cap(b.agents) > batchKeep || cap(b.decisions) > batchKeep || cap(b.actions) > batchKeep {
		*b = batch{}
		return
	}
	b.agents = b.agents[:0]
	clear(b.index)
	b.deleted = b.deleted[:0]
	b.global = nil
	b.actions = b.actions[:0]
	b.decisions = b.decisions[:0]
	b.after = b.after[:0]
	b.audit = b.audit[:0]
}

// onMaster handles one event from the master connection. An error ends the
// term.
func (t *term) onMaster(e mesosconn.Event) error {
	switch {
	case e.Subscribed != nil:
		return t.onSubscribed(e.Gen, e.Subscribed)
	case e.Disconnected != nil:
		t.onDisconnected(e.Disconnected)
	case e.Event != nil:
		t.onEvent(e.Event)
	}
	return nil
}

func (t *term) onTick(now time.Time) {
	t.step(coordinator.Tick{At: now})
	t.agents.tick(t, now)
	t.recon.tick(t, now)
	t.tickDrains(now)
	t.monitors.tick(t, now)
	t.tickRetries(now)
	t.cfg.Metrics.status(t.coord.Status(), t.subscribed)
}

// gate blocks workers while the ZooKeeper session is suspended.
type gate struct {
	mu     sync.Mutex
	ch     chan struct{} // closed while the gate is open
	isOpen bool
}

func newGate() *gate {
	g := &gate{ch: make(chan struct{}), isOpen: true}
	close(g.ch)
	return g
}

func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.isOpen {
		g.isOpen = false
		g.ch = make(chan struct{})
	}
}

func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.isOpen {
		g.isOpen = true
		close(g.ch)
	}
}

// wait returns once the gate is open, or ctx's error.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
