package store

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

func TestEscapeID(t *testing.T) {
	for id, want := range map[coordinator.AgentID]string{
		"3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S12": "3f9c2a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f-S12",
		"a_b":   "a_b",
		"a/b":   "a%2Fb",
		"..":    "%2E%2E",
		"50%":   "50%25",
		"é":     "%C3%A9",
		"a\x00": "a%00",
		"a b":   "a%20b",
	} {
		got := escapeID(id)
		if got != want {
			t.Errorf("escapeID(%q) = %q, want %q", id, got, want)
		}
		back, err := unescapeID(got)
		if err != nil || back != id {
			t.Errorf("unescapeID(%q) = %q, %v; want %q", got, back, err, id)
		}
	}
	for _, name := range []string{"", "a%2fb", "%41", "%", "%4", "%zz", "a.b", "a b", "é"} {
		if id, err := unescapeID(name); err == nil {
			t.Errorf("unescapeID(%q) = %q, want an error: not a name escapeID writes", name, id)
		}
	}
}

func TestBuckets(t *testing.T) {
	for i := range Buckets {
		b := []byte("00")
		const hex = "0123456789abcdef"
		b[0], b[1] = hex[i/16], hex[i%16]
		if err := parseBucket(string(b)); err != nil {
			t.Errorf("bucket %s refused", b)
		}
	}
	for _, name := range []string{"", "0", "000", "A0", "g0", "100", "-1"} {
		if parseBucket(name) == nil {
			t.Errorf("bucket name %q accepted", name)
		}
	}
	if err := parseBucket(bucketOf("a1")); err != nil {
		t.Errorf("bucketOf gives a name parseBucket refuses: %v", err)
	}
}

func TestCheckChroot(t *testing.T) {
	for _, ok := range []string{"/healer", "/a/b/healer"} {
		if err := CheckChroot(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/", "healer", "/healer/", "/a//b", "/a/./b", "/a/.."} {
		if err := CheckChroot(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzUnescapeID: znode names under agents/ come from ZooKeeper, where
// anyone with access may have put anything. unescapeID never panics,
// accepts only names escapeID writes, and escapeID's names are safe in a
// znode path (ASCII letters, digits, '-', '_', '%') and read back.
// Seeds: testdata/fuzz/FuzzUnescapeID plus the ones below.
func FuzzUnescapeID(f *testing.F) {
	for _, s := range []string{"a1", "a%2Fb", "%2E%2E", "%", "%zz", "é", "3f9c2a1e-7b4d-S1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := unescapeID(s); err == nil && escapeID(id) != s {
			t.Fatalf("unescapeID(%q) = %q, which escapes to %q", s, id, escapeID(id))
		}
		name := escapeID(coordinator.AgentID(s))
		if strings.IndexFunc(name, func(r rune) bool { return !safeRune(r) && r != '%' }) >= 0 || !utf8.ValidString(name) {
			t.Fatalf("escapeID(%q) = %q: unsafe in a znode name", s, name)
		}
		if s != "" {
			back, err := unescapeID(name)
			if err != nil || string(back) != s {
				t.Fatalf("unescapeID(escapeID(%q)) = %q, %v", s, back, err)
			}
		}
	})
}
