package integration

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/internal/zktest"
)

// zkWrites is how many ZooKeeper write transactions the scheduler has made
// (its healer_zookeeper_operation_seconds histogram, op="multi").
func (s *scheduler) zkWrites() int {
	s.t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		s.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, `healer_zookeeper_operation_seconds_count{op="multi"}`) {
			n, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				s.t.Fatalf("metric line %q: %v", line, err)
			}
			return n
		}
	}
	return 0
}

// The monitor on an agent sees a problem, reports it; the report becomes a
// signal and the signal a repair; the repair fixes the problem and the
// monitor reports its recovery. Repeated reports of an open incident cost
// no ZooKeeper write, and a repair step at most three. (A healthy monitor
// sends nothing at all: the executor's own tests show it.)
func TestMonitorReportToRepairAndZooKeeperWrites(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 1})
	dir := t.TempDir()
	sick := dir + "/sick"
	monitor := dir + "/monitor.yaml"
	writeFile(t, monitor, `interval: 1s
checks:
  - name: sick-flag
    problem: flagged_sick
    command: "test ! -e `+sick+`"
`)
	// The fix takes a while (the monitor keeps reporting meanwhile), then
	// clears the flag and gives the monitor time to see it healthy before
	// the step ends.
	fix := script(t, dir, "fix.sh", `sleep 3; rm -f `+sick+`; sleep 2; echo fixed`)
	s := startScheduler(t, c.MasterAddr(0), append(zkFlags(zk.Addr), "--monitor_config="+monitor,
		"--repair_set=fix="+fix, "--repair_order=fix:agent", "--probation=10mins")...)
	leaderOf(t, 30*time.Second, s)
	testtool.WaitFor(t, "the monitor task running", 30*time.Second, func() bool {
		for _, r := range c.Recorder().Records(emulator.RecordStatusUpdate) {
			if strings.HasPrefix(r.TaskID, "healer.monitor.") && r.Type == "TASK_RUNNING" {
				return true
			}
		}
		return false
	})
	writeFile(t, sick, "")
	testtool.WaitFor(t, "the monitor's signal repairing the agent", 30*time.Second, func() bool {
		a := s.agent("agent-0")
		return a.State == "repairing"
	})
	start := s.zkWrites()
	// While the repair runs the monitor keeps reporting every second:
	// each report is deduplicated into the open incident.
	testtool.WaitFor(t, "the repair", 30*time.Second, func() bool { return s.agent("agent-0").State == "probation" })
	if _, err := os.Stat(sick); !os.IsNotExist(err) {
		t.Fatalf("the repair did not fix the problem: %v", err)
	}
	a := s.agent("agent-0")
	if len(a.History) != 1 || a.History[0].Result != "succeeded" {
		t.Fatalf("history %+v", a.History)
	}
	stepWrites := s.zkWrites() - start
	if n := strings.Count(s.logs.String(), "decision: attached"); n == 0 {
		t.Errorf("no duplicate monitor report was attached to the open incident")
	}
	// The launch was written with the incident, before start; the step's
	// start and outcome after it: at most 3 writes for the whole step.
	if stepWrites > 2 {
		t.Errorf("%d ZooKeeper writes after the launch of one repair step (with duplicate reports every second), want ≤ 2", stepWrites)
	}
	if !strings.Contains(s.logs.String(), "check back in range") {
		testtool.WaitFor(t, "the monitor's recovery report", 20*time.Second, func() bool {
			return strings.Contains(s.logs.String(), "check back in range")
		})
	}
}
