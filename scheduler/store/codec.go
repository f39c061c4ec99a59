package store

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// MaxRecordBytes bounds an encoded record. A full agent record (HistoryLen
// attempts with coordinator.MaxOutputTailBytes of output each) is a few tens of KB; the
// bound leaves room for four records in one ZooKeeper multi (a machine that
// re-registers moves its record in one transaction) under the default 1 MB
// jute.maxbuffer.
const MaxRecordBytes = 256 << 10

var (
	// ErrUnknownValue: a record holds an enum value this healer does not
	// know, most likely written by a newer healer.
	ErrUnknownValue = errors.New("unknown enum value (written by a newer healer?)")
	// ErrRecordTooLarge: an encoded record is over MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrBadRecord: a decoded record lacks what every record has (an id, a
	// state) or holds a value this platform cannot represent.
	ErrBadRecord = errors.New("malformed record")
)

// Framework is the framework ID record: the Mesos framework healer
// registered as. Once stored, healer never registers a new framework by
// itself.
type Framework struct {
	ID   string
	Name string
	// RegisteredAt is when a master first answered SUBSCRIBED.
	RegisteredAt time.Time
	// Master is that master, for the operator's benefit.
	Master string
}

// EncodeAgent serializes an agent record for its znode.
func EncodeAgent(r coordinator.AgentRecord) ([]byte, error) {
	var e encoder
	m := e.agent(&r)
	if e.err != nil {
		return nil, fmt.Errorf("store: encode agent %q: %w", r.ID, e.err)
	}
	return marshal(m, fmt.Sprintf("agent %q", r.ID))
}

// DecodeAgent parses an agent record written by EncodeAgent.
func DecodeAgent(b []byte) (coordinator.AgentRecord, error) {
	var m healerpb.AgentRecord
	if err := m.Unmarshal(b); err != nil {
		return coordinator.AgentRecord{}, fmt.Errorf("store: decode agent record: %w", err)
	}
	var d decoder
	r := d.agent(&m)
	if d.err != nil {
		return coordinator.AgentRecord{}, fmt.Errorf("store: decode agent %q: %w", m.Id, d.err)
	}
	return r, nil
}

// EncodeGlobal serializes the global record.
func EncodeGlobal(g coordinator.GlobalRecord) ([]byte, error) {
	var e encoder
	m := e.global(&g)
	if e.err != nil {
		return nil, fmt.Errorf("store: encode global record: %w", e.err)
	}
	return marshal(m, "global record")
}

// DecodeGlobal parses a global record written by EncodeGlobal.
func DecodeGlobal(b []byte) (coordinator.GlobalRecord, error) {
	var m healerpb.GlobalRecord
	if err := m.Unmarshal(b); err != nil {
		return coordinator.GlobalRecord{}, fmt.Errorf("store: decode global record: %w", err)
	}
	var d decoder
	g := d.global(&m)
	if d.err != nil {
		return coordinator.GlobalRecord{}, fmt.Errorf("store: decode global record: %w", d.err)
	}
	return g, nil
}

// EncodeFramework serializes the framework ID record.
func EncodeFramework(f Framework) ([]byte, error) {
	var e encoder
	m := &healerpb.FrameworkRecord{
		FrameworkId:          f.ID,
		FrameworkName:        f.Name,
		RegisteredAtUnixNano: e.time("registered_at", f.RegisteredAt),
		Master:               f.Master,
	}
	if e.err == nil && f.ID == "" {
		e.err = fmt.Errorf("no framework id: %w", ErrBadRecord)
	}
	if e.err != nil {
		return nil, fmt.Errorf("store: encode framework record: %w", e.err)
	}
	return marshal(m, "framework record")
}

// DecodeFramework parses a framework ID record written by EncodeFramework.
func DecodeFramework(b []byte) (Framework, error) {
	var m healerpb.FrameworkRecord
	if err := m.Unmarshal(b); err != nil {
		return Framework{}, fmt.Errorf("store: decode framework record: %w", err)
	}
	if m.FrameworkId == "" {
		return Framework{}, fmt.Errorf("store: decode framework record: no framework id: %w", ErrBadRecord)
	}
	return Framework{ID: m.FrameworkId, Name: m.FrameworkName, RegisteredAt: decodeTime(m.RegisteredAtUnixNano), Master: m.Master}, nil
}

func marshal(m interface{ Marshal() ([]byte, error) }, what string) ([]byte, error) {
	b, err := m.Marshal()
	if err != nil {
		return nil, fmt.Errorf("store: encode %s: %w", what, err)
	}
	if len(b) > MaxRecordBytes {
		return nil, fmt.Errorf("store: encode %s: %d bytes, over %d: %w", what, len(b), MaxRecordBytes, ErrRecordTooLarge)
	}
	return b, nil
}

// encoder converts coordinator records to messages, keeping the first error
// (named by the field it concerns) so the conversions read as one literal.
type encoder struct{ err error }

func (e *encoder) fail(field, format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: "+format, append([]any{field}, args...)...)
	}
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// time encodes t as Unix nanoseconds, the zero time as 0.
func (e *encoder) time(field string, t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if t.Before(minTime) || t.After(maxTime) {
		e.fail(field, "time %v outside what int64 Unix nanoseconds hold: %w", t, ErrBadRecord)
		return 0
	}
	n := t.UnixNano()
	if n == 0 {
		e.fail(field, "the Unix epoch cannot be stored (0 means the zero time): %w", ErrBadRecord)
	}
	return n
}

func decodeTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (e *encoder) agent(r *coordinator.AgentRecord) *healerpb.AgentRecord {
	state, ok := encodeState(r.State)
	if !ok {
		e.fail("state", "value %d: %w", r.State, ErrUnknownValue)
	}
	m := &healerpb.AgentRecord{
		Id:                   string(r.ID),
		Hostname:             r.Hostname,
		Zone:                 r.Zone,
		State:                state,
		Excluded:             r.Excluded,
		Drained:              r.Drained,
		Incident:             e.incident(&r.Incident),
		Incidents:            r.Incidents,
		Attempts:             r.Attempts,
		LastClosedAtUnixNano: e.time("last_closed_at", r.LastClosedAt),
		NextStep:             int64(r.NextStep),
		NextStepDryRun:       r.NextStepDryRun,
		NextAction:           r.NextAction,
		NextScope:            e.scope("next_scope", r.NextScope),
		NextProblem:          r.NextProblem,
		IsolatedAtUnixNano:   e.time("isolated_at", r.IsolatedAt),
		RemovedAtUnixNano:    e.time("removed_at", r.RemovedAt),
		PreviousId:           string(r.PreviousID),
		Killing:              e.kill(&r.Killing),
		UpOwed:               r.UpOwed,
		IsolateOwed:          r.IsolateOwed,
		ReactivateOwed:       r.ReactivateOwed,
	}
	if len(r.History) > 0 {
		m.History = make([]healerpb.Attempt, len(r.History))
		for i := range r.History {
			m.History[i] = e.attempt(&r.History[i])
		}
	}
	return m
}

// kill returns nil for the zero kill (none awaited).
func (e *encoder) kill(k *coordinator.Kill) *healerpb.Kill {
	m := &healerpb.Kill{
		Attempt:          k.Attempt,
		Incident:         k.Incident,
		AgentId:          string(k.Agent),
		Problem:          k.Problem,
		Step:             e.stepAt("killing.step.scope", &k.Step),
		Forced:           k.Forced,
		KilledAtUnixNano: e.time("killing.killed_at", k.KilledAt),
		UntilUnixNano:    e.time("killing.until", k.Until),
	}
	if m.Size() == 0 {
		return nil
	}
	return m
}

// incident returns nil for the zero incident (an agent without one).
func (e *encoder) incident(in *coordinator.Incident) *healerpb.Incident {
	m := &healerpb.Incident{
		Id:                      in.ID,
		Problem:                 in.Problem,
		Source:                  in.Source,
		Message:                 in.Message,
		OpenedAtUnixNano:        e.time("incident.opened_at", in.OpenedAt),
		Signals:                 int64(in.Signals),
		LastSignalAtUnixNano:    e.time("incident.last_signal_at", in.LastSignalAt),
		Step:                    int64(in.Step),
		StepAction:              in.StepAction,
		StepScope:               e.scope("incident.step_scope", in.StepScope),
		ApprovalAttempt:         in.ApprovalAttempt,
		StepsRun:                int64(in.StepsRun),
		DryRun:                  in.DryRun,
		Approved:                in.Approved,
		ApprovedBy:              in.ApprovedBy,
		PendingSinceUnixNano:    e.time("incident.pending_since", in.PendingSince),
		Run:                     e.run(&in.Run),
		ProbationEndsAtUnixNano: e.time("incident.probation_ends", in.ProbationEnds),
	}
	if m.Size() == 0 {
		return nil
	}
	return m
}

// run returns nil for the zero run (no step in flight).
func (e *encoder) run(r *coordinator.Run) *healerpb.Run {
	m := &healerpb.Run{
		Attempt:               r.Attempt,
		Step:                  e.step(&r.Step),
		LaunchedAtUnixNano:    e.time("incident.run.launched_at", r.LaunchedAt),
		StartedAtUnixNano:     e.time("incident.run.started_at", r.StartedAt),
		OfferDeadlineUnixNano: e.time("incident.run.offer_deadline", r.OfferDeadline),
		DeadlineUnixNano:      e.time("incident.run.deadline", r.Deadline),
		Forced:                r.Forced,
		ForcedBy:              r.ForcedBy,
	}
	if m.Size() == 0 {
		return nil
	}
	return m
}

func (e *encoder) step(s *coordinator.Step) *healerpb.Step {
	return e.stepAt("incident.run.step.scope", s)
}

// stepAt encodes a step, naming its scope field for errors.
func (e *encoder) stepAt(field string, s *coordinator.Step) *healerpb.Step {
	m := &healerpb.Step{
		Action:    s.Action,
		Scope:     e.scope(field, s.Scope),
		TimeoutNs: int64(s.Timeout),
		Approval:  s.Approval,
		Drain:     s.Drain,
	}
	if m.Size() == 0 {
		return nil
	}
	return m
}

func (e *encoder) attempt(a *coordinator.Attempt) healerpb.Attempt {
	scope, ok := encodeScope(a.Scope)
	if !ok {
		e.fail(fmt.Sprintf("history attempt %d: scope", a.ID), "value %d: %w", a.Scope, ErrUnknownValue)
	}
	result, ok := encodeResult(a.Result)
	if !ok {
		e.fail(fmt.Sprintf("history attempt %d: result", a.ID), "value %d: %w", a.Result, ErrUnknownValue)
	}
	m := healerpb.Attempt{
		Id:                a.ID,
		Incident:          a.Incident,
		Problem:           a.Problem,
		Action:            a.Action,
		Scope:             scope,
		StartedAtUnixNano: e.time("history.started_at", a.StartedAt),
		EndedAtUnixNano:   e.time("history.ended_at", a.EndedAt),
		Result:            result,
		ExitCode:          int64(a.ExitCode),
		Forced:            a.Forced,
		Principal:         a.Principal,
	}
	if t := a.OutputTail; t != "" {
		// The coordinator keeps at most MaxOutputTailBytes; cutting here
		// too keeps a record from elsewhere within the same bound.
		if len(t) > coordinator.MaxOutputTailBytes {
			t = t[len(t)-coordinator.MaxOutputTailBytes:]
		}
		m.OutputTail = []byte(t)
	}
	return m
}

func (e *encoder) global(g *coordinator.GlobalRecord) *healerpb.GlobalRecord {
	b := &healerpb.StormBreaker{
		Tripped:           g.Breaker.Tripped,
		TrippedAtUnixNano: e.time("breaker.tripped_at", g.Breaker.TrippedAt),
		Unhealthy:         int64(g.Breaker.Unhealthy),
		Known:             int64(g.Breaker.Known),
	}
	if b.Size() == 0 {
		b = nil
	}
	return &healerpb.GlobalRecord{
		Paused:              g.Paused,
		PauseReason:         g.PauseReason,
		PausedBy:            g.PausedBy,
		PausedAtUnixNano:    e.time("paused_at", g.PausedAt),
		Breaker:             b,
		LastStartAtUnixNano: e.time("last_start_at", g.LastStartAt),
	}
}

// decoder converts messages to coordinator records, keeping the first error.
type decoder struct{ err error }

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: "+format, append([]any{field}, args...)...)
	}
}

// int converts a stored int64 to the coordinator's int, refusing what does
// not fit (only possible where int is 32 bits).
func (d *decoder) int(field string, v int64) int {
	if int64(int(v)) != v {
		d.fail(field, "%d does not fit an int here: %w", v, ErrBadRecord)
	}
	return int(v)
}

func (d *decoder) agent(m *healerpb.AgentRecord) coordinator.AgentRecord {
	if m.Id == "" {
		d.fail("id", "no agent id: %w", ErrBadRecord)
	}
	state, ok := decodeState(m.State)
	switch {
	case m.State == healerpb.AGENT_STATE_UNSPECIFIED:
		d.fail("state", "no state: %w", ErrBadRecord)
	case !ok:
		d.fail("state", "value %d: %w", int32(m.State), ErrUnknownValue)
	}
	r := coordinator.AgentRecord{
		ID:             coordinator.AgentID(m.Id),
		Hostname:       m.Hostname,
		Zone:           m.Zone,
		State:          state,
		Excluded:       m.Excluded,
		Drained:        m.Drained,
		Incident:       d.incident(m.Incident),
		Incidents:      m.Incidents,
		Attempts:       m.Attempts,
		LastClosedAt:   decodeTime(m.LastClosedAtUnixNano),
		NextStep:       d.int("next_step", m.NextStep),
		NextStepDryRun: m.NextStepDryRun,
		NextAction:     m.NextAction,
		NextScope:      d.scope("next_scope", m.NextScope),
		NextProblem:    m.NextProblem,
		IsolatedAt:     decodeTime(m.IsolatedAtUnixNano),
		RemovedAt:      decodeTime(m.RemovedAtUnixNano),
		PreviousID:     coordinator.AgentID(m.PreviousId),
		Killing:        d.kill(m.Killing),
		UpOwed:         m.UpOwed,
		IsolateOwed:    m.IsolateOwed,
		ReactivateOwed: m.ReactivateOwed,
	}
	if len(m.History) > 0 {
		r.History = make([]coordinator.Attempt, len(m.History))
		for i := range m.History {
			r.History[i] = d.attempt(&m.History[i])
		}
	}
	return r
}

func (d *decoder) kill(m *healerpb.Kill) coordinator.Kill {
	if m == nil {
		return coordinator.Kill{}
	}
	return coordinator.Kill{
		Attempt:  m.Attempt,
		Incident: m.Incident,
		Agent:    coordinator.AgentID(m.AgentId),
		Problem:  m.Problem,
		Step:     d.stepAt("killing.step.scope", m.Step),
		Forced:   m.Forced,
		KilledAt: decodeTime(m.KilledAtUnixNano),
		Until:    decodeTime(m.UntilUnixNano),
	}
}

func (d *decoder) incident(m *healerpb.Incident) coordinator.Incident {
	if m == nil {
		return coordinator.Incident{}
	}
	return coordinator.Incident{
		ID:              m.Id,
		Problem:         m.Problem,
		Source:          m.Source,
		Message:         m.Message,
		OpenedAt:        decodeTime(m.OpenedAtUnixNano),
		Signals:         d.int("incident.signals", m.Signals),
		LastSignalAt:    decodeTime(m.LastSignalAtUnixNano),
		Step:            d.int("incident.step", m.Step),
		StepAction:      m.StepAction,
		StepScope:       d.scope("incident.step_scope", m.StepScope),
		ApprovalAttempt: m.ApprovalAttempt,
		StepsRun:        d.int("incident.steps_run", m.StepsRun),
		DryRun:          m.DryRun,
		Approved:        m.Approved,
		ApprovedBy:      m.ApprovedBy,
		PendingSince:    decodeTime(m.PendingSinceUnixNano),
		Run:             d.run(m.Run),
		ProbationEnds:   decodeTime(m.ProbationEndsAtUnixNano),
	}
}

func (d *decoder) run(m *healerpb.Run) coordinator.Run {
	if m == nil {
		return coordinator.Run{}
	}
	return coordinator.Run{
		Attempt:       m.Attempt,
		Step:          d.step(m.Step),
		LaunchedAt:    decodeTime(m.LaunchedAtUnixNano),
		StartedAt:     decodeTime(m.StartedAtUnixNano),
		OfferDeadline: decodeTime(m.OfferDeadlineUnixNano),
		Deadline:      decodeTime(m.DeadlineUnixNano),
		Forced:        m.Forced,
		ForcedBy:      m.ForcedBy,
	}
}

func (d *decoder) step(m *healerpb.Step) coordinator.Step {
	return d.stepAt("incident.run.step.scope", m)
}

// stepAt decodes a step, naming its scope field for errors.
func (d *decoder) stepAt(field string, m *healerpb.Step) coordinator.Step {
	if m == nil {
		return coordinator.Step{}
	}
	return coordinator.Step{
		Action:   m.Action,
		Scope:    d.scope(field, m.Scope),
		Timeout:  time.Duration(m.TimeoutNs),
		Approval: m.Approval,
		Drain:    m.Drain,
	}
}

func (d *decoder) attempt(m *healerpb.Attempt) coordinator.Attempt {
	scope, ok := decodeScope(m.Scope)
	if !ok {
		d.fail(fmt.Sprintf("history attempt %d: scope", m.Id), "value %d: %w", int32(m.Scope), ErrUnknownValue)
	}
	result, ok := decodeResult(m.Result)
	if !ok {
		d.fail(fmt.Sprintf("history attempt %d: result", m.Id), "value %d: %w", int32(m.Result), ErrUnknownValue)
	}
	return coordinator.Attempt{
		ID:         m.Id,
		Incident:   m.Incident,
		Problem:    m.Problem,
		Action:     m.Action,
		Scope:      scope,
		StartedAt:  decodeTime(m.StartedAtUnixNano),
		EndedAt:    decodeTime(m.EndedAtUnixNano),
		Result:     result,
		ExitCode:   d.int(fmt.Sprintf("history attempt %d: exit_code", m.Id), m.ExitCode),
		OutputTail: string(m.OutputTail),
		Forced:     m.Forced,
		Principal:  m.Principal,
	}
}

func (d *decoder) global(m *healerpb.GlobalRecord) coordinator.GlobalRecord {
	g := coordinator.GlobalRecord{
		Paused:      m.Paused,
		PauseReason: m.PauseReason,
		PausedBy:    m.PausedBy,
		PausedAt:    decodeTime(m.PausedAtUnixNano),
		LastStartAt: decodeTime(m.LastStartAtUnixNano),
	}
	if b := m.Breaker; b != nil {
		g.Breaker = coordinator.StormBreaker{
			Tripped:   b.Tripped,
			TrippedAt: decodeTime(b.TrippedAtUnixNano),
			Unhealthy: d.int("breaker.unhealthy", b.Unhealthy),
			Known:     d.int("breaker.known", b.Known),
		}
	}
	return g
}

// The enum tables are explicit, not arithmetic: the wire numbers are frozen
// even if the coordinator's constants are ever reordered. One table per enum
// serves both directions, so they cannot drift apart;
// TestEnumTablesComplete fails when the coordinator gains a value a table
// does not map.

// enumPair maps one coordinator value to its wire value.
type enumPair[C, P comparable] struct {
	c C
	p P
}

// encodeEnum finds c's wire value; false (and the zero wire value,
// unspecified) when the table does not map c.
func encodeEnum[C, P comparable](table []enumPair[C, P], c C) (P, bool) {
	for _, e := range table {
		if e.c == c {
			return e.p, true
		}
	}
	var zero P
	return zero, false
}

// decodeEnum finds the coordinator value of wire value p.
func decodeEnum[C, P comparable](table []enumPair[C, P], p P) (C, bool) {
	for _, e := range table {
		if e.p == p {
			return e.c, true
		}
	}
	var zero C
	return zero, false
}

var stateTable = []enumPair[coordinator.State, healerpb.AgentState]{
	{coordinator.StateHealthy, healerpb.AGENT_STATE_HEALTHY},
	{coordinator.StatePending, healerpb.AGENT_STATE_PENDING},
	{coordinator.StateAwaitingApproval, healerpb.AGENT_STATE_AWAITING_APPROVAL},
	{coordinator.StateRepairing, healerpb.AGENT_STATE_REPAIRING},
	{coordinator.StateProbation, healerpb.AGENT_STATE_PROBATION},
	{coordinator.StateIsolated, healerpb.AGENT_STATE_ISOLATED},
}

// scopeTable maps the coordinator's zero Scope (no step) to unspecified.
var scopeTable = []enumPair[coordinator.Scope, healerpb.Scope]{
	{0, healerpb.SCOPE_UNSPECIFIED},
	{coordinator.ScopeAgent, healerpb.SCOPE_AGENT},
	{coordinator.ScopeMaster, healerpb.SCOPE_MASTER},
}

// resultTable maps the coordinator's zero Result (not ended) to unspecified.
var resultTable = []enumPair[coordinator.Result, healerpb.Result]{
	{0, healerpb.RESULT_UNSPECIFIED},
	{coordinator.ResultSucceeded, healerpb.RESULT_SUCCEEDED},
	{coordinator.ResultFailed, healerpb.RESULT_FAILED},
	{coordinator.ResultTimedOut, healerpb.RESULT_TIMED_OUT},
	{coordinator.ResultLost, healerpb.RESULT_LOST},
	{coordinator.ResultNoOffer, healerpb.RESULT_NO_OFFER},
	{coordinator.ResultCancelled, healerpb.RESULT_CANCELLED},
	{coordinator.ResultIsolated, healerpb.RESULT_ISOLATED},
}

func encodeState(s coordinator.State) (healerpb.AgentState, bool) { return encodeEnum(stateTable, s) }
func decodeState(s healerpb.AgentState) (coordinator.State, bool) { return decodeEnum(stateTable, s) }
func encodeScope(s coordinator.Scope) (healerpb.Scope, bool)      { return encodeEnum(scopeTable, s) }
func decodeScope(s healerpb.Scope) (coordinator.Scope, bool)      { return decodeEnum(scopeTable, s) }
func encodeResult(r coordinator.Result) (healerpb.Result, bool)   { return encodeEnum(resultTable, r) }
func decodeResult(r healerpb.Result) (coordinator.Result, bool)   { return decodeEnum(resultTable, r) }

// scope encodes a ladder position's scope (zero: none recorded).
func (e *encoder) scope(field string, s coordinator.Scope) healerpb.Scope {
	v, ok := encodeScope(s)
	if !ok {
		e.fail(field, "value %d: %w", s, ErrUnknownValue)
	}
	return v
}

// scope decodes a ladder position's scope (unspecified: none recorded).
func (d *decoder) scope(field string, s healerpb.Scope) coordinator.Scope {
	v, ok := decodeScope(s)
	if !ok {
		d.fail(field, "value %d: %w", int32(s), ErrUnknownValue)
	}
	return v
}
