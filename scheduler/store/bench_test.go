package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// BenchmarkAgentRecordBytes reports the size of an agent's znode (data and
// path) for a healthy agent with no history (budget 256 B), one with a full
// history of HistoryLen attempts with typical 200-byte output tails (budget
// 4 KiB), and the maximal record (every text at its bound).
func BenchmarkAgentRecordBytes(b *testing.B) {
	healthy := manyAgents(1)[0]
	typical := fullAgent()
	for i := range typical.History {
		typical.History[i].OutputTail = strings.Repeat("x", 200)
	}
	for _, bc := range []struct {
		name   string
		r      coordinator.AgentRecord
		budget int
	}{
		{"no-history", healthy, 256},
		{"full-history-200B-tails", typical, 4096},
		{"maximal", maximalAgent(), MaxRecordBytes},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var n int
			for b.Loop() {
				data, err := EncodeAgent(bc.r)
				if err != nil {
					b.Fatal(err)
				}
				n = len(data)
			}
			b.ReportMetric(float64(n), "B/record")
			b.ReportMetric(float64(len(paths{root: "/healer"}.agent(bc.r.ID))), "B/path")
			if n > bc.budget {
				b.Errorf("%s record is %d bytes, over its %d-byte budget", bc.name, n, bc.budget)
			}
		})
	}
}

// BenchmarkZKLoad reads 10,000 and 35,000 agent records from a real
// ZooKeeper on loopback: what a new leader does before it can act. The
// session timeout healer runs with (10 s by default) is the budget a Load
// must stay well under, since a standby takes over within it.
func BenchmarkZKLoad(b *testing.B) {
	srv := zktest.Start(b)
	conn, _ := connect(b, srv.Addr, 30*time.Second)
	ctx := context.Background()
	for _, n := range []int{10000, 35000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			root := fmt.Sprintf("/load%d", n)
			s := leaderStore(b, conn, root, ZKConfig{})
			if err := s.Save(ctx, coordinator.Persist{Agents: manyAgents(n)}); err != nil {
				b.Fatal(err)
			}
			reader, err := NewZK(conn, ZKConfig{Chroot: root})
			if err != nil {
				b.Fatal(err)
			}
			var snap Snapshot
			for b.Loop() {
				if snap, err = reader.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if len(snap.Agents) != n {
				b.Fatalf("loaded %d agents, want %d", len(snap.Agents), n)
			}
			perLoad := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(perLoad.Seconds(), "s/load")
			b.ReportMetric(float64(snap.Stats.Requests), "requests/load")
			b.ReportMetric(float64(snap.Stats.Bytes)/float64(n), "B/agent")
			b.ReportMetric(float64(snap.Stats.Largest), "largest-znode-B")
			if perLoad > 10*time.Second {
				b.Errorf("a Load of %d agents takes %v, over a 10 s session timeout", n, perLoad)
			}
		})
	}
}

// BenchmarkZKSave is the write of one repair step's Persist (one agent
// record changed, as when a step starts or ends) and of one step that also
// touches the global record (a start with minimum spacing): ZooKeeper
// writes (multis) and operations per Save, and its latency on loopback.
func BenchmarkZKSave(b *testing.B) {
	srv := zktest.Start(b)
	conn, _ := connect(b, srv.Addr, 30*time.Second)
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		global bool
	}{{"agent", false}, {"agent+global", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s := leaderStore(b, conn, "/save-"+strings.ReplaceAll(bc.name, "+", "-"), ZKConfig{})
			r := fullAgent()
			r.PreviousID = ""
			g := fullGlobal()
			p := coordinator.Persist{Agents: []coordinator.AgentRecord{r}}
			if bc.global {
				p.Global = &g
			}
			if err := s.Save(ctx, p); err != nil {
				b.Fatal(err)
			}
			c0 := s.Counters()
			i := 0
			for b.Loop() {
				i++
				p.Agents[0].Attempts = uint64(i)
				if err := s.Save(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
			c := s.Counters()
			saves := float64(c.Saves - c0.Saves)
			b.ReportMetric(float64(c.Multis-c0.Multis)/saves, "writes/save")
			b.ReportMetric(float64(c.Ops-c0.Ops)/saves, "ops/save")
			b.ReportMetric(float64(c.BytesWritten-c0.BytesWritten)/saves, "B/save")
		})
	}
}
