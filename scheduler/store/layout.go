package store

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// The znodes under the chroot. scheduler/election's member nodes live
// beside them, under leader/ (election.Dir); the store only checks the
// fence node there.
const (
	frameworkNode = "framework"
	globalNode    = "global"
	agentsNode    = "agents"
)

// Buckets is the number of hash buckets agent records are spread over,
// agents/<bucket>/<agent id>, so that no children list grows with the
// cluster as a whole: 35,000 agents make buckets of about 140 names (some
// 7 KB in a getChildren reply) where one directory would hold 35,000 (about
// 1.6 MB, past ZooKeeper's 1 MB jute.maxbuffer, which drops the
// connection). It is part of the format on disk: changing it moves every
// record.
const Buckets = 256

// errBadName: a znode name under agents/ that healer does not write.
var errBadName = errors.New("not a name healer writes")

// bucketOf is the bucket of an agent id: FNV-1a of the id, as two
// lowercase hex digits.
func bucketOf(id coordinator.AgentID) string {
	h := fnv.New32a()
	h.Write([]byte(id))
	return fmt.Sprintf("%02x", h.Sum32()%Buckets)
}

// parseBucket checks a bucket znode's name.
func parseBucket(name string) error {
	n, err := strconv.ParseUint(name, 16, 16)
	if err != nil || n >= Buckets || fmt.Sprintf("%02x", n) != name {
		return errBadName
	}
	return nil
}

// escapeID is the znode name of an agent id. Mesos agent ids are letters,
// digits and '-' (a UUID and "-S<n>"), which stay as they are; any other
// byte becomes %XX (uppercase hex), so that '/', '.' and "..", NUL, spaces
// and non-ASCII bytes, which a znode name cannot hold or holds badly, never
// reach ZooKeeper.
func escapeID(id coordinator.AgentID) string {
	s := string(id)
	if strings.IndexFunc(s, func(r rune) bool { return !safeRune(r) }) < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; safeRune(rune(c)) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func safeRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// unescapeID is the agent id of a znode name escapeID wrote. A name in any
// other form (lowercase hex, an escaped safe byte, a stray '%') is
// refused: one id has one name, so no record can hide behind a second.
func unescapeID(name string) (coordinator.AgentID, error) {
	if name == "" {
		return "", errBadName
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case safeRune(rune(c)):
			b.WriteByte(c)
		case c == '%' && i+2 < len(name):
			n, err := strconv.ParseUint(name[i+1:i+3], 16, 8)
			if err != nil {
				return "", errBadName
			}
			b.WriteByte(byte(n))
			i += 2
		default:
			return "", errBadName
		}
	}
	id := coordinator.AgentID(b.String())
	if escapeID(id) != name {
		return "", errBadName
	}
	return id, nil
}

// paths are the znode paths under one chroot.
type paths struct{ root string }

func (p paths) framework() string { return p.root + "/" + frameworkNode }
func (p paths) global() string    { return p.root + "/" + globalNode }
func (p paths) agents() string    { return p.root + "/" + agentsNode }
func (p paths) bucket(b string) string {
	return p.root + "/" + agentsNode + "/" + b
}
func (p paths) agent(id coordinator.AgentID) string {
	return p.bucket(bucketOf(id)) + "/" + escapeID(id)
}

// CheckChroot checks a chroot path: absolute, not "/", no trailing '/',
// no empty, "." or ".." segment.
func CheckChroot(root string) error { return checkPath("chroot", root) }

func checkPath(what, root string) error {
	bad := func(why string) error {
		return fmt.Errorf("store: %s %q: %s (want an absolute path such as /healer)", what, root, why)
	}
	switch {
	case !strings.HasPrefix(root, "/"):
		return bad("not absolute")
	case root == "/":
		return bad("the root itself")
	case strings.HasSuffix(root, "/"):
		return bad("trailing '/'")
	}
	for _, seg := range strings.Split(root[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad(fmt.Sprintf("segment %q", seg))
		}
	}
	return nil
}
