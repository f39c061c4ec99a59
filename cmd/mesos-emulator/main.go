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
	"os"
	"os/signal"
	"syscall"

	"github.com/healer-mesos/healer/integration/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run returns the exit status: 2 for bad flags, 1 when the cluster fails to
// start, 0 after a clean shutdown.
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
		fmt.Fprintf(stderr, "mesos-emulator: %v\n", err)
		return 2
	}
	// The binary runs for days: keep only the latest records.
	ccfg.Recorder = &emulator.Recorder{Limit: emulator.DefaultRecorderLimit}
	cluster, err := emulator.NewCluster(ccfg)
	if err != nil {
		fmt.Fprintf(stderr, "mesos-emulator: %v\n", err)
		return 1
	}
	defer cluster.Close()
	if err := cluster.Describe(stdout); err != nil {
		fmt.Fprintf(stderr, "mesos-emulator: %v\n", err)
		return 1
	}
	<-ctx.Done()
	return 0
}
