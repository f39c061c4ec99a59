// Package healerpb holds healer's gogo/protobuf messages: the state persisted
// in ZooKeeper (AgentRecord, GlobalRecord, FrameworkRecord) and the payloads
// of Mesos messages (RepairTask, RepairResult, MonitorConfig, MonitorReport).
// The *.pb.go files are generated from proto/healer.proto by
// scripts/proto.sh; this file adds the size limits that keep messages small.
//
// Keep these types at the edges (scheduler/store, the Mesos adapters, the
// executor): the coordinator works on plain Go types, and scheduler/store
// converts its records to and from these messages.
package healerpb

const (
	// MaxOutputTail is how many bytes of a command's output are kept (in
	// Attempt.output_tail and RepairResult.output_tail): the end, where the
	// error usually is. With the coordinator's HistoryLen (10) attempts it
	// keeps an AgentRecord to a few tens of KB, far below ZooKeeper's 1 MB
	// znode limit (scheduler/store's size test holds that).
	MaxOutputTail = 4096
	// MaxTextField bounds free-text fields of messages from outside the
	// scheduler (violation messages of a MonitorReport), so a chatty
	// monitor cannot grow a message.
	MaxTextField = 1024
)

// Tail returns the last MaxOutputTail bytes of output.
func Tail(output []byte) []byte {
	if len(output) <= MaxOutputTail {
		return output
	}
	return output[len(output)-MaxOutputTail:]
}

// TailString is Tail for output held as a string (coordinator.Attempt).
func TailString(output string) string {
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
