package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-zookeeper/zk"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// AuditCapacity is how many audit entries a store keeps: the newest. Each
// entry past it replaces the oldest, so the trail never grows with use:
// under ZooKeeper it is AuditCapacity znodes of at most a few KB each
// (audit/0000 … audit/0999) and a head znode (audit) holding the newest
// seq. It is part of the format on disk.
const AuditCapacity = 1000

// MaxAuditPerWrite bounds the audit entries that go into one ZooKeeper
// multi (each entry is at most about 3 KB); SaveAudited splits more.
const MaxAuditPerWrite = 64

// Bounds of an audit entry's texts; longer ones are clipped (an entry is
// a record of what was asked, never a reason to refuse a request).
const (
	maxAuditShort  = 128  // principal, role, action, result
	maxAuditRemote = 64   // an address
	maxAuditTarget = 256  // an agent id or hostname as the caller wrote it
	maxAuditText   = 1024 // reason, detail
)

// AuditEntry is one entry of the audit trail: a request to a mutating
// admin endpoint, accepted or refused.
type AuditEntry struct {
	// Seq numbers entries from 1 in the order they were first written.
	// SaveAudited assigns it to entries that have none; an entry with a
	// Seq rewrites that entry (identical refusals in a row are merged into
	// one, see Count).
	Seq uint64
	At  time.Time
	// Count is how many identical requests the entry stands for (at least
	// 1), LastAt when the last of them came.
	Count  uint32
	LastAt time.Time
	// Principal is the token's name ("anonymous" without tokens), Role its
	// role, Remote the client's address.
	Principal, Role, Remote string
	// Action is the endpoint's action (approve, cancel, isolate, ...,
	// repair, alertmanager); Target the agent id or hostname it named.
	Action, Target    string
	Incident, Attempt uint64
	// Reason is the operator's reason, or the signal's problem.
	Reason string
	// Result is "accepted" or "refused"; Code the HTTP status answered;
	// Detail the decision or the error.
	Result string
	Code   int
	Detail string
}

// Auditor is a store that keeps the audit trail. Both Memory and ZK are.
type Auditor interface {
	// SaveAudited is Save, plus the audit entries in the same write(s):
	// an accepted operator command and its entry are stored together or
	// not at all. It assigns Seq to the entries without one (and to those
	// whose Seq the ring no longer holds).
	SaveAudited(ctx context.Context, p coordinator.Persist, audit []AuditEntry) error
	// LoadAudit reads the newest limit entries (all kept, when limit ≤ 0),
	// oldest first. It may be called on a standby's read-only store, and
	// concurrently with writes.
	LoadAudit(ctx context.Context, limit int) ([]AuditEntry, error)
}

var (
	_ Auditor = (*Memory)(nil)
	_ Auditor = (*ZK)(nil)
)

// clip cuts s to at most n bytes on a UTF-8 boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// EncodeAudit serializes an audit entry for its znode, clipping its texts.
func EncodeAudit(a AuditEntry) ([]byte, error) {
	var e encoder
	m := &healerpb.AuditEntry{
		Seq: a.Seq, AtUnixNano: e.time("at", a.At), LastAtUnixNano: e.time("last_at", a.LastAt), Count: a.Count,
		Principal: clip(a.Principal, maxAuditShort), Role: clip(a.Role, maxAuditShort),
		Remote: clip(a.Remote, maxAuditRemote), Action: clip(a.Action, maxAuditShort),
		Target: clip(a.Target, maxAuditTarget), Incident: a.Incident, Attempt: a.Attempt,
		Reason: clip(a.Reason, maxAuditText), Result: clip(a.Result, maxAuditShort), Code: int32(a.Code),
		Detail: clip(a.Detail, maxAuditText),
	}
	if e.err == nil && a.Seq == 0 {
		e.err = fmt.Errorf("no seq: %w", ErrBadRecord)
	}
	if e.err != nil {
		return nil, fmt.Errorf("store: encode audit entry %d: %w", a.Seq, e.err)
	}
	return marshal(m, "audit entry "+strconv.FormatUint(a.Seq, 10))
}

// DecodeAudit parses an audit entry written by EncodeAudit.
func DecodeAudit(b []byte) (AuditEntry, error) {
	var m healerpb.AuditEntry
	if err := m.Unmarshal(b); err != nil {
		return AuditEntry{}, fmt.Errorf("store: decode audit entry: %w", err)
	}
	if m.Seq == 0 {
		return AuditEntry{}, fmt.Errorf("store: decode audit entry: no seq: %w", ErrBadRecord)
	}
	return AuditEntry{Seq: m.Seq, At: decodeTime(m.AtUnixNano), LastAt: decodeTime(m.LastAtUnixNano), Count: m.Count,
		Principal: m.Principal, Role: m.Role, Remote: m.Remote, Action: m.Action, Target: m.Target,
		Incident: m.Incident, Attempt: m.Attempt, Reason: m.Reason, Result: m.Result, Code: int(m.Code),
		Detail: m.Detail}, nil
}

func encodeAuditHead(seq uint64) []byte {
	b, _ := (&healerpb.AuditHead{Seq: seq}).Marshal()
	return b
}

func decodeAuditHead(b []byte) (uint64, error) {
	var m healerpb.AuditHead
	if err := m.Unmarshal(b); err != nil {
		return 0, fmt.Errorf("store: decode audit head: %w", err)
	}
	return m.Seq, nil
}

// auditSlot is the slot of an entry.
func auditSlot(seq uint64) uint64 { return (seq - 1) % AuditCapacity }

// assignSeqs numbers the entries without a Seq after head and returns
// them and the new head. An entry whose Seq the ring no longer holds (or
// never held) is numbered anew: what it records is kept, as the newest.
func assignSeqs(head uint64, audit []AuditEntry) ([]AuditEntry, uint64) {
	out := make([]AuditEntry, len(audit))
	for i, a := range audit {
		if a.Seq == 0 || a.Seq > head || head-a.Seq >= AuditCapacity {
			head++
			a.Seq = head
		}
		if a.Count == 0 {
			a.Count = 1
		}
		out[i] = a
	}
	return out, head
}

// newest lists the seqs of the newest limit entries under head, oldest
// first.
func newest(head uint64, limit int) []uint64 {
	n := min(head, AuditCapacity)
	if limit > 0 && uint64(limit) < n {
		n = uint64(limit)
	}
	seqs := make([]uint64, 0, n)
	for s := head - n + 1; s <= head && n > 0; s++ {
		seqs = append(seqs, s)
	}
	return seqs
}

// SaveAudited implements Auditor.
func (m *Memory) SaveAudited(ctx context.Context, p coordinator.Persist, audit []AuditEntry) error {
	if len(audit) == 0 {
		return m.Save(ctx, p)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: save: %w", err)
	}
	m.mu.Lock()
	head := m.auditHead
	m.mu.Unlock()
	entries, head := assignSeqs(head, audit)
	data := make([][]byte, len(entries))
	for i, a := range entries {
		b, err := EncodeAudit(a)
		if err != nil {
			return fmt.Errorf("store: save: %w", err)
		}
		data[i] = b
	}
	if err := m.Save(ctx, p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.audit == nil {
		m.audit = make([][]byte, AuditCapacity)
	}
	for i, a := range entries {
		m.audit[auditSlot(a.Seq)] = data[i]
		m.counters.BytesWritten += uint64(len(data[i]))
	}
	m.auditHead = head
	copyBack(audit, entries)
	return nil
}

// copyBack gives the caller's entries the seqs assigned to them.
func copyBack(audit, entries []AuditEntry) {
	for i := range audit {
		audit[i].Seq = entries[i].Seq
	}
}

// LoadAudit implements Auditor.
func (m *Memory) LoadAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: load audit: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AuditEntry
	for _, s := range newest(m.auditHead, limit) {
		a, err := DecodeAudit(m.audit[auditSlot(s)])
		if err != nil {
			return nil, fmt.Errorf("store: load audit entry %d: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// auditPaths are the audit trail's znodes.
func (p paths) audit() string { return p.root + "/" + auditNode }
func (p paths) auditEntry(seq uint64) string {
	return fmt.Sprintf("%s/%s/%04d", p.root, auditNode, auditSlot(seq))
}

const auditNode = "audit"

// readAuditHead reads the newest seq (0 when nothing was audited yet) and
// the head znode's version (-1 when it does not exist).
func (z *ZK) readAuditHead() (uint64, int32, error) {
	b, st, err := z.get(z.p.audit())
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return 0, -1, nil
	case err != nil:
		return 0, 0, readError(z.p.audit(), err)
	}
	head, err := decodeAuditHead(b)
	if err != nil {
		return 0, 0, fmt.Errorf("store: load %s: %w", z.p.audit(), err)
	}
	return head, st.Version, nil
}

// SaveAudited implements Auditor: p and the entries are written together,
// in the same fenced multi when they fit (at most MaxAuditPerWrite entries
// go into one multi; each such multi also moves the head). A change and
// the entry that records it are stored together or, if the save fails, not
// at all. The head is read at the first audited save after a Load: the
// fenced leader is its only writer.
func (z *ZK) SaveAudited(ctx context.Context, p coordinator.Persist, audit []AuditEntry) error {
	if len(audit) == 0 {
		return z.Save(ctx, p)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if err := z.writable("save"); err != nil {
		return err
	}
	if !z.auditKnown {
		head, version, err := z.readAuditHead()
		if err != nil {
			return fmt.Errorf("store: save: %w", err)
		}
		z.auditHead, z.auditVersion, z.auditKnown = head, version, true
	}
	pl := &planner{z: z, planned: make(map[string]bool)}
	units, err := z.plan(pl, p)
	if err != nil {
		return err
	}
	entries, head := assignSeqs(z.auditHead, audit)
	version := z.auditVersion
	// The head is the newest seq written: a merged refusal rewrites an
	// older entry, which must not move it back (the next leader would
	// number from there, overwriting newer entries, and a standby would
	// read from there).
	top := z.auditHead
	for rest := entries; len(rest) > 0; {
		chunk := rest[:min(len(rest), MaxAuditPerWrite)]
		rest = rest[len(chunk):]
		u := &unit{}
		for _, a := range chunk {
			top = max(top, a.Seq)
		}
		if version < 0 {
			pl.dirs(u, z.p.audit())
			u.add(&zk.CreateRequest{Path: z.p.audit(), Data: encodeAuditHead(top), Acl: z.acl}, effect{kind: effAuditHead})
			version = 0
		} else {
			u.add(&zk.SetDataRequest{Path: z.p.audit(), Data: encodeAuditHead(top), Version: version}, effect{kind: effAuditHead})
			version++
		}
		for _, a := range chunk {
			data, err := EncodeAudit(a)
			if err != nil {
				return fmt.Errorf("store: save: %w", err)
			}
			pl.bytes += len(data)
			path := z.p.auditEntry(a.Seq)
			if a.Seq > z.auditHead && a.Seq <= AuditCapacity {
				// The ring's first lap creates its slots.
				u.add(&zk.CreateRequest{Path: path, Data: data, Acl: z.acl}, effect{kind: effAuditEntry})
			} else {
				u.add(&zk.SetDataRequest{Path: path, Data: data, Version: -1}, effect{kind: effAuditEntry})
			}
		}
		units = append(units, u)
	}
	if err := z.write(ctx, units, pl.bytes); err != nil {
		return err
	}
	z.auditHead = max(z.auditHead, head)
	copyBack(audit, entries)
	return nil
}

// LoadAudit implements Auditor. It reads the head, then the newest limit
// slots in parallel; it takes no lock, so a standby and the leader's
// readers never wait for a write.
func (z *ZK) LoadAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	head, _, err := z.readAuditHead()
	if err != nil {
		return nil, err
	}
	seqs := newest(head, limit)
	out := make([]AuditEntry, len(seqs))
	keep := make([]bool, len(seqs))
	err = parallel(ctx, len(seqs), func(i int) error {
		path := z.p.auditEntry(seqs[i])
		b, _, err := z.get(path)
		if errors.Is(err, zk.ErrNoNode) {
			return nil // not written yet: a head ahead of a failed write
		}
		if err != nil {
			return readError(path, err)
		}
		a, err := DecodeAudit(b)
		if err != nil {
			return fmt.Errorf("store: load %s: %w", path, err)
		}
		if a.Seq != seqs[i] {
			return nil // the ring moved on while reading: a newer entry is there
		}
		out[i], keep[i] = a, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	var res []AuditEntry
	for i := range out {
		if keep[i] {
			res = append(res, out[i])
		}
	}
	return res, nil
}
