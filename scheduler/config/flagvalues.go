package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// flag.Value implementations bound to Config fields. Each Set parses with the
// same function the file and the environment use, and each String prints a
// form Set accepts again.

type stringValue struct{ p *string }

func (v *stringValue) String() string     { return *v.p }
func (v *stringValue) Set(s string) error { *v.p = strings.TrimSpace(s); return nil }

type boolValue struct{ p *bool }

func (v *boolValue) String() string   { return strconv.FormatBool(*v.p) }
func (v *boolValue) IsBoolFlag() bool { return true }
func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid boolean %q (want true or false)", s)
	}
	*v.p = b
	return nil
}

type intValue struct{ p *int }

func (v *intValue) String() string { return strconv.Itoa(*v.p) }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid integer %q", s)
	}
	*v.p = n
	return nil
}

type floatValue struct{ p *float64 }

func (v *floatValue) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }
func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("invalid number %q", s)
	}
	*v.p = f
	return nil
}

type durationValue struct{ p *time.Duration }

func (v *durationValue) String() string { return v.p.String() }
func (v *durationValue) Set(s string) error {
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

type thresholdValue struct{ p *Threshold }

func (v *thresholdValue) String() string { return v.p.String() }
func (v *thresholdValue) Set(s string) error {
	t, err := ParseThreshold(s)
	if err != nil {
		return err
	}
	*v.p = t
	return nil
}

type modeValue struct{ p *Mode }

func (v *modeValue) String() string { return v.p.String() }
func (v *modeValue) Set(s string) error {
	m, err := ParseMode(s)
	if err != nil {
		return err
	}
	*v.p = m
	return nil
}

type isolationValue struct{ p *Isolation }

func (v *isolationValue) String() string { return formatIsolation(*v.p) }
func (v *isolationValue) Set(s string) error {
	i, err := ParseIsolation(s)
	if err != nil {
		return err
	}
	*v.p = i
	return nil
}

type choiceValue struct {
	p       *string
	choices []string
}

func (v *choiceValue) String() string { return *v.p }
func (v *choiceValue) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, c := range v.choices {
		if t == c {
			*v.p = t
			return nil
		}
	}
	return fmt.Errorf("invalid value %q (want %s)", s, strings.Join(v.choices, " or "))
}

type repairSetValue struct{ p *[]Repair }

func (v *repairSetValue) String() string { return FormatRepairSet(*v.p) }
func (v *repairSetValue) Set(s string) error {
	rs, err := ParseRepairSet(s)
	if err != nil {
		return err
	}
	*v.p = rs
	return nil
}

type repairOrderValue struct{ p *[]Step }

func (v *repairOrderValue) String() string { return FormatRepairOrder(*v.p) }
func (v *repairOrderValue) Set(s string) error {
	steps, err := ParseRepairOrder(s)
	if err != nil {
		return err
	}
	*v.p = steps
	return nil
}
