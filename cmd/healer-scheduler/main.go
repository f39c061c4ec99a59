// Command healer-scheduler is healer's Mesos framework. Its configuration is
// described in docs/configuration.md and by --help.
//
// Exit codes: 0 after --help or a successful --validate_only or
// --print_config; 2 when the configuration is invalid (the message lists
// every problem, each naming the setting, before anything else is done); 1
// when the scheduler stops on an error (the message says why and what to
// do, e.g. when the master no longer knows healer's framework). SIGINT and
// SIGTERM stop it cleanly: leadership is released at once and the
// framework is left registered, so a standby takes over its tasks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/healer-mesos/healer/scheduler/app"
	"github.com/healer-mesos/healer/scheduler/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(args, environ)
	if errors.Is(err, config.ErrHelp) {
		fmt.Fprint(stdout, config.Usage())
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "healer-scheduler: invalid configuration:\n  %s\n",
			strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	if cfg.PrintConfig {
		out, err := cfg.MarshalFile()
		if err != nil {
			fmt.Fprintf(stderr, "healer-scheduler: --print_config: %v\n", err)
			return 1
		}
		stdout.Write(out)
		return 0
	}
	log := newLogger(cfg, stderr)
	attrs := []any{}
	for _, kv := range cfg.Settings() {
		attrs = append(attrs, slog.String(kv[0], kv[1]))
	}
	log.Info("effective configuration", attrs...)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	if cfg.ValidateOnly {
		log.Info("configuration is valid", "mode", cfg.Mode.String())
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, app.Options{Logger: log}); err != nil {
		log.Error("healer-scheduler stopped", "err", err)
		fmt.Fprintf(stderr, "healer-scheduler: %v\n", err)
		return 1
	}
	log.Info("healer-scheduler stopped")
	return 0
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	// Validated by config.Load, so UnmarshalText cannot fail here.
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
