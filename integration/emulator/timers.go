package emulator

import "time"

// masterTimer is a timer the master owns: Close stops every pending one and
// waits for any whose callback already started, so nothing the master
// scheduled runs after Close returns. Its methods expect the master's lock.
type masterTimer struct {
	m *Master
	t *time.Timer // nil: never started (the master was closed)
}

// afterLocked runs f (without the master's lock) after d, unless the timer
// is stopped or the master closes first. Call with the master's lock held.
func (m *Master) afterLocked(d time.Duration, f func()) *masterTimer {
	mt := &masterTimer{m: m}
	if m.closed {
		return mt
	}
	if m.timers == nil {
		m.timers = make(map[*masterTimer]struct{})
	}
	m.wg.Add(1) // safe: Close sets closed under mu before it waits
	m.timers[mt] = struct{}{}
	mt.t = time.AfterFunc(d, func() {
		defer m.wg.Done()
		m.mu.Lock()
		delete(m.timers, mt)
		closed := m.closed
		m.mu.Unlock()
		if !closed {
			f()
		}
	})
	return mt
}

// Stop cancels the timer if it has not fired. Call with the master's lock
// held.
func (mt *masterTimer) Stop() {
	if mt == nil || mt.t == nil {
		return
	}
	if mt.t.Stop() {
		delete(mt.m.timers, mt)
		mt.m.wg.Done()
	}
}

// stopTimersLocked stops every pending master timer (Close).
func (m *Master) stopTimersLocked() {
	for mt := range m.timers {
		mt.Stop()
	}
}
