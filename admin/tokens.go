package admin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
)

// MinTokenLength is the shortest token accepted: a guessable token is no
// access control.
const MinTokenLength = 16

// Tokens are the bearer tokens of --admin_tokens, reloaded when the file
// changes (Run) without a restart. A reload that fails keeps the tokens in
// use and says why.
//
// The file holds one token per line, "<name> <role> <token>", where name
// is who the token belongs to (it is the principal in the audit trail and
// in every decision), role is viewer (reads) or operator (reads and
// mutations), and token is at least MinTokenLength characters without
// whitespace. Blank lines and lines starting with # are ignored. Names and
// tokens must be unique.
type Tokens struct {
	path string
	log  *slog.Logger
	set  atomic.Pointer[tokenSet]
	// sum is the file content's hash as last read, to see changes, and
	// lastErr what was wrong with it.
	sum     [32]byte
	lastErr error
	// OnReload, when set before Run, is called after every reload with
	// its error (nil: the new tokens are in use) and the tokens per role.
	OnReload func(err error, viewers, operators int)
}

type tokenSet struct {
	entries            []tokenEntry
	viewers, operators int
}

type tokenEntry struct {
	name string
	role Role
	sum  [32]byte
}

// LoadTokens reads the token file; its error lists every problem in it.
func LoadTokens(path string, log *slog.Logger) (*Tokens, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tokens{path: path, log: log}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin tokens: %w", err)
	}
	set, err := parseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("admin tokens %s: %w", path, err)
	}
	t.set.Store(set)
	t.sum = sha256.Sum256(data)
	t.warnMode()
	return t, nil
}

func (t *Tokens) warnMode() {
	if fi, err := os.Stat(t.path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.log.Warn("the admin token file is readable by other users: chmod 600 it", "path", t.path,
			"mode", fi.Mode().Perm().String())
	}
}

// Counts returns the number of viewer and operator tokens in use.
func (t *Tokens) Counts() (viewers, operators int) {
	s := t.set.Load()
	return s.viewers, s.operators
}

// parseTokens parses a token file's content; the error lists every bad line.
func parseTokens(data []byte) (*tokenSet, error) {
	set := &tokenSet{}
	names := map[string]int{}
	tokens := map[[32]byte]int{}
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("line %d: "+format, append([]any{line}, args...)...))
		}
		f := strings.Fields(text)
		if len(f) != 3 {
			bad("want \"<name> <role> <token>\", got %d fields", len(f))
			continue
		}
		name, roleName, secret := f[0], f[1], f[2]
		var role Role
		switch roleName {
		case "viewer":
			role = RoleViewer
		case "operator":
			role = RoleOperator
		default:
			bad("role %q: want viewer or operator", roleName)
			continue
		}
		if !validTokenName(name) {
			bad("name %q: want 1 to 64 letters, digits or . _ @ -", name)
			continue
		}
		if len(secret) < MinTokenLength {
			bad("the token of %s is %d characters: want at least %d (e.g. openssl rand -hex 32)", name, len(secret), MinTokenLength)
			continue
		}
		sum := sha256.Sum256([]byte(secret))
		if prev, ok := names[name]; ok {
			bad("name %s is already used on line %d", name, prev)
			continue
		}
		if prev, ok := tokens[sum]; ok {
			bad("the token of %s is already used on line %d: every token must be unique", name, prev)
			continue
		}
		names[name], tokens[sum] = line, line
		set.entries = append(set.entries, tokenEntry{name: name, role: role, sum: sum})
		if role == RoleOperator {
			set.operators++
		} else {
			set.viewers++
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", line+1, err))
	}
	if len(errs) == 0 && len(set.entries) == 0 {
		errs = append(errs, errors.New("no tokens: add lines \"<name> <role> <token>\""))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func validTokenName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || strings.ContainsRune("._@-", r)) {
			return false
		}
	}
	return true
}

// Authenticate returns the caller a token belongs to. It hashes the token
// and compares the hash with every known one in constant time, so neither
// the answer's time nor its path says how much of a token was right or
// where it is in the file.
func (t *Tokens) Authenticate(secret string) (name string, role Role, ok bool) {
	sum := sha256.Sum256([]byte(secret))
	set := t.set.Load()
	found := -1
	for i := range set.entries {
		if subtle.ConstantTimeCompare(sum[:], set.entries[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", 0, false
	}
	e := set.entries[found]
	return e.name, e.role, true
}

// Reload reads the file again. On an error the tokens in use stay. changed
// says the content differed from the last read; a file that has not
// changed since a failed read returns that read's error again. Reload is
// Run's (and tests'): it is not safe to call concurrently.
func (t *Tokens) Reload() (changed bool, err error) {
	data, err := os.ReadFile(t.path)
	if err != nil {
		return true, fmt.Errorf("admin tokens: reload: %w", err)
	}
	sum := sha256.Sum256(data)
	if sum == t.sum {
		return false, t.lastErr
	}
	t.sum = sum
	set, err := parseTokens(data)
	if err != nil {
		t.lastErr = fmt.Errorf("admin tokens: reload %s: %w", t.path, err)
		return true, t.lastErr
	}
	t.set.Store(set)
	t.lastErr = nil
	t.warnMode()
	return true, nil
}

// Run reloads the file when its content changes (checked every interval)
// and on every value from hup (SIGHUP), until ctx ends. A bad file is
// reported when it changes (and on SIGHUP), and the tokens in use stay.
func (t *Tokens) Run(ctx context.Context, interval time.Duration, hup <-chan os.Signal) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		forced := false
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-hup:
			forced = true
		}
		changed, err := t.Reload()
		if !changed && !forced {
			continue
		}
		v, o := t.Counts()
		switch {
		case err != nil:
			t.log.Error("admin token file NOT reloaded: the tokens in use stay until the file is fixed", "err", err,
				"viewers", v, "operators", o)
		case changed:
			t.log.Info("admin token file reloaded", "path", t.path, "viewers", v, "operators", o)
		default:
			t.log.Info("admin token file unchanged", "path", t.path, "viewers", v, "operators", o)
		}
		if t.OnReload != nil {
			t.OnReload(err, v, o)
		}
	}
}
