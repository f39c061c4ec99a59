package emulator

import (
	"errors"
	"fmt"
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
	// Client is the caller's User-Agent, for scheduler and operator calls:
	// which of several scheduler instances made a call (a real master logs
	// it with every request).
	Client string
}

// DefaultRecorderLimit is how many records the standalone mesos-emulator
// keeps (it runs for days); Clusters that tests start keep everything.
const DefaultRecorderLimit = 100_000

// Recorder keeps the Records of a run, in order, for invariant checks. By
// default it keeps every record; with a positive Limit only the latest Limit
// of them, so a long run stays bounded, and Dropped counts the older ones it
// let go. A verifier that checks a whole run must therefore also check
// Dropped() == 0, or it may pass on a run whose offending records were
// dropped; Verify does. It is safe for concurrent use; the zero value is
// ready and unlimited.
type Recorder struct {
	// Limit is how many records are kept: 0 or negative means no limit.
	// Set it before the first Add.
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
	if limit <= 0 {
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

// Invariant is a property of a whole run: it returns nil when the records,
// oldest first, satisfy it, and otherwise an error naming the offending
// records.
type Invariant func(records []Record) error

// ErrRecordsDropped is returned by Verify when the recorder has dropped
// records, so a whole-run invariant cannot be checked.
var ErrRecordsDropped = errors.New("emulator: recorder dropped records; the run cannot be verified whole")

// Verify checks every invariant over all the records so far, returning their
// failures joined, or ErrRecordsDropped if any record was dropped.
func (r *Recorder) Verify(invariants ...Invariant) error {
	if n := r.Dropped(); n > 0 {
		return fmt.Errorf("%w (%d dropped, Limit %d)", ErrRecordsDropped, n, r.Limit)
	}
	recs := r.Records()
	var errs []error
	for _, inv := range invariants {
		if err := inv(recs); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LaunchedAtMostOnce is the invariant that no task ID is launched twice by
// one framework over the run, including across master failovers (the
// records of every master are checked together).
func LaunchedAtMostOnce(records []Record) error {
	first := make(map[[2]string]Record)
	var errs []error
	for _, rec := range records {
		if rec.Kind != RecordLaunch {
			continue
		}
		k := [2]string{rec.FrameworkID, rec.TaskID}
		if prev, ok := first[k]; ok {
			errs = append(errs, fmt.Errorf("task %s of framework %s launched again at %s on agent %s (first at %s on agent %s)",
				rec.TaskID, rec.FrameworkID, rec.At.Format(time.RFC3339Nano), rec.AgentID, prev.At.Format(time.RFC3339Nano), prev.AgentID))
			continue
		}
		first[k] = rec
	}
	return errors.Join(errs...)
}

// NoLaunchAfterTeardown is the invariant that no task of a framework is
// launched after the framework's TEARDOWN call was handled.
func NoLaunchAfterTeardown(records []Record) error {
	tornDown := make(map[string]time.Time)
	var errs []error
	for _, rec := range records {
		switch {
		case rec.Kind == RecordSchedulerCall && rec.Type == "TEARDOWN":
			if _, ok := tornDown[rec.FrameworkID]; !ok {
				tornDown[rec.FrameworkID] = rec.At
			}
		case rec.Kind == RecordLaunch:
			if at, ok := tornDown[rec.FrameworkID]; ok {
				errs = append(errs, fmt.Errorf("task %s of framework %s launched at %s after its teardown at %s",
					rec.TaskID, rec.FrameworkID, rec.At.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano)))
			}
		}
	}
	return errors.Join(errs...)
}
