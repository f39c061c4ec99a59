package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// Memory is a store in process memory, for trial runs and the demo: the
// ZK store's semantics without durability or fencing. Records go through
// the codec both ways, so what Load returns is exactly what the ZK store
// would return (times in UTC, records over MaxRecordBytes refused), and
// SaveFramework refuses to replace a framework ID likewise. Everything is
// lost when the process ends.
type Memory struct {
	mu        sync.Mutex
	framework []byte
	global    []byte
	agents    map[coordinator.AgentID][]byte
	counters  Counters
	// audit is the audit trail's ring (AuditCapacity slots, encoded like
	// ZK's), auditHead the newest entry's seq.
	audit     [][]byte
	auditHead uint64
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{agents: make(map[coordinator.AgentID][]byte)}
}

// Load returns everything saved so far.
func (m *Memory) Load(ctx context.Context) (Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("store: load: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	var snap Snapshot
	account := func(path string, n int) {
		snap.Stats.Znodes++
		snap.Stats.Bytes += int64(n)
		if n > snap.Stats.Largest {
			snap.Stats.Largest, snap.Stats.LargestPath = n, path
		}
	}
	if m.framework != nil {
		f, err := DecodeFramework(m.framework)
		if err != nil {
			return Snapshot{}, fmt.Errorf("store: load framework: %w", err)
		}
		snap.Framework = &f
		account(frameworkNode, len(m.framework))
	}
	if m.global != nil {
		g, err := DecodeGlobal(m.global)
		if err != nil {
			return Snapshot{}, fmt.Errorf("store: load global: %w", err)
		}
		snap.Global = g
		account(globalNode, len(m.global))
	}
	for id, b := range m.agents {
		r, err := DecodeAgent(b)
		if err != nil {
			return Snapshot{}, fmt.Errorf("store: load agent %s: %w", id, err)
		}
		snap.Agents = append(snap.Agents, r)
		account(agentsNode+"/"+bucketOf(id)+"/"+escapeID(id), len(b))
	}
	slices.SortFunc(snap.Agents, func(a, b coordinator.AgentRecord) int { return cmp.Compare(a.ID, b.ID) })
	m.counters.Loads++
	snap.Stats.Took = time.Since(start)
	return snap, nil
}

// Save applies p. Nothing is changed when a record does not encode.
func (m *Memory) Save(ctx context.Context, p coordinator.Persist) error {
	if p.Empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: save: %w", err)
	}
	agents := make(map[coordinator.AgentID][]byte, len(p.Agents))
	n := 0
	for _, r := range p.Agents {
		b, err := EncodeAgent(r)
		if err != nil {
			return fmt.Errorf("store: save: %w", err)
		}
		agents[r.ID] = b
		n += len(b)
	}
	var global []byte
	if p.Global != nil {
		b, err := EncodeGlobal(*p.Global)
		if err != nil {
			return fmt.Errorf("store: save: %w", err)
		}
		global = b
		n += len(b)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range p.Deleted {
		if _, written := agents[id]; !written {
			delete(m.agents, id)
		}
	}
	for id, b := range agents {
		m.agents[id] = b
	}
	if global != nil {
		m.global = global
	}
	m.counters.Saves++
	m.counters.Multis++
	m.counters.BytesWritten += uint64(n)
	return nil
}

// SaveFramework stores f, refusing to replace a different framework ID.
func (m *Memory) SaveFramework(ctx context.Context, f Framework) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: save framework: %w", err)
	}
	b, err := EncodeFramework(f)
	if err != nil {
		return fmt.Errorf("store: save framework: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.framework != nil {
		old, err := DecodeFramework(m.framework)
		if err == nil && old.ID != f.ID {
			return fmt.Errorf("store: save framework %s: framework %s is stored: %w", f.ID, old.ID, ErrFrameworkIDChanged)
		}
	}
	m.framework = b
	m.counters.Saves++
	m.counters.Multis++
	m.counters.BytesWritten += uint64(len(b))
	return nil
}

// Counters returns the running totals (Multis counts writes).
func (m *Memory) Counters() Counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.counters
}
