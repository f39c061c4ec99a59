package emulator

import (
	"sync"
	"time"
)

// RecordKind names what a Record is about.
type RecordKind string

// The kinds of things the emulator records.
const (
	RecordLaunch        RecordKind = "launch"         // a task was accepted for launch by the master
	RecordKill          RecordKind = "kill"           // a kill was requested (scheduler KILL, drain, shutdown)
	RecordStatusUpdate  RecordKind = "status_update"  // a status update was delivered to a framework
	RecordOperatorCall  RecordKind = "operator_call"  // an operator API call was handled
	RecordSchedulerCall RecordKind = "scheduler_call" // a scheduler API call was handled
	RecordFault         RecordKind = "fault"          // a fault was injected
	RecordLeader        RecordKind = "leader"         // a master became leader
)

// Record is one recorded event. Fields not relevant to a kind are empty.
type Record struct {
	At          time.Time
	Kind        RecordKind
	Master      string // master ID that handled it
	FrameworkID string
	AgentID     string
	TaskID      string
	ExecutorID  string
	Type        string // call type, task state or fault name
	Detail      string
}

// DefaultRecorderLimit is how many records a Recorder keeps by default.
const DefaultRecorderLimit = 100_000

// Recorder keeps the Records of a run, in order, for invariant checks: the
// latest Limit of them, so a long run (the demo binary runs for days) stays
// bounded; Dropped counts the older ones it let go. It is safe for
// concurrent use; the zero value is ready.
type Recorder struct {
	// Limit is how many records are kept: 0 means DefaultRecorderLimit,
	// negative means no limit. Set it before the first Add.
	Limit int

	mu      sync.Mutex
	records []Record // records[start:] are kept
	start   int
	dropped int
}

// Add appends a record, stamping it with the current time if At is zero.
// Beyond the limit the oldest record is dropped.
func (r *Recorder) Add(rec Record) {
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec)
	limit := r.Limit
	if limit == 0 {
		limit = DefaultRecorderLimit
	}
	if limit < 0 {
		return
	}
	if n := len(r.records) - r.start - limit; n > 0 {
		for i := r.start; i < r.start+n; i++ {
			r.records[i] = Record{} // release strings
		}
		r.start += n
		r.dropped += n
	}
	// Compact once the dropped prefix is as large as what is kept, so Add
	// stays amortized O(1) and memory at most twice the limit.
	if r.start > 0 && r.start >= len(r.records)-r.start {
		r.records = append(r.records[:0:0], r.records[r.start:]...)
		r.start = 0
	}
}

// Dropped is how many records were dropped to stay within the limit.
func (r *Recorder) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

// Records returns a copy of all records so far, optionally only those of the
// given kinds.
func (r *Recorder) Records(kinds ...RecordKind) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, len(r.records)-r.start)
	for _, rec := range r.records[r.start:] {
		if len(kinds) == 0 || containsKind(kinds, rec.Kind) {
			out = append(out, rec)
		}
	}
	return out
}

func containsKind(kinds []RecordKind, k RecordKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}
