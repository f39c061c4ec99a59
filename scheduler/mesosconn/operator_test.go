package mesosconn

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/maintenance"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/healer-mesos/healer/proto/healerpb"
)

// The operator calls healer makes, through a standby first (the redirect
// is followed): queries decode (GET_STATE, over 1 KiB, comes
// gzip-compressed through Go's transport), the mutations' empty 200 is
// success, and an agent the master does not know is an *Error that
// IsUnknownAgent recognises.
func TestOperatorCalls(t *testing.T) {
	cfg := clusterConfig(2)
	cfg.Masters = 2
	cl := startCluster(t, cfg)
	op := operator(t, cl.MasterAddr(1)+","+cl.MasterAddr(0))
	agents := cl.Agents()

	if got := mustOperator(t, op, mcalls.GetAgents()).GetAgents.Agents; len(got) != 2 {
		t.Fatalf("GET_AGENTS: %d agents; want 2", len(got))
	}
	if st := mustOperator(t, op, mcalls.GetState()).GetState; st == nil || len(st.GetAgents.Agents) != 2 {
		t.Fatalf("GET_STATE = %+v; want 2 agents", st)
	}

	agent := agents[0].ID()
	if resp := mustOperator(t, op, mcalls.DeactivateAgent(agent)); resp != nil {
		t.Errorf("DEACTIVATE_AGENT answered %+v; want no body", resp)
	}
	deactivated := func() bool {
		for _, a := range mustOperator(t, op, mcalls.GetAgents()).GetAgents.Agents {
			if a.AgentInfo.GetID().GetValue() == agent.Value {
				return a.GetDeactivated()
			}
		}
		t.Fatalf("agent %s not listed", agent.Value)
		return false
	}
	if !deactivated() {
		t.Error("agent not deactivated")
	}
	mustOperator(t, op, mcalls.ReactivateAgent(agent))
	if deactivated() {
		t.Error("agent still deactivated after REACTIVATE_AGENT")
	}

	unknown := mesos.AgentID{Value: "no-such-agent"}
	for _, call := range []*master.Call{mcalls.DeactivateAgent(unknown), mcalls.DrainAgent(unknown), mcalls.MarkAgentGone(unknown)} {
		_, err := op.Operator(context.Background(), call)
		var merr *Error
		if !IsUnknownAgent(err) || !errors.As(err, &merr) {
			t.Errorf("%s of an unknown agent: %v; want an *Error IsUnknownAgent recognises", call.Type, err)
		}
	}
	if _, err := op.Operator(context.Background(), mcalls.ReactivateAgent(agent)); IsUnknownAgent(err) || err == nil {
		t.Errorf("REACTIVATE_AGENT of an active agent: %v; want an error other than unknown agent", err)
	}

	window := maintenance.Window{
		MachineIDs:     []mesos.MachineID{{Hostname: proto.String(agents[1].Info().Hostname), IP: proto.String("127.0.0.1")}},
		Unavailability: mesos.Unavailability{Start: mesos.TimeInfo{Nanoseconds: time.Now().Add(time.Hour).UnixNano()}},
	}
	mustOperator(t, op, mcalls.UpdateMaintenanceSchedule(maintenance.Schedule{Windows: []maintenance.Window{window}}))
	sched := mustOperator(t, op, mcalls.GetMaintenanceSchedule()).GetMaintenanceSchedule.Schedule
	if len(sched.Windows) != 1 || sched.Windows[0].MachineIDs[0].GetHostname() != agents[1].Info().Hostname {
		t.Errorf("GET_MAINTENANCE_SCHEDULE = %+v; want the window just set", sched)
	}
	mustOperator(t, op, mcalls.DrainAgent(agent))

	_, err := op.Operator(context.Background(), &master.Call{Type: master.Call_SUBSCRIBE})
	if err == nil {
		t.Error("operator SUBSCRIBE accepted; want it refused (not supported)")
	}
}

// No master answering is ErrNoLeader, after trying every one.
func TestOperatorNoMaster(t *testing.T) {
	cl := startCluster(t, clusterConfig(0))
	cl.Masters()[0].Follow("") // knows no leader: 503 No leader elected
	op := operator(t, cl.MasterAddr(0)+",127.0.0.1:1")
	_, err := op.Operator(context.Background(), mcalls.GetHealth())
	var merr *Error
	if !errors.Is(err, ErrNoLeader) || !errors.As(err, &merr) || merr.Code != http.StatusServiceUnavailable {
		t.Fatalf("operator call with no leader: %v; want ErrNoLeader with the 503", err)
	}
}

// OperatorInto decodes the emulated master's GET_AGENTS answer, reached
// through a standby's redirect, into the lean healerpb.AgentsResponse: the
// ids, hostnames, zones and pids Operator's full decoding reads.
func TestOperatorIntoAgents(t *testing.T) {
	cfg := clusterConfig(3)
	cfg.Masters = 2
	cfg.Zones = []string{"z1", "z2"}
	cl := startCluster(t, cfg)
	op := operator(t, cl.MasterAddr(1)+","+cl.MasterAddr(0))

	var want []string
	for _, a := range mustOperator(t, op, mcalls.GetAgents()).GetAgents.Agents {
		want = append(want, strings.Join([]string{a.AgentInfo.GetID().GetValue(), a.AgentInfo.Hostname,
			a.AgentInfo.GetDomain().GetFaultDomain().GetZone().Name, a.GetPID()}, " "))
	}
	var lean healerpb.AgentsResponse
	if err := op.OperatorInto(context.Background(), mcalls.GetAgents(), &lean); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range lean.GetAgents.Agents {
		got = append(got, strings.Join([]string{a.AgentInfo.ID.Value, a.AgentInfo.Hostname, a.AgentInfo.Domain.FaultDomain.Zone.Name, a.PID}, " "))
	}
	if len(got) != 3 || !slices.Equal(got, want) || !strings.Contains(got[0], " z1 slave(1)@") {
		t.Errorf("OperatorInto read %q; Operator read %q (want 3 agents, zoned, with pids)", got, want)
	}
	if err := op.OperatorInto(context.Background(), &master.Call{Type: master.Call_SUBSCRIBE}, &lean); err == nil {
		t.Error("OperatorInto SUBSCRIBE accepted; want it refused (not supported)")
	}
}

// An answer OperatorInto cannot decode says why: a Content-Type other
// than protobuf (healer speaks protobuf only), or no body at all.
func TestOperatorIntoBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, want string
	}{
		{"json", "application/json", `{"type":"GET_AGENTS","get_agents":{}}`, `unexpected Content-Type "application/json" (want application/x-protobuf)`},
		{"no body", "", "", "decode the GET_AGENTS response: the master answered without a body"},
		{"garbage", "application/x-protobuf", "\x52\xff", "decode the GET_AGENTS response: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			op := operator(t, strings.TrimPrefix(srv.URL, "http://"))
			var lean healerpb.AgentsResponse
			err := op.OperatorInto(context.Background(), mcalls.GetAgents(), &lean)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("OperatorInto: %v; want an error saying %q", err, tc.want)
			}
			if tc.contentType != "application/json" && errors.Is(err, ErrNoLeader) {
				// The master answered: it is no missing leader.
				t.Errorf("OperatorInto: %v; a master that answered is reported as no leader", err)
			}
		})
	}
}
