package election

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/zktest"
)

// BenchmarkCleanHandover measures a planned handover: from cancelling the
// leader's Run (SIGTERM) to the standby's Elected, with a 10 s session
// timeout that a handover must not wait for. ns/op is the handover alone;
// the metrics give the median and the worst.
func BenchmarkCleanHandover(b *testing.B) {
	srv := zktest.Start(b)
	const timeout = 10 * time.Second
	var took []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		leader := start(b, fmt.Sprintf("leader-%d", i), srv.Addr, timeout)
		leader.waitKind(b, Elected, 0)
		standby := start(b, fmt.Sprintf("standby-%d", i), srv.Addr, timeout)
		standby.waitKind(b, LeaderChanged, 0)
		b.StartTimer()
		cancelled := time.Now()
		leader.cancel()
		ev, _ := standby.waitKind(b, Elected, 0)
		b.StopTimer()
		took = append(took, ev.at.Sub(cancelled))
		leader.stop(b)
		standby.stop(b)
		b.StartTimer()
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "ms-max")
	b.ReportMetric(float64(took[len(took)-1])/float64(timeout), "max/session-timeout")
}
