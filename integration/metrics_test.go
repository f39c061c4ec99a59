package integration

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
)

// A real scrape of a scheduler that has repaired an agent passes
// `promtool check metrics`, holds the repair's histograms, and names no
// agent.
func TestMetricsScrapePassesPromtool(t *testing.T) {
	promtool := testtool.Path(t, "promtool", "prometheus")
	c := startCluster(t, emulator.ClusterConfig{Agents: 2})
	dir := t.TempDir()
	restart := script(t, dir, "restart.sh", `echo restarted`)
	s := startScheduler(t, c.MasterAddr(0), "--repair_set=restart="+restart, "--repair_order=restart:agent,isolate:master")
	s.ready(30 * time.Second)
	if code := s.repair("agent-1", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair: %d", code)
	}
	testtool.WaitFor(t, "the repair to succeed", 30*time.Second, func() bool { return s.agent("agent-1").State == "probation" })

	var scrape []byte
	testtool.WaitFor(t, "the repair's metrics", 10*time.Second, func() bool {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		scrape, _ = io.ReadAll(resp.Body)
		return bytes.Contains(scrape, []byte(`healer_repair_duration_seconds_count{action="restart",result="succeeded"} 1`))
	})
	for _, want := range []string{
		"healer_is_leader 1",
		"healer_signal_to_action_seconds_count 1",
		`healer_repairs_finished_total{action="restart",result="succeeded",scope="agent"} 1`,
		`healer_signals_total{outcome="accepted",source="other"} 1`,
		`healer_zookeeper_operation_seconds_count{op="save"}`,
		`healer_admin_requests_total{code="202",route="repair"} 1`,
		`healer_build_info{version=`,
		"go_gc_heap_live_bytes ", // the memory figure of docs/scale.md
	} {
		if !bytes.Contains(scrape, []byte(want)) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	for _, a := range c.Agents() {
		info := a.Info()
		if id := info.GetID().GetValue(); bytes.Contains(scrape, []byte(id)) {
			t.Errorf("the scrape names agent %s: series must not grow with the cluster", id)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, strings.TrimSpace(string(out)))
	}
}
