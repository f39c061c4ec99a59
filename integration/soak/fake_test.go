package soak

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/integration/emulator"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// fakeHealerExecutor stands in for healer-executor on most of the soak's
// agents (real executors on all of them would need a process per agent):
// the same task contract, read from the same files as the real one's
// commands. A repair task follows its agent's mode (mode/<agent id>: hang
// until the step's timeout, fail, or succeed and clear the sick flag); a
// monitor task reports the agent's sick flag (sick/<agent id>) every
// monitorInterval as framework messages, like the real monitor's command
// check.
type fakeHealerExecutor struct {
	dir  string
	live map[string]bool // tasks not yet ended
}

func newFakeHealerExecutor(dir string) *fakeHealerExecutor {
	return &fakeHealerExecutor{dir: dir, live: map[string]bool{}}
}

var _ emulator.FakeExecutor = (*fakeHealerExecutor)(nil)

func (x *fakeHealerExecutor) Launch(d *emulator.FakeDriver, task mesos.TaskInfo) {
	id := task.TaskID.Value
	ref, err := taskspec.Classify(task)
	if err != nil {
		d.Update(mesos.TaskStatus{TaskID: task.TaskID, State: mesos.TASK_FAILED.Enum(), Message: strPtr(err.Error())})
		return
	}
	x.live[id] = true
	d.SendState(task.TaskID, mesos.TASK_RUNNING)
	agent := d.AgentID().Value
	if ref.Kind == taskspec.KindMonitor {
		var report func()
		report = func() {
			if !x.live[id] {
				return
			}
			if x.exists("sick", agent) {
				data, _ := taskspec.EncodeMonitorReport(&healerpb.MonitorReport{AgentId: agent, TaskId: id,
					AtUnixNano: time.Now().UnixNano(), Violations: []healerpb.Violation{{Check: "sick-flag",
						Problem: "flagged_sick", Message: "soak: flagged sick", SinceUnixNano: time.Now().UnixNano()}}})
				d.SendMessage(data)
			}
			d.After(monitorInterval, report)
		}
		d.After(monitorInterval, report)
		return
	}
	spec, err := taskspec.DecodeRepairTask(task.Data)
	if err != nil {
		x.end(d, task.TaskID, mesos.TASK_FAILED, &healerpb.RepairResult{ExitCode: -1, Error: err.Error()})
		return
	}
	start := time.Now()
	result := func(exit int32, timedOut bool, out string) *healerpb.RepairResult {
		now := time.Now()
		return &healerpb.RepairResult{ExitCode: exit, TimedOut: timedOut, OutputTail: []byte(out),
			StartedAtUnixNano: start.UnixNano(), EndedAtUnixNano: now.UnixNano(), DurationNs: int64(now.Sub(start))}
	}
	switch x.mode(agent) {
	case "hang":
		// Ended by the executor at the step's timeout, as the real one does.
		d.After(time.Duration(spec.TimeoutNs), func() {
			x.end(d, task.TaskID, mesos.TASK_FAILED, result(-1, true, "soak: hanging"))
		})
	case "fail", "broken":
		d.After(time.Second, func() {
			x.end(d, task.TaskID, mesos.TASK_FAILED, result(1, false, "soak: "+spec.Action+" fails"))
		})
	default:
		d.After(time.Second, func() {
			os.Remove(filepath.Join(x.dir, "sick", agent))
			x.end(d, task.TaskID, mesos.TASK_FINISHED, result(0, false, "soak: "+spec.Action+" done"))
		})
	}
}

// end reports a task's terminal state once.
func (x *fakeHealerExecutor) end(d *emulator.FakeDriver, id mesos.TaskID, state mesos.TaskState, r *healerpb.RepairResult) {
	if !x.live[id.Value] {
		return
	}
	delete(x.live, id.Value)
	st := mesos.TaskStatus{TaskID: id, State: state.Enum()}
	if r != nil {
		st.Data, _ = taskspec.EncodeRepairResult(r)
	}
	d.Update(st)
}

func (x *fakeHealerExecutor) Kill(d *emulator.FakeDriver, id mesos.TaskID, _ *mesos.KillPolicy) {
	var r *healerpb.RepairResult
	if strings.HasPrefix(id.Value, repairPrefix) {
		r = &healerpb.RepairResult{ExitCode: -1, Killed: true}
	}
	x.end(d, id, mesos.TASK_KILLED, r)
}

func (x *fakeHealerExecutor) Message(*emulator.FakeDriver, []byte) {}

func (x *fakeHealerExecutor) Shutdown(d *emulator.FakeDriver) {
	for _, id := range d.LiveTasks() {
		x.Kill(d, id, nil)
	}
	d.Exit(0)
}

func (x *fakeHealerExecutor) exists(sub, agent string) bool {
	_, err := os.Stat(filepath.Join(x.dir, sub, agent))
	return err == nil
}

func (x *fakeHealerExecutor) mode(agent string) string {
	b, _ := os.ReadFile(filepath.Join(x.dir, "mode", agent))
	return strings.TrimSpace(string(b))
}

func strPtr(s string) *string { return &s }
