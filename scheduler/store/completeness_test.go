package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestFixturesAreFull walks coordinator.AgentRecord and GlobalRecord
// recursively and fails if any field of fullAgent or fullGlobal is zero.
//
// Its purpose: a field added to the coordinator's records must be persisted,
// or Restore silently forgets it. The new field is zero in the fixtures
// until someone sets it there, which fails this test; once it is set,
// TestAgentRoundTripFull / TestGlobalRoundTripFull fail until codec.go (and
// proto/healer.proto) carry it. Extend the fixture, the proto, the codec and
// the rapid generators together.
func TestFixturesAreFull(t *testing.T) {
	for _, p := range notFull("AgentRecord", reflect.ValueOf(fullAgent())) {
		t.Error(p)
	}
	for _, p := range notFull("GlobalRecord", reflect.ValueOf(fullGlobal())) {
		t.Error(p)
	}
}

var timeType = reflect.TypeOf(time.Time{})

// notFull lists the fields of v that are zero (or that the walk cannot
// judge), by path.
func notFull(path string, v reflect.Value) []string {
	switch {
	case v.Type() == timeType:
		if v.Interface().(time.Time).IsZero() {
			return []string{path + " is the zero time in the fully populated fixture"}
		}
		return nil
	case v.Kind() == reflect.Struct:
		var out []string
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				out = append(out, path+"."+f.Name+" is unexported: the store cannot persist it")
				continue
			}
			out = append(out, notFull(path+"."+f.Name, v.Field(i))...)
		}
		return out
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return []string{path + " is empty in the fully populated fixture"}
		}
		var out []string
		for i := 0; i < v.Len(); i++ {
			out = append(out, notFull(fmt.Sprintf("%s[%d]", path, i), v.Index(i))...)
		}
		return out
	case v.Kind() == reflect.Map || v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface:
		return []string{fmt.Sprintf("%s is a %s: extend notFull and the codec for it", path, v.Kind())}
	case v.IsZero():
		return []string{path + " is zero in the fully populated fixture: set it, and carry it in codec.go and proto/healer.proto"}
	}
	return nil
}

// TestNotFullSeesNestedFields shows the walk reaches nested fields.
func TestNotFullSeesNestedFields(t *testing.T) {
	r := fullAgent()
	r.Incident.Run.Step.Drain = false
	r.History[4].EndedAt = time.Time{}
	got := notFull("AgentRecord", reflect.ValueOf(r))
	want := []string{
		"AgentRecord.Incident.Run.Step.Drain is zero in the fully populated fixture: set it, and carry it in codec.go and proto/healer.proto",
		"AgentRecord.History[4].EndedAt is the zero time in the fully populated fixture",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notFull = %q, want %q", got, want)
	}
}
