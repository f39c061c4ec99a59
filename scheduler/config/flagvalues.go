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

// parsedValue is a flag.Value whose Set parses with parse and whose String
// prints with format.
type parsedValue[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v *parsedValue[T]) String() string { return v.format(*v.p) }
func (v *parsedValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func intValue(p *int) *parsedValue[int] {
	return &parsedValue[int]{p, func(s string) (int, error) {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return 0, fmt.Errorf("invalid integer %q", s)
		}
		return n, nil
	}, strconv.Itoa}
}

func floatValue(p *float64) *parsedValue[float64] {
	return &parsedValue[float64]{p, func(s string) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("invalid number %q", s)
		}
		return f, nil
	}, func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }}
}

func durationValue(p *time.Duration) *parsedValue[time.Duration] {
	return &parsedValue[time.Duration]{p, ParseDuration, time.Duration.String}
}

func thresholdValue(p *Threshold) *parsedValue[Threshold] {
	return &parsedValue[Threshold]{p, ParseThreshold, Threshold.String}
}

func modeValue(p *Mode) *parsedValue[Mode] { return &parsedValue[Mode]{p, ParseMode, Mode.String} }

func isolationValue(p *Isolation) *parsedValue[Isolation] {
	return &parsedValue[Isolation]{p, ParseIsolation, formatIsolation}
}

func repairSetValue(p *[]Repair) *parsedValue[[]Repair] {
	return &parsedValue[[]Repair]{p, ParseRepairSet, FormatRepairSet}
}

func repairOrderValue(p *[]Step) *parsedValue[[]Step] {
	return &parsedValue[[]Step]{p, ParseRepairOrder, FormatRepairOrder}
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
