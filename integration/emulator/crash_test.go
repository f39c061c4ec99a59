package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/testtool"
)

// TestCrashLeaderWaitsForSessionExpiry: a crashed leader's ZooKeeper
// session is not closed, so until it expires the standby still follows the
// dead leader (307 to its address) and only then leads, as real masters do
// after a SIGKILL (mesos-protocol.md 0.5: a standby answered 200 after the
// 10 s session timeout). A clean KillLeader hands over at once instead
// (TestClusterZooKeeperFailover).
func TestCrashLeaderWaitsForSessionExpiry(t *testing.T) {
	cfg, _ := zkClusterConfig(t, 1)
	sessionTimeout := cfg.ZKSessionTimeout
	cl := startCluster(t, cfg)

	deadIdx, standbyIdx := 0, 1
	if !cl.MasterLeading(0) {
		deadIdx, standbyIdx = 1, 0
	}
	deadAddr, standbyURL := cl.MasterAddr(deadIdx), cl.MasterURLs()[standbyIdx]
	crashed := time.Now()
	if err := cl.CrashLeader(); err != nil {
		t.Fatal(err)
	}

	// Right after the crash the standby still redirects to the dead leader.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Post(standbyURL+"/api/v1", "application/json", strings.NewReader(`{"type":"GET_HEALTH"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if elapsed := time.Since(crashed); elapsed < sessionTimeout/2 {
		if want := "//" + deadAddr + "/master/api/v1"; resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
			t.Fatalf("standby %v after the crash answered %d %q; want 307 to the dead leader %q",
				elapsed, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}

	// It leads once the dead leader's session has expired, not before.
	deadline := time.Now().Add(sessionTimeout + 15*time.Second)
	for !cl.MasterLeading(standbyIdx) {
		if time.Now().After(deadline) {
			t.Fatal("the standby never led after the leader crashed")
		}
		time.Sleep(20 * time.Millisecond) // polling the election
	}
	if took := time.Since(crashed); took < sessionTimeout*3/4 {
		t.Fatalf("the standby led %v after the crash; want about the %v session timeout", took, sessionTimeout)
	}
	if code, _, body := postRaw(t, standbyURL+"/api/v1", `{"type":"GET_HEALTH"}`, nil); code != http.StatusOK {
		t.Fatalf("new leader answered %d %q", code, body)
	}
	if recs := cl.Recorder().Records(RecordFault); len(recs) == 0 || recs[0].Type != "master_crash" {
		t.Fatalf("fault records = %+v; want master_crash first", recs)
	}
}

// TestRestartMaster: a killed master restarts on its address as a new
// master (new id), follows the leader, and is elected when the leader dies
// next; every master can die and come back over a run. Operator calls are
// recorded with the caller's User-Agent.
func TestRestartMaster(t *testing.T) {
	cfg, _ := zkClusterConfig(t, 2)
	cl := startCluster(t, cfg)
	first := 0
	if !cl.MasterLeading(0) {
		first = 1
	}
	second := 1 - first
	oldID := cl.Masters()[first].ID()
	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the standby leading", 30*time.Second, func() bool { return cl.MasterLeading(second) })
	if err := cl.RestartMaster(context.Background(), second); err == nil {
		t.Fatal("restarting a running master did not fail")
	}
	if err := cl.RestartMaster(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if cl.Masters()[first].ID() == oldID {
		t.Fatal("the restarted master kept its old id")
	}
	// The restarted master follows the leader: 307 to it.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	testtool.WaitFor(t, "the restarted master redirecting to the leader", 30*time.Second, func() bool {
		resp, err := noRedirect.Post(cl.MasterURLs()[first]+"/api/v1", "application/json", strings.NewReader(`{"type":"GET_HEALTH"}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusTemporaryRedirect &&
			resp.Header.Get("Location") == "//"+cl.MasterAddr(second)+"/master/api/v1"
	})
	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the restarted master leading", 30*time.Second, func() bool { return cl.MasterLeading(first) })
	code, _, body := postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"GET_HEALTH"}`, map[string]string{"User-Agent": "probe/1"})
	if code != http.StatusOK {
		t.Fatalf("GET_HEALTH on the restarted leader: %d %s", code, body)
	}
	var client string
	for _, r := range cl.Recorder().Records(RecordOperatorCall) {
		if r.Type == "GET_HEALTH" {
			client = r.Client
		}
	}
	if client != "probe/1" {
		t.Errorf("operator call recorded with client %q, want the User-Agent probe/1", client)
	}
}
