package emulator

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// subscription is one SUBSCRIBE stream of a framework. The master enqueues
// events under its lock (send never blocks); the SUBSCRIBE handler's
// goroutine writes them out in order (pump), so a slow client never stalls
// the master.
type subscription struct {
	streamID string
	*eventQueue[*scheduler.Event]
}

func newSubscription() *subscription {
	return &subscription{streamID: newUUIDString(), eventQueue: newEventQueue[*scheduler.Event]()}
}

// framework is the master's record of a framework: subscribed, disconnected
// (inside its failover timeout), recovered from agents after a master
// failover, or completed.
type framework struct {
	id   string
	info mesos.FrameworkInfo
	sub  *subscription // nil while disconnected

	active       bool
	recovered    bool // known only from agents' reports; never subscribed to this master
	registered   time.Time
	reregistered time.Time
	unregistered time.Time

	suppressed map[string]bool
	// filters are refusal filters indexed by agent ID, then role, so the
	// allocator's per-agent check is one map lookup; each (agent, role)
	// holds a set of them.
	filters map[string]map[string][]*refusal
	offers  map[string]*offer

	tasks            map[string]*mesos.Task
	unreachableTasks map[string]*mesos.Task
	completedTasks   []*mesos.Task
	// executors by agent ID, then executor ID.
	executors map[string]map[string]mesos.ExecutorInfo

	failoverTimer *masterTimer
	failoverGen   int
}

func newFramework(id string, info mesos.FrameworkInfo) *framework {
	info.ID = &mesos.FrameworkID{Value: id}
	return &framework{
		id:               id,
		info:             info,
		suppressed:       make(map[string]bool),
		filters:          make(map[string]map[string][]*refusal),
		offers:           make(map[string]*offer),
		tasks:            make(map[string]*mesos.Task),
		unreachableTasks: make(map[string]*mesos.Task),
		executors:        make(map[string]map[string]mesos.ExecutorInfo),
	}
}

func (fw *framework) hasCapability(t mesos.FrameworkInfo_Capability_Type) bool {
	for _, c := range fw.info.Capabilities {
		if c.Type == t {
			return true
		}
	}
	return false
}

func (fw *framework) partitionAware() bool {
	return fw.hasCapability(mesos.FrameworkInfo_Capability_PARTITION_AWARE)
}

func (fw *framework) multiRole() bool {
	return fw.hasCapability(mesos.FrameworkInfo_Capability_MULTI_ROLE)
}

// roles are the framework's subscribed roles: FrameworkInfo.roles for
// MULTI_ROLE frameworks, else FrameworkInfo.role (default "*").
func (fw *framework) roles() []string { return frameworkRoles(&fw.info) }

func frameworkRoles(info *mesos.FrameworkInfo) []string {
	for _, c := range info.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			return info.Roles
		}
	}
	if info.Role != nil {
		return []string{*info.Role}
	}
	return []string{"*"}
}

func (fw *framework) hasRole(role string) bool {
	for _, r := range fw.roles() {
		if r == role {
			return true
		}
	}
	return false
}

// send queues an event to a connected framework; without a stream it is
// dropped, as Mesos drops what it cannot deliver.
func (fw *framework) send(ev *scheduler.Event) {
	if fw.sub != nil {
		fw.sub.send(ev)
	}
}

func (fw *framework) stopFailoverTimer() {
	fw.failoverGen++
	if fw.failoverTimer != nil {
		fw.failoverTimer.Stop()
		fw.failoverTimer = nil
	}
}

// validateSubscribeLocked is Master::validateFramework plus the SUBSCRIBE
// checks of Master::subscribe: it returns the ERROR message refusing the
// subscription, or "".
func (m *Master) validateSubscribeLocked(info *mesos.FrameworkInfo, suppressed []string) string {
	multiRole := false
	for _, c := range info.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_MULTI_ROLE {
			multiRole = true
		}
	}
	if !multiRole && len(info.Roles) > 0 {
		return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
	}
	if multiRole && info.Role != nil {
		return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
	}
	roles := frameworkRoles(info)
	seen := make(map[string]bool, len(roles))
	for _, r := range roles {
		if seen[r] {
			return "'FrameworkInfo.roles' contains duplicate items"
		}
		seen[r] = true
		if err := validateRole(r); err != "" {
			return err
		}
	}
	if info.FailoverTimeout != nil {
		ft := *info.FailoverTimeout
		if math.IsNaN(ft) || math.Abs(ft*1e9) >= math.MaxInt64 {
			return fmt.Sprintf("The framework failover_timeout (%v) is invalid", ft)
		}
	}
	if info.ID != nil && info.ID.Value != "" {
		id := info.ID.Value
		if m.completedFrameworkLocked(id) != nil {
			return "Framework has been removed"
		}
		if fw := m.frameworks[id]; fw != nil && !fw.recovered {
			if principalOf(&fw.info) != principalOf(info) {
				return "Changing framework's principal is not allowed."
			}
		}
	}
	var invalid []string
	for _, r := range suppressed {
		if !seen[r] {
			invalid = append(invalid, r)
		}
	}
	if len(invalid) > 0 {
		return "Suppressed roles " + stringifySet(invalid) + " are not contained in the set of roles"
	}
	return ""
}

func principalOf(info *mesos.FrameworkInfo) string {
	if info.Principal == nil {
		return ""
	}
	return *info.Principal
}

// validateRole follows Mesos' roles::validate.
func validateRole(role string) string {
	if role == "*" {
		return ""
	}
	prefix := "'FrameworkInfo.roles' contains invalid role: "
	switch {
	case role == "":
		return prefix + "Empty role name is invalid"
	case role == "." || role == "..":
		return prefix + "Role names cannot be '.' or '..'"
	case strings.HasPrefix(role, "-"):
		return prefix + "Role names cannot start with '-'"
	case strings.HasPrefix(role, "/") || strings.HasSuffix(role, "/") || strings.Contains(role, "//"):
		return prefix + "Role names cannot start or end with '/', or contain '//'"
	}
	for _, c := range role {
		if c <= ' ' || c == 0x7f || c == '\\' {
			return prefix + "Role names cannot contain whitespace, control characters or '\\'"
		}
	}
	return ""
}

// stringifySet formats a set the way stout's stringify does: "{ a, b }".
func stringifySet(items []string) string {
	sort.Strings(items)
	return "{ " + strings.Join(items, ", ") + " }"
}

// subscribeLocked (re)subscribes a validated framework on sub, as
// Master::_subscribe does, and queues SUBSCRIBED and the first HEARTBEAT.
func (m *Master) subscribeLocked(info mesos.FrameworkInfo, suppressed []string, sub *subscription) *framework {
	now := time.Now()
	var fw *framework
	fresh := false     // a new framework: FRAMEWORK_ADDED, else FRAMEWORK_UPDATED
	wasActive := false // a live instance fails over: no allocation at once
	if info.ID == nil || info.ID.Value == "" {
		id := fmt.Sprintf("%s-%04d", m.cfg.ID, m.nextFrameworkID)
		m.nextFrameworkID++
		fw = newFramework(id, info)
		fw.suppressed = roleSet(suppressed)
		fw.registered = now
		m.frameworks[id] = fw
		fresh = true
	} else if fw = m.frameworks[info.ID.Value]; fw != nil {
		wasActive = fw.active
		if fw.sub != nil {
			// Master::failoverFramework: the old scheduler is told and cut off.
			fw.sub.send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "Framework failed over"}})
			fw.sub.close()
			fw.sub = nil
		}
		fw.stopFailoverTimer()
		// Immutable fields keep their old values (preserveImmutableFields),
		// unless the framework is only known from agents' reports.
		if !fw.recovered {
			info.User = fw.info.User
			info.Checkpoint = fw.info.Checkpoint
		}
		info.ID = &mesos.FrameworkID{Value: fw.id}
		m.updateAllocatorFrameworkLocked(fw, &info, suppressed)
		fw.info = info
		if fw.registered.IsZero() {
			fw.registered = now
		}
		fw.reregistered = now
		fw.recovered = false
		// Master::_failoverFramework: outstanding offers are discarded
		// without RESCIND and come back unfiltered; outstanding inverse
		// offers are dropped, the framework's filters kept.
		for _, o := range fw.offers {
			m.removeOfferLocked(o, false)
		}
		m.InverseOffers.dropOutstandingLocked(fw.id)
	} else {
		// A framework this master has never seen: recovered from the
		// scheduler's FrameworkInfo after a master failover.
		fw = newFramework(info.ID.Value, info)
		fw.suppressed = roleSet(suppressed)
		fw.registered = now
		fw.reregistered = now
		m.frameworks[fw.id] = fw
		m.publishFrameworkAddedLocked(fw) // Master::recoverFramework
	}
	fw.sub = sub
	fw.active = true
	hb := m.cfg.HeartbeatInterval.Seconds()
	mi := m.info
	fid := mesos.FrameworkID{Value: fw.id}
	sub.send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{
		FrameworkID: &fid, HeartbeatIntervalSeconds: &hb, MasterInfo: &mi,
	}})
	sub.send(heartbeatEvent)
	m.log.Info("framework subscribed", "framework", fw.id, "name", fw.info.Name, "new", fresh)
	if fresh {
		m.publishFrameworkAddedLocked(fw)
	} else {
		m.publishFrameworkUpdatedLocked(fw)
	}
	if !wasActive {
		// A framework added or (re-)activated is allocated to at once
		// (HierarchicalAllocatorProcess::addFramework,
		// activateFramework); one failing over from a live connection
		// stays active, so its offers wait for the next periodic run
		// (Master::_failoverFramework activates only inactive frameworks).
		m.triggerAllocationLocked()
	}
	return fw
}

// updateAllocatorFrameworkLocked is what HierarchicalAllocatorProcess::
// updateFramework does to a framework's filters and suppressed roles when
// it re-subscribes or sends UPDATE_FRAMEWORK with info: refusal filters of
// roles it leaves are dropped; roles no longer in suppressed are revived
// (their refusal filters dropped) and newly listed ones suppressed; and, as
// reviveRoles runs whatever the roles, every inverse-offer filter of the
// framework is dropped. Call it before fw.info takes info.
func (m *Master) updateAllocatorFrameworkLocked(fw *framework, info *mesos.FrameworkInfo, suppressed []string) {
	newRoles := make(map[string]bool)
	for _, r := range frameworkRoles(info) {
		newRoles[r] = true
	}
	for _, r := range fw.roles() {
		if !newRoles[r] {
			fw.clearRoleFilters(r)
			delete(fw.suppressed, r)
		}
	}
	want := roleSet(suppressed)
	var revive []string
	for r := range fw.suppressed {
		if !want[r] && newRoles[r] {
			revive = append(revive, r)
		}
	}
	m.reviveRolesLocked(fw, revive)
	fw.suppressed = want
}

// roleSet makes a set of role names.
func roleSet(roles []string) map[string]bool {
	out := make(map[string]bool, len(roles))
	for _, r := range roles {
		out[r] = true
	}
	return out
}

var heartbeatEvent = &scheduler.Event{Type: scheduler.Event_HEARTBEAT}

// subscriptionEnded handles a SUBSCRIBE stream that ended on the client's
// side (closed connection, failed write): if it is still the framework's
// current stream, the framework is disconnected (Master::exited).
func (m *Master) subscriptionEnded(frameworkID string, sub *subscription) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if fw == nil || fw.sub != sub || m.closed {
		return
	}
	m.disconnectFrameworkLocked(fw)
}

// disconnectFrameworkLocked marks the framework disconnected and inactive,
// withdraws its offers and starts its failover timer (mesos-protocol.md 1.7).
func (m *Master) disconnectFrameworkLocked(fw *framework) {
	m.detachFrameworkLocked(fw)
	fw.stopFailoverTimer()
	timeout := time.Duration(0)
	if fw.info.FailoverTimeout != nil && *fw.info.FailoverTimeout > 0 {
		timeout = time.Duration(*fw.info.FailoverTimeout * float64(time.Second))
	}
	gen := fw.failoverGen
	id := fw.id
	// The callback re-checks state under the lock.
	fw.failoverTimer = m.afterLocked(timeout, func() { m.failoverTimeout(id, gen) })
}

// detachFrameworkLocked closes the framework's stream, marks it inactive
// and withdraws its offers and inverse offers, without RESCIND: the stream
// that would carry it is gone. As the allocator's deactivateFramework does,
// its refusal and inverse-offer filters are dropped.
func (m *Master) detachFrameworkLocked(fw *framework) {
	if fw.sub != nil {
		fw.sub.close()
		fw.sub = nil
	}
	fw.active = false
	fw.unregistered = time.Now()
	for _, o := range fw.offers {
		m.removeOfferLocked(o, false)
	}
	m.InverseOffers.removeFrameworkLocked(fw.id)
	fw.filters = make(map[string]map[string][]*refusal)
}

func (m *Master) failoverTimeout(frameworkID string, gen int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if m.closed || fw == nil || fw.sub != nil || fw.failoverGen != gen {
		return
	}
	m.log.Info("framework failover timeout", "framework", frameworkID)
	m.removeFrameworkLocked(fw)
}

// removeFrameworkLocked removes a framework (failover timeout, TEARDOWN,
// operator teardown): agents shut it down, its tasks are recorded as
// TASK_KILLED / REASON_FRAMEWORK_REMOVED (not sent), its stream is closed
// without an ERROR, and it joins the completed list.
func (m *Master) removeFrameworkLocked(fw *framework) {
	m.log.Info("framework removed", "framework", fw.id, "name", fw.info.Name)
	fw.stopFailoverTimer()
	m.detachFrameworkLocked(fw)
	fid := mesos.FrameworkID{Value: fw.id}
	for _, a := range m.agentOrder {
		a.link.ShutdownFramework(fid)
	}
	for _, t := range fw.tasks {
		m.rec.Add(Record{Kind: RecordKill, Master: m.cfg.ID, FrameworkID: fw.id, AgentID: t.AgentID.Value,
			TaskID: t.TaskID.Value, Type: "framework_removed"})
		m.finishTaskLocked(fw, t, mesos.TASK_KILLED, mesos.REASON_FRAMEWORK_REMOVED, "Framework "+fw.id+" removed")
	}
	for _, t := range fw.unreachableTasks {
		m.finishTaskLocked(fw, t, mesos.TASK_KILLED, mesos.REASON_FRAMEWORK_REMOVED, "Framework "+fw.id+" removed")
	}
	fw.unreachableTasks = make(map[string]*mesos.Task)
	for agentID, execs := range fw.executors {
		if a := m.agents[agentID]; a != nil {
			for _, e := range execs {
				a.releaseLocked(e.Resources)
			}
		}
	}
	fw.executors = make(map[string]map[string]mesos.ExecutorInfo)
	delete(m.frameworks, fw.id)
	m.publishFrameworkRemovedLocked(fw.info)
	m.completed = append(m.completed, fw)
	if n := len(m.completed) - m.cfg.MaxCompletedFrameworks; n > 0 {
		m.completed = append([]*framework(nil), m.completed[n:]...)
	}
}

func (m *Master) completedFrameworkLocked(id string) *framework {
	for _, fw := range m.completed {
		if fw.id == id {
			return fw
		}
	}
	return nil
}

// CloseSubscription is a fault: it ends a framework's SUBSCRIBE stream as if
// the connection broke (the client sees EOF, no ERROR event); the framework
// becomes disconnected and its failover timeout starts. It reports whether
// the framework had a stream.
func (m *Master) CloseSubscription(frameworkID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if fw == nil || fw.sub == nil {
		return false
	}
	m.rec.Add(Record{Kind: RecordFault, Master: m.cfg.ID, FrameworkID: frameworkID, Type: "close_subscription"})
	m.disconnectFrameworkLocked(fw)
	return true
}

// TeardownFramework removes a framework at once, as TEARDOWN does (the
// operator API's TEARDOWN uses it). It reports whether the framework was
// known and not completed.
func (m *Master) TeardownFramework(frameworkID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if fw == nil {
		return false
	}
	m.removeFrameworkLocked(fw)
	return true
}
