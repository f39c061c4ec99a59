package emulator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/zkurl"
)

// Without a reachable ZooKeeper, a contender gives up after ConnectTimeout
// with ErrNoZKSession, and at once when its context ends.
func TestZKConnectGivesUp(t *testing.T) {
	u, err := zkurl.Parse("zk://127.0.0.1:1/mesos")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ZKConfig{URL: u, ConnectTimeout: 100 * time.Millisecond}
	if _, err := NewZKDetector(context.Background(), cfg); !errors.Is(err, ErrNoZKSession) {
		t.Fatalf("NewZKDetector: %v; want ErrNoZKSession", err)
	}

	cfg.ConnectTimeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	m := NewMaster(MasterConfig{})
	defer m.Close()
	_, err = NewZKContender(ctx, cfg, m.MasterInfo())
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("NewZKContender with a cancelled context: %v after %v; want context.Canceled at once", err, time.Since(start))
	}
}
