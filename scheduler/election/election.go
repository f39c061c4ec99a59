// Package election elects one leader among healer-scheduler instances
// through ZooKeeper (DESIGN.md, "The scheduler": only the leader subscribes
// and acts; standbys serve reads and redirect mutations to the leader).
//
// # Protocol
//
// Each instance's Elector owns one ZooKeeper session at a time and, in it,
// one member node: an ephemeral sequential znode <chroot>/leader/member-
// <guid>-<sequence> whose data is the instance's Member as JSON (so
// standbys can send clients to the leader's admin URL). The member with the
// lowest sequence number leads. Each standby watches only its predecessor
// (the next lower member), so a member leaving wakes one instance, not all
// (no herd effect); standbys also watch the leader's node to learn who
// leads, which costs them one read per change of leader.
//
// The leader's member node is also its fence: every state write is a
// multi-op that checks the node still exists (scheduler/store), so a leader
// whose session expired cannot write.
//
// # Events
//
// The runtime follows the election through Events:
//
//   - Elected{Term}: this instance leads. Term.Ctx lives as long as the
//     term; Term.Node is the fence node for the store; Term.Conn the
//     session's connection. Only now may the runtime read the framework
//     ID (Marathon #1063: a standby must never register a framework).
//   - Suspended{Term}: the connection to ZooKeeper dropped while leading.
//     The session may already be gone, so the runtime must stop acting at
//     once (no launch, no operator call) until Resumed.
//   - Resumed{Term}: the same session came back: the term goes on.
//   - Deposed{Term}: the term is over: the session expired (as seen on
//     reconnect, or the connection stayed down for the whole session
//     timeout), the member node vanished, or Run is ending. Term.Ctx is
//     cancelled before the event is sent. The Elector then rejoins as a
//     standby with a new session and a new member node, and campaigns
//     again.
//   - LeaderChanged: a standby learned who leads now (Event.Leader).
//
// Every event carries the leader as this instance sees it after the event.
//
// Events never block the ZooKeeper side: the channel holds one event, and
// an event sent while the previous one is unread replaces it (the latest
// state is what matters), except that a LeaderChanged only updates the
// unread event's Leader and a Resumed leaves an unread Elected of its term
// as it is. A slow consumer must therefore read each event as the current
// state, not as a transition: Elected or Resumed means lead ev.Term
// (starting it if it is not the term being run); Suspended means stop
// acting (and do not start ev.Term yet if it is new); Deposed or
// LeaderChanged means do not lead (end the term being run, if any). A
// term's end is also always visible at once through its Ctx.
//
// # Shutdown
//
// When Run's context is cancelled, the Elector cancels the term, deletes
// its member node at once (so a standby takes over without waiting for the
// session timeout), closes the session, closes the Events channel and
// returns nil. It never touches the Mesos framework: a clean shutdown is
// not a teardown.
package election

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/healer-mesos/healer/internal/zkurl"
)

// Dir is the directory of the member nodes under the chroot.
const Dir = "leader"

// memberPrefix starts every member node's name; a random guid follows, so
// that a create whose answer was lost can find its node, then '-' and the
// sequence number ZooKeeper appends.
const memberPrefix = "member-"

// Member describes one scheduler instance, stored as its member node's
// data.
type Member struct {
	ID        string    `json:"id"`
	AdminURL  string    `json:"admin_url"`
	Hostname  string    `json:"hostname"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
}

// Credentials are ZooKeeper digest credentials (from the zk:// URL).
type Credentials struct {
	User, Password string
}

// Config configures an Elector.
type Config struct {
	// Servers are the ZooKeeper servers, host:port.
	Servers []string
	// Chroot is healer's directory, e.g. /healer; members live under
	// Chroot/leader.
	Chroot string
	// SessionTimeout is the ZooKeeper session timeout: how long a leader
	// that lost its connection keeps its node (and a standby waits to take
	// over after a crash).
	SessionTimeout time.Duration
	// Auth, if set, is added to every session (digest scheme).
	Auth *Credentials
	// ACL is given to the nodes the Elector creates (the chroot and its
	// parents if missing, the leader directory, member nodes). Nil means
	// creator-all for Auth's digest identity when Auth is set, and
	// world-all otherwise.
	ACL []zk.ACL
	// Self is this instance.
	Self Member
	// Logger receives the Elector's log lines; nil discards them.
	Logger *slog.Logger
}

// EventKind says what changed.
type EventKind uint8

const (
	Elected EventKind = iota + 1
	Suspended
	Resumed
	Deposed
	LeaderChanged
)

var kindNames = [...]string{"", "elected", "suspended", "resumed", "deposed", "leader-changed"}

func (k EventKind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return "event?"
}

// Event is a change in this instance's view of the election.
type Event struct {
	Kind EventKind
	// Term is the term concerned, for Elected, Suspended, Resumed and
	// Deposed.
	Term Term
	// Leader is the leader as this instance sees it after the event;
	// HasLeader is false while it does not know of one.
	Leader    Member
	HasLeader bool
}

// Term is one leadership term: one session, one member node.
type Term struct {
	// Ctx is cancelled when the term ends (Deposed), before the event is
	// sent.
	Ctx context.Context
	// Node is the member node's path: the fence for store writes.
	Node string
	// Session is the ZooKeeper session id.
	Session int64
	// Conn is the session's connection, for the store. It is closed when
	// the term ends.
	Conn *zk.Conn
}

// Elector campaigns for leadership on behalf of one instance.
type Elector struct {
	cfg    Config
	log    *slog.Logger
	dir    string
	data   []byte
	acl    []zk.ACL
	events chan Event
	ran    atomic.Bool

	mu        sync.Mutex
	leader    Member
	hasLeader bool
	conn      *zk.Conn
}

// New checks cfg and returns an Elector; Run starts it.
func New(cfg Config) (*Elector, error) {
	switch {
	case len(cfg.Servers) == 0:
		return nil, errors.New("election: no ZooKeeper servers")
	case cfg.SessionTimeout <= 0:
		return nil, errors.New("election: the session timeout must be positive")
	case !strings.HasPrefix(cfg.Chroot, "/") || cfg.Chroot == "/" || strings.HasSuffix(cfg.Chroot, "/") || strings.Contains(cfg.Chroot, "//"):
		return nil, fmt.Errorf("election: chroot %q: want an absolute path such as /healer", cfg.Chroot)
	case cfg.Auth != nil && (cfg.Auth.User == "" || cfg.Auth.Password == ""):
		return nil, errors.New("election: credentials need a user and a password")
	}
	data, err := json.Marshal(cfg.Self)
	if err != nil {
		return nil, fmt.Errorf("election: encode member: %w", err)
	}
	acl := cfg.ACL
	if len(acl) == 0 {
		acl = zk.WorldACL(zk.PermAll)
		if cfg.Auth != nil {
			acl = zk.DigestACL(zk.PermAll, cfg.Auth.User, cfg.Auth.Password)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Elector{cfg: cfg, log: log, dir: cfg.Chroot + "/" + Dir, data: data, acl: acl,
		events: make(chan Event, 1)}, nil
}

// Events is the channel of election events (see the package doc for what a
// slow reader sees). It is closed when Run returns.
func (e *Elector) Events() <-chan Event { return e.events }

// Leader is the current leader as this instance sees it (itself when it
// leads); false while it does not know of one.
func (e *Elector) Leader() (Member, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader, e.hasLeader
}

// Conn is the current session's connection, for a standby's reads; nil
// between sessions. It is closed when its session ends.
func (e *Elector) Conn() *zk.Conn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conn
}

func (e *Elector) setLeader(m Member, ok bool) {
	e.mu.Lock()
	e.leader, e.hasLeader = m, ok
	e.mu.Unlock()
}

// emit sends ev without blocking: an unread event is merged into it (see
// the package doc). Only Run's goroutine sends, so after the receive the
// slot is free.
func (e *Elector) emit(ev Event) {
	ev.Leader, ev.HasLeader = e.Leader()
	select {
	case old := <-e.events:
		switch {
		case ev.Kind == LeaderChanged && old.Kind != LeaderChanged,
			ev.Kind == Resumed && old.Kind == Elected && old.Term.Node == ev.Term.Node:
			old.Leader, old.HasLeader = ev.Leader, ev.HasLeader
			ev = old
		}
	default:
	}
	e.events <- ev
}

// errFatal marks errors a new session cannot cure (refused credentials or
// ACLs): Run returns them.
type errFatal struct{ error }

func (e errFatal) Unwrap() error { return e.error }

// Run campaigns until ctx is done, then releases leadership and returns
// nil; it returns an error only for what retrying cannot fix (ZooKeeper
// refusing healer's credentials or ACL). Between sessions it waits with a
// capped backoff. Run may be called once.
func (e *Elector) Run(ctx context.Context) error {
	if !e.ran.CompareAndSwap(false, true) {
		return errors.New("election: Run called twice")
	}
	defer close(e.events)
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		start := time.Now()
		err := e.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal errFatal
		if errors.As(err, &fatal) {
			return fatal.error
		}
		if time.Since(start) > e.cfg.SessionTimeout {
			backoff = minBackoff
		}
		e.log.Warn("election: session ended, rejoining as a standby", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Reasons a session ends.
var (
	errExpired  = errors.New("the ZooKeeper session expired")
	errTimeout  = errors.New("disconnected from ZooKeeper for longer than the session timeout: the session is gone")
	errVanished = errors.New("this instance's member node vanished")
)

// session runs one ZooKeeper session: connect, join, campaign. It returns
// when the session or its member node is gone, or ctx is done.
func (e *Elector) session(ctx context.Context) error {
	w := &stateWatch{notify: make(chan struct{}, 1)}
	conn, zkEvents, err := zk.Connect(e.cfg.Servers, e.cfg.SessionTimeout,
		zk.WithLogger(zkLogger{e.log}), zk.WithLogInfo(false), zk.WithEventCallback(w.callback))
	if err != nil {
		return fmt.Errorf("election: connect: %w", err)
	}
	c := &campaign{e: e, conn: conn, w: w}
	defer func() {
		e.mu.Lock()
		e.conn = nil
		e.mu.Unlock()
		conn.Close()
		for range zkEvents {
			// go-zookeeper closes this channel once its goroutines are
			// done; waiting for that leaves none behind.
		}
	}()
	err = c.run(ctx)
	e.setLeader(Member{}, false)
	if c.term != nil {
		c.cancel()
		e.emit(Event{Kind: Deposed, Term: *c.term})
		e.log.Warn("election: deposed", "node", c.node, "session", fmt.Sprintf("%#x", c.session), "why", reason(ctx, err))
	}
	if ctx.Err() != nil && c.node != "" && conn.State() == zk.StateHasSession {
		// Release at once: the standby takes over now, not after the
		// session timeout. Closing the session would delete the node too,
		// but only if the close reaches the server.
		if err := conn.Delete(c.node, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
			e.log.Warn("election: delete member node on shutdown", "node", c.node, "err", err)
		}
	}
	return err
}

func reason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "shutting down"
	}
	return err.Error()
}

// stateWatch collects the session's state changes from go-zookeeper's
// event callback, which runs on the connection's goroutines and must not
// block; the campaign takes them in order.
type stateWatch struct {
	mu     sync.Mutex
	states []zk.State
	notify chan struct{}
}

func (w *stateWatch) callback(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	w.mu.Lock()
	w.states = append(w.states, ev.State)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *stateWatch) take() []zk.State {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.states
	w.states = nil
	return s
}

// campaign is the state of one session.
type campaign struct {
	e    *Elector
	conn *zk.Conn
	w    *stateWatch

	session   int64
	connected bool
	node      string // our member node's path, once created
	name      string // its name

	term      *Term
	cancel    context.CancelFunc
	suspended bool
	lost      *time.Timer // runs while disconnected

	// The armed watches: our own node, the leader's, the predecessor's
	// (nil when it is the leader's).
	self, leaderW, predW <-chan zk.Event
	leaderName, predName string
	stale                bool // the members must be looked at again
}

func (c *campaign) run(ctx context.Context) error {
	defer func() {
		if c.lost != nil {
			c.lost.Stop()
		}
	}()
	// Wait for the session.
	for !c.connected {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.w.notify:
			if err := c.states(); err != nil {
				return err
			}
		}
	}
	c.e.mu.Lock()
	c.e.conn = c.conn
	c.e.mu.Unlock()
	if a := c.e.cfg.Auth; a != nil {
		if err := c.conn.AddAuth("digest", []byte(a.User+":"+a.Password)); err != nil {
			return fmt.Errorf("election: add credentials: %w", err)
		}
	}
	if err := c.join(); err != nil {
		return err
	}
	c.stale = true
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		if c.stale && c.connected {
			if err := c.look(ctx); err != nil {
				if !transient(err) {
					return err
				}
				// Look again once reconnected (the state change will
				// wake us), or shortly.
				c.e.log.Debug("election: look at members", "err", err)
				retry.Reset(c.e.cfg.SessionTimeout / 10)
			}
		}
		var lost <-chan time.Time
		if c.lost != nil {
			lost = c.lost.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.w.notify:
			if err := c.states(); err != nil {
				return err
			}
		case <-lost:
			return errTimeout
		case <-retry.C:
		case ev := <-c.self:
			c.self = nil
			if ev.Type == zk.EventNodeDeleted {
				return errVanished
			}
			c.stale = true // re-arms the watch
		case <-c.leaderW:
			c.leaderW, c.leaderName = nil, ""
			c.stale = true
		case <-c.predW:
			c.predW, c.predName = nil, ""
			c.stale = true
		}
	}
}

// transient reports whether err is a connection problem a reconnect in the
// same session cures.
func transient(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrClosing)
}

// states applies the session state changes seen since the last call.
func (c *campaign) states() error {
	for _, s := range c.w.take() {
		switch s {
		case zk.StateHasSession:
			id := c.conn.SessionID()
			if c.session == 0 {
				c.session = id
			} else if id != c.session {
				// go-zookeeper opens a new session by itself after an
				// expiry; the old one, and our node, are gone.
				return errExpired
			}
			if c.lost != nil {
				c.lost.Stop()
				c.lost = nil
			}
			c.connected = true
			if c.suspended {
				c.suspended = false
				c.e.log.Info("election: reconnected in the same session, leading again", "node", c.node)
				c.e.emit(Event{Kind: Resumed, Term: *c.term})
			}
		case zk.StateDisconnected, zk.StateConnecting:
			if !c.connected {
				continue // not connected yet, or still down
			}
			c.connected = false
			c.lost = time.NewTimer(c.e.cfg.SessionTimeout)
			if c.term != nil && !c.suspended {
				c.suspended = true
				c.e.log.Warn("election: lost the ZooKeeper connection while leading: suspended", "node", c.node)
				c.e.emit(Event{Kind: Suspended, Term: *c.term})
			}
		case zk.StateExpired:
			return errExpired
		case zk.StateAuthFailed:
			return errFatal{errors.New("election: ZooKeeper refused the credentials (auth failed): check the user:password in --zk")}
		}
	}
	return nil
}

// join creates the member node, and the directories above it if missing.
func (c *campaign) join() error {
	dir := c.e.dir
	for _, p := range append(zkurl.Ancestors(dir), dir) {
		_, err := c.conn.Create(p, nil, 0, c.e.acl)
		switch {
		case err == nil, errors.Is(err, zk.ErrNodeExists):
		case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrInvalidACL):
			return errFatal{fmt.Errorf("election: create %s: %w (check the credentials in --zk and the ACL of %s)", p, err, p)}
		default:
			return fmt.Errorf("election: create %s: %w", p, err)
		}
	}
	var guid [16]byte
	if _, err := rand.Read(guid[:]); err != nil {
		return fmt.Errorf("election: member guid: %w", err)
	}
	prefix := memberPrefix + hex.EncodeToString(guid[:]) + "-"
	node, err := c.conn.Create(dir+"/"+prefix, c.e.data, zk.FlagEphemeral|zk.FlagSequence, c.e.acl)
	if errors.Is(err, zk.ErrConnectionClosed) {
		// The create may have happened: find the node by its guid.
		kids, _, lerr := c.conn.Children(dir)
		if lerr != nil {
			return fmt.Errorf("election: join: %w (then %w)", err, lerr)
		}
		for _, k := range kids {
			if strings.HasPrefix(k, prefix) {
				node, err = dir+"/"+k, nil
			}
		}
	}
	if err != nil {
		if errors.Is(err, zk.ErrNoAuth) {
			return errFatal{fmt.Errorf("election: create member node in %s: %w (check the credentials in --zk)", dir, err)}
		}
		return fmt.Errorf("election: create member node in %s: %w", dir, err)
	}
	c.node = node
	c.name = node[len(dir)+1:]
	c.e.log.Info("election: joined", "node", c.node, "session", fmt.Sprintf("%#x", c.session))
	return nil
}

// look lists the members and acts on what it sees: lead when first,
// otherwise watch the predecessor and the leader.
func (c *campaign) look(ctx context.Context) error {
	dir := c.e.dir
	for {
		if c.self == nil {
			ok, _, ch, err := c.conn.ExistsW(c.node)
			if err != nil {
				return fmt.Errorf("election: watch %s: %w", c.node, err)
			}
			if !ok {
				return errVanished
			}
			c.self = ch
		}
		kids, _, err := c.conn.Children(dir)
		if err != nil {
			return fmt.Errorf("election: list %s: %w", dir, err)
		}
		members := order(kids)
		i := slices.IndexFunc(members, func(m member) bool { return m.name == c.name })
		if i < 0 {
			return errVanished
		}
		if i == 0 {
			c.lead(ctx)
			c.stale = false
			return nil
		}
		leader, pred := members[0].name, members[i-1].name
		if c.leaderName != leader {
			data, _, ch, err := c.conn.GetW(dir + "/" + leader)
			if errors.Is(err, zk.ErrNoNode) {
				continue // gone meanwhile: look again
			}
			if err != nil {
				return fmt.Errorf("election: read leader %s: %w", leader, err)
			}
			c.leaderW, c.leaderName = ch, leader
			var m Member
			if err := json.Unmarshal(data, &m); err != nil {
				c.e.log.Warn("election: the leader's member node does not hold a member", "node", leader, "err", err)
				m = Member{ID: leader}
			}
			c.e.setLeader(m, true)
			c.e.log.Info("election: leader changed", "leader", m.ID, "admin_url", m.AdminURL, "node", leader)
			c.e.emit(Event{Kind: LeaderChanged})
		}
		if pred == leader {
			c.predW, c.predName = nil, ""
		} else if c.predName != pred {
			_, _, ch, err := c.conn.GetW(dir + "/" + pred)
			if errors.Is(err, zk.ErrNoNode) {
				continue
			}
			if err != nil {
				return fmt.Errorf("election: watch predecessor %s: %w", pred, err)
			}
			c.predW, c.predName = ch, pred
		}
		c.stale = false
		return nil
	}
}

// lead starts the term, once.
func (c *campaign) lead(ctx context.Context) {
	if c.term != nil {
		return
	}
	tctx, cancel := context.WithCancel(ctx)
	c.term = &Term{Ctx: tctx, Node: c.node, Session: c.session, Conn: c.conn}
	c.cancel = cancel
	c.leaderW, c.leaderName, c.predW, c.predName = nil, "", nil, ""
	c.e.setLeader(c.e.cfg.Self, true)
	c.e.log.Info("election: elected", "node", c.node, "session", fmt.Sprintf("%#x", c.session))
	c.e.emit(Event{Kind: Elected, Term: *c.term})
}

// member is a member node's name and sequence number.
type member struct {
	name string
	seq  int64
}

// order returns the member nodes sorted by sequence; other names in the
// directory are ignored.
func order(kids []string) []member {
	var out []member
	for _, k := range kids {
		if !strings.HasPrefix(k, memberPrefix) {
			continue
		}
		i := strings.LastIndexByte(k, '-')
		seq, err := strconv.ParseInt(k[i+1:], 10, 64)
		if err != nil || len(k)-i-1 != 10 {
			continue
		}
		out = append(out, member{k, seq})
	}
	slices.SortFunc(out, func(a, b member) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// zkLogger routes go-zookeeper's logging to slog, at debug level: it logs
// every failed connection attempt, and the Elector logs what matters.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	z.l.Debug("zk: " + fmt.Sprintf(format, args...))
}
