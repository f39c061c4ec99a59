package mesosconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/client"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	mcalls "github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// Call sends a scheduler call (any but SUBSCRIBE, which is Run's) to the
// master holding the subscription, with the subscription's framework_id and
// Mesos-Stream-Id; call itself is not modified. A nil error means the master
// accepted it (202, or 200 for UPDATE_FRAMEWORK); results arrive as events.
//
// Errors: ErrNotSubscribed when there is no subscription, or when the
// master's answer shows it no longer holds it (403, an unknown stream ID or
// framework, a redirect or 503 from a master that stopped leading), in which
// case the subscription is dropped at once and Run resubscribes. Any other
// rejection (e.g. 400 for an invalid call) wraps *Error and leaves the
// subscription alone. A network error or timeout leaves it alone too: the
// call may or may not have taken effect, and the stream's own reader and
// watchdog decide whether the master is gone.
func (c *Conn) Call(ctx context.Context, call *scheduler.Call) error {
	if call == nil || call.Type == scheduler.Call_SUBSCRIBE {
		return errors.New("mesosconn: Call: SUBSCRIBE is Run's to send")
	}
	c.mu.Lock()
	sub := c.cur
	c.mu.Unlock()
	if sub == nil {
		return fmt.Errorf("mesosconn: %s: %w", call.Type, ErrNotSubscribed)
	}
	stamped := *call
	stamped.FrameworkID = &mesos.FrameworkID{Value: sub.frameworkID}
	if u := stamped.UpdateFramework; u != nil && u.FrameworkInfo.ID == nil {
		// The master requires update_framework.framework_info.id to be
		// the call's framework_id.
		uf := *u
		uf.FrameworkInfo.ID = stamped.FrameworkID
		stamped.UpdateFramework = &uf
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	resp, err := c.sched.Send(client.RequestSingleton(&stamped), client.ResponseClassAuto,
		at(sub.master, schedulerPath), httpcli.Header("Mesos-Stream-Id", sub.streamID), httpcli.Context(ctx))
	if resp != nil {
		resp.Close()
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("mesosconn: %s to %s: %w", call.Type, sub.master, err)
	if !subscriptionLost(err) {
		return err
	}
	reason := fmt.Errorf("%w: %w", ErrNotSubscribed, err)
	var r *redirectError
	if errors.As(err, &r) {
		if target, terr := redirectTarget(r.location); terr == nil {
			c.setHint(target)
			reason = fmt.Errorf("%w: %s no longer leads: %w", ErrLeaderChanged, sub.master, err)
		}
	}
	c.endSub(sub, reason)
	return fmt.Errorf("%w: %w", ErrNotSubscribed, err)
}

// Operator sends an operator API call (POST /api/v1) to the leading master,
// following redirects, with the configured credentials. It returns the
// master's response, or nil for calls answered without a body (the
// mutations: UPDATE_MAINTENANCE_SCHEDULE, DEACTIVATE_AGENT, DRAIN_AGENT,
// ...). A Mesos error status wraps *Error (IsUnknownAgent tells an agent the
// master does not know); ErrNoLeader when no master could answer. Operator
// does not need a subscription. The operator event stream (SUBSCRIBE) is not
// supported.
func (c *Conn) Operator(ctx context.Context, call *master.Call) (*master.Response, error) {
	var out *master.Response
	err := c.operator(ctx, call, func(resp mesos.Response) error {
		out = nil // not a previous master's half-decoded answer
		if resp == nil {
			return nil
		}
		var r master.Response
		if err := resp.Decode(&r); err != nil {
			return err
		}
		out = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OperatorInto is Operator for a query whose answer the caller decodes into
// its own message: out mirrors mesos.v1.master.Response's field numbers with
// only the fields the caller reads (healerpb.AgentsResponse for GET_AGENTS),
// so that the rest of a large answer is skipped, never allocated. out is
// reset first. Redirects, errors and the masters tried are as for Operator;
// an answer without a body is a decoding error.
func (c *Conn) OperatorInto(ctx context.Context, call *master.Call, out proto.Message) error {
	return c.operator(ctx, call, func(resp mesos.Response) error {
		if resp == nil {
			return errors.New("the master answered without a body")
		}
		return resp.Decode(protobufOnly{out})
	})
}

// protobufOnly lets mesos-go's protobuf decoder fill any gogo message: its
// Decode takes messages that could also be decoded from JSON.
type protobufOnly struct{ proto.Message }

func (p protobufOnly) Unmarshal(b []byte) error { return proto.Unmarshal(b, p.Message) }

// UnmarshalJSON is never called: the connection's codec is protobuf, and an
// answer of another Content-Type is refused before decoding (responseHandler).
func (protobufOnly) UnmarshalJSON([]byte) error {
	return errors.New("healer decodes the operator API's protobuf answers only")
}

// operator sends call to the leading master (Operator's rules) and hands
// the answer to decode: nil for an answer without a body. A decoding error
// counts as that master's failure, and the next master is tried.
func (c *Conn) operator(ctx context.Context, call *master.Call, decode func(mesos.Response) error) error {
	if call == nil || call.Type == master.Call_SUBSCRIBE {
		return errors.New("mesosconn: Operator: the operator event stream (SUBSCRIBE) is not supported")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	targets := c.operatorTargets()
	tried := map[string]bool{"": true}
	var errs []error
	for i := 0; i < len(targets); i++ {
		m := targets[i]
		if tried[m] {
			continue
		}
		tried[m] = true
		err := c.operatorAt(ctx, m, call, decode)
		if err == nil {
			return nil
		}
		err = fmt.Errorf("%s: %w", m, err)
		var r *redirectError
		if errors.As(err, &r) {
			if target, terr := redirectTarget(r.location); terr == nil && !tried[target] {
				targets = append(targets[:i+1], append([]string{target}, targets[i+1:]...)...)
				continue
			}
		}
		var e *Error
		var bad *badAnswerError
		if errors.As(err, &e) && e.Code != http.StatusServiceUnavailable || errors.As(err, &bad) {
			// The leader's answer (an answer that does not decode came
			// from a master that took the call: the others would only
			// redirect to it).
			return fmt.Errorf("mesosconn: operator %s to %w", call.Type, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("mesosconn: operator %s to %w", call.Type, err)
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("mesosconn: operator %s: %w: %w", call.Type, ErrNoLeader, errors.Join(errs...))
}

func (c *Conn) operatorAt(ctx context.Context, m string, call *master.Call, decode func(mesos.Response) error) error {
	sender := httpmaster.NewSender(func(r client.Request, rc client.ResponseClass, o ...httpcli.RequestOpt) (mesos.Response, error) {
		return c.op.Send(r, rc, append(o, at(m, operatorPath))...)
	})
	resp, err := sender.Send(ctx, mcalls.NonStreaming(call))
	if err != nil {
		return err
	}
	if resp != nil {
		defer resp.Close()
	}
	if err := decode(resp); err != nil {
		return &badAnswerError{fmt.Errorf("decode the %s response: %w", call.Type, err)}
	}
	return nil
}

// badAnswerError is a master's answer that does not decode.
type badAnswerError struct{ err error }

func (e *badAnswerError) Error() string { return e.err.Error() }
func (e *badAnswerError) Unwrap() error { return e.err }
