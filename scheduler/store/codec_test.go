package store

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// fullAgent sets every field of an AgentRecord, nested ones included, to a
// non-zero value (TestFixturesAreFull holds it to that).
func fullAgent() coordinator.AgentRecord {
	r := coordinator.AgentRecord{
		ID:        "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S1234",
		Hostname:  "agent-1234.rack-56.dc1.example.com",
		Zone:      "us-east-1a",
		State:     coordinator.StateRepairing,
		Excluded:  true,
		Drained:   true,
		Incidents: 7,
		Attempts:  31,
		Incident: coordinator.Incident{
			ID: 7, Problem: "disk_full", Source: "alertmanager", Message: "/ is 97% full",
			OpenedAt: at(time.Minute), Signals: 12, LastSignalAt: at(2 * time.Minute),
			Step: 2, StepAction: "reboot", StepScope: coordinator.ScopeAgent, StepsRun: 2, DryRun: true, Approved: true, ApprovedBy: "alice",
			ApprovalAttempt: 30,
			PendingSince:    at(3 * time.Minute),
			Run: coordinator.Run{
				Attempt: 31,
				Step: coordinator.Step{Action: "reboot", Scope: coordinator.ScopeAgent, Timeout: 30 * time.Minute,
					Approval: true, Drain: true},
				LaunchedAt: at(4 * time.Minute), StartedAt: at(5 * time.Minute),
				OfferDeadline: at(9 * time.Minute), Deadline: at(35 * time.Minute),
				Forced: true, ForcedBy: "bob",
			},
			ProbationEnds: at(45 * time.Minute),
		},
		LastClosedAt:   at(-time.Hour),
		NextStep:       1,
		NextStepDryRun: true,
		NextAction:     "restart-agent",
		NextScope:      coordinator.ScopeMaster,
		NextProblem:    "disk_full",
		IsolatedAt:     at(-2 * time.Hour),
		RemovedAt:      at(10 * time.Minute),
		PreviousID:     "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S1200",
		Killing: coordinator.Kill{
			Attempt: 29, Incident: 6, Agent: "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S1200", Problem: "disk_full",
			Step: coordinator.Step{Action: "clean-docker", Scope: coordinator.ScopeAgent, Timeout: 5 * time.Minute,
				Approval: true, Drain: true},
			Forced: true, KilledAt: at(-30 * time.Minute), Until: at(-20 * time.Minute),
		},
		UpOwed:         6,
		IsolateOwed:    28,
		ReactivateOwed: 27,
	}
	for i := 0; i < coordinator.HistoryLen; i++ {
		r.History = append(r.History, coordinator.Attempt{
			ID: uint64(22 + i), Incident: 6, Problem: "disk_full", Action: "clean-docker",
			Scope: coordinator.ScopeMaster, StartedAt: at(time.Duration(i-100) * time.Minute),
			EndedAt: at(time.Duration(i-99) * time.Minute), Result: coordinator.ResultFailed,
			ExitCode: -1, OutputTail: "rm: cannot remove '/var/lib/docker': Device or resource busy\xff\n",
			Forced: true, Principal: "carol",
		})
	}
	return r
}

func fullGlobal() coordinator.GlobalRecord {
	return coordinator.GlobalRecord{
		Paused: true, PauseReason: "maintenance week", PausedBy: "alice", PausedAt: at(time.Hour),
		Breaker:     coordinator.StormBreaker{Tripped: true, TrippedAt: at(2 * time.Hour), Unhealthy: 31, Known: 100},
		LastStartAt: at(3 * time.Hour),
	}
}

// normalise puts a record in the form the codec returns: times as
// time.Unix(0, n).UTC() (no monotonic reading, no location) and an empty
// history as nil. Comparing normalised records with reflect.DeepEqual then
// compares instants, which is all the coordinator looks at.
func normalise(r coordinator.AgentRecord) coordinator.AgentRecord {
	n := func(t *time.Time) {
		if !t.IsZero() {
			*t = time.Unix(0, t.UnixNano()).UTC()
		} else {
			*t = time.Time{}
		}
	}
	n(&r.LastClosedAt)
	n(&r.IsolatedAt)
	n(&r.RemovedAt)
	in := &r.Incident
	n(&in.OpenedAt)
	n(&in.LastSignalAt)
	n(&in.PendingSince)
	n(&in.ProbationEnds)
	n(&in.Run.LaunchedAt)
	n(&in.Run.StartedAt)
	n(&in.Run.OfferDeadline)
	n(&in.Run.Deadline)
	if len(r.History) == 0 {
		r.History = nil
	} else {
		h := make([]coordinator.Attempt, len(r.History))
		copy(h, r.History)
		for i := range h {
			n(&h[i].StartedAt)
			n(&h[i].EndedAt)
		}
		r.History = h
	}
	return r
}

// roundTripAgent encodes and decodes r, failing t on either error. It takes
// rapid.TB so the property tests share it.
func roundTripAgent(t rapid.TB, r coordinator.AgentRecord) coordinator.AgentRecord {
	t.Helper()
	b, err := EncodeAgent(r)
	if err != nil {
		t.Fatalf("EncodeAgent: %v", err)
	}
	got, err := DecodeAgent(b)
	if err != nil {
		t.Fatalf("DecodeAgent: %v", err)
	}
	return got
}

// roundTripGlobal is roundTripAgent for the global record.
func roundTripGlobal(t rapid.TB, g coordinator.GlobalRecord) coordinator.GlobalRecord {
	t.Helper()
	b, err := EncodeGlobal(g)
	if err != nil {
		t.Fatalf("EncodeGlobal: %v", err)
	}
	got, err := DecodeGlobal(b)
	if err != nil {
		t.Fatalf("DecodeGlobal: %v", err)
	}
	return got
}

func TestAgentRoundTripFull(t *testing.T) {
	want := fullAgent()
	if got := roundTripAgent(t, want); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip changed the record:\n got %+v\nwant %+v", got, want)
	}
}

func TestGlobalRoundTripFull(t *testing.T) {
	for _, want := range []coordinator.GlobalRecord{fullGlobal(), {}} {
		if got := roundTripGlobal(t, want); !reflect.DeepEqual(got, want) {
			t.Errorf("round trip changed the record:\n got %+v\nwant %+v", got, want)
		}
	}
}

func TestFrameworkRoundTrip(t *testing.T) {
	want := Framework{ID: "9a8b-0001", Name: "healer", RegisteredAt: t0, Master: "master1:5050"}
	b, err := EncodeFramework(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFramework(b)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeFramework = %+v, %v; want %+v", got, err, want)
	}
	if _, err := EncodeFramework(Framework{Name: "healer"}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("EncodeFramework without an id: %v, want ErrBadRecord", err)
	}
	if _, err := DecodeFramework(nil); !errors.Is(err, ErrBadRecord) {
		t.Errorf("DecodeFramework(empty): %v, want ErrBadRecord", err)
	}
}

// TestTimesNormalised: monotonic readings and locations do not survive, the
// instant does.
func TestTimesNormalised(t *testing.T) {
	r := fullAgent()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	r.LastClosedAt = time.Now()
	r.IsolatedAt = t0.In(ny)
	got := roundTripAgent(t, r)
	if !got.LastClosedAt.Equal(r.LastClosedAt) || !got.IsolatedAt.Equal(r.IsolatedAt) {
		t.Errorf("instants changed: %v -> %v, %v -> %v", r.LastClosedAt, got.LastClosedAt, r.IsolatedAt, got.IsolatedAt)
	}
	if !reflect.DeepEqual(got, normalise(r)) {
		t.Errorf("round trip is not the normalised record:\n got %+v\nwant %+v", got, normalise(r))
	}
}

func TestEncodeRefusesUnrepresentableTimes(t *testing.T) {
	for name, tm := range map[string]time.Time{
		"epoch":     time.Unix(0, 0),
		"year 1600": time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		"year 2300": time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		r := fullAgent()
		r.Incident.Run.Deadline = tm
		_, err := EncodeAgent(r)
		if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), "incident.run.deadline") {
			t.Errorf("%s: EncodeAgent: %v, want ErrBadRecord naming incident.run.deadline", name, err)
		}
	}
	// The extremes that fit are kept.
	r := fullAgent()
	r.LastClosedAt = time.Unix(0, math.MinInt64).UTC()
	r.IsolatedAt = time.Unix(0, math.MaxInt64).UTC()
	r.RemovedAt = time.Unix(0, 1).UTC()
	if got := roundTripAgent(t, r); !reflect.DeepEqual(got, r) {
		t.Errorf("extreme times changed:\n got %v %v %v", got.LastClosedAt, got.IsolatedAt, got.RemovedAt)
	}
}

func TestEncodeClipsOutputTail(t *testing.T) {
	r := fullAgent()
	long := strings.Repeat("x", 3*coordinator.MaxOutputTailBytes) + "the error"
	r.History[0].OutputTail = long
	got := roundTripAgent(t, r)
	if tail := got.History[0].OutputTail; len(tail) != coordinator.MaxOutputTailBytes || !strings.HasSuffix(tail, "the error") {
		t.Errorf("output tail: %d bytes, want the last %d", len(tail), coordinator.MaxOutputTailBytes)
	}
	if r.History[0].OutputTail != long {
		t.Error("EncodeAgent modified its argument's history")
	}
}

func TestEncodeRefusesUnknownEnums(t *testing.T) {
	for name, mutate := range map[string]func(*coordinator.AgentRecord){
		"state":          func(r *coordinator.AgentRecord) { r.State = 99 },
		"run scope":      func(r *coordinator.AgentRecord) { r.Incident.Run.Step.Scope = 99 },
		"history scope":  func(r *coordinator.AgentRecord) { r.History[3].Scope = 99 },
		"history result": func(r *coordinator.AgentRecord) { r.History[3].Result = 99 },
	} {
		r := fullAgent()
		mutate(&r)
		if _, err := EncodeAgent(r); !errors.Is(err, ErrUnknownValue) {
			t.Errorf("%s: EncodeAgent: %v, want ErrUnknownValue", name, err)
		}
	}
}

// TestDecodeRefusesUnknownEnums: a newer healer may add states or results;
// an older one must refuse its records rather than misread them.
func TestDecodeRefusesUnknownEnums(t *testing.T) {
	for name, mutate := range map[string]func(*healerpb.AgentRecord){
		"state":          func(m *healerpb.AgentRecord) { m.State = 42 },
		"run scope":      func(m *healerpb.AgentRecord) { m.Incident.Run.Step.Scope = 42 },
		"history scope":  func(m *healerpb.AgentRecord) { m.History[3].Scope = 42 },
		"history result": func(m *healerpb.AgentRecord) { m.History[3].Result = 42 },
	} {
		m := encodedMessage(t, fullAgent())
		mutate(m)
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeAgent(b)
		if !errors.Is(err, ErrUnknownValue) || !strings.Contains(err.Error(), string(fullAgent().ID)) ||
			!strings.Contains(err.Error(), "newer healer") {
			t.Errorf("%s: DecodeAgent: %v, want ErrUnknownValue naming the agent and a newer healer", name, err)
		}
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	noState := encodedMessage(t, fullAgent())
	noState.State = healerpb.AGENT_STATE_UNSPECIFIED
	noID := encodedMessage(t, fullAgent())
	noID.Id = ""
	for name, m := range map[string]*healerpb.AgentRecord{"no state": noState, "no id": noID, "empty": {}} {
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeAgent(b); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: DecodeAgent: %v, want ErrBadRecord", name, err)
		}
	}
	if _, err := DecodeAgent([]byte{0xff, 0xff, 0xff}); err == nil || !strings.Contains(err.Error(), "decode agent record") {
		t.Errorf("DecodeAgent(garbage): %v, want an error naming the agent record", err)
	}
	if _, err := DecodeGlobal([]byte{0x0a}); err == nil || !strings.Contains(err.Error(), "decode global record") {
		t.Errorf("DecodeGlobal(garbage): %v, want an error naming the global record", err)
	}
}

func encodedMessage(t testing.TB, r coordinator.AgentRecord) *healerpb.AgentRecord {
	t.Helper()
	b, err := EncodeAgent(r)
	if err != nil {
		t.Fatal(err)
	}
	var m healerpb.AgentRecord
	if err := m.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	return &m
}

// TestEnumTablesComplete fails when the coordinator gains an enum value the
// codec does not map: every value the coordinator names (its String is not
// the numeric fallback) must round-trip, every other one must be refused.
func TestEnumTablesComplete(t *testing.T) {
	for i := 0; i < 256; i++ {
		s := coordinator.State(i)
		named := !strings.HasPrefix(s.String(), "state(")
		p, ok := encodeState(s)
		back, ok2 := decodeState(p)
		if named != ok || (ok && (!ok2 || back != s)) {
			t.Errorf("state %d (%v): encode ok=%v, decodes back to %v ok=%v", i, s, ok, back, ok2)
		}
		sc := coordinator.Scope(i)
		named = i == 0 || !strings.HasPrefix(sc.String(), "scope(")
		ps, ok := encodeScope(sc)
		bs, ok2 := decodeScope(ps)
		if named != ok || (ok && (!ok2 || bs != sc)) {
			t.Errorf("scope %d (%v): encode ok=%v, decodes back to %v ok=%v", i, sc, ok, bs, ok2)
		}
		res := coordinator.Result(i)
		named = i == 0 || !strings.HasPrefix(res.String(), "result(")
		pr, ok := encodeResult(res)
		br, ok2 := decodeResult(pr)
		if named != ok || (ok && (!ok2 || br != res)) {
			t.Errorf("result %d (%v): encode ok=%v, decodes back to %v ok=%v", i, res, ok, br, ok2)
		}
	}
}

func TestEncodeRefusesOversizedRecord(t *testing.T) {
	r := fullAgent()
	r.Incident.Message = strings.Repeat("m", MaxRecordBytes)
	if _, err := EncodeAgent(r); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("EncodeAgent of a %d-byte message: %v, want ErrRecordTooLarge", MaxRecordBytes, err)
	}
}

// Generators for the round-trip property. Times are zero or any instant
// int64 nanoseconds hold except the epoch, built as time.Unix(0, n).UTC(),
// the form the codec returns.

func genTime() *rapid.Generator[time.Time] {
	return rapid.Custom(func(t *rapid.T) time.Time {
		if rapid.Bool().Draw(t, "zero") {
			return time.Time{}
		}
		n := rapid.OneOf(
			rapid.Int64Range(t0.UnixNano()-int64(1000*time.Hour), t0.UnixNano()+int64(1000*time.Hour)),
			rapid.Int64(),
		).Filter(func(n int64) bool { return n != 0 }).Draw(t, "nanos")
		return time.Unix(0, n).UTC()
	})
}

func genString() *rapid.Generator[string] {
	return rapid.OneOf(rapid.Just(""), rapid.StringN(1, 40, -1))
}

func genStep() *rapid.Generator[coordinator.Step] {
	return rapid.Custom(func(t *rapid.T) coordinator.Step {
		return coordinator.Step{
			Action:   genString().Draw(t, "action"),
			Scope:    rapid.SampledFrom([]coordinator.Scope{0, coordinator.ScopeAgent, coordinator.ScopeMaster}).Draw(t, "scope"),
			Timeout:  time.Duration(rapid.Int64().Draw(t, "timeout")),
			Approval: rapid.Bool().Draw(t, "approval"),
			Drain:    rapid.Bool().Draw(t, "drain"),
		}
	})
}

func genIncident() *rapid.Generator[coordinator.Incident] {
	return rapid.Custom(func(t *rapid.T) coordinator.Incident {
		if rapid.Bool().Draw(t, "none") {
			return coordinator.Incident{}
		}
		in := coordinator.Incident{
			ID:              rapid.Uint64().Draw(t, "id"),
			Problem:         genString().Draw(t, "problem"),
			Source:          genString().Draw(t, "source"),
			Message:         genString().Draw(t, "message"),
			OpenedAt:        genTime().Draw(t, "opened"),
			Signals:         rapid.Int().Draw(t, "signals"),
			LastSignalAt:    genTime().Draw(t, "last_signal"),
			Step:            rapid.Int().Draw(t, "step"),
			StepAction:      genString().Draw(t, "step_action"),
			StepScope:       rapid.SampledFrom([]coordinator.Scope{0, coordinator.ScopeAgent, coordinator.ScopeMaster}).Draw(t, "step_scope"),
			StepsRun:        rapid.Int().Draw(t, "steps_run"),
			DryRun:          rapid.Bool().Draw(t, "dry_run"),
			Approved:        rapid.Bool().Draw(t, "approved"),
			ApprovedBy:      genString().Draw(t, "approved_by"),
			PendingSince:    genTime().Draw(t, "pending_since"),
			ApprovalAttempt: rapid.Uint64().Draw(t, "approval_attempt"),
		}
		if rapid.Bool().Draw(t, "run") {
			in.Run = coordinator.Run{
				Attempt:       rapid.Uint64().Draw(t, "attempt"),
				Step:          genStep().Draw(t, "step"),
				LaunchedAt:    genTime().Draw(t, "launched"),
				StartedAt:     genTime().Draw(t, "started"),
				OfferDeadline: genTime().Draw(t, "offer_deadline"),
				Deadline:      genTime().Draw(t, "deadline"),
				Forced:        rapid.Bool().Draw(t, "forced"),
				ForcedBy:      genString().Draw(t, "forced_by"),
			}
		}
		in.ProbationEnds = genTime().Draw(t, "probation_ends")
		return in
	})
}

func genAttempt() *rapid.Generator[coordinator.Attempt] {
	results := []coordinator.Result{0, coordinator.ResultSucceeded, coordinator.ResultFailed, coordinator.ResultTimedOut,
		coordinator.ResultLost, coordinator.ResultNoOffer, coordinator.ResultCancelled, coordinator.ResultIsolated}
	return rapid.Custom(func(t *rapid.T) coordinator.Attempt {
		return coordinator.Attempt{
			ID:        rapid.Uint64().Draw(t, "id"),
			Incident:  rapid.Uint64().Draw(t, "incident"),
			Problem:   genString().Draw(t, "problem"),
			Action:    genString().Draw(t, "action"),
			Scope:     rapid.SampledFrom([]coordinator.Scope{0, coordinator.ScopeAgent, coordinator.ScopeMaster}).Draw(t, "scope"),
			StartedAt: genTime().Draw(t, "started"),
			EndedAt:   genTime().Draw(t, "ended"),
			Result:    rapid.SampledFrom(results).Draw(t, "result"),
			ExitCode:  rapid.Int().Draw(t, "exit_code"),
			// Any bytes, UTF-8 or not, up to the cap.
			OutputTail: string(rapid.SliceOfN(rapid.Byte(), 0, coordinator.MaxOutputTailBytes).Draw(t, "output_tail")),
			Forced:     rapid.Bool().Draw(t, "forced"),
			Principal:  genString().Draw(t, "principal"),
		}
	})
}

func genAgent() *rapid.Generator[coordinator.AgentRecord] {
	states := []coordinator.State{coordinator.StateHealthy, coordinator.StatePending, coordinator.StateAwaitingApproval,
		coordinator.StateRepairing, coordinator.StateProbation, coordinator.StateIsolated}
	return rapid.Custom(func(t *rapid.T) coordinator.AgentRecord {
		r := coordinator.AgentRecord{
			ID:             coordinator.AgentID(rapid.StringN(1, 60, -1).Draw(t, "id")),
			Hostname:       genString().Draw(t, "hostname"),
			Zone:           genString().Draw(t, "zone"),
			State:          rapid.SampledFrom(states).Draw(t, "state"),
			Excluded:       rapid.Bool().Draw(t, "excluded"),
			Drained:        rapid.Bool().Draw(t, "drained"),
			Incident:       genIncident().Draw(t, "incident"),
			Incidents:      rapid.Uint64().Draw(t, "incidents"),
			Attempts:       rapid.Uint64().Draw(t, "attempts"),
			LastClosedAt:   genTime().Draw(t, "last_closed"),
			NextStep:       rapid.Int().Draw(t, "next_step"),
			NextStepDryRun: rapid.Bool().Draw(t, "next_step_dry_run"),
			NextAction:     genString().Draw(t, "next_action"),
			NextScope:      rapid.SampledFrom([]coordinator.Scope{0, coordinator.ScopeAgent, coordinator.ScopeMaster}).Draw(t, "next_scope"),
			NextProblem:    genString().Draw(t, "next_problem"),
			IsolatedAt:     genTime().Draw(t, "isolated"),
			RemovedAt:      genTime().Draw(t, "removed"),
			PreviousID:     coordinator.AgentID(genString().Draw(t, "previous_id")),
			UpOwed:         rapid.Uint64().Draw(t, "up_owed"),
			IsolateOwed:    rapid.Uint64().Draw(t, "isolate_owed"),
			ReactivateOwed: rapid.Uint64().Draw(t, "reactivate_owed"),
		}
		if rapid.Bool().Draw(t, "killing") {
			r.Killing = coordinator.Kill{
				Attempt:  rapid.Uint64().Draw(t, "kill_attempt"),
				Incident: rapid.Uint64().Draw(t, "kill_incident"),
				Agent:    coordinator.AgentID(genString().Draw(t, "kill_agent")),
				Problem:  genString().Draw(t, "kill_problem"),
				Step:     genStep().Draw(t, "kill_step"),
				Forced:   rapid.Bool().Draw(t, "kill_forced"),
				KilledAt: genTime().Draw(t, "killed_at"),
				Until:    genTime().Draw(t, "kill_until"),
			}
		}
		if n := rapid.IntRange(0, coordinator.HistoryLen).Draw(t, "history_len"); n > 0 {
			r.History = make([]coordinator.Attempt, n)
			for i := range r.History {
				r.History[i] = genAttempt().Draw(t, "attempt")
			}
		}
		return r
	})
}

func genGlobal() *rapid.Generator[coordinator.GlobalRecord] {
	return rapid.Custom(func(t *rapid.T) coordinator.GlobalRecord {
		return coordinator.GlobalRecord{
			Paused:      rapid.Bool().Draw(t, "paused"),
			PauseReason: genString().Draw(t, "reason"),
			PausedBy:    genString().Draw(t, "by"),
			PausedAt:    genTime().Draw(t, "paused_at"),
			Breaker: coordinator.StormBreaker{
				Tripped:   rapid.Bool().Draw(t, "tripped"),
				TrippedAt: genTime().Draw(t, "tripped_at"),
				Unhealthy: rapid.Int().Draw(t, "unhealthy"),
				Known:     rapid.Int().Draw(t, "known"),
			},
			LastStartAt: genTime().Draw(t, "last_start"),
		}
	})
}

// TestAgentRoundTripProperty: Decode(Encode(r)) == r for any record within
// the output-tail cap, zero and non-zero times, open incidents or none.
func TestAgentRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := genAgent().Draw(t, "record")
		if got := roundTripAgent(t, want); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, want)
		}
	})
}

func TestGlobalRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := genGlobal().Draw(t, "record")
		if got := roundTripGlobal(t, want); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, want)
		}
	})
}
