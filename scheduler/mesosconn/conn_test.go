package mesosconn

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/healer-mesos/healer/integration/emulator"
)

// frameworkState is the framework as the leading master's operator API
// reports it: connected, registered but disconnected, or completed.
func frameworkState(t *testing.T, op *Conn, id string) string {
	t.Helper()
	fws := mustOperator(t, op, mcalls.GetFrameworks()).GetFrameworks
	for _, f := range fws.Frameworks {
		if f.FrameworkInfo.GetID().GetValue() == id {
			if f.Connected {
				return "connected"
			}
			return "disconnected"
		}
	}
	for _, f := range fws.CompletedFrameworks {
		if f.FrameworkInfo.GetID().GetValue() == id {
			return "completed"
		}
	}
	return "unknown"
}

func waitState(t *testing.T, op *Conn, id, want string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for got := frameworkState(t, op, id); got != want; got = frameworkState(t, op, id) {
		if time.Now().After(deadline) {
			t.Fatalf("framework %s is %s; want %s", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The whole happy path on one master: SUBSCRIBED with healer's
// FrameworkInfo, stream events in order with HEARTBEATs consumed, calls with
// framework_id and stream ID stamped, UPDATE_FRAMEWORK's empty 200 taken as
// success (pitfall 3), a rejected call that keeps the stream (pitfall 1),
// and a stop that closes the stream without TEARDOWN.
func TestSubscribeCallsAndStop(t *testing.T) {
	cl := startCluster(t, clusterConfig(2))
	addr := cl.MasterAddr(0)
	r := start(t, testConfig(t, addr))
	op := operator(t, addr)

	sub := r.subscribed(1)
	if sub.FrameworkID == "" || sub.Master != addr || sub.MasterInfo.ID != cl.Leader().ID() || sub.HeartbeatInterval != time.Second {
		t.Errorf("Subscribed = %+v; want a framework ID, master %s (%s), heartbeat 1s", sub, addr, cl.Leader().ID())
	}
	if got := r.conn.Leader(); got != addr {
		t.Errorf("Leader() = %q; want %q", got, addr)
	}
	fws := mustOperator(t, op, mcalls.GetFrameworks()).GetFrameworks.Frameworks
	if len(fws) != 1 || fws[0].FrameworkInfo.GetWebUiURL() != "http://scheduler.test:7070/" || !fws[0].FrameworkInfo.GetCheckpoint() ||
		fws[0].FrameworkInfo.GetFailoverTimeout() != 3600 || len(fws[0].FrameworkInfo.Capabilities) != 2 {
		t.Errorf("master's FrameworkInfo = %+v", fws)
	}

	ev := r.next("OFFERS", eventOf(scheduler.Event_OFFERS))
	if ev.Gen != 1 {
		t.Errorf("OFFERS of generation %d; want 1", ev.Gen)
	}
	offer := ev.Event.Offers.Offers[0]
	// The call is not modified: the stamp goes on a copy.
	decline := calls.Decline(offer.ID).With(calls.RefuseSeconds(0))
	r.mustCall(decline)
	if decline.FrameworkID != nil {
		t.Error("Call modified the caller's call")
	}
	again := r.next("OFFERS after DECLINE", eventOf(scheduler.Event_OFFERS)).Event.Offers.Offers[0]
	if again.ID == offer.ID {
		t.Error("declined offer offered again with the same ID")
	}
	// Every request says who sends it (a master logs the User-Agent).
	for _, rec := range cl.Recorder().Records(emulator.RecordSchedulerCall) {
		if rec.Client != "healer-scheduler" {
			t.Errorf("%s sent with User-Agent %q, want healer-scheduler", rec.Type, rec.Client)
		}
	}

	// UPDATE_FRAMEWORK answers 200 with no Content-Type: success.
	fi := testFramework()
	fi.WebUiURL = proto.String("http://elsewhere.test:7070/")
	r.mustCall(calls.UpdateFramework(fi))
	fws = mustOperator(t, op, mcalls.GetFrameworks()).GetFrameworks.Frameworks
	if len(fws) != 1 || fws[0].FrameworkInfo.GetWebUiURL() != "http://elsewhere.test:7070/" {
		t.Errorf("webui_url after UPDATE_FRAMEWORK: %+v", fws)
	}

	// A call the master rejects returns its 400 and keeps the stream.
	err := r.call(calls.Acknowledge(offer.AgentID.Value, "t1", []byte("not a uuid")))
	var merr *Error
	if !errors.As(err, &merr) || merr.Code != http.StatusBadRequest || !strings.Contains(merr.Body, "Not a valid UUID") ||
		errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("ACKNOWLEDGE with a bad uuid: %v; want *Error 400 Not a valid UUID, still subscribed", err)
	}
	r.mustCall(calls.Decline(again.ID).With(calls.RefuseSeconds(0)))
	r.next("OFFERS after the rejected call", eventOf(scheduler.Event_OFFERS))
	for _, ev := range r.seen {
		if ev.Disconnected != nil || ev.Gen != 1 {
			t.Fatalf("event %+v after a rejected call; want generation 1 to go on", ev)
		}
	}

	if err := r.stop(); err != nil {
		t.Fatalf("Run = %v; want nil on cancel", err)
	}
	for range r.conn.Events() {
		// Drain what was queued: the channel is closed after it.
	}
	// Closed, not torn down: the master keeps the framework for its
	// failover timeout.
	waitState(t, op, sub.FrameworkID, "disconnected")
	if err := r.call(calls.Revive()); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("Call after Run returned: %v; want ErrNotSubscribed", err)
	}
}

// With a static list, the connection finds the leader whatever the list's
// order (the standby redirects with a scheme-less //host:port Location),
// and later calls go to the leader, not the standby (pitfall 2).
func TestStaticListFindsLeader(t *testing.T) {
	cfg := clusterConfig(1)
	cfg.Masters = 2
	cl := startCluster(t, cfg)
	standby, leader := cl.MasterAddr(1), cl.MasterAddr(0)
	r := start(t, testConfig(t, standby+","+leader))
	if sub := r.subscribed(1); sub.Master != leader {
		t.Fatalf("subscribed at %s; want the leader %s", sub.Master, leader)
	}
	// Each call goes to the leader: declined without a filter, the agent
	// is offered again.
	for range 3 {
		offer := r.next("OFFERS", eventOf(scheduler.Event_OFFERS)).Event.Offers.Offers[0]
		r.mustCall(calls.Decline(offer.ID).With(calls.RefuseSeconds(0)))
	}
	r.quiet(300 * time.Millisecond)
}

// After the leading master dies, the connection resubscribes at the new
// one with the same framework ID, once it has recovered (until then it
// answers 503 Master has not finished recovery, which is retried).
func TestResubscribeAfterMasterFailover(t *testing.T) {
	cfg := clusterConfig(1)
	cfg.Masters = 2
	cfg.Master.RecoveryDelay = 500 * time.Millisecond
	cl := startCluster(t, cfg)
	r := start(t, testConfig(t, cl.MasterAddr(0)+","+cl.MasterAddr(1)))
	first := r.subscribed(1)
	if err := cl.KillLeader(); err != nil {
		t.Fatal(err)
	}
	r.disconnected(1, ErrStreamEnded)
	second := r.subscribed(2)
	if second.Master != cl.MasterAddr(1) || second.FrameworkID != first.FrameworkID {
		t.Fatalf("resubscribed %+v; want framework %s at %s", second, first.FrameworkID, cl.MasterAddr(1))
	}
	if elected := cl.Leader().ElectedTime(); time.Since(elected) < cfg.Master.RecoveryDelay {
		t.Errorf("subscribed %v after the election, within the %v recovery", time.Since(elected), cfg.Master.RecoveryDelay)
	}
	r.mustCall(calls.Revive())
	r.next("OFFERS from the new leader", func(ev Event) bool { return ev.Gen == 2 && eventOf(scheduler.Event_OFFERS)(ev) })
}

// A call answered by a master that no longer leads (307) drops the
// subscription at once and the connection resubscribes at the master the
// redirect names: once, not in a loop.
func TestCallOnStandbyResubscribesAtLeader(t *testing.T) {
	cfg := clusterConfig(1)
	cfg.Masters = 2
	cl := startCluster(t, cfg)
	m0, m1 := cl.MasterAddr(0), cl.MasterAddr(1)
	r := start(t, testConfig(t, m0+","+m1))
	first := r.subscribed(1)
	// Master 1 takes over while master 0 keeps our stream open.
	cl.Masters()[1].Lead()
	cl.Masters()[0].Follow(m1)

	err := r.call(calls.Revive())
	if !errors.Is(err, ErrNotSubscribed) {
		t.Fatalf("REVIVE on the standby: %v; want ErrNotSubscribed", err)
	}
	r.disconnected(1, ErrLeaderChanged)
	if second := r.subscribed(2); second.Master != m1 || second.FrameworkID != first.FrameworkID {
		t.Fatalf("resubscribed %+v; want framework %s at %s", second, first.FrameworkID, m1)
	}
	r.mustCall(calls.Revive())
	r.quiet(300 * time.Millisecond)
}

// A stream that stays open but silent (a half-open connection) is closed
// after HeartbeatMisses heartbeat intervals, and the connection
// resubscribes.
func TestHeartbeatWatchdog(t *testing.T) {
	cfg := clusterConfig(1)
	cfg.Master.HeartbeatInterval = 200 * time.Millisecond
	cl := startCluster(t, cfg)
	ccfg := testConfig(t, cl.MasterAddr(0))
	ccfg.HeartbeatMisses = 3
	r := start(t, ccfg)
	first := r.subscribed(1)
	if first.HeartbeatInterval != 200*time.Millisecond {
		t.Fatalf("heartbeat interval %v; want 200ms from SUBSCRIBED", first.HeartbeatInterval)
	}
	stalled := time.Now()
	if !cl.StallSubscription(first.FrameworkID) {
		t.Fatal("no stream to stall")
	}
	r.disconnected(1, ErrHeartbeatLost)
	if waited := time.Since(stalled); waited < 400*time.Millisecond {
		t.Errorf("stream counted lost %v after it stalled; want about 3 × 200ms", waited)
	}
	if second := r.subscribed(2); second.FrameworkID != first.FrameworkID {
		t.Fatalf("resubscribed as %s; want %s", second.FrameworkID, first.FrameworkID)
	}
	r.mustCall(calls.Revive())
}

// A stream the master closes is followed by a resubscription.
func TestResubscribeAfterStreamClosed(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	r := start(t, testConfig(t, cl.MasterAddr(0)))
	first := r.subscribed(1)
	if !cl.CloseSubscription(first.FrameworkID) {
		t.Fatal("no stream to close")
	}
	r.disconnected(1, ErrStreamEnded)
	if second := r.subscribed(2); second.FrameworkID != first.FrameworkID {
		t.Fatalf("resubscribed as %s; want %s", second.FrameworkID, first.FrameworkID)
	}
}

// A 403 on a call means the master no longer holds the subscription: the
// call fails with ErrNotSubscribed, the subscription is dropped and made
// again, and calls work after that.
func TestCallForbiddenResubscribes(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	r := start(t, testConfig(t, cl.MasterAddr(0)))
	r.subscribed(1)
	var fired atomic.Bool
	cl.SetCallFaultFor(emulator.APIScheduler, func(req *http.Request) (int, time.Duration) {
		// Only calls carry a stream ID; SUBSCRIBE goes through.
		if req.Header.Get("Mesos-Stream-Id") != "" && !fired.Swap(true) {
			return http.StatusForbidden, 0
		}
		return 0, 0
	})
	err := r.call(calls.Revive())
	var merr *Error
	if !errors.Is(err, ErrNotSubscribed) || !errors.As(err, &merr) || merr.Code != http.StatusForbidden {
		t.Fatalf("REVIVE answered 403: %v; want ErrNotSubscribed with the 403", err)
	}
	r.disconnected(1, ErrNotSubscribed)
	r.subscribed(2)
	r.mustCall(calls.Revive())
}

// An operator TEARDOWN removes the framework: the stream ends, the
// resubscription is refused with "Framework has been removed", and Run
// stops with ErrFrameworkRemoved and the way out, registering nothing new.
func TestFrameworkTornDown(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	addr := cl.MasterAddr(0)
	cfg := testConfig(t, addr)
	cfg.FrameworkIDStore = "the znode /healer/framework_id"
	r := start(t, cfg)
	sub := r.subscribed(1)
	op := operator(t, addr)
	if _, err := op.Operator(context.Background(), mcalls.Teardown(mesos.FrameworkID{Value: sub.FrameworkID})); err != nil {
		t.Fatalf("operator TEARDOWN: %v", err)
	}
	r.disconnected(1, ErrStreamEnded)
	err := r.result()
	if !errors.Is(err, ErrFrameworkRemoved) {
		t.Fatalf("Run = %v; want ErrFrameworkRemoved", err)
	}
	for _, want := range []string{sub.FrameworkID, "Framework has been removed", "delete the znode /healer/framework_id", "tasks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	fws := mustOperator(t, op, mcalls.GetFrameworks()).GetFrameworks
	if len(fws.Frameworks) != 0 {
		t.Errorf("a framework was registered after the removal: %+v", fws.Frameworks)
	}
	for ev := range r.conn.Events() {
		if ev.Subscribed != nil {
			t.Errorf("Subscribed after the removal: %+v", ev)
		}
	}
}

// The failover timeout expires while healer is away: a connection started
// later with the stored ID stops with ErrFrameworkRemoved, never
// subscribing.
func TestFailoverTimeoutExpired(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	addr := cl.MasterAddr(0)
	op := operator(t, addr)
	cfg := testConfig(t, addr)
	cfg.Framework.FailoverTimeout = proto.Float64(0.2)
	r := start(t, cfg)
	id := r.subscribed(1).FrameworkID
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	waitState(t, op, id, "completed")

	cfg = testConfig(t, addr)
	cfg.FrameworkID = id
	r2 := start(t, cfg)
	if err := r2.result(); !errors.Is(err, ErrFrameworkRemoved) {
		t.Fatalf("Run with a removed ID = %v; want ErrFrameworkRemoved", err)
	}
	for ev := range r2.conn.Events() {
		t.Errorf("event %+v from a connection whose framework was removed", ev)
	}
}

// A second connection subscribing with the same framework ID ends the
// first one's subscription ("Framework failed over"): the first stops with
// ErrFailedOver instead of taking it back, so the two never steal the
// subscription from each other; the second keeps it.
func TestSecondSchedulerWithSameID(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	addr := cl.MasterAddr(0)
	a := start(t, testConfig(t, addr))
	id := a.subscribed(1).FrameworkID

	cfg := testConfig(t, addr)
	cfg.FrameworkID = id
	b := start(t, cfg)
	if sub := b.subscribed(1); sub.FrameworkID != id {
		t.Fatalf("second connection subscribed as %s; want %s", sub.FrameworkID, id)
	}
	a.disconnected(1, ErrFailedOver)
	if err := a.result(); !errors.Is(err, ErrFailedOver) || !strings.Contains(err.Error(), id) {
		t.Fatalf("first Run = %v; want ErrFailedOver naming %s", err, id)
	}
	b.mustCall(calls.Revive())
	b.quiet(time.Second)
}

// A burst larger than the queue (a reconciliation's answers) waits for the
// runtime to take it: every event arrives, in one subscription. Dropping the
// subscription instead would bring the same burst again after the next
// SUBSCRIBED, for ever at the size of a large cluster.
func TestEventBurstWaitsForTheRuntime(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	cfg := testConfig(t, cl.MasterAddr(0))
	cfg.EventBuffer = 8
	r := start(t, cfg)
	r.subscribed(1)
	tasks := map[string]string{}
	for i := range 50 {
		tasks["t"+string(rune('A'+i%26))+string(rune('a'+i/26))] = ""
	}
	r.mustCall(calls.Reconcile(calls.ReconcileTasks(tasks)))
	// The master has sent all 50 while the runtime read none: the queue is
	// full and the stream waits.
	deadline := time.Now().Add(waitTimeout)
	for len(cl.Recorder().Records(emulator.RecordStatusUpdate)) < 50 {
		if time.Now().After(deadline) {
			t.Fatal("the master did not answer the reconciliation")
		}
		time.Sleep(5 * time.Millisecond) // polling the master's records
	}
	for i := range 50 {
		ev := r.next("an UPDATE", func(ev Event) bool { return ev.Event != nil && ev.Event.Type == scheduler.Event_UPDATE })
		if ev.Gen != 1 {
			t.Fatalf("UPDATE %d in generation %d, want 1", i, ev.Gen)
		}
	}
	for _, ev := range r.seen {
		if ev.Disconnected != nil {
			t.Fatalf("the subscription was dropped during the burst: %v", ev.Disconnected)
		}
	}
}

// A runtime that stops reading altogether fills the queue: after the
// watchdog's time the subscription is dropped with ErrEventOverflow and
// made again, so the runtime reconciles.
func TestEventOverflowResubscribes(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	cfg := testConfig(t, cl.MasterAddr(0))
	cfg.EventBuffer = 8
	r := start(t, cfg)
	first := r.subscribed(1)
	// 50 explicit reconciliations of unknown tasks: 50 UPDATEs, more than
	// the queue holds while nobody reads.
	tasks := map[string]string{}
	for i := range 50 {
		tasks["t"+string(rune('A'+i%26))+string(rune('a'+i/26))] = ""
	}
	r.mustCall(calls.Reconcile(calls.ReconcileTasks(tasks)))
	// Still not reading: the master sees the stream dropped.
	waitState(t, operator(t, cl.MasterAddr(0)), first.FrameworkID, "disconnected")
	err := r.disconnected(1, ErrEventOverflow)
	updates := 0
	for _, ev := range r.seen {
		if ev.Event != nil && ev.Event.Type == scheduler.Event_UPDATE {
			updates++
		}
	}
	if updates > cfg.EventBuffer {
		t.Errorf("%d UPDATEs delivered before the overflow (queue of %d)", updates, cfg.EventBuffer)
	}
	if !strings.Contains(err.Error(), "reconcile") {
		t.Errorf("overflow reason %q does not tell the runtime to reconcile", err)
	}
	if second := r.subscribed(2); second.FrameworkID != first.FrameworkID {
		t.Fatalf("resubscribed as %s; want %s", second.FrameworkID, first.FrameworkID)
	}
	r.mustCall(calls.Revive())
}

// bigAttribute is a TEXT attribute of n bytes.
func bigAttribute(n int) mesos.Attribute {
	return mesos.Attribute{Name: "blob", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: strings.Repeat("x", n)}}
}

// One OFFERS event over mesos-go's 4 MiB frame limit (agents with large
// attributes) arrives whole; with MaxEventBytes below it, the stream is
// dropped with an error that names the limit.
func TestOffersOverFourMiB(t *testing.T) {
	cfg := clusterConfig(6)
	cfg.Agent.Attributes = []mesos.Attribute{bigAttribute(800 << 10)}
	cl := startCluster(t, cfg)

	r := start(t, testConfig(t, cl.MasterAddr(0)))
	r.subscribed(1)
	ev := r.next("OFFERS over 4 MiB", func(ev Event) bool {
		return eventOf(scheduler.Event_OFFERS)(ev) && ev.Event.Size() > 4<<20
	})
	if n := len(ev.Event.Offers.Offers); n != 6 {
		t.Errorf("%d offers in the big event; want 6", n)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	small := testConfig(t, cl.MasterAddr(0))
	small.MaxEventBytes = 1 << 20
	r = start(t, small)
	r.subscribed(1)
	if err := r.disconnected(1, ErrStreamEnded); !strings.Contains(err.Error(), "raise MaxEventBytes") {
		t.Errorf("reason %q does not name the limit", err)
	}
}

// With HTTP authentication on, the principal and secret go with every
// scheduler and operator request; a wrong secret stops Run at once with an
// error naming the principal; no credentials at all says so.
func TestAuthentication(t *testing.T) {
	cfg := clusterConfig(1)
	cfg.Master.Credentials = map[string]string{"healer": "s3cret"}
	cfg.Master.AuthenticateFrameworks = true
	cfg.Master.AuthenticateHTTPReadwrite = true
	cl := startCluster(t, cfg)
	addr := cl.MasterAddr(0)

	good := testConfig(t, addr)
	good.Principal, good.Secret = "healer", "s3cret"
	r := start(t, good)
	sub := r.subscribed(1)
	r.mustCall(calls.Revive())
	fws, err := r.conn.Operator(context.Background(), mcalls.GetFrameworks())
	if err != nil {
		t.Fatalf("operator GET_FRAMEWORKS with credentials: %v", err)
	}
	if f := fws.GetFrameworks.Frameworks; len(f) != 1 || f[0].FrameworkInfo.GetPrincipal() != "healer" || f[0].FrameworkInfo.GetID().GetValue() != sub.FrameworkID {
		t.Errorf("frameworks = %+v; want %s with principal healer", f, sub.FrameworkID)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, principal, secret, want string
	}{
		{"wrong secret", "healer", "guess", `principal "healer"`},
		{"no credentials", "", "", "no credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, addr)
			cfg.Principal, cfg.Secret = tc.principal, tc.secret
			r := start(t, cfg)
			err := r.result()
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "mesos-master-scheduler") {
				t.Fatalf("Run = %v; want ErrUnauthorized saying %s and the realm", err, tc.want)
			}
		})
	}
	var merr *Error
	if _, err := operator(t, addr).Operator(context.Background(), mcalls.GetHealth()); !errors.As(err, &merr) || merr.Code != http.StatusUnauthorized {
		t.Errorf("operator call without credentials: %v; want the master's 401", err)
	}
}

// A SUBSCRIBE the master refuses with an ERROR event (here an invalid role)
// stops Run: retrying the same FrameworkInfo cannot succeed.
func TestSubscribeRefused(t *testing.T) {
	cl := startCluster(t, clusterConfig(1))
	cfg := testConfig(t, cl.MasterAddr(0))
	cfg.Framework.Roles = []string{"-bad"}
	r := start(t, cfg)
	if err := r.result(); !errors.Is(err, ErrSubscribeRefused) || !strings.Contains(err.Error(), "invalid role") {
		t.Fatalf("Run = %v; want ErrSubscribeRefused quoting the master", err)
	}
}
