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

// Recorder keeps every Record of a run, in order, for invariant checks. It is
// safe for concurrent use; the zero value is ready.
type Recorder struct {
	mu      sync.Mutex
	records []Record
}

// Add appends a record, stamping it with the current time if At is zero.
func (r *Recorder) Add(rec Record) {
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
}

// Records returns a copy of all records so far, optionally only those of the
// given kinds.
func (r *Recorder) Records(kinds ...RecordKind) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, len(r.records))
	for _, rec := range r.records {
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
