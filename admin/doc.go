// Package admin will hold healer's admin HTTP API (/repair, /status, agents,
// repairs, pause/resume, the Alertmanager webhook, metrics and the
// dashboard), a thin adapter over the coordinator (see shared/DESIGN.md,
// "The admin HTTP port").
package admin
