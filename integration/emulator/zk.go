package emulator

import (
	"context"
	"net"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
)

// The Mesos master group in ZooKeeper lives in package zkgroup; these names
// keep the emulator's API as it was.

// DefaultZKSessionTimeout is Mesos' --zk_session_timeout.
const DefaultZKSessionTimeout = zkgroup.DefaultSessionTimeout

// ErrNoZKSession is wrapped by the error of a cluster that got no ZooKeeper
// session in time.
var ErrNoZKSession = zkgroup.ErrNoSession

type (
	// ZKConfig configures a ZooKeeper session (zkgroup.Config).
	ZKConfig = zkgroup.Config
	// ZKContender is a master's candidacy (zkgroup.Contender).
	ZKContender = zkgroup.Contender
	// ZKDetector follows the group's leader (zkgroup.Detector).
	ZKDetector = zkgroup.Detector
)

// NewZKContender is zkgroup.NewContender.
func NewZKContender(ctx context.Context, cfg ZKConfig, info mesos.MasterInfo) (*ZKContender, error) {
	return zkgroup.NewContender(ctx, cfg, info)
}

// NewZKDetector is zkgroup.NewDetector.
func NewZKDetector(ctx context.Context, cfg ZKConfig) (*ZKDetector, error) {
	return zkgroup.NewDetector(ctx, cfg)
}

// LeaderHostPort is zkgroup.LeaderHostPort: where a master's HTTP endpoints
// are, from its MasterInfo.
func LeaderHostPort(info mesos.MasterInfo) string { return zkgroup.LeaderHostPort(info) }

// MesosIPv4 is zkgroup.MesosIPv4: MasterInfo.ip's encoding of an address.
func MesosIPv4(ip net.IP) uint32 { return zkgroup.MesosIPv4(ip) }
