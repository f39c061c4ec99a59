// Package healerpb holds healer's gogo/protobuf messages: the state persisted
// in ZooKeeper (AgentRecord, GlobalRecord, FrameworkRecord) and the payloads
// of Mesos messages (RepairTask, RepairResult, MonitorConfig, MonitorReport).
// The *.pb.go files are generated from proto/healer.proto by
// scripts/proto.sh; this file adds the size limits that keep an AgentRecord
// small, and the helpers that enforce them.
//
// Keep these types at the edges (the store and the Mesos adapters): the
// coordinator works on plain Go types.
package healerpb

const (
	// MaxAttempts is how many attempts an AgentRecord keeps (the newest).
	// With MaxOutputTail and MaxTextField it bounds a record to about 110 KB, a
	// ninth of ZooKeeper's default 1 MB znode limit (jute.maxbuffer); the size test
	// in this package holds that.
	MaxAttempts = 20
	// MaxOutputTail is how many bytes of a command's output are kept: the
	// end, where the error usually is.
	MaxOutputTail = 4096
	// MaxSources is how many distinct signal sources an Incident lists.
	MaxSources = 16
	// MaxTextField bounds free-text fields that come from outside (signal
	// messages, reasons), so a chatty monitor cannot grow a record.
	MaxTextField = 1024
)

// Tail returns the last MaxOutputTail bytes of output.
func Tail(output []byte) []byte {
	if len(output) <= MaxOutputTail {
		return output
	}
	return output[len(output)-MaxOutputTail:]
}

// Clip returns s cut to at most MaxTextField bytes (on a byte boundary; the
// field is for humans, a split rune at the end is harmless).
func Clip(s string) string {
	if len(s) <= MaxTextField {
		return s
	}
	return s[:MaxTextField]
}

// AppendAttempt adds a to r's history, clipping its output tail and reason
// and dropping the oldest attempts beyond MaxAttempts.
func (r *AgentRecord) AppendAttempt(a Attempt) {
	a.OutputTail = Tail(a.OutputTail)
	a.Reason = Clip(a.Reason)
	r.Attempts = append(r.Attempts, a)
	if n := len(r.Attempts) - MaxAttempts; n > 0 {
		r.Attempts = append(r.Attempts[:0], r.Attempts[n:]...)
	}
}

// AddSource records a signal source on the incident if it is new and the
// list has room; it reports whether the source was added.
func (i *Incident) AddSource(source string) bool {
	source = Clip(source)
	for _, s := range i.Sources {
		if s == source {
			return false
		}
	}
	if len(i.Sources) >= MaxSources {
		return false
	}
	i.Sources = append(i.Sources, source)
	return true
}
