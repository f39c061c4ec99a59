// Package zkgroup is the Mesos master group in ZooKeeper, as masters and
// their detectors use it (mesos-protocol.md 3): a Contender registers a
// master as an EPHEMERAL|SEQUENTIAL json.info_<seq> znode holding its
// MasterInfo JSON under the group's path, and is elected when its node has
// the lowest sequence; a Detector watches the group and reports the leading
// master's MasterInfo, reading json.info_, info_ (protobuf) and bare UPID
// members as Mesos' ZooKeeperMasterDetector does. The emulator's Cluster
// runs one Contender per master and follows the election with a Detector.
package zkgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/integration/emulator/mesosjson"
	"github.com/healer-mesos/healer/internal/zkurl"
)

// DefaultSessionTimeout is Mesos' --zk_session_timeout, used by masters and
// detectors alike (mesos-protocol.md 3.1).
const DefaultSessionTimeout = 10 * time.Second

// zkMemberLabel is the prefix of the znodes masters publish their MasterInfo
// JSON under since Mesos 0.24 (src/master/constants.hpp MASTER_INFO_JSON_LABEL).
const zkMemberLabel = "json.info"

// zkACL is the ACL Mesos gives the group's nodes: open without credentials,
// "world: read, authenticated creator: all" with them
// (zookeeper::EVERYONE_READ_CREATOR_ALL). With credentials, nodes are
// readable by the world and writable only by their creator.
func zkACL(u zkurl.URL) []zk.ACL {
	if u.User == "" && u.Password == "" {
		return zk.WorldACL(zk.PermAll)
	}
	return []zk.ACL{
		{Perms: zk.PermRead, Scheme: "world", ID: "anyone"},
		{Perms: zk.PermAll, Scheme: "auth", ID: ""},
	}
}

// Config configures a ZooKeeper session of a contender or detector.
type Config struct {
	URL            zkurl.URL     // from zkurl.Parse
	SessionTimeout time.Duration // 0: DefaultSessionTimeout
	// ConnectTimeout bounds the wait for the first session; 0: 15 s.
	ConnectTimeout time.Duration
	Logger         *slog.Logger // nil: discard
}

func (c Config) sessionTimeout() time.Duration {
	if c.SessionTimeout <= 0 {
		return DefaultSessionTimeout
	}
	return c.SessionTimeout
}

// ErrNoSession is wrapped by the error of a contender or detector that
// got no ZooKeeper session within its Config.ConnectTimeout: no server in
// the URL answered, or none let it in.
var ErrNoSession = errors.New("no ZooKeeper session")

// connect opens a session, authenticating when the URL has credentials,
// giving up when ctx ends. Its connections go through wire, so the session
// can be cut off as a crashed process' would be.
func (c Config) connect(ctx context.Context, wire *zkWire) (*zk.Conn, <-chan zk.Event, error) {
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	servers := strings.Join(c.URL.Servers, ",")
	conn, events, err := zk.Connect(c.URL.Servers, c.sessionTimeout(),
		zk.WithLogger(zkLogger{logger}), zk.WithLogInfo(false), zk.WithDialer(wire.dial))
	if err != nil {
		return nil, nil, fmt.Errorf("zkgroup: connect to ZooKeeper at %s: %w", servers, err)
	}
	// go-zookeeper connects in the background and fails queued requests
	// if its first attempt fails (e.g. a server still starting), so wait
	// for the session before using it.
	connectTimeout := c.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = 15 * time.Second
	}
	logger.Debug("connecting to ZooKeeper", "servers", servers, "timeout", connectTimeout)
	timeout := time.NewTimer(connectTimeout)
	defer timeout.Stop()
	for conn.State() != zk.StateHasSession {
		select {
		case <-events:
		case <-ctx.Done():
			conn.Close()
			return nil, nil, fmt.Errorf("zkgroup: connect to ZooKeeper at %s: %w", servers, context.Cause(ctx))
		case <-timeout.C:
			conn.Close()
			return nil, nil, fmt.Errorf("zkgroup: connect to ZooKeeper at %s: %w within %v", servers, ErrNoSession, connectTimeout)
		}
	}
	logger.Debug("ZooKeeper session established", "servers", servers, "session", conn.SessionID())
	if c.URL.User != "" || c.URL.Password != "" {
		if err := conn.AddAuth("digest", []byte(c.URL.User+":"+c.URL.Password)); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("zkgroup: authenticate to ZooKeeper at %s: %w", servers, err)
		}
	}
	return conn, events, nil
}

// zkWire dials a session's connections and can cut them all, leaving the
// session open on the server until it expires: what a killed process
// leaves behind (a closed session would delete its ephemeral nodes at once).
type zkWire struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (w *zkWire) dial(network, address string, timeout time.Duration) (net.Conn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cut {
		return nil, errors.New("zkgroup: ZooKeeper connection cut (process crashed)")
	}
	conn, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	w.conns = append(w.conns, conn)
	return conn, nil
}

// cutOff closes every connection and refuses new ones.
func (w *zkWire) cutOff() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cut = true
	for _, c := range w.conns {
		c.Close()
	}
	w.conns = nil
}

// zkLogger routes go-zookeeper's Printf logging to slog.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) { z.l.Debug(fmt.Sprintf(format, args...)) }

// zkMember is one child of the group znode that takes part in the election.
type zkMember struct {
	name  string
	label string // "json.info", "info" or "" (bare sequence)
	seq   uint64
}

// parseMember recognises election members as the C++ detector does: a name
// ending in "_<digits>" (any label) or made only of digits. Other children
// (log_replicas) are skipped.
func parseMember(name string) (zkMember, bool) {
	label, digits := "", name
	if i := strings.LastIndexByte(name, '_'); i >= 0 {
		label, digits = name[:i], name[i+1:]
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return zkMember{}, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return zkMember{}, false
	}
	return zkMember{name: name, label: label, seq: seq}, true
}

// lowestMember returns the member with the lowest sequence number.
func lowestMember(children []string) (zkMember, bool) {
	var members []zkMember
	for _, c := range children {
		if m, ok := parseMember(c); ok {
			members = append(members, m)
		}
	}
	if len(members) == 0 {
		return zkMember{}, false
	}
	sort.Slice(members, func(i, j int) bool { return members[i].seq < members[j].seq })
	return members[0], true
}

// decodeMasterInfo parses a member's data by its label: JSON for json.info,
// binary protobuf for info, a UPID string ("master@ip:port") for bare
// sequence nodes of the oldest masters.
func decodeMasterInfo(label string, data []byte) (mesos.MasterInfo, error) {
	var info mesos.MasterInfo
	switch label {
	case zkMemberLabel:
		if err := mesosjson.Unmarshal(data, &info); err != nil {
			return info, fmt.Errorf("zkgroup: decode MasterInfo JSON: %w", err)
		}
	case "info":
		if err := proto.Unmarshal(data, &info); err != nil {
			return info, fmt.Errorf("zkgroup: decode MasterInfo protobuf: %w", err)
		}
	default:
		pid := string(data)
		_, hostPort, ok := strings.Cut(pid, "@")
		host, port, err := net.SplitHostPort(hostPort)
		if !ok || err != nil {
			return info, fmt.Errorf("zkgroup: decode master UPID %q: not name@ip:port", pid)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return info, fmt.Errorf("zkgroup: decode master UPID %q: %w", pid, err)
		}
		p32 := uint32(p)
		info.PID = &pid
		info.Hostname = &host
		info.Port = &p32
		info.IP = MesosIPv4(net.ParseIP(host))
		info.Address = &mesos.Address{Hostname: proto.String(host), IP: proto.String(host), Port: int32(p)}
	}
	return info, nil
}

// MesosIPv4 encodes an IPv4 address as MasterInfo.ip: its four bytes in
// network order read as a little-endian host integer, so 10.0.0.1 is
// 16777226 (MESOS-1201). Non-IPv4 addresses give 0.
func MesosIPv4(ip net.IP) uint32 {
	v4 := ip.To4()
	if v4 == nil {
		return 0
	}
	return uint32(v4[0]) | uint32(v4[1])<<8 | uint32(v4[2])<<16 | uint32(v4[3])<<24
}

// LeaderHostPort is where a master's HTTP endpoints are, from its MasterInfo:
// address.hostname (or address.ip) and address.port, falling back to the
// deprecated hostname/port fields.
func LeaderHostPort(info mesos.MasterInfo) string {
	host, port := info.GetHostname(), int(info.GetPort())
	if a := info.Address; a != nil {
		if a.GetHostname() != "" {
			host = a.GetHostname()
		} else if a.GetIP() != "" {
			host = a.GetIP()
		}
		port = int(a.Port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ensurePath creates path and its parents as persistent nodes with empty
// data, as the masters do when the group node is missing.
func ensurePath(conn *zk.Conn, path string, acl []zk.ACL) error {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := ""
	for _, p := range parts {
		cur += "/" + p
		_, err := conn.Create(cur, nil, 0, acl)
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("zkgroup: create znode %s: %w", cur, err)
		}
	}
	return nil
}

// Contender is one master's membership in the Mesos master group: an
// EPHEMERAL|SEQUENTIAL <path>/json.info_<seq> node holding its MasterInfo
// JSON. It is elected when its node has the lowest sequence, and loses
// candidacy for good when its session expires or its node disappears — then a
// Mesos master aborts; the owner of a Contender must stop leading.
type Contender struct {
	wire    *zkWire
	conn    *zk.Conn
	node    string
	elected chan struct{}
	lost    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// NewContender joins the group with info, creating the group's path if
// missing. ctx bounds only the wait for the ZooKeeper session.
func NewContender(ctx context.Context, cfg Config, info mesos.MasterInfo) (*Contender, error) {
	data, err := mesosjson.Marshal(&info)
	if err != nil {
		return nil, fmt.Errorf("zkgroup: encode MasterInfo: %w", err)
	}
	wire := &zkWire{}
	conn, events, err := cfg.connect(ctx, wire)
	if err != nil {
		return nil, err
	}
	acl := zkACL(cfg.URL)
	if err := ensurePath(conn, cfg.URL.Path, acl); err != nil {
		conn.Close()
		return nil, err
	}
	node, err := conn.Create(cfg.URL.Path+"/"+zkMemberLabel+"_", data, zk.FlagEphemeral|zk.FlagSequence, acl)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("zkgroup: join master group %s: %w", cfg.URL.Path, err)
	}
	c := &Contender{
		wire:    wire,
		conn:    conn,
		node:    node,
		elected: make(chan struct{}),
		lost:    make(chan struct{}),
		stop:    make(chan struct{}),
	}
	c.wg.Add(1)
	go c.run(cfg.URL.Path, events)
	return c, nil
}

// Node is the full path of this master's znode.
func (c *Contender) Node() string { return c.node }

// Elected is closed once this master has the lowest sequence in the group.
func (c *Contender) Elected() <-chan struct{} { return c.elected }

// Lost is closed when candidacy is lost (session expired, node deleted, or
// Close).
func (c *Contender) Lost() <-chan struct{} { return c.lost }

// Close withdraws: the session is closed, which deletes the ephemeral node at
// once, so another master is elected without waiting for a session timeout.
func (c *Contender) Close() {
	c.once.Do(func() {
		close(c.stop)
		c.conn.Close()
	})
	c.wg.Wait()
}

// Crash abandons the candidacy the way a killed master does: its
// connections to ZooKeeper are cut without closing the session, so its
// ephemeral node stays until the session times out, and only then is
// another master elected.
func (c *Contender) Crash() {
	c.wire.cutOff()
	c.Close()
}

func (c *Contender) run(path string, events <-chan zk.Event) {
	defer c.wg.Done()
	defer close(c.lost)
	name := c.node[strings.LastIndexByte(c.node, '/')+1:]
	elected := false
	for {
		children, _, watch, err := c.conn.ChildrenW(path)
		if err != nil {
			if c.waitRetry(events) {
				continue
			}
			return
		}
		if !contains(children, name) {
			return // our node is gone: the session expired
		}
		if low, ok := lowestMember(children); ok && low.name == name && !elected {
			elected = true
			close(c.elected)
		}
		select {
		case <-c.stop:
			return
		case ev := <-events:
			if ev.State == zk.StateExpired {
				return
			}
		case <-watch:
		}
	}
}

// waitRetry waits for a session event after a failed request; false means
// stop (closed or expired).
func (c *Contender) waitRetry(events <-chan zk.Event) bool {
	select {
	case <-c.stop:
		return false
	case ev := <-events:
		return ev.State != zk.StateExpired
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Detector watches the master group and reports the current leader's
// MasterInfo, as Mesos' ZooKeeperMasterDetector does.
type Detector struct {
	conn *zk.Conn
	path string

	mu       sync.Mutex
	leader   *mesos.MasterInfo // nil: no leader
	node     string            // leader's znode name
	changed  chan struct{}     // closed and replaced on every leader change
	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// NewDetector opens a session and starts watching cfg.URL.Path. The path
// need not exist yet. ctx bounds only the wait for the ZooKeeper session.
func NewDetector(ctx context.Context, cfg Config) (*Detector, error) {
	conn, events, err := cfg.connect(ctx, &zkWire{})
	if err != nil {
		return nil, err
	}
	d := &Detector{conn: conn, path: cfg.URL.Path, changed: make(chan struct{}), stop: make(chan struct{})}
	d.wg.Add(1)
	go d.run(events)
	return d, nil
}

// Leader returns the current leader, and a channel closed at the next leader
// change (including "no leader").
func (d *Detector) Leader() (*mesos.MasterInfo, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leader, d.changed
}

// WaitLeader waits until a leader is known that satisfies accept (nil: any)
// or ctx ends.
func (d *Detector) WaitLeader(ctx context.Context, accept func(mesos.MasterInfo) bool) (mesos.MasterInfo, error) {
	for {
		leader, changed := d.Leader()
		if leader != nil && (accept == nil || accept(*leader)) {
			return *leader, nil
		}
		select {
		case <-ctx.Done():
			return mesos.MasterInfo{}, fmt.Errorf("zkgroup: wait for a leading master: %w", ctx.Err())
		case <-changed:
		}
	}
}

// Close ends the detector's session.
func (d *Detector) Close() {
	d.stopOnce.Do(func() {
		close(d.stop)
		d.conn.Close()
	})
	d.wg.Wait()
}

func (d *Detector) setLeader(node string, info *mesos.MasterInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if node == d.node {
		return
	}
	d.node, d.leader = node, info
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *Detector) run(events <-chan zk.Event) {
	defer d.wg.Done()
	for {
		var watch <-chan zk.Event
		children, _, w, err := d.conn.ChildrenW(d.path)
		switch {
		case errors.Is(err, zk.ErrNoNode):
			// Wait for the group to be created; if it appeared meanwhile,
			// the exists watch would only fire on its deletion, so list
			// again at once.
			var exists bool
			exists, _, w, err = d.conn.ExistsW(d.path)
			watch = w
			d.setLeader("", nil)
			if err == nil && exists {
				continue
			}
		case err == nil:
			watch = w
			d.detect(children)
		}
		if err != nil {
			// Disconnected or closing: wait for the session to change.
			select {
			case <-d.stop:
				return
			case ev := <-events:
				if ev.State == zk.StateExpired {
					d.setLeader("", nil)
				}
			}
			continue
		}
		select {
		case <-d.stop:
			return
		case <-events:
		case <-watch:
		}
	}
}

// detect reads the lowest member's data; a member that vanished between the
// listing and the read is left to the next watch event.
func (d *Detector) detect(children []string) {
	low, ok := lowestMember(children)
	if !ok {
		d.setLeader("", nil)
		return
	}
	data, _, err := d.conn.Get(d.path + "/" + low.name)
	if err != nil {
		return
	}
	info, err := decodeMasterInfo(low.label, data)
	if err != nil {
		// A leader we cannot parse is no leader we can follow.
		d.setLeader(low.name, nil)
		return
	}
	d.setLeader(low.name, &info)
}
