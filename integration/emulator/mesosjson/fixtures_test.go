package mesosjson

import (
	"fmt"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/gogo/protobuf/types"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	execcalls "github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mastercalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Message builders shared by the tests, the ffjson cross-check and the
// benchmark. They use mesos-go's own call builders where it has them, as
// healer will.

func subscribeCall() *scheduler.Call {
	return calls.Subscribe(&mesos.FrameworkInfo{User: "root", Name: "healer"})
}

func declineCall() *scheduler.Call {
	return calls.Decline(mesos.OfferID{Value: "o-1"}).
		With(calls.Framework("fw-1"), calls.Filters())
}

func acceptLaunchCall() *scheduler.Call {
	task := mesos.TaskInfo{
		Name:    "repair",
		TaskID:  mesos.TaskID{Value: "t-1"},
		AgentID: mesos.AgentID{Value: "a-1"},
		Resources: []mesos.Resource{{
			Name:   "cpus",
			Type:   mesos.SCALAR.Enum(),
			Scalar: &mesos.Value_Scalar{Value: 0.5},
		}},
		Command: &mesos.CommandInfo{Value: proto.String("echo <&>")},
	}
	return calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(mesos.OfferID{Value: "o-1"})).
		With(calls.Framework("fw-1"), calls.RefuseSeconds(time.Second))
}

func masterInfo() *mesos.MasterInfo {
	return &mesos.MasterInfo{
		ID:       "m-1",
		IP:       16777226,
		Hostname: proto.String("m1.example"),
		Version:  proto.String("1.12.0"),
		Address:  &mesos.Address{Hostname: proto.String("m1.example"), IP: proto.String("10.0.0.1"), Port: 5050},
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
			{Type: 3}, // QUOTA_V2, unknown to mesos-go v0.0.11
		},
	}
}

func subscribedEvent(mi *mesos.MasterInfo) *scheduler.Event {
	return &scheduler.Event{
		Type: scheduler.Event_SUBSCRIBED,
		Subscribed: &scheduler.Event_Subscribed{
			FrameworkID:              &mesos.FrameworkID{Value: "fw-1"},
			HeartbeatIntervalSeconds: proto.Float64(15),
			MasterInfo:               mi,
		},
	}
}

func offersEvent(n int) *scheduler.Event {
	offers := make([]mesos.Offer, n)
	for i := range offers {
		agent := fmt.Sprintf("a-%d", i)
		offers[i] = mesos.Offer{
			ID:          mesos.OfferID{Value: fmt.Sprintf("o-%d", i)},
			FrameworkID: mesos.FrameworkID{Value: "fw-1"},
			AgentID:     mesos.AgentID{Value: agent},
			Hostname:    agent + ".example",
			Resources: []mesos.Resource{
				{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 4}},
				{Name: "mem", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 16384}},
				{Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: []mesos.Value_Range{{Begin: 31000, End: 32000}}}},
			},
			Attributes: []mesos.Attribute{{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "r1"}}},
			Domain: &mesos.DomainInfo{FaultDomain: &mesos.DomainInfo_FaultDomain{
				Region: mesos.DomainInfo_FaultDomain_RegionInfo{Name: "eu"},
				Zone:   mesos.DomainInfo_FaultDomain_ZoneInfo{Name: fmt.Sprintf("z%d", i%3)},
			}},
		}
	}
	return &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}}
}

// statusUUID is a fixed RFC-4122 UUID as raw bytes, as executors send it.
var statusUUID = []byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}

func executorUpdateCall() *executor.Call {
	c := execcalls.Update(mesos.TaskStatus{
		TaskID:    mesos.TaskID{Value: "t-1"},
		State:     mesos.TASK_RUNNING.Enum(),
		Source:    mesos.SOURCE_EXECUTOR.Enum(),
		UUID:      statusUUID,
		Data:      []byte{0, 1, 2, 0xff},
		Timestamp: proto.Float64(1.7e9 + 0.25),
	})
	c.FrameworkID = mesos.FrameworkID{Value: "fw-1"}
	c.ExecutorID = mesos.ExecutorID{Value: "e-1"}
	return c
}

func getAgentsResponse() *master.Response {
	return &master.Response{
		Type: master.Response_GET_AGENTS,
		GetAgents: &master.Response_GetAgents{Agents: []master.Response_GetAgents_Agent{{
			AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: "a-1"}, Hostname: "a1.example"},
			Active:    true,
			Version:   "1.12.0",
			PID:       proto.String("slave(1)@10.0.0.2:5051"),
		}}},
	}
}

func maintenanceScheduleCall() *master.Call {
	return mastercalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{{
		MachineIDs: []mesos.MachineID{{Hostname: proto.String("a1.example"), IP: proto.String("10.0.0.2")}},
		Unavailability: mesos.Unavailability{
			// Beyond 2^53: must stay exact through JSON numbers.
			Start:    mesos.TimeInfo{Nanoseconds: 1700000000123456789},
			Duration: &mesos.DurationInfo{Nanoseconds: int64(time.Hour)},
		},
	}}})
}

func drainAgentCall() *master.Call {
	return mastercalls.DrainAgent(mesos.AgentID{Value: "a-1"}, func(d *master.Call_DrainAgent) {
		d.MaxGracePeriod = &types.Duration{Seconds: 600}
	})
}
