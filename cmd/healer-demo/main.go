// Command healer-demo is `make demo`: an emulated Mesos cluster (one
// master, ten agents running healer's real executor as processes) and the
// real healer-scheduler binary against it, in execute mode on the in-memory
// store, with a harmless ladder whose steps only print what they would do:
// restart (agent scope, succeeds), reboot (agent scope, fails), power_cycle
// (master scope, fails), isolate. It prints what to try, and Ctrl-C stops
// everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/healer-mesos/healer/integration/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// The demo's repair commands. Each says what a real one would do.
var scripts = map[string]string{
	"restart.sh": `#!/bin/sh
echo "demo: restarting the Mesos agent service on $REPAIR_HOSTNAME (problem $REPAIR_PROBLEM, attempt $REPAIR_ATTEMPT)"
sleep 2
echo "demo: agent service restarted"
`,
	"reboot.sh": `#!/bin/sh
echo "demo: rebooting $REPAIR_HOSTNAME"
echo "demo: reboot refused: the machine's BMC did not answer" >&2
exit 1
`,
	"power_cycle.sh": `#!/bin/sh
echo "demo: IPMI power cycle of $REPAIR_HOSTNAME from the scheduler's host"
echo "demo: ipmitool: no route to the BMC" >&2
exit 3
`,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healer-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	agents := fs.Int("agents", 10, "emulated agents")
	listen := fs.String("admin_listen", "127.0.0.1:7070", "the scheduler's admin API address")
	bin := fs.String("bin", "", "directory holding healer-scheduler and healer-executor (default: this binary's)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "healer-demo: "+format+"\n", a...)
		return 1
	}
	if *bin == "" {
		self, err := os.Executable()
		if err != nil {
			return fail("locate the binaries: %v (give --bin)", err)
		}
		*bin = filepath.Dir(self)
	}
	scheduler, executor := filepath.Join(*bin, "healer-scheduler"), filepath.Join(*bin, "healer-executor")
	for _, p := range []string{scheduler, executor} {
		if _, err := os.Stat(p); err != nil {
			return fail("%s is missing: run make build (or make demo) first", p)
		}
	}
	dir, err := os.MkdirTemp("", "healer-demo-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(dir)
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return fail("%v", err)
		}
	}

	cluster, err := emulator.StartCluster(ctx, emulator.ClusterConfig{
		Agents: *agents,
		Agent:  emulator.AgentConfig{WorkDir: filepath.Join(dir, "agents")},
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fail("start the emulated Mesos cluster: %v", err)
	}
	defer cluster.Close()

	me := "root"
	if u, err := user.Current(); err == nil {
		me = u.Username
	}
	adminURL := "http://" + *listen
	cmd := exec.Command(scheduler,
		"--master="+cluster.MasterAddr(0),
		"--mode=execute",
		"--admin_listen="+*listen, "--admin_url="+adminURL, "--hostname=127.0.0.1", "--user="+me,
		"--executor_path="+executor,
		"--repair_set=restart="+filepath.Join(dir, "restart.sh")+",reboot="+filepath.Join(dir, "reboot.sh")+
			",power_cycle="+filepath.Join(dir, "power_cycle.sh"),
		"--repair_order=restart:agent,reboot:agent,power_cycle:master,isolate:master",
		"--probation=2mins", "--offer_timeout=30secs", "--step_timeout=1mins",
		"--failover_timeout=1hrs", "--framework_name=healer-demo",
		// A trial on loopback: mutations without tokens (the scheduler
		// says so loudly).
		"--admin_insecure",
	)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Its own process group, so Ctrl-C reaches it once, from us, and a
	// demo that dies takes it along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fail("start healer-scheduler: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopScheduler := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	if err := waitReady(ctx, adminURL, exited); err != nil {
		stopScheduler()
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, banner, *agents, *agents-1, adminURL)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nhealer-demo: stopping the scheduler and the emulated cluster")
		stopScheduler()
		return 0
	case err := <-exited:
		return fail("healer-scheduler exited: %v", err)
	}
}

// waitReady waits until the scheduler's /readyz answers 200.
func waitReady(ctx context.Context, adminURL string, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(adminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("healer-scheduler exited before it was ready: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("healer-scheduler was not ready within a minute")
		}
	}
}

var banner = strings.TrimLeft(`
────────────────────────────────────────────────────────────────────────────
 healer demo: %d emulated Mesos agents (agent-0 … agent-%d) and healer-scheduler
 in execute mode. Admin API: %[3]s

 The ladder: restart (on the agent, succeeds) → reboot (on the agent, fails)
 → power_cycle (on the scheduler's host, fails) → isolate.

 1. Report a sick agent; healer restarts its service (watch the log above):
      curl -s -XPOST -H 'Content-Type: application/json' %[3]s/repair \
        -d '{"hostname":"agent-3","problem":"hung","source":"demo"}'
 2. Its state and history:
      curl -s %[3]s/agents/agent-3
 3. Report it again within its 2-minute probation: the repair did not hold,
    so healer escalates: reboot fails, power_cycle fails, agent-3 is isolated:
      (the curl of step 1 again)
      curl -s '%[3]s/agents?state=isolated'
 4. The whole picture: the dashboard at %[3]s/ in a browser, or
      curl -s %[3]s/status
    and with healerctl (make build puts it in bin/):
      bin/healerctl --addr=%[3]s status
      bin/healerctl --addr=%[3]s repairs --state=all

 Ctrl-C stops everything.
────────────────────────────────────────────────────────────────────────────
`, "\n")
