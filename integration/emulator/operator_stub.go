// TEMPORARY: the cluster engineer deletes this file when operator.go (which
// defines serveOperator, the operator API on POST /api/v1) is committed.
package emulator

import "net/http"

// serveOperator answers the operator API until operator.go implements it.
func (m *Master) serveOperator(w http.ResponseWriter, r *http.Request) {
	if !m.checkLeader(w, r) {
		return
	}
	writeError(w, http.StatusNotImplemented, "operator API not implemented yet")
}
