package taskspec

import (
	"testing"
)

// The decoders read bytes from the network (TaskInfo.data, TaskStatus.data,
// framework messages): any input either decodes into something that encodes
// again, or is refused; none panics.

func FuzzDecodeRepairTask(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := DecodeRepairTask(data)
		if err != nil {
			return
		}
		if err := validateRepairTask(task); err != nil {
			t.Fatalf("decoded an invalid task: %v", err)
		}
	})
}

func FuzzDecodeRepairResult(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRepairResult(data)
		if err != nil {
			return
		}
		if _, err := EncodeRepairResult(r); err != nil {
			t.Fatalf("a decoded result does not encode: %v", err)
		}
	})
}

func FuzzDecodeMonitorReport(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeMonitorReport(data)
		if err != nil {
			return
		}
		if _, err := EncodeMonitorReport(r); err != nil {
			t.Fatalf("a decoded report does not encode: %v", err)
		}
	})
}

func FuzzDecodeMonitorConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := DecodeMonitorConfig(data)
		if err != nil {
			return
		}
		if _, err := cfg.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseTaskID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		r, err := ParseTaskID(id)
		if err != nil {
			return
		}
		if r.ID() != id {
			t.Fatalf("ParseTaskID(%q) = %+v, whose ID is %q", id, r, r.ID())
		}
	})
}
