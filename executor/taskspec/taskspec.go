// Package taskspec is the contract between healer's scheduler and
// healer-executor, in one place so the two sides cannot drift:
//
//   - the executor: one per agent (per framework), running the monitor and
//     every repair task of that agent. NewExecutorInfo builds its
//     ExecutorInfo; its ExecutorID is derived from the ExecutorInfo's
//     content, because Mesos refuses a task whose ExecutorInfo differs from
//     the running executor's of the same id: a scheduler that changes the
//     executor URI or resources gets a new executor id, and so a second
//     executor beside the old one, instead of TASK_ERRORs.
//   - task kinds, marked with the label LabelKind (healer.kind=repair or
//     monitor), and task ids that name what they run:
//     healer.repair.<agent>.<incident>.<attempt> and
//     healer.monitor.<agent>.<seq> (ParseTaskID reads both back; agent ids
//     may hold '.', '-' and digits: the numbers are read from the right).
//     A repair task id is a function of its attempt, so Mesos itself refuses
//     to run one attempt twice at once (a duplicate task id is TASK_ERROR).
//   - the payloads: RepairTask and MonitorConfig in TaskInfo.data,
//     RepairResult in TaskStatus.data, MonitorReport in executor MESSAGE
//     data; their decoders bound and validate what they accept.
//   - the step environment (StepEnv): what a repair command finds in its
//     environment, in either scope.
package taskspec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// Kind is what a healer task runs.
type Kind string

const (
	KindRepair  Kind = "repair"
	KindMonitor Kind = "monitor"
)

// LabelKind is the TaskInfo label that marks a task's kind.
const LabelKind = "healer.kind"

// Executor identity and files.
const (
	// ExecutorIDPrefix starts every healer executor id; the rest is a hash
	// of the ExecutorInfo (see NewExecutorInfo).
	ExecutorIDPrefix = "healer-executor."
	// ExecutorName is ExecutorInfo.name, shown in the Mesos UI.
	ExecutorName = "healer-executor"
	// BinaryName is the file the agent's fetcher writes the executor to in
	// the sandbox (CommandInfo.URI.output_file), whatever the URI's name.
	BinaryName = "healer-executor"
	// EnvIdleTimeout is the executor's environment variable for its idle
	// timeout (a Go or Mesos duration).
	EnvIdleTimeout = "HEALER_EXECUTOR_IDLE_TIMEOUT"
)

// Defaults of ExecutorSpec and the task builders.
const (
	// DefaultShutdownGrace is the executor's shutdown grace period: the
	// agent waits this long after SHUTDOWN before destroying it. It must
	// exceed the repair tasks' kill grace so they are killed in order.
	DefaultShutdownGrace = 15 * time.Second
	// DefaultIdleTimeout is how long an executor with no task lingers for
	// the next one before it exits (see docs/executor.md).
	DefaultIdleTimeout = time.Minute
	// DefaultKillGrace is a repair task's SIGTERM→SIGKILL grace period.
	DefaultKillGrace = 10 * time.Second
	// MaxOutputTail bounds RepairResult.output_tail: what healer records
	// per attempt (coordinator.MaxOutputTailBytes).
	MaxOutputTail = 4096
	// maxIDBytes is Mesos' limit on a task or executor id (NAME_MAX).
	maxIDBytes = 255
)

// ExecutorSpec is what the scheduler chooses about its executor.
type ExecutorSpec struct {
	// URI is where agents fetch the healer-executor binary (http(s)://,
	// file:// or an absolute path): the scheduler's own admin port, or
	// --executor_uri.
	URI string
	// Resources are the executor's own resources (its memory must cover
	// the executor, well under 20 MB); tasks bring theirs.
	Resources []mesos.Resource
	// ShutdownGrace is ExecutorInfo.shutdown_grace_period; 0 means
	// DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// IdleTimeout: an executor left with no task exits after this long; 0
	// means DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// NewExecutorInfo builds the ExecutorInfo every healer task carries. Equal
// specs give equal ExecutorInfos, id included; the framework id is left for
// the master to fill in.
func NewExecutorInfo(spec ExecutorSpec) (mesos.ExecutorInfo, error) {
	if spec.URI == "" {
		return mesos.ExecutorInfo{}, errors.New("taskspec: executor: no URI to fetch healer-executor from")
	}
	grace := spec.ShutdownGrace
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	idle := spec.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	f := false
	t := true
	out := BinaryName
	typ := mesos.ExecutorInfo_CUSTOM
	name := ExecutorName
	value := "./" + BinaryName
	idleS := idle.String()
	info := mesos.ExecutorInfo{
		Type: typ,
		Name: &name,
		Command: &mesos.CommandInfo{
			// Executable, never extracted, always named healer-executor.
			URIs: []mesos.CommandInfo_URI{{Value: spec.URI, Executable: &t, Extract: &f, Cache: &f, OutputFile: &out}},
			// Run directly from the sandbox (the working directory), no shell.
			Shell:     &f,
			Value:     &value,
			Arguments: []string{BinaryName},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: EnvIdleTimeout, Value: &idleS},
			}},
		},
		Resources:           spec.Resources,
		ShutdownGracePeriod: &mesos.DurationInfo{Nanoseconds: int64(grace)},
	}
	b, err := info.Marshal()
	if err != nil {
		return mesos.ExecutorInfo{}, fmt.Errorf("taskspec: executor: %w", err)
	}
	sum := sha256.Sum256(b)
	info.ExecutorID = mesos.ExecutorID{Value: ExecutorIDPrefix + hex.EncodeToString(sum[:6])}
	return info, nil
}

// IsExecutorID reports whether id is a healer executor's.
func IsExecutorID(id string) bool { return strings.HasPrefix(id, ExecutorIDPrefix) }

// Task id prefixes.
const (
	repairPrefix  = "healer.repair."
	monitorPrefix = "healer.monitor."
)

// TaskRef is what a healer task id says.
type TaskRef struct {
	Kind  Kind
	Agent string
	// Incident and Attempt name a repair step; Seq numbers an agent's
	// monitor tasks.
	Incident, Attempt uint64
	Seq               uint64
}

// ID is the task id of r.
func (r TaskRef) ID() string {
	if r.Kind == KindMonitor {
		return MonitorTaskID(r.Agent, r.Seq)
	}
	return RepairTaskID(r.Agent, r.Incident, r.Attempt)
}

// RepairTaskID is the task id of an attempt: healer.repair.<agent>.<incident>.<attempt>.
func RepairTaskID(agent string, incident, attempt uint64) string {
	return repairPrefix + agent + "." + strconv.FormatUint(incident, 10) + "." + strconv.FormatUint(attempt, 10)
}

// MonitorTaskID is the id of an agent's seq-th monitor task: healer.monitor.<agent>.<seq>.
func MonitorTaskID(agent string, seq uint64) string {
	return monitorPrefix + agent + "." + strconv.FormatUint(seq, 10)
}

// ParseTaskID reads a healer task id back. Ids of other frameworks' tasks,
// or malformed ones, are an error.
func ParseTaskID(id string) (TaskRef, error) {
	bad := func(why string) (TaskRef, error) {
		return TaskRef{}, fmt.Errorf("taskspec: task id %q: %s", id, why)
	}
	if len(id) > maxIDBytes {
		return bad("longer than 255 bytes")
	}
	var r TaskRef
	var rest string
	var nums int
	switch {
	case strings.HasPrefix(id, repairPrefix):
		r.Kind, rest, nums = KindRepair, id[len(repairPrefix):], 2
	case strings.HasPrefix(id, monitorPrefix):
		r.Kind, rest, nums = KindMonitor, id[len(monitorPrefix):], 1
	default:
		return bad("not a healer task (healer.repair.* or healer.monitor.*)")
	}
	vals := make([]uint64, nums)
	for i := nums - 1; i >= 0; i-- {
		dot := strings.LastIndexByte(rest, '.')
		if dot < 0 {
			return bad("missing fields")
		}
		v, err := strconv.ParseUint(rest[dot+1:], 10, 64)
		if err != nil || rest[dot+1:] != strconv.FormatUint(v, 10) {
			return bad("a number field is not a canonical unsigned integer")
		}
		vals[i], rest = v, rest[:dot]
	}
	if err := checkAgentID(rest); err != nil {
		return bad(err.Error())
	}
	r.Agent = rest
	if r.Kind == KindRepair {
		r.Incident, r.Attempt = vals[0], vals[1]
	} else {
		r.Seq = vals[0]
	}
	return r, nil
}

// checkAgentID applies Mesos' rules for ids (validateID).
func checkAgentID(a string) error {
	switch {
	case a == "":
		return errors.New("empty agent id")
	case a == "." || a == "..":
		return errors.New("agent id is a dot path (. or ..)")
	case strings.ContainsAny(a, `/\`):
		return errors.New("agent id contains / or \\")
	}
	for _, c := range a {
		if unicode.IsControl(c) {
			return errors.New("agent id contains a control character")
		}
	}
	return nil
}

// Classify tells a healer task's kind from its label and id, which must
// agree: the executor runs nothing it cannot place.
func Classify(task mesos.TaskInfo) (TaskRef, error) {
	ref, err := ParseTaskID(task.TaskID.Value)
	if err != nil {
		return TaskRef{}, err
	}
	label := ""
	if task.Labels != nil {
		for _, l := range task.Labels.Labels {
			if l.Key == LabelKind {
				label = l.GetValue()
			}
		}
	}
	if Kind(label) != ref.Kind {
		return TaskRef{}, fmt.Errorf("taskspec: task %s: label %s=%q does not match its id (want %q)",
			task.TaskID.Value, LabelKind, label, ref.Kind)
	}
	return ref, nil
}

// RepairTaskInfo builds the task of a repair step for agent, carrying t in
// its data. killGrace (0: DefaultKillGrace) is the task's kill policy: the
// time between SIGTERM and SIGKILL to the command's process group on KILL or
// timeout.
func RepairTaskInfo(exec mesos.ExecutorInfo, agent mesos.AgentID, t *healerpb.RepairTask, resources []mesos.Resource, killGrace time.Duration) (mesos.TaskInfo, error) {
	if t == nil {
		return mesos.TaskInfo{}, errors.New("taskspec: repair task: none")
	}
	if t.AgentId != agent.Value {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: repair task for agent %q launched on agent %q", t.AgentId, agent.Value)
	}
	if err := validateRepairTask(t); err != nil {
		return mesos.TaskInfo{}, err
	}
	data, err := t.Marshal()
	if err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: repair task: %w", err)
	}
	if killGrace <= 0 {
		killGrace = DefaultKillGrace
	}
	id := RepairTaskID(agent.Value, t.Incident, t.Attempt)
	return taskInfo(exec, agent, id, fmt.Sprintf("healer repair %s (incident %d, attempt %d)", t.Action, t.Incident, t.Attempt),
		KindRepair, data, resources, &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(killGrace)}})
}

// MonitorTaskInfo builds an agent's seq-th monitor task, carrying cfg (which
// must be valid: see monitorconfig.Validate) in its data.
func MonitorTaskInfo(exec mesos.ExecutorInfo, agent mesos.AgentID, seq uint64, cfg *healerpb.MonitorConfig, resources []mesos.Resource) (mesos.TaskInfo, error) {
	if err := monitorconfig.Validate(cfg); err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: monitor task: %w", err)
	}
	data, err := cfg.Marshal()
	if err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: monitor task: %w", err)
	}
	return taskInfo(exec, agent, MonitorTaskID(agent.Value, seq), "healer monitor", KindMonitor, data, resources, nil)
}

func taskInfo(exec mesos.ExecutorInfo, agent mesos.AgentID, id, name string, kind Kind, data []byte, resources []mesos.Resource, kp *mesos.KillPolicy) (mesos.TaskInfo, error) {
	if err := checkAgentID(agent.Value); err != nil {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: %w", err)
	}
	if len(id) > maxIDBytes {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: task id %q is longer than Mesos' 255 bytes", id)
	}
	if !IsExecutorID(exec.ExecutorID.Value) {
		return mesos.TaskInfo{}, fmt.Errorf("taskspec: executor id %q is not healer's (build it with NewExecutorInfo)", exec.ExecutorID.Value)
	}
	k := string(kind)
	e := exec
	return mesos.TaskInfo{
		Name:       name,
		TaskID:     mesos.TaskID{Value: id},
		AgentID:    agent,
		Resources:  resources,
		Executor:   &e,
		Data:       data,
		Labels:     &mesos.Labels{Labels: []mesos.Label{{Key: LabelKind, Value: &k}}},
		KillPolicy: kp,
	}, nil
}
