package store

import (
	"strings"
	"testing"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// maximalAgent is the largest record the coordinator lets through: a full
// history (HistoryLen attempts) and every text at the coordinator's bound,
// in three-byte runes where that is the widest a bound allows.
func maximalAgent() coordinator.AgentRecord {
	r := fullAgent()
	r.ID = coordinator.AgentID(strings.Repeat("i", coordinator.MaxAgentIDBytes))
	r.PreviousID = coordinator.AgentID(strings.Repeat("j", coordinator.MaxAgentIDBytes))
	r.Hostname = strings.Repeat("h", coordinator.MaxHostnameBytes)
	r.Zone = strings.Repeat("z", coordinator.MaxZoneBytes)
	r.Incident.Problem = strings.Repeat("q", coordinator.MaxProblemBytes)
	r.Incident.Source = strings.Repeat("s", coordinator.MaxSourceBytes)
	r.Incident.Message = strings.Repeat("€", coordinator.MaxMessageBytes/3)
	r.Incident.ApprovedBy = strings.Repeat("p", coordinator.MaxPrincipalBytes)
	r.Incident.Run.ForcedBy = strings.Repeat("p", coordinator.MaxPrincipalBytes)
	for i := range r.History {
		r.History[i].OutputTail = strings.Repeat("€", coordinator.MaxOutputTailBytes/3)
		r.History[i].Principal = strings.Repeat("p", coordinator.MaxPrincipalBytes)
		r.History[i].Problem = strings.Repeat("q", coordinator.MaxProblemBytes)
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
		len(b), coordinator.HistoryLen, coordinator.MaxOutputTailBytes, MaxRecordBytes)
	if len(b) > budget {
		t.Errorf("maximal AgentRecord is %d bytes, over the %d-byte budget", len(b), budget)
	}
	if got := roundTripAgent(t, r); got.History[0].OutputTail != r.History[0].OutputTail {
		t.Error("a maximal output tail did not round-trip unchanged")
	}
}

// TestMaximalGlobalRecordSize: a pause reason and principal at their bounds.
func TestMaximalGlobalRecordSize(t *testing.T) {
	g := coordinator.GlobalRecord{Paused: true, PauseReason: strings.Repeat("r", coordinator.MaxReasonBytes),
		PausedBy: strings.Repeat("p", coordinator.MaxPrincipalBytes)}
	if _, err := EncodeGlobal(g); err != nil {
		t.Fatal(err)
	}
}
