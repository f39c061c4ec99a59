// Package admin is healer's admin HTTP API: a thin adapter, on gorilla/mux,
// between HTTP and a Backend (the scheduler runtime), which it reaches only
// through that interface.
//
// # Contract
//
// Requests are decoded strictly: JSON bodies of at most MaxBodyBytes, with
// Content-Type application/json, unknown fields refused. Every error is
// JSON {"error": "...", "detail": "..."} with its status code: 400 bad
// input, 404 unknown agent, 405 wrong method, 413 body too large, 415 wrong
// content type, 409 a request that conflicts with the agent's state, 503
// (with Retry-After) while healer is Immutable or busy, and 307 to the
// leader's admin URL (Location) for a mutation sent to a standby. A
// rejected request changes nothing.
//
// The JSON shapes are the exported types of api.go, documented for
// operators in docs/admin-api.md.
package admin
