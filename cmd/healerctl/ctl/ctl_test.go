package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healer-mesos/healer/admin"
)

const token = "operator-token-0123456789"

// backend is a small healer: one agent h1 (a1) awaiting approval of
// attempt 7 of incident 3; a standby redirects mutations to leader.
type backend struct {
	mu       sync.Mutex
	standby  bool
	leader   string
	commands []admin.Command
	callers  []admin.Caller
	repairs  []admin.RepairRequest
	fail     error
}

func (b *backend) agentRec() admin.Agent {
	return admin.Agent{ID: "a1", Hostname: "h1", State: "awaiting-approval",
		Incident: &admin.Incident{ID: 3, Problem: "hung", Step: 2, Action: "reboot", ApprovalAttempt: 7, OpenedAt: time.Now().Add(-time.Hour)},
		History: []admin.Attempt{{ID: 5, Incident: 3, Problem: "hung", Action: "restart", Scope: "agent", Result: "failed",
			ExitCode: 1, OutputTail: "line1\nservice would not start\n", StartedAt: time.Now().Add(-50 * time.Minute), EndedAt: time.Now().Add(-49 * time.Minute)}}}
}

func (b *backend) Repair(ctx context.Context, r admin.RepairRequest) (admin.RepairResponse, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.standby {
		return admin.RepairResponse{}, false, admin.NotLeader(b.leader)
	}
	b.repairs = append(b.repairs, r)
	return admin.RepairResponse{AgentID: "a1", State: "repairing", Decisions: []admin.Decision{{Text: "opened agent=a1 problem=" + r.Problem}}}, true, nil
}

func (b *backend) Status(context.Context) (admin.Status, error) {
	if b.fail != nil {
		return admin.Status{}, b.fail
	}
	return admin.Status{IsLeader: !b.standby, Leader: b.leader, Subscribed: true, Mode: "execute", Known: 10, Unhealthy: 1,
		Counts: admin.Counts{Healthy: 9, AwaitingApproval: 1}, Breaker: admin.Breaker{Tripped: true, Unhealthy: 3, Known: 10}, AsOf: time.Now()}, nil
}

func (b *backend) Agents(context.Context, admin.AgentFilter) (admin.AgentList, error) {
	return admin.AgentList{Agents: []admin.Agent{b.agentRec(), {ID: "a-second-agent", Hostname: "h2", State: "healthy"}}, Total: 5}, nil
}

func (b *backend) Agent(_ context.Context, id string) (admin.Agent, error) {
	if id != "a1" && id != "h1" {
		return admin.Agent{}, &admin.Error{Status: http.StatusNotFound, Msg: "unknown agent", Detail: "no agent " + id}
	}
	return b.agentRec(), nil
}

func (b *backend) Ready(context.Context) error { return nil }

func (b *backend) Repairs(context.Context, admin.RepairFilter) (admin.RepairList, error) {
	a := b.agentRec()
	return admin.RepairList{Repairs: []admin.Repair{{AgentID: a.ID, Hostname: a.Hostname, State: a.State, Open: true, Incident: 3,
		Problem: "hung", Step: 2, Action: "reboot", AgeSeconds: 3600, Approval: &admin.Approval{Attempt: 7, Step: 2, Action: "reboot"}}}, Total: 1}, nil
}

func (b *backend) Command(ctx context.Context, c admin.Command) (admin.CommandResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.standby {
		return admin.CommandResponse{}, admin.NotLeader(b.leader)
	}
	b.commands = append(b.commands, c)
	b.callers = append(b.callers, admin.CallerFrom(ctx))
	if c.Op == admin.OpIsolate && c.Target == "h1" {
		return admin.CommandResponse{}, &admin.Error{Status: http.StatusConflict, Msg: "agent is isolated", Detail: "reactivate it first"}
	}
	return admin.CommandResponse{Op: c.Op, AgentID: "a1", Hostname: "h1", State: "repairing",
		Decisions: []admin.Decision{{Text: c.Op + " agent=a1 by=" + admin.CallerFrom(ctx).Name}}}, nil
}

func (b *backend) Alerts(context.Context, []admin.AlertSignal) (admin.AlertResponse, error) {
	return admin.AlertResponse{}, nil
}

func (b *backend) Audit(context.Context, int) (admin.AuditList, error) {
	return admin.AuditList{Entries: []admin.AuditEntry{{Seq: 2, At: time.Now(), Principal: "olga", Role: "operator", Action: "pause",
		Result: "refused", Code: 409, Count: 3, Detail: "already paused"}}}, nil
}

func (b *backend) Record(context.Context, admin.AuditEntry) error { return nil }

func serve(t *testing.T, b *backend) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte("olga operator "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tk, err := admin.LoadTokens(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Backend: b, Tokens: tk}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type result struct {
	code           int
	stdout, stderr string
}

func run(env map[string]string, color bool, args ...string) result {
	var out, errOut bytes.Buffer
	code := Run(Env{Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut, Color: color})
	return result{code, out.String(), errOut.String()}
}

func TestStatusTableAndJSON(t *testing.T) {
	url := serve(t, &backend{leader: "http://leader:7070"})
	r := run(nil, false, "--addr", url, "--token", token, "status")
	if r.code != 0 {
		t.Fatalf("status: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"Instance       leader", "Leader         http://leader:7070", "Storm breaker  TRIPPED (3 of 10 unhealthy)",
		"awaiting-approval 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("colour without a terminal")
	}
	if r := run(nil, true, "--addr", url, "--token", token, "status"); !strings.Contains(r.stdout, "\x1b[31m") {
		t.Error("no colour on a terminal")
	}
	r = run(map[string]string{"HEALER_ADDR": url, "HEALER_TOKEN": token}, false, "status", "-o", "json")
	var st admin.Status
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || !st.IsLeader {
		t.Fatalf("status -o json: %d %q", r.code, r.stdout)
	}
}

func TestTables(t *testing.T) {
	url := serve(t, &backend{})
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"agents"}, []string{"ID  ", "a-second-agent  h2", "awaiting-approval  3 hung", "(2 of 5;"}},
		{[]string{"agent", "h1"}, []string{"Approval  waiting: healerctl approve h1 (attempt 7)", "History (newest last):", "service would not start"}},
		{[]string{"repairs"}, []string{"AGENT", "a1     h1        3", "approve: healerctl approve h1"}},
		{[]string{"audit"}, []string{"olga (operator)", "refused ×3"}},
	} {
		r := run(nil, false, append([]string{"--addr=" + url, "--token=" + token}, c.args...)...)
		if r.code != 0 {
			t.Fatalf("%v: %d %s", c.args, r.code, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v lacks %q:\n%s", c.args, w, r.stdout)
			}
		}
	}
}

func TestApproveFindsTheWaitingStepAndFollowsTheStandby(t *testing.T) {
	leader := &backend{}
	lurl := serve(t, leader)
	standby := &backend{standby: true, leader: lurl}
	surl := serve(t, standby)
	// The first address is dead: the next one is tried.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	r := run(map[string]string{"HEALER_TOKEN": token}, false, "--addr", dead+","+surl, "approve", "h1", "-r", "looked at it")
	if r.code != 0 {
		t.Fatalf("approve: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "approving step 2 (reboot) of incident 3 (hung) on h1, attempt 7") || !strings.Contains(r.stdout, "approve agent=a1 by=olga") {
		t.Errorf("approve output:\n%s", r.stdout)
	}
	if len(leader.commands) != 1 {
		t.Fatalf("the leader got %d commands", len(leader.commands))
	}
	c := leader.commands[0]
	if c.Op != "approve" || c.Target != "h1" || c.Incident != 3 || c.Attempt != 7 || c.Reason != "looked at it" || leader.callers[0].Name != "olga" {
		t.Fatalf("the leader got %+v from %+v", c, leader.callers[0])
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	b := &backend{}
	url := serve(t, b)
	r := run(nil, false, "repair", "h1", "disk_full", "-m", "/var at 99%", "--addr", url, "--token", token)
	if r.code != 0 || len(b.repairs) != 1 {
		t.Fatalf("repair: %d %s", r.code, r.stderr)
	}
	if got := b.repairs[0]; got.Hostname != "h1" || got.Problem != "disk_full" || got.Message != "/var at 99%" || got.Source != "healerctl" {
		t.Fatalf("signal %+v", got)
	}
	r = run(nil, false, "--addr", url, "--token", token, "force", "h1", "-p", "disk", "-r", "by hand")
	if r.code != 0 || b.commands[0].Problem != "disk" || b.commands[0].Reason != "by hand" {
		t.Fatalf("force: %d %s %+v", r.code, r.stderr, b.commands)
	}
}

func TestExitCodes(t *testing.T) {
	url := serve(t, &backend{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"refused", []string{"--addr", url, "--token", token, "isolate", "h1"}, ExitRefused, "409 agent is isolated\n  reactivate it first"},
		{"unknown agent", []string{"--addr", url, "--token", token, "agent", "h9"}, ExitRefused, "404 unknown agent"},
		{"no token", []string{"--addr", url, "status"}, ExitRefused, "--token or HEALER_TOKEN"},
		{"unknown command", []string{"--addr", url, "frobnicate"}, ExitUsage, `unknown command "frobnicate"`},
		{"missing argument", []string{"--addr", url, "approve"}, ExitUsage, "approve takes one agent"},
		{"pause without reason", []string{"--addr", url, "pause"}, ExitUsage, "pause needs a reason"},
		{"bad output", []string{"--addr", url, "-o", "yaml", "status"}, ExitUsage, "want table or json"},
		{"bad address", []string{"--addr", "ftp://x", "status"}, ExitUsage, "want host:port"},
		{"unreachable", []string{"--addr", dead, "status"}, ExitUnavailable, "no healer instance answered"},
	} {
		r := run(nil, false, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.err) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", c.name, r.code, r.stderr, c.code, c.err)
		}
	}
	busy := serve(t, &backend{fail: &admin.Error{Status: 503, Msg: "busy", RetryAfter: time.Second}})
	if r := run(nil, false, "--addr", busy, "--token", token, "status"); r.code != ExitUnavailable {
		t.Errorf("503: exit %d", r.code)
	}
	if r := run(nil, false, "help"); r.code != 0 || !strings.Contains(r.stdout, "Exit codes") {
		t.Errorf("help: %d %q", r.code, r.stdout)
	}
}
