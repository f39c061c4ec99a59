package taskspec

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/internal/stepcmd"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// Bounds of decoded payloads: what a healthy peer never exceeds.
const (
	// MaxTextBytes bounds the short strings of a payload (ids, names,
	// messages).
	MaxTextBytes = 1024
	// MaxCommandBytes bounds a repair command.
	MaxCommandBytes = 16 << 10
	// MaxReportBytes bounds an encoded MonitorReport: every check of a
	// full config violated, with long messages, fits with room to spare.
	MaxReportBytes = 256 << 10
	// MaxErrorBytes bounds RepairResult.error.
	MaxErrorBytes = 1024
)

func validateRepairTask(t *healerpb.RepairTask) error {
	var errs []string
	if err := checkAgentID(t.AgentId); err != nil {
		errs = append(errs, err.Error())
	}
	if t.Attempt == 0 {
		errs = append(errs, "no attempt id")
	}
	if t.Action == "" {
		errs = append(errs, "no action")
	}
	if strings.TrimSpace(t.Command) == "" {
		errs = append(errs, "empty command")
	}
	if len(t.Command) > MaxCommandBytes || strings.ContainsRune(t.Command, 0) {
		errs = append(errs, fmt.Sprintf("command longer than %d bytes or with a NUL byte", MaxCommandBytes))
	}
	if t.TimeoutNs <= 0 {
		errs = append(errs, "no timeout (the scheduler resolves the step's timeout; 0 is a bug)")
	}
	for _, s := range []string{t.AgentId, t.Hostname, t.Problem, t.Action, t.Principal} {
		// They go into the command's environment, where a NUL cannot be.
		if len(s) > MaxTextBytes || strings.ContainsRune(s, 0) {
			errs = append(errs, fmt.Sprintf("a field is longer than %d bytes or holds a NUL byte", MaxTextBytes))
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("taskspec: repair task: %s", strings.Join(errs, "; "))
	}
	return nil
}

// DecodeRepairTask reads and validates a repair task's TaskInfo.data.
func DecodeRepairTask(data []byte) (*healerpb.RepairTask, error) {
	var t healerpb.RepairTask
	if err := t.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("taskspec: repair task: %w", err)
	}
	if err := validateRepairTask(&t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DecodeMonitorConfig reads a monitor task's TaskInfo.data and validates it
// (monitorconfig.Validate).
func DecodeMonitorConfig(data []byte) (*healerpb.MonitorConfig, error) {
	var cfg healerpb.MonitorConfig
	if err := cfg.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("taskspec: monitor config: %w", err)
	}
	if err := monitorconfig.Validate(&cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// RepairResultOf turns a stepcmd run into the RepairResult both scopes
// record: runErr is Run's error (the command could not start).
func RepairResultOf(res stepcmd.Result, runErr error) *healerpb.RepairResult {
	if runErr != nil {
		msg := runErr.Error()
		if len(msg) > MaxErrorBytes {
			msg = msg[:MaxErrorBytes]
		}
		return &healerpb.RepairResult{ExitCode: -1, Error: strings.ToValidUTF8(msg, "?"),
			StartedAtUnixNano: unixNano(res.Started), EndedAtUnixNano: unixNano(res.Ended)}
	}
	tail := res.Tail
	if len(tail) > MaxOutputTail {
		tail = tail[len(tail)-MaxOutputTail:]
	}
	return &healerpb.RepairResult{
		ExitCode:          int32(res.ExitCode),
		TimedOut:          res.TimedOut,
		Killed:            res.Killed,
		Signal:            int32(res.Signal),
		OutputTail:        tail,
		OutputBytes:       res.OutputBytes,
		StartedAtUnixNano: unixNano(res.Started),
		EndedAtUnixNano:   unixNano(res.Ended),
		DurationNs:        int64(res.Duration),
	}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func validateRepairResult(r *healerpb.RepairResult) error {
	var errs []string
	if len(r.OutputTail) > MaxOutputTail {
		errs = append(errs, fmt.Sprintf("output tail of %d bytes, at most %d", len(r.OutputTail), MaxOutputTail))
	}
	if r.OutputBytes < int64(len(r.OutputTail)) {
		errs = append(errs, "output_bytes is less than the tail holds")
	}
	if r.DurationNs < 0 || r.StartedAtUnixNano < 0 || r.EndedAtUnixNano < 0 {
		errs = append(errs, "negative time")
	}
	if r.EndedAtUnixNano != 0 && r.EndedAtUnixNano < r.StartedAtUnixNano {
		errs = append(errs, "ended before it started")
	}
	if len(r.Error) > MaxErrorBytes {
		errs = append(errs, fmt.Sprintf("error longer than %d bytes", MaxErrorBytes))
	}
	if r.Signal < 0 || r.Signal > 128 {
		errs = append(errs, fmt.Sprintf("signal %d", r.Signal))
	}
	if len(errs) > 0 {
		return fmt.Errorf("taskspec: repair result: %s", strings.Join(errs, "; "))
	}
	return nil
}

// EncodeRepairResult is TaskStatus.data of a finished repair task.
func EncodeRepairResult(r *healerpb.RepairResult) ([]byte, error) {
	if r == nil {
		return nil, errors.New("taskspec: repair result: none")
	}
	if err := validateRepairResult(r); err != nil {
		return nil, err
	}
	b, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("taskspec: repair result: %w", err)
	}
	return b, nil
}

// DecodeRepairResult reads a repair task's TaskStatus.data. Empty data (a
// status from the agent or master, which never carries one) is an error the
// caller can tell by len(data) == 0 first.
func DecodeRepairResult(data []byte) (*healerpb.RepairResult, error) {
	if len(data) == 0 {
		return nil, errors.New("taskspec: repair result: no data")
	}
	var r healerpb.RepairResult
	if err := r.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("taskspec: repair result: %w", err)
	}
	if err := validateRepairResult(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

func validateReport(r *healerpb.MonitorReport) error {
	var errs []string
	if err := checkAgentID(r.AgentId); err != nil {
		errs = append(errs, err.Error())
	}
	if r.AtUnixNano <= 0 {
		errs = append(errs, "no time")
	}
	if len(r.Violations)+len(r.Recovered) > 2*monitorconfig.MaxChecks {
		errs = append(errs, "more entries than a config has checks")
	}
	if len(r.TaskId) > maxIDBytes || len(r.Hostname) > MaxTextBytes {
		errs = append(errs, "task id or hostname too long")
	}
	for _, list := range [][]healerpb.Violation{r.Violations, r.Recovered} {
		for _, v := range list {
			if v.Check == "" || v.Problem == "" {
				errs = append(errs, "an entry without check or problem")
			}
			if len(v.Check) > MaxTextBytes || len(v.Problem) > MaxTextBytes || len(v.Message) > MaxTextBytes {
				errs = append(errs, fmt.Sprintf("an entry with a field longer than %d bytes", MaxTextBytes))
			}
			if math.IsInf(v.Value, 0) {
				errs = append(errs, "an infinite value")
			}
			if !utf8.ValidString(v.Problem) || !utf8.ValidString(v.Check) {
				errs = append(errs, "an entry that is not UTF-8")
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("taskspec: monitor report: %s", strings.Join(errs, "; "))
	}
	return nil
}

// EncodeMonitorReport is the data of a monitor's executor MESSAGE.
func EncodeMonitorReport(r *healerpb.MonitorReport) ([]byte, error) {
	if r == nil {
		return nil, errors.New("taskspec: monitor report: none")
	}
	if err := validateReport(r); err != nil {
		return nil, err
	}
	b, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("taskspec: monitor report: %w", err)
	}
	if len(b) > MaxReportBytes {
		return nil, fmt.Errorf("taskspec: monitor report: %d bytes, at most %d", len(b), MaxReportBytes)
	}
	return b, nil
}

// DecodeMonitorReport reads a framework message from a healer executor.
// Reports are idempotent: a caller may act on the latest one per agent and
// drop older ones by AtUnixNano.
func DecodeMonitorReport(data []byte) (*healerpb.MonitorReport, error) {
	if len(data) > MaxReportBytes {
		return nil, fmt.Errorf("taskspec: monitor report: %d bytes, at most %d", len(data), MaxReportBytes)
	}
	var r healerpb.MonitorReport
	if err := r.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("taskspec: monitor report: %w", err)
	}
	if err := validateReport(&r); err != nil {
		return nil, err
	}
	return &r, nil
}
