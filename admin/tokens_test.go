package admin

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseTokensReportsEveryProblem(t *testing.T) {
	_, err := parseTokens([]byte(strings.Join([]string{
		"# comment",
		"alice operator " + operatorToken,
		"bob admin " + viewerToken,
		"carol viewer short",
		"alice viewer another-token-0123456789",
		"dave viewer " + operatorToken,
		"two fields",
		"bad/name viewer yet-another-token-0123456",
	}, "\n")))
	if err == nil {
		t.Fatal("a bad token file parsed")
	}
	for _, want := range []string{
		`line 3: role "admin"`, "line 4: the token of carol is 5 characters", "line 5: name alice is already used on line 2",
		"line 6: the token of dave is already used on line 2", "line 7: want", `line 8: name "bad/name"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if _, err := parseTokens([]byte("# nothing\n\n")); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Errorf("an empty file: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	dir := t.TempDir()
	tk, err := LoadTokens(writeTokens(t, dir, "vera viewer "+viewerToken+"\nolga operator "+operatorToken+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		secret string
		name   string
		role   Role
		ok     bool
	}{
		{viewerToken, "vera", RoleViewer, true},
		{operatorToken, "olga", RoleOperator, true},
		{operatorToken[:len(operatorToken)-1], "", 0, false},
		{operatorToken + "x", "", 0, false},
		{"", "", 0, false},
	} {
		name, role, ok := tk.Authenticate(c.secret)
		if name != c.name || role != c.role || ok != c.ok {
			t.Errorf("Authenticate(%q) = %q %v %v, want %q %v %v", c.secret, name, role, ok, c.name, c.role, c.ok)
		}
	}
}

// syncBuffer is a log sink the test reads while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTokensReloadOnChangeAndSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := writeTokens(t, dir, "vera viewer "+viewerToken+"\n")
	logs := &syncBuffer{}
	tk, err := LoadTokens(path, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	type reload struct {
		err  error
		v, o int
	}
	reloads := make(chan reload, 16)
	tk.OnReload = func(err error, v, o int) { reloads <- reload{err, v, o} }
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- tk.Run(ctx, 10*time.Millisecond, hup) }()
	defer func() {
		cancel()
		<-done
	}()
	next := func(what string) reload {
		t.Helper()
		select {
		case r := <-reloads:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("no reload after %s", what)
		}
		return reload{}
	}

	// A change is picked up without a signal.
	writeTokens(t, dir, "vera viewer "+viewerToken+"\nolga operator "+operatorToken+"\n")
	if r := next("adding a token"); r.err != nil || r.v != 1 || r.o != 1 {
		t.Fatalf("reload: %+v", r)
	}
	if _, role, ok := tk.Authenticate(operatorToken); !ok || role != RoleOperator {
		t.Fatal("the added token is not accepted")
	}
	// A bad file keeps the tokens in use, and says why.
	writeTokens(t, dir, "olga operator short\n")
	if r := next("breaking the file"); r.err == nil || !strings.Contains(r.err.Error(), "characters") || r.o != 1 {
		t.Fatalf("bad reload: %+v", r)
	}
	if _, _, ok := tk.Authenticate(operatorToken); !ok {
		t.Fatal("a bad reload dropped the tokens in use")
	}
	if !strings.Contains(logs.String(), "NOT reloaded") {
		t.Errorf("the bad reload was not logged:\n%s", logs.String())
	}
	// SIGHUP re-reads (and reports the same problem again).
	hup <- os.Interrupt
	if r := next("SIGHUP"); r.err == nil {
		t.Fatalf("SIGHUP on a bad file: %+v", r)
	}
	// Revoking a token takes effect.
	writeTokens(t, dir, "vera viewer "+viewerToken+"\n")
	if r := next("revoking"); r.err != nil || r.o != 0 {
		t.Fatalf("reload: %+v", r)
	}
	if _, _, ok := tk.Authenticate(operatorToken); ok {
		t.Fatal("a revoked token is still accepted")
	}
}

func TestLoadTokensWarnsAboutAReadableFile(t *testing.T) {
	dir := t.TempDir()
	path := writeTokens(t, dir, "vera viewer "+viewerToken+"\n")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	if _, err := LoadTokens(path, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "chmod 600") {
		t.Errorf("no warning about a world-readable token file:\n%s", logs.String())
	}
}
