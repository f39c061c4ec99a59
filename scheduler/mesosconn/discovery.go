package mesosconn

import (
	"context"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
)

// discovery names the masters to try, best first, and a channel closed when
// that changes (nil: never).
type discovery interface {
	leaders() ([]string, <-chan struct{})
	close()
}

// staticMasters is a fixed list: any of them may lead; the others redirect.
type staticMasters []string

func (s staticMasters) leaders() ([]string, <-chan struct{}) { return s, nil }
func (staticMasters) close()                                 {}

// zkMasters is the leader of the masters' group in ZooKeeper.
type zkMasters struct {
	c   *Conn
	det *zkgroup.Detector
}

func (z zkMasters) leaders() ([]string, <-chan struct{}) {
	info, changed := z.det.Leader()
	if info == nil {
		return nil, changed
	}
	return []string{zkgroup.LeaderHostPort(*info)}, changed
}

func (z zkMasters) close() {
	z.c.mu.Lock()
	z.c.det = nil
	z.c.mu.Unlock()
	z.det.Close()
}

// startDiscovery starts following the masters: at once for a static list;
// for ZooKeeper once a session is open, retrying with backoff meanwhile. It
// fails only when ctx ends.
func (c *Conn) startDiscovery(ctx context.Context) (discovery, error) {
	if c.src.zk == nil {
		return staticMasters(c.src.static), nil
	}
	cfg := zkgroup.Config{URL: *c.src.zk, SessionTimeout: c.cfg.ZKSessionTimeout, Logger: c.log}
	for failures := 1; ; failures++ {
		det, err := zkgroup.NewDetector(ctx, cfg)
		if err == nil {
			c.mu.Lock()
			c.det = det
			c.mu.Unlock()
			return zkMasters{c: c, det: det}, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		delay := c.backoff(failures)
		c.log.Warn("cannot reach ZooKeeper to find the leading Mesos master; retrying",
			"zk", c.src.zk.Redacted(), "err", err, "in", delay)
		if !sleep(ctx, delay, nil) {
			return nil, ctx.Err()
		}
	}
}

// operatorTargets are the masters to send an operator call to, best first:
// the subscribed or last known leader, then the discovered ones.
func (c *Conn) operatorTargets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.hint
	if c.cur != nil {
		first = c.cur.master
	}
	out := []string{first}
	switch {
	case c.src.zk == nil:
		out = append(out, c.src.static...)
	case c.det != nil:
		leaders, _ := zkMasters{det: c.det}.leaders()
		out = append(out, leaders...)
	}
	return out
}
