package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/healer-mesos/healer/internal/zkurl"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// MaxMultiBytes bounds the request of one ZooKeeper multi. The server
// refuses (and drops the connection on) a request over its jute.maxbuffer,
// 1 MB by default; half of that leaves room for a differently configured
// server and for the request's framing, and still holds two records of
// MaxRecordBytes.
const MaxMultiBytes = 512 << 10

// loadParallelism bounds the requests a Load keeps in flight. go-zookeeper
// pipelines the requests of concurrent callers on its one connection, so
// reading 35,000 records costs round trips / loadParallelism.
const loadParallelism = 64

// ZKConfig configures a ZK store.
type ZKConfig struct {
	// Chroot is the store's directory, e.g. /healer (see CheckChroot).
	Chroot string
	// ACL is given to every znode the store creates, missing parents of
	// the chroot included. Nil means world-all (zk.WorldACL(zk.PermAll)).
	// With credentials in the zk:// URL, pass
	// zk.DigestACL(zk.PermAll, user, password) (creator all, world
	// nothing) and AddAuth("digest", "user:password") on the connection.
	ACL []zk.ACL
	// Fence is this leader's election node (election.Term.Node): every
	// write checks that it still exists. Empty makes the store read-only
	// (a standby's): Save and SaveFramework return ErrReadOnly.
	Fence string
	// Observe, if set, is called after every ZooKeeper request with its
	// kind ("get", "children", "exists", "multi"), duration and error (a
	// read of a record not stored yet reports zk.ErrNoNode). Load calls
	// it from several goroutines at once.
	Observe func(op string, took time.Duration, err error)
}

// ZK is the ZooKeeper store. Under the chroot:
//
//	framework                  the framework record (healerpb.FrameworkRecord)
//	global                     the global record (healerpb.GlobalRecord)
//	agents/<bucket>/<agent id> one agent record each (healerpb.AgentRecord)
//	leader/                    scheduler/election's member nodes
//
// where <bucket> is one of Buckets hash buckets of the agent id (two hex
// digits) and the id is escaped for a znode name (see escapeID). No
// znode's data or children list grows with the cluster.
//
// # Writes
//
// Every write is one ZooKeeper multi (a transaction) that starts with a
// check of the fence node: when it is gone (the leader's session expired
// or its node was deleted) the whole multi fails and nothing is written
// (ErrFenced). A Persist with nothing in it makes no request at all.
//
// Creates and updates are decided from what the store knows: the records
// it read in Load and those it wrote since. Updates and deletes name the
// version the store last saw, so a record changed behind its back fails
// the multi too (ErrOutOfDate). Missing directories (the chroot, agents/,
// a bucket) are created in the same multi as the first record that needs
// them. A Deleted id the store holds no record of is already deleted and
// costs nothing; an id both written and deleted in one Persist is written
// (the coordinator's final word is the record).
//
// A Persist whose multi would exceed MaxMultiBytes is split into several
// multis, each fenced, in this order: agent records (a moved record
// together with the delete of its old id, so a machine is never stored
// twice), then the remaining deletes, then the global record. Save returns
// only after the last. If the leader dies between two of them, ZooKeeper
// holds the new version of some records and the old version of the
// others: each record is whole, no action of that Ready has run (actions
// wait for Save), and records are only ever added before others are
// deleted, so the next leader's Restore sees every machine; what it may
// miss is part of one Step's changes: a later record's update, a
// tombstone expiry (deleted again by its next Tick), or the global record
// (a pause, the storm breaker, the last start time), which the next
// leader decides afresh from the records and reconciliation. Only a
// Persist changing thousands of agents at once (a mass registration or
// expiry) comes near the limit.
//
// After any failed write the store refuses to write (ErrOutOfDate) until
// Load succeeds: the runtime rebuilds its coordinator from that Load.
//
// A ZK is safe for concurrent use, but the runtime's event loop is meant
// to be its only caller, apart from Counters.
type ZK struct {
	conn *zk.Conn
	cfg  ZKConfig
	acl  []zk.ACL
	p    paths

	mu sync.Mutex
	// loaded is set by a successful Load; failed by a failed write, until
	// the next Load.
	loaded bool
	failed error
	// dirs are the directories known to exist (chroot and its parents,
	// agents/, buckets).
	dirs map[string]bool
	// agents are the versions of the agent records known to exist.
	agents map[coordinator.AgentID]int32
	// global and framework are the versions of those znodes, -1 when
	// absent.
	global, frameworkVersion int32
	framework                *Framework
	// auditHead is the newest audit entry's seq and auditVersion the head
	// znode's version (-1: absent), read at the first audited save after
	// a Load (auditKnown).
	auditKnown   bool
	auditHead    uint64
	auditVersion int32

	saves, multis, ops, bytes, loads, reads atomic.Uint64
}

var _ Store = (*ZK)(nil)

// NewZK returns a store on conn, which the caller owns (the elector's
// term connection for the leader, its standby connection otherwise). It
// makes no request; call Load before Save.
func NewZK(conn *zk.Conn, cfg ZKConfig) (*ZK, error) {
	if conn == nil {
		return nil, errors.New("store: no ZooKeeper connection")
	}
	if err := CheckChroot(cfg.Chroot); err != nil {
		return nil, err
	}
	if cfg.Fence != "" {
		if err := checkPath("fence node", cfg.Fence); err != nil {
			return nil, err
		}
	}
	acl := cfg.ACL
	if len(acl) == 0 {
		acl = zk.WorldACL(zk.PermAll)
	}
	return &ZK{conn: conn, cfg: cfg, acl: acl, p: paths{root: cfg.Chroot}, global: -1, frameworkVersion: -1}, nil
}

// Counters returns the running totals.
func (z *ZK) Counters() Counters {
	return Counters{Saves: z.saves.Load(), Multis: z.multis.Load(), Ops: z.ops.Load(),
		BytesWritten: z.bytes.Load(), Loads: z.loads.Load(), Reads: z.reads.Load()}
}

func (z *ZK) observe(op string, start time.Time, err error) {
	if op != "multi" {
		z.reads.Add(1)
	}
	if z.cfg.Observe != nil {
		z.cfg.Observe(op, time.Since(start), err)
	}
}

func (z *ZK) get(path string) ([]byte, *zk.Stat, error) {
	start := time.Now()
	b, st, err := z.conn.Get(path)
	z.observe("get", start, err)
	return b, st, err
}

func (z *ZK) children(path string) ([]string, error) {
	start := time.Now()
	c, _, err := z.conn.Children(path)
	z.observe("children", start, err)
	return c, err
}

func (z *ZK) exists(path string) (bool, error) {
	start := time.Now()
	ok, _, err := z.conn.Exists(path)
	z.observe("exists", start, err)
	return ok, err
}

// readError wraps a failed read, saying what to do about refusals.
func readError(path string, err error) error {
	if errors.Is(err, zk.ErrNoAuth) {
		return fmt.Errorf("store: load %s: %w (the znode's ACL does not admit healer: check the user:password in --zk)", path, err)
	}
	return fmt.Errorf("store: load %s: %w", path, err)
}

// Load reads everything under the chroot and resets what the store knows
// of ZooKeeper to what it read. Agent records are read with up to
// loadParallelism requests in flight. A znode that does not decode, or
// that is not where its record belongs, fails Load with an error naming
// it: nothing is skipped, since a record left out would be a machine
// forgotten in the middle of a repair.
func (z *ZK) Load(ctx context.Context) (Snapshot, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	start := time.Now()
	reads0 := z.reads.Load()
	z.loaded, z.failed = false, nil
	z.dirs = make(map[string]bool)
	z.agents = make(map[coordinator.AgentID]int32)
	z.global, z.frameworkVersion, z.framework = -1, -1, nil
	z.auditKnown = false
	var snap Snapshot
	stats := &snap.Stats
	account := func(path string, n int) {
		stats.Znodes++
		stats.Bytes += int64(n)
		if n > stats.Largest {
			stats.Largest, stats.LargestPath = n, path
		}
	}
	finish := func() (Snapshot, error) {
		z.loaded = true
		z.loads.Add(1)
		stats.Requests = int(z.reads.Load() - reads0)
		stats.Took = time.Since(start)
		return snap, nil
	}

	root := z.p.root
	ok, err := z.exists(root)
	if err != nil {
		return Snapshot{}, readError(root, err)
	}
	if !ok {
		for _, dir := range zkurl.Ancestors(root) {
			ok, err := z.exists(dir)
			if err != nil {
				return Snapshot{}, readError(dir, err)
			}
			if !ok {
				break
			}
			z.dirs[dir] = true
		}
		return finish()
	}
	for _, dir := range zkurl.Ancestors(root) {
		z.dirs[dir] = true
	}
	z.dirs[root] = true

	if b, st, err := z.get(z.p.framework()); err == nil {
		f, err := DecodeFramework(b)
		if err != nil {
			return Snapshot{}, fmt.Errorf("store: load %s: %w", z.p.framework(), err)
		}
		account(z.p.framework(), len(b))
		snap.Framework = &f
		z.framework, z.frameworkVersion = &f, st.Version
	} else if !errors.Is(err, zk.ErrNoNode) {
		return Snapshot{}, readError(z.p.framework(), err)
	}
	if b, st, err := z.get(z.p.global()); err == nil {
		g, err := DecodeGlobal(b)
		if err != nil {
			return Snapshot{}, fmt.Errorf("store: load %s: %w", z.p.global(), err)
		}
		account(z.p.global(), len(b))
		snap.Global = g
		z.global = st.Version
	} else if !errors.Is(err, zk.ErrNoNode) {
		return Snapshot{}, readError(z.p.global(), err)
	}

	buckets, err := z.children(z.p.agents())
	if errors.Is(err, zk.ErrNoNode) {
		return finish()
	}
	if err != nil {
		return Snapshot{}, readError(z.p.agents(), err)
	}
	z.dirs[z.p.agents()] = true
	slices.Sort(buckets)
	for _, b := range buckets {
		if parseBucket(b) != nil {
			return Snapshot{}, fmt.Errorf("store: load %s: %w: healer keeps only buckets 00..%02x there; move it out of the chroot", z.p.bucket(b), errBadName, Buckets-1)
		}
		z.dirs[z.p.bucket(b)] = true
	}

	// List the buckets, then read every record, each with bounded
	// parallelism.
	names := make([][]string, len(buckets))
	err = parallel(ctx, len(buckets), func(i int) error {
		c, err := z.children(z.p.bucket(buckets[i]))
		if err != nil {
			return readError(z.p.bucket(buckets[i]), err)
		}
		names[i] = c
		return nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	type entry struct {
		id   coordinator.AgentID
		path string
	}
	var entries []entry
	for i, b := range buckets {
		for _, name := range names[i] {
			path := z.p.bucket(b) + "/" + name
			id, err := unescapeID(name)
			if err != nil {
				return Snapshot{}, fmt.Errorf("store: load %s: %w: not an escaped agent id; move it out of the chroot", path, err)
			}
			if want := bucketOf(id); want != b {
				return Snapshot{}, fmt.Errorf("store: load %s: agent %q belongs in bucket %s: %w; move it to %s", path, id, want, ErrBadRecord, z.p.agent(id))
			}
			entries = append(entries, entry{id, path})
		}
	}
	records := make([]coordinator.AgentRecord, len(entries))
	versions := make([]int32, len(entries))
	sizes := make([]int, len(entries))
	err = parallel(ctx, len(entries), func(i int) error {
		e := entries[i]
		b, st, err := z.get(e.path)
		if err != nil {
			return readError(e.path, err)
		}
		r, err := DecodeAgent(b)
		if err != nil {
			return fmt.Errorf("store: load %s: %w (a record healer cannot read is never skipped: fix or remove the znode, or run the healer that wrote it)", e.path, err)
		}
		if r.ID != e.id {
			return fmt.Errorf("store: load %s: holds agent %q, not %q: %w", e.path, r.ID, e.id, ErrBadRecord)
		}
		records[i], versions[i], sizes[i] = r, st.Version, len(b)
		return nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	for i, e := range entries {
		account(e.path, sizes[i])
		z.agents[e.id] = versions[i]
	}
	slices.SortFunc(records, func(a, b coordinator.AgentRecord) int { return cmp.Compare(a.ID, b.ID) })
	snap.Agents = records
	return finish()
}

// parallel runs fn(0..n-1) on up to loadParallelism goroutines, stopping at
// the first error or when ctx is done, and waits for all of them.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	if n == 0 {
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(n, loadParallelism) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// effect is what a successful op tells the store about ZooKeeper.
type effect struct {
	kind      effectKind
	id        coordinator.AgentID
	path      string
	framework *Framework
}

type effectKind uint8

const (
	effDir effectKind = iota + 1
	effAgent
	effAgentDeleted
	effGlobal
	effFramework
	effAuditHead
	effAuditEntry
)

// unit is ops that must share a multi, with their effects.
type unit struct {
	ops     []any
	effects []effect
	size    int
}

func (u *unit) add(op any, e effect) {
	u.ops = append(u.ops, op)
	u.effects = append(u.effects, e)
	u.size += opSize(op)
}

// opSize is op's size in a multi request (jute encoding): the op header
// (type, done, err) plus the request.
func opSize(op any) int {
	const header = 4 + 1 + 4
	switch r := op.(type) {
	case *zk.CreateRequest:
		n := header + 4 + len(r.Path) + 4 + len(r.Data) + 4 + 4
		for _, a := range r.Acl {
			n += 4 + 4 + len(a.Scheme) + 4 + len(a.ID)
		}
		return n
	case *zk.SetDataRequest:
		return header + 4 + len(r.Path) + 4 + len(r.Data) + 4
	case *zk.DeleteRequest:
		return header + 4 + len(r.Path) + 4
	case *zk.CheckVersionRequest:
		return header + 4 + len(r.Path) + 4
	}
	panic(fmt.Sprintf("store: op %T", op))
}

// multiOverhead is a multi request's framing: length, request header, the
// closing op header.
const multiOverhead = 4 + 8 + 9

// planner turns records into units, creating missing directories once.
type planner struct {
	z       *ZK
	planned map[string]bool
	bytes   int
}

// dirs adds creates for the missing directories above path to u.
func (pl *planner) dirs(u *unit, path string) {
	for _, dir := range zkurl.Ancestors(path) {
		if pl.z.dirs[dir] || pl.planned[dir] {
			continue
		}
		pl.planned[dir] = true
		u.add(&zk.CreateRequest{Path: dir, Acl: pl.z.acl}, effect{kind: effDir, path: dir})
	}
}

// put adds the write of data at path to u: an update of the known version,
// or a create (with missing directories).
func (pl *planner) put(u *unit, path string, data []byte, version int32, e effect) {
	pl.bytes += len(data)
	if version >= 0 {
		u.add(&zk.SetDataRequest{Path: path, Data: data, Version: version}, e)
		return
	}
	pl.dirs(u, path)
	u.add(&zk.CreateRequest{Path: path, Data: data, Acl: pl.z.acl}, e)
}

// Save writes p in one fenced multi (several if it is too big for one; see
// ZK). It makes no request for an empty Persist.
func (z *ZK) Save(ctx context.Context, p coordinator.Persist) error {
	if p.Empty() {
		return nil
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if err := z.writable("save"); err != nil {
		return err
	}
	pl := &planner{z: z, planned: make(map[string]bool)}
	units, err := z.plan(pl, p)
	if err != nil {
		return err
	}
	if len(units) == 0 {
		return nil // only deletes of records that are not stored
	}
	return z.write(ctx, units, pl.bytes)
}

// plan turns p into units (see Save), in the order they must be written.
func (z *ZK) plan(pl *planner, p coordinator.Persist) ([]*unit, error) {

	// The last record for an id wins; ids keep their first position.
	last := make(map[coordinator.AgentID]int, len(p.Agents))
	for i := range p.Agents {
		last[p.Agents[i].ID] = i
	}
	deleted := make(map[coordinator.AgentID]bool, len(p.Deleted))
	for _, id := range p.Deleted {
		if _, written := last[id]; !written {
			if _, known := z.agents[id]; known {
				deleted[id] = true
			}
		}
	}
	var units []*unit
	for i := range p.Agents {
		r := &p.Agents[i]
		if last[r.ID] != i {
			continue
		}
		data, err := EncodeAgent(*r)
		if err != nil {
			return nil, fmt.Errorf("store: save: %w", err)
		}
		u := &unit{}
		pl.put(u, z.p.agent(r.ID), data, z.version(r.ID), effect{kind: effAgent, id: r.ID})
		if prev := r.PreviousID; deleted[prev] {
			delete(deleted, prev)
			u.add(&zk.DeleteRequest{Path: z.p.agent(prev), Version: z.agents[prev]}, effect{kind: effAgentDeleted, id: prev})
		}
		units = append(units, u)
	}
	for _, id := range p.Deleted {
		if deleted[id] {
			delete(deleted, id)
			u := &unit{}
			u.add(&zk.DeleteRequest{Path: z.p.agent(id), Version: z.agents[id]}, effect{kind: effAgentDeleted, id: id})
			units = append(units, u)
		}
	}
	if p.Global != nil {
		data, err := EncodeGlobal(*p.Global)
		if err != nil {
			return nil, fmt.Errorf("store: save: %w", err)
		}
		u := &unit{}
		pl.put(u, z.p.global(), data, z.global, effect{kind: effGlobal})
		units = append(units, u)
	}
	return units, nil
}

// SaveFramework stores the framework record in one fenced multi. It
// refuses to replace a stored framework ID with a different one.
func (z *ZK) SaveFramework(ctx context.Context, f Framework) error {
	data, err := EncodeFramework(f)
	if err != nil {
		return fmt.Errorf("store: save framework: %w", err)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if err := z.writable("save framework"); err != nil {
		return err
	}
	if z.framework != nil && z.framework.ID != f.ID {
		return fmt.Errorf("store: save framework %s: %s holds framework %s: %w (to register a new framework, stop every healer and delete that znode)",
			f.ID, z.p.framework(), z.framework.ID, ErrFrameworkIDChanged)
	}
	pl := &planner{z: z, planned: make(map[string]bool)}
	u := &unit{}
	pl.put(u, z.p.framework(), data, z.frameworkVersion, effect{kind: effFramework, framework: &f})
	return z.write(ctx, []*unit{u}, pl.bytes)
}

func (z *ZK) version(id coordinator.AgentID) int32 {
	if v, ok := z.agents[id]; ok {
		return v
	}
	return -1
}

// writable says why the store cannot write now, if it cannot.
func (z *ZK) writable(op string) error {
	switch {
	case z.cfg.Fence == "":
		return fmt.Errorf("store: %s: %w", op, ErrReadOnly)
	case !z.loaded:
		return fmt.Errorf("store: %s before Load: %w", op, ErrOutOfDate)
	case z.failed != nil:
		return fmt.Errorf("store: %s after a failed write (%v): %w", op, z.failed, ErrOutOfDate)
	}
	return nil
}

// write packs units into fenced multis of at most MaxMultiBytes and runs
// them in order. Any failure leaves the store out of date until Load.
func (z *ZK) write(ctx context.Context, units []*unit, dataBytes int) error {
	check := &zk.CheckVersionRequest{Path: z.cfg.Fence, Version: -1}
	var multis [][]*unit
	size := 0
	for _, u := range units {
		if len(multis) == 0 || size+u.size > MaxMultiBytes {
			multis = append(multis, nil)
			size = multiOverhead + opSize(check)
		}
		multis[len(multis)-1] = append(multis[len(multis)-1], u)
		size += u.size
	}
	for part, group := range multis {
		if err := ctx.Err(); err != nil {
			err = fmt.Errorf("store: save: before part %d of %d: %w", part+1, len(multis), err)
			if part > 0 {
				z.failed = err
			}
			return err
		}
		ops := []any{check}
		var effects []effect
		for _, u := range group {
			ops = append(ops, u.ops...)
			effects = append(effects, u.effects...)
		}
		start := time.Now()
		res, err := z.conn.Multi(ops...)
		z.observe("multi", start, err)
		z.multis.Add(1)
		z.ops.Add(uint64(len(ops)))
		if err != nil {
			err = z.multiError(ops, res, err, part, len(multis))
			z.failed = err
			return err
		}
		for i, e := range effects {
			z.apply(e, res[i+1])
		}
	}
	z.saves.Add(1)
	z.bytes.Add(uint64(dataBytes))
	return nil
}

func (z *ZK) apply(e effect, r zk.MultiResponse) {
	version := int32(0) // a create
	if r.Stat != nil {
		version = r.Stat.Version
	}
	switch e.kind {
	case effDir:
		z.dirs[e.path] = true
	case effAgent:
		z.agents[e.id] = version
	case effAgentDeleted:
		delete(z.agents, e.id)
	case effGlobal:
		z.global = version
	case effFramework:
		z.framework, z.frameworkVersion = e.framework, version
	case effAuditHead:
		z.auditVersion = version
	}
}

// multiError explains a failed multi.
func (z *ZK) multiError(ops []any, res []zk.MultiResponse, err error, part, parts int) error {
	where := "save"
	if parts > 1 {
		where = fmt.Sprintf("save part %d of %d", part+1, parts)
		if part > 0 {
			where += fmt.Sprintf(" (parts 1..%d are stored)", part)
		}
	}
	failed := -1
	for i, r := range res {
		if r.Error != nil {
			failed = i
			break
		}
	}
	switch {
	case failed == 0 && errors.Is(res[0].Error, zk.ErrNoNode):
		return fmt.Errorf("store: %s: fence %s: %w", where, z.cfg.Fence, ErrFenced)
	case errors.Is(err, zk.ErrSessionExpired):
		return fmt.Errorf("store: %s: %w: %w (the session expired: if the write reached ZooKeeper before, the next leader reads it)", where, ErrFenced, err)
	case errors.Is(err, zk.ErrNoServer):
		return fmt.Errorf("store: %s: %w (ZooKeeper unreachable: this part was not sent)", where, err)
	case failed < 0:
		// No per-op answer: the connection failed, and whether the multi
		// was applied is unknown.
		return fmt.Errorf("store: %s: %w (outcome unknown: reload)", where, err)
	}
	path, what := opPath(ops[failed])
	opErr := res[failed].Error
	switch {
	case errors.Is(opErr, zk.ErrNoAuth):
		return fmt.Errorf("store: %s: %s %s: %w (the znode's ACL does not admit healer: check the user:password in --zk)", where, what, path, opErr)
	case errors.Is(opErr, zk.ErrNodeExists), errors.Is(opErr, zk.ErrNoNode), errors.Is(opErr, zk.ErrBadVersion), errors.Is(opErr, zk.ErrNotEmpty):
		return fmt.Errorf("store: %s: %s %s: %w: %w", where, what, path, opErr, ErrOutOfDate)
	}
	return fmt.Errorf("store: %s: %s %s: %w", where, what, path, opErr)
}

func opPath(op any) (path, what string) {
	switch r := op.(type) {
	case *zk.CreateRequest:
		return r.Path, "create"
	case *zk.SetDataRequest:
		return r.Path, "update"
	case *zk.DeleteRequest:
		return r.Path, "delete"
	case *zk.CheckVersionRequest:
		return r.Path, "check"
	}
	return "", fmt.Sprintf("%T", op)
}
