package emulator

import (
	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// MasterLink is what an agent may send to the master it is registered with,
// mirroring the internal agent→master messages of Mesos. Implementations must
// not block and must not call back into the agent before returning; the agent
// must not hold its own lock while calling.
type MasterLink interface {
	// StatusUpdate forwards a task status update. Updates from the agent or
	// executor carry a 16-byte UUID and are retried by the agent until the
	// scheduler acknowledges them (AgentLink.Acknowledge). latestState is the
	// newest state the agent knows for the task, which the master records
	// (Mesos' TaskStatus.latest_state semantics).
	StatusUpdate(agentID mesos.AgentID, frameworkID mesos.FrameworkID, status mesos.TaskStatus, latestState mesos.TaskState)

	// ExecutorMessage forwards a framework message sent by an executor; it
	// is delivered best-effort to the framework as a MESSAGE event.
	ExecutorMessage(agentID mesos.AgentID, frameworkID mesos.FrameworkID, executorID mesos.ExecutorID, data []byte)

	// ExecutorExited reports that a custom executor's process ended; status
	// is the raw waitpid status word. The master sends FAILURE to the
	// framework.
	ExecutorExited(agentID mesos.AgentID, frameworkID mesos.FrameworkID, executorID mesos.ExecutorID, status int32)

	// Pong answers a master Ping; an agent that stops answering is marked
	// unreachable after the master's ping timeout.
	Pong(agentID mesos.AgentID)
}

// AgentState is what an agent reports when it (re)registers with a master:
// after a master failover this is how the new leader recovers agents, the
// frameworks that have tasks on them, and those tasks.
type AgentState struct {
	Info       mesos.AgentInfo
	Frameworks []mesos.FrameworkInfo
	Executors  []mesos.ExecutorInfo
	Tasks      []mesos.Task
}

// AgentLink is what a master may send to an agent, mirroring the internal
// master→agent messages of Mesos. Implementations must not block and must not
// call back into the master before returning (they queue work for their own
// goroutines); the master may call them while holding its own lock.
type AgentLink interface {
	// ID returns the agent's ID, fixed for the agent's lifetime (it
	// survives master failovers, not agent restarts without recovery).
	ID() mesos.AgentID

	// RunTask asks the agent to run a task, with its custom executor
	// (task.Executor) or as a command task (task.Command).
	RunTask(framework mesos.FrameworkInfo, task mesos.TaskInfo)

	// RunTaskGroup asks the agent to run a task group under one executor.
	RunTaskGroup(framework mesos.FrameworkInfo, executor mesos.ExecutorInfo, group mesos.TaskGroupInfo)

	// KillTask asks the agent to kill a task; killPolicy may be nil.
	KillTask(frameworkID mesos.FrameworkID, taskID mesos.TaskID, killPolicy *mesos.KillPolicy)

	// ShutdownExecutor asks the agent to shut an executor down (scheduler
	// SHUTDOWN call).
	ShutdownExecutor(frameworkID mesos.FrameworkID, executorID mesos.ExecutorID)

	// ShutdownFramework asks the agent to kill every executor and task of a
	// removed framework; no status updates are sent for them.
	ShutdownFramework(frameworkID mesos.FrameworkID)

	// FrameworkMessage delivers a scheduler's MESSAGE call to an executor,
	// best effort.
	FrameworkMessage(frameworkID mesos.FrameworkID, executorID mesos.ExecutorID, data []byte)

	// Acknowledge forwards a scheduler's ACKNOWLEDGE of a status update, so
	// the agent stops retrying it and forwards the task's next update.
	Acknowledge(frameworkID mesos.FrameworkID, taskID mesos.TaskID, uuid []byte)

	// Drain asks the agent to kill all its tasks for DRAIN_AGENT, with the
	// kill grace period capped at maxGracePeriod (nil: uncapped); terminal
	// updates carry REASON_AGENT_DRAINING.
	Drain(maxGracePeriodNanos *int64, markGone bool)

	// Ping checks liveness; a reachable agent answers with MasterLink.Pong.
	Ping()

	// Shutdown tells the agent it was removed (START_MAINTENANCE,
	// MARK_AGENT_GONE): it kills everything and stops.
	Shutdown()

	// State is read when the agent registers with a (new) master. It is the
	// one synchronous call, answered from the agent's own state without
	// calling the master.
	State() AgentState
}
