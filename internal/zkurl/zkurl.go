// Package zkurl parses the ZooKeeper URLs of Mesos' --zk and --master flags,
// zk://[user:password@]host:port[,host:port...]/path, the way Mesos reads
// them (mesos-protocol.md 3.1; include/mesos/zookeeper/url.hpp):
//
//   - the path starts at the first '/' and is required; "/" alone is refused
//     with Mesos' own message, because a detector cannot work in the root;
//   - credentials are everything before the LAST '@' of the part before the
//     path, so a password may contain '@' (and ':': the user ends at the
//     first ':'); they are for ZooKeeper's digest scheme;
//   - every server is host:port with a port in 1..65535.
//
// healer-scheduler (its --zk and --master) and the Mesos emulator share this
// one parser, so the two never disagree about a URL.
//
// A URL never shows its password when printed: String, Redacted and
// GoString all hide it, and parse errors quote the input with the password
// hidden. WithPassword is the only way to get the full URL back.
package zkurl

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scheme is the prefix of every ZooKeeper URL.
const Scheme = "zk://"

// redactedPassword replaces a password wherever a URL is printed.
const redactedPassword = "xxxxx"

// Example is a well-formed URL, quoted in errors when the input offers
// nothing better to build one from.
const Example = "zk://zk1:2181,zk2:2181,zk3:2181/mesos"

// URL is a parsed zk://[user:password@]host:port[,host:port...]/path.
type URL struct {
	// Servers are the host:port of each ZooKeeper server, as written.
	Servers []string
	// User and Password are the digest credentials; both empty without
	// credentials.
	User, Password string
	// Path is the chroot: starts with '/', is never "/" and has no trailing
	// '/'.
	Path string
}

// Error is a URL that does not parse. Its message names the part that is
// wrong and gives an example of a good URL; it never contains the password.
type Error struct {
	// Input is the URL as given, with any password hidden.
	Input string
	// Problem says what is wrong, naming the offending part.
	Problem string
	// Example is a well-formed URL close to the input.
	Example string
	// InPath says the problem is in the path (missing, "/", or a bad
	// segment), for callers that can offer a default chroot instead.
	InPath bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("ZooKeeper URL %q: %s (want zk://[user:password@]host:port[,host:port...]/path, e.g. %s)", e.Input, e.Problem, e.Example)
}

// HasPath reports whether s, a zk:// URL, names a path (possibly just "/"):
// callers with a default chroot add it with WithDefaultPath before Parse.
func HasPath(s string) bool {
	rest, _ := strings.CutPrefix(strings.TrimSpace(s), Scheme)
	return strings.Contains(rest, "/")
}

// WithDefaultPath returns s with path appended when s, a zk:// URL, names
// no path; otherwise s unchanged.
func WithDefaultPath(s, path string) string {
	if !strings.HasPrefix(strings.TrimSpace(s), Scheme) || HasPath(s) {
		return s
	}
	return strings.TrimSpace(s) + path
}

// Parse parses a ZooKeeper URL. Surrounding whitespace is ignored, as Mesos
// does; a trailing '/' of the path is dropped.
func Parse(s string) (URL, error) {
	s = strings.TrimSpace(s)
	shown := redact(s)
	fail := func(example, format string, args ...any) (URL, error) {
		if example == "" {
			example = Example
		}
		return URL{}, &Error{Input: shown, Problem: fmt.Sprintf(format, args...), Example: example}
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		if strings.Contains(s, "://") {
			scheme, _, _ := strings.Cut(s, "://")
			return fail("", "scheme %q: expecting 'zk://' at the beginning of the URL", scheme+"://")
		}
		return fail("", "expecting 'zk://' at the beginning of the URL")
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	// A '@' in the path may end credentials whose password holds a '/';
	// then the servers and the path hold pieces of that password, and an
	// error must quote neither.
	atInPath := strings.Contains(path, "@")
	fail0 := fail
	fail = func(example, format string, args ...any) (URL, error) {
		if atInPath {
			return fail0("", "a '@' follows the first '/': if what precedes it is user:password, the password holds a '/', which a ZooKeeper URL cannot (its path starts at the first '/')")
		}
		return fail0(example, format, args...)
	}
	var u URL
	hosts := authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		cred := authority[:i]
		hosts = authority[i+1:]
		user, pass, ok := strings.Cut(cred, ":")
		if !ok || user == "" || pass == "" {
			return fail(example(hosts, path, "user"), "credentials before '@' must be user:password, both non-empty")
		}
		if bad := strings.IndexFunc(user, unsafeRune); bad >= 0 {
			return fail(example(hosts, path, "user"), "user %q contains a space or control character", user)
		}
		if strings.IndexFunc(pass, unsafeRune) >= 0 || !utf8.ValidString(pass) {
			return fail(example(hosts, path, user), "the password contains a space or control character")
		}
		u.User, u.Password = user, pass
	}
	if hosts == "" {
		return fail(example("", path, u.User), "names no ZooKeeper server; list at least one host:port after zk://")
	}
	for _, hp := range strings.Split(hosts, ",") {
		if err := checkServer(hp); err != nil {
			return fail(example(hosts, path, u.User), "server %q: %v", hp, err)
		}
		u.Servers = append(u.Servers, hp)
	}
	failPath := func(example, format string, args ...any) (URL, error) {
		_, err := fail(example, format, args...)
		if e, ok := err.(*Error); ok && !atInPath {
			e.InPath = true
		}
		return URL{}, err
	}
	switch {
	case path == "":
		return failPath(example(hosts, path, u.User), "no path: expecting a (chroot) path for ZooKeeper after the servers")
	case path == "/" || strings.Trim(path, "/") == "":
		return failPath(example(hosts, "", u.User), "Expecting a (chroot) path for ZooKeeper ('/' is not supported)")
	}
	path = strings.TrimSuffix(path, "/")
	for _, seg := range strings.Split(path[1:], "/") {
		switch {
		case seg == "":
			return failPath(example(hosts, "", u.User), "path %q has an empty segment ('//')", path)
		case seg == "." || seg == "..":
			return failPath(example(hosts, "", u.User), "path %q has a %q segment, which ZooKeeper refuses", path, seg)
		case !utf8.ValidString(seg) || strings.IndexFunc(seg, unsafeRune) >= 0:
			return failPath(example(hosts, "", u.User), "path %q contains a space, a control character or invalid UTF-8", path)
		}
	}
	u.Path = path
	return u, nil
}

func unsafeRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

// checkServer checks one host:port.
func checkServer(hp string) error {
	if hp == "" {
		return fmt.Errorf("empty server (a stray ',')")
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		if !strings.Contains(hp, ":") {
			return fmt.Errorf("no port; write host:port, e.g. %s:2181", hp)
		}
		return fmt.Errorf("not host:port")
	}
	if host == "" {
		return fmt.Errorf("no host before the port")
	}
	if strings.Contains(host, ":") {
		if net.ParseIP(host) == nil {
			return fmt.Errorf("host %q is not an IPv6 address", host)
		}
	} else if i := strings.IndexFunc(host, func(r rune) bool {
		return !(r < utf8.RuneSelf && (r == '.' || r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)))
	}); i >= 0 {
		return fmt.Errorf("host %q has an invalid character %q", host, host[i:i+1])
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// example builds a good URL near the input: its servers where they are
// well formed (a missing port added), its user, its path where valid.
func example(hosts, path, user string) string {
	var servers []string
	for _, hp := range strings.Split(hosts, ",") {
		if checkServer(hp) == nil {
			servers = append(servers, hp)
		} else if !strings.Contains(hp, ":") && hp != "" && checkServer(hp+":2181") == nil {
			servers = append(servers, hp+":2181")
		}
	}
	if len(servers) == 0 {
		servers = []string{"zk1:2181", "zk2:2181"}
	}
	p := strings.TrimSuffix(path, "/")
	if p == "" || strings.Contains(p, "//") || strings.IndexFunc(p, unsafeRune) >= 0 || !utf8.ValidString(p) {
		p = "/mesos"
	}
	cred := ""
	if user != "" && strings.IndexFunc(user, unsafeRune) < 0 {
		cred = user + ":" + redactedPassword + "@"
	}
	return Scheme + cred + strings.Join(servers, ",") + p
}

// redact hides the password of s, which need not be a valid URL: everything
// from the first ':' after "zk://" to the last '@' is replaced (the last '@'
// of the whole string, so a password holding '/' is hidden too; a path
// holding '@' is over-redacted, which is harmless in a message).
func redact(s string) string {
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		// Not a zk:// URL; hide anything that looks like credentials.
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			return redactedPassword + s[i:]
		}
		return s
	}
	i := strings.LastIndexByte(rest, '@')
	if i < 0 {
		return s
	}
	user, _, hasColon := strings.Cut(rest[:i], ":")
	if !hasColon || strings.ContainsAny(user, "/,") {
		return Scheme + redactedPassword + rest[i:]
	}
	return Scheme + user + ":" + redactedPassword + rest[i:]
}

// Redact hides the password of s, a ZooKeeper URL or not and valid or not,
// for logs and messages. A string without credentials is returned as is.
func Redact(s string) string { return redact(strings.TrimSpace(s)) }

func (u URL) format(password string) string {
	cred := ""
	if u.User != "" || u.Password != "" {
		cred = u.User + ":" + password + "@"
	}
	return Scheme + cred + strings.Join(u.Servers, ",") + u.Path
}

// Redacted is the URL with its password replaced by "xxxxx".
func (u URL) Redacted() string { return u.format(redactedPassword) }

// String is Redacted, so printing a URL never shows its password.
func (u URL) String() string { return u.Redacted() }

// GoString is Redacted too, for %#v.
func (u URL) GoString() string { return "zkurl.URL(" + strconv.Quote(u.Redacted()) + ")" }

// WithPassword is the full URL, password included: what Parse reads back
// to u. Never log it.
func (u URL) WithPassword() string { return u.format(u.Password) }

// Ancestors lists the znodes above path, root first, path excluded:
// "/a/b/c" gives "/a", "/a/b". What must exist before path is created (a
// URL's Path, or a node below it).
func Ancestors(path string) []string {
	var out []string
	for i := 1; i < len(path); i++ {
		if path[i] == '/' {
			out = append(out, path[:i])
		}
	}
	return out
}
