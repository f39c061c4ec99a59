package runtime

import (
	"context"
	"slices"
	"testing"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"

	"github.com/healer-mesos/healer/admin"
)

// The master's agent list reaches the coordinator through the lean
// GET_AGENTS decoding (healerpb.AgentsResponse): ids, hostnames and zones
// of registered and recovered agents, and the IP of a registered agent's
// pid (its maintenance machine), with the rest of each agent (resources,
// attributes) skipped; an entry without an id is no agent.
func TestAgentListFromTheMaster(t *testing.T) {
	h := newHarness(t, nil)
	zone := func(z string) *mesos.DomainInfo {
		return &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
			Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "r"}, Zone: mesos.DomainInfo_FaultDomain_ZoneInfo{Name: z}}}
	}
	h.m.onOp = func(c *master.Call) (*master.Response, error) {
		if c.Type != master.Call_GET_AGENTS {
			return &master.Response{}, nil
		}
		return &master.Response{Type: master.Response_GET_AGENTS, GetAgents: &master.Response_GetAgents{
			Agents: []master.Response_GetAgents_Agent{
				{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: "a1"}, Hostname: "h1", Domain: zone("z1"),
					Resources: []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 8}}}},
					PID: proto.String("slave(1)@10.1.2.3:5051"), Active: true, Version: "1.12.0"},
				{AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: "a2"}, Hostname: "h2"}, Active: true},
				{AgentInfo: mesos.AgentInfo{Hostname: "no-id"}, Active: true},
			},
			RecoveredAgents: []mesos.AgentInfo{{ID: &mesos.AgentID{Value: "r1"}, Hostname: "h3", Domain: zone("z2")}},
		}}, nil
	}
	h.elect()
	h.subscribe(1)
	h.known("a1")
	h.known("a2")
	h.known("r1")

	list, err := h.rt.Agents(context.Background(), admin.AgentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list.Agents {
		got = append(got, a.ID+" "+a.Hostname+" "+a.Zone)
	}
	slices.Sort(got)
	if want := []string{"a1 h1 z1", "a2 h2 ", "r1 h3 z2"}; !slices.Equal(got, want) {
		t.Errorf("agents = %q; want %q", got, want)
	}

	var machines []string
	if _, err := h.rt.onLoop(context.Background(), false, func(t *term, done func()) {
		defer done()
		for _, a := range []string{"a1", "a2", "r1"} {
			if m, ok := t.agents.machine(a, ""); ok {
				machines = append(machines, a+" "+m.GetHostname()+" "+m.GetIP())
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1 h1 10.1.2.3"}; !slices.Equal(machines, want) {
		t.Errorf("machines = %q; want %q (only a1's pid names an IP)", machines, want)
	}
}
