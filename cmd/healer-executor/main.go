// Command healer-executor is healer's custom Mesos executor: the Mesos agent
// launches it (fetched from the scheduler) for healer's repair and monitor
// tasks; it is not meant to be run by hand. See docs/executor.md and
// executor/runtime.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"

	"github.com/healer-mesos/healer/executor/runtime"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/internal/mesosduration"
)

func main() { os.Exit(run()) }

func run() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mcfg, err := config.FromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "healer-executor: %v\n"+
			"healer-executor is started by a Mesos agent for healer's tasks, which sets the MESOS_* environment it needs;\n"+
			"it cannot run by hand (see docs/executor.md).\n", err)
		return 2
	}
	idle := taskspec.DefaultIdleTimeout
	if s := os.Getenv(taskspec.EnvIdleTimeout); s != "" {
		if idle, err = mesosduration.Parse(s); err != nil || idle <= 0 {
			fmt.Fprintf(os.Stderr, "healer-executor: %s=%q: want a positive duration such as 1m\n", taskspec.EnvIdleTimeout, s)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	start := time.Now()
	err = runtime.Run(ctx, runtime.Config{Mesos: mcfg, IdleTimeout: idle, Env: os.Environ(), Logger: log})
	if err != nil {
		log.Error("healer-executor exiting", "err", err, "ran", time.Since(start).Round(time.Second))
		return 1
	}
	log.Info("healer-executor exiting", "ran", time.Since(start).Round(time.Second))
	return 0
}
