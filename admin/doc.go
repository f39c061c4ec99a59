// Package admin is healer's admin HTTP API: a thin adapter, on gorilla/mux,
// between HTTP and a Backend (the scheduler runtime), which it reaches only
// through that interface; plus the dashboard page it serves at /.
//
// # Contract
//
// Access: with Tokens, every route but /healthz, /readyz and the executor
// binary needs a bearer token (or the token as HTTP basic auth's
// password): viewer tokens read, operator tokens also mutate; tokens are
// compared in constant time and reloaded by Tokens.Run. Without Tokens,
// reads are open and mutations refused (403) unless Insecure. The Caller
// (token name, role, address) travels in the request's context
// (CallerFrom) to the Backend, which audits what reaches it; requests the
// API refuses itself (access control, bad input) are audited through
// Backend.Record.
//
// Requests are decoded strictly: JSON bodies of at most MaxBodyBytes, with
// Content-Type application/json on every POST, unknown fields refused (the
// Alertmanager webhook excepted: a later Alertmanager may add fields). Every
// error is JSON {"error": "...", "detail": "..."} with its status code: 400
// bad input, 401 no or unknown token, 403 a viewer token on a mutation (or
// mutations disabled, or a cross-site request), 404 unknown agent, 405
// wrong method, 409 a request that conflicts with the state, 413 body too
// large, 415 wrong content type, 503 (with Retry-After) while healer is
// Immutable or busy, and 307 to the leader's admin URL (Location) for a
// mutation sent to a standby. A rejected request changes nothing.
//
// The JSON shapes are the exported types of api.go, documented for
// operators in docs/admin-api.md and as OpenAPI in docs/openapi.yaml (a
// test keeps that in step with the router and the types).
package admin
