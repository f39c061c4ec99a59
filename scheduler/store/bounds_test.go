package store

import (
	"errors"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// outsideText draws text as it may arrive from outside: any length around
// the coordinator's bounds up to 1 MB, in ASCII, multi-byte runes, control
// characters or bytes that are not UTF-8.
func outsideText(t *rapid.T, label string) string {
	n := rapid.SampledFrom([]int{0, 1, 63, 127, 128, 129, 254, 255, 256, 1023, 1024, 1025,
		4095, 4096, 4097, 64 << 10, 1 << 20}).Draw(t, label+" length")
	if n == 0 {
		return ""
	}
	pattern := rapid.OneOf(
		rapid.SampledFrom([]string{"x", "disk_full", "é", "€", "\U0001F525", "\xff", "a\x80", "\xe2\x82", "\n", "\x00", "\u0085"}),
		rapid.StringN(1, 4, -1),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 1, 8), func(b []byte) string { return string(b) }),
	).Draw(t, label+" pattern")
	if pattern == "" {
		pattern = "x"
	}
	return strings.Repeat(pattern, n/len(pattern)+1)[:n]
}

// name draws a name that is usually valid, sometimes anything.
func name(t *rapid.T, label string, valid ...string) string {
	if rapid.IntRange(0, 3).Draw(t, label+" outside?") == 0 {
		return outsideText(t, label)
	}
	return rapid.SampledFrom(valid).Draw(t, label)
}

// TestCoordinatorRecordsAlwaysEncode: whatever text reaches the coordinator,
// of whatever size or encoding, every record it asks to persist encodes
// under MaxRecordBytes. A record the store refused would leave an agent's
// state unpersistable: the coordinator would have acted on a decision that
// no failover can recover.
func TestCoordinatorRecordsAlwaysEncode(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rapid.Check(t, func(t *rapid.T) {
		p := coordinator.DefaultPolicy()
		p.Mode = coordinator.ModeExecute
		p.NumAllowedRepairs = 3
		p.MaxUnhealthyMin = 100
		p.DefaultLadder = coordinator.Ladder{
			{Action: "restart", Scope: coordinator.ScopeAgent},
			{Action: "reboot", Scope: coordinator.ScopeMaster},
			{Action: "reimage", Scope: coordinator.ScopeAgent},
		}
		c, err := coordinator.New(p)
		if err != nil {
			t.Fatal(err)
		}
		now := base
		step := func(ev coordinator.Event) {
			rd, _ := c.Step(ev)
			for _, r := range rd.Persist.Agents {
				if _, err := EncodeAgent(r); err != nil {
					t.Fatalf("after %T: agent %.40q does not encode: %v", ev, r.ID, err)
				}
			}
			if g := rd.Persist.Global; g != nil {
				if _, err := EncodeGlobal(*g); err != nil {
					t.Fatalf("after %T: global record does not encode: %v", ev, err)
				}
			}
		}
		ids := []coordinator.AgentID{"a1", "a2", "a3"}
		for i, id := range ids {
			host := name(t, "hostname", "h1", "h2", "h3", "node-7.dc1.example.com")
			step(coordinator.AgentAdded{At: now, ID: id, Hostname: host, Zone: name(t, "zone", "", "z1")})
			// A refused hostname leaves the agent unknown: add it plainly.
			step(coordinator.AgentAdded{At: now, ID: id, Hostname: "host" + string(rune('1'+i))})
		}
		for _, l := range []coordinator.Link{coordinator.MasterConnected, coordinator.ZKSessionUp, coordinator.Reconciled} {
			step(coordinator.Connectivity{At: now, Change: l})
		}
		inFlight := func(id coordinator.AgentID) uint64 {
			r, _ := c.Agent(id)
			return r.Incident.Run.Attempt
		}
		n := rapid.IntRange(1, 40).Draw(t, "events")
		for range n {
			now = now.Add(time.Duration(rapid.IntRange(0, 20).Draw(t, "minutes")) * time.Minute)
			id := rapid.SampledFrom(ids).Draw(t, "agent")
			switch rapid.IntRange(0, 6).Draw(t, "kind") {
			case 0, 1:
				step(coordinator.Signal{At: now, Agent: string(id), Problem: name(t, "problem", "disk_full", "hung"),
					Source: outsideText(t, "source"), Message: outsideText(t, "message")})
			case 2:
				step(coordinator.StepOutcome{At: now, Agent: id, Attempt: inFlight(id),
					Result:   rapid.SampledFrom([]coordinator.Result{coordinator.ResultFailed, coordinator.ResultSucceeded}).Draw(t, "result"),
					ExitCode: 1, OutputTail: outsideText(t, "output")})
			case 3:
				op := rapid.SampledFrom([]coordinator.Op{coordinator.OpForce, coordinator.OpIsolate, coordinator.OpReactivate,
					coordinator.OpCancel, coordinator.OpExclude, coordinator.OpApprove}).Draw(t, "op")
				step(coordinator.Command{At: now, Op: op, Agent: id, Principal: name(t, "principal", "alice", "ops@example.com"),
					Reason: outsideText(t, "reason"), Problem: name(t, "force problem", "", "kernel")})
			case 4:
				step(coordinator.Command{At: now, Op: rapid.SampledFrom([]coordinator.Op{coordinator.OpPause, coordinator.OpResume}).Draw(t, "global op"),
					Principal: name(t, "principal", "alice"), Reason: outsideText(t, "reason")})
			case 5:
				step(coordinator.StepStarted{At: now, Agent: id, Attempt: inFlight(id)})
			case 6:
				step(coordinator.Tick{At: now})
			}
		}
		// Fill a1's history with attempts carrying the longest texts.
		step(coordinator.Command{At: now, Op: coordinator.OpResume, Principal: "alice"})
		step(coordinator.Command{At: now, Op: coordinator.OpInclude, Agent: "a1", Principal: "alice"})
		huge := outsideText(t, "history output")
		for range coordinator.HistoryLen + 2 {
			now = now.Add(time.Minute)
			step(coordinator.Command{At: now, Op: coordinator.OpReactivate, Agent: "a1", Principal: "alice", Reason: huge})
			step(coordinator.Command{At: now, Op: coordinator.OpForce, Agent: "a1", Principal: "alice", Reason: huge, Problem: "kernel"})
			step(coordinator.StepOutcome{At: now, Agent: "a1", Attempt: inFlight("a1"), Result: coordinator.ResultFailed, ExitCode: 2, OutputTail: huge})
		}
		recs, g := c.Records()
		for _, r := range recs {
			if _, err := EncodeAgent(r); err != nil {
				t.Fatalf("agent %.40q does not encode: %v", r.ID, err)
			}
		}
		if _, err := EncodeGlobal(g); errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("global record does not encode: %v", err)
		}
	})
}
