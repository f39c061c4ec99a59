// Package mesosduration reads and writes durations the way Mesos' flags and
// environment do (stout's Duration: "5secs", "15mins", "1.5hrs", "2weeks"),
// and also accepts Go's forms ("5s", "1h30m"), since operators type both.
package mesosduration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// units are stout's Duration units, largest first. No name is a suffix of
// another, so Parse may try them in any order.
var units = []struct {
	size time.Duration
	name string
}{
	{7 * 24 * time.Hour, "weeks"},
	{24 * time.Hour, "days"},
	{time.Hour, "hrs"},
	{time.Minute, "mins"},
	{time.Second, "secs"},
	{time.Millisecond, "ms"},
	{time.Microsecond, "us"},
	{time.Nanosecond, "ns"},
}

// Parse accepts a Go duration ("10m", "1h30m", "500ms", "0") or a Mesos one:
// a decimal number and one of stout's units, ns, us, ms, secs, mins, hrs,
// days, weeks ("10mins", "5secs", "1.5hrs"). Negative durations are
// rejected: no Mesos or healer knob means anything with a negative time.
func Parse(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration (want e.g. 10m or 10mins)")
	}
	if d, err := time.ParseDuration(t); err == nil {
		if d < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return d, nil
	}
	for _, u := range units {
		num, ok := strings.CutSuffix(t, u.name)
		if !ok {
			continue
		}
		// Plain decimals only: no exponents, hex, infinities, NaN or
		// digit separators that ParseFloat would otherwise take.
		if num == "" || strings.ContainsAny(num, "eEnNiIxXpP_+") {
			break
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			break
		}
		if f < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		d := f * float64(u.size)
		if d >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("invalid duration %q (want a Go duration such as 90s, 10m, 1h30m, or a Mesos one such as 10mins, 5secs, 1days)", s)
}

// Format writes d as stout's Duration does, in the largest unit not
// exceeding it with full precision: "5secs", "1.5secs", "15mins", "0ns".
// It is the form Mesos puts in its executors' environment
// (MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD and the like). Parse reads it back.
func Format(d time.Duration) string {
	for _, u := range units[:len(units)-1] {
		if d >= u.size {
			return strconv.FormatFloat(float64(d)/float64(u.size), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// Value is a flag.Value holding a duration that Parse reads and Format
// writes, so a flag.FlagSet takes Mesos' forms as well as Go's.
type Value struct{ D *time.Duration }

// String implements flag.Value.
func (v Value) String() string {
	if v.D == nil {
		return ""
	}
	return Format(*v.D)
}

// Set implements flag.Value.
func (v Value) Set(s string) error {
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*v.D = d
	return nil
}
