package emulator

import "time"

// FinishRecovery ends the leader's registry recovery at once (see
// MasterConfig.RecoveryDelay): API calls are served from now on.
func (m *Master) FinishRecovery() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recovered = time.Time{}
}

// Recovering reports whether the master leads but has not finished
// recovering its registry (API calls get 503 Master has not finished
// recovery).
func (m *Master) Recovering() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leading && time.Now().Before(m.recovered)
}
