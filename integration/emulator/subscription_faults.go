package emulator

// StallSubscription is a fault: the framework's SUBSCRIBE stream stays open
// (no EOF) but nothing more is written to it, not even HEARTBEATs, as on a
// half-open connection; the master still considers the framework
// connected. Events queue up and are written after ResumeSubscription; the
// stall ends too when the client closes the connection. It reports whether
// the framework had a stream.
func (m *Master) StallSubscription(frameworkID string) bool {
	return m.setSubscriptionStalled(frameworkID, true)
}

// ResumeSubscription ends a StallSubscription: the queued events are
// written and heartbeats resume. It reports whether the framework had a
// stream.
func (m *Master) ResumeSubscription(frameworkID string) bool {
	return m.setSubscriptionStalled(frameworkID, false)
}

func (m *Master) setSubscriptionStalled(frameworkID string, on bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[frameworkID]
	if fw == nil || fw.sub == nil {
		return false
	}
	typ := "stall_subscription"
	if !on {
		typ = "resume_subscription"
	}
	m.rec.Add(Record{Kind: RecordFault, Master: m.cfg.ID, FrameworkID: frameworkID, Type: typ})
	fw.sub.setStalled(on)
	return true
}

// StallSubscription stalls a framework's stream on the leading master (see
// Master.StallSubscription).
func (c *Cluster) StallSubscription(frameworkID string) bool {
	m := c.Leader()
	return m != nil && m.StallSubscription(frameworkID)
}

// ResumeSubscription resumes a stalled stream on the leading master.
func (c *Cluster) ResumeSubscription(frameworkID string) bool {
	m := c.Leader()
	return m != nil && m.ResumeSubscription(frameworkID)
}
