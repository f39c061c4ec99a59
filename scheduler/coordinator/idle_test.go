package coordinator

import (
	"reflect"
	"testing"
	"time"
)

// An idle record holds every field of an AgentRecord but its Incident and
// Killing: a field added to AgentRecord and forgotten in idleRecord would
// be lost whenever an agent goes idle.
func TestIdleRecordKeepsEveryField(t *testing.T) {
	full, idleT := reflect.TypeFor[AgentRecord](), reflect.TypeFor[idleRecord]()
	var r AgentRecord
	v := reflect.ValueOf(&r).Elem()
	for i := range full.NumField() {
		f := full.Field(i)
		if f.Name == "Incident" || f.Name == "Killing" {
			continue
		}
		g, ok := idleT.FieldByName(f.Name)
		if !ok || g.Type != f.Type {
			t.Errorf("idleRecord lacks %s %s", f.Name, f.Type)
			continue
		}
		// A value that is not the zero value, for the round trip.
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("x" + f.Name)
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Int, reflect.Int64:
			fv.SetInt(int64(i + 1))
		case reflect.Uint64, reflect.Uint8, reflect.Uint32:
			fv.SetUint(uint64(i + 1))
		case reflect.Slice:
			fv.Set(reflect.ValueOf([]Attempt{{ID: 7, Action: "restart"}}))
		case reflect.Struct:
			if f.Type == reflect.TypeFor[time.Time]() {
				fv.Set(reflect.ValueOf(time.Unix(int64(1e9+i), 0)))
				continue
			}
			t.Errorf("field %s of type %s: extend this test", f.Name, f.Type)
		default:
			t.Errorf("field %s of kind %s: extend this test", f.Name, fv.Kind())
		}
	}
	if idleT.NumField() != full.NumField()-2 {
		t.Errorf("idleRecord has %d fields, AgentRecord %d: want all but Incident and Killing", idleT.NumField(), full.NumField())
	}
	i := idleOf(&r)
	if got := i.record(); !reflect.DeepEqual(got, r) {
		t.Errorf("round trip through idleRecord:\n got %+v\nwant %+v", got, r)
	}
	if !idle(&r) {
		t.Error("a record without incident or kill is not idle")
	}
	r.Incident.ID = 1
	if idle(&r) {
		t.Error("a record with an incident is idle")
	}
}
