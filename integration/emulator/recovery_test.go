package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/internal/testtool"
)

// TestRecoveryAfterFailover: a master elected after a failover answers 503
// Master has not finished recovery on both APIs until its recovery ends,
// then serves; mesos-go sees a temporary error and subscribes once it is
// over. The cluster's first leader does not wait. The window is held open
// (an hour) and ended with FinishRecovery, so the test does not race it.
func TestRecoveryAfterFailover(t *testing.T) {
	cfg, _ := zkClusterConfig(t, 1)
	cfg.Master.RecoveryDelay = time.Hour
	cl := startCluster(t, cfg)

	if code, _, body := postRaw(t, cl.LeaderURL()+"/api/v1", `{"type":"GET_HEALTH"}`, nil); code != http.StatusOK {
		t.Fatalf("first leader answered %d %q; want 200 at once", code, body)
	}
	old := cl.Leader()
	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "a new leader", 5*time.Second, func() bool { m := cl.Leader(); return m != nil && m != old })
	leader := cl.Leader()
	url := cl.LeaderURL()
	if !leader.Recovering() {
		t.Fatal("the new leader is not recovering")
	}

	for _, path := range []string{"/api/v1/scheduler", "/api/v1", "/master/api/v1"} {
		code, hdr, body := postRaw(t, url+path, `{"type":"GET_HEALTH"}`, nil)
		if code != http.StatusServiceUnavailable || body != "Master has not finished recovery" ||
			hdr.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s during recovery: %d %q", path, code, body)
		}
	}

	// mesos-go: a temporary 503 while recovering...
	c := newSchedClient(t, url, protobufCodec)
	fi := frameworkInfo("recovery")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := c.caller.Call(ctx, calls.Subscribe(&fi))
	cancel()
	if e, ok := err.(interface{ Temporary() bool }); !ok || !e.Temporary() || !apierrors.CodeMesosUnavailable.Matches(err) ||
		!strings.Contains(err.Error(), "Master has not finished recovery") {
		t.Fatalf("subscribe during recovery: %v; want a temporary 503", err)
	}

	// ...and SUBSCRIBED once recovery is over.
	leader.FinishRecovery()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.caller.Call(ctx, calls.Subscribe(&fi))
	if err != nil {
		t.Fatalf("subscribe after recovery: %v", err)
	}
	defer resp.Close()
	var ev scheduler.Event
	if err := resp.Decode(&ev); err != nil || ev.Type != scheduler.Event_SUBSCRIBED {
		t.Fatalf("after recovery: %v, %v", ev.Type, err)
	}
}
