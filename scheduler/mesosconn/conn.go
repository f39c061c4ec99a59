package mesosconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/client"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
)

// Event is what the connection hands the runtime: exactly one of
// Subscribed, Disconnected and Event is set.
type Event struct {
	// Gen is the subscription generation the event belongs to: 1 for the
	// first SUBSCRIBED, +1 for each later one.
	Gen uint64
	// Subscribed opens generation Gen.
	Subscribed *Subscribed
	// Disconnected closes generation Gen, with the reason.
	Disconnected error
	// Event is any other scheduler event of generation Gen (OFFERS,
	// RESCIND, UPDATE, MESSAGE, FAILURE, INVERSE_OFFERS, ...). HEARTBEAT is
	// consumed by the connection; ERROR ends the subscription (Disconnected
	// or Run's error).
	Event *scheduler.Event
}

// Subscribed describes a new subscription.
type Subscribed struct {
	FrameworkID       string
	Master            string // host:port of the master holding the subscription
	MasterInfo        mesos.MasterInfo
	HeartbeatInterval time.Duration
}

// Conn is a connection to the Mesos master. Create it with New, run it with
// Run; Call, Operator and Leader are safe for concurrent use.
type Conn struct {
	cfg       Config
	src       masterSource
	log       *slog.Logger
	sched, op *httpcli.Client
	transport *http.Transport
	events    chan Event
	started   atomic.Bool

	mu          sync.Mutex
	frameworkID string            // the ID to subscribe with ("" until known)
	gen         uint64            // generation of the latest subscription
	cur         *subscription     // nil when not subscribed
	hint        string            // master to try first (host:port)
	det         *zkgroup.Detector // the ZooKeeper detector while Run runs
}

// subscription is one SUBSCRIBE stream.
type subscription struct {
	gen         uint64
	master      string // host:port
	streamID    string
	frameworkID string
	heartbeat   time.Duration
	info        mesos.MasterInfo
	resp        mesos.Response
	started     time.Time

	ctx    context.Context // the stream's request; cancelled to end it
	cancel context.CancelCauseFunc
	once   sync.Once
	cause  error         // why it ended, set once
	done   chan struct{} // closed when its reader has returned
}

// New checks cfg and returns an idle connection; Run starts it.
func New(cfg Config) (*Conn, error) {
	cfg, src, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Conn{
		cfg:         cfg,
		src:         src,
		log:         cfg.Logger,
		events:      make(chan Event, cfg.EventBuffer),
		frameworkID: cfg.FrameworkID,
	}
	c.sched, c.op, c.transport = newHTTP(cfg)
	return c, nil
}

// Events is the queue of events, closed when Run returns.
func (c *Conn) Events() <-chan Event { return c.events }

// Leader is the master holding the subscription (host:port), else the last
// master known to lead, else "".
func (c *Conn) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil {
		return c.cur.master
	}
	return c.hint
}

// Run subscribes and keeps the subscription until ctx ends (then it returns
// nil, having closed the stream without TEARDOWN) or a fatal error
// (ErrFrameworkRemoved, ErrFailedOver, ErrUnauthorized, ErrSubscribeRefused).
// It returns once every goroutine it started has ended, closing Events.
func (c *Conn) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("mesosconn: Run called twice")
	}
	defer close(c.events)
	defer c.transport.CloseIdleConnections()
	d, err := c.startDiscovery(ctx)
	if err != nil {
		return nil // only ctx ends discovery's start
	}
	defer d.close()
	failures := 0
	for {
		leaders, changed := d.leaders()
		sub, err := c.subscribe(ctx, leaders)
		if err == nil {
			err = c.serve(ctx, d, sub, changed)
			if time.Since(sub.started) >= c.cfg.BackoffMax {
				failures = 0
			}
		}
		if ctx.Err() != nil {
			c.log.Info("Mesos connection stopped", "master", c.Leader())
			return nil
		}
		if fatal(err) {
			c.log.Error("Mesos connection cannot continue", "err", err)
			return err
		}
		if errors.Is(err, ErrLeaderChanged) {
			c.log.Info("following the new leading Mesos master", "reason", err)
			continue
		}
		failures++
		delay := c.backoff(failures)
		c.log.Warn("not subscribed to Mesos; retrying", "err", err, "in", delay, "attempt", failures)
		if !sleep(ctx, delay, changed) {
			return nil
		}
	}
}

func fatal(err error) bool {
	return errors.Is(err, ErrFrameworkRemoved) || errors.Is(err, ErrFailedOver) ||
		errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrSubscribeRefused)
}

// backoff is the wait before attempt failures+1: BackoffMin doubled per
// failure, capped at BackoffMax, with "equal jitter" (a uniform draw from
// the upper half) so that schedulers restarted together spread out.
func (c *Conn) backoff(failures int) time.Duration {
	d := c.cfg.BackoffMax
	if failures < 32 {
		if b := c.cfg.BackoffMin << (failures - 1); b > 0 && b < d {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or less when changed (a leader change) closes; false when
// ctx ended.
func sleep(ctx context.Context, d time.Duration, changed <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-changed:
	}
	return true
}

func (c *Conn) setHint(master string) {
	c.mu.Lock()
	c.hint = master
	c.mu.Unlock()
}

// subscribe tries the hinted master and then the discovered ones, following
// redirects, and returns the first subscription made.
func (c *Conn) subscribe(ctx context.Context, leaders []string) (*subscription, error) {
	c.mu.Lock()
	hint, fid := c.hint, c.frameworkID
	c.mu.Unlock()
	cands := append([]string{hint}, leaders...)
	tried := map[string]bool{"": true}
	var errs []error
	for i := 0; i < len(cands); i++ {
		m := cands[i]
		if tried[m] {
			continue
		}
		tried[m] = true
		sub, err := c.subscribeAt(ctx, m, fid)
		if err == nil {
			c.setHint(m)
			return sub, nil
		}
		if fatal(err) || ctx.Err() != nil {
			return nil, err
		}
		var r *redirectError
		if errors.As(err, &r) {
			if target, terr := redirectTarget(r.location); terr == nil && !tried[target] {
				c.log.Debug("SUBSCRIBE redirected", "from", m, "to", target)
				c.setHint(target)
				cands = append(cands[:i+1], append([]string{target}, cands[i+1:]...)...)
				continue
			}
		}
		if m == hint {
			// A dead hint must not cost every later attempt a dial
			// timeout: the discovered masters are tried first from now.
			c.mu.Lock()
			if c.hint == m {
				c.hint = ""
			}
			c.mu.Unlock()
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("mesosconn: SUBSCRIBE: %w: ZooKeeper names no leading master", ErrNoLeader)
	}
	return nil, fmt.Errorf("mesosconn: SUBSCRIBE: %w: %w", ErrNoLeader, errors.Join(errs...))
}

// subscribeAt sends SUBSCRIBE to master and reads the first event.
func (c *Conn) subscribeAt(ctx context.Context, master, fid string) (*subscription, error) {
	fi := c.cfg.Framework
	call := calls.Subscribe(&fi).With(calls.SubscribeTo(fid))
	streamCtx, cancel := context.WithCancelCause(ctx)
	resp, err := c.sched.Send(client.RequestSingleton(call), client.ResponseClassAuto,
		at(master, schedulerPath), httpcli.Close(true), httpcli.Context(streamCtx))
	if err != nil {
		cancel(nil)
		return nil, c.subscribeError(master, err)
	}
	fail := func(err error) (*subscription, error) {
		resp.Close()
		cancel(nil)
		return nil, err
	}
	hres, ok := resp.(*httpcli.Response)
	if !ok || hres.Decoder == nil {
		return fail(errors.New("SUBSCRIBE answered without an event stream"))
	}
	streamID := hres.Header.Get("Mesos-Stream-Id")
	if streamID == "" {
		return fail(errors.New("SUBSCRIBE answered without a Mesos-Stream-Id"))
	}
	// Mesos sends SUBSCRIBED (or ERROR) at once; a master that sends the
	// headers and nothing else is as good as down.
	errSilent := fmt.Errorf("%w: no SUBSCRIBED within %v", ErrHeartbeatLost, c.cfg.CallTimeout)
	t := time.AfterFunc(c.cfg.CallTimeout, func() { cancel(errSilent) })
	var ev scheduler.Event
	err = resp.Decode(&ev)
	t.Stop()
	if err != nil {
		if cause := context.Cause(streamCtx); cause == errSilent {
			err = cause
		}
		return fail(fmt.Errorf("reading SUBSCRIBED: %w", err))
	}
	switch ev.Type {
	case scheduler.Event_SUBSCRIBED:
	case scheduler.Event_ERROR:
		return fail(c.refusal(master, fid, ev.GetError().GetMessage()))
	default:
		return fail(fmt.Errorf("SUBSCRIBE stream began with %s, not SUBSCRIBED", ev.Type))
	}
	s := ev.Subscribed
	got := s.GetFrameworkID().GetValue()
	if got == "" || (fid != "" && got != fid) {
		return fail(fmt.Errorf("mesosconn: %w: SUBSCRIBE with framework ID %q to %s was answered for framework %q; "+
			"healer never uses a framework it did not ask for", ErrSubscribeRefused, fid, master, got))
	}
	hb := defaultHeartbeat
	if secs := s.GetHeartbeatIntervalSeconds(); secs > 0 {
		hb = time.Duration(secs * float64(time.Second))
	}
	sub := &subscription{
		master:      master,
		streamID:    streamID,
		frameworkID: got,
		heartbeat:   hb,
		resp:        resp,
		started:     time.Now(),
		ctx:         streamCtx,
		cancel:      cancel,
		done:        make(chan struct{}),
	}
	if s.MasterInfo != nil {
		sub.info = *s.MasterInfo
	}
	return sub, nil
}

// subscribeError classifies a failed SUBSCRIBE request: 401, and the 4xx
// that say the request itself is wrong (400 e.g. for a principal mismatch,
// 403, 406, 415), are fatal; redirects, 503, 404 (a master still setting up
// its routes, MESOS-7697) and network errors are for the caller to work
// around.
func (c *Conn) subscribeError(master string, err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		if e.Code == http.StatusUnauthorized {
			who := fmt.Sprintf("principal %q", c.cfg.Principal)
			if c.cfg.Principal == "" {
				who = "no credentials (the master requires authentication: set the principal and secret)"
			}
			return fmt.Errorf("mesosconn: %w: SUBSCRIBE to %s with %s: %w", ErrUnauthorized, master, who, err)
		}
		return fmt.Errorf("mesosconn: %w: SUBSCRIBE to %s: %w", ErrSubscribeRefused, master, err)
	}
	return err
}

// refusal is the error for an ERROR event answering SUBSCRIBE.
func (c *Conn) refusal(master, fid, msg string) error {
	if msg == "Framework has been removed" {
		store := c.cfg.FrameworkIDStore
		if store == "" {
			store = "healer's framework ID znode under its ZooKeeper chroot"
		}
		return fmt.Errorf("mesosconn: %w: the Mesos master at %s refused framework ID %s (%q): its failover timeout expired "+
			"while no scheduler was connected, or it was torn down, and its tasks are gone. healer does not register a new "+
			"framework on its own. To start over, delete %s; healer will then register a new framework (the old one's "+
			"tasks cannot be recovered)", ErrFrameworkRemoved, master, fid, msg, store)
	}
	return fmt.Errorf("mesosconn: %w: the Mesos master at %s answered SUBSCRIBE with ERROR %q; fix the framework's configuration",
		ErrSubscribeRefused, master, msg)
}

// endSub ends a subscription once, for cause: it is no longer current, so
// calls stop using it at once, and its stream is cancelled, which ends its
// reader.
func (c *Conn) endSub(sub *subscription, cause error) {
	sub.once.Do(func() {
		sub.cause = cause
		c.mu.Lock()
		if c.cur == sub {
			c.cur = nil
		}
		c.mu.Unlock()
		sub.cancel(cause)
	})
}

// serve runs a subscription until it ends: its reader delivers its events;
// serve watches ctx and leader changes, then delivers Disconnected and
// returns why the subscription ended.
func (c *Conn) serve(ctx context.Context, d discovery, sub *subscription, changed <-chan struct{}) error {
	c.mu.Lock()
	c.gen++
	sub.gen = c.gen
	c.frameworkID = sub.frameworkID
	c.cur = sub
	c.mu.Unlock()
	c.log.Info("subscribed to Mesos", "master", sub.master, "framework_id", sub.frameworkID, "gen", sub.gen,
		"heartbeat", sub.heartbeat)
	var wg sync.WaitGroup
	wg.Go(func() { c.read(sub) })
	for running := true; running; {
		select {
		case <-sub.done:
			running = false
		case <-ctx.Done():
			c.endSub(sub, context.Cause(ctx))
			running = false
		case <-changed:
			var leaders []string
			leaders, changed = d.leaders()
			if len(leaders) > 0 && leaders[0] != sub.master {
				c.setHint(leaders[0])
				c.endSub(sub, fmt.Errorf("%w: ZooKeeper names %s, not %s", ErrLeaderChanged, leaders[0], sub.master))
			}
		}
	}
	wg.Wait()
	reason := sub.cause
	if ctx.Err() != nil {
		return reason
	}
	c.log.Warn("Mesos subscription ended", "master", sub.master, "gen", sub.gen, "reason", reason)
	select {
	case c.events <- Event{Gen: sub.gen, Disconnected: reason}:
	case <-ctx.Done():
	}
	return reason
}

// read delivers a subscription's events until its stream ends, with a
// watchdog that ends it after HeartbeatMisses silent heartbeat intervals.
func (c *Conn) read(sub *subscription) {
	defer close(sub.done)
	defer sub.resp.Close()
	timeout := sub.heartbeat * time.Duration(c.cfg.HeartbeatMisses)
	if err := c.deliverSubscribed(sub, timeout); err != nil {
		c.endSub(sub, err)
		return
	}
	watchdog := time.AfterFunc(timeout, func() {
		c.endSub(sub, fmt.Errorf("%w: no event for %v (%d heartbeat intervals of %v)",
			ErrHeartbeatLost, timeout, c.cfg.HeartbeatMisses, sub.heartbeat))
	})
	defer watchdog.Stop()
	c.endSub(sub, c.stream(sub, func() { watchdog.Reset(timeout) }, func() { watchdog.Stop() }, timeout))
}

// deliverSubscribed queues the Subscribed event. Unlike stream events it
// waits for room, though no longer than the watchdog would let the stream
// stay unread.
func (c *Conn) deliverSubscribed(sub *subscription, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case c.events <- Event{Gen: sub.gen, Subscribed: &Subscribed{
		FrameworkID: sub.frameworkID, Master: sub.master, MasterInfo: sub.info, HeartbeatInterval: sub.heartbeat,
	}}:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: SUBSCRIBED waited %v for room", ErrEventOverflow, timeout)
	case <-sub.ctx.Done():
		return context.Cause(sub.ctx)
	}
}

// stream delivers the stream's events and returns why it stopped. When the
// queue is full it waits for room up to wait (the watchdog paused: the
// stream is not silent, only unread), then gives the subscription up.
func (c *Conn) stream(sub *subscription, alive, pause func(), wait time.Duration) error {
	for {
		var ev scheduler.Event
		if err := sub.resp.Decode(&ev); err != nil {
			if cause := context.Cause(sub.ctx); cause != nil {
				return cause
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: %s closed it", ErrStreamEnded, sub.master)
			}
			return fmt.Errorf("%w: reading from %s: %w", ErrStreamEnded, sub.master, err)
		}
		alive()
		switch ev.Type {
		case scheduler.Event_HEARTBEAT:
			continue
		case scheduler.Event_ERROR:
			msg := ev.GetError().GetMessage()
			if msg == "Framework failed over" {
				return fmt.Errorf("mesosconn: %w: the Mesos master at %s ended the subscription of framework %s with "+
					"ERROR %q: another scheduler subscribed with the same ID. This instance gives the subscription up "+
					"rather than take it back (two instances resubscribing would steal it from each other in a loop); "+
					"only the elected leader may subscribe", ErrFailedOver, sub.master, sub.frameworkID, msg)
			}
			return fmt.Errorf("%w: %s sent ERROR %q", ErrStreamEnded, sub.master, msg)
		}
		e := Event{Gen: sub.gen, Event: &ev}
		select {
		case c.events <- e:
			continue
		default:
		}
		// The runtime is behind: the answers of a reconciliation (one per
		// task: 35,000 with a monitor on every agent of a large cluster)
		// or a storm of reports come in one burst. Dropping the
		// subscription at once would bring the same burst again, as the
		// runtime reconciles after every SUBSCRIBED: a large cluster would
		// never finish reconciling (the scale run found healer Immutable
		// for good). So wait for room as long as the watchdog would let
		// the stream stay unread; a runtime still stuck then is given up
		// on, rather than leave the master to buffer without bound
		// (MESOS-7748).
		pause()
		t := time.NewTimer(wait)
		select {
		case c.events <- e:
			t.Stop()
			alive()
		case <-t.C:
			return fmt.Errorf("%w (%d events queued, none taken for %v); resubscribing, after which the runtime must reconcile",
				ErrEventOverflow, cap(c.events), wait)
		case <-sub.ctx.Done():
			t.Stop()
			return context.Cause(sub.ctx)
		}
	}
}
