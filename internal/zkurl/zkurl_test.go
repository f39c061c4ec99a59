package zkurl

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want URL
	}{
		{"zk://zk1:2181,zk2:2181/mesos", URL{Servers: []string{"zk1:2181", "zk2:2181"}, Path: "/mesos"}},
		{"zk://u:p@w@127.0.0.1:2181/a/b", URL{Servers: []string{"127.0.0.1:2181"}, Path: "/a/b", User: "u", Password: "p@w"}},
		// The credentials end at the LAST '@': Mesos reads this as host h.
		{"zk://u:p@ss@h:2181/healer", URL{Servers: []string{"h:2181"}, Path: "/healer", User: "u", Password: "p@ss"}},
		{"zk://u:a:b@h:2181/x", URL{Servers: []string{"h:2181"}, Path: "/x", User: "u", Password: "a:b"}},
		{" zk://h:2181/x/ ", URL{Servers: []string{"h:2181"}, Path: "/x"}},
		{"zk://[::1]:2181/x", URL{Servers: []string{"[::1]:2181"}, Path: "/x"}},
		{"zk://h:2181/a@b", URL{Servers: []string{"h:2181"}, Path: "/a@b"}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %#v / %q; want %q", c.in, got, got.WithPassword(), c.want.WithPassword())
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"zk://127.0.0.1:2181/", `ZooKeeper URL "zk://127.0.0.1:2181/": Expecting a (chroot) path for ZooKeeper ('/' is not supported) (want zk://[user:password@]host:port[,host:port...]/path, e.g. zk://127.0.0.1:2181/mesos)`},
		{"zk://h:2181", `ZooKeeper URL "zk://h:2181": no path: expecting a (chroot) path for ZooKeeper after the servers (want zk://[user:password@]host:port[,host:port...]/path, e.g. zk://h:2181/mesos)`},
		{"http://h:2181/mesos", `"http://h:2181/mesos": scheme "http://": expecting 'zk://' at the beginning of the URL`},
		{"h:2181", `"h:2181": expecting 'zk://'`},
		{"zk://h/mesos", `server "h": no port; write host:port, e.g. h:2181 (want zk://[user:password@]host:port[,host:port...]/path, e.g. zk://h:2181/mesos)`},
		{"zk:///healer", `"zk:///healer": names no ZooKeeper server; list at least one host:port after zk:// (want zk://[user:password@]host:port[,host:port...]/path, e.g. zk://zk1:2181,zk2:2181/healer)`},
		{"zk://", `names no ZooKeeper server`},
		{"zk://h:0/x", `server "h:0": port "0" is not a number from 1 to 65535`},
		{"zk://h:99999/x", `port "99999"`},
		{"zk://h:2181,/x", `server "": empty server (a stray ',')`},
		{"zk://:2181/x", `server ":2181": no host before the port`},
		{"zk://h h:2181/x", `host "h h" has an invalid character " "`},
		{"zk://h:2181//x", `path "//x" has an empty segment`},
		{"zk://h:2181/a/../b", `".." segment`},
		{"zk://:pw@h:2181/x", `credentials before '@' must be user:password, both non-empty`},
		{"zk://u@h:2181/x", `"zk://xxxxx@h:2181/x": credentials before '@' must be user:password`},
		{"zk://u:@h:2181/x", `both non-empty`},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Parse(%q) = %v, want an *Error", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error:\n %s\nwant it to contain\n %s", c.in, err, c.want)
		}
	}
}

// A password never reaches a message or a printed URL.
func TestPasswordNeverShown(t *testing.T) {
	for _, in := range []string{
		"zk://u:hunter2@h:2181/x",
		"zk://u:hun@ter2@h:2181/x",
		"zk://u:hun/ter2@h:2181/x", // '/' in a password: invalid, and still hidden
		"zk://u:hunter2@h/x",       // invalid server
		"zk://u:hunter2@h:2181",    // no path
		"zk://u:hunter2@h:2181/",
	} {
		u, err := Parse(in)
		var out []string
		if err != nil {
			out = append(out, err.Error())
		} else {
			out = append(out, u.String(), u.Redacted(), fmt.Sprintf("%v %+v %#v %s", u, u, u, []URL{u}))
		}
		out = append(out, Redact(in))
		for _, o := range out {
			if strings.Contains(o, "ter2") {
				t.Errorf("%q: password shown in %q", in, o)
			}
		}
	}
	u, _ := Parse("zk://u:p@ss@h:2181/healer")
	if got := u.Redacted(); got != "zk://u:xxxxx@h:2181/healer" {
		t.Errorf("Redacted = %q", got)
	}
}

func TestWithDefaultPath(t *testing.T) {
	for in, want := range map[string]string{
		"zk://h:2181":         "zk://h:2181/healer",
		"zk://u:p@h:2181":     "zk://u:p@h:2181/healer",
		"zk://h:2181/":        "zk://h:2181/",
		"zk://h:2181/x":       "zk://h:2181/x",
		"h:2181":              "h:2181",
		"zk://h:1,h2:2/a/b/c": "zk://h:1,h2:2/a/b/c",
	} {
		if got := WithDefaultPath(in, "/healer"); got != want {
			t.Errorf("WithDefaultPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParse: Parse never panics; an accepted URL formats (WithPassword) to a
// string that parses back to the same URL; its redacted forms and any error
// never contain the password.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"zk://zk1:2181,zk2:2181/mesos", "zk://u:p@ss@h:2181/healer", "zk://h:2181/", "zk://h:2181", "zk://[::1]:2181/x",
		"zk://u:pw@h/x", "zk:///x", "http://h:1/x", "zk://h:2181/a/../b", "zk://u:a:b@h:1/x/", "zk://h:2181/a@b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := Parse(s)
		if err != nil {
			if u.Password != "" || len(u.Servers) != 0 {
				t.Fatalf("%q: error %v with a non-zero URL", s, err)
			}
			return
		}
		again, err := Parse(u.WithPassword())
		if err != nil {
			t.Fatalf("%q: formatted %q does not parse: %v", s, u.WithPassword(), err)
		}
		if !reflect.DeepEqual(u, again) {
			t.Fatalf("%q: round trip %#v != %#v", s, u, again)
		}
		if u.Password != "" {
			// The redacted form is the same URL with the password replaced...
			r, err := Parse(u.Redacted())
			hidden := u
			hidden.Password = redactedPassword
			if err != nil || !reflect.DeepEqual(r, hidden) {
				t.Fatalf("%q: redacted %q reads back as %#v, %v", s, u.Redacted(), r, err)
			}
			// ...and holds the password nowhere, unless the password is a
			// piece of the parts it does show.
			shown := strings.Join(append([]string{Scheme, u.User, redactedPassword + "@:,/", u.Path, `zkurl.URL("")`}, u.Servers...), " ")
			if !strings.Contains(shown, u.Password) {
				for _, o := range []string{u.Redacted(), u.String(), fmt.Sprintf("%v %+v %#v", u, u, u), Redact(s)} {
					if strings.Contains(o, u.Password) {
						t.Fatalf("%q: password %q shown in %q", s, u.Password, o)
					}
				}
			}
		}
		if u.Path == "" || u.Path == "/" || !strings.HasPrefix(u.Path, "/") || strings.HasSuffix(u.Path, "/") || len(u.Servers) == 0 {
			t.Fatalf("%q: accepted %#v", s, u)
		}
	})
}

func TestAncestors(t *testing.T) {
	for in, want := range map[string][]string{
		"/a/b/c": {"/a", "/a/b"},
		"/a":     nil,
		"/":      nil,
	} {
		if got := Ancestors(in); !reflect.DeepEqual(got, want) {
			t.Errorf("Ancestors(%q) = %q, want %q", in, got, want)
		}
	}
}
