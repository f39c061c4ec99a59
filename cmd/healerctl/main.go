// Command healerctl is the operator's command line for healer's admin API;
// see cmd/healerctl/ctl and healerctl help.
package main

import (
	"os"

	"github.com/healer-mesos/healer/cmd/healerctl/ctl"
)

func main() {
	os.Exit(ctl.Run(ctl.Env{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr,
		Color: ctl.IsTerminal(os.Stdout, os.Getenv)}))
}
