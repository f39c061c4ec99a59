package integration

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
)

// A repair runs on the agent it names, and a relapse escalates through an
// agent-scope step that fails and a master-scope step that fails to
// isolation, which the master carries out.
func TestRepairEscalatesToIsolation(t *testing.T) {
	c := startCluster(t, emulator.ClusterConfig{Agents: 3})
	dir := t.TempDir()
	marker := dir + "/cycle-ran"
	restart := script(t, dir, "restart.sh", `echo "restarting on $REPAIR_HOSTNAME attempt $REPAIR_ATTEMPT"`)
	reboot := script(t, dir, "reboot.sh", `echo "reboot failed" >&2; exit 1`)
	cycle := script(t, dir, "cycle.sh", `echo "$REPAIR_HOSTNAME $REPAIR_AGENT_ID" > `+marker+`; exit 2`)
	s := startScheduler(t, c.MasterAddr(0),
		"--repair_set=restart="+restart+",reboot="+reboot+",cycle="+cycle,
		"--repair_order=restart:agent,reboot:agent,cycle:master,isolate:master",
		"--probation=10mins", "--offer_timeout=30secs")
	s.ready(30 * time.Second)
	target := agentID(t, c, "agent-1")

	if code := s.repair("agent-1", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d, want 202", code)
	}
	testtool.WaitFor(t, "restart to succeed", 30*time.Second, func() bool {
		a := s.agent("agent-1")
		return a.State == "probation" && len(a.History) == 1
	})
	a := s.agent("agent-1")
	if h := a.History[0]; h.Action != "restart" || h.Result != "succeeded" || !strings.Contains(h.OutputTail, "restarting on agent-1 attempt 1") {
		t.Fatalf("first step: %+v", h)
	}
	if got := launchesOn(c, target); len(got) != 1 {
		t.Fatalf("launches on agent-1: %v, want one", got)
	}
	for _, other := range []string{"agent-0", "agent-2"} {
		if got := launchesOn(c, agentID(t, c, other)); len(got) != 0 {
			t.Errorf("repair tasks launched on %s: %v", other, got)
		}
	}
	// A duplicate during probation is a relapse: the repair did not hold.
	if code := s.repair("agent-1", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair during probation: %d, want 202", code)
	}
	testtool.WaitFor(t, "isolation", 60*time.Second, func() bool { return s.agent("agent-1").State == "isolated" })
	a = s.agent("agent-1")
	var steps []string
	for _, h := range a.History {
		steps = append(steps, h.Action+":"+h.Result)
	}
	want := []string{"restart:succeeded", "reboot:failed", "cycle:failed", "isolate:isolated"}
	if !slices.Equal(steps, want) {
		t.Fatalf("history %v, want %v", steps, want)
	}
	if a.History[1].ExitCode != 1 || a.History[2].ExitCode != 2 || a.History[2].Scope != "master" {
		t.Errorf("exit codes and scope: %+v", a.History)
	}
	ran, err := os.ReadFile(marker)
	if err != nil || strings.TrimSpace(string(ran)) != "agent-1 "+target {
		t.Errorf("master-scope step environment: %q, %v", ran, err)
	}
	testtool.WaitFor(t, "DEACTIVATE_AGENT at the master", 10*time.Second, func() bool {
		for _, r := range c.Recorder().Records(emulator.RecordOperatorCall) {
			if r.Type == "DEACTIVATE_AGENT" && r.AgentID == target {
				return true
			}
		}
		return false
	})
	if err := c.Recorder().Verify(emulator.LaunchedAtMostOnce); err != nil {
		t.Error(err)
	}
}

// num_allowed_repairs holds when every agent signals at once: never more
// repair tasks running at the same time than the cap.
func TestNumAllowedRepairsHoldsUnderStorm(t *testing.T) {
	c := startCluster(t, emulator.ClusterConfig{Agents: 8})
	dir := t.TempDir()
	slow := script(t, dir, "slow.sh", `sleep 1; echo done`)
	s := startScheduler(t, c.MasterAddr(0), "--repair_set=restart="+slow,
		"--repair_order=restart:agent", "--num_allowed_repairs=2", "--probation=10mins")
	s.ready(30 * time.Second)
	done := make(chan int, 8)
	for i := range 8 {
		go func() { done <- s.repair("agent-"+string(rune('0'+i)), "hung") }()
	}
	for range 8 {
		if code := <-done; code != http.StatusAccepted {
			t.Fatalf("POST /repair: %d", code)
		}
	}
	testtool.WaitFor(t, "every agent repaired", 90*time.Second, func() bool {
		var st admin.Status
		s.request(http.MethodGet, "/status", nil, &st)
		return st.Counts.Probation == 8
	})
	if peak := peakRunning(c.Recorder().Records()); peak > 2 {
		t.Errorf("%d repair tasks ran at once, num_allowed_repairs is 2", peak)
	} else if peak < 2 {
		t.Errorf("at most %d repair task ran at once: the cap of 2 was never used", peak)
	}
}

// peakRunning is the most healer repair tasks the master had launched and
// not yet seen end, at any moment of the records.
func peakRunning(records []emulator.Record) int {
	live := map[string]bool{}
	peak := 0
	for _, r := range records {
		if !strings.HasPrefix(r.TaskID, "healer.repair.") {
			continue
		}
		switch r.Kind {
		case emulator.RecordLaunch:
			live[r.TaskID] = true
		case emulator.RecordStatusUpdate:
			switch r.Type {
			case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE":
				delete(live, r.TaskID)
			}
		}
		peak = max(peak, len(live))
	}
	return peak
}
