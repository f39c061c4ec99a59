package taskspec

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"

	"github.com/healer-mesos/healer/internal/stepcmd"
	"github.com/healer-mesos/healer/proto/healerpb"
)

const agent = "310ffdac-0b73-408d-acf0-2adcd21cb4b7-S12"

func execInfo(t *testing.T) mesos.ExecutorInfo {
	t.Helper()
	info, err := NewExecutorInfo(ExecutorSpec{URI: "http://sched:8080/executor",
		Resources: []mesos.Resource{resources.NewCPUs(0.05).Resource, resources.NewMemory(32).Resource}})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestExecutorInfo(t *testing.T) {
	a, b := execInfo(t), execInfo(t)
	if !a.Equal(&b) || !IsExecutorID(a.ExecutorID.Value) {
		t.Fatalf("equal specs gave different infos or a foreign id: %v %v", a.ExecutorID, b.ExecutorID)
	}
	c := a.Command
	u := c.URIs[0]
	if len(c.URIs) != 1 || u.Value != "http://sched:8080/executor" || !u.GetExecutable() || u.GetExtract() || u.GetOutputFile() != BinaryName ||
		c.GetShell() || c.GetValue() != "./healer-executor" || !reflect.DeepEqual(c.Arguments, []string{BinaryName}) {
		t.Errorf("command %+v", c)
	}
	if a.GetType() != mesos.ExecutorInfo_CUSTOM || a.ShutdownGracePeriod.Nanoseconds != int64(DefaultShutdownGrace) || a.FrameworkID != nil {
		t.Errorf("info %+v", a)
	}
	other, _ := NewExecutorInfo(ExecutorSpec{URI: "http://sched:8080/executor-v2"})
	if other.ExecutorID == a.ExecutorID {
		t.Error("a different executor got the same id: Mesos would refuse its tasks")
	}
	if _, err := NewExecutorInfo(ExecutorSpec{}); err == nil {
		t.Error("no URI accepted")
	}
}

func TestTaskIDs(t *testing.T) {
	for _, r := range []TaskRef{
		{Kind: KindRepair, Agent: agent, Incident: 3, Attempt: 7},
		{Kind: KindRepair, Agent: "a.b.1.2", Incident: 1, Attempt: 18446744073709551615},
		{Kind: KindMonitor, Agent: agent, Seq: 0},
		{Kind: KindMonitor, Agent: "x-1", Seq: 42},
	} {
		got, err := ParseTaskID(r.ID())
		if err != nil || got != r {
			t.Errorf("ParseTaskID(%q) = %+v, %v; want %+v", r.ID(), got, err, r)
		}
	}
	if id := RepairTaskID(agent, 3, 7); id != "healer.repair."+agent+".3.7" {
		t.Errorf("repair id %q", id)
	}
	if id := MonitorTaskID(agent, 2); id != "healer.monitor."+agent+".2" {
		t.Errorf("monitor id %q", id)
	}
	for _, bad := range []string{"", "other.task", "healer.repair.", "healer.repair.a.1", "healer.repair..1.2",
		"healer.repair.a.01.2", "healer.repair.a.1.-2", "healer.monitor.a.x", "healer.monitor.a/b.1",
		"healer.monitor.\x01.1", "healer.monitor...1", "healer.repair.a.1.2" + strings.Repeat("0", 300)} {
		if r, err := ParseTaskID(bad); err == nil {
			t.Errorf("ParseTaskID(%q) = %+v", bad, r)
		}
	}
}

func repairTask() *healerpb.RepairTask {
	return &healerpb.RepairTask{AgentId: agent, Hostname: "node-1", Incident: 3, Attempt: 7, Problem: "disk_full",
		Action: "clean_disk", Command: "/usr/local/sbin/clean-disk", TimeoutNs: int64(5 * time.Minute)}
}

func TestRepairTaskInfo(t *testing.T) {
	exec := execInfo(t)
	res := []mesos.Resource{resources.NewCPUs(0.1).Resource}
	ti, err := RepairTaskInfo(exec, mesos.AgentID{Value: agent}, repairTask(), res, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Classify(ti)
	if err != nil || ref != (TaskRef{Kind: KindRepair, Agent: agent, Incident: 3, Attempt: 7}) {
		t.Fatalf("Classify = %+v, %v", ref, err)
	}
	if ti.AgentID.Value != agent || !ti.Executor.Equal(&exec) || ti.KillPolicy.GracePeriod.Nanoseconds != int64(3*time.Second) ||
		!reflect.DeepEqual(ti.Resources, res) || ti.Command != nil {
		t.Errorf("task %+v", ti)
	}
	back, err := DecodeRepairTask(ti.Data)
	if err != nil || !reflect.DeepEqual(back, repairTask()) {
		t.Errorf("payload %+v, %v", back, err)
	}
	if _, err := RepairTaskInfo(exec, mesos.AgentID{Value: "other-S1"}, repairTask(), res, 0); err == nil ||
		!strings.Contains(err.Error(), "launched on agent") {
		t.Errorf("a task for another agent: %v", err)
	}
	bad := repairTask()
	bad.Command, bad.TimeoutNs = " ", 0
	if _, err := RepairTaskInfo(exec, mesos.AgentID{Value: agent}, bad, res, 0); err == nil ||
		!strings.Contains(err.Error(), "empty command") || !strings.Contains(err.Error(), "no timeout") {
		t.Errorf("bad task: %v", err)
	}
	if _, err := RepairTaskInfo(mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: "x"}}, mesos.AgentID{Value: agent}, repairTask(), res, 0); err == nil {
		t.Error("a foreign executor accepted")
	}
}

func TestMonitorTaskInfoAndClassify(t *testing.T) {
	exec := execInfo(t)
	cfg := &healerpb.MonitorConfig{Checks: []healerpb.Check{{Name: "zk", Problem: "p", Kind: healerpb.CHECK_KIND_TCP,
		Address: "127.0.0.1:1", IntervalNs: int64(time.Minute), TimeoutNs: int64(time.Second),
		Envelope: healerpb.Envelope{HasMin: true, Min: 1}}}}
	ti, err := MonitorTaskInfo(exec, mesos.AgentID{Value: agent}, 4, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ref, err := Classify(ti); err != nil || ref != (TaskRef{Kind: KindMonitor, Agent: agent, Seq: 4}) {
		t.Fatalf("Classify = %+v, %v", ref, err)
	}
	back, err := DecodeMonitorConfig(ti.Data)
	if err != nil || !reflect.DeepEqual(back, cfg) {
		t.Fatalf("payload %+v, %v", back, err)
	}
	if _, err := MonitorTaskInfo(exec, mesos.AgentID{Value: agent}, 4, &healerpb.MonitorConfig{}, nil); err == nil {
		t.Error("an empty config accepted")
	}
	// The label and the id must agree.
	repair := "repair"
	ti.Labels.Labels[0].Value = &repair
	if _, err := Classify(ti); err == nil || !strings.Contains(err.Error(), "does not match its id") {
		t.Errorf("mismatched label: %v", err)
	}
	ti.Labels = nil
	if _, err := Classify(ti); err == nil {
		t.Error("no label accepted")
	}
}

func TestRepairResultRoundTrip(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	res := stepcmd.Result{ExitCode: -1, Signal: syscall.SIGKILL, TimedOut: true, Started: start,
		Ended: start.Add(time.Minute), Duration: time.Minute, Tail: bytes.Repeat([]byte("x"), 5000), OutputBytes: 9000}
	r := RepairResultOf(res, nil)
	if len(r.OutputTail) != MaxOutputTail || r.Signal != 9 || !r.TimedOut || r.DurationNs != int64(time.Minute) {
		t.Fatalf("result %+v", r)
	}
	b, err := EncodeRepairResult(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeRepairResult(b)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip %+v, %v", back, err)
	}
	failed := RepairResultOf(stepcmd.Result{}, errors.New("stepcmd: start /bin/sh -c: no such file"))
	if failed.ExitCode != -1 || failed.Error == "" {
		t.Errorf("start failure %+v", failed)
	}
	for _, bad := range []*healerpb.RepairResult{
		{OutputTail: make([]byte, MaxOutputTail+1), OutputBytes: MaxOutputTail + 1},
		{OutputTail: []byte("abc"), OutputBytes: 2},
		{StartedAtUnixNano: 10, EndedAtUnixNano: 5},
		{DurationNs: -1},
		{Signal: 300},
	} {
		if _, err := EncodeRepairResult(bad); err == nil {
			t.Errorf("EncodeRepairResult(%+v) accepted", bad)
		}
		b, _ := bad.Marshal()
		if _, err := DecodeRepairResult(b); err == nil {
			t.Errorf("DecodeRepairResult(%+v) accepted", bad)
		}
	}
	if _, err := DecodeRepairResult(nil); err == nil {
		t.Error("no data accepted")
	}
}

func TestMonitorReportRoundTrip(t *testing.T) {
	r := &healerpb.MonitorReport{AgentId: agent, AtUnixNano: 1, TaskId: MonitorTaskID(agent, 1), Hostname: "node-1",
		Violations: []healerpb.Violation{{Check: "root_disk", Problem: "disk_full", Value: 0.97, Message: "97% used", SinceUnixNano: 1}},
		Recovered:  []healerpb.Violation{{Check: "docker", Problem: "docker_down"}}}
	b, err := EncodeMonitorReport(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeMonitorReport(b)
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip %+v, %v", back, err)
	}
	for _, bad := range []*healerpb.MonitorReport{
		{AtUnixNano: 1},
		{AgentId: agent},
		{AgentId: agent, AtUnixNano: 1, Violations: []healerpb.Violation{{Check: "a"}}},
		{AgentId: agent, AtUnixNano: 1, Violations: []healerpb.Violation{{Check: "a", Problem: "p", Message: strings.Repeat("m", MaxTextBytes+1)}}},
	} {
		if _, err := EncodeMonitorReport(bad); err == nil {
			t.Errorf("EncodeMonitorReport(%+v) accepted", bad)
		}
	}
	if _, err := DecodeMonitorReport([]byte("\xff\xff")); err == nil {
		t.Error("garbage accepted")
	}
}

func TestStepEnv(t *testing.T) {
	task := repairTask()
	task.TimeoutNs = int64(90*time.Second + time.Millisecond)
	env := StepEnv([]string{"PATH=/bin", "REPAIR_AGENT_ID=stale", "REPAIR_OTHER=x", "HOME=/root"}, task, healerpb.SCOPE_AGENT)
	want := []string{"PATH=/bin", "HOME=/root",
		"REPAIR_AGENT_ID=" + agent, "REPAIR_HOSTNAME=node-1", "REPAIR_PROBLEM=disk_full", "REPAIR_ACTION=clean_disk",
		"REPAIR_ATTEMPT=7", "REPAIR_INCIDENT=3", "REPAIR_TIMEOUT=91", "REPAIR_SCOPE=agent"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env\n got %q\nwant %q", env, want)
	}
	if env := StepEnv(nil, task, healerpb.SCOPE_MASTER); env[len(env)-1] != "REPAIR_SCOPE=master" {
		t.Errorf("master scope: %q", env)
	}
}
