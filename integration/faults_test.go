package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/internal/zktest"
)

// zkFlags are the flags of a scheduler that keeps its state in zk under
// chroot, with a short session timeout so failovers are quick.
func zkFlags(addr string) []string {
	return []string{"--zk=zk://" + addr + "/healer", "--zk_session_timeout=2secs"}
}

// leaderOf waits until exactly one of the schedulers leads, subscribed and
// mutable, and returns it.
func leaderOf(t testing.TB, timeout time.Duration, ss ...*scheduler) *scheduler {
	t.Helper()
	var lead *scheduler
	testtool.WaitFor(t, "one leader", timeout, func() bool {
		lead = nil
		n := 0
		for _, s := range ss {
			select {
			case <-s.done:
				continue
			default:
			}
			if st, code := s.status(); code == http.StatusOK && st.IsLeader && st.Subscribed && !st.Immutable {
				lead = s
				n++
			}
		}
		return n == 1
	})
	return lead
}

// leaderAndStandby waits until one of a and b leads and returns it, and
// the other.
func leaderAndStandby(t testing.TB, a, b *scheduler) (lead, standby *scheduler) {
	t.Helper()
	lead = leaderOf(t, 30*time.Second, a, b)
	if lead == a {
		return a, b
	}
	return b, a
}

// operator sends an operator API call (JSON) to the leading master.
func operator(t *testing.T, c *emulator.Cluster, call string) (int, string) {
	t.Helper()
	resp, err := http.Post(c.LeaderURL()+"/api/v1", "application/json", strings.NewReader(call))
	if err != nil {
		t.Fatalf("operator call %s: %v", call, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The leader is SIGKILLed while its repair task runs: the standby takes
// over after the session timeout, finds the task through reconciliation,
// never launches it again, and finishes the incident.
func TestLeaderKilledMidRepairStandbyFinishes(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 3})
	dir := t.TempDir()
	slow := script(t, dir, "restart.sh", `sleep 4; echo restarted`)
	flags := append(zkFlags(zk.Addr), "--repair_set=restart="+slow, "--repair_order=restart:agent", "--probation=10mins")
	a := startScheduler(t, c.MasterAddr(0), flags...)
	b := startScheduler(t, c.MasterAddr(0), flags...)
	lead, standby := leaderAndStandby(t, a, b)
	testtool.WaitFor(t, "the standby to know the leader", 30*time.Second, func() bool {
		st, code := standby.status()
		return code == http.StatusOK && !st.IsLeader && st.Leader == lead.URL
	})
	// A mutation on the standby is redirected to the leader.
	if code := standby.repair("agent-1", "hung"); code != http.StatusTemporaryRedirect {
		t.Fatalf("POST /repair on the standby: %d, want 307", code)
	}
	if code := lead.repair("agent-1", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", code)
	}
	target := agentID(t, c, "agent-1")
	testtool.WaitFor(t, "the repair task running", 30*time.Second, func() bool {
		for _, r := range c.Recorder().Records(emulator.RecordStatusUpdate) {
			if r.AgentID == target && strings.HasPrefix(r.TaskID, "healer.repair.") && r.Type == "TASK_RUNNING" {
				return true
			}
		}
		return false
	})
	lead.signal(syscall.SIGKILL)
	<-lead.done
	next := leaderOf(t, 30*time.Second, standby)
	testtool.WaitFor(t, "the incident finished by the new leader", 30*time.Second, func() bool {
		return next.agent("agent-1").State == "probation"
	})
	h := next.agent("agent-1").History
	if len(h) != 1 || h[0].Action != "restart" || h[0].Result != "succeeded" {
		t.Errorf("history after failover: %+v", h)
	}
	if got := launchesOn(c, target); len(got) != 1 {
		t.Errorf("launches on agent-1: %v, want exactly one", got)
	}
	if err := c.Recorder().Verify(emulator.LaunchedAtMostOnce); err != nil {
		t.Error(err)
	}
}

// A leader cut off from ZooKeeper stops acting at once (503 to
// mutations), is deposed when its session expires, and after the
// partition heals follows the new leader.
func TestLeaderPartitionedFromZooKeeperStopsActing(t *testing.T) {
	zk := zktest.Start(t)
	proxy := zktest.NewProxy(t, zk.Addr)
	c := startCluster(t, emulator.ClusterConfig{Agents: 2})
	dir := t.TempDir()
	ok := script(t, dir, "restart.sh", `echo restarted`)
	common := []string{"--repair_set=restart=" + ok, "--repair_order=restart:agent", "--probation=10mins"}
	a := startScheduler(t, c.MasterAddr(0), append(zkFlags(proxy.Addr), common...)...)
	leaderOf(t, 30*time.Second, a)
	b := startScheduler(t, c.MasterAddr(0), append(zkFlags(zk.Addr), common...)...)
	testtool.WaitFor(t, "the standby following", 30*time.Second, func() bool {
		st, code := b.status()
		return code == http.StatusOK && st.Leader == a.URL
	})
	proxy.Partition()
	testtool.WaitFor(t, "the cut-off leader refusing mutations", 10*time.Second, func() bool {
		return a.repair("agent-0", "hung") == http.StatusServiceUnavailable
	})
	launchesBefore := len(c.Recorder().Records(emulator.RecordLaunch))
	leaderOf(t, 30*time.Second, a, b)
	if code := b.repair("agent-0", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair on the new leader: %d", code)
	}
	testtool.WaitFor(t, "the new leader's repair", 30*time.Second, func() bool { return b.agent("agent-0").State == "probation" })
	proxy.Heal()
	testtool.WaitFor(t, "the old leader following the new one", 30*time.Second, func() bool {
		st, code := a.status()
		return code == http.StatusOK && !st.IsLeader && st.Leader == b.URL
	})
	if n := len(c.Recorder().Records(emulator.RecordLaunch)); n != launchesBefore+1 {
		t.Errorf("%d launches after the partition, want the new leader's one", n-launchesBefore)
	}
	if err := c.Recorder().Verify(emulator.LaunchedAtMostOnce); err != nil {
		t.Error(err)
	}
}

// A ZooKeeper restart shorter than the session timeout suspends the leader
// (Immutable, 503) and it resumes with the same session.
func TestZooKeeperRestart(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 2})
	dir := t.TempDir()
	ok := script(t, dir, "restart.sh", `echo restarted`)
	s := startScheduler(t, c.MasterAddr(0), "--zk=zk://"+zk.Addr+"/healer", "--zk_session_timeout=20secs",
		"--repair_set=restart="+ok, "--repair_order=restart:agent", "--probation=10mins")
	leaderOf(t, 30*time.Second, s)
	zk.Stop()
	testtool.WaitFor(t, "Immutable while ZooKeeper is down", 20*time.Second, func() bool {
		st, code := s.status()
		return code == http.StatusOK && st.Immutable
	})
	if code := s.repair("agent-0", "hung"); code != http.StatusServiceUnavailable {
		t.Errorf("POST /repair with ZooKeeper down: %d, want 503", code)
	}
	zk.Restart()
	leaderOf(t, 30*time.Second, s)
	if code := s.repair("agent-0", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair after ZooKeeper came back: %d", code)
	}
	testtool.WaitFor(t, "the repair", 30*time.Second, func() bool { return s.agent("agent-0").State == "probation" })
}

// The leading Mesos master fails over: healer is Immutable until it has
// resubscribed to the new leader and reconciled, then repairs again.
func TestMasterFailover(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Masters: 2, ZK: "zk://" + zk.Addr + "/mesos", Agents: 2,
		ZKSessionTimeout: 2 * time.Second})
	dir := t.TempDir()
	ok := script(t, dir, "restart.sh", `echo restarted`)
	s := startScheduler(t, "zk://"+zk.Addr+"/mesos", "--repair_set=restart="+ok, "--repair_order=restart:agent",
		"--probation=10mins")
	s.ready(30 * time.Second)
	before := c.LeaderURL()
	if err := c.KillLeader(); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "a new leading master", 30*time.Second, func() bool { return c.LeaderURL() != "" && c.LeaderURL() != before })
	s.ready(60 * time.Second)
	if code := s.repair("agent-1", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair after the master failover: %d", code)
	}
	testtool.WaitFor(t, "the repair on the new master", 30*time.Second, func() bool { return s.agent("agent-1").State == "probation" })
}

// A framework the master no longer knows stops the scheduler with a
// message that says so and how to start over; it never registers anew.
func TestRemovedFrameworkStopsTheScheduler(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 1})
	s := startScheduler(t, c.MasterAddr(0), append(zkFlags(zk.Addr), "--repair_order=isolate")...)
	s.ready(30 * time.Second)
	st, _ := s.status()
	if code, body := operator(t, c, fmt.Sprintf(`{"type":"TEARDOWN","teardown":{"framework_id":{"value":%q}}}`, st.FrameworkID)); code != http.StatusOK {
		t.Fatalf("TEARDOWN: %d %s", code, body)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the scheduler did not stop after its framework was removed")
	}
	var ee *exec.ExitError
	if !asExit(s.err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("exit: %v, want status 1", s.err)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, "removed") || !strings.Contains(logs, "/healer/framework") {
		t.Errorf("the message does not say what happened and how to start over:\n%s", logs)
	}
	subscribes := 0
	for _, r := range c.Recorder().Records(emulator.RecordSchedulerCall) {
		if r.Type == "SUBSCRIBE" && r.FrameworkID == "" {
			subscribes++
		}
	}
	if subscribes != 1 {
		t.Errorf("%d registrations of a new framework, want 1 (the first)", subscribes)
	}
}

// A repair command that hangs is killed at its timeout with its whole
// process group, the step counts as timed out, and the ladder goes on.
func TestHungRepairTimesOut(t *testing.T) {
	c := startCluster(t, emulator.ClusterConfig{Agents: 1})
	dir := t.TempDir()
	mark := fmt.Sprintf("healer-hung-%d", time.Now().UnixNano())
	hang := script(t, dir, "hang.sh", `sh -c 'exec sleep 600 # `+mark+`' & sleep 600`)
	s := startScheduler(t, c.MasterAddr(0), "--repair_set=restart="+hang, "--repair_order=restart:agent,isolate",
		"--step_timeout=3secs")
	s.ready(30 * time.Second)
	if code := s.repair("agent-0", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", code)
	}
	testtool.WaitFor(t, "the step to time out and the ladder to go on", 60*time.Second, func() bool {
		return s.agent("agent-0").State == "isolated"
	})
	h := s.agent("agent-0").History
	if len(h) != 2 || h[0].Result != "timed-out" {
		t.Errorf("history %+v, want restart timed out, then isolation", h)
	}
	testtool.WaitFor(t, "no process of the hung command left", 20*time.Second, func() bool {
		out, _ := exec.Command("pgrep", "-f", mark).Output()
		return len(bytes.TrimSpace(out)) == 0
	})
}

// An agent lost while its repair runs: its task is unreachable, which is
// not an outcome; the step's deadline decides, and the ladder goes on.
func TestAgentLostMidRepair(t *testing.T) {
	c := startCluster(t, emulator.ClusterConfig{Agents: 2, Master: emulator.MasterConfig{
		AgentPingTimeout: 100 * time.Millisecond, MaxAgentPingTimeouts: 2}})
	dir := t.TempDir()
	slow := script(t, dir, "restart.sh", `sleep 60`)
	cycle := script(t, dir, "cycle.sh", `echo power cycled`)
	s := startScheduler(t, c.MasterAddr(0), "--repair_set=restart="+slow+",cycle="+cycle,
		"--repair_order=restart:agent,cycle:master", "--step_timeout=5secs", "--probation=10mins",
		// The lost agent never confirms the kill of its timed-out step:
		// the machine is held this long past the step's deadline.
		"--kill_confirm_timeout=3secs")
	s.ready(30 * time.Second)
	target := agentID(t, c, "agent-1")
	if code := s.repair("agent-1", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", code)
	}
	testtool.WaitFor(t, "the repair task running", 30*time.Second, func() bool { return len(updates(c, target, "TASK_RUNNING")) > 0 })
	if err := c.KillAgent(target); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the master-scope step after the lost one", 60*time.Second, func() bool {
		return s.agent("agent-1").State == "probation"
	})
	h := s.agent("agent-1").History
	if len(h) != 2 || h[0].Action != "restart" || h[0].Result != "timed-out" || h[1].Action != "cycle" {
		t.Errorf("history %+v, want restart timed out, then cycle", h)
	}
}

// A drain-first step puts its machine in a maintenance window of healer's
// and ends it afterwards, and never touches another window in the
// schedule.
func TestDrainFirstLeavesOtherWindowsAlone(t *testing.T) {
	c := startCluster(t, emulator.ClusterConfig{Agents: 2})
	dir := t.TempDir()
	ok := script(t, dir, "reboot.sh", `echo rebooting`)
	cfgFile := dir + "/healer.yaml"
	writeFile(t, cfgFile, "repair_set:\n  reboot: "+ok+"\nrepair_order:\n  - {action: reboot, scope: agent, drain: true}\n")
	s := startScheduler(t, c.MasterAddr(0), "--config="+cfgFile, "--drain_timeout=20secs", "--probation=10mins")
	s.ready(30 * time.Second)
	// An operator's window for agent-1's machine, far in the future.
	other := `{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[` +
		`{"machine_ids":[{"hostname":"agent-1","ip":"127.0.0.1"}],` +
		`"unavailability":{"start":{"nanoseconds":4102444800000000000},"duration":{"nanoseconds":3600000000000}}}]}}}`
	if code, body := operator(t, c, other); code != http.StatusOK {
		t.Fatalf("operator window: %d %s", code, body)
	}
	if code := s.repair("agent-0", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", code)
	}
	sawHealerWindow := false
	testtool.WaitFor(t, "the drained repair", 60*time.Second, func() bool {
		if strings.Contains(schedule(t, c), `"hostname":"agent-0"`) {
			sawHealerWindow = true
		}
		return s.agent("agent-0").State == "probation"
	})
	if !sawHealerWindow {
		t.Error("healer never put agent-0 in a maintenance window before its drain step")
	}
	testtool.WaitFor(t, "healer's window gone, the operator's kept", 20*time.Second, func() bool {
		sch := schedule(t, c)
		return !strings.Contains(sch, `"hostname":"agent-0"`) && strings.Contains(sch, `"hostname":"agent-1"`) &&
			strings.Contains(sch, `"nanoseconds":3600000000000`)
	})
}

func schedule(t *testing.T, c *emulator.Cluster) string {
	t.Helper()
	code, body := operator(t, c, `{"type":"GET_MAINTENANCE_SCHEDULE"}`)
	if code != http.StatusOK {
		t.Fatalf("GET_MAINTENANCE_SCHEDULE: %d %s", code, body)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(body)); err != nil {
		t.Fatalf("schedule %q: %v", body, err)
	}
	return compact.String()
}

// updates lists the states the framework was sent for healer's repair
// tasks on agent.
func updates(c *emulator.Cluster, agent, state string) []emulator.Record {
	var out []emulator.Record
	for _, r := range c.Recorder().Records(emulator.RecordStatusUpdate) {
		if r.AgentID == agent && strings.HasPrefix(r.TaskID, "healer.repair.") && r.Type == state {
			out = append(out, r)
		}
	}
	return out
}

// SIGTERM: the leader releases leadership at once, exits 0, and leaves the
// framework registered: the standby takes over the same framework.
func TestCleanShutdownHandsOver(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 1})
	// A long session: a handover within it shows the leader released
	// leadership instead of leaving its session to expire.
	flags := []string{"--zk=zk://" + zk.Addr + "/healer", "--zk_session_timeout=30secs", "--repair_order=isolate"}
	a := startScheduler(t, c.MasterAddr(0), flags...)
	b := startScheduler(t, c.MasterAddr(0), flags...)
	lead, standby := leaderAndStandby(t, a, b)
	before, _ := lead.status()
	start := time.Now()
	lead.stop()
	if lead.err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0", lead.err)
	}
	leaderOf(t, 10*time.Second, standby)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("handover took %v", took)
	}
	after, _ := standby.status()
	if after.FrameworkID != before.FrameworkID {
		t.Errorf("framework id changed from %s to %s", before.FrameworkID, after.FrameworkID)
	}
	for _, r := range c.Recorder().Records(emulator.RecordSchedulerCall) {
		if r.Type == "TEARDOWN" {
			t.Errorf("the framework was torn down on a clean shutdown: %+v", r)
		}
	}
}

// --isolation=maintenance: healer schedules a window of its own for the
// machine and brings it DOWN; an operator's window for another machine is
// left as it was.
func TestIsolationByMaintenanceDown(t *testing.T) {
	c := startCluster(t, emulator.ClusterConfig{Agents: 2})
	s := startScheduler(t, c.MasterAddr(0), "--repair_order=isolate", "--isolation=maintenance")
	s.ready(30 * time.Second)
	other := `{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[` +
		`{"machine_ids":[{"hostname":"agent-1","ip":"127.0.0.1"}],` +
		`"unavailability":{"start":{"nanoseconds":4102444800000000000},"duration":{"nanoseconds":3600000000000}}}]}}}`
	if code, body := operator(t, c, other); code != http.StatusOK {
		t.Fatalf("operator window: %d %s", code, body)
	}
	if code := s.repair("agent-0", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", code)
	}
	testtool.WaitFor(t, "agent-0 DOWN for maintenance", 30*time.Second, func() bool {
		code, body := operator(t, c, `{"type":"GET_MAINTENANCE_STATUS"}`)
		return code == http.StatusOK && strings.Contains(body, `"down_machines"`) && strings.Contains(body, `agent-0`)
	})
	if s.agent("agent-0").State != "isolated" {
		t.Errorf("agent-0 is %s, want isolated", s.agent("agent-0").State)
	}
	sch := schedule(t, c)
	if !strings.Contains(sch, `"hostname":"agent-1"`) || !strings.Contains(sch, `"nanoseconds":3600000000000`) {
		t.Errorf("the operator's window changed: %s", sch)
	}
}
