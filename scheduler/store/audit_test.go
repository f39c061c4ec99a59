package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/scheduler/coordinator"
)

func auditEntry(i int) AuditEntry {
	return AuditEntry{At: t0.Add(time.Duration(i) * time.Second), Principal: "alice", Role: "operator",
		Remote: "10.0.0.1:5555", Action: "isolate", Target: fmt.Sprintf("agent-%d", i), Result: "accepted",
		Code: 200, Detail: "isolated"}
}

// checkTrail checks that got are the entries with seqs first..last, in
// order, each the auditEntry of its seq (entries were written as
// auditEntry(seq)).
func checkTrail(t *testing.T, got []AuditEntry, first, last uint64) {
	t.Helper()
	if uint64(len(got)) != last-first+1 {
		t.Fatalf("loaded %d entries, want seqs %d..%d", len(got), first, last)
	}
	for i, a := range got {
		want := auditEntry(int(first) + i)
		want.Seq, want.Count = first+uint64(i), 1
		a.At, want.At = a.At.UTC(), want.At.UTC()
		if a != want {
			t.Fatalf("entry %d: got %+v, want %+v", i, a, want)
		}
	}
}

// auditBehaviour is what every Auditor does: sequence numbers, a bounded
// ring, newest-first limits, merged rewrites, clipped texts.
func auditBehaviour(t *testing.T, s Store) {
	ctx := context.Background()
	a := s.(Auditor)
	if got, err := a.LoadAudit(ctx, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty trail: %v, %v", got, err)
	}
	// One entry with a state change: both stored.
	entries := []AuditEntry{auditEntry(1)}
	rec := agent("a1")
	if err := a.SaveAudited(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{rec}}, entries); err != nil {
		t.Fatal(err)
	}
	if entries[0].Seq != 1 {
		t.Fatalf("first entry's seq = %d, want 1", entries[0].Seq)
	}
	// Past the ring's capacity, in one save and then one by one: only the
	// newest AuditCapacity are kept.
	var batch []AuditEntry
	for i := 2; i <= AuditCapacity+3; i++ {
		batch = append(batch, auditEntry(i))
	}
	if err := a.SaveAudited(ctx, coordinator.Persist{}, batch); err != nil {
		t.Fatal(err)
	}
	for i := AuditCapacity + 4; i <= AuditCapacity+10; i++ {
		if err := a.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{auditEntry(i)}); err != nil {
			t.Fatal(err)
		}
	}
	last := uint64(AuditCapacity + 10)
	all, err := a.LoadAudit(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkTrail(t, all, last-AuditCapacity+1, last)
	newest, err := a.LoadAudit(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkTrail(t, newest, last-4, last)

	// A rewrite (same seq) replaces the entry, with its count.
	merged := newest[4]
	merged.Count, merged.LastAt = 7, merged.At.Add(time.Minute)
	if err := a.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{merged}); err != nil {
		t.Fatal(err)
	}
	got, _ := a.LoadAudit(ctx, 1)
	if len(got) != 1 || got[0].Seq != last || got[0].Count != 7 || !got[0].LastAt.Equal(merged.LastAt) {
		t.Fatalf("rewritten entry: %+v", got)
	}
	// A rewrite of an entry the ring no longer holds is written anew.
	gone := []AuditEntry{auditEntry(1)}
	gone[0].Seq, gone[0].Count = 1, 3
	if err := a.SaveAudited(ctx, coordinator.Persist{}, gone); err != nil {
		t.Fatal(err)
	}
	last++
	if gone[0].Seq != last {
		t.Fatalf("a rewrite of a dropped entry got seq %d, want %d", gone[0].Seq, last)
	}
	if all, _ := a.LoadAudit(ctx, 0); len(all) != AuditCapacity || all[0].Seq != last-AuditCapacity+1 || all[len(all)-1].Count != 3 {
		t.Fatalf("after a rewrite of a dropped entry: %d entries from %d, newest %+v", len(all), all[0].Seq, all[len(all)-1])
	}

	// Texts over their bounds are clipped, on a UTF-8 boundary.
	long := auditEntry(0)
	long.Reason, long.Detail, long.Target = strings.Repeat("é", 4000), strings.Repeat("x", 9000), strings.Repeat("t", 999)
	if err := a.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{long}); err != nil {
		t.Fatal(err)
	}
	got, _ = a.LoadAudit(ctx, 1)
	if g := got[0]; len(g.Reason) > maxAuditText || len(g.Detail) != maxAuditText || len(g.Target) != maxAuditTarget ||
		!strings.HasPrefix(long.Reason, g.Reason) || strings.ContainsRune(g.Reason, '\uFFFD') {
		t.Fatalf("clipped entry: reason %d bytes, detail %d, target %d", len(g.Reason), len(g.Detail), len(g.Target))
	}
	if snap, err := s.Load(ctx); err != nil || len(snap.Agents) != 1 {
		t.Fatalf("the state saved with the first entry: %+v, %v", snap.Agents, err)
	}
}

func TestMemoryAudit(t *testing.T) {
	auditBehaviour(t, NewMemory())
}

func TestAuditEntrySize(t *testing.T) {
	full := AuditEntry{Seq: 1, At: t0, LastAt: t0, Count: 1 << 30}
	full.Principal, full.Role, full.Action, full.Result = strings.Repeat("p", 999), strings.Repeat("r", 999), strings.Repeat("a", 999), strings.Repeat("r", 999)
	full.Remote, full.Target = strings.Repeat("1", 999), strings.Repeat("t", 999)
	full.Reason, full.Detail = strings.Repeat("x", 1<<20), strings.Repeat("y", 1<<20)
	b, err := EncodeAudit(full)
	if err != nil {
		t.Fatal(err)
	}
	// MaxAuditPerWrite of them, with room to spare, in one multi.
	if len(b)*MaxAuditPerWrite > MaxMultiBytes/2 {
		t.Fatalf("an entry at every bound is %d bytes: %d of them exceed half a multi", len(b), MaxAuditPerWrite)
	}
	if _, err := EncodeAudit(AuditEntry{At: t0}); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("an entry without a seq encodes: %v", err)
	}
}

func TestZKAudit(t *testing.T) {
	srv := zktest.Start(t)
	ctx := context.Background()
	conn, _ := connect(t, srv.Addr, 10*time.Second)

	t.Run("behaviour", func(t *testing.T) {
		auditBehaviour(t, leaderStore(t, conn, "/audit/healer", ZKConfig{}))
		// Bounded: the ring's slots and nothing else.
		children, _, err := conn.Children("/audit/healer/audit")
		if err != nil || len(children) != AuditCapacity {
			t.Fatalf("audit/ holds %d children (%v), want %d", len(children), err, AuditCapacity)
		}
	})

	t.Run("a state change and its entry share one multi", func(t *testing.T) {
		s := leaderStore(t, conn, "/audit1/healer", ZKConfig{})
		c0 := s.Counters()
		if err := s.SaveAudited(ctx, coordinator.Persist{Agents: []coordinator.AgentRecord{agent("a1")}}, []AuditEntry{auditEntry(1)}); err != nil {
			t.Fatal(err)
		}
		if c := s.Counters(); c.Multis-c0.Multis != 1 {
			t.Fatalf("%d multis, want 1", c.Multis-c0.Multis)
		}
	})

	t.Run("a new leader continues the sequence; a standby reads", func(t *testing.T) {
		const root = "/audit2/healer"
		s := leaderStore(t, conn, root, ZKConfig{})
		for i := 1; i <= 3; i++ {
			if err := s.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{auditEntry(i)}); err != nil {
				t.Fatal(err)
			}
		}
		next := leaderStore(t, conn, root, ZKConfig{})
		e := []AuditEntry{auditEntry(4)}
		if err := next.SaveAudited(ctx, coordinator.Persist{}, e); err != nil {
			t.Fatal(err)
		}
		if e[0].Seq != 4 {
			t.Fatalf("the next leader's first entry has seq %d, want 4", e[0].Seq)
		}
		standby, err := NewZK(conn, ZKConfig{Chroot: root})
		if err != nil {
			t.Fatal(err)
		}
		got, err := standby.LoadAudit(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkTrail(t, got, 1, 4)
		if err := standby.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{auditEntry(5)}); !errors.Is(err, ErrReadOnly) {
			t.Fatalf("a standby's audited save: %v, want ErrReadOnly", err)
		}
	})

	// Found by the soak: a merged refusal rewrites an older entry (its seq
	// kept); the head must stay at the newest, or a standby's read and
	// the next leader's numbering start from the rewritten entry, and the
	// next leader overwrites the entries after it.
	t.Run("a rewrite of an older entry keeps the head", func(t *testing.T) {
		const root = "/audit4/healer"
		s := leaderStore(t, conn, root, ZKConfig{})
		var written []AuditEntry
		for i := 1; i <= 3; i++ {
			e := []AuditEntry{auditEntry(i)}
			if err := s.SaveAudited(ctx, coordinator.Persist{}, e); err != nil {
				t.Fatal(err)
			}
			written = append(written, e[0])
		}
		merged := written[0]
		merged.Count = 2
		if err := s.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{merged}); err != nil {
			t.Fatal(err)
		}
		next := leaderStore(t, conn, root, ZKConfig{})
		e := []AuditEntry{auditEntry(4)}
		if err := next.SaveAudited(ctx, coordinator.Persist{}, e); err != nil {
			t.Fatal(err)
		}
		if e[0].Seq != 4 {
			t.Fatalf("after a rewrite of entry 1, the next leader's first entry has seq %d, want 4", e[0].Seq)
		}
		got, err := next.LoadAudit(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 || got[0].Count != 2 || got[1].Target != "agent-2" || got[3].Target != "agent-4" {
			t.Fatalf("trail after a rewrite of entry 1 and a new leader: %+v", got)
		}
	})

	t.Run("fenced: a deposed leader writes no entry", func(t *testing.T) {
		const root = "/audit3/healer"
		fence := elect(t, conn, root, nil)
		s := leaderStore(t, conn, root, ZKConfig{Fence: fence})
		if err := conn.Delete(fence, -1); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveAudited(ctx, coordinator.Persist{}, []AuditEntry{auditEntry(1)}); !errors.Is(err, ErrFenced) {
			t.Fatalf("save after the fence went: %v, want ErrFenced", err)
		}
		if got, err := s.LoadAudit(ctx, 0); err != nil || len(got) != 0 {
			t.Fatalf("trail after a fenced save: %v, %v", got, err)
		}
	})
}
