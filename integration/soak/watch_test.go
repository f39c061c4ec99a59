package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/store"
)

// zkWatch follows healer's znodes with ZooKeeper watches: the election's
// member nodes (who leads when), the framework znode, and every version of
// every agent record it can read. A record written twice between two reads
// shows as a skipped version (counted in skipped); the checks only compare
// versions the watch saw.
type zkWatch struct {
	conn   *zk.Conn
	chroot string
	events chan watchFired
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu        sync.Mutex
	leaders   []LeaderSpan
	agents    map[string][]AgentVersion
	framework []string
	skipped   int
	errs      []string
	// audit is the audit trail's entries as the watch read them (oldest
	// first); auditHead the newest seq read.
	audit     []store.AuditEntry
	auditHead uint64
	armed     map[string]bool // paths with a watch set
}

type watchFired struct {
	path string
	kind string // "children", "data"
}

func startWatch(ctx context.Context, servers, chroot string) (*zkWatch, error) {
	conn, _, err := zk.Connect(strings.Split(servers, ","), 30*time.Second, zk.WithLogInfo(false), zk.WithLogger(quiet{}))
	if err != nil {
		return nil, err
	}
	w := &zkWatch{conn: conn, chroot: chroot, events: make(chan watchFired, 4096), done: make(chan struct{}),
		agents: map[string][]AgentVersion{}, armed: map[string]bool{}}
	w.wg.Add(1)
	go w.run(ctx)
	return w, nil
}

// close stops the watch; its results stay readable.
func (w *zkWatch) close() {
	w.once.Do(func() {
		close(w.done)
		w.conn.Close()
		w.wg.Wait()
	})
}

func (w *zkWatch) run(ctx context.Context) {
	defer w.wg.Done()
	w.children(w.chroot+"/leader", w.onLeader)
	w.data(w.chroot+"/framework", w.onFramework)
	w.children(w.chroot+"/agents", w.onBuckets)
	w.data(w.chroot+"/audit", w.onAuditHead)
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.done:
			return
		case f := <-w.events:
			w.mu.Lock()
			delete(w.armed, f.kind+f.path)
			w.mu.Unlock()
			w.dispatch(f)
		case <-retry.C:
			// Paths whose watch could not be set (no quorum, node not there
			// yet) are tried again.
			w.dispatch(watchFired{w.chroot + "/leader", "children"})
			w.dispatch(watchFired{w.chroot + "/framework", "data"})
			w.dispatch(watchFired{w.chroot + "/agents", "children"})
			w.dispatch(watchFired{w.chroot + "/audit", "data"})
		}
	}
}

func (w *zkWatch) dispatch(f watchFired) {
	switch {
	case f.path == w.chroot+"/leader":
		w.children(f.path, w.onLeader)
	case f.path == w.chroot+"/framework":
		w.data(f.path, w.onFramework)
	case f.path == w.chroot+"/agents":
		w.children(f.path, w.onBuckets)
	case f.path == w.chroot+"/audit":
		w.data(f.path, w.onAuditHead)
	case f.kind == "children":
		w.children(f.path, w.onAgents)
	default:
		w.data(f.path, w.onAgent)
	}
}

func (w *zkWatch) isArmed(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.armed[key]
}

// forward hands a fired watch to the loop.
func (w *zkWatch) forward(p, kind string, ch <-chan zk.Event) {
	w.mu.Lock()
	w.armed[kind+p] = true
	w.mu.Unlock()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		select {
		case <-ch: // fires once; closed when the connection closes
		case <-w.done:
			return
		}
		select {
		case w.events <- watchFired{p, kind}:
		case <-w.done:
		}
	}()
}

func (w *zkWatch) children(p string, on func(string, []string)) {
	if w.isArmed("children" + p) {
		return
	}
	kids, _, ch, err := w.conn.ChildrenW(p)
	if errors.Is(err, zk.ErrNoNode) {
		_, _, ch, err = w.conn.ExistsW(p)
		if err == nil {
			w.forward(p, "children", ch)
		}
		return
	}
	if err != nil {
		return
	}
	w.forward(p, "children", ch)
	on(p, kids)
}

func (w *zkWatch) data(p string, on func(string, []byte, *zk.Stat, bool)) {
	if w.isArmed("data" + p) {
		return
	}
	b, st, ch, err := w.conn.GetW(p)
	if errors.Is(err, zk.ErrNoNode) {
		var ok bool
		ok, _, ch, err = w.conn.ExistsW(p)
		if err == nil {
			w.forward(p, "data", ch)
			if !ok {
				on(p, nil, nil, false)
			}
		}
		return
	}
	if err != nil {
		return
	}
	w.forward(p, "data", ch)
	on(p, b, st, true)
}

func (w *zkWatch) onLeader(p string, kids []string) {
	type member struct {
		name string
		seq  int64
	}
	var ms []member
	for _, k := range kids {
		i := strings.LastIndexByte(k, '-')
		if seq, err := strconv.ParseInt(k[i+1:], 10, 64); err == nil && strings.HasPrefix(k, "member-") {
			ms = append(ms, member{k, seq})
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	lead := ""
	if len(ms) > 0 {
		b, _, err := w.conn.Get(p + "/" + ms[0].name)
		var m struct {
			ID string `json:"id"`
		}
		if err == nil && json.Unmarshal(b, &m) == nil {
			lead = m.ID
		}
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(w.leaders)
	if n > 0 && w.leaders[n-1].To.IsZero() {
		if w.leaders[n-1].Instance == lead {
			return
		}
		w.leaders[n-1].To = now
	}
	if lead != "" {
		w.leaders = append(w.leaders, LeaderSpan{Instance: lead, From: now})
	}
}

func (w *zkWatch) onFramework(_ string, b []byte, _ *zk.Stat, ok bool) {
	if !ok {
		return
	}
	f, err := store.DecodeFramework(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.errs = append(w.errs, "framework znode: "+err.Error())
		return
	}
	if n := len(w.framework); n == 0 || w.framework[n-1] != f.ID {
		w.framework = append(w.framework, f.ID)
	}
}

func (w *zkWatch) onBuckets(p string, kids []string) {
	for _, k := range kids {
		w.children(p+"/"+k, w.onAgents)
	}
}

func (w *zkWatch) onAgents(p string, kids []string) {
	for _, k := range kids {
		w.data(path.Join(p, k), w.onAgent)
	}
}

func (w *zkWatch) onAgent(p string, b []byte, st *zk.Stat, ok bool) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	vs := w.agents[p]
	if !ok {
		if len(vs) > 0 && !vs[len(vs)-1].Deleted {
			w.agents[p] = append(vs, AgentVersion{Seen: now, Deleted: true})
		}
		return
	}
	if n := len(vs); n > 0 && !vs[n-1].Deleted {
		last := vs[n-1].Version
		if st.Version == last {
			return
		}
		if st.Version > last+1 {
			w.skipped += int(st.Version - last - 1)
		}
	}
	r, err := store.DecodeAgent(b)
	if err != nil {
		w.errs = append(w.errs, p+": "+err.Error())
		return
	}
	w.agents[p] = append(vs, AgentVersion{Seen: now, Mtime: time.UnixMilli(st.Mtime), Version: st.Version, Record: r})
}

// onAuditHead reads the audit entries written since the last head it saw:
// the head znode moves in the same transaction as the entries it counts,
// so each change of it brings new entries (at most the ring's 1000 are
// still there). A read that fails leaves the rest for the next change, or
// for GET /audit at the end.
func (w *zkWatch) onAuditHead(_ string, b []byte, _ *zk.Stat, ok bool) {
	if !ok {
		return
	}
	var h healerpb.AuditHead
	if err := h.Unmarshal(b); err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, "audit head: "+err.Error())
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	from := w.auditHead + 1
	w.mu.Unlock()
	if h.Seq >= store.AuditCapacity && from < h.Seq-store.AuditCapacity+1 {
		from = h.Seq - store.AuditCapacity + 1
	}
	var got []store.AuditEntry
	read := from - 1
	for seq := from; seq <= h.Seq; seq++ {
		p := fmt.Sprintf("%s/audit/%04d", w.chroot, (seq-1)%store.AuditCapacity)
		data, _, err := w.conn.Get(p)
		if err != nil {
			break
		}
		a, err := store.DecodeAudit(data)
		if err != nil {
			w.mu.Lock()
			w.errs = append(w.errs, p+": "+err.Error())
			w.mu.Unlock()
			break
		}
		if a.Seq == seq {
			got = append(got, a)
		}
		read = seq
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.audit = append(w.audit, got...)
	w.auditHead = max(w.auditHead, read)
}

// currentLeader is the instance the watch last saw lead ("" if none).
func (w *zkWatch) currentLeader() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.leaders); n > 0 && w.leaders[n-1].To.IsZero() {
		return w.leaders[n-1].Instance
	}
	return ""
}

// quiet drops go-zookeeper's log: it reports every failed reconnection,
// which the soak causes on purpose.
type quiet struct{}

func (quiet) Printf(string, ...any) {}
