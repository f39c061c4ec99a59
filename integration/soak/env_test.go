package soak

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/zktest"
)

// settings are the soak's knobs, from the environment.
type settings struct {
	seed       uint64
	duration   time.Duration
	agents     int // agents in all
	realAgents int // of which run the real healer-executor
	schedulers int
	race       bool // build healer-scheduler with the race detector
	converge   time.Duration
}

func settingsFromEnv(t *testing.T) settings {
	s := settings{agents: 60, realAgents: 12, schedulers: 2, race: true, converge: 3 * time.Minute}
	d, err := time.ParseDuration(os.Getenv("SOAK_DURATION"))
	if err != nil || d <= 0 {
		t.Fatalf("SOAK_DURATION=%q: want a Go duration such as 10m", os.Getenv("SOAK_DURATION"))
	}
	s.duration = d
	s.seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("SEED"); v != "" {
		if s.seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SEED=%q: want a decimal number", v)
		}
	}
	num := func(name string, into *int, least int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < least {
				t.Fatalf("%s=%q: want a number ≥ %d", name, v, least)
			}
			*into = n
		}
	}
	num("SOAK_AGENTS", &s.agents, 50)
	num("SOAK_REAL_AGENTS", &s.realAgents, 1)
	s.realAgents = min(s.realAgents, s.agents)
	if os.Getenv("SOAK_RACE") == "0" {
		s.race = false
	}
	return s
}

// Healer's configuration in the soak: short timeouts so that a 10-minute
// run sees many failovers, steps and probations.
const (
	stepTimeout        = 12 * time.Second
	killGrace          = 10 * time.Second // the runtime's default, not a flag
	probation          = 15 * time.Second
	numAllowedRepairs  = 3
	monitorInterval    = 2 * time.Second
	masterSessionLimit = 4 * time.Second
)

var ladder = []string{"restart", "reboot", "cycle", "isolate"}

// env is everything the soak runs.
type env struct {
	t    *testing.T
	s    settings
	dir  string // scripts, flags, logs; kept when the run fails
	bins struct{ scheduler, executor string }
	zk   *zktest.Ensemble
	c    *emulator.Cluster
	// agents are the agent ids, agent i on host agent-i.
	agents []string
	// token is the operator token of the schedulers' --admin_tokens.
	token string

	mu    sync.Mutex
	procs []*proc // every scheduler ever started
	byPid map[int]*proc
}

// proc is one healer-scheduler process.
type proc struct {
	instance string // hostname-pid, as its User-Agent and election node say
	url      string
	cmd      *exec.Cmd
	log      string
	done     chan struct{}
	err      error
	// killed: the driver killed it (an exit is expected); stopped: it is
	// SIGSTOPped. The driver sets them; storms and the end read them.
	killed  atomic.Bool
	stopped atomic.Bool
}

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

func newEnv(t *testing.T, s settings) *env {
	e := &env{t: t, s: s, byPid: map[int]*proc{}}
	dir, err := os.MkdirTemp("", "healer-soak-")
	if err != nil {
		t.Fatal(err)
	}
	e.dir = dir
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("SOAK_KEEP") != "" {
			t.Logf("soak files kept in %s (events.log, scheduler logs, scripts, master-scope runs)", dir)
			return
		}
		os.RemoveAll(dir)
	})
	for _, d := range []string{"sick", "mode", "bin", "logs", "agents"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e.build()
	e.scripts()
	e.tokens()
	e.zk = zktest.StartEnsemble(t, 3)
	e.startCluster()
	return e
}

func (e *env) build() {
	bin := filepath.Join(e.dir, "bin")
	e.bins.scheduler = filepath.Join(bin, "healer-scheduler")
	e.bins.executor = filepath.Join(bin, "healer-executor")
	args := []string{"build", "-o", bin}
	if e.s.race {
		args = append(args, "-race")
	}
	for _, a := range [][]string{
		append(args, "github.com/healer-mesos/healer/cmd/healer-scheduler"),
		{"build", "-o", bin, "github.com/healer-mesos/healer/cmd/healer-executor"},
	} {
		cmd := exec.Command("go", a...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			e.t.Fatalf("go %s: %v", strings.Join(a, " "), err)
		}
	}
}

// scripts writes the repair commands and the monitor configuration. A
// command looks up its agent's mode (mode/<agent id>): an agent-scope step
// hangs (hang) or fails (fail, broken); the master-scope step hangs on a
// broken agent, which so ends up isolated; any other step works and clears
// the agent's sick flag (sick/<agent id>), which the monitor checks.
func (e *env) scripts() {
	agentStep := `m=$(cat {{dir}}/mode/$REPAIR_AGENT_ID 2>/dev/null)
case "$m" in
hang) echo "soak: hanging"; sleep 600 ;;
fail|broken) echo "soak: $REPAIR_ACTION fails"; exit 1 ;;
esac
sleep 1
rm -f {{dir}}/sick/$REPAIR_AGENT_ID
echo "soak: $REPAIR_ACTION done"`
	// The master-scope step logs its start and end with the scheduler that
	// runs it (the first healer-schedule[r] above it), for the verifier.
	cycle := `log={{dir}}/master-runs.log
p=$PPID
for i in 1 2 3; do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = healer-schedule ] && break
  p=$(cut -d' ' -f4 /proc/$p/stat 2>/dev/null)
done
line() { echo "$1 $p $REPAIR_AGENT_ID $REPAIR_ATTEMPT $(date +%s%N)" >> $log; }
line start
trap 'line end; exit 143' TERM
m=$(cat {{dir}}/mode/$REPAIR_AGENT_ID 2>/dev/null)
case "$m" in
broken) sleep 600 & wait $! ;;
esac
sleep 1
rm -f {{dir}}/sick/$REPAIR_AGENT_ID
line end`
	monitor := `interval: 2s
checks:
  - name: sick-flag
    problem: flagged_sick
    command: "test ! -e {{dir}}/sick/$MESOS_SLAVE_ID"
`
	for name, body := range map[string]string{"restart.sh": agentStep, "reboot.sh": agentStep, "cycle.sh": cycle} {
		body = "#!/bin/sh\n" + strings.ReplaceAll(body, "{{dir}}", e.dir) + "\n"
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(body), 0o755); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(e.dir, "monitor.yaml"), []byte(strings.ReplaceAll(monitor, "{{dir}}", e.dir)), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) startCluster() {
	fake := func(mesos.FrameworkInfo, mesos.ExecutorInfo) emulator.FakeExecutor {
		return newFakeHealerExecutor(e.dir)
	}
	cfg := emulator.ClusterConfig{
		Masters: 2, ZK: "zk://" + e.zk.Addr + "/mesos", ZKSessionTimeout: masterSessionLimit,
		Agents: e.s.agents,
		Master: emulator.MasterConfig{
			HeartbeatInterval: 2 * time.Second, AgentPingTimeout: time.Second, MaxAgentPingTimeouts: 3,
			AgentReregisterTimeout: 15 * time.Second,
		},
		Agent: emulator.AgentConfig{
			WorkDir:              filepath.Join(e.dir, "agents"),
			StatusUpdateRetryMin: time.Second, StatusUpdateRetryMax: 10 * time.Second,
		},
		AgentSpec: func(i int, cfg *emulator.AgentConfig) {
			if i >= e.s.realAgents {
				cfg.FakeExecutors = fake
			}
		},
	}
	c, err := emulator.NewCluster(cfg)
	if err != nil {
		e.t.Fatalf("start the emulated cluster: %v", err)
	}
	e.t.Cleanup(c.Close)
	e.c = c
	for _, a := range c.Agents() {
		e.agents = append(e.agents, a.ID().Value)
	}
}

func (e *env) flags() []string {
	me := "root"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	return []string{
		"--master=zk://" + e.zk.Addr + "/mesos", "--zk=zk://" + e.zk.Addr + "/healer",
		"--zk_session_timeout=" + sessionTimeout.String(),
		"--admin_listen=127.0.0.1:0", "--hostname=127.0.0.1", "--mode=execute", "--user=" + me,
		"--executor_path=" + e.bins.executor, "--log_format=json", "--log_level=info", "--failover_timeout=1hrs",
		"--max_unhealthy=100%", "--num_allowed_repairs=" + strconv.Itoa(numAllowedRepairs),
		"--repair_set=restart=" + e.dir + "/restart.sh,reboot=" + e.dir + "/reboot.sh,cycle=" + e.dir + "/cycle.sh",
		"--repair_order=restart:agent,reboot:agent,cycle:master,isolate",
		"--step_timeout=" + stepTimeout.String(), "--probation=" + probation.String(), "--reset_after=20s",
		"--offer_timeout=30s", "--kill_confirm_timeout=15s",
		"--monitor_config=" + e.dir + "/monitor.yaml",
		"--admin_tokens=" + filepath.Join(e.dir, "admin-tokens"),
	}
}

// operatorName is the soak's operator token's name: the principal of every
// command the driver sends, in the audit trail and in the records.
const operatorName = "soak-operator"

// tokens writes the schedulers' --admin_tokens file with one operator
// token, which every request the driver makes carries: without it every
// mutation (storms included) would be refused.
func (e *env) tokens() {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		e.t.Fatal(err)
	}
	e.token = hex.EncodeToString(secret)
	line := operatorName + " operator " + e.token + "\n"
	if err := os.WriteFile(filepath.Join(e.dir, "admin-tokens"), []byte(line), 0o600); err != nil {
		e.t.Fatal(err)
	}
	httpClient.Transport = bearer{token: e.token, next: http.DefaultTransport}
}

// bearer adds the operator token to every request, redirects to the
// leader included.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// startScheduler starts a healer-scheduler and waits until its admin API
// listens. It returns nil (and logs why) if it did not start.
func (e *env) startScheduler() *proc {
	e.mu.Lock()
	n := len(e.procs)
	e.mu.Unlock()
	logPath := filepath.Join(e.dir, "logs", fmt.Sprintf("scheduler-%d.log", n))
	logf, err := os.Create(logPath)
	if err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(e.bins.scheduler, e.flags()...), log: logPath, done: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start healer-scheduler: %v", err)
	}
	p.instance = fmt.Sprintf("127.0.0.1-%d", p.cmd.Process.Pid)
	urls := make(chan string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logf.Write(append(line, '\n'))
			var rec struct {
				Msg   string `json:"msg"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "healer-scheduler started" {
				select {
				case urls <- rec.Admin:
				default:
				}
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		if p.stopped.Load() {
			p.signal(syscall.SIGCONT)
		}
		p.signal(syscall.SIGKILL)
		<-p.done
	})
	// Listed once its URL is known: storms read the list concurrently.
	defer func() {
		e.mu.Lock()
		e.procs = append(e.procs, p)
		e.byPid[p.cmd.Process.Pid] = p
		e.mu.Unlock()
	}()
	select {
	case p.url = <-urls:
		return p
	case <-p.done:
		e.t.Errorf("healer-scheduler exited at start: %v (log %s)", p.err, logPath)
	case <-time.After(60 * time.Second):
		e.t.Errorf("healer-scheduler did not start within 60s (log %s)", logPath)
	}
	return nil
}

// live lists the schedulers running now.
func (e *env) live() []*proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*proc
	for _, p := range e.procs {
		if p.alive() && p.url != "" {
			out = append(out, p)
		}
	}
	return out
}

func (e *env) byInstance(id string) *proc {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.procs {
		if p.instance == id {
			return p
		}
	}
	return nil
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get decodes GET url into out; it returns the status code (0 when there
// was no answer).
func get(url string, out any) int {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

func (p *proc) status() (admin.Status, bool) {
	var st admin.Status
	return st, get(p.url+"/status", &st) == http.StatusOK
}

// zkWrites is the instance's count of ZooKeeper write transactions.
func (p *proc) zkWrites() int {
	resp, err := httpClient.Get(p.url + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, `healer_zookeeper_operation_seconds_count{op="multi"}`) {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// repairAnswer is what POST /repair answered.
type repairAnswer struct {
	code     int
	agentID  string
	incident uint64
}

// repair posts a signal to p, following a standby's 307 to the leader.
func (p *proc) repair(host, problem string) repairAnswer {
	body, _ := json.Marshal(map[string]string{"hostname": host, "problem": problem, "source": "soak"})
	resp, err := httpClient.Post(p.url+"/repair", "application/json", bytes.NewReader(body))
	if err != nil {
		return repairAnswer{}
	}
	defer resp.Body.Close()
	var out struct {
		AgentID  string `json:"agent_id"`
		Incident *struct {
			ID uint64 `json:"id"`
		} `json:"incident"`
		Decisions []struct {
			Incident uint64 `json:"incident"`
		} `json:"decisions"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &out)
	a := repairAnswer{code: resp.StatusCode, agentID: out.AgentID}
	switch {
	case out.Incident != nil:
		a.incident = out.Incident.ID
	case len(out.Decisions) > 0:
		// The incident the signal acted on closed in the same step (a
		// relapse whose next step is isolation): the answer has no open
		// incident, its decisions name it.
		a.incident = out.Decisions[0].Incident
	}
	return a
}

// setMode sets an agent's repair mode (hang, fail; "" for repairs that work).
func (e *env) setMode(agent, mode string) {
	p := filepath.Join(e.dir, "mode", agent)
	if mode == "" {
		os.Remove(p)
		return
	}
	_ = os.WriteFile(p, []byte(mode), 0o644)
}

// setSick raises or clears an agent's sick flag, which its monitor reports.
func (e *env) setSick(agent string, sick bool) {
	p := filepath.Join(e.dir, "sick", agent)
	if !sick {
		os.Remove(p)
		return
	}
	_ = os.WriteFile(p, nil, 0o644)
}
