package monitorconfig

import (
	"testing"

	"github.com/healer-mesos/healer/proto/healerpb"
)

// FuzzParse: any input either parses into a config Validate accepts and
// that survives the trip through TaskInfo.data, or fails with a message
// that names the file; it never panics.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		cfg, err := Parse(name, data)
		if err != nil {
			if cfg != nil {
				t.Fatal("a config and an error")
			}
			return
		}
		if err := Validate(cfg); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		b, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var back healerpb.MonitorConfig
		if err := back.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		if err := Validate(&back); err != nil {
			t.Fatalf("the encoded config no longer validates: %v", err)
		}
	})
}
