package soak

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/scheduler/coordinator"
	"github.com/healer-mesos/healer/scheduler/store"
)

// The kinds of violation Verify reports, one per promise the soak checks.
const (
	// More repair steps in flight at once than num_allowed_repairs.
	VCap = "cap"
	// A repair task launched twice.
	VLaunchedTwice = "launched-twice"
	// A launch, kill, operator call or master-scope run by an instance that
	// did not lead at that moment.
	VNotLeader = "not-leader"
	// The same while Immutable: the acting instance had not finished
	// reconciling its current subscription (or had none).
	VImmutable = "immutable"
	// An accepted signal (202) whose incident never reached ZooKeeper, or
	// an agent record that went back in time (an incident forgotten).
	VLostSignal = "lost-signal"
	VForgotten  = "forgotten"
	// An isolation without the ladder exhausted first or an operator's
	// accepted isolate (or force) behind it, or an isolation call not
	// persisted first.
	VIsolation = "isolation"
	// An operator command answered 2xx (or a signal answered 202) that
	// the audit trail does not hold.
	VAuditLost = "audit-lost"
	// A step healer started by itself (not forced) while paused, or on an
	// excluded agent.
	VPaused   = "paused"
	VExcluded = "excluded"
	// A second framework registered, or the framework id changed.
	VFramework = "framework"
	// No convergence within the bound after the faults stopped.
	VConvergence = "convergence"
	// A scheduler's data race, panic or unexpected exit.
	VProcess = "process"
	// The recorder dropped records: the run cannot be verified whole.
	VIncomplete = "incomplete"
)

// Violation is one broken promise, with the time it was broken and the
// evidence.
type Violation struct {
	At     time.Time
	Kind   string
	Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s", v.At.Format("15:04:05.000"), v.Kind, v.Detail)
}

// Policy is what the soak configured healer with, as far as the checks
// need it.
type Policy struct {
	NumAllowedRepairs int
	// Ladder is the default ladder's actions in order, isolate last.
	Ladder []string
	// StepTimeout bounds every step; KillGrace is the executor's and the
	// runner's SIGTERM → SIGKILL grace: a step has ended by its start plus
	// both, whatever anyone reported.
	StepTimeout, KillGrace time.Duration
}

// LeaderSpan is a span of time during which one instance held the lowest
// member node of healer's election, as the ZooKeeper watch saw it (To zero:
// until the end).
type LeaderSpan struct {
	Instance string
	From, To time.Time
}

// AgentVersion is one version of an agent's record as the watch read it.
type AgentVersion struct {
	// Seen is when the watch read it; Mtime is ZooKeeper's time of the
	// write (milliseconds).
	Seen, Mtime time.Time
	Version     int32
	Record      coordinator.AgentRecord
	// Deleted: the znode was gone when read.
	Deleted bool
}

// MasterRun is one run of a master-scope command, from its own log: which
// scheduler instance ran it, for which agent and attempt, and when it
// started and ended (End zero: no end line, e.g. killed with its
// scheduler).
type MasterRun struct {
	Instance string
	Agent    string
	Attempt  uint64
	Start    time.Time
	End      time.Time
}

// AcceptedSignal is a POST /repair that was answered 202.
type AcceptedSignal struct {
	At       time.Time
	Agent    string // agent id from the answer
	Incident uint64
}

// OperatorCommand is a request the driver sent to a mutating endpoint
// (an operator command, or a storm's signal) and its answer.
type OperatorCommand struct {
	Sent, Answered time.Time
	// Action is the audit trail's name of it (repair, isolate, pause, ...);
	// Target the agent id or hostname the request named ("" for pause and
	// resume).
	Action, Target string
	// Code is the answer's status (0: no answer); Detail the error's.
	Code   int
	Detail string
}

func (c OperatorCommand) String() string {
	s := c.Action
	if c.Target != "" {
		s += " " + c.Target
	}
	return fmt.Sprintf("%s (sent %s, answered %d at %s)", s, c.Sent.Format("15:04:05.000"), c.Code,
		c.Answered.Format("15:04:05.000"))
}

// accepted reports whether healer took the command: a signal's 202 (a 200
// signal attached to an open incident changed nothing and is not
// audited), any 2xx of a command.
func (c OperatorCommand) accepted() bool {
	if c.Action == "repair" {
		return c.Code == 202
	}
	return c.Code/100 == 2
}

// Observations are everything the soak saw.
type Observations struct {
	Policy  Policy
	Records []emulator.Record
	// Dropped is the recorder's dropped count (must be 0).
	Dropped    int
	Leaders    []LeaderSpan
	Agents     map[string][]AgentVersion // by znode path, in the order read
	Frameworks []string                  // every framework id the framework znode held
	MasterRuns []MasterRun
	Accepted   []AcceptedSignal
	// Commands are the driver's requests to mutating endpoints; Audit the
	// audit trail's entries (the watch's and GET /audit's), by seq.
	Commands []OperatorCommand
	Audit    []store.AuditEntry
	// Tolerance is how far apart two clocks' views of one moment may be
	// (the watch learns of a change after ZooKeeper made it).
	Tolerance time.Duration
}

// Verify checks every promise over the observations and returns the
// violations, oldest first.
func Verify(o *Observations) []Violation {
	var out []Violation
	if o.Dropped > 0 {
		out = append(out, Violation{Kind: VIncomplete, Detail: fmt.Sprintf("the recorder dropped %d records", o.Dropped)})
	}
	out = append(out, checkCap(o)...)
	out = append(out, checkLaunchedOnce(o)...)
	out = append(out, checkActors(o)...)
	out = append(out, checkSignals(o)...)
	out = append(out, checkRecords(o)...)
	out = append(out, checkIsolations(o)...)
	out = append(out, checkFramework(o)...)
	out = append(out, checkAuditTrail(o)...)
	out = append(out, checkHolds(o)...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// InstanceOfUserAgent is the scheduler instance a healer-scheduler
// User-Agent names: "healer-scheduler/<version> (<instance>)"; "" for any
// other client.
func InstanceOfUserAgent(ua string) string {
	if !strings.HasPrefix(ua, "healer-scheduler") {
		return ""
	}
	open, end := strings.IndexByte(ua, '('), strings.LastIndexByte(ua, ')')
	if open < 0 || end < open {
		return ""
	}
	return ua[open+1 : end]
}

const repairPrefix = "healer.repair."

func terminalState(s string) bool {
	switch s {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
		"TASK_GONE_BY_OPERATOR":
		return true
	}
	return false
}

// checkCap: at no moment more repair steps in flight than
// num_allowed_repairs. An agent-scope step is in flight from its launch
// until the master forwards its terminal update, or until its start plus
// the step timeout and kill grace (the executor ends it by then, whatever
// the network lets through); a master-scope step from its command's start
// to its end line, bounded the same way.
//
// Forced steps are set aside as the promise says: they occupy slots (the
// coordinator counts them), so a step healer starts by itself never
// brings the count past the cap, but a force may. Only a start that is not
// forced is a violation.
func checkCap(o *Observations) []Violation {
	bound := o.Policy.StepTimeout + o.Policy.KillGrace + time.Second
	forced := o.forcedAttempts()
	type span struct {
		what       string
		start, end time.Time
		forced     bool
	}
	var spans []span
	open := map[string]int{}
	for _, r := range o.Records {
		if !strings.HasPrefix(r.TaskID, repairPrefix) {
			continue
		}
		switch {
		case r.Kind == emulator.RecordLaunch:
			open[r.TaskID] = len(spans)
			sp := span{what: "task " + r.TaskID, start: r.At, end: r.At.Add(bound)}
			if ref, err := taskspec.ParseTaskID(r.TaskID); err == nil && forced[agentAttempt{ref.Agent, ref.Attempt}] {
				sp.forced = true
				sp.what += " (forced)"
			}
			spans = append(spans, sp)
		case r.Kind == emulator.RecordStatusUpdate && terminalState(r.Type):
			if i, ok := open[r.TaskID]; ok {
				if r.At.Before(spans[i].end) {
					spans[i].end = r.At
				}
				delete(open, r.TaskID)
			}
		}
	}
	for _, m := range o.MasterRuns {
		end := m.Start.Add(bound)
		if !m.End.IsZero() && m.End.Before(end) {
			end = m.End
		}
		sp := span{what: fmt.Sprintf("master-scope run %s/%d by %s", m.Agent, m.Attempt, m.Instance),
			start: m.Start, end: end, forced: forced[agentAttempt{m.Agent, m.Attempt}]}
		if sp.forced {
			sp.what += " (forced)"
		}
		spans = append(spans, sp)
	}
	// Sweep: ends before starts at the same instant.
	type edge struct {
		at    time.Time
		start bool
		i     int
	}
	var edges []edge
	for i, s := range spans {
		edges = append(edges, edge{s.start, true, i}, edge{s.end, false, i})
	}
	sort.SliceStable(edges, func(a, b int) bool {
		if !edges[a].at.Equal(edges[b].at) {
			return edges[a].at.Before(edges[b].at)
		}
		return !edges[a].start && edges[b].start
	})
	var out []Violation
	live := map[int]bool{}
	for _, e := range edges {
		if !e.start {
			delete(live, e.i)
			continue
		}
		live[e.i] = true
		if len(live) > o.Policy.NumAllowedRepairs && !spans[e.i].forced {
			var names []string
			for i := range live {
				names = append(names, spans[i].what)
			}
			slices.Sort(names)
			out = append(out, Violation{At: e.at, Kind: VCap, Detail: fmt.Sprintf("%d steps in flight, num_allowed_repairs %d: %s",
				len(live), o.Policy.NumAllowedRepairs, strings.Join(names, ", "))})
		}
	}
	return out
}

// agentAttempt names a step: the agent id it ran on and its attempt id.
type agentAttempt struct {
	agent   string
	attempt uint64
}

// forcedAttempts are the steps an operator forced, as the records say
// (the step in flight, a killed step, the history), under the agent id
// the record had and the one before it.
func (o *Observations) forcedAttempts() map[agentAttempt]bool {
	out := map[agentAttempt]bool{}
	for _, vs := range o.Agents {
		for _, v := range vs {
			r := &v.Record
			mark := func(attempt uint64) {
				out[agentAttempt{string(r.ID), attempt}] = true
				if r.PreviousID != "" {
					out[agentAttempt{string(r.PreviousID), attempt}] = true
				}
			}
			if r.Incident.Run.Forced {
				mark(r.Incident.Run.Attempt)
			}
			if r.Killing.Forced {
				mark(r.Killing.Attempt)
			}
			for _, h := range r.History {
				if h.Forced {
					mark(h.ID)
				}
			}
		}
	}
	return out
}

func checkLaunchedOnce(o *Observations) []Violation {
	first := map[string]emulator.Record{}
	var out []Violation
	for _, r := range o.Records {
		if r.Kind != emulator.RecordLaunch || !strings.HasPrefix(r.TaskID, repairPrefix) {
			continue
		}
		if prev, ok := first[r.TaskID]; ok {
			out = append(out, Violation{At: r.At, Kind: VLaunchedTwice, Detail: fmt.Sprintf("task %s launched again on %s (first at %s)",
				r.TaskID, r.AgentID, prev.At.Format("15:04:05.000"))})
			continue
		}
		first[r.TaskID] = r
	}
	return out
}

// leaderAt reports whether instance led at some moment within tolerance of
// at.
func (o *Observations) leaderAt(instance string, at time.Time) bool {
	for _, s := range o.Leaders {
		if s.Instance != instance {
			continue
		}
		to := s.To
		if to.IsZero() {
			to = at.Add(time.Hour)
		}
		if !at.Before(s.From.Add(-o.Tolerance)) && !at.After(to.Add(o.Tolerance)) {
			return true
		}
	}
	return false
}

// action is something only a mutable leader may do.
type action struct {
	at       time.Time
	instance string
	what     string
}

// actions lists what healer did in the world: launches (attributed to the
// ACCEPT just before them on the same master: the master records both under
// one lock), kills, operator calls that change the cluster, master-scope
// runs.
func (o *Observations) actions() []action {
	var out []action
	lastAccept := map[string]string{}
	for _, r := range o.Records {
		switch r.Kind {
		case emulator.RecordSchedulerCall:
			inst := InstanceOfUserAgent(r.Client)
			switch r.Type {
			case "ACCEPT":
				lastAccept[r.Master] = inst
			case "KILL":
				if inst != "" {
					out = append(out, action{r.At, inst, "KILL"})
				}
			}
		case emulator.RecordLaunch:
			if strings.HasPrefix(r.TaskID, repairPrefix) {
				out = append(out, action{r.At, lastAccept[r.Master], "launch of " + r.TaskID})
			}
		case emulator.RecordOperatorCall:
			inst := InstanceOfUserAgent(r.Client)
			switch r.Type {
			case "DEACTIVATE_AGENT", "REACTIVATE_AGENT", "DRAIN_AGENT", "START_MAINTENANCE", "STOP_MAINTENANCE",
				"UPDATE_MAINTENANCE_SCHEDULE", "MARK_AGENT_GONE":
				if inst != "" {
					out = append(out, action{r.At, inst, r.Type + " " + r.AgentID + r.Detail})
				}
			}
		}
	}
	for _, m := range o.MasterRuns {
		out = append(out, action{m.Start, m.Instance, fmt.Sprintf("master-scope run for %s attempt %d", m.Agent, m.Attempt)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// reconciledAt reports whether instance held the framework's current
// subscription at at and had finished reconciling it: the last SUBSCRIBE
// before at was its own, and the answer to one of its reconciliation
// markers came after it.
func (o *Observations) reconciledAt(instance string, at time.Time) (bool, string) {
	var sub time.Time
	subBy := ""
	for _, r := range o.Records {
		if r.At.After(at) {
			break
		}
		if r.Kind == emulator.RecordSchedulerCall && r.Type == "SUBSCRIBE" {
			if inst := InstanceOfUserAgent(r.Client); inst != "" {
				sub, subBy = r.At, inst
			}
		}
	}
	if subBy != instance {
		if subBy == "" {
			return false, "no subscription"
		}
		return false, "the framework's subscription was " + subBy + "'s"
	}
	for _, r := range o.Records {
		if r.At.After(at) {
			break
		}
		if r.Kind == emulator.RecordStatusUpdate && !r.At.Before(sub) && strings.HasPrefix(r.TaskID, "healer.reconciliation-marker.") {
			return true, ""
		}
	}
	return false, "not reconciled since its SUBSCRIBE at " + sub.Format("15:04:05.000")
}

func checkActors(o *Observations) []Violation {
	var out []Violation
	for _, a := range o.actions() {
		switch {
		case a.instance == "":
			out = append(out, Violation{At: a.at, Kind: VNotLeader, Detail: a.what + " by an unknown client"})
		case !o.leaderAt(a.instance, a.at):
			out = append(out, Violation{At: a.at, Kind: VNotLeader, Detail: a.what + " by " + a.instance + ", which did not lead then"})
		default:
			if ok, why := o.reconciledAt(a.instance, a.at); !ok {
				out = append(out, Violation{At: a.at, Kind: VImmutable, Detail: a.what + " by " + a.instance + " while Immutable: " + why})
			}
		}
	}
	return out
}

// checkSignals: every accepted signal's incident was persisted.
func checkSignals(o *Observations) []Violation {
	seen := map[[2]string]bool{}
	for _, vs := range o.Agents {
		for _, v := range vs {
			if v.Deleted {
				continue
			}
			id := string(v.Record.ID)
			if inc := v.Record.Incident.ID; inc != 0 {
				seen[[2]string{id, fmt.Sprint(inc)}] = true
			}
			for _, h := range v.Record.History {
				seen[[2]string{id, fmt.Sprint(h.Incident)}] = true
			}
		}
	}
	var out []Violation
	for _, s := range o.Accepted {
		if !seen[[2]string{s.Agent, fmt.Sprint(s.Incident)}] {
			out = append(out, Violation{At: s.At, Kind: VLostSignal, Detail: fmt.Sprintf(
				"signal accepted (202) as incident %d of %s, never seen in ZooKeeper", s.Incident, s.Agent)})
		}
	}
	return out
}

// checkRecords: an agent's record never goes back in time: its incident
// and attempt counters never decrease, an incident keeps its opening time,
// and an open incident ends only by closing (a history entry, isolation, or
// the record's deletion with the agent).
func checkRecords(o *Observations) []Violation {
	var out []Violation
	for path, vs := range o.Agents {
		var prev *AgentVersion
		opened := map[uint64]time.Time{}
		for i := range vs {
			v := &vs[i]
			if v.Deleted {
				prev = nil
				continue
			}
			r := v.Record
			if in := r.Incident; in.ID != 0 {
				if at, ok := opened[in.ID]; ok && !at.Equal(in.OpenedAt) {
					out = append(out, Violation{At: v.Mtime, Kind: VForgotten, Detail: fmt.Sprintf(
						"%s: incident %d reopened at %s (first opened %s)", path, in.ID, in.OpenedAt, at)})
				}
				opened[in.ID] = in.OpenedAt
			}
			if prev != nil && prev.Record.ID == r.ID {
				p := prev.Record
				if r.Incidents < p.Incidents || r.Attempts < p.Attempts {
					out = append(out, Violation{At: v.Mtime, Kind: VForgotten, Detail: fmt.Sprintf(
						"%s: version %d has incidents %d attempts %d, after version %d with %d and %d",
						path, v.Version, r.Incidents, r.Attempts, prev.Version, p.Incidents, p.Attempts)})
				}
				if old := p.Incident.ID; old != 0 && r.Incident.ID != old && v.Version == prev.Version+1 &&
					r.State != coordinator.StateIsolated && !closedIn(r, old) {
					out = append(out, Violation{At: v.Mtime, Kind: VForgotten, Detail: fmt.Sprintf(
						"%s: incident %d (%s) gone in version %d without closing", path, old, p.State, v.Version)})
				}
			}
			prev = v
		}
	}
	return out
}

// closedIn reports whether r shows incident inc ended: a history entry of
// it, or no step ever ran in it (then it leaves none).
func closedIn(r coordinator.AgentRecord, inc uint64) bool {
	for _, h := range r.History {
		if h.Incident == inc {
			return true
		}
	}
	return len(r.History) == 0 || r.History[len(r.History)-1].Incident < inc
}

// checkIsolations: every isolation follows the whole ladder, tried in
// order, or an operator asked for it (an accepted isolate, or a force
// whose step was the ladder's isolation, in the audit trail at the moment
// the record says); and it is persisted before the master is asked.
func checkIsolations(o *Observations) []Violation {
	var out []Violation
	isolatedAt := map[string][]time.Time{} // agent id → Mtime of versions isolating it
	ladder := o.Policy.Ladder
	hosts := o.hosts()
	for path, vs := range o.Agents {
		wasIsolated := false
		prev := int32(-1)
		for _, v := range vs {
			if v.Deleted {
				wasIsolated, prev = false, -1
				continue
			}
			r := v.Record
			iso := r.State == coordinator.StateIsolated
			if iso && !wasIsolated {
				id := string(r.ID)
				// The version that isolated it, if the watch read it; when
				// it read only a later one (the master's acknowledgement is
				// written right after), the isolation was persisted no
				// earlier than it was decided.
				persisted := v.Mtime
				if prev >= 0 && v.Version != prev+1 {
					if a := isolationAttempt(r); a != nil {
						persisted = a.StartedAt
					}
				}
				isolatedAt[id] = append(isolatedAt[id], persisted)
				if why := o.isolationWhy(r, ladder, hosts); why != "" {
					out = append(out, Violation{At: v.Mtime, Kind: VIsolation, Detail: fmt.Sprintf(
						"%s isolated (version %d): %s", path, v.Version, why)})
				}
			}
			wasIsolated, prev = iso, v.Version
		}
	}
	for _, r := range o.Records {
		if r.Kind != emulator.RecordOperatorCall || r.Type != "DEACTIVATE_AGENT" || InstanceOfUserAgent(r.Client) == "" {
			continue
		}
		ok := false
		for _, at := range isolatedAt[r.AgentID] {
			if !at.After(r.At.Add(time.Millisecond)) {
				ok = true
			}
		}
		if !ok {
			out = append(out, Violation{At: r.At, Kind: VIsolation, Detail: "DEACTIVATE_AGENT " + r.AgentID +
				" before any isolation of it was persisted"})
		}
	}
	return out
}

// isolationWhy says what is wrong with the isolation r records ("" if
// nothing). Its isolation attempt names who asked: no one (the ladder ran
// out: the whole ladder must show before it, cancelled steps aside, as
// they do not count as tried), or an operator (an accepted isolate, or a
// force when the forced step was the isolation, must be in the audit
// trail at that moment).
func (o *Observations) isolationWhy(r coordinator.AgentRecord, ladder []string, hosts map[string]string) string {
	iso := isolationAttempt(r)
	if iso != nil && iso.Principal != "" {
		action := "isolate"
		if iso.Forced {
			action = "force"
		}
		for _, a := range o.Audit {
			if a.Result == "accepted" && a.Action == action && o.names(a.Target, r, hosts) &&
				!a.At.Before(iso.StartedAt.Add(-o.Tolerance)) && !a.At.After(iso.StartedAt.Add(o.Tolerance)) {
				return ""
			}
		}
		return fmt.Sprintf("by %s (attempt %d at %s), but the audit trail holds no accepted %s of it then", iso.Principal,
			iso.ID, iso.StartedAt.Format("15:04:05.000"), action)
	}
	var tried []string
	for _, h := range r.History {
		if h.Result != coordinator.ResultCancelled {
			tried = append(tried, h.Action)
		}
	}
	got := tried[max(0, len(tried)-len(ladder)):]
	if !slices.Equal(got, ladder) {
		return fmt.Sprintf("after %v, not the whole ladder %v, and no operator asked", got, ladder)
	}
	return ""
}

// isolationAttempt is r's last isolation in its history (nil if none).
func isolationAttempt(r coordinator.AgentRecord) *coordinator.Attempt {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Result == coordinator.ResultIsolated {
			return &r.History[i]
		}
	}
	return nil
}

// hosts maps every agent id the records held (and the id before a
// re-registration) to its hostname.
func (o *Observations) hosts() map[string]string {
	out := map[string]string{}
	for _, vs := range o.Agents {
		for _, v := range vs {
			if v.Deleted {
				continue
			}
			out[string(v.Record.ID)] = v.Record.Hostname
			if v.Record.PreviousID != "" {
				out[string(v.Record.PreviousID)] = v.Record.Hostname
			}
		}
	}
	return out
}

// names reports whether an audit entry's target (an agent id or a
// hostname, as the request named it) is r's machine.
func (o *Observations) names(target string, r coordinator.AgentRecord, hosts map[string]string) bool {
	return target == string(r.ID) || target == string(r.PreviousID) ||
		(r.Hostname != "" && (target == r.Hostname || hosts[target] == r.Hostname))
}

// checkAuditTrail: every command healer accepted is in the audit trail,
// as accepted, written between the request and its answer (the leader
// stores the entry with the change before it answers, so no failover can
// lose it).
func checkAuditTrail(o *Observations) []Violation {
	used := make([]bool, len(o.Audit))
	var out []Violation
	for _, c := range o.Commands {
		if !c.accepted() {
			continue
		}
		found := false
		for i, a := range o.Audit {
			if !used[i] && a.Result == "accepted" && a.Action == c.Action && a.Target == c.Target &&
				!a.At.Before(c.Sent.Add(-o.Tolerance)) && !a.At.After(c.Answered.Add(o.Tolerance)) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			out = append(out, Violation{At: c.Answered, Kind: VAuditLost, Detail: c.String() +
				": accepted, but no accepted entry of it in the audit trail"})
		}
	}
	return out
}

// start is a step healer decided to start (a launch or run, or the
// ladder's isolation), as the records show it.
type start struct {
	host, agent string
	attempt     uint64
	at          time.Time // when the coordinator decided it (Run.LaunchedAt)
	forced      bool
	what        string
}

// starts lists the steps the records show started: each step in flight
// the watch read (with the time it was decided, not when its task reached
// an agent: a launch waits for an offer), and each isolation the ladder
// made. An operator's isolation is its command, not a start.
func (o *Observations) starts() []start {
	seen := map[string]bool{}
	var out []start
	add := func(s start) {
		k := fmt.Sprintf("%s/%d", s.host, s.attempt)
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	for _, vs := range o.Agents {
		for _, v := range vs {
			r := &v.Record
			if v.Deleted {
				continue
			}
			if run := r.Incident.Run; r.State == coordinator.StateRepairing && run.Attempt != 0 && !run.LaunchedAt.IsZero() {
				add(start{host: r.Hostname, agent: string(r.ID), attempt: run.Attempt, at: run.LaunchedAt, forced: run.Forced,
					what: fmt.Sprintf("attempt %d (%s)", run.Attempt, run.Step.Action)})
			}
			for _, h := range r.History {
				if h.Result == coordinator.ResultIsolated && (h.Principal == "" || h.Forced) {
					add(start{host: r.Hostname, agent: string(r.ID), attempt: h.ID, at: h.StartedAt, forced: h.Forced,
						what: fmt.Sprintf("attempt %d (the ladder's isolation)", h.ID)})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// hold is a span during which healer may start nothing by itself: a pause
// (host "") or an agent's exclusion, from the accepted command to the
// accepted command that ends it (To zero: never ended).
type hold struct {
	host     string
	from, to time.Time
}

// holds reads the pauses and exclusions from the audit trail. An
// exclusion's target is resolved to its machine (the record follows the
// machine across re-registrations).
func (o *Observations) holds() (pauses, exclusions []hold) {
	hosts := o.hosts()
	open := map[string]time.Time{}
	var out []hold
	entries := slices.Clone(o.Audit)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].At.Before(entries[j].At) })
	for _, a := range entries {
		if a.Result != "accepted" {
			continue
		}
		host := a.Target
		if h, ok := hosts[a.Target]; ok {
			host = h
		}
		switch a.Action {
		case "pause":
			host = ""
			fallthrough
		case "exclude":
			if _, ok := open[host]; !ok {
				open[host] = a.At
			}
		case "resume":
			host = ""
			fallthrough
		case "include":
			if from, ok := open[host]; ok {
				out = append(out, hold{host: host, from: from, to: a.At})
				delete(open, host)
			}
		}
	}
	for host, from := range open {
		out = append(out, hold{host: host, from: from})
	}
	for _, h := range out {
		if h.host == "" {
			pauses = append(pauses, h)
		} else {
			exclusions = append(exclusions, h)
		}
	}
	return pauses, exclusions
}

// checkHolds: healer starts no step by itself while paused, nor on an
// excluded agent (the pause and the exclusion refuse nothing but starts:
// a step in flight finishes, and a force starts regardless). A start is
// dated by the coordinator's decision, the same clock as the audit entry
// of the command (both are the leader's now when it takes the command).
func checkHolds(o *Observations) []Violation {
	pauses, exclusions := o.holds()
	inside := func(h hold, at time.Time) bool {
		return at.After(h.from.Add(time.Millisecond)) && (h.to.IsZero() || at.Before(h.to.Add(-time.Millisecond)))
	}
	span := func(h hold) string {
		if h.to.IsZero() {
			return "since " + h.from.Format("15:04:05.000")
		}
		return h.from.Format("15:04:05.000") + " to " + h.to.Format("15:04:05.000")
	}
	var out []Violation
	for _, s := range o.starts() {
		if s.forced {
			continue
		}
		for _, h := range pauses {
			if inside(h, s.at) {
				out = append(out, Violation{At: s.at, Kind: VPaused, Detail: fmt.Sprintf("%s on %s (%s) started while paused (%s)",
					s.what, s.agent, s.host, span(h))})
			}
		}
		for _, h := range exclusions {
			if h.host == s.host && inside(h, s.at) {
				out = append(out, Violation{At: s.at, Kind: VExcluded, Detail: fmt.Sprintf("%s on %s (%s) started while it was excluded (%s)",
					s.what, s.agent, s.host, span(h))})
			}
		}
	}
	return out
}

func checkFramework(o *Observations) []Violation {
	var out []Violation
	ids := map[string]time.Time{}
	registrations := 0
	for _, r := range o.Records {
		if r.Kind != emulator.RecordSchedulerCall || InstanceOfUserAgent(r.Client) == "" {
			continue
		}
		if r.Type == "SUBSCRIBE" && r.FrameworkID == "" {
			registrations++
			if registrations > 1 {
				out = append(out, Violation{At: r.At, Kind: VFramework, Detail: "a second registration of a new framework by " +
					InstanceOfUserAgent(r.Client)})
			}
			continue
		}
		if _, ok := ids[r.FrameworkID]; !ok && r.FrameworkID != "" {
			ids[r.FrameworkID] = r.At
			if len(ids) > 1 {
				out = append(out, Violation{At: r.At, Kind: VFramework, Detail: fmt.Sprintf("%s called as framework %s; ids seen: %d",
					r.Type, r.FrameworkID, len(ids))})
			}
		}
	}
	distinct := slices.Compact(slices.Clone(o.Frameworks))
	if len(distinct) > 1 {
		out = append(out, Violation{Kind: VFramework, Detail: fmt.Sprintf("the framework znode held %v", distinct)})
	}
	return out
}
