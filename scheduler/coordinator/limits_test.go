package coordinator

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClipText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"within", "disk full", 16, "disk full"},
		{"exactly at the bound", "0123456789", 10, "0123456789"},
		{"over: cut and marked", "0123456789ab", 10, "0123456…"},
		{"no split rune", "aaaaaaé€", 10, "aaaaaa…"},
		{"invalid UTF-8 replaced", "a\xffb", 10, "a\uFFFDb"},
		{"replacement grows it over the bound", "abcdefgh\xff", 10, "abcdefg…"},
		{"stray continuation bytes at the cut", strings.Repeat("\x80", 20), 10, "\uFFFD…"},
	} {
		got := clipText(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("%s: clipText(%q, %d) = %q (%d bytes), want %q", tc.name, tc.in, tc.max, got, len(got), tc.want)
		}
	}
}

func TestClipTail(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"within", "exit 1", 16, "exit 1"},
		{"over: keeps the end", "0123456789ab", 10, "…56789ab"},
		{"no split rune", "é€aaaaaa", 10, "…aaaaaa"},
		{"invalid UTF-8 replaced", "a\xffb", 10, "a\uFFFDb"},
		{"binary output", strings.Repeat("\xff", 100), 10, "…\uFFFD"},
	} {
		got := clipTail(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("%s: clipTail(%q, %d) = %q (%d bytes), want %q", tc.name, tc.in, tc.max, got, len(got), tc.want)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"disk_full", true},
		{"disque plein", true},
		{"überhitzt", true},
		{strings.Repeat("p", MaxProblemBytes), true},
		{strings.Repeat("p", MaxProblemBytes+1), false},
		{"disk\nfull", false},
		{"disk\x00", false},
		{"disk\x7f", false},
		{"disk\u0085", false}, // C1 next line
		{"disk\xff", false},
	} {
		if got := validName(tc.in, MaxProblemBytes); got != tc.want {
			t.Errorf("validName(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// boundsCoordinator is a coordinator in execute mode with agent a1 (host
// h1) known and connectivity up.
func boundsCoordinator(t *testing.T) *stepper {
	t.Helper()
	p := DefaultPolicy()
	p.Mode = ModeExecute
	p.DefaultLadder = Ladder{{Action: "restart", Scope: ScopeAgent}, {Action: ActionIsolate, Scope: ScopeMaster}}
	c, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	s := &stepper{tb: t, c: c, store: newStore()}
	for _, ev := range []Event{
		AgentAdded{At: t0, ID: "a1", Hostname: "h1"},
		Connectivity{At: t0, Change: MasterConnected},
		Connectivity{At: t0, Change: ZKSessionUp},
		Connectivity{At: t0, Change: Reconciled},
	} {
		if _, err := s.step(ev); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestOutsideTextBounded: text from outside never makes a record larger
// than its bounds allow; names over theirs are refused.
func TestOutsideTextBounded(t *testing.T) {
	huge := strings.Repeat("x\xff", 5<<20) // 10 MB, not UTF-8
	s := boundsCoordinator(t)

	rd, err := s.step(Signal{At: t0, Agent: "a1", Problem: "disk_full", Source: huge, Message: huge + "end"})
	if err != nil {
		t.Fatal(err)
	}
	inc := s.store.agents["a1"].Incident
	if len(inc.Message) > MaxMessageBytes || !utf8.ValidString(inc.Message) || !strings.HasSuffix(inc.Message, ClipMarker) {
		t.Errorf("message kept as %d bytes (valid UTF-8 %v), want at most %d, marked", len(inc.Message), utf8.ValidString(inc.Message), MaxMessageBytes)
	}
	if len(inc.Source) > MaxSourceBytes || !utf8.ValidString(inc.Source) {
		t.Errorf("source kept as %d bytes, want at most %d", len(inc.Source), MaxSourceBytes)
	}
	for _, d := range rd.Decisions {
		if n := len(d.String()); n > 2*MaxMessageBytes {
			t.Errorf("decision line of %d bytes", n)
		}
	}

	rd, err = s.step(StepOutcome{At: t0, Agent: "a1", Attempt: 1, Result: ResultFailed, ExitCode: 1, OutputTail: huge + "the error"})
	if err != nil {
		t.Fatal(err)
	}
	h := s.store.agents["a1"].History
	if tail := h[0].OutputTail; len(tail) > MaxOutputTailBytes || !utf8.ValidString(tail) ||
		!strings.HasSuffix(tail, "the error") || !strings.HasPrefix(tail, ClipMarker) {
		t.Errorf("output tail kept as %d bytes ending %q, want at most %d keeping the end", len(tail), tail[max(0, len(tail)-12):], MaxOutputTailBytes)
	}
	_ = rd

	if _, err := s.step(Command{At: t0, Op: OpPause, Principal: "alice", Reason: huge}); err != nil {
		t.Fatal(err)
	}
	if g := s.store.global; len(g.PauseReason) > MaxReasonBytes || !utf8.ValidString(g.PauseReason) {
		t.Errorf("pause reason kept as %d bytes, want at most %d", len(g.PauseReason), MaxReasonBytes)
	}
}

func TestOutsideNamesRefused(t *testing.T) {
	long := strings.Repeat("n", 1<<20)
	for _, tc := range []struct {
		name string
		ev   Event
		want error
	}{
		{"problem too long", Signal{Agent: "a1", Problem: long}, ErrBadProblem},
		{"problem one over", Signal{Agent: "a1", Problem: strings.Repeat("p", MaxProblemBytes+1)}, ErrBadProblem},
		{"problem with a newline", Signal{Agent: "a1", Problem: "disk\nfull"}, ErrBadProblem},
		{"problem not UTF-8", Signal{Agent: "a1", Problem: "disk\xff"}, ErrBadProblem},
		{"empty problem", Signal{Agent: "a1"}, ErrNoProblem},
		{"target too long", Signal{Agent: long, Problem: "disk_full"}, ErrUnknownAgent},
		{"force problem too long", Command{Op: OpForce, Agent: "a1", Principal: "alice", Problem: long}, ErrBadProblem},
		{"principal too long", Command{Op: OpPause, Principal: long, Reason: "r"}, ErrBadPrincipal},
		{"principal with a newline", Command{Op: OpPause, Principal: "alice\nforce a2", Reason: "r"}, ErrBadPrincipal},
		{"hostname too long", AgentAdded{ID: "a2", Hostname: strings.Repeat("h", MaxHostnameBytes+1)}, ErrBadHostname},
		{"hostname with a control character", AgentAdded{ID: "a2", Hostname: "h\x00"}, ErrBadHostname},
		{"hostname update too long", AgentUpdated{ID: "a1", Hostname: long}, ErrBadHostname},
		{"zone too long", AgentAdded{ID: "a2", Hostname: "h2", Zone: long}, ErrBadZone},
		{"agent id too long", AgentAdded{ID: AgentID(long), Hostname: "h2"}, ErrBadAgentID},
		{"no id", AgentAdded{Hostname: "h2"}, ErrNoAgentID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := boundsCoordinator(t)
			rd, err := s.step(withTime(tc.ev, t0))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if len(err.Error()) > 4*MaxHostnameBytes {
				t.Errorf("error of %d bytes quotes the input whole", len(err.Error()))
			}
			if !rd.Persist.Empty() {
				t.Errorf("refused event persisted %+v", rd.Persist)
			}
			for _, d := range rd.Decisions {
				if n := len(d.String()); n > 4*MaxHostnameBytes {
					t.Errorf("decision line of %d bytes quotes the input whole", n)
				}
			}
		})
	}
}

func TestAgentWithoutHostnameAccepted(t *testing.T) {
	s := boundsCoordinator(t)
	if _, err := s.step(AgentAdded{At: t0, ID: "a2"}); err != nil {
		t.Fatalf("agent with an id and no hostname: %v", err)
	}
}

func TestPolicyRefusesBadLadderName(t *testing.T) {
	p := DefaultPolicy()
	// A ladder no signal could select.
	p.Ladders = map[string]Ladder{strings.Repeat("p", MaxProblemBytes+1): p.DefaultLadder}
	if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("ladder named over MaxProblemBytes: got %v, want ErrInvalidPolicy", err)
	}
}
