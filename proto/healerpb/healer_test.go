package healerpb

import (
	"bytes"
	"fmt"
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
		IncidentId:      "inc-0001",
		Problem:         "disk_full",
		StepIndex:       uint32(n % 3),
		Action:          "reboot",
		Scope:           SCOPE_AGENT,
		Attempt:         uint32(n + 1),
		TaskId:          fmt.Sprintf("healer-reboot-a1-%d", n),
		StartedUnixNano: t0 + int64(n)*int64(time.Minute),
		EndedUnixNano:   t0 + int64(n)*int64(time.Minute) + int64(30*time.Second),
		Outcome:         OUTCOME_FAILED,
		ExitCode:        -1,
		OutputTail:      bytes.Repeat([]byte{0xff, 'x'}, MaxOutputTail/2), // not UTF-8 on purpose
		Reason:          "exit status 1",
	}
}

// fullAgentRecord is the largest record the limits allow: a full history of
// full output tails, an incident with every source, every text at its cap.
func fullAgentRecord() *AgentRecord {
	long := string(bytes.Repeat([]byte("m"), MaxTextField))
	r := &AgentRecord{
		AgentId:            "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S1234",
		Hostname:           "agent-1234.rack-56.dc1.example.com",
		Zone:               "us-east-1a",
		State:              AGENT_STATE_REPAIRING,
		StateSinceUnixNano: t0,
		DeadlineUnixNano:   t0 + int64(30*time.Minute),
		Ladder:             &LadderPosition{Problem: "disk_full", StepIndex: 2, LastClosedUnixNano: t0 - 1},
		Incident: &Incident{
			Id: "inc-0001", Problem: "disk_full", OpenedUnixNano: t0, SignalCount: 4000000000,
			LastSignal: &Signal{Problem: "disk_full", Source: "alertmanager", Message: long, ReceivedUnixNano: t0 + 5},
		},
		Exclusion: &Exclusion{Excluded: true, Reason: long, Principal: "ops@example.com", AtUnixNano: t0},
	}
	for i := 0; i < MaxSources; i++ {
		r.Incident.AddSource(fmt.Sprintf("%s-%02d", long[:200], i))
	}
	for i := 0; i < MaxAttempts+5; i++ {
		a := fullAttempt(i)
		a.Reason = long
		r.AppendAttempt(a)
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
			Pause:                   &Pause{Paused: true, Reason: "maintenance week", Principal: "alice", AtUnixNano: t0},
			Breaker:                 &Breaker{Tripped: true, Reason: "31 unhealthy of 100 known > 20%", TrippedUnixNano: t0, Unhealthy: 31, Known: 100},
			LastRepairStartUnixNano: t0,
			Mode:                    MODE_DRY_RUN,
		}, func() message { return &GlobalRecord{} }},
		{"FrameworkRecord", &FrameworkRecord{FrameworkId: "9a8b-0001", FrameworkName: "healer", RegisteredUnixNano: t0, Master: "master1:5050"},
			func() message { return &FrameworkRecord{} }},
		{"RepairTask", &RepairTask{Action: "reboot", Command: "/usr/local/sbin/healer-reboot --force", TimeoutNs: int64(30 * time.Minute),
			AgentId: "a1", Hostname: "h1", Problem: "disk_full", Attempt: 3, IncidentId: "inc-0001"},
			func() message { return &RepairTask{} }},
		{"RepairResult", &RepairResult{ExitCode: 137, TimedOut: true, OutputTail: []byte("killed\n"), StartedUnixNano: t0, EndedUnixNano: t0 + 1},
			func() message { return &RepairResult{} }},
		{"MonitorConfig", &MonitorConfig{DefaultIntervalNs: int64(time.Minute), Checks: []Check{
			{Name: "root-disk", Kind: CHECK_KIND_BUILTIN, Problem: "disk_full", IntervalNs: int64(time.Minute), ForNs: int64(5 * time.Minute),
				Envelope: Envelope{HasMax: true, Max: 0.9}, Metric: "disk_used_ratio", Path: "/"},
			{Name: "agent-health", Kind: CHECK_KIND_HTTP, Problem: "agent_unhealthy", Url: "http://127.0.0.1:5051/health", ExpectStatus: 200, TimeoutNs: int64(time.Second)},
			{Name: "docker", Kind: CHECK_KIND_COMMAND, Problem: "docker_down", Command: "docker info", Envelope: Envelope{HasMin: true, Min: 0, HasMax: true, Max: 0}},
			{Name: "zk", Kind: CHECK_KIND_TCP, Problem: "zk_unreachable", Address: "127.0.0.1:2181"},
		}}, func() message { return &MonitorConfig{} }},
		{"MonitorReport", &MonitorReport{AgentId: "a1", AtUnixNano: t0, Violations: []Violation{
			{Check: "root-disk", Problem: "disk_full", Value: 0.97, Message: "/ is 97% full", SinceUnixNano: t0 - 1},
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

// TestAgentRecordSize holds the history cap to its promise: a record at every
// limit stays far below ZooKeeper's 1 MB znode limit.
func TestAgentRecordSize(t *testing.T) {
	r := fullAgentRecord()
	if len(r.Attempts) != MaxAttempts {
		t.Fatalf("history holds %d attempts, want the cap %d", len(r.Attempts), MaxAttempts)
	}
	if got := r.Attempts[0].Attempt; got != 6 {
		t.Errorf("oldest kept attempt is #%d, want #6 (the oldest 5 dropped)", got)
	}
	const budget = 128 << 10 // an eighth of ZooKeeper's 1 MB
	size := r.Size()
	t.Logf("full AgentRecord: %d bytes (%d attempts × %d B tails)", size, MaxAttempts, MaxOutputTail)
	if size > budget {
		t.Errorf("full AgentRecord is %d bytes, over the %d-byte budget", size, budget)
	}
}

func TestAppendAttemptClips(t *testing.T) {
	var r AgentRecord
	out := append(bytes.Repeat([]byte("a"), 10000), []byte("the error")...)
	r.AppendAttempt(Attempt{OutputTail: out, Reason: string(bytes.Repeat([]byte("r"), 5000))})
	a := r.Attempts[0]
	if len(a.OutputTail) != MaxOutputTail || !bytes.HasSuffix(a.OutputTail, []byte("the error")) {
		t.Errorf("output tail: %d bytes, want the last %d with the end kept", len(a.OutputTail), MaxOutputTail)
	}
	if len(a.Reason) != MaxTextField {
		t.Errorf("reason: %d bytes, want %d", len(a.Reason), MaxTextField)
	}
}

func TestAddSource(t *testing.T) {
	var inc Incident
	if !inc.AddSource("alertmanager") || inc.AddSource("alertmanager") {
		t.Fatal("a source must be added once")
	}
	for i := 0; i < 2*MaxSources; i++ {
		inc.AddSource(fmt.Sprint("s", i))
	}
	if len(inc.Sources) != MaxSources || inc.Sources[0] != "alertmanager" {
		t.Errorf("sources = %d (first %q), want %d keeping the first", len(inc.Sources), inc.Sources[0], MaxSources)
	}
}
