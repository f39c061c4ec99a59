// Command mesos-emulator runs an emulated Apache Mesos cluster (masters,
// agents, optionally ZooKeeper leader election) on loopback, for healer's
// integration tests and demo. It prints where every master and agent
// listens, one line each, and runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
	"github.com/healer-mesos/healer/internal/zkurl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 2 for bad flags, 1 when the cluster fails to
// start (also when ctx ends during start-up), 0 after a clean shutdown.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := emulator.DefaultEmulatorConfig()
	fs := flag.NewFlagSet("mesos-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mesos-emulator: unexpected arguments %q\n", fs.Args())
		return 2
	}
	ccfg, err := cfg.ClusterConfig()
	if err != nil {
		fmt.Fprintf(stderr, "mesos-emulator: %s\n", message(err))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ccfg.Logger = log
	// The binary runs for days: keep only the latest records.
	ccfg.Recorder = &emulator.Recorder{Limit: emulator.DefaultRecorderLimit}
	log.Info("starting", "masters", cfg.Masters, "agents", cfg.Agents, "zk", zkForLog(cfg.ZK))
	cluster, err := emulator.StartCluster(ctx, ccfg)
	if err != nil {
		fmt.Fprintf(stderr, "mesos-emulator: %s\n", startError(ctx, err, cfg.ZK))
		return 1
	}
	defer cluster.Close()
	if err := cluster.Describe(stdout); err != nil {
		fmt.Fprintf(stderr, "mesos-emulator: %s\n", message(err))
		return 1
	}
	<-ctx.Done()
	log.Info("shutting down", "cause", context.Cause(ctx))
	return 0
}

// startError says why the cluster did not start, with a hint where the
// operator can do something about it.
func startError(ctx context.Context, err error, zk string) string {
	switch {
	case ctx.Err() != nil:
		return "interrupted while starting: " + message(err)
	case errors.Is(err, zkgroup.ErrNoSession):
		return fmt.Sprintf("%s; is ZooKeeper running at %s? check --zk", message(err), zkServers(zk))
	}
	return message(err)
}

// message is err's text without the emulator package's own "emulator: "
// prefix, which after the command's name would read twice.
func message(err error) string {
	return strings.TrimPrefix(err.Error(), "emulator: ")
}

// zkForLog is a --zk URL without its password.
func zkForLog(zk string) string {
	if zk == "" {
		return ""
	}
	u, err := zkurl.Parse(zk)
	if err != nil {
		return "(invalid)"
	}
	return u.Redacted()
}

// zkServers is the host:port list of a --zk URL, for messages.
func zkServers(zk string) string {
	u, err := zkurl.Parse(zk)
	if err != nil {
		return zk
	}
	return strings.Join(u.Servers, ",")
}
