package zkgroup

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/healer-mesos/healer/internal/zkurl"
)

// Without a reachable ZooKeeper, a contender gives up after ConnectTimeout
// with ErrNoSession, and at once when its context ends.
func TestZKConnectGivesUp(t *testing.T) {
	u, err := zkurl.Parse("zk://127.0.0.1:1/mesos")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: u, ConnectTimeout: 100 * time.Millisecond}
	if _, err := NewDetector(context.Background(), cfg); !errors.Is(err, ErrNoSession) {
		t.Fatalf("NewDetector: %v; want ErrNoSession", err)
	}

	cfg.ConnectTimeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err = NewContender(ctx, cfg, testMasterInfo("m1", 5050))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("NewContender with a cancelled context: %v after %v; want context.Canceled at once", err, time.Since(start))
	}
}
