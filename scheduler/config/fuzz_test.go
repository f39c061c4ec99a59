package config

import (
	"io/fs"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// The fuzz targets hold the parsers to two properties: they never panic, and
// whatever they accept prints back to a form they accept again with the same
// meaning. Seeds live in testdata/fuzz/<Target>/ as `go test -fuzz` keeps
// them; `make fuzz` runs each target briefly.

func FuzzParseRepairSet(f *testing.F) {
	for _, s := range []string{"", "reboot=/sbin/reboot", "a=/a,b=systemctl restart mesos-agent", "a=/a,a=/b", "isolate=/x", "=x", "a==b", " a = /a , b=/b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRepairSet(s)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range rs {
			if err := checkRepair(r.ID, r.Command); err != nil {
				t.Fatalf("accepted an invalid entry %+v: %v", r, err)
			}
			if seen[r.ID] {
				t.Fatalf("accepted a duplicate id %q", r.ID)
			}
			seen[r.ID] = true
		}
		again, err := ParseRepairSet(FormatRepairSet(rs))
		if err != nil {
			t.Fatalf("%q: formatted %q does not parse: %v", s, FormatRepairSet(rs), err)
		}
		if !reflect.DeepEqual(rs, again) {
			t.Fatalf("%q: round trip %+v != %+v", s, rs, again)
		}
	})
}

func FuzzParseRepairOrder(f *testing.F) {
	for _, s := range []string{"", "restart:slave,reboot:agent,isolate:master", "isolate", "a:SLAVE", "a:rack", "a", "a:slave,a:master", ":master", "isolate:slave"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := ParseRepairOrder(s)
		if err != nil {
			return
		}
		for _, st := range steps {
			if st.Scope != ScopeAgent && st.Scope != ScopeMaster {
				t.Fatalf("accepted scope %q", st.Scope)
			}
			if err := checkID(st.Action); err != nil {
				t.Fatalf("accepted id %q: %v", st.Action, err)
			}
		}
		again, err := ParseRepairOrder(FormatRepairOrder(steps))
		if err != nil || !reflect.DeepEqual(steps, again) {
			t.Fatalf("%q: round trip via %q: %+v, %v", s, FormatRepairOrder(steps), again, err)
		}
	})
}

func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"",
		"num_allowed_repairs: 2\nmode: dry-run\n",
		"repair_set:\n  reboot: /sbin/reboot\nrepair_order:\n  - {action: reboot, scope: slave, timeout: 10mins, drain: true}\n  - isolate\n",
		"ladders:\n  disk_full: [isolate]\nzone_caps: {a: 1}\n",
		`{"master": "m:5050", "repair_order": "isolate", "probation": "5m"}`,
		"probation: 7800weeks\noffer_timeout: 365days\nrepair_order: [{action: isolate, timeout: 2562047hrs}]\n",
		"a: &x 1\nb: *x\n",
		"probaton: 5m\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseFile("fuzz.yaml", data)
		if err != nil {
			return
		}
		c.finalize()
		_ = c.Validate() // must not panic, whatever it says.
		out, err := c.MarshalFile()
		if err != nil {
			t.Fatalf("accepted file does not marshal: %v", err)
		}
		c2, err := ParseFile("again.yaml", out)
		if err != nil {
			t.Fatalf("marshalled file does not parse: %v\n%s", err, out)
		}
		c2.finalize()
		// MarshalFile hides ZooKeeper passwords.
		c.ZK, c.Master = redactValue("zk", c.ZK), redactValue("master", c.Master)
		c.origin, c2.origin, c.raw, c2.raw, c.file, c2.file = nil, nil, nil, nil, "", ""
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", c, c2, out)
		}
	})
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"20%", "25", " 5 % ", "0", "100%", "101%", "-1", "1e3", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		if th.IsPercent && (th.Percent < 1 || th.Percent > 100) || !th.IsPercent && th.Count < 1 {
			t.Fatalf("%q: accepted %+v", s, th)
		}
		if again, err := ParseThreshold(th.String()); err != nil || again != th {
			t.Fatalf("%q: %v does not round-trip: %+v, %v", s, th, again, err)
		}
	})
}

// FuzzLoad: arguments and environment are newline-separated lists; the
// config file (any path) holds file. Load never panics, and a Config it
// returns without error converts to a Policy the coordinator accepts.
func FuzzLoad(f *testing.F) {
	f.Add("--master=m:5050", "", "")
	f.Add("--master=m:5050\n--config=/c.yaml", "HEALER_MODE=execute", "num_allowed_repairs: 2\nrepair_set: {a: /a}\nrepair_order: [a:slave, isolate]\n")
	f.Add("--mode=foo\n--probation=x\n-h", "HEALER_HELP=1", "")
	f.Add("--master=zk://u:p@ss@h:2181/mesos\n--zk=zk://h:2181\n--principal=p\n--secret_file=/s", "HEALER_MAX_UNHEALTHY=3", "")
	f.Add("--config=/c.yaml\n--", "", "master: m:1\nladders:\n  x: [isolate]\nzone_caps: {a: 1}\nmax_unhealthy: 50%\n")
	f.Add("--master=m:5050\n--probation=7800weeks\n--offer_timeout=365days", "HEALER_DRAIN_TIMEOUT=52.2weeks", "")
	f.Add("--config=/c.json", "HEALER_RESET_AFTER=8760h0m0.000000001s", `{"master": "m:1", "repair_set": {"a": "/a"}, "repair_order": [{"action": "a", "scope": "agent", "timeout": "366days"}, "isolate"], "step_timeout": "1weeks"}`)
	f.Fuzz(func(t *testing.T, args, environ, file string) {
		read := func(path string) ([]byte, fs.FileMode, error) {
			if path == "/s" {
				return []byte("secret"), 0o600, nil
			}
			return []byte(file), 0o600, nil
		}
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, "\n")
		}
		c, err := load(split(args), split(environ), read)
		if err != nil {
			return
		}
		p, err := c.Policy()
		if err != nil {
			t.Fatalf("Load accepted a configuration the coordinator refuses: %v", err)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("policy invalid: %v", err)
		}
		// Durations are bounded, so no deadline the coordinator derives
		// from them can overflow.
		durations := []time.Duration{p.MinSpacing, p.Probation, p.ResetAfter, p.OfferTimeout, p.DrainTimeout, p.DefaultStepTimeout}
		for _, l := range append([]coordinator.Ladder{p.DefaultLadder}, slices.Collect(maps.Values(p.Ladders))...) {
			for _, s := range l {
				durations = append(durations, s.Timeout)
			}
		}
		for _, d := range durations {
			if d < 0 || d > coordinator.MaxDuration {
				t.Fatalf("Load accepted a duration of %v (bound %v): %+v", d, coordinator.MaxDuration, p)
			}
		}
	})
}
