package emulator

import (
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/testtool"
)

// AllocationRuns counts periodic runs only while the master leads, and
// counts a run triggered by a subscription apart from the periodic ones.
func TestAllocationRunsCountsLeadingRuns(t *testing.T) {
	standby := NewMaster(MasterConfig{AllocationInterval: 10 * time.Millisecond, AgentPingTimeout: time.Hour})
	defer standby.Close()

	m := startStubMaster(t, func(c *MasterConfig) { c.AllocationInterval = time.Hour })
	if got := m.AllocationRuns(); got != (AllocationRuns{}) {
		t.Fatalf("before any tick or trigger: %+v; want zero", got)
	}
	c := newSchedClient(t, m.url, protobufCodec)
	c.subscribe(frameworkInfo("runs"))
	defer c.cancel()
	testtool.WaitFor(t, "a triggered run", 5*time.Second, func() bool { return m.AllocationRuns().Triggered >= 1 })
	if got := m.AllocationRuns().Periodic; got != 0 {
		t.Fatalf("periodic runs with a 1h interval: %d; want 0", got)
	}

	fast := startStubMaster(t, func(c *MasterConfig) { c.AllocationInterval = 10 * time.Millisecond })
	testtool.WaitFor(t, "3 periodic runs", 5*time.Second, func() bool { return fast.AllocationRuns().Periodic >= 3 })
	// The standby has ticked at the same rate all along without leading.
	if got := standby.AllocationRuns(); got != (AllocationRuns{}) {
		t.Fatalf("standby master counted %+v; want no runs", got)
	}
}
