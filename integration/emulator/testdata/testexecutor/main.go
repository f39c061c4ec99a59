// Command testexecutor is a custom executor built on the mesos-go v0.0.11
// executor client, as healer's executor will be, for the emulator's agent
// tests. At start it writes its environment to stdout ("ENV k=v" lines) and
// whether config.FromEnv accepted it ("CONFIG ok" or "CONFIG error: ...").
// Each launched task goes TASK_RUNNING then TASK_FINISHED, unless its data
// is "hold" (it then runs until KILL → TASK_KILLED). Framework messages are
// echoed back; the message "exit" makes it exit with status 3. SHUTDOWN
// kills held tasks and exits 0, unless TESTEXEC_IGNORE_SHUTDOWN=1. With
// checkpointing it re-subscribes after a disconnect, as mesos-go's example
// executor does.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

func main() {
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		fmt.Println("ENV " + kv)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		fmt.Println("CONFIG error: " + err.Error())
		os.Exit(2)
	}
	fmt.Println("CONFIG ok")
	os.Exit(run(cfg))
}

type state struct {
	cli            calls.Sender
	unackedTasks   map[string]mesos.TaskInfo
	unackedUpdates map[string]executor.Call_Update
	held           map[string]bool
	exitCode       int
	quit           bool
}

func run(cfg config.Config) int {
	endpoint := url.URL{Scheme: "http", Host: cfg.AgentEndpoint, Path: "/api/v1/executor"}
	cli := httpcli.New(
		httpcli.Endpoint(endpoint.String()),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second))),
	)
	opts := executor.CallOptions{calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID)}
	st := &state{
		cli:            calls.SenderWith(httpexec.NewSender(cli.Send), opts...),
		unackedTasks:   map[string]mesos.TaskInfo{},
		unackedUpdates: map[string]executor.Call_Update{},
		held:           map[string]bool{},
	}
	subscriber := calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...)
	disconnected := time.Now()
	for {
		var tasks []mesos.TaskInfo
		for _, t := range st.unackedTasks {
			tasks = append(tasks, t)
		}
		var updates []executor.Call_Update
		for _, u := range st.unackedUpdates {
			updates = append(updates, u)
		}
		resp, err := subscriber.Send(context.Background(), calls.NonStreaming(calls.Subscribe(tasks, updates)))
		if err == nil {
			err = loop(st, resp)
			resp.Close()
			disconnected = time.Now()
		}
		if err != nil && err != io.EOF {
			fmt.Println("disconnected:", err)
		}
		if st.quit {
			return st.exitCode
		}
		if !cfg.Checkpoint || time.Since(disconnected) > cfg.RecoveryTimeout {
			return 1
		}
		time.Sleep(min(100*time.Millisecond, cfg.SubscriptionBackoffMax))
	}
}

func loop(st *state, dec encoding.Decoder) error {
	for !st.quit {
		var ev executor.Event
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		fmt.Println("EVENT", ev.Type)
		switch ev.Type {
		case executor.Event_LAUNCH:
			t := ev.Launch.Task
			st.unackedTasks[t.TaskID.Value] = t
			update(st, t.TaskID, mesos.TASK_RUNNING)
			if string(t.Data) == "hold" {
				st.held[t.TaskID.Value] = true
			} else {
				update(st, t.TaskID, mesos.TASK_FINISHED)
			}
		case executor.Event_KILL:
			if st.held[ev.Kill.TaskID.Value] {
				delete(st.held, ev.Kill.TaskID.Value)
				update(st, ev.Kill.TaskID, mesos.TASK_KILLED)
			}
		case executor.Event_ACKNOWLEDGED:
			delete(st.unackedTasks, ev.Acknowledged.TaskID.Value)
			delete(st.unackedUpdates, string(ev.Acknowledged.UUID))
		case executor.Event_MESSAGE:
			if string(ev.Message.Data) == "exit" {
				st.quit, st.exitCode = true, 3
				break
			}
			if _, err := st.cli.Send(context.Background(), calls.NonStreaming(calls.Message(ev.Message.Data))); err != nil {
				fmt.Println("message:", err)
			}
		case executor.Event_SHUTDOWN:
			if os.Getenv("TESTEXEC_IGNORE_SHUTDOWN") == "1" {
				break
			}
			for id := range st.held {
				update(st, mesos.TaskID{Value: id}, mesos.TASK_KILLED)
			}
			st.quit = true
		case executor.Event_ERROR:
			return fmt.Errorf("ERROR event: %s", ev.Error.Message)
		}
	}
	return nil
}

func update(st *state, id mesos.TaskID, s mesos.TaskState) {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	status := mesos.TaskStatus{TaskID: id, State: s.Enum(), Source: mesos.SOURCE_EXECUTOR.Enum(), UUID: u[:]}
	st.unackedUpdates[string(u[:])] = executor.Call_Update{Status: status}
	if _, err := st.cli.Send(context.Background(), calls.NonStreaming(calls.Update(status))); err != nil {
		fmt.Println("update:", err)
	}
}
