package mesosduration

import (
	"flag"
	"math"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"1s", time.Second},
		{"1h30m", 90 * time.Minute},
		{"500ms", 500 * time.Millisecond},
		{"5secs", 5 * time.Second},
		{" 15mins ", 15 * time.Minute},
		{"1.5hrs", 90 * time.Minute},
		{"1days", 24 * time.Hour},
		{"2weeks", 14 * 24 * time.Hour},
		{"250us", 250 * time.Microsecond},
		{"7ns", 7},
		{"0secs", 0},
		{".5secs", 500 * time.Millisecond},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", " ", "5", "secs", "5sec", "5 secs", "-1s", "-5secs", "1e3secs",
		"0x10secs", "Infsecs", "NaNsecs", "1_000secs", "+5secs", "5minutes",
		"100000000weeks",
	} {
		if d, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v; want an error", in, d)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0ns",
		7:                       "7ns",
		1500 * time.Nanosecond:  "1.5us",
		3 * time.Millisecond:    "3ms",
		5 * time.Second:         "5secs",
		1500 * time.Millisecond: "1.5secs",
		15 * time.Minute:        "15mins",
		90 * time.Minute:        "1.5hrs",
		24 * time.Hour:          "1days",
		14 * 24 * time.Hour:     "2weeks",
		15*time.Minute + 1:      "15.000000000016666mins",
		-5 * time.Second:        "-5000000000ns",
	} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q; want %q", d, got, want)
		}
	}
}

func TestValueFlag(t *testing.T) {
	d := time.Second
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Var(Value{&d}, "timeout", "")
	if err := fs.Parse([]string{"--timeout=15mins"}); err != nil || d != 15*time.Minute {
		t.Fatalf("--timeout=15mins: %v, %v", d, err)
	}
	if err := fs.Parse([]string{"--timeout=2s"}); err != nil || d != 2*time.Second {
		t.Fatalf("--timeout=2s: %v, %v", d, err)
	}
	if err := fs.Parse([]string{"--timeout=soon"}); err == nil {
		t.Fatal("--timeout=soon accepted")
	}
	if got := fs.Lookup("timeout").DefValue; got != "1secs" {
		t.Fatalf("default shown as %q; want 1secs", got)
	}
}

// FuzzParse: Parse never panics, never returns a negative duration, and
// whatever it accepts, Format writes in a form Parse reads back to the same
// duration (within float64 precision).
func FuzzParse(f *testing.F) {
	for _, s := range []string{"5secs", "1.5hrs", "10m", "0", "2weeks", "1e3secs", "-1s", "9999999999weeks", ".5ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("Parse(%q) = %v: negative", s, d)
		}
		if again, err := Parse(d.String()); err != nil || again != d {
			t.Fatalf("Parse(%q) = %v does not round-trip through Go's form: %v, %v", s, d, again, err)
		}
		out := Format(d)
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Format(%v) = %q): %v", d, out, err)
		}
		if diff := math.Abs(float64(back - d)); diff > 1+float64(d)*1e-15 {
			t.Fatalf("Parse(Format(%v) = %q) = %v", d, out, back)
		}
	})
}
