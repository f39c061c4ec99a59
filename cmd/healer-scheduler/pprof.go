//go:build pprof

package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// Built with -tags pprof (the scale run's SCALE_PPROF, docs/scale.md),
// healer-scheduler serves net/http/pprof on $PPROF_LISTEN, apart from the
// admin API. Release builds have none of this.
func init() {
	addr := os.Getenv("PPROF_LISTEN")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "healer-scheduler: PPROF_LISTEN=%s: %v\n", addr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	// Serves until the process exits: a profiling build has no other owner
	// for it.
	go func() { _ = http.Serve(ln, mux) }()
}
