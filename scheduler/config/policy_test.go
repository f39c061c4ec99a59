package config

import (
	"reflect"
	"testing"
	"time"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// The defaults are the coordinator's: a Config of defaults converts to
// exactly coordinator.DefaultPolicy (with the step timeout filled in).
func TestDefaultPolicyAgrees(t *testing.T) {
	c, err := Load([]string{"--master=m1:5050"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	want := coordinator.DefaultPolicy()
	want.DefaultLadder[0].Timeout = want.DefaultStepTimeout
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Policy() of the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func TestPolicy(t *testing.T) {
	file := writeFile(t, "healer.yaml", `
repair_set: {restart: systemctl restart mesos-agent, ipmi: /opt/ipmi-cycle}
repair_order: [restart:slave, ipmi:master, isolate]
ladders:
  disk_full:
    - {action: restart, scope: agent, timeout: 90secs, approval: true, drain: true}
`)
	c, err := Load([]string{"--master=m1:5050", "--config=" + file, "--mode=execute", "--num_allowed_repairs=3",
		"--zone_cap=2", "--max_unhealthy=40", "--max_unhealthy_min=5", "--isolation=maintenance", "--min_repair_spacing=30secs",
		"--probation=20m", "--reset_after=2h", "--offer_timeout=1m", "--step_timeout=3m", "--drain_timeout=4m"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	want := coordinator.Policy{
		Mode: coordinator.ModeExecute,
		DefaultLadder: coordinator.Ladder{
			{Action: "restart", Scope: coordinator.ScopeAgent, Timeout: 3 * time.Minute},
			{Action: "ipmi", Scope: coordinator.ScopeMaster, Timeout: 3 * time.Minute},
			{Action: "isolate", Scope: coordinator.ScopeMaster, Timeout: 3 * time.Minute},
		},
		Ladders: map[string]coordinator.Ladder{"disk_full": {
			{Action: "restart", Scope: coordinator.ScopeAgent, Timeout: 90 * time.Second, Approval: true, Drain: true},
		}},
		DefaultStepTimeout: 3 * time.Minute,
		NumAllowedRepairs:  3,
		ZoneCap:            2,
		// An absolute count of 40 is "more than 40": percent 0, minimum 40.
		MaxUnhealthyPercent: 0,
		MaxUnhealthyMin:     40,
		MinSpacing:          30 * time.Second,
		Probation:           20 * time.Minute,
		ResetAfter:          2 * time.Hour,
		OfferTimeout:        time.Minute,
		DrainTimeout:        4 * time.Minute,
		Isolation:           coordinator.IsolateMaintenanceDown,
		KillConfirmTimeout:  coordinator.KillGrace, // the default
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Policy():\n got %+v\nwant %+v", p, want)
	}
}

func TestPolicyCarriesZoneCaps(t *testing.T) {
	c, err := Load([]string{"--master=m1:5050", "--zone_cap=3", "--config=" + writeFile(t, "z.yaml", "zone_caps: {a: 1}\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Policy()
	if err != nil {
		t.Fatal(err)
	}
	if p.ZoneCap != 3 || len(p.ZoneCaps) != 1 || p.ZoneCaps["a"] != 1 {
		t.Fatalf("policy zone caps = %d, %v; want 3 and map[a:1]", p.ZoneCap, p.ZoneCaps)
	}
}
