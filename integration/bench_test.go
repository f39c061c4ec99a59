package integration

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/internal/testtool"
	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/proto/healerpb"
	"github.com/healer-mesos/healer/scheduler/store"
)

// quickExecutor is an in-process executor that runs every repair task for
// `took` and reports it finished (exit 0), for benchmarks that measure
// healer, not a command.
type quickExecutor struct {
	took time.Duration
	taskEnds
}

// taskEnds is the end of a fake executor whose tasks hold nothing to
// stop: a kill is answered at once, a shutdown kills every task.
type taskEnds struct{}

func (taskEnds) Kill(d *emulator.FakeDriver, id mesos.TaskID, _ *mesos.KillPolicy) {
	d.SendState(id, mesos.TASK_KILLED)
}

func (taskEnds) Message(*emulator.FakeDriver, []byte) {}

func (taskEnds) Shutdown(d *emulator.FakeDriver) {
	for _, id := range d.LiveTasks() {
		d.SendState(id, mesos.TASK_KILLED)
	}
	d.Exit(0)
}

func (q quickExecutor) Launch(d *emulator.FakeDriver, task mesos.TaskInfo) {
	d.SendState(task.TaskID, mesos.TASK_RUNNING)
	d.After(q.took, func() {
		now := time.Now().UnixNano()
		data, _ := taskspec.EncodeRepairResult(&healerpb.RepairResult{StartedAtUnixNano: now, EndedAtUnixNano: now})
		d.Update(mesos.TaskStatus{TaskID: task.TaskID, State: mesos.TASK_FINISHED.Enum(), Data: data})
	})
}

func quickAgents(took time.Duration) emulator.AgentConfig {
	return emulator.AgentConfig{FakeExecutors: func(mesos.FrameworkInfo, mesos.ExecutorInfo) emulator.FakeExecutor {
		return quickExecutor{took: took}
	}}
}

// callsAfter lists the scheduler calls of type typ recorded at or after t.
func callsAfter(c *emulator.Cluster, typ string, t time.Time) []emulator.Record {
	var out []emulator.Record
	for _, r := range c.Recorder().Records(emulator.RecordSchedulerCall) {
		if r.Type == typ && !r.At.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkSignalToLaunch: with a free slot and a suppressed framework,
// the time from POST /repair to the ACCEPT carrying the launch, over 200
// repairs (each on its own agent), state in a real ZooKeeper. Targets: p50
// ≤ 25 ms, p99 ≤ 100 ms.
func BenchmarkSignalToLaunch(b *testing.B) {
	const repairs = 200
	zks := zktest.Start(b)
	c := startCluster(b, emulator.ClusterConfig{Agents: repairs, Agent: quickAgents(0)})
	s := startScheduler(b, c.MasterAddr(0), "--zk=zk://"+zks.Addr+"/healer", "--log_level=info",
		"--repair_set=restart=true", "--repair_order=restart:agent", "--num_allowed_repairs=10", "--probation=1hrs")
	s.ready(60 * time.Second)
	testtool.WaitFor(b, "every agent known", 60*time.Second, func() bool {
		st, _ := s.status()
		return st.Counts.Healthy == repairs
	})
	lat := make([]time.Duration, 0, repairs)
	b.ResetTimer()
	for i := range repairs {
		// Suppressed: a SUPPRESS after the last ACCEPT.
		testtool.WaitFor(b, "a suppressed framework", 30*time.Second, func() bool {
			acc, sup := callsAfter(c, "ACCEPT", time.Time{}), callsAfter(c, "SUPPRESS", time.Time{})
			return len(sup) > 0 && (len(acc) == 0 || !sup[len(sup)-1].At.Before(acc[len(acc)-1].At))
		})
		t0 := time.Now()
		if code := s.repair("agent-"+strconv.Itoa(i), "hung"); code != http.StatusAccepted {
			b.Fatalf("POST /repair %d: %d", i, code)
		}
		var at time.Time
		testtool.WaitFor(b, "the ACCEPT", 30*time.Second, func() bool {
			acc := callsAfter(c, "ACCEPT", t0)
			if len(acc) > 0 {
				at = acc[0].At
			}
			return len(acc) > 0
		})
		lat = append(lat, at.Sub(t0))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(slices.Max(lat)), "max-ms")
	b.Logf("signal → launch over %d repairs: p50 %v (target ≤ 25ms), p99 %v (target ≤ 100ms), max %v",
		repairs, percentile(lat, 0.50), percentile(lat, 0.99), slices.Max(lat))
}

// BenchmarkFailover: the time from stopping the leader to the standby
// being subscribed, reconciled and accepting repairs (a POST /repair
// answered 202), ten times with SIGKILL and ten with SIGTERM. Targets:
// SIGKILL within the ZooKeeper session timeout + 2 s, SIGTERM within 2 s.
func BenchmarkFailover(b *testing.B) {
	const runs = 10
	const session = 2 * time.Second
	zks := zktest.Start(b)
	c := startCluster(b, emulator.ClusterConfig{Agents: 2 * runs, Agent: quickAgents(0)})
	flags := []string{"--zk=zk://" + zks.Addr + "/healer", "--zk_session_timeout=" + session.String(),
		"--log_level=info", "--repair_set=restart=true", "--repair_order=restart:agent", "--num_allowed_repairs=10",
		"--probation=1hrs"}
	pool := []*scheduler{startScheduler(b, c.MasterAddr(0), flags...), startScheduler(b, c.MasterAddr(0), flags...)}
	agent := 0
	var kill, term []time.Duration
	b.ResetTimer()
	for _, sig := range []string{"SIGKILL", "SIGTERM"} {
		for range runs {
			lead := leaderOf(b, 60*time.Second, pool...)
			var standby *scheduler
			for _, s := range pool {
				if s != lead {
					standby = s
				}
			}
			t0 := time.Now()
			if sig == "SIGKILL" {
				lead.signal(syscall.SIGKILL)
			} else {
				lead.signal(syscall.SIGTERM)
			}
			<-lead.done
			host := "agent-" + strconv.Itoa(agent)
			agent++
			testtool.WaitFor(b, "the standby accepting repairs", 60*time.Second, func() bool {
				st, code := standby.status()
				if code != http.StatusOK || !st.IsLeader || !st.Subscribed || st.Immutable {
					return false
				}
				return standby.repair(host, "hung") == http.StatusAccepted
			})
			d := time.Since(t0)
			if sig == "SIGKILL" {
				kill = append(kill, d)
			} else {
				term = append(term, d)
			}
			pool = []*scheduler{standby, startScheduler(b, c.MasterAddr(0), flags...)}
			testtool.WaitFor(b, "the new standby following", 30*time.Second, func() bool {
				st, code := pool[1].status()
				return code == http.StatusOK && st.Leader == standby.URL
			})
		}
	}
	b.StopTimer()
	x := func(d time.Duration) float64 { return float64(d) / float64(session) }
	b.ReportMetric(x(percentile(kill, 0.5)), "sigkill-median-x-session")
	b.ReportMetric(x(slices.Max(kill)), "sigkill-max-x-session")
	b.ReportMetric(percentile(term, 0.5).Seconds(), "sigterm-median-s")
	b.ReportMetric(slices.Max(term).Seconds(), "sigterm-max-s")
	b.Logf("failover, session timeout %v: SIGKILL median %v max %v (target ≤ %v); SIGTERM median %v max %v (target ≤ 2s)",
		session, percentile(kill, 0.5), slices.Max(kill), session+2*time.Second, percentile(term, 0.5), slices.Max(term))
}

// BenchmarkZooKeeperFootprint10k: healer's ZooKeeper state for a cluster
// of 10,000 agents: bytes per agent record (target ≤ 256 B without
// history), the largest znode, and writes per repair step (target ≤ 3)
// and per deduplicated signal (target 0).
func BenchmarkZooKeeperFootprint10k(b *testing.B) {
	const agents = 10_000
	zks := zktest.Start(b)
	c := startCluster(b, emulator.ClusterConfig{Agents: agents, Agent: quickAgents(2 * time.Second)})
	s := startScheduler(b, c.MasterAddr(0), "--zk=zk://"+zks.Addr+"/healer", "--log_level=info",
		"--repair_set=restart=true", "--repair_order=restart:agent", "--probation=1hrs")
	s.ready(120 * time.Second)
	testtool.WaitFor(b, "every agent known", 300*time.Second, func() bool {
		st, _ := s.status()
		return st.Counts.Healthy == agents
	})
	b.ResetTimer()
	w0 := s.zkWrites()
	if code := s.repair("agent-7", "hung"); code != http.StatusAccepted {
		b.Fatalf("POST /repair: %d", code)
	}
	testtool.WaitFor(b, "the step running", 30*time.Second, func() bool { return s.agent("agent-7").State == "repairing" })
	w1 := s.zkWrites()
	for range 20 {
		if code := s.repair("agent-7", "hung"); code != http.StatusOK {
			b.Fatalf("duplicate POST /repair: %d, want 200", code)
		}
	}
	dedupWrites := s.zkWrites() - w1
	testtool.WaitFor(b, "the step done", 30*time.Second, func() bool { return s.agent("agent-7").State == "probation" })
	stepWrites := s.zkWrites() - w0 - dedupWrites
	b.StopTimer()

	conn, _, err := zk.Connect([]string{zks.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	st, err := store.NewZK(conn, store.ZKConfig{Chroot: "/healer"})
	if err != nil {
		b.Fatal(err)
	}
	snap, err := st.Load(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var recordBytes int64
	for _, r := range snap.Agents {
		if len(r.History) == 0 {
			data, _ := store.EncodeAgent(r)
			recordBytes += int64(len(data))
		}
	}
	perAgent := float64(recordBytes) / float64(len(snap.Agents)-1)
	b.ReportMetric(perAgent, "bytes/agent")
	b.ReportMetric(float64(snap.Stats.Largest), "largest-znode-bytes")
	b.ReportMetric(float64(stepWrites), "writes/step")
	b.ReportMetric(float64(dedupWrites)/20, "writes/dedup")
	b.Logf("ZooKeeper at %d agents: %d znodes, %d bytes, %.0f bytes per agent record without history (target ≤ 256), "+
		"largest znode %d bytes (%s), %d writes for one repair step (target ≤ 3), %d for 20 duplicate signals (target 0), load took %v",
		agents, snap.Stats.Znodes, snap.Stats.Bytes, perAgent, snap.Stats.Largest, snap.Stats.LargestPath,
		stepWrites, dedupWrites, snap.Stats.Took)
}
