package emulator

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// The duration flags are Mesos master flags, so they take the forms Mesos
// operators type (1secs, 15mins) as well as Go's.
func TestEmulatorFlagsTakeMesosDurations(t *testing.T) {
	cfg := DefaultEmulatorConfig()
	fs := flag.NewFlagSet("mesos-emulator", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.AddFlags(fs)
	err := fs.Parse([]string{
		"--allocation_interval=1secs", "--offer_timeout=15mins", "--agent_ping_timeout=30s",
		"--heartbeat_interval=1.5secs", "--zk_session_timeout=10secs",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 15 * time.Minute, 30 * time.Second, 1500 * time.Millisecond, 10 * time.Second}
	got := []time.Duration{cfg.AllocationInterval, cfg.OfferTimeout, cfg.AgentPingTimeout, cfg.HeartbeatInterval, cfg.ZKSessionTimeout}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flag %d = %v; want %v", i, got[i], want[i])
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Defaults are shown, and errors name values, in Mesos' form.
	if d := fs.Lookup("agent_ping_timeout").DefValue; d != "15secs" {
		t.Errorf("--agent_ping_timeout default shown as %q; want 15secs", d)
	}
	cfg.AgentPingTimeout = 20 * time.Minute
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--agent_ping_timeout=20mins: must be within 1secs and 15mins") {
		t.Errorf("Validate: %v", err)
	}
	if err := fs.Parse([]string{"--allocation_interval=soon"}); err == nil {
		t.Error("--allocation_interval=soon accepted")
	}
}
