package emulator

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Scale benchmark parameters; SCALE_AGENTS, SCALE_CYCLES and
// SCALE_ALLOCATION_INTERVAL (a Go duration) override them.
const (
	scaleAgents             = 10000
	scaleCycles             = 60
	scaleAllocationInterval = time.Second // Mesos' default
	scaleRefuse             = 5 * time.Second
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// BenchmarkScale10kAgents runs an emulated cluster of 10,000 agents (fake
// executors, no HTTP, no processes) offering to one mesos-go framework
// (protobuf codec) that declines every offer with a refuse_seconds filter,
// until the leading master has done 60 periodic allocation cycles at Mesos'
// 1 s allocation interval (Master.AllocationRuns; it fails if they take
// more than three times as long plus 30 s). It reports the process' average
// CPU use in cores over exactly those cycles, the cycles' real rate and
// the peak memory, and fails at 1 core or 1 GiB. Run it with:
//
//	go test -run '^$' -bench BenchmarkScale10kAgents -benchtime 1x ./integration/emulator/
func BenchmarkScale10kAgents(b *testing.B) {
	agents := envInt("SCALE_AGENTS", scaleAgents)
	cycles := envInt("SCALE_CYCLES", scaleCycles)
	interval := envDuration("SCALE_ALLOCATION_INTERVAL", scaleAllocationInterval)
	for i := 0; i < b.N; i++ {
		runScale(b, agents, cycles, interval)
	}
}

func runScale(b *testing.B, agents, cycles int, interval time.Duration) {
	workDir := b.TempDir()
	cfg := ClusterConfig{
		Agents: agents,
		Zones:  []string{"a", "b", "c"},
		Master: MasterConfig{AllocationInterval: interval},
		Agent: AgentConfig{
			NoHTTP:        true,
			WorkDir:       workDir,
			FakeExecutors: FakeBehavior{}.Factory(),
		},
		AgentSpec: func(i int, c *AgentConfig) { c.Hostname = "agent-" + strconv.Itoa(i) },
	}
	cl, err := NewCluster(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()

	cli := httpcli.New(httpcli.Endpoint(cl.LeaderURL()+"/api/v1/scheduler"), httpcli.Codec(protobufCodec))
	caller := httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" }))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := caller.Call(ctx, calls.Subscribe(&mesos.FrameworkInfo{User: "root", Name: "scale"}))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Close()
	var ev scheduler.Event
	if err := resp.Decode(&ev); err != nil || ev.Type != scheduler.Event_SUBSCRIBED {
		b.Fatalf("first event %v, %v; want SUBSCRIBED", ev.Type, err)
	}
	fid := ev.Subscribed.FrameworkID

	leader := cl.Leader()
	runtime.GC()
	var (
		mu                sync.Mutex // guards peakHeap, peakSys
		peakHeap, peakSys uint64
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		defer mu.Unlock()
		peakHeap = max(peakHeap, ms.HeapInuse)
		peakSys = max(peakSys, ms.Sys)
	}
	b.ResetTimer()
	// The measured span runs from here until the leader has done cycles
	// more periodic allocation runs (Mesos' allocation cycles), or until a
	// generous deadline, which fails the benchmark.
	runs0 := leader.AllocationRuns()
	cpu0, wall0 := cpuTime(), time.Now()
	deadline := time.NewTimer(3*time.Duration(cycles)*interval + 30*time.Second)
	defer deadline.Stop()
	var (
		wall, cpu   time.Duration
		runs        AllocationRuns
		cutShort    bool
		watcherDone = make(chan struct{})
	)
	// The watcher owns the span's end: it samples memory each interval,
	// stops the clock once the cycles are done (or at the deadline) and then
	// cancels the stream, which ends the decode loop below; the loop waits
	// for it before reading what it measured.
	go func() {
		defer close(watcherDone)
		defer cancel()
		tick := time.NewTicker(interval / 10)
		defer tick.Stop()
		lastSample := time.Now()
		for {
			select {
			case <-ctx.Done():
				cutShort = true
			case <-deadline.C:
				cutShort = true
			case <-tick.C:
				if time.Since(lastSample) >= interval {
					sample()
					lastSample = time.Now()
				}
				if leader.AllocationRuns().Periodic-runs0.Periodic < uint64(cycles) {
					continue
				}
			}
			wall, cpu = time.Since(wall0), cpuTime()-cpu0
			r := leader.AllocationRuns()
			runs = AllocationRuns{Periodic: r.Periodic - runs0.Periodic, Triggered: r.Triggered - runs0.Triggered}
			sample()
			return
		}
	}()
	offers, events := 0, 0
	for {
		var ev scheduler.Event
		if err := resp.Decode(&ev); err != nil {
			break // the watcher cancelled the stream
		}
		events++
		if ev.Type != scheduler.Event_OFFERS || ctx.Err() != nil {
			continue
		}
		ids := make([]mesos.OfferID, len(ev.Offers.Offers))
		for i, o := range ev.Offers.Offers {
			ids[i] = o.ID
		}
		offers += len(ids)
		decline := calls.Decline(ids...).With(calls.RefuseSeconds(scaleRefuse))
		decline.FrameworkID = fid
		r, err := caller.Call(context.Background(), decline)
		if r != nil {
			r.Close()
		}
		if err != nil && ctx.Err() == nil {
			cancel()
			<-watcherDone
			b.Fatalf("decline: %v", err)
		}
	}
	<-watcherDone
	b.StopTimer()
	if cutShort {
		b.Fatalf("leader did %d periodic allocation runs in %v; want %d", runs.Periodic, wall.Round(time.Millisecond), cycles)
	}

	cores := cpu.Seconds() / wall.Seconds()
	heapMiB, sysMiB, rssMiB := float64(peakHeap)/(1<<20), float64(peakSys)/(1<<20), maxRSSMiB()
	b.ReportMetric(cores, "cores")
	b.ReportMetric(heapMiB, "heap-inuse-MiB")
	b.ReportMetric(sysMiB, "go-sys-MiB")
	b.ReportMetric(rssMiB, "max-rss-MiB")
	b.ReportMetric(float64(offers)/wall.Seconds(), "offers/s")
	b.ReportMetric(float64(runs.Periodic)/wall.Seconds(), "cycles/s")
	b.ReportMetric(float64(runs.Triggered), "triggered-runs")
	b.Logf("%d agents, %d periodic allocation cycles (+%d triggered runs) at %v in %v: %.3f cores, heap in use %.0f MiB, Go sys %.0f MiB, max RSS %.0f MiB, %d offers in %d events",
		agents, runs.Periodic, runs.Triggered, interval, wall.Round(time.Millisecond), cores, heapMiB, sysMiB, rssMiB, offers, events)
	if offers < agents {
		b.Errorf("only %d offers for %d agents", offers, agents)
	}
	if cores >= 1 {
		b.Errorf("average CPU use %.2f cores; want < 1", cores)
	}
	if rssMiB >= 1024 || sysMiB >= 1024 {
		b.Errorf("memory max RSS %.0f MiB, Go sys %.0f MiB; want < 1 GiB", rssMiB, sysMiB)
	}
}
