package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
)

const (
	operatorToken = "olga-operator-token-0123456789"
	viewerToken   = "vera-viewer-token-0123456789"
)

// The dashboard in a real (headless) browser, served by a running
// healer-scheduler on the emulator: it shows the banner, the counts and an
// open repair, and an operator approves a waiting step with its button.
// The screenshot is a test artifact (go test -artifacts keeps it).
func TestDashboardInABrowser(t *testing.T) {
	br := startBrowser(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 3})
	dir := t.TempDir()
	quick := script(t, dir, "quick.sh", `echo "repaired $REPAIR_HOSTNAME"`)
	slow := script(t, dir, "slow.sh", `sleep 120`)
	cfg := filepath.Join(dir, "healer.yaml")
	writeFile(t, cfg, `
repair_set: {quick: `+quick+`, slow: `+slow+`}
repair_order:
  - {action: slow, scope: agent, timeout: 10m}
  - isolate
ladders:
  disk_full:
    - {action: quick, scope: agent, approval: true}
    - isolate
`)
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "olga operator "+operatorToken+"\nvera viewer "+viewerToken+"\n")
	s := startScheduler(t, c.MasterAddr(0), "--config="+cfg, "--admin_tokens="+tokens, "--num_allowed_repairs=5")
	s.token = operatorToken
	s.ready(30 * time.Second)
	if code := s.repair("agent-1", "disk_full"); code != http.StatusAccepted {
		t.Fatalf("POST /repair agent-1: %d", code)
	}
	if code := s.repair("agent-2", "hung"); code != http.StatusAccepted {
		t.Fatalf("POST /repair agent-2: %d", code)
	}
	waiting, running := agentID(t, c, "agent-1"), agentID(t, c, "agent-2")
	testtool.WaitFor(t, "agent-2 repairing", 30*time.Second, func() bool { return s.agent("agent-2").State == "repairing" })

	// The browser sends the operator's token with every request.
	br.page("Network.enable", map[string]any{}, nil)
	br.page("Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{"Authorization": "Bearer " + operatorToken}}, nil)
	br.page("Page.enable", map[string]any{}, nil)
	br.page("Page.navigate", map[string]any{"url": s.URL + "/"}, nil)

	type view struct {
		Banner, BannerClass, Role string
		Counts                    map[string]string
		Open, Waiting             []string
		ButtonEnabled             bool
		Error                     string
	}
	read := func() view {
		var v view
		err := br.eval(`(() => {
		  const $ = (id) => document.getElementById(id);
		  const counts = {};
		  document.querySelectorAll("#counts .count").forEach((c) => counts[c.dataset.state] = c.querySelector(".v").textContent);
		  const btn = document.querySelector("#approvals button.approve");
		  return {Banner: $("banner").textContent, BannerClass: $("banner").className, Role: $("role").textContent, Counts: counts,
		    Open: [...document.querySelectorAll("#repairs tr[data-agent]")].map((r) => r.dataset.agent),
		    Waiting: [...document.querySelectorAll("#approvals tr[data-agent]")].map((r) => r.dataset.agent),
		    ButtonEnabled: !!btn && !btn.disabled, Error: $("error").textContent};
		})()`, &v)
		if err != nil {
			t.Logf("page not ready: %v", err)
		}
		return v
	}
	var v view
	testtool.WaitFor(t, "the dashboard showing both repairs", 30*time.Second, func() bool {
		v = read()
		return v.Counts["awaiting-approval"] == "1" && len(v.Open) == 2 && len(v.Waiting) == 1 && v.ButtonEnabled
	})
	if v.Role != "leader" || v.BannerClass != "ok" || !strings.Contains(v.Banner, "leading, subscribed") {
		t.Errorf("banner %q (%s), role %q", v.Banner, v.BannerClass, v.Role)
	}
	if v.Counts["healthy"] != "1" || v.Counts["repairing"] != "1" || v.Counts["isolated"] != "0" {
		t.Errorf("counts %v", v.Counts)
	}
	if v.Waiting[0] != waiting || !strings.Contains(strings.Join(v.Open, " "), running) {
		t.Errorf("open repairs %v, waiting %v; want %s waiting and %s open", v.Open, v.Waiting, waiting, running)
	}

	// Approve through the button: a first click asks, the second approves.
	if err := br.eval(`document.querySelector("#approvals button.approve").click()`, nil); err != nil {
		t.Fatal(err)
	}
	if err := br.eval(`document.querySelector("#approvals button.approve").click()`, nil); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the approved step to run", 30*time.Second, func() bool {
		a := s.agent("agent-1")
		return len(a.History) == 1 && a.History[0].Action == "quick" && a.History[0].Result == "succeeded"
	})
	testtool.WaitFor(t, "the dashboard showing nothing waiting", 30*time.Second, func() bool {
		v = read()
		return len(v.Waiting) == 0 && v.Counts["awaiting-approval"] == "0"
	})
	var audit struct {
		Entries []struct{ Principal, Action, Result, Reason string }
	}
	if code := s.request(http.MethodGet, "/audit", nil, &audit); code != http.StatusOK || len(audit.Entries) == 0 ||
		audit.Entries[0].Action != "approve" || audit.Entries[0].Principal != "olga" || audit.Entries[0].Result != "accepted" {
		t.Errorf("audit after the approval: %d %+v", code, audit.Entries)
	}
	shot := filepath.Join(t.ArtifactDir(), "dashboard.png")
	br.screenshot(shot)
	t.Logf("dashboard screenshot: %s", shot)
}
