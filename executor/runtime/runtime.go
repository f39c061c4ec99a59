// Package runtime is healer-executor's event loop: the v1 executor API
// through mesos-go (lib/executor, executor/calls, httpcli/httpexec), and
// the repair and monitor tasks it runs (executor/taskspec says what they
// are).
//
// One goroutine, Run's, owns all state: the subscription, the tasks, the
// unacknowledged updates. The stream reader, each task and each monitor
// are goroutines that report to it on one channel; Run waits for every one
// of them before it returns.
//
// The contract with the agent (mesos-protocol.md section 4):
//   - SUBSCRIBE with the unacknowledged updates (in the order they were
//     sent) and the tasks that have no acknowledged update yet; after a
//     disconnect, with checkpointing on, again with backoff (at most
//     MESOS_SUBSCRIPTION_BACKOFF_MAX apart) for up to
//     MESOS_RECOVERY_TIMEOUT, while the tasks run on; without
//     checkpointing, the tasks are killed and the executor exits.
//   - An update stays unacknowledged until the agent's ACKNOWLEDGED; one
//     the agent did not take (a failed POST) is re-sent every
//     UpdateRetryInterval while subscribed, and with the next SUBSCRIBE.
//   - SHUTDOWN kills every task, with a grace period that fits in
//     MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, reports them TASK_KILLED, and
//     exits before the agent destroys the container.
//   - With no task left and every update acknowledged, the executor lingers
//     IdleTimeout for the next task (a repair step often follows another),
//     then exits 0.
//
// A repair task runs its command with stepcmd and reports TASK_RUNNING, then
// TASK_FINISHED (exit 0), TASK_FAILED (non-zero exit, timeout, could not
// start) or TASK_KILLED, with a taskspec.RepairResult in the status data. A
// monitor task runs executor/monitor and sends its reports as executor
// MESSAGEs while subscribed (dropped otherwise: reports are idempotent); it
// ends only when killed. A task this executor cannot run (unknown kind, bad
// payload, meant for another agent) ends at once in TASK_FAILED with
// REASON_TASK_INVALID and the reason in the message: never a crash.
package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"

	"github.com/healer-mesos/healer/executor/monitor"
	"github.com/healer-mesos/healer/executor/taskspec"
	"github.com/healer-mesos/healer/internal/stepcmd"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// Defaults of Config's zero fields.
const (
	DefaultUpdateRetryInterval = 5 * time.Second
	DefaultCallTimeout         = 10 * time.Second
	// firstBackoff is the first wait before re-subscribing.
	firstBackoff = 50 * time.Millisecond
	// noCheckpointRetry bounds how long an executor without checkpointing
	// tries its first SUBSCRIBE (the agent's registration timeout is 1 min).
	noCheckpointRetry = time.Minute
	// lostAgentKillGrace is the kill grace of tasks left when the agent is
	// lost for good.
	lostAgentKillGrace = time.Second
	// maxStatusMessage bounds TaskStatus.message.
	maxStatusMessage = 4096
)

// Config is one executor's.
type Config struct {
	// Mesos is the agent-provided environment (config.FromEnv).
	Mesos config.Config
	// IdleTimeout: with no task and nothing unacknowledged, exit after this
	// long; 0 means taskspec.DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Env is the base environment of commands (os.Environ()).
	Env []string
	// Stats reads built-in statistics; nil means monitor.SystemStats.
	Stats monitor.Stats
	// UpdateRetryInterval and CallTimeout: 0 means the defaults.
	UpdateRetryInterval time.Duration
	CallTimeout         time.Duration
	Logger              *slog.Logger
}

// ErrDisconnected is returned when the executor lost the agent for good: no
// checkpointing, or the recovery timeout passed.
var ErrDisconnected = errors.New("lost the agent")

// loop events, from the goroutines to Run's.
type (
	evStream struct {
		conn uint64
		ev   *executor.Event
	}
	evStreamEnd struct {
		conn uint64
		err  error
	}
	evTaskDone struct {
		id     string
		result *stepcmd.Result // repair tasks
		runErr error
	}
	evReport struct {
		id     string
		report *healerpb.MonitorReport
	}
)

// pendingUpdate is an update the agent has not acknowledged.
type pendingUpdate struct {
	upd    executor.Call_Update
	sentAt time.Time // zero: never reached the agent
}

// task is a task this executor runs.
type task struct {
	info   mesos.TaskInfo
	ref    taskspec.TaskRef
	cancel context.CancelCauseFunc
	grace  time.Duration // kill grace (repair)
	// killed: a KILL or SHUTDOWN asked it to stop.
	killed bool
	// done: its terminal update was sent; the task is forgotten once that
	// update is acknowledged.
	done bool
}

type loop struct {
	cfg    Config
	log    *slog.Logger
	cli    calls.Sender // non-streaming calls
	sub    calls.Sender // SUBSCRIBE (its own connection)
	events chan any
	quit   chan struct{} // closed when Run is leaving: goroutines stop sending
	wg     sync.WaitGroup

	conn         uint64 // the current stream's number; 0 when none
	connected    bool   // SUBSCRIBED on the current stream
	closeConn    func()
	agentID      string
	hostname     string
	lostAt       time.Time // when the last subscription ended (or the start)
	everSubbed   bool
	backoff      time.Duration
	nextSub      time.Time
	tasks        map[string]*task
	unackedTasks map[string]mesos.TaskInfo
	updates      []*pendingUpdate
	idleSince    time.Time // zero while busy
	shutdownBy   time.Time // zero unless shutting down
}

// Run subscribes to the agent and runs tasks until the executor is told to
// shut down, stays idle for IdleTimeout, or loses the agent. ctx ending
// (SIGTERM) kills the tasks and returns as a shutdown does. It returns nil
// for a clean end.
func Run(ctx context.Context, cfg Config) error {
	l := newLoop(cfg)
	defer l.wg.Wait()
	defer close(l.quit)
	defer l.disconnect()
	return l.run(ctx)
}

func newLoop(cfg Config) *loop {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = taskspec.DefaultIdleTimeout
	}
	if cfg.UpdateRetryInterval <= 0 {
		cfg.UpdateRetryInterval = DefaultUpdateRetryInterval
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Stats == nil {
		cfg.Stats = &monitor.SystemStats{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	endpoint := url.URL{Scheme: "http", Host: cfg.Mesos.AgentEndpoint, Path: "/api/v1/executor"}
	http := httpcli.New(
		httpcli.Endpoint(endpoint.String()),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(cfg.CallTimeout))),
	)
	opts := executor.CallOptions{calls.Framework(cfg.Mesos.FrameworkID), calls.Executor(cfg.Mesos.ExecutorID)}
	return &loop{
		cfg:          cfg,
		log:          cfg.Logger,
		cli:          calls.SenderWith(httpexec.NewSender(http.Send), opts...),
		sub:          calls.SenderWith(httpexec.NewSender(http.Send, httpcli.Close(true)), opts...),
		events:       make(chan any, 64),
		quit:         make(chan struct{}),
		tasks:        make(map[string]*task),
		unackedTasks: make(map[string]mesos.TaskInfo),
		lostAt:       time.Now(),
		nextSub:      time.Now(),
	}
}

func (l *loop) run(ctx context.Context) error {
	retry := time.NewTicker(l.cfg.UpdateRetryInterval)
	defer retry.Stop()
	wake := time.NewTimer(0)
	defer wake.Stop()
	for {
		if done, err := l.step(ctx); done {
			return err
		}
		wake.Reset(time.Until(l.nextWake()))
		select {
		case ev := <-l.events:
			l.handle(ev)
		case <-retry.C:
			l.retryUpdates()
		case <-wake.C:
		case <-ctx.Done():
			if l.shutdownBy.IsZero() {
				l.log.Info("signalled: killing tasks and exiting")
				l.beginShutdown()
			}
			ctx = context.Background() // from now on the shutdown deadline rules
		}
	}
}

// nextWake is when step has something to do by time alone.
func (l *loop) nextWake() time.Time {
	next := time.Now().Add(time.Hour)
	if l.conn == 0 && l.nextSub.Before(next) {
		next = l.nextSub
	}
	if !l.idleSince.IsZero() {
		if t := l.idleSince.Add(l.cfg.IdleTimeout); t.Before(next) {
			next = t
		}
	}
	if !l.shutdownBy.IsZero() && l.shutdownBy.Before(next) {
		next = l.shutdownBy
	}
	return next
}

// step does what time calls for: (re)subscribe, give up on the agent, exit
// when idle or shut down. done reports that Run must return err.
func (l *loop) step(ctx context.Context) (done bool, err error) {
	now := time.Now()
	if !l.shutdownBy.IsZero() {
		if l.runningTasks() == 0 && len(l.updates) == 0 {
			l.log.Info("shut down: every task ended and every update was acknowledged")
			return true, nil
		}
		if !now.Before(l.shutdownBy) {
			l.log.Warn("shutdown grace period over: exiting with work outstanding",
				"running", l.runningTasks(), "unacknowledged", len(l.updates))
			return true, nil
		}
	}
	if l.conn == 0 && !now.Before(l.nextSub) {
		if err := l.giveUp(now); err != nil {
			// Nobody will hear how the tasks end, but nothing is orphaned:
			// Run waits for them after this short kill.
			l.killAll(lostAgentKillGrace)
			return true, err
		}
		l.subscribe(ctx)
	}
	if l.idleSince.IsZero() && l.idle() {
		l.idleSince = now
	} else if !l.idle() {
		l.idleSince = time.Time{}
	}
	if !l.idleSince.IsZero() && !now.Before(l.idleSince.Add(l.cfg.IdleTimeout)) {
		l.log.Info("no task for the idle timeout: exiting", "idle_timeout", l.cfg.IdleTimeout)
		return true, nil
	}
	return false, nil
}

// idle: subscribed, not shutting down, no task, nothing unacknowledged.
func (l *loop) idle() bool {
	return l.connected && l.shutdownBy.IsZero() && len(l.tasks) == 0 && len(l.updates) == 0
}

func (l *loop) runningTasks() int {
	n := 0
	for _, t := range l.tasks {
		if !t.done {
			n++
		}
	}
	return n
}

// giveUp says whether the agent is lost for good.
func (l *loop) giveUp(now time.Time) error {
	m := l.cfg.Mesos
	switch {
	case !l.everSubbed:
		limit := noCheckpointRetry
		if m.Checkpoint && m.RecoveryTimeout > limit {
			limit = m.RecoveryTimeout
		}
		if now.Sub(l.lostAt) > limit {
			return fmt.Errorf("executor: could not subscribe to the agent at %s within %s: %w", m.AgentEndpoint, limit, ErrDisconnected)
		}
	case !m.Checkpoint:
		return fmt.Errorf("executor: disconnected from the agent and the framework does not checkpoint: %w", ErrDisconnected)
	case now.Sub(l.lostAt) > m.RecoveryTimeout:
		return fmt.Errorf("executor: agent gone for longer than MESOS_RECOVERY_TIMEOUT (%s): %w", m.RecoveryTimeout, ErrDisconnected)
	}
	return nil
}

// subscribe sends SUBSCRIBE and starts reading the stream; on failure it
// schedules the next try.
func (l *loop) subscribe(ctx context.Context) {
	tasks := make([]mesos.TaskInfo, 0, len(l.unackedTasks))
	for _, t := range l.unackedTasks {
		tasks = append(tasks, t)
	}
	slices.SortFunc(tasks, func(a, b mesos.TaskInfo) int {
		return compareStrings(a.TaskID.Value, b.TaskID.Value)
	})
	updates := make([]executor.Call_Update, len(l.updates))
	for i, u := range l.updates {
		updates[i] = u.upd
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	resp, err := l.sub.Send(cctx, calls.NonStreaming(calls.Subscribe(tasks, updates)))
	if err != nil {
		cancel()
		if resp != nil {
			resp.Close()
		}
		l.scheduleResubscribe(err)
		return
	}
	l.conn++
	conn := l.conn
	l.closeConn = func() { cancel(); resp.Close() }
	l.log.Info("subscribing", "agent", l.cfg.Mesos.AgentEndpoint, "unacknowledged_updates", len(updates), "unacknowledged_tasks", len(tasks))
	l.wg.Add(1)
	go l.read(conn, resp)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (l *loop) scheduleResubscribe(err error) {
	maxBackoff := time.Second
	if l.cfg.Mesos.Checkpoint && l.cfg.Mesos.SubscriptionBackoffMax > 0 {
		// Well inside the agent's reregistration timeout (which the
		// backoff max is).
		maxBackoff = l.cfg.Mesos.SubscriptionBackoffMax / 2
	}
	if l.backoff == 0 {
		l.backoff = firstBackoff
	} else {
		l.backoff = min(2*l.backoff, maxBackoff)
	}
	l.backoff = max(l.backoff, time.Millisecond)
	l.nextSub = time.Now().Add(l.backoff)
	l.log.Debug("subscribe failed; retrying", "err", err, "in", l.backoff)
}

// read decodes the stream's events for the loop until it ends.
func (l *loop) read(conn uint64, dec encoding.Decoder) {
	defer l.wg.Done()
	for {
		var ev executor.Event
		if err := dec.Decode(&ev); err != nil {
			l.post(evStreamEnd{conn, err})
			return
		}
		if !l.post(evStream{conn, &ev}) {
			return
		}
	}
}

// post hands an event to the loop; false when the loop is gone.
func (l *loop) post(ev any) bool {
	select {
	case l.events <- ev:
		return true
	case <-l.quit:
		return false
	}
}

// disconnect closes the current stream, if any.
func (l *loop) disconnect() {
	if l.closeConn != nil {
		l.closeConn()
		l.closeConn = nil
	}
	if l.conn != 0 && l.connected {
		l.lostAt = time.Now()
	}
	l.conn = 0 // a stream's late events are ignored by number
	l.connected = false
}

func (l *loop) handle(ev any) {
	switch e := ev.(type) {
	case evStream:
		if e.conn == l.conn {
			l.handleEvent(e.ev)
		}
	case evStreamEnd:
		if e.conn == l.conn {
			l.log.Warn("disconnected from the agent", "err", e.err, "checkpoint", l.cfg.Mesos.Checkpoint)
			l.disconnect()
			l.scheduleResubscribe(e.err)
		}
	case evTaskDone:
		l.taskDone(e)
	case evReport:
		l.sendReport(e.id, e.report)
	}
}

func (l *loop) handleEvent(ev *executor.Event) {
	switch ev.Type {
	case executor.Event_SUBSCRIBED:
		s := ev.Subscribed
		l.connected, l.everSubbed, l.backoff = true, true, 0
		l.agentID, l.hostname = s.AgentInfo.GetID().GetValue(), s.AgentInfo.GetHostname()
		now := time.Now()
		for _, u := range l.updates {
			u.sentAt = now // carried by SUBSCRIBE
		}
		l.log.Info("subscribed", "agent_id", l.agentID, "hostname", l.hostname,
			"executor", l.cfg.Mesos.ExecutorID, "checkpoint", l.cfg.Mesos.Checkpoint)
	case executor.Event_LAUNCH:
		l.launch(ev.Launch.Task)
	case executor.Event_LAUNCH_GROUP:
		for _, t := range ev.LaunchGroup.TaskGroup.Tasks {
			l.unackedTasks[t.TaskID.Value] = t
			l.refuse(t, "healer-executor runs single tasks, not task groups")
		}
	case executor.Event_KILL:
		l.kill(ev.Kill.TaskID.Value, ev.Kill.KillPolicy)
	case executor.Event_ACKNOWLEDGED:
		l.acknowledged(ev.Acknowledged.TaskID.Value, ev.Acknowledged.UUID)
	case executor.Event_MESSAGE:
		l.log.Info("framework message ignored", "bytes", len(ev.Message.Data))
	case executor.Event_SHUTDOWN:
		l.log.Info("SHUTDOWN from the agent", "grace", l.cfg.Mesos.ExecutorShutdownGracePeriod)
		l.beginShutdown()
	case executor.Event_ERROR:
		l.log.Warn("ERROR from the agent: re-subscribing", "message", ev.Error.GetMessage())
		l.disconnect()
		l.scheduleResubscribe(errors.New(ev.Error.GetMessage()))
	case executor.Event_HEARTBEAT:
	default:
		l.log.Debug("event ignored", "type", ev.Type)
	}
}

func (l *loop) launch(info mesos.TaskInfo) {
	id := info.TaskID.Value
	if _, dup := l.tasks[id]; dup {
		l.log.Warn("duplicate LAUNCH ignored", "task", id)
		return
	}
	l.unackedTasks[id] = info
	if !l.shutdownBy.IsZero() {
		l.refuse(info, "healer-executor is shutting down")
		return
	}
	ref, err := taskspec.Classify(info)
	if err != nil {
		l.refuse(info, err.Error())
		return
	}
	if ref.Agent != l.agentID {
		l.refuse(info, fmt.Sprintf("task for agent %s launched on agent %s", ref.Agent, l.agentID))
		return
	}
	switch ref.Kind {
	case taskspec.KindRepair:
		l.startRepair(info, ref)
	case taskspec.KindMonitor:
		l.startMonitor(info, ref)
	}
}

// refuse ends a task it cannot run: TASK_FAILED, REASON_TASK_INVALID.
func (l *loop) refuse(info mesos.TaskInfo, why string) {
	l.log.Error("task refused", "task", info.TaskID.Value, "reason", why)
	t := &task{info: info, done: true}
	l.tasks[info.TaskID.Value] = t
	l.update(info.TaskID, mesos.TASK_FAILED, why, nil, mesos.REASON_TASK_INVALID.Enum())
}

func (l *loop) startRepair(info mesos.TaskInfo, ref taskspec.TaskRef) {
	rt, err := taskspec.DecodeRepairTask(info.Data)
	if err != nil {
		l.refuse(info, err.Error())
		return
	}
	if rt.AgentId != l.agentID || rt.Incident != ref.Incident || rt.Attempt != ref.Attempt {
		l.refuse(info, fmt.Sprintf("payload names agent %s incident %d attempt %d, its task id %s",
			rt.AgentId, rt.Incident, rt.Attempt, info.TaskID.Value))
		return
	}
	grace := taskspec.DefaultKillGrace
	if kp := info.KillPolicy; kp != nil && kp.GracePeriod != nil {
		grace = max(0, time.Duration(kp.GracePeriod.Nanoseconds))
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &task{info: info, ref: ref, cancel: cancel, grace: grace}
	l.tasks[info.TaskID.Value] = t
	l.update(info.TaskID, mesos.TASK_RUNNING, "running "+rt.Action, nil, nil)
	l.log.Info("repair started", "task", info.TaskID.Value, "action", rt.Action, "problem", rt.Problem,
		"timeout", time.Duration(rt.TimeoutNs), "forced", rt.Forced, "principal", rt.Principal)
	spec := stepcmd.Spec{
		Command:   rt.Command,
		Env:       taskspec.StepEnv(l.cfg.Env, rt, healerpb.SCOPE_AGENT),
		Timeout:   time.Duration(rt.TimeoutNs),
		KillGrace: grace,
		TailBytes: taskspec.MaxOutputTail,
	}
	id := info.TaskID.Value
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel(nil)
		res, err := stepcmd.Run(ctx, spec)
		l.post(evTaskDone{id: id, result: &res, runErr: err})
	}()
}

func (l *loop) startMonitor(info mesos.TaskInfo, ref taskspec.TaskRef) {
	cfg, err := taskspec.DecodeMonitorConfig(info.Data)
	if err != nil {
		l.refuse(info, "invalid monitor config: "+err.Error())
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &task{info: info, ref: ref, cancel: cancel}
	l.tasks[info.TaskID.Value] = t
	id := info.TaskID.Value
	l.update(info.TaskID, mesos.TASK_RUNNING, fmt.Sprintf("monitoring %d checks", len(cfg.Checks)), nil, nil)
	l.log.Info("monitor started", "task", id, "checks", len(cfg.Checks))
	m := monitor.New(monitor.Config{
		Checks:  cfg,
		AgentID: l.agentID, Hostname: l.hostname, TaskID: id,
		Prober: &monitor.Probes{Stats: l.cfg.Stats, Env: l.cfg.Env, HTTP: monitor.NewHTTPClient()},
		Send: func(ctx context.Context, r *healerpb.MonitorReport) {
			l.post(evReport{id: id, report: r})
		},
		Logger: l.log.With("task", id),
	})
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel(nil)
		m.Run(ctx)
		l.post(evTaskDone{id: id})
	}()
}

// kill stops a running task; the goroutine's end sends its update.
func (l *loop) kill(id string, policy *mesos.KillPolicy) {
	t := l.tasks[id]
	if t == nil || t.done {
		l.log.Info("KILL of a task not running here ignored", "task", id)
		return
	}
	grace := t.grace
	if policy != nil && policy.GracePeriod != nil {
		grace = max(0, time.Duration(policy.GracePeriod.Nanoseconds))
	}
	l.stop(t, grace)
}

func (l *loop) stop(t *task, grace time.Duration) {
	if t.killed {
		return
	}
	t.killed = true
	l.log.Info("killing task", "task", t.info.TaskID.Value, "grace", grace)
	t.cancel(stepcmd.KillGrace(grace))
}

// beginShutdown kills every task with a grace period that leaves time to
// report them before the agent's shutdown grace period ends.
func (l *loop) beginShutdown() {
	grace := l.cfg.Mesos.ExecutorShutdownGracePeriod
	if grace <= 0 {
		grace = 5 * time.Second
	}
	l.shutdownBy = time.Now().Add(grace * 9 / 10)
	l.killAll(grace / 2)
}

func (l *loop) killAll(grace time.Duration) {
	for _, t := range l.tasks {
		if !t.done {
			l.stop(t, min(grace, max(t.grace, 0)))
		}
	}
}

func (l *loop) taskDone(e evTaskDone) {
	t := l.tasks[e.id]
	if t == nil || t.done {
		return
	}
	if e.result == nil { // a monitor: it ends only when killed
		l.update(t.info.TaskID, mesos.TASK_KILLED, "monitor stopped", nil, nil)
		l.log.Info("monitor stopped", "task", e.id)
		return
	}
	r := taskspec.RepairResultOf(*e.result, e.runErr)
	data, err := taskspec.EncodeRepairResult(r)
	if err != nil { // a bug: report the outcome without its data
		l.log.Error("encode repair result", "task", e.id, "err", err)
		data = nil
	}
	state, msg := mesos.TASK_FAILED, e.result.String()
	switch {
	case e.runErr != nil:
		msg = "could not run the command: " + e.runErr.Error()
	case t.killed && !e.result.TimedOut:
		state = mesos.TASK_KILLED
	case e.result.Success():
		state = mesos.TASK_FINISHED
	}
	l.log.Info("repair ended", "task", e.id, "state", state, "result", msg)
	l.update(t.info.TaskID, state, msg, data, nil)
}

// update sends a status update (or keeps it for the next SUBSCRIBE).
func (l *loop) update(id mesos.TaskID, state mesos.TaskState, msg string, data []byte, reason *mesos.TaskStatus_Reason) {
	if len(msg) > maxStatusMessage {
		msg = msg[:maxStatusMessage]
	}
	now := float64(time.Now().UnixNano()) / 1e9
	eid := mesos.ExecutorID{Value: l.cfg.Mesos.ExecutorID}
	st := mesos.TaskStatus{
		TaskID:     id,
		State:      state.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		UUID:       newUUID(),
		ExecutorID: &eid,
		Timestamp:  &now,
		Data:       data,
		Reason:     reason,
	}
	if msg != "" {
		st.Message = &msg
	}
	if t := l.tasks[id.Value]; t != nil && isTerminal(state) {
		t.done = true
	}
	u := &pendingUpdate{upd: executor.Call_Update{Status: st}}
	l.updates = append(l.updates, u)
	l.send(u)
}

func (l *loop) send(u *pendingUpdate) {
	if !l.connected {
		return // goes with the next SUBSCRIBE
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.CallTimeout)
	defer cancel()
	resp, err := l.cli.Send(ctx, calls.NonStreaming(calls.Update(u.upd.Status)))
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		l.log.Warn("status update not delivered; will retry", "task", u.upd.Status.TaskID.Value,
			"state", u.upd.Status.GetState(), "err", err)
		return
	}
	u.sentAt = time.Now()
}

// retryUpdates re-sends updates the agent has not acknowledged for a while.
func (l *loop) retryUpdates() {
	if !l.connected {
		return
	}
	cutoff := time.Now().Add(-l.cfg.UpdateRetryInterval)
	for _, u := range l.updates {
		if u.sentAt.Before(cutoff) {
			l.send(u)
		}
	}
}

func (l *loop) acknowledged(id string, uuid []byte) {
	l.updates = slices.DeleteFunc(l.updates, func(u *pendingUpdate) bool {
		return string(u.upd.Status.UUID) == string(uuid)
	})
	delete(l.unackedTasks, id)
	t := l.tasks[id]
	if t == nil || !t.done {
		return
	}
	for _, u := range l.updates {
		if u.upd.Status.TaskID.Value == id {
			return
		}
	}
	delete(l.tasks, id) // terminal and fully acknowledged
}

func (l *loop) sendReport(id string, r *healerpb.MonitorReport) {
	if t := l.tasks[id]; t == nil || t.done || t.killed || !l.connected {
		return // a lost report costs nothing: the next one says it all
	}
	data, err := taskspec.EncodeMonitorReport(r)
	if err != nil {
		l.log.Error("encode monitor report", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.CallTimeout)
	defer cancel()
	resp, err := l.cli.Send(ctx, calls.NonStreaming(calls.Message(data)))
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		l.log.Warn("monitor report not delivered", "err", err)
	}
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_DROPPED, mesos.TASK_GONE:
		return true
	}
	return false
}

// newUUID is a random RFC 4122 version 4 UUID, 16 raw bytes as Mesos wants.
func newUUID() []byte {
	u := make([]byte, 16)
	rand.Read(u)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}
