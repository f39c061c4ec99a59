package admin

import (
	_ "embed"
	"net/http"
)

// dashboardHTML is the dashboard: one self-contained page (no external
// assets, nothing to build) that reads the API it is served by.
//
//go:embed dashboard.html
var dashboardHTML []byte

func (s *server) dashboard(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Nothing from elsewhere: no script, style, image or frame but the
	// page's own.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(dashboardHTML)
	}
}
