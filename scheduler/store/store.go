package store

import (
	"context"
	"errors"
	"time"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// Store keeps healer's state: the framework record, the agent records and
// the global record. The runtime's event loop is its only writer.
type Store interface {
	// Load reads everything stored. The runtime builds its coordinator
	// from it with coordinator.Restore, at the start of every term and
	// after any failed Save.
	Load(ctx context.Context) (Snapshot, error)
	// Save writes a Ready's Persist and returns only once it is durable
	// (write-ahead: nothing of that Ready may be acted on before). An
	// empty Persist costs nothing. After an error, what is stored is
	// unknown to the caller: discard the coordinator and rebuild it from
	// a fresh Load.
	Save(ctx context.Context, p coordinator.Persist) error
	// SaveFramework stores the framework record. A stored framework ID is
	// never replaced by a different one (ErrFrameworkIDChanged).
	SaveFramework(ctx context.Context, f Framework) error
	// Counters are the store's running totals, for metrics.
	Counters() Counters
}

// Snapshot is everything Load read.
type Snapshot struct {
	// Framework is nil when no framework ID is stored yet.
	Framework *Framework
	// Agents are the agent records, sorted by agent id.
	Agents []coordinator.AgentRecord
	// Global is the zero GlobalRecord when none is stored yet.
	Global coordinator.GlobalRecord
	Stats  LoadStats
}

// LoadStats describes one Load.
type LoadStats struct {
	// Znodes is the number of record znodes read; Bytes their data.
	Znodes int
	Bytes  int64
	// Largest is the size of the largest record znode, LargestPath its
	// path.
	Largest     int
	LargestPath string
	// Requests is the number of ZooKeeper requests Load made (zero for
	// Memory).
	Requests int
	Took     time.Duration
}

// Counters are a store's running totals since it was made.
type Counters struct {
	// Saves counts Save and SaveFramework calls that wrote something
	// (empty Persists are not counted).
	Saves uint64
	// Multis counts ZooKeeper multi requests, each one transaction: the
	// store's writes. A Save is one multi unless its Persist is too big
	// for one (see ZK). Memory counts one per write.
	Multis uint64
	// Ops counts operations inside the multis, fence checks included.
	Ops uint64
	// BytesWritten counts record bytes written (znode data, without paths
	// and framing).
	BytesWritten uint64
	// Loads counts successful Loads; Reads the ZooKeeper read requests
	// (get, getChildren, exists) they and the store made.
	Loads uint64
	Reads uint64
}

var (
	// ErrFenced: the fence node (this instance's election node) is gone,
	// or its session expired: this instance is no longer the leader, and
	// nothing of the write was stored. Stop acting; the elector says what
	// comes next.
	ErrFenced = errors.New("fenced: this instance's election node is gone, it is not the leader any more")
	// ErrReadOnly: a Save on a store without a fence node (a standby's).
	ErrReadOnly = errors.New("read-only store: only the elected leader writes (no fence node)")
	// ErrOutOfDate: what the store knows of the znodes does not match
	// ZooKeeper (a record it would create exists, one it would update is
	// gone or was changed by someone else), or it has not loaded yet, or
	// an earlier Save failed. Rebuild from a fresh Load.
	ErrOutOfDate = errors.New("the store's view of ZooKeeper is out of date: Load again")
	// ErrFrameworkIDChanged: SaveFramework was asked to replace a stored
	// framework ID with another one, which would register a second
	// framework; healer never does that by itself.
	ErrFrameworkIDChanged = errors.New("a different framework ID is already stored")
)
