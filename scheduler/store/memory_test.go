package store

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

func TestMemory(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	if snap := mustLoad(t, m); snap.Framework != nil || snap.Agents != nil || snap.Global != (coordinator.GlobalRecord{}) {
		t.Fatalf("a new Memory loads %+v", snap)
	}
	full, g := fullAgent(), fullGlobal()
	check(t, m.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("b"), full, agent("a")}, Global: &g}))
	check(t, m.SaveFramework(ctx, Framework{ID: "fw-1", RegisteredAt: t0}))
	snap := mustLoad(t, m)
	checkAgents(t, snap.Agents, full, agent("a"), agent("b"))
	if !reflect.DeepEqual(snap.Global, g) || snap.Framework == nil || snap.Framework.ID != "fw-1" {
		t.Fatalf("loaded %+v", snap)
	}
	if snap.Stats.Znodes != 5 || snap.Stats.Largest == 0 {
		t.Errorf("stats %+v", snap.Stats)
	}

	// A move, written and deleted in one Persist.
	moved := agent("c")
	moved.PreviousID = "a"
	check(t, m.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{moved}, Deleted: []coordinator.AgentID{"a", "b", "never"}}))
	checkAgents(t, mustLoad(t, m).Agents, full, moved)

	c := m.Counters()
	check(t, m.Save(ctx, coordinator.Persist{}))
	if m.Counters() != c {
		t.Errorf("an empty Persist counted as a write")
	}
	if err := m.SaveFramework(ctx, Framework{ID: "fw-2"}); !errors.Is(err, ErrFrameworkIDChanged) {
		t.Errorf("replacing the framework ID: %v, want ErrFrameworkIDChanged", err)
	}
	// A record that does not encode changes nothing.
	bad := agent("d")
	bad.Incident.Message = strings.Repeat("x", MaxRecordBytes+1)
	bad.State = coordinator.StatePending
	if err := m.Save(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("e"), bad}}); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversized record: %v, want ErrRecordTooLarge", err)
	}
	checkAgents(t, mustLoad(t, m).Agents, full, moved)
}
