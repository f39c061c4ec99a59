package soak

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// The kinds of fault the driver injects (and the two kinds of workload:
// signal storms and monitors reporting sick agents).
const (
	FSignalStorm      = "signal-storm"       // POST /repair for many agents at once, to any instance
	FSickAgents       = "sick-agents"        // monitors start reporting agents sick
	FSchedulerKill    = "scheduler-sigkill"  // SIGKILL the leading scheduler; a new one starts later
	FSchedulerStop    = "scheduler-sigstop"  // SIGSTOP the leading scheduler, SIGCONT later
	FZKServerKill     = "zk-server-kill"     // one ZooKeeper server down, then back
	FZKQuorumLoss     = "zk-quorum-loss"     // two of three servers down: no quorum for a while
	FMasterCrash      = "master-crash"       // the leading Mesos master crashes (or stops), restarts later
	FAgentKill        = "agent-kill"         // an agent's host dies, comes back later
	FAgentPartition   = "agent-partition"    // an agent cut off from the masters, healed later
	FRepairHang       = "repair-hang"        // an agent's repair commands hang (until their timeout)
	FRepairFail       = "repair-fail"        // an agent's repair commands fail
	FRepairBroken     = "repair-broken"      // every step fails or hangs on an agent: its ladder ends in isolation
	FMessageLoss      = "message-loss"       // framework messages dropped, both ways
	FMessageDelay     = "message-delay"      // framework messages late
	FMasterCallsSlow  = "master-calls-slow"  // scheduler and operator API calls slowed
	FMasterCallsFail  = "master-calls-fail"  // scheduler and operator API calls answered 503
	FSubscriptionDrop = "subscription-drop"  // the framework's event stream closed (EOF)
	FSubscriptionHang = "subscription-stall" // the event stream goes silent (half-open)

	// An on-call engineer's commands, sent mid-chaos to any instance.
	FOpIsolate    = "op-isolate"    // isolate an agent; reactivate it later
	FOpReactivate = "op-reactivate" // reactivate an agent the ladder (or an operator) isolated
	FOpForce      = "op-force"      // force an agent's next step now, past every limit
	FOpPause      = "op-pause"      // pause healer; resume later
	FOpExclude    = "op-exclude"    // exclude an agent from repairs; include it later
	FOpCancel     = "op-cancel"     // cancel an open incident (killing its step in flight)
)

// sessionTimeout is the soak's --zk_session_timeout: a SIGSTOP lasts up to
// three of them, so some stops depose the leader and some do not.
const sessionTimeout = 4 * time.Second

// faultKinds are the kinds with their weights: how often each is picked
// relative to the others.
var faultKinds = []struct {
	kind   string
	weight int
	group  string // at most one fault of a group at a time
}{
	{FSignalStorm, 6, ""},
	{FSickAgents, 10, ""},
	{FSchedulerKill, 4, "scheduler"},
	{FSchedulerStop, 3, "scheduler"},
	{FZKServerKill, 3, "zk"},
	{FZKQuorumLoss, 2, "zk"},
	{FMasterCrash, 3, "master"},
	{FAgentKill, 4, ""},
	{FAgentPartition, 4, ""},
	{FRepairHang, 4, ""},
	{FRepairFail, 4, ""},
	{FRepairBroken, 1, ""},
	{FMessageLoss, 2, "messages"},
	{FMessageDelay, 2, "messages"},
	{FMasterCallsSlow, 2, "calls"},
	{FMasterCallsFail, 2, "calls"},
	{FSubscriptionDrop, 2, "master"},
	{FSubscriptionHang, 2, "master"},
	{FOpIsolate, 2, ""},
	{FOpReactivate, 2, ""},
	{FOpForce, 3, ""},
	{FOpPause, 2, "pause"},
	{FOpExclude, 2, ""},
	{FOpCancel, 2, ""},
}

// Fault is one planned fault: what, when (from the start of the run), for
// how long (its heal comes Duration later; 0 for faults that heal
// themselves, like a storm), on which agents (indexes), and a kind-specific
// amount (a delay, a storm's problem spread).
type Fault struct {
	At       time.Duration
	Kind     string
	Duration time.Duration
	Agents   []int
	Amount   time.Duration
	// Coin picks between two forms of a fault (a master crash or a clean
	// stop).
	Coin bool
	// Pick chooses the target of a fault whose candidates are known only
	// at runtime (the isolated agents, the open incidents): candidate
	// Pick mod their number, in a stable order.
	Pick int
}

func (f Fault) String() string {
	s := fmt.Sprintf("+%v %s", f.At.Round(time.Millisecond), f.Kind)
	if f.Duration > 0 {
		s += fmt.Sprintf(" for %v", f.Duration.Round(time.Millisecond))
	}
	if len(f.Agents) > 0 {
		s += fmt.Sprintf(" agents %v", f.Agents)
	}
	if f.Amount > 0 {
		s += fmt.Sprintf(" amount %v", f.Amount.Round(time.Millisecond))
	}
	if f.Coin {
		s += " (alt)"
	}
	if f.Pick > 0 {
		s += fmt.Sprintf(" pick %d", f.Pick)
	}
	return s
}

// Plan is the soak's fault schedule: a pure function of the seed, the
// duration and the number of agents, so a seed reproduces a run's faults
// in the same order with the same parameters (the moments they hit, and
// what they hit at runtime, such as the current leader, follow the run).
func Plan(seed uint64, duration time.Duration, agents int) []Fault {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	between := func(lo, hi time.Duration) time.Duration {
		return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	total := 0
	for _, k := range faultKinds {
		total += k.weight
	}
	busyGroup := map[string]time.Duration{} // group → free again at
	busyAgent := map[int]time.Duration{}
	pickAgents := func(at time.Duration, n int) []int {
		var out []int
		for tries := 0; len(out) < n && tries < 10*n; tries++ {
			a := rng.IntN(agents)
			if busyAgent[a] > at || slices.Contains(out, a) {
				continue
			}
			out = append(out, a)
		}
		slices.Sort(out)
		return out
	}
	var plan []Fault
	// The first faults wait until the system has settled; none starts in
	// the last 15 s, so each can take effect before the end.
	for at := between(5*time.Second, 10*time.Second); at < duration-15*time.Second; at += between(2*time.Second, 8*time.Second) {
		n := rng.IntN(total)
		k := faultKinds[0]
		for _, c := range faultKinds {
			if n < c.weight {
				k = c
				break
			}
			n -= c.weight
		}
		f := Fault{At: at, Kind: k.kind}
		if k.group != "" && busyGroup[k.group] > at {
			f.Kind = FSickAgents // the group is taken: plain workload instead
			k.group = ""
		}
		switch f.Kind {
		case FSignalStorm:
			f.Agents = pickAgents(at, 3+rng.IntN(6))
		case FSickAgents:
			f.Agents = pickAgents(at, 1+rng.IntN(4))
		case FSchedulerKill:
			f.Duration = between(2*time.Second, 10*time.Second) // until a new instance starts
		case FSchedulerStop:
			f.Duration = between(time.Second, 3*sessionTimeout)
		case FZKServerKill:
			f.Duration = between(2*time.Second, 15*time.Second)
		case FZKQuorumLoss:
			f.Duration = between(2*time.Second, 10*time.Second)
		case FMasterCrash:
			f.Duration = between(3*time.Second, 10*time.Second)
			f.Coin = rng.IntN(2) == 0
		case FAgentKill:
			f.Duration = between(3*time.Second, 20*time.Second)
			f.Agents = pickAgents(at, 1)
		case FAgentPartition:
			f.Duration = between(2*time.Second, 20*time.Second)
			f.Agents = pickAgents(at, 1)
		case FRepairHang, FRepairFail:
			f.Duration = between(20*time.Second, 60*time.Second)
			f.Agents = pickAgents(at, 1+rng.IntN(3))
		case FRepairBroken:
			f.Duration = between(40*time.Second, 90*time.Second)
			f.Agents = pickAgents(at, 1)
		case FMessageLoss:
			f.Duration = between(5*time.Second, 20*time.Second)
		case FMessageDelay:
			f.Duration = between(5*time.Second, 20*time.Second)
			f.Amount = between(500*time.Millisecond, 5*time.Second)
		case FMasterCallsSlow:
			f.Duration = between(3*time.Second, 15*time.Second)
			f.Amount = between(500*time.Millisecond, 3*time.Second)
		case FMasterCallsFail:
			f.Duration = between(2*time.Second, 8*time.Second)
		case FSubscriptionDrop:
		case FSubscriptionHang:
			f.Duration = between(3*time.Second, 10*time.Second)
		case FOpIsolate, FOpExclude:
			f.Duration = between(10*time.Second, 40*time.Second)
			f.Agents = pickAgents(at, 1)
		case FOpForce:
			f.Agents = pickAgents(at, 1)
		case FOpPause:
			f.Duration = between(5*time.Second, 20*time.Second)
		case FOpReactivate, FOpCancel:
			// The target is found at runtime: an isolated agent, an open
			// incident (Pick chooses among them).
			f.Pick = rng.IntN(1 << 16)
		}
		if k.group != "" {
			busyGroup[k.group] = at + f.Duration + 2*time.Second
		}
		switch f.Kind {
		case FAgentKill, FAgentPartition, FRepairHang, FRepairFail, FRepairBroken, FOpIsolate, FOpExclude:
			for _, a := range f.Agents {
				busyAgent[a] = at + f.Duration
			}
		}
		if len(f.Agents) == 0 && (f.Kind == FAgentKill || f.Kind == FAgentPartition || f.Kind == FRepairHang ||
			f.Kind == FRepairFail || f.Kind == FRepairBroken || f.Kind == FSickAgents || f.Kind == FSignalStorm ||
			f.Kind == FOpIsolate || f.Kind == FOpExclude || f.Kind == FOpForce) {
			continue // every agent busy
		}
		plan = append(plan, f)
	}
	return plan
}
