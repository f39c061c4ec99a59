package mesosconn

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Fatal errors: Run returns them (wrapped, with what happened and what to
// do), because retrying cannot fix them.
var (
	// ErrFrameworkRemoved: the master refused healer's framework ID
	// ("Framework has been removed"): its failover timeout expired, or it
	// was torn down. Its tasks are gone.
	ErrFrameworkRemoved = errors.New("the Mesos framework has been removed")
	// ErrFailedOver: another scheduler subscribed with this framework ID
	// ("Framework failed over"), ending this subscription.
	ErrFailedOver = errors.New("another scheduler subscribed with this framework ID")
	// ErrUnauthorized: the master answered 401 (wrong or missing
	// principal and secret).
	ErrUnauthorized = errors.New("the Mesos master refused the credentials")
	// ErrSubscribeRefused: the master rejected the SUBSCRIBE itself (an
	// ERROR event or a 4xx), e.g. an invalid role or a principal mismatch.
	ErrSubscribeRefused = errors.New("the Mesos master refused the subscription")
)

// Reasons a subscription ends without stopping Run (Event.Disconnected wraps
// one of them), and call errors.
var (
	// ErrNotSubscribed: a call found no subscription, or its answer showed
	// that the master no longer holds it. The call did not take effect.
	ErrNotSubscribed = errors.New("not subscribed to a Mesos master")
	// ErrHeartbeatLost: no event, not even a HEARTBEAT, for
	// Config.HeartbeatMisses heartbeat intervals.
	ErrHeartbeatLost = errors.New("the Mesos master went silent")
	// ErrEventOverflow: the events queue stayed full for HeartbeatMisses
	// heartbeat intervals; the subscription was dropped so that the stream
	// does not stall for good.
	ErrEventOverflow = errors.New("the events queue is full: the runtime is not keeping up")
	// ErrLeaderChanged: ZooKeeper names another leading master.
	ErrLeaderChanged = errors.New("the leading Mesos master changed")
	// ErrStreamEnded: the master ended the event stream.
	ErrStreamEnded = errors.New("the Mesos master ended the event stream")
	// ErrNoLeader: no master could be reached, or none leads.
	ErrNoLeader = errors.New("no leading Mesos master found")
)

// Error is an error status from a Mesos master: the HTTP status and the
// master's plain-text message.
type Error struct {
	Code int    // HTTP status, e.g. 400
	Body string // the master's message, e.g. "Unknown agent"
}

func (e *Error) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("Mesos answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("Mesos answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// IsUnknownAgent reports whether err is the master's answer to an operator
// call naming an agent it does not know: 400 "Unknown agent"
// (DEACTIVATE_AGENT, DRAIN_AGENT, REACTIVATE_AGENT) or 404 "Agent '<id>' not
// found" (MARK_AGENT_GONE). The agent was removed: an isolation of it is
// done.
func IsUnknownAgent(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case http.StatusBadRequest:
		return strings.Contains(e.Body, "Unknown agent")
	case http.StatusNotFound:
		return strings.HasPrefix(e.Body, "Agent '") && strings.HasSuffix(e.Body, "' not found")
	}
	return false
}

// redirectError is a 307 from a master that does not lead.
type redirectError struct {
	location string // the Location header, e.g. //host:port/master/api/v1
}

func (e *redirectError) Error() string {
	return "redirected to " + e.location
}

// subscriptionLost reports whether a call's error means the master no
// longer holds the subscription the call was sent on
// (shared/mesos-protocol.md 1.1 step 4): 403 Framework is not subscribed,
// 400 for a stream ID it does not know or a framework it cannot find, and
// 503 or a redirect from a master that stopped leading.
func subscriptionLost(err error) bool {
	var r *redirectError
	if errors.As(err, &r) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case http.StatusForbidden:
		// UPDATE_FRAMEWORK's authorization failure is a 403 too, and
		// leaves the subscription alone.
		return !strings.HasPrefix(e.Body, "Not authorized")
	case http.StatusServiceUnavailable:
		return true
	case http.StatusBadRequest:
		return strings.Contains(e.Body, "Framework cannot be found") ||
			strings.Contains(e.Body, "didn't match the stream ID") ||
			strings.Contains(e.Body, "should include the 'Mesos-Stream-Id' header")
	}
	return false
}
