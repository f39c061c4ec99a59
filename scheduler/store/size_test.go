package store

import (
	"strings"
	"testing"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// maximalAgent is the largest record the coordinator and the store let
// through in practice: a full history (HistoryLen attempts) whose output
// tails are over the cap before the store clips them, and generous texts
// (the coordinator does not bound free text; the edges that feed it do).
func maximalAgent() coordinator.AgentRecord {
	r := fullAgent()
	r.Hostname = strings.Repeat("h", 253) // the longest DNS name
	r.Incident.Message = strings.Repeat("m", healerpb.MaxTextField)
	r.Incident.Source = strings.Repeat("s", 256)
	for i := range r.History {
		r.History[i].OutputTail = strings.Repeat("\xff", 2*healerpb.MaxOutputTail) // not UTF-8 on purpose
		r.History[i].Principal = strings.Repeat("p", 256)
		r.History[i].Problem = strings.Repeat("q", 256)
	}
	return r
}

// TestMaximalAgentRecordSize holds the znode budget: a maximal record stays
// far below ZooKeeper's 1 MB limit and MaxRecordBytes.
func TestMaximalAgentRecordSize(t *testing.T) {
	r := maximalAgent()
	if len(r.History) != coordinator.HistoryLen {
		t.Fatalf("history holds %d attempts, want the coordinator's cap %d", len(r.History), coordinator.HistoryLen)
	}
	b, err := EncodeAgent(r)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 64 << 10 // a sixteenth of ZooKeeper's 1 MB
	t.Logf("maximal AgentRecord: %d bytes (%d attempts × %d B output tails); MaxRecordBytes %d, ZooKeeper 1 MB",
		len(b), coordinator.HistoryLen, healerpb.MaxOutputTail, MaxRecordBytes)
	if len(b) > budget {
		t.Errorf("maximal AgentRecord is %d bytes, over the %d-byte budget", len(b), budget)
	}
}
