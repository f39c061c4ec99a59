package healerpb

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"pgregory.net/rapid"
)

// tb is what the checks need of a *testing.T and a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// listed is what healer reads of one entry of a GET_AGENTS answer.
type listed struct {
	kind, id, hostname, zone, pid string // kind: "agent" or "recovered"
}

// fullView projects mesos-go's decoding of an answer: the reference.
func fullView(r *master.Response) (present bool, out []listed) {
	g := r.GetGetAgents()
	if g == nil {
		return false, nil
	}
	view := func(info mesos.AgentInfo, kind, pid string) listed {
		return listed{kind, info.GetID().GetValue(), info.Hostname, info.GetDomain().GetFaultDomain().GetZone().Name, pid}
	}
	for _, a := range g.Agents {
		out = append(out, view(a.AgentInfo, "agent", a.GetPID()))
	}
	for _, a := range g.RecoveredAgents {
		out = append(out, view(a, "recovered", ""))
	}
	return true, out
}

// leanView projects AgentsResponse's decoding of the same answer.
func leanView(r *AgentsResponse) (present bool, out []listed) {
	g := r.GetAgents
	if g == nil {
		return false, nil
	}
	view := func(info AgentInfo, kind, pid string) listed {
		return listed{kind, info.ID.Value, info.Hostname, info.Domain.FaultDomain.Zone.Name, pid}
	}
	for _, a := range g.Agents {
		out = append(out, view(a.AgentInfo, "agent", a.PID))
	}
	for _, a := range g.RecoveredAgents {
		out = append(out, view(a, "recovered", ""))
	}
	return true, out
}

// agree decodes data both ways. Whenever mesos-go's decoding succeeds,
// AgentsResponse's must too, and read the same ids, hostnames, zones and
// pids. AgentsResponse may accept what mesos-go refuses (a required field
// missing, a malformed field healer does not read).
func agree(t tb, data []byte) {
	t.Helper()
	var lean AgentsResponse
	leanErr := lean.Unmarshal(data)
	var full master.Response
	if err := full.Unmarshal(data); err != nil {
		return
	}
	if leanErr != nil {
		t.Fatalf("mesos-go decodes the answer, AgentsResponse fails: %v", leanErr)
	}
	fp, fv := fullView(&full)
	lp, lv := leanView(&lean)
	if fp != lp || !slices.Equal(fv, lv) {
		t.Fatalf("AgentsResponse reads (list %t) %q\nmesos-go reads        (list %t) %q", lp, lv, fp, fv)
	}
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func ranges(name string, rs ...mesos.Value_Range) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: rs}}
}

// reserved is r reserved for role (a refined, dynamic reservation) and
// allocated to it.
func reserved(r mesos.Resource, role string) mesos.Resource {
	r.Reservations = []mesos.Resource_ReservationInfo{{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto.String(role),
		Principal: proto.String("ops"), Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "owner", Value: proto.String(role)}}}}}
	r.AllocationInfo = &mesos.Resource_AllocationInfo{Role: proto.String(role)}
	return r
}

func zoned(zone string) *mesos.DomainInfo {
	return &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
		Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "eu-west"}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: zone}}}
}

var allCapabilities = []mesos.AgentInfo_Capability{
	{Type: mesos.AgentInfo_Capability_MULTI_ROLE}, {Type: mesos.AgentInfo_Capability_HIERARCHICAL_ROLE},
	{Type: mesos.AgentInfo_Capability_RESERVATION_REFINEMENT}, {Type: mesos.AgentInfo_Capability_RESOURCE_PROVIDER},
	{Type: mesos.AgentInfo_Capability_RESIZE_VOLUME}, {Type: mesos.AgentInfo_Capability_AGENT_OPERATION_FEEDBACK},
	{Type: mesos.AgentInfo_Capability_AGENT_DRAINING}, {Type: mesos.AgentInfo_Capability_TASK_RESOURCE_LIMITS},
}

// unknownFields are fields neither decoder declares, one of each wire
// type (a newer Mesos adds such fields).
var unknownFields = func() [][]byte {
	tag := func(num, wire int) []byte { return proto.EncodeVarint(uint64(num)<<3 | uint64(wire)) }
	group := append(append(tag(904, 3), append(tag(1, 0), 7)...), tag(904, 4)...)
	return [][]byte{
		append(tag(900, 0), proto.EncodeVarint(1<<40)...),
		append(tag(901, 1), 1, 2, 3, 4, 5, 6, 7, 8),
		append(append(tag(902, 2), 5), "hello"...),
		append(tag(903, 5), 1, 2, 3, 4),
		group,
	}
}()

// field encodes a length-delimited field.
func field(num int, body []byte) []byte {
	b := proto.EncodeVarint(uint64(num)<<3 | 2)
	b = append(b, proto.EncodeVarint(uint64(len(body)))...)
	return append(b, body...)
}

func mustMarshal(t tb, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// genAgentInfo draws an AgentInfo: with or without id, domain, hostname,
// resources, attributes.
func genAgentInfo(rt *rapid.T, label string) mesos.AgentInfo {
	info := mesos.AgentInfo{Hostname: rapid.SampledFrom([]string{"", "agent-1", "h.example.com", "ä\x00\xff"}).Draw(rt, label+"_host")}
	if rapid.IntRange(0, 9).Draw(rt, label+"_has_id") > 0 {
		info.ID = &mesos.AgentID{Value: rapid.StringMatching(`[a-z0-9-]{0,12}`).Draw(rt, label+"_id")}
	}
	if rapid.Bool().Draw(rt, label+"_has_domain") {
		info.Domain = zoned(rapid.SampledFrom([]string{"", "a", "eu-west-1b"}).Draw(rt, label+"_zone"))
	}
	if rapid.Bool().Draw(rt, label+"_has_port") {
		info.Port = proto.Int32(5051)
	}
	for i := range rapid.IntRange(0, 12).Draw(rt, label+"_resources") {
		r := scalar(fmt.Sprintf("res%d", i), float64(i)+0.5)
		if i%3 == 0 {
			r = ranges("ports", mesos.Value_Range{Begin: 31000, End: 31999}, mesos.Value_Range{Begin: 33000, End: 33099})
		}
		if i%4 == 1 {
			r = reserved(r, "role-"+fmt.Sprint(i))
		}
		info.Resources = append(info.Resources, r)
	}
	for i := range rapid.IntRange(0, 6).Draw(rt, label+"_attributes") {
		info.Attributes = append(info.Attributes, mesos.Attribute{Name: fmt.Sprintf("attr%d", i), Type: mesos.TEXT,
			Text: &mesos.Value_Text{Value: "value"}})
	}
	return info
}

// genAnswer draws a GET_AGENTS answer and encodes it, unknown fields
// spliced in at every level that healer reads into.
func genAnswer(rt *rapid.T) []byte {
	unknown := func(label string) []byte {
		var out []byte
		for i := range rapid.IntRange(0, 2).Draw(rt, label) {
			out = append(out, unknownFields[(i+len(label))%len(unknownFields)]...)
		}
		return out
	}
	top := mustMarshal(rt, &master.Response{Type: master.Response_GET_AGENTS})
	if rapid.IntRange(0, 9).Draw(rt, "has_list") > 0 {
		var list []byte
		for i := range rapid.IntRange(0, 6).Draw(rt, "agents") {
			l := fmt.Sprint("agent", i)
			a := master.Response_GetAgents_Agent{AgentInfo: genAgentInfo(rt, l), Active: true, Version: "1.12.0"}
			if rapid.IntRange(0, 4).Draw(rt, l+"_has_pid") > 0 {
				a.PID = proto.String(rapid.SampledFrom([]string{"slave(1)@10.0.0.1:5051", "", "x"}).Draw(rt, l+"_pid"))
			}
			if rapid.Bool().Draw(rt, l+"_heavy") {
				a.TotalResources = a.AgentInfo.Resources
				a.AllocatedResources = a.AgentInfo.Resources
				a.OfferedResources = a.AgentInfo.Resources
				a.Capabilities = allCapabilities
				a.RegisteredTime = &mesos.TimeInfo{Nanoseconds: 1}
				a.Deactivated = proto.Bool(false)
			}
			// The AgentInfo is re-encoded with unknown fields in it,
			// then the agent with more after it.
			info := append(mustMarshal(rt, &a.AgentInfo), unknown(l+"_info_unknown")...)
			rest := mustMarshal(rt, &master.Response_GetAgents_Agent{Active: a.Active, Version: a.Version, PID: a.PID,
				TotalResources: a.TotalResources, AllocatedResources: a.AllocatedResources, OfferedResources: a.OfferedResources,
				Capabilities: a.Capabilities, RegisteredTime: a.RegisteredTime, Deactivated: a.Deactivated})
			agent := append(append(field(1, info), rest...), unknown(l+"_unknown")...)
			list = append(list, field(1, agent)...)
		}
		for i := range rapid.IntRange(0, 3).Draw(rt, "recovered") {
			l := fmt.Sprint("recovered", i)
			info := genAgentInfo(rt, l)
			list = append(list, field(2, append(mustMarshal(rt, &info), unknown(l+"_unknown")...))...)
		}
		list = append(list, unknown("list_unknown")...)
		top = append(top, field(10, list)...)
	}
	return append(top, unknown("top_unknown")...)
}

// AgentsResponse reads what mesos-go's master.Response reads of any
// GET_AGENTS answer, including agents without id, domain or pid, with an
// empty hostname, recovered agents, agents heavy with resources,
// attributes and capabilities, and fields neither knows.
func TestAgentsResponseReadsWhatMesosGoReads(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		data := genAnswer(rt)
		var full master.Response
		if err := full.Unmarshal(data); err != nil {
			// Every generated answer is valid to mesos-go, or this
			// test would check nothing.
			rt.Fatalf("mesos-go cannot decode a generated answer: %v", err)
		}
		agree(rt, data)
	})
}

// An answer with no agent list says so (GetAgents nil), unlike an empty
// list: the inventory must not take every agent as gone.
func TestAgentsResponseNoListIsNotAnEmptyList(t *testing.T) {
	var r AgentsResponse
	if err := r.Unmarshal(mustMarshal(t, &master.Response{Type: master.Response_GET_STATE, GetState: &master.Response_GetState{}})); err != nil || r.GetAgents != nil {
		t.Errorf("GET_STATE answer: %+v, %v; want no agent list", r, err)
	}
	if err := r.Unmarshal(mustMarshal(t, &master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{}})); err != nil || r.GetAgents == nil {
		t.Errorf("empty GET_AGENTS answer: %+v, %v; want an empty list", r, err)
	}
}

// The decoder parses the master's bytes: it never panics, and whatever
// mesos-go decodes it reads alike.
func FuzzAgentsResponse(f *testing.F) {
	f.Add(emulatorAnswer(3))
	f.Add(mesosAnswer(2))
	f.Fuzz(func(t *testing.T, data []byte) { agree(t, data) })
}

// emulatorAnswer is a GET_AGENTS answer shaped like the emulator's
// (integration/emulator: Master.agentResponseLocked), for n agents.
func emulatorAnswer(n int) []byte {
	res := []mesos.Resource{scalar("cpus", 4), scalar("mem", 8192), scalar("disk", 10240),
		ranges("ports", mesos.Value_Range{Begin: 31000, End: 32000})}
	g := &master.Response_GetAgents{}
	for i := range n {
		pid := fmt.Sprintf("slave(1)@10.%d.%d.%d:5051", i>>16&255, i>>8&255, i&255)
		g.Agents = append(g.Agents, master.Response_GetAgents_Agent{
			AgentInfo: mesos.AgentInfo{Hostname: fmt.Sprintf("agent-%d", i),
				ID: &mesos.AgentID{Value: fmt.Sprintf("9f1c7a2e-4b3d-4e5f-8a9b-0c1d2e3f4a5b-S%d", i)}, Resources: res},
			Active: true, Deactivated: proto.Bool(false), Version: "1.12.0", PID: &pid,
			RegisteredTime: &mesos.TimeInfo{Nanoseconds: 1700000000000000000}, TotalResources: res,
			AllocatedResources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)}, Capabilities: allCapabilities,
		})
	}
	b, err := proto.Marshal(&master.Response{Type: master.Response_GET_AGENTS, GetAgents: g})
	if err != nil {
		panic(err)
	}
	return b
}

// mesosAnswer is a GET_AGENTS answer shaped like a real production
// master's for n agents: a fault domain, attributes, resources reserved
// for roles and allocated to them, offered resources.
func mesosAnswer(n int) []byte {
	res := []mesos.Resource{scalar("cpus", 32), scalar("mem", 256000), scalar("disk", 1800000),
		ranges("ports", mesos.Value_Range{Begin: 31000, End: 32000}, mesos.Value_Range{Begin: 33000, End: 34000}),
		reserved(scalar("cpus", 8), "analytics"), reserved(scalar("mem", 64000), "analytics"),
		reserved(scalar("disk", 200000), "storage"), scalar("gpus", 0)}
	attrs := []mesos.Attribute{}
	for _, kv := range [][2]string{{"rack", "r12"}, {"os", "debian-12"}, {"instance_type", "m6i.8xlarge"},
		{"kernel", "6.1.0-18-amd64"}, {"dc", "eu-west"}} {
		attrs = append(attrs, mesos.Attribute{Name: kv[0], Type: mesos.TEXT, Text: &mesos.Value_Text{Value: kv[1]}})
	}
	allocated := []mesos.Resource{reserved(scalar("cpus", 6), "analytics"), reserved(scalar("mem", 48000), "analytics"),
		reserved(ranges("ports", mesos.Value_Range{Begin: 31000, End: 31010}), "web"), reserved(scalar("cpus", 12), "web"),
		reserved(scalar("mem", 96000), "web")}
	g := &master.Response_GetAgents{}
	for i := range n {
		pid := fmt.Sprintf("slave(1)@10.%d.%d.%d:5051", i>>16&255, i>>8&255, i&255)
		g.Agents = append(g.Agents, master.Response_GetAgents_Agent{
			AgentInfo: mesos.AgentInfo{Hostname: fmt.Sprintf("mesos-agent-%05d.eu-west-1.prod.example.com", i),
				ID:        &mesos.AgentID{Value: fmt.Sprintf("9f1c7a2e-4b3d-4e5f-8a9b-0c1d2e3f4a5b-S%d", i)},
				Resources: res, Attributes: attrs, Domain: zoned(fmt.Sprintf("eu-west-1%c", 'a'+i%3)), Port: proto.Int32(5051)},
			Active: true, Deactivated: proto.Bool(false), Version: "1.12.0", PID: &pid,
			RegisteredTime: &mesos.TimeInfo{Nanoseconds: 1700000000000000000}, ReregisteredTime: &mesos.TimeInfo{Nanoseconds: 1700000100000000000},
			TotalResources: res, AllocatedResources: allocated, OfferedResources: []mesos.Resource{scalar("cpus", 4), scalar("mem", 8000)},
			Capabilities: allCapabilities,
		})
	}
	b, err := proto.Marshal(&master.Response{Type: master.Response_GET_AGENTS, GetAgents: g})
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkDecodeAgents35k decodes a 35,000-agent GET_AGENTS answer with
// mesos-go's master.Response and with AgentsResponse, and reports both
// decodes' bytes and allocations per answer and their ratio (mesos-go
// over AgentsResponse) in one run: what one agent-list read costs the
// scheduler's heap (docs/scale.md).
func BenchmarkDecodeAgents35k(b *testing.B) {
	for _, shape := range []struct {
		name   string
		answer func(int) []byte
	}{{"emulator", emulatorAnswer}, {"mesos", mesosAnswer}} {
		b.Run(shape.name, func(b *testing.B) {
			data := shape.answer(35000)
			measure := func(decode func() error) (bytes, allocs float64) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for range b.N {
					if err := decode(); err != nil {
						b.Fatal(err)
					}
				}
				runtime.ReadMemStats(&after)
				return float64(after.TotalAlloc-before.TotalAlloc) / float64(b.N), float64(after.Mallocs-before.Mallocs) / float64(b.N)
			}
			b.ResetTimer()
			fullB, fullA := measure(func() error { var r master.Response; return r.Unmarshal(data) })
			leanB, leanA := measure(func() error { var r AgentsResponse; return r.Unmarshal(data) })
			b.StopTimer()
			b.ReportMetric(float64(len(data))/(1<<20), "answer-MiB")
			b.ReportMetric(fullB/(1<<20), "mesos-go-MiB/op")
			b.ReportMetric(fullA, "mesos-go-allocs/op")
			b.ReportMetric(leanB/(1<<20), "lean-MiB/op")
			b.ReportMetric(leanA, "lean-allocs/op")
			b.ReportMetric(fullB/leanB, "B-ratio")
			b.ReportMetric(fullA/leanA, "allocs-ratio")
		})
	}
}
