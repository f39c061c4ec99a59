package healerpb

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

type message interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
	Size() int
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).UnixNano()

func fullAttempt(n int) Attempt {
	return Attempt{
		Id:                uint64(n + 1),
		Incident:          3,
		Problem:           "disk_full",
		Action:            "reboot",
		Scope:             SCOPE_AGENT,
		StartedAtUnixNano: t0 + int64(n)*int64(time.Minute),
		EndedAtUnixNano:   t0 + int64(n)*int64(time.Minute) + int64(30*time.Second),
		Result:            RESULT_FAILED,
		ExitCode:          -1,
		OutputTail:        bytes.Repeat([]byte{0xff, 'x'}, 2048), // 4 KiB, the coordinator's bound; not UTF-8 on purpose
		Forced:            true,
		Principal:         "ops@example.com",
	}
}

// fullAgentRecord sets every field (the size budget of a record is held by
// scheduler/store, which knows the coordinator's history cap).
func fullAgentRecord() *AgentRecord {
	r := &AgentRecord{
		Id:                   "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S1234",
		Hostname:             "agent-1234.rack-56.dc1.example.com",
		Zone:                 "us-east-1a",
		State:                AGENT_STATE_REPAIRING,
		Excluded:             true,
		Drained:              true,
		Incidents:            3,
		Attempts:             12,
		LastClosedAtUnixNano: t0 - 1,
		NextStep:             2,
		NextStepDryRun:       true,
		IsolatedAtUnixNano:   t0 - 2,
		RemovedAtUnixNano:    t0 + 3,
		PreviousId:           "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S1200",
		Incident: &Incident{
			Id: 3, Problem: "disk_full", Source: "alertmanager", Message: "/ is 97% full",
			OpenedAtUnixNano: t0, Signals: 4000000000, LastSignalAtUnixNano: t0 + 5,
			Step: 2, StepsRun: 2, DryRun: true, Approved: true, ApprovedBy: "alice",
			PendingSinceUnixNano: t0 + 6, ProbationEndsAtUnixNano: t0 + 7,
			Run: &Run{
				Attempt:            12,
				Step:               &Step{Action: "reboot", Scope: SCOPE_AGENT, TimeoutNs: int64(30 * time.Minute), Approval: true, Drain: true},
				LaunchedAtUnixNano: t0 + 8, StartedAtUnixNano: t0 + 9,
				OfferDeadlineUnixNano: t0 + 10, DeadlineUnixNano: t0 + 11,
				Forced: true, ForcedBy: "bob",
			},
		},
	}
	for i := 0; i < 10; i++ {
		r.History = append(r.History, fullAttempt(i))
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		msg  message
		new  func() message
	}{
		{"AgentRecord", fullAgentRecord(), func() message { return &AgentRecord{} }},
		{"GlobalRecord", &GlobalRecord{
			Paused: true, PauseReason: "maintenance week", PausedBy: "alice", PausedAtUnixNano: t0,
			Breaker:             &StormBreaker{Tripped: true, TrippedAtUnixNano: t0, Unhealthy: 31, Known: 100},
			LastStartAtUnixNano: t0,
		}, func() message { return &GlobalRecord{} }},
		{"FrameworkRecord", &FrameworkRecord{FrameworkId: "9a8b-0001", FrameworkName: "healer", RegisteredAtUnixNano: t0, Master: "master1:5050"},
			func() message { return &FrameworkRecord{} }},
		{"RepairTask", &RepairTask{AgentId: "a1", Hostname: "h1", Incident: 2, Attempt: 3, Problem: "disk_full",
			Action: "reboot", Command: "/usr/local/sbin/healer-reboot --force", TimeoutNs: int64(30 * time.Minute),
			Forced: true, Principal: "alice"},
			func() message { return &RepairTask{} }},
		{"RepairResult", &RepairResult{ExitCode: -1, TimedOut: true, OutputTail: []byte("killed\n"), StartedAtUnixNano: t0, EndedAtUnixNano: t0 + 1,
			DurationNs: 1, Killed: true, Signal: 9, OutputBytes: 70000, Error: "x"},
			func() message { return &RepairResult{} }},
		{"MonitorConfig", &MonitorConfig{DefaultIntervalNs: int64(time.Minute), Checks: []Check{
			{Name: "root-disk", Kind: CHECK_KIND_BUILTIN, Problem: "disk_full", IntervalNs: int64(time.Minute), ForNs: int64(5 * time.Minute),
				Envelope: Envelope{HasMax: true, Max: 0.9}, Metric: "disk_used_ratio", Path: "/"},
			{Name: "agent-health", Kind: CHECK_KIND_HTTP, Problem: "agent_unhealthy", Url: "http://127.0.0.1:5051/health", Envelope: Envelope{HasMin: true, Min: 200, HasMax: true, Max: 200}, TimeoutNs: int64(time.Second)},
			{Name: "docker", Kind: CHECK_KIND_COMMAND, Problem: "docker_down", Command: "docker info", Envelope: Envelope{HasMin: true, Min: 0, HasMax: true, Max: 0}},
			{Name: "zk", Kind: CHECK_KIND_TCP, Problem: "zk_unreachable", Address: "127.0.0.1:2181"},
		}}, func() message { return &MonitorConfig{} }},
		{"MonitorReport", &MonitorReport{AgentId: "a1", AtUnixNano: t0, Violations: []Violation{
			{Check: "root-disk", Problem: "disk_full", Value: 0.97, Message: "/ is 97% full", SinceUnixNano: t0 - 1},
		}, TaskId: "healer.monitor.a1.1", Hostname: "h1", Recovered: []Violation{
			{Check: "docker", Problem: "docker_down", Value: 0, SinceUnixNano: t0 - 2},
		}}, func() message { return &MonitorReport{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.msg.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if len(b) != tc.msg.Size() {
				t.Errorf("Size() = %d, marshalled %d bytes", tc.msg.Size(), len(b))
			}
			got := tc.new()
			if err := got.Unmarshal(b); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Errorf("round trip changed the message:\n got %+v\nwant %+v", got, tc.msg)
			}
			// Zero values must round-trip too (a never-written field stays unset).
			empty := tc.new()
			eb, err := empty.Marshal()
			if err != nil || len(eb) != 0 {
				t.Errorf("empty message marshals to %d bytes, err %v", len(eb), err)
			}
		})
	}
}
