package emulator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

const validationPrefix = "Failed to validate scheduler::Call: "

// serveScheduler is POST /api/v1/scheduler (Master::Http::scheduler):
// leadership, the generic checks, call validation, framework lookup and
// stream checks in Mesos' order (mesos-protocol.md 0.2 and 1.1), then the
// call.
func (m *Master) serveScheduler(w http.ResponseWriter, r *http.Request) {
	var call scheduler.Call
	principal, ct, raw, ok := m.readMasterCall(w, r, APIScheduler, realmScheduler, m.cfg.AuthenticateFrameworks, &call)
	if !ok {
		return
	}
	msg := validateSchedulerCall(&call, ct, raw)
	if msg == "" {
		msg = checkSubscribePrincipal(&call, principal)
	}
	if msg != "" {
		writeError(w, http.StatusBadRequest, validationPrefix+msg)
		return
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		m.serveSubscribe(w, r, &call)
		return
	}
	if call.Type == scheduler.Call_RECONCILE_OPERATIONS && negotiateAccept(r) == "" {
		// Accept negotiation, as for SUBSCRIBE (mesos-protocol.md 0.2 step 9).
		writeNotAcceptable(w)
		return
	}
	if !m.checkCallPrincipal(w, &call, principal) {
		return
	}
	m.serveCall(w, r, &call)
}

// readMasterCall takes a request to one of the master's APIs through the
// steps they share, in Mesos' order: authentication (when enabled, in
// realm), leadership, an injected call fault for api, then the generic
// checks and decoding of readCall. It returns the authenticated principal,
// the request's Content-Type and its raw body (validation looks at which
// fields were present); when ok is false the request has been answered.
func (m *Master) readMasterCall(w http.ResponseWriter, r *http.Request, api API, realm string, authenticate bool, call proto.Message) (principal, contentType string, raw []byte, ok bool) {
	if principal, ok = m.authenticate(w, r, realm, authenticate); !ok {
		return "", "", nil, false
	}
	if !m.checkLeader(w, r) || !m.applyCallFaultFor(api, w, r) {
		return "", "", nil, false
	}
	var body bytes.Buffer
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(r.Body, &body), r.Body}
	if contentType, ok = readCall(w, r, call); !ok {
		return "", "", nil, false
	}
	return principal, contentType, body.Bytes(), true
}

// validateSchedulerCall is validation::scheduler::call::validate; it
// returns the message to prefix with "Failed to validate scheduler::Call: ".
func validateSchedulerCall(call *scheduler.Call, contentType string, raw []byte) string {
	if !typePresent(contentType, raw, schedulerCallType) {
		return "Expecting 'type' to be present"
	}
	if call.Type == scheduler.Call_SUBSCRIBE {
		if call.Subscribe == nil || call.Subscribe.FrameworkInfo == nil {
			return "Expecting 'subscribe' to be present"
		}
		callID := call.GetFrameworkID().GetValue()
		infoID := call.Subscribe.FrameworkInfo.GetID().GetValue()
		if callID != infoID {
			return "'framework_id' differs from 'subscribe.framework_info.id'"
		}
		return ""
	}
	if call.FrameworkID == nil {
		return "Expecting 'framework_id' to be present"
	}
	missing := func(field string) string { return "Expecting '" + field + "' to be present" }
	switch call.Type {
	case scheduler.Call_ACCEPT:
		if call.Accept == nil {
			return missing("accept")
		}
	case scheduler.Call_DECLINE:
		if call.Decline == nil {
			return missing("decline")
		}
	case scheduler.Call_ACCEPT_INVERSE_OFFERS:
		if call.AcceptInverseOffers == nil {
			return missing("accept_inverse_offers")
		}
	case scheduler.Call_DECLINE_INVERSE_OFFERS:
		if call.DeclineInverseOffers == nil {
			return missing("decline_inverse_offers")
		}
	case scheduler.Call_KILL:
		if call.Kill == nil {
			return missing("kill")
		}
	case scheduler.Call_SHUTDOWN:
		if call.Shutdown == nil {
			return missing("shutdown")
		}
	case scheduler.Call_ACKNOWLEDGE:
		if call.Acknowledge == nil {
			return missing("acknowledge")
		}
		if !validUUID(call.Acknowledge.UUID) {
			return "Not a valid UUID"
		}
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS:
		if call.AcknowledgeOperationStatus == nil {
			return missing("acknowledge_operation_status")
		}
		if !validUUID(call.AcknowledgeOperationStatus.UUID) {
			return "Not a valid UUID"
		}
		if call.AcknowledgeOperationStatus.AgentID == nil {
			return missing("acknowledge_operation_status.agent_id")
		}
	case scheduler.Call_RECONCILE:
		if call.Reconcile == nil {
			return missing("reconcile")
		}
	case scheduler.Call_RECONCILE_OPERATIONS:
		if call.ReconcileOperations == nil {
			return missing("reconcile_operations")
		}
	case scheduler.Call_MESSAGE:
		if call.Message == nil {
			return missing("message")
		}
	case scheduler.Call_REQUEST:
		if call.Request == nil {
			return missing("request")
		}
	case scheduler.Call_UPDATE_FRAMEWORK:
		if call.UpdateFramework == nil {
			return missing("update_framework")
		}
		if call.UpdateFramework.FrameworkInfo.GetID().GetValue() != call.FrameworkID.Value {
			return "'framework_id' differs from 'update_framework.framework_info.id'"
		}
	}
	return ""
}

// callTypeField says where a Call keeps its type: the protobuf field number
// and the enum's names.
type callTypeField struct {
	number uint64
	names  map[string]int32
}

var (
	schedulerCallType = callTypeField{number: 2, names: scheduler.Call_Type_value}
	operatorCallType  = callTypeField{number: 1, names: master.Call_Type_value}
)

// typePresent reports whether the request body set Call.type. mesos-go's
// Go type cannot tell an absent type from UNKNOWN (both 0), and Mesos
// answers them differently (400 vs 501), so the raw body is consulted.
func typePresent(contentType string, raw []byte, typ callTypeField) bool {
	if contentType == mediaJSON {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return true // decoding succeeded earlier; let the decoded value speak
		}
		v, ok := fields["type"]
		if !ok || string(v) == "null" {
			return false
		}
		var name string
		if json.Unmarshal(v, &name) == nil {
			// An unknown enum name in an optional field is dropped.
			_, known := typ.names[name]
			return known
		}
		return true
	}
	buf := proto.NewBuffer(raw)
	for {
		key, err := buf.DecodeVarint()
		if err != nil {
			return false
		}
		field, wire := key>>3, key&7
		if field == typ.number && wire == proto.WireVarint {
			return true
		}
		var skipErr error
		switch wire {
		case proto.WireVarint:
			_, skipErr = buf.DecodeVarint()
		case proto.WireFixed64:
			_, skipErr = buf.DecodeFixed64()
		case proto.WireBytes:
			_, skipErr = buf.DecodeRawBytes(false)
		case proto.WireFixed32:
			_, skipErr = buf.DecodeFixed32()
		default:
			return false
		}
		if skipErr != nil {
			return false
		}
	}
}

// serveSubscribe answers SUBSCRIBE: 200 with the stream headers at once,
// then SUBSCRIBED and HEARTBEAT, or a single ERROR and the end of the stream
// when the subscription is refused (mesos-protocol.md 1.3).
func (m *Master) serveSubscribe(w http.ResponseWriter, r *http.Request, call *scheduler.Call) {
	if r.Header.Get("Mesos-Stream-Id") != "" {
		writeError(w, http.StatusBadRequest, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
		return
	}
	accept := negotiateAccept(r)
	if accept == "" {
		writeNotAcceptable(w)
		return
	}
	sub := newSubscription()
	stream := startStream(w, accept, http.Header{"Mesos-Stream-Id": {sub.streamID}})
	info := *call.Subscribe.FrameworkInfo

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		stream.Close()
		return
	}
	m.recordCallLocked(r, call, info.GetID().GetValue())
	if msg := m.validateSubscribeLocked(&info, call.Subscribe.SuppressedRoles); msg != "" {
		m.mu.Unlock()
		stream.Send(&scheduler.Event{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: msg}})
		stream.Close()
		return
	}
	fw := m.subscribeLocked(info, call.Subscribe.SuppressedRoles, sub)
	m.mu.Unlock()
	m.pump(r, stream, fw.id, sub)
}

// pump writes a subscription's events and periodic heartbeats until the
// master closes the subscription or the client goes away.
func (m *Master) pump(r *http.Request, stream *eventStream, frameworkID string, sub *subscription) {
	if pumpEvents(r, stream, sub.eventQueue, m.cfg.HeartbeatInterval, heartbeatEvent, m.done) {
		m.subscriptionEnded(frameworkID, sub)
	}
}

// serveCall handles every non-SUBSCRIBE call: framework lookup and stream
// checks (mesos-protocol.md 1.1 step 4), then the call itself, answered 202
// (UPDATE_FRAMEWORK 200, UNKNOWN 501).
func (m *Master) serveCall(w http.ResponseWriter, r *http.Request, call *scheduler.Call) {
	m.mu.Lock()
	fw := m.frameworks[call.FrameworkID.Value]
	if fw == nil {
		m.mu.Unlock()
		writeError(w, http.StatusBadRequest, "Framework cannot be found")
		return
	}
	if fw.sub == nil {
		m.mu.Unlock()
		writeError(w, http.StatusForbidden, "Framework is not subscribed")
		return
	}
	streamID := r.Header.Get("Mesos-Stream-Id")
	if streamID == "" {
		m.mu.Unlock()
		writeError(w, http.StatusBadRequest, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
		return
	}
	if streamID != fw.sub.streamID {
		m.mu.Unlock()
		writeError(w, http.StatusBadRequest, "The stream ID '"+streamID+
			"' included in this request didn't match the stream ID currently associated with framework ID "+fw.id)
		return
	}
	m.recordCallLocked(r, call, fw.id)
	status := http.StatusAccepted
	errMsg := ""
	switch call.Type {
	case scheduler.Call_TEARDOWN:
		m.removeFrameworkLocked(fw)
	case scheduler.Call_ACCEPT:
		m.acceptLocked(fw, call.Accept.OfferIDs, call.Accept.Operations, call.Accept.Filters)
	case scheduler.Call_DECLINE:
		m.declineLocked(fw, call.Decline.OfferIDs, call.Decline.Filters)
	case scheduler.Call_ACCEPT_INVERSE_OFFERS:
		m.answerInverseOffersLocked(fw, call.AcceptInverseOffers.InverseOfferIDs, true, call.AcceptInverseOffers.Filters)
	case scheduler.Call_DECLINE_INVERSE_OFFERS:
		m.answerInverseOffersLocked(fw, call.DeclineInverseOffers.InverseOfferIDs, false, call.DeclineInverseOffers.Filters)
	case scheduler.Call_REVIVE:
		if roles := call.GetRevive().GetRoles(); m.rolesSubscribed(fw, roles) {
			m.reviveLocked(fw, roles)
		}
	case scheduler.Call_SUPPRESS:
		if roles := call.GetSuppress().GetRoles(); m.rolesSubscribed(fw, roles) {
			m.suppressLocked(fw, roles)
		}
	case scheduler.Call_KILL:
		m.killLocked(fw, call.Kill)
	case scheduler.Call_SHUTDOWN:
		m.shutdownExecutorLocked(fw, call.Shutdown.AgentID.Value, call.Shutdown.ExecutorID)
	case scheduler.Call_ACKNOWLEDGE:
		m.acknowledgeLocked(fw, call.Acknowledge)
	case scheduler.Call_RECONCILE:
		m.reconcileLocked(fw, call.Reconcile.Tasks)
	case scheduler.Call_MESSAGE:
		if a := m.agents[call.Message.AgentID.Value]; a != nil && a.connected {
			a.link.FrameworkMessage(mesos.FrameworkID{Value: fw.id}, call.Message.ExecutorID, call.Message.Data)
		}
	case scheduler.Call_UPDATE_FRAMEWORK:
		status, errMsg = m.updateFrameworkLocked(fw, call.UpdateFramework)
	case scheduler.Call_ACKNOWLEDGE_OPERATION_STATUS, scheduler.Call_RECONCILE_OPERATIONS, scheduler.Call_REQUEST:
		// No operation feedback is emulated; REQUEST is ignored by Mesos'
		// allocator too.
	default:
		status = http.StatusNotImplemented
	}
	m.mu.Unlock()
	if errMsg != "" {
		writeError(w, status, errMsg)
		return
	}
	writeEmpty(w, status)
}

// rolesSubscribed reports whether every role is one of the framework's: a
// REVIVE or SUPPRESS naming another role is dropped entirely.
func (m *Master) rolesSubscribed(fw *framework, roles []string) bool {
	for _, r := range roles {
		if !fw.hasRole(r) {
			m.log.Warn("dropping call with unsubscribed role", "framework", fw.id, "role", r)
			return false
		}
	}
	return true
}

// updateFrameworkLocked is UPDATE_FRAMEWORK (Master::updateFramework):
// immutable fields must not change; suppressed roles must be subscribed;
// offers of removed roles are rescinded; filters and suppression change as
// updateAllocatorFrameworkLocked says. It returns the status and, for
// errors, the message.
func (m *Master) updateFrameworkLocked(fw *framework, u *scheduler.Call_UpdateFramework) (int, string) {
	info := u.FrameworkInfo
	if msg := m.validateSubscribeLocked(&info, nil); msg != "" && msg != "Framework has been removed" {
		return http.StatusBadRequest, "Supplied FrameworkInfo is not valid: " + msg
	}
	switch {
	case info.User != fw.info.User:
		return http.StatusBadRequest, "FrameworkInfo update is not valid: Updating 'FrameworkInfo.user' is unsupported"
	case info.GetCheckpoint() != fw.info.GetCheckpoint():
		return http.StatusBadRequest, "FrameworkInfo update is not valid: Updating 'FrameworkInfo.checkpoint' is unsupported"
	case principalOf(&info) != principalOf(&fw.info):
		return http.StatusBadRequest, "FrameworkInfo update is not valid: Changing framework's principal is not allowed."
	}
	newRoles := make(map[string]bool)
	for _, r := range frameworkRoles(&info) {
		newRoles[r] = true
	}
	var invalid []string
	for _, r := range u.SuppressedRoles {
		if !newRoles[r] {
			invalid = append(invalid, r)
		}
	}
	if len(invalid) > 0 {
		return http.StatusBadRequest, "'UpdateFramework' call is not valid: Suppressed roles " + stringifySet(invalid) +
			" are not contained in the set of roles"
	}
	m.updateAllocatorFrameworkLocked(fw, &info, u.SuppressedRoles)
	for _, o := range fw.offers {
		if !newRoles[o.role] {
			m.removeOfferLocked(o, true)
		}
	}
	info.ID = &mesos.FrameworkID{Value: fw.id}
	changed := !proto.Equal(&fw.info, &info)
	fw.info = info
	if changed {
		m.publishFrameworkUpdatedLocked(fw)
	}
	// No allocation at once: Master::updateFramework only updates the
	// allocator, whose updateFramework (even when it revives roles) does
	// not generate offers; the next periodic run does.
	return http.StatusOK, ""
}

// recordCallLocked records a scheduler call.
func (m *Master) recordCallLocked(r *http.Request, call *scheduler.Call, frameworkID string) {
	m.rec.Add(Record{Kind: RecordSchedulerCall, Master: m.cfg.ID, FrameworkID: frameworkID, Type: call.Type.String(),
		Client: r.UserAgent()})
}
