// Package deploy holds what runs healer on a cluster — the Marathon app
// (marathon.json), the example configuration it mounts (healer.yaml,
// monitor.yaml) and the example repair scripts (repairs/) — and the tests
// that keep them, and the repository's Dockerfile, correct without a
// cluster or Docker: the app against Marathon's app schema and
// healer-scheduler's own configuration loading, the Dockerfile against what
// `make build` produces, each script in dry-run and against stub tools.
// No Go code ships from here; docs/install-marathon.md is the guide.
package deploy
