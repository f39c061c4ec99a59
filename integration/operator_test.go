package integration

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/healer-mesos/healer/cmd/healerctl/ctl"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/internal/zktest"
)

// healerctl runs healerctl in process and returns its exit code and output.
func healerctl(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := ctl.Run(ctl.Env{Args: args, Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// Two real instances with tokens: healerctl aimed at the standby reaches
// the leader, every instance shows the audit trail from ZooKeeper, and a
// token file changed under a running scheduler (then SIGHUP) takes effect
// without a restart, a broken one keeping the tokens in use.
func TestOperatorSurfaceAcrossInstances(t *testing.T) {
	zk := zktest.Start(t)
	c := startCluster(t, emulator.ClusterConfig{Agents: 2})
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	writeFile(t, tokens, "olga operator "+operatorToken+"\nvera viewer "+viewerToken+"\n")
	flags := append(zkFlags(zk.Addr), "--admin_tokens="+tokens)
	a := startScheduler(t, c.MasterAddr(0), flags...)
	b := startScheduler(t, c.MasterAddr(0), flags...)
	a.token, b.token = viewerToken, viewerToken
	lead := leaderOf(t, 30*time.Second, a, b)
	standby := a
	if lead == a {
		standby = b
	}
	lead.ready(30 * time.Second)
	testtool.WaitFor(t, "the standby to know the leader", 30*time.Second, func() bool {
		st, code := standby.status()
		return code == http.StatusOK && !st.IsLeader && st.Leader == lead.URL
	})

	// Through the standby: followed to the leader, with the token.
	code, out, errOut := healerctl("--addr", standby.URL, "--token", operatorToken, "pause", "-r", "network maintenance")
	if code != ctl.ExitOK || !strings.Contains(out, "paused") {
		t.Fatalf("healerctl pause via the standby: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := healerctl("--addr", standby.URL, "--token", viewerToken, "resume"); code != ctl.ExitRefused || !strings.Contains(errOut, "403") {
		t.Fatalf("a viewer's resume: %d %q", code, errOut)
	}
	// The standby reads the trail from ZooKeeper.
	testtool.WaitFor(t, "the audit trail on the standby", 10*time.Second, func() bool {
		code, out, _ := healerctl("--addr", standby.URL, "--token", viewerToken, "audit")
		return code == ctl.ExitOK && strings.Contains(out, "olga (operator)") && strings.Contains(out, "pause")
	})
	// Its status, from a view at most two seconds old.
	testtool.WaitFor(t, "the pause in the standby's status", 10*time.Second, func() bool {
		code, out, _ = healerctl("--addr", standby.URL, "--token", viewerToken, "status")
		return code == ctl.ExitOK && strings.Contains(out, "standby") && strings.Contains(out, "by olga: network maintenance")
	})

	// A new token, on the leader: picked up on SIGHUP (or by the poll).
	const newToken = "nina-operator-token-0123456789"
	writeFile(t, tokens, "olga operator "+operatorToken+"\nvera viewer "+viewerToken+"\nnina operator "+newToken+"\n")
	lead.signal(syscall.SIGHUP)
	testtool.WaitFor(t, "the new token to work", 10*time.Second, func() bool {
		code, out, _ := healerctl("--addr", lead.URL, "--token", newToken, "whoami")
		return code == ctl.ExitOK && strings.HasPrefix(out, "nina (operator)")
	})
	// A broken file keeps the tokens in use, and the log says why.
	writeFile(t, tokens, "nina operator short\n")
	lead.signal(syscall.SIGHUP)
	testtool.WaitFor(t, "the refused reload in the log", 10*time.Second, func() bool {
		return strings.Contains(lead.logs.String(), "admin token file NOT reloaded")
	})
	if code, _, errOut := healerctl("--addr", lead.URL, "--token", newToken, "resume"); code != ctl.ExitOK {
		t.Fatalf("resume with a token the broken file would drop: %d %q", code, errOut)
	}
}
