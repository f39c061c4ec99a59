package mesosjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func TestMarshal(t *testing.T) {
	decline := declineCall()
	decline.Decline.Filters = &mesos.Filters{} // refuse_seconds left unset
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{{
		name: "SUBSCRIBE writes failover_timeout and checkpoint defaults but not deprecated role",
		msg:  subscribeCall(),
		want: `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"healer","failover_timeout":0.0,"checkpoint":false}}}`,
	}, {
		name: "DECLINE writes the refuse_seconds default",
		msg:  decline,
		want: `{"framework_id":{"value":"fw-1"},"type":"DECLINE","decline":{"offer_ids":[{"value":"o-1"}],"filters":{"refuse_seconds":5.0}}}`,
	}, {
		name: "ACCEPT with LAUNCH: enums as names, shell default, no HTML escaping",
		msg:  acceptLaunchCall(),
		want: `{"framework_id":{"value":"fw-1"},"type":"ACCEPT","accept":{"offer_ids":[{"value":"o-1"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"repair","task_id":{"value":"t-1"},"agent_id":{"value":"a-1"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.5}}],"command":{"shell":true,"value":"echo <&>"}}]}}],"filters":{"refuse_seconds":1.0}}}`,
	}, {
		name: "SUBSCRIBED names QUOTA_V2 from the supplementary table",
		msg:  subscribedEvent(masterInfo()),
		want: `{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"fw-1"},"heartbeat_interval_seconds":15.0,"master_info":{"id":"m-1","ip":16777226,"port":5050,"hostname":"m1.example","version":"1.12.0","address":{"hostname":"m1.example","ip":"10.0.0.1","port":5050},"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{"type":"QUOTA_V2"}]}}}`,
	}, {
		name: "required field with a default is written when unset; unnamed enum number as a number",
		msg:  &mesos.MasterInfo{ID: "m", IP: 1, Capabilities: []mesos.MasterInfo_Capability{{Type: 99}}},
		want: `{"id":"m","ip":1,"port":5050,"capabilities":[{"type":99}]}`,
	}, {
		name: "OFFERS",
		msg:  offersEvent(1),
		want: `{"type":"OFFERS","offers":{"offers":[{"id":{"value":"o-0"},"framework_id":{"value":"fw-1"},"agent_id":{"value":"a-0"},"hostname":"a-0.example","domain":{"fault_domain":{"region":{"name":"eu"},"zone":{"name":"z0"}}},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4.0}},{"name":"mem","type":"SCALAR","scalar":{"value":16384.0}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]}}],"attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}]}]}}`,
	}, {
		name: "executor UPDATE: uuid and data as padded base64, timestamp in plain notation",
		msg:  executorUpdateCall(),
		want: `{"executor_id":{"value":"e-1"},"framework_id":{"value":"fw-1"},"type":"UPDATE","update":{"status":{"task_id":{"value":"t-1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","data":"AAEC/w==","timestamp":1700000000.25,"uuid":"Ej5FZ+ibQtOkVkJmFBdAAA=="}}}`,
	}, {
		name: "GET_AGENTS call",
		msg:  &master.Call{Type: master.Call_GET_AGENTS},
		want: `{"type":"GET_AGENTS"}`,
	}, {
		name: "GET_AGENTS response: AgentInfo.port default",
		msg:  getAgentsResponse(),
		want: `{"type":"GET_AGENTS","get_agents":{"agents":[{"agent_info":{"hostname":"a1.example","port":5051,"id":{"value":"a-1"}},"active":true,"version":"1.12.0","pid":"slave(1)@10.0.0.2:5051"}]}}`,
	}, {
		name: "maintenance schedule: int64 nanoseconds as exact JSON numbers",
		msg:  maintenanceScheduleCall(),
		want: `{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[{"machine_ids":[{"hostname":"a1.example","ip":"10.0.0.2"}],"unavailability":{"start":{"nanoseconds":1700000000123456789},"duration":{"nanoseconds":3600000000000}}}]}}}`,
	}, {
		name: "DRAIN_AGENT: google.protobuf.Duration as a message, proto3 zero nanos left out",
		msg:  drainAgentCall(),
		want: `{"type":"DRAIN_AGENT","drain_agent":{"agent_id":{"value":"a-1"},"max_grace_period":{"seconds":600},"mark_gone":false}}`,
	}, {
		name: "map field as an object with sorted keys",
		msg: &mesos.FrameworkInfo{User: "u", Name: "n", OfferFilters: map[string]mesos.OfferFilters{
			"b": {}, "a": {MinAllocatableResources: &mesos.OfferFilters_MinAllocatableResources{}},
		}},
		want: `{"user":"u","name":"n","failover_timeout":0.0,"checkpoint":false,"offer_filters":{"a":{"min_allocatable_resources":{}},"b":{}}}`,
	}, {
		name: "set deprecated field is written; empty repeated left out",
		msg:  &mesos.FrameworkInfo{User: "u", Name: "n", Role: proto.String("*"), Roles: []string{}},
		want: `{"user":"u","name":"n","failover_timeout":0.0,"checkpoint":false,"role":"*"}`,
	}, {
		name: "string escaping",
		msg:  &mesos.TaskID{Value: "q\"b\\n\n\t\x01é\xff"},
		want: `{"value":"q\"b\\n\n\t\u0001é\ufffd"}`,
	}, {
		name: "infinite double", msg: &mesos.Value_Scalar{Value: math.Inf(-1)}, want: `{"value":"-Infinity"}`,
	}, {
		name: "NaN double", msg: &mesos.Value_Scalar{Value: math.NaN()}, want: `{"value":"NaN"}`,
	}, {
		name: "tiny double", msg: &mesos.Value_Scalar{Value: 1e-9}, want: `{"value":1e-09}`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal:\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
}

func TestMarshalRejectsNonMessages(t *testing.T) {
	if _, err := Marshal((*scheduler.Call)(nil)); err == nil {
		t.Error("Marshal of a nil *Call succeeded")
	}
	if err := Unmarshal([]byte(`{}`), (*scheduler.Call)(nil)); err == nil {
		t.Error("Unmarshal into a nil *Call succeeded")
	}
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		into    func() proto.Message
		want    proto.Message // nil when an error is expected
		wantErr string
	}{{
		name: "SUBSCRIBE; unknown keys ignored, null is unset",
		in:   `{"type":"SUBSCRIBE","future_key":{"x":[1]},"framework_id":null,"subscribe":{"framework_info":{"user":"root","name":"healer","hostname":null}}}`,
		into: newSchedCall,
		want: subscribeCall(),
	}, {
		name: "numbers as strings, doubles as Infinity",
		in:   `{"type":"DECLINE","framework_id":{"value":"fw-1"},"decline":{"offer_ids":[{"value":"o-1"}],"filters":{"refuse_seconds":"Infinity"}}}`,
		into: newSchedCall,
		want: withRefuse(declineCall(), math.Inf(1)),
	}, {
		name: "negative infinity and numeric strings",
		in:   `{"type":"DECLINE","framework_id":{"value":"fw-1"},"decline":{"offer_ids":[{"value":"o-1"}],"filters":{"refuse_seconds":"-Infinity"}}}`,
		into: newSchedCall,
		want: withRefuse(declineCall(), math.Inf(-1)),
	}, {
		name: "int64 as a string and as a number stay exact",
		in:   `{"type":"UPDATE_MAINTENANCE_SCHEDULE","update_maintenance_schedule":{"schedule":{"windows":[{"machine_ids":[{"hostname":"a1.example","ip":"10.0.0.2"}],"unavailability":{"start":{"nanoseconds":"1700000000123456789"},"duration":{"nanoseconds":3600000000000}}}]}}}`,
		into: newMasterCall,
		want: maintenanceScheduleCall(),
	}, {
		name: "bytes from base64; unknown enum in an optional field dropped",
		in:   `{"executor_id":{"value":"e-1"},"framework_id":{"value":"fw-1"},"type":"UPDATE","update":{"status":{"task_id":{"value":"t-1"},"state":"TASK_RUNNING","source":"SOURCE_FUTURE","data":"AAEC/w==","timestamp":1700000000.25,"uuid":"Ej5FZ+ibQtOkVkJmFBdAAA=="}}}`,
		into: newExecCall,
		want: withoutSource(executorUpdateCall()),
	}, {
		name: "QUOTA_V2 is a known name on input too",
		in:   `{"id":"m","ip":1,"port":"5050","capabilities":[{"type":"QUOTA_V2"},{"type":"NEWER_CAP"}]}`,
		into: func() proto.Message { return &mesos.MasterInfo{} },
		want: &mesos.MasterInfo{ID: "m", IP: 1, Port: proto.Uint32(5050), Capabilities: []mesos.MasterInfo_Capability{{Type: 3}, {}}},
	}, {
		name: "a single object for a repeated field adds one element, as stout does",
		in:   `{"type":"DECLINE","framework_id":{"value":"fw-1"},"decline":{"offer_ids":{"value":"o-1"}}}`,
		into: newSchedCall,
		want: withFilters(declineCall(), nil),
	}, {
		name: "map field from an object and from key/value entries",
		in:   `{"user":"u","name":"n","offer_filters":{"a":{},"b":null}}`,
		into: func() proto.Message { return &mesos.FrameworkInfo{} },
		want: &mesos.FrameworkInfo{User: "u", Name: "n", OfferFilters: map[string]mesos.OfferFilters{"a": {}, "b": {}}},
	}, {
		name: "map entries as an array",
		in:   `{"user":"u","name":"n","offer_filters":[{"key":"a","value":{}}]}`,
		into: func() proto.Message { return &mesos.FrameworkInfo{} },
		want: &mesos.FrameworkInfo{User: "u", Name: "n", OfferFilters: map[string]mesos.OfferFilters{"a": {}}},
	}, {
		name: "GET_AGENTS response", in: string(mustMarshal(getAgentsResponse())),
		into: func() proto.Message { return &master.Response{} },
		want: withAgentPort(getAgentsResponse()),
	}, {
		name: "integral field takes a fraction, truncated",
		in:   `{"begin":"1","end":2.9}`,
		into: func() proto.Message { return &mesos.Value_Range{} },
		want: &mesos.Value_Range{Begin: 1, End: 2},
	}, {
		name:    "not JSON",
		in:      `{"type":`,
		into:    newSchedCall,
		wantErr: "Failed to parse body into JSON: unexpected EOF",
	}, {
		name:    "empty body",
		in:      ``,
		into:    newSchedCall,
		wantErr: "Failed to parse body into JSON: unexpected end of JSON input",
	}, {
		name:    "trailing garbage",
		in:      `{} {}`,
		into:    newSchedCall,
		wantErr: "Failed to parse body into JSON: invalid character '{' after top-level value",
	}, {
		name:    "not an object",
		in:      `["SUBSCRIBE"]`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Expecting a JSON object",
	}, {
		name:    "missing required fields, dotted paths",
		in:      `{"type":"SUBSCRIBE","subscribe":{"framework_info":{}}}`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Missing required fields: subscribe.framework_info.user, subscribe.framework_info.name",
	}, {
		name:    "missing required fields in repeated messages",
		in:      `{"type":"ACCEPT","accept":{"offer_ids":[{"value":"o"},{}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"x","task_id":{}}]}}]}}`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Missing required fields: accept.offer_ids[1].value, accept.operations[0].launch.task_infos[0].agent_id, accept.operations[0].launch.task_infos[0].task_id.value",
	}, {
		name:    "missing top-level required field of executor.Call",
		in:      `{"type":"MESSAGE","message":{"data":"AA=="}}`,
		into:    newExecCall,
		wantErr: "Failed to convert JSON into Call protobuf: Missing required fields: executor_id, framework_id",
	}, {
		name:    "unknown enum in a required field",
		in:      `{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_FUTURE","uuid":"AA=="}}}`,
		into:    newExecCall,
		wantErr: "Failed to convert JSON into Call protobuf: Failed to find enum for 'TASK_FUTURE'",
	}, {
		name:    "bad base64",
		in:      `{"executor_id":{"value":"e"},"framework_id":{"value":"f"},"type":"MESSAGE","message":{"data":"!!"}}`,
		into:    newExecCall,
		wantErr: "Failed to convert JSON into Call protobuf: Failed to base64 decode bytes field 'data': illegal base64 data at input byte 0",
	}, {
		name:    "string where an object is expected",
		in:      `{"type":"SUBSCRIBE","subscribe":"yes"}`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'subscribe'",
	}, {
		name:    "array for a singular field",
		in:      `{"type":["SUBSCRIBE"]}`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Not expecting a JSON array for field 'type'",
	}, {
		name:    "object for a scalar",
		in:      `{"type":{}}`,
		into:    newMasterCall,
		wantErr: "Failed to convert JSON into Call protobuf: Not expecting a JSON object for field 'type'",
	}, {
		name:    "number for an enum",
		in:      `{"type":1}`,
		into:    newMasterCall,
		wantErr: "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'",
	}, {
		name:    "boolean for a string",
		in:      `{"framework_id":{"value":true}}`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Not expecting a JSON boolean for field 'value'",
	}, {
		name:    "number out of range",
		in:      `{"id":"m","ip":-1,"port":5050}`,
		into:    func() proto.Message { return &mesos.MasterInfo{} },
		wantErr: "Failed to convert JSON into MasterInfo protobuf: Value '-1' is invalid for field 'ip': value out of range",
	}, {
		name:    "first error in sorted key order, as stout iterates",
		in:      `{"z":1,"type":{},"framework_id":"x"}`,
		into:    newSchedCall,
		wantErr: "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'framework_id'",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.into()
			err := Unmarshal([]byte(tt.in), m)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Unmarshal error:\n got %v\nwant %s", err, tt.wantErr)
				}
				if !proto.Equal(m, tt.into()) {
					t.Errorf("Unmarshal changed the target on error: %v", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(m, tt.want) {
				t.Errorf("Unmarshal:\n got %v\nwant %v", m, tt.want)
			}
		})
	}
}

func TestUnmarshalReplacesContents(t *testing.T) {
	c := declineCall()
	if err := Unmarshal([]byte(`{"type":"REVIVE"}`), c); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(c, &scheduler.Call{Type: scheduler.Call_REVIVE}) {
		t.Errorf("got %v, want only type REVIVE", c)
	}
}

var registerRuns atomic.Int32

func TestRegisterEnumName(t *testing.T) {
	const enum = "mesos.TaskState"
	// A number no earlier run of this test (go test -count=N) registered:
	// registrations are process-wide.
	future := 1000 + registerRuns.Add(1)
	m := &mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t"}, State: mesos.TaskState(future).Enum()}
	before, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(before, []byte(fmt.Sprintf(`"state":%d`, future))) {
		t.Fatalf("unnamed number not written as a number: %s", before)
	}
	// Concurrent registration and use must be race-free.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := Marshal(m); err != nil {
				t.Error(err)
			}
		}()
	}
	name := fmt.Sprintf("TASK_FROM_THE_FUTURE_%d", future)
	RegisterEnumName(enum, future, name)
	wg.Wait()
	after, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(after, []byte(`"state":"`+name+`"`)) {
		t.Fatalf("registered name not used: %s", after)
	}
	var back mesos.TaskStatus
	if err := Unmarshal(after, &back); err != nil {
		t.Fatal(err)
	}
	if back.GetState() != mesos.TaskState(future) {
		t.Errorf("registered name read back as %d, want %d", back.GetState(), future)
	}
}

// TestRoundTrip: for messages built by mesos-go's own generators,
// Unmarshal(Marshal(m)) equals m once m carries the defaults Marshal
// writes for unset fields, and a second Marshal gives the same bytes.
func TestRoundTrip(t *testing.T) {
	gens := map[string]func(r *rand.Rand) proto.Message{
		"scheduler.Call":  func(r *rand.Rand) proto.Message { return scheduler.NewPopulatedCall(r, false) },
		"scheduler.Event": func(r *rand.Rand) proto.Message { return scheduler.NewPopulatedEvent(r, false) },
		"executor.Call":   func(r *rand.Rand) proto.Message { return executor.NewPopulatedCall(r, false) },
		"executor.Event":  func(r *rand.Rand) proto.Message { return executor.NewPopulatedEvent(r, false) },
		"master.Call":     func(r *rand.Rand) proto.Message { return master.NewPopulatedCall(r, false) },
		"master.Response": func(r *rand.Rand) proto.Message { return master.NewPopulatedResponse(r, false) },
		"master.Event":    func(r *rand.Rand) proto.Message { return master.NewPopulatedEvent(r, false) },
		"TaskInfo":        func(r *rand.Rand) proto.Message { return mesos.NewPopulatedTaskInfo(r, false) },
		"FrameworkInfo":   func(r *rand.Rand) proto.Message { return mesos.NewPopulatedFrameworkInfo(r, false) },
	}
	fixed := []proto.Message{subscribeCall(), declineCall(), acceptLaunchCall(), subscribedEvent(masterInfo()),
		offersEvent(3), executorUpdateCall(), getAgentsResponse(), maintenanceScheduleCall(), drainAgentCall()}
	for _, m := range fixed {
		checkRoundTrip(t, m)
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewSource(1))
			for i := 0; i < 4; i++ {
				checkRoundTrip(t, gen(r))
			}
		})
	}
}

func checkRoundTrip(t *testing.T, m proto.Message) {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatalf("Marshal(%T): %v", m, err)
	}
	back := reflect.New(reflect.TypeOf(m).Elem()).Interface().(proto.Message)
	if err := Unmarshal(b, back); err != nil {
		t.Fatalf("Unmarshal(Marshal(%T)): %v\n%s", m, err, b)
	}
	want := proto.Clone(m)
	applyDefaults(reflect.ValueOf(want).Elem())
	if !proto.Equal(back, want) {
		t.Fatalf("%T round trip differs:\n got %v\nwant %v\njson %s", m, back, want, b)
	}
	again, err := Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("%T: second Marshal differs:\n%s\n%s", m, b, again)
	}
}

// applyDefaults sets every unset field that Marshal writes with its default,
// so a message can be compared with what Unmarshal(Marshal(m)) gives.
func applyDefaults(v reflect.Value) {
	mi, err := infoFor(v.Type())
	if err != nil {
		panic(err)
	}
	for _, f := range mi.fields {
		fv := v.Field(f.index)
		switch {
		case f.isMap:
			for _, k := range fv.MapKeys() {
				if f.val.kind == kindMessage {
					e := reflect.New(fv.Type().Elem()).Elem()
					e.Set(fv.MapIndex(k))
					applyDefaults(e)
					fv.SetMapIndex(k, e)
				}
			}
		case f.kind == kindMessage && f.repeated:
			for i := 0; i < fv.Len(); i++ {
				e := fv.Index(i)
				if f.elemPointer {
					e = e.Elem()
				}
				applyDefaults(e)
			}
		case f.kind == kindMessage:
			if f.pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			applyDefaults(fv)
		case f.writeDefault && f.pointer && fv.IsNil():
			b, err := appendDefault(nil, f)
			if err != nil {
				panic(err)
			}
			ptr := reflect.New(fv.Type().Elem())
			fv.Set(ptr)
			jv, err := parseJSON(b)
			if err != nil {
				panic(err)
			}
			tmp := &presence{mi: mi, set: make([]bool, len(mi.fields)), subs: make([][]*presence, len(mi.fields))}
			if err := decodeField(tmp, f, fv, jv); err != nil {
				panic(err)
			}
		}
	}
}

// TestMesosGoJSONDecodesOutput: mesos-go's JSON codec (ffjson behind
// encoding/json) reads what the emulator writes, so JSON-codec clients work
// against it — except for names newer than mesos-go, where it fails just as
// it does against a real Mesos 1.12 master (mesos-protocol.md 8.4).
func TestMesosGoJSONDecodesOutput(t *testing.T) {
	known := masterInfo()
	known.Capabilities = known.Capabilities[:2]
	for _, m := range []proto.Message{
		subscribeCall(), declineCall(), acceptLaunchCall(), subscribedEvent(known), offersEvent(3),
		executorUpdateCall(), getAgentsResponse(), maintenanceScheduleCall(),
	} {
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(proto.Message)
		if err := json.Unmarshal(b, got); err != nil {
			t.Fatalf("mesos-go cannot decode %T: %v\n%s", m, err, b)
		}
		want := proto.Clone(m)
		applyDefaults(reflect.ValueOf(want).Elem())
		if !proto.Equal(got, want) {
			t.Errorf("mesos-go decodes %T differently:\n got %v\nwant %v", m, got, want)
		}
	}

	b, err := Marshal(subscribedEvent(masterInfo()))
	if err != nil {
		t.Fatal(err)
	}
	var ev scheduler.Event
	err = json.Unmarshal(b, &ev)
	const want = `unrecognized enum MasterInfo_Capability_Type value "QUOTA_V2"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("mesos-go decoding SUBSCRIBED with QUOTA_V2: got error %v, want one containing %s", err, want)
	}
}

func FuzzUnmarshalCall(f *testing.F) {
	for _, m := range []proto.Message{subscribeCall(), declineCall(), acceptLaunchCall(),
		executorUpdateCall(), maintenanceScheduleCall(), drainAgentCall(), &master.Call{Type: master.Call_GET_AGENTS}} {
		f.Add(mustMarshal(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []proto.Message{&scheduler.Call{}, &executor.Call{}, &master.Call{}} {
			if err := Unmarshal(data, m); err != nil {
				if !strings.HasPrefix(err.Error(), "Failed to parse body into JSON: ") &&
					!strings.HasPrefix(err.Error(), "Failed to convert JSON into Call protobuf: ") {
					t.Fatalf("error not worded as Mesos words it: %v", err)
				}
				continue
			}
			// Whatever is accepted re-encodes, and is stable from then on.
			b, err := Marshal(m)
			if err != nil {
				t.Fatalf("Marshal of accepted %T: %v", m, err)
			}
			back := reflect.New(reflect.TypeOf(m).Elem()).Interface().(proto.Message)
			if err := Unmarshal(b, back); err != nil {
				t.Fatalf("re-Unmarshal of %s: %v", b, err)
			}
			again, err := Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("unstable encoding:\n%s\n%s", b, again)
			}
		}
	})
}

func BenchmarkMarshalOffers100(b *testing.B) {
	ev := offersEvent(100)
	out, err := Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func newSchedCall() proto.Message  { return &scheduler.Call{} }
func newExecCall() proto.Message   { return &executor.Call{} }
func newMasterCall() proto.Message { return &master.Call{} }

func mustMarshal(m proto.Message) []byte {
	b, err := Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("Marshal(%T): %v", m, err))
	}
	return b
}

func withRefuse(c *scheduler.Call, s float64) *scheduler.Call {
	c.Decline.Filters = &mesos.Filters{RefuseSeconds: proto.Float64(s)}
	return c
}

func withFilters(c *scheduler.Call, f *mesos.Filters) *scheduler.Call {
	c.Decline.Filters = f
	return c
}

func withoutSource(c *executor.Call) *executor.Call {
	c.Update.Status.Source = nil
	return c
}

func withAgentPort(r *master.Response) *master.Response {
	r.GetAgents.Agents[0].AgentInfo.Port = proto.Int32(5051)
	return r
}
