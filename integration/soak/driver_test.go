package soak

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/integration/emulator"
)

// driver carries out a Plan against the env.
type driver struct {
	e     *env
	w     *zkWatch
	start time.Time
	logf  func(format string, args ...any)

	mu       sync.Mutex
	injected map[string]int // faults that took effect, by kind
	skipped  map[string]int // planned faults that found nothing to hit
	answers  map[int]int    // POST /repair answers by status code
	accepted []AcceptedSignal
	storms   sync.WaitGroup
	// commands are the operator commands sent and their answers (the
	// storms' signals included); pausedOnce and excluded what the end
	// must undo.
	commands   []OperatorCommand
	pausedOnce bool
	excluded   []string

	heals []pendingHeal
	// knownRaces are the known upstream data races the schedulers' logs
	// showed (KnownRaces).
	knownRaces []string
}

type pendingHeal struct {
	at   time.Time
	what string
	do   func()
}

func newDriver(e *env, w *zkWatch, logf func(string, ...any)) *driver {
	return &driver{e: e, w: w, logf: logf, injected: map[string]int{}, skipped: map[string]int{}, answers: map[int]int{}}
}

// run carries out the plan until the duration ends.
func (d *driver) run(ctx context.Context, plan []Fault, duration time.Duration) {
	d.start = time.Now()
	for _, f := range plan {
		if !d.waitUntil(ctx, d.start.Add(f.At)) {
			return
		}
		d.inject(ctx, f)
	}
	d.waitUntil(ctx, d.start.Add(duration))
}

// waitUntil waits for at, healing what is due on the way; false if ctx
// ended.
func (d *driver) waitUntil(ctx context.Context, at time.Time) bool {
	for {
		next := at
		if len(d.heals) > 0 && d.heals[0].at.Before(next) {
			next = d.heals[0].at
		}
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		for len(d.heals) > 0 && !d.heals[0].at.After(time.Now()) {
			h := d.heals[0]
			d.heals = d.heals[1:]
			d.logf("heal: %s", h.what)
			h.do()
		}
		if !time.Now().Before(at) {
			return true
		}
	}
}

func (d *driver) healLater(after time.Duration, what string, do func()) {
	d.heals = append(d.heals, pendingHeal{at: time.Now().Add(after), what: what, do: do})
	sort.SliceStable(d.heals, func(i, j int) bool { return d.heals[i].at.Before(d.heals[j].at) })
}

// healAll runs every pending heal now (once: a heal that would try again
// later is dropped; quiesce makes sure of what matters).
func (d *driver) healAll() {
	for _, h := range d.heals {
		d.logf("heal: %s", h.what)
		h.do()
	}
	d.heals = nil
}

func (d *driver) count(kind string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok {
		d.injected[kind]++
	} else {
		d.skipped[kind]++
	}
}

func (d *driver) leader() *proc {
	if p := d.e.byInstance(d.w.currentLeader()); p != nil && p.alive() && !p.stopped.Load() {
		return p
	}
	return nil
}

func (d *driver) agent(i int) string { return d.e.agents[i] }

func (d *driver) frameworkID() string {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	if n := len(d.w.framework); n > 0 {
		return d.w.framework[n-1]
	}
	return ""
}

func (d *driver) inject(ctx context.Context, f Fault) {
	e, c := d.e, d.e.c
	ok := true
	switch f.Kind {
	case FSignalStorm:
		live := e.live()
		if len(live) == 0 {
			ok = false
			break
		}
		for j, i := range f.Agents {
			p := live[j%len(live)]
			host := fmt.Sprintf("agent-%d", i)
			d.storms.Add(1)
			go func() {
				defer d.storms.Done()
				d.signal(p, host)
			}()
		}
	case FSickAgents:
		for _, i := range f.Agents {
			e.setSick(d.agent(i), true)
		}
	case FSchedulerKill:
		p := d.leader()
		if p == nil {
			ok = false
			break
		}
		p.killed.Store(true)
		p.signal(syscall.SIGKILL)
		d.healLater(f.Duration, "start a new healer-scheduler", func() { e.startScheduler() })
	case FSchedulerStop:
		p := d.leader()
		if p == nil {
			ok = false
			break
		}
		p.stopped.Store(true)
		p.signal(syscall.SIGSTOP)
		d.healLater(f.Duration, "SIGCONT "+p.instance, func() {
			p.signal(syscall.SIGCONT)
			p.stopped.Store(false)
		})
	case FZKServerKill:
		i := int(f.At/time.Millisecond) % 3
		if e.zk.Up() < 3 {
			ok = false
			break
		}
		e.zk.Kill(i)
		d.healLater(f.Duration, fmt.Sprintf("revive ZooKeeper server %d", i), func() { d.revive(i) })
	case FZKQuorumLoss:
		i := int(f.At/time.Millisecond) % 3
		if e.zk.Up() < 3 {
			ok = false
			break
		}
		e.zk.Kill(i)
		e.zk.Kill((i + 1) % 3)
		d.healLater(f.Duration, "revive ZooKeeper servers: quorum back", func() {
			d.revive(i)
			d.revive((i + 1) % 3)
		})
	case FMasterCrash:
		dead := -1
		for i := range 2 {
			if c.MasterLeading(i) {
				dead = i
			}
		}
		if dead < 0 {
			ok = false
			break
		}
		var err error
		if f.Coin {
			err = c.KillLeader()
		} else {
			err = c.CrashLeader()
		}
		if err != nil {
			ok = false
			break
		}
		d.healLater(f.Duration, fmt.Sprintf("restart master %d", dead), func() { d.restartMaster(ctx, dead) })
	case FAgentKill:
		id := d.agent(f.Agents[0])
		if err := c.KillAgent(id); err != nil {
			ok = false
			break
		}
		d.healLater(f.Duration, "restart agent "+id, func() {
			if err := c.RestartAgent(id); err != nil {
				d.logf("restart agent %s: %v", id, err)
			}
		})
	case FAgentPartition:
		id := d.agent(f.Agents[0])
		if err := c.PartitionAgent(id); err != nil {
			ok = false
			break
		}
		d.healLater(f.Duration, "heal agent "+id, func() { _ = c.HealAgent(id) })
	case FRepairHang, FRepairFail, FRepairBroken:
		mode := strings.TrimPrefix(f.Kind, "repair-")
		for _, i := range f.Agents {
			id := d.agent(i)
			e.setMode(id, mode)
			e.setSick(id, true)
			d.healLater(f.Duration, "repairs work again on "+id, func() { e.setMode(id, "") })
		}
	case FMessageLoss:
		c.DropFrameworkMessages(true)
		d.healLater(f.Duration, "framework messages flow", func() { c.DropFrameworkMessages(false) })
	case FMessageDelay:
		c.DelayFrameworkMessages(f.Amount)
		d.healLater(f.Duration, "framework messages on time", func() { c.DelayFrameworkMessages(0) })
	case FMasterCallsSlow:
		c.FailCallsFor(emulator.APIScheduler|emulator.APIOperator, 0, f.Amount)
		d.healLater(f.Duration, "master calls at full speed", func() { c.FailCallsFor(emulator.APIScheduler|emulator.APIOperator, 0, 0) })
	case FMasterCallsFail:
		c.FailCallsFor(emulator.APIScheduler|emulator.APIOperator, http.StatusServiceUnavailable, 0)
		d.healLater(f.Duration, "master calls succeed", func() { c.FailCallsFor(emulator.APIScheduler|emulator.APIOperator, 0, 0) })
	case FSubscriptionDrop:
		ok = c.CloseSubscription(d.frameworkID())
	case FSubscriptionHang:
		fw := d.frameworkID()
		if ok = c.StallSubscription(fw); ok {
			d.healLater(f.Duration, "subscription resumed", func() { c.ResumeSubscription(fw) })
		}
	case FOpIsolate, FOpReactivate, FOpForce, FOpPause, FOpExclude, FOpCancel:
		ok = d.injectOp(f)
	}
	d.count(f.Kind, ok)
	if ok {
		d.logf("fault: %s", f)
	} else {
		d.logf("fault skipped (nothing to hit): %s", f)
	}
}

func (d *driver) revive(i int) {
	if err := d.e.zk.Revive(i); err != nil {
		d.logf("revive ZooKeeper server %d: %v", i, err)
	}
}

func (d *driver) restartMaster(ctx context.Context, i int) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.e.c.RestartMaster(ctx, i); err != nil {
		d.logf("restart master %d: %v", i, err)
	}
}

// signal posts one signal and records the answer.
func (d *driver) signal(p *proc, host string) {
	sent := time.Now()
	a := p.repair(host, "soak_storm")
	if a.code == http.StatusTemporaryRedirect {
		// A standby: the client does not follow redirects for a POST
		// body it has consumed; ask the leader it names.
		if l := d.leader(); l != nil {
			a = l.repair(host, "soak_storm")
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers[a.code]++
	d.commands = append(d.commands, OperatorCommand{Sent: sent, Answered: time.Now(), Action: "repair", Target: host, Code: a.code})
	if a.code == http.StatusAccepted {
		d.accepted = append(d.accepted, AcceptedSignal{At: time.Now(), Agent: a.agentID, Incident: a.incident})
	}
}

// quiesce ends every fault, restarts what died, and leaves two schedulers
// running; then nothing more is done to the system.
func (d *driver) quiesce(ctx context.Context) {
	d.storms.Wait()
	d.healAll()
	e := d.e
	for i := range e.zk.Servers {
		d.revive(i)
	}
	if err := e.zk.WaitQuorum(60 * time.Second); err != nil {
		d.logf("ZooKeeper after the faults: %v", err)
	}
	for i := range 2 {
		d.restartMaster(ctx, i) // an error for a running master is expected
	}
	for _, id := range e.agents {
		_ = e.c.HealAgent(id)
		e.setMode(id, "")
		e.setSick(id, false)
	}
	for _, p := range e.live() {
		if p.stopped.Load() {
			p.signal(syscall.SIGCONT)
			p.stopped.Store(false)
		}
	}
	for len(e.live()) < e.s.schedulers {
		if e.startScheduler() == nil {
			break
		}
	}
	d.undoOperators(2 * time.Minute)
}

// converged reports whether the system has settled: one leader, subscribed
// and mutable, every other instance following it, and no incident open
// but isolations. why says what is still missing.
func (d *driver) converged() (ok bool, why string) {
	live := d.e.live()
	var leaders []*proc
	var leaderSt admin.Status
	sts := map[*proc]admin.Status{}
	for _, p := range live {
		st, ok := p.status()
		if !ok {
			return false, p.instance + " does not answer /status"
		}
		sts[p] = st
		if st.IsLeader {
			leaders = append(leaders, p)
			leaderSt = st
		}
	}
	if len(leaders) != 1 {
		return false, fmt.Sprintf("%d instances say they lead", len(leaders))
	}
	lead := leaders[0]
	if leaderSt.Paused {
		return false, "the leader is paused"
	}
	if !leaderSt.Subscribed || leaderSt.Immutable {
		return false, fmt.Sprintf("the leader %s: subscribed %t, immutable %t (%s)", lead.instance, leaderSt.Subscribed,
			leaderSt.Immutable, leaderSt.ImmutableReason)
	}
	for p, st := range sts {
		if p != lead && st.Leader != lead.url {
			return false, fmt.Sprintf("%s follows %q, not the leader %s", p.instance, st.Leader, lead.url)
		}
	}
	c := leaderSt.Counts
	if open := c.Pending + c.AwaitingApproval + c.Repairing + c.Probation; open > 0 {
		return false, fmt.Sprintf("%d incidents open (pending %d, awaiting approval %d, repairing %d, probation %d)", open,
			c.Pending, c.AwaitingApproval, c.Repairing, c.Probation)
	}
	return true, ""
}

// masterRuns reads the master-scope command's log.
func (d *driver) masterRuns() []MasterRun {
	f, err := os.Open(filepath.Join(d.e.dir, "master-runs.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	type key struct {
		pid, agent, attempt string
	}
	var runs []MasterRun
	open := map[key]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		ns, _ := strconv.ParseInt(fs[4], 10, 64)
		k := key{fs[1], fs[2], fs[3]}
		at := time.Unix(0, ns)
		switch fs[0] {
		case "start":
			inst := ""
			if pid, err := strconv.Atoi(fs[1]); err == nil {
				d.e.mu.Lock()
				if p := d.e.byPid[pid]; p != nil {
					inst = p.instance
				}
				d.e.mu.Unlock()
			}
			attempt, _ := strconv.ParseUint(fs[3], 10, 64)
			open[k] = len(runs)
			runs = append(runs, MasterRun{Instance: inst, Agent: fs[2], Attempt: attempt, Start: at})
		case "end":
			if i, ok := open[k]; ok {
				runs[i].End = at
				delete(open, k)
			}
		}
	}
	return runs
}
