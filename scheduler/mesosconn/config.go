package mesosconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/internal/zkurl"
)

// Defaults of Config's zero values.
const (
	DefaultEventBuffer     = 1024
	DefaultHeartbeatMisses = 3
	DefaultBackoffMin      = time.Second
	DefaultBackoffMax      = 15 * time.Second
	DefaultCallTimeout     = 10 * time.Second
	// DefaultMaxEventBytes is far above mesos-go's 4 MiB: one OFFERS
	// event of a 10,000-agent cluster can be tens of MiB.
	DefaultMaxEventBytes    = 64 << 20
	DefaultZKSessionTimeout = 10 * time.Second
	// defaultHeartbeat is the interval when SUBSCRIBED announces none (Mesos
	// hard-codes 15 s).
	defaultHeartbeat = 15 * time.Second
)

// Config configures a Conn. Zero values take the defaults above.
type Config struct {
	// Master is "host:port", "h1:5050,h2:5050", or
	// "zk://[user:pass@]hosts/path" (the masters' group in ZooKeeper).
	Master string
	// Framework is the FrameworkInfo healer registers: name, user, roles,
	// checkpoint, capabilities, principal, webui_url, hostname. Its
	// failover_timeout must be positive: with 0 the master removes the
	// framework, and kills its tasks, at every disconnect. Its ID is set
	// from FrameworkID.
	Framework mesos.FrameworkInfo
	// FrameworkID is healer's stored framework ID; "" registers a new
	// framework (only when none is stored).
	FrameworkID string
	// FrameworkIDStore says where the runtime keeps the framework ID (e.g.
	// "the znode /healer/framework_id"), for ErrFrameworkRemoved's message.
	FrameworkIDStore string
	// Principal and Secret, when Principal is set, are sent as HTTP basic
	// auth on every scheduler and operator API request.
	Principal, Secret string
	// EventBuffer is the capacity of the Events queue.
	EventBuffer int
	// HeartbeatMisses is how many heartbeat intervals (announced in
	// SUBSCRIBED, 15 s on Mesos) a stream may stay silent before it counts
	// as lost.
	HeartbeatMisses int
	// BackoffMin and BackoffMax bound the jittered exponential backoff
	// between subscription attempts.
	BackoffMin, BackoffMax time.Duration
	// CallTimeout bounds each call, each operator call, and a SUBSCRIBE's
	// wait for its response and first event.
	CallTimeout time.Duration
	// MaxEventBytes is the largest event (RecordIO record) accepted.
	MaxEventBytes int
	// ZKSessionTimeout is the ZooKeeper session timeout for zk:// masters.
	ZKSessionTimeout time.Duration
	// UserAgent is sent with every request (default "healer-scheduler").
	// A Mesos master logs it with each request, so an operator can tell
	// which scheduler instance made a call.
	UserAgent string
	// Logger logs; nil discards.
	Logger *slog.Logger
}

// masterSource is a parsed Config.Master.
type masterSource struct {
	static []string   // host:port of each master, in order
	zk     *zkurl.URL // the master group, instead of static
}

// withDefaults checks c and fills in its defaults.
func (c Config) withDefaults() (Config, masterSource, error) {
	var src masterSource
	bad := func(format string, args ...any) (Config, masterSource, error) {
		return c, src, fmt.Errorf("mesosconn: config: "+format, args...)
	}
	src, err := parseMaster(c.Master)
	if err != nil {
		return bad("master: %w", err)
	}
	fi := &c.Framework
	if fi.FailoverTimeout == nil || !(*fi.FailoverTimeout > 0) {
		return bad("framework failover_timeout must be positive: with 0 the master removes the framework and kills its tasks whenever the scheduler disconnects")
	}
	if id := fi.GetID().GetValue(); id != "" && id != c.FrameworkID {
		return bad("FrameworkInfo.id %q differs from FrameworkID %q", id, c.FrameworkID)
	}
	if strings.ContainsAny(c.Principal, ":") || strings.ContainsAny(c.Secret, ":") {
		// libprocess splits the decoded credentials on every ':'.
		return bad("principal or secret contains ':', which Mesos' basic authentication always refuses")
	}
	if c.Principal != "" {
		switch {
		case fi.Principal == nil:
			p := c.Principal
			fi.Principal = &p
		case *fi.Principal != c.Principal:
			return bad("FrameworkInfo.principal %q differs from Principal %q: the master refuses the subscription", *fi.Principal, c.Principal)
		}
	} else if c.Secret != "" {
		return bad("a secret without a principal")
	}
	for _, v := range []struct {
		name string
		val  *int
		def  int
	}{{"EventBuffer", &c.EventBuffer, DefaultEventBuffer}, {"HeartbeatMisses", &c.HeartbeatMisses, DefaultHeartbeatMisses}, {"MaxEventBytes", &c.MaxEventBytes, DefaultMaxEventBytes}} {
		if *v.val < 0 {
			return bad("%s must not be negative", v.name)
		}
		if *v.val == 0 {
			*v.val = v.def
		}
	}
	for _, v := range []struct {
		name string
		val  *time.Duration
		def  time.Duration
	}{{"BackoffMin", &c.BackoffMin, DefaultBackoffMin}, {"BackoffMax", &c.BackoffMax, DefaultBackoffMax}, {"CallTimeout", &c.CallTimeout, DefaultCallTimeout}, {"ZKSessionTimeout", &c.ZKSessionTimeout, DefaultZKSessionTimeout}} {
		if *v.val < 0 {
			return bad("%s must not be negative", v.name)
		}
		if *v.val == 0 {
			*v.val = v.def
		}
	}
	if c.BackoffMin > c.BackoffMax {
		return bad("BackoffMin %v exceeds BackoffMax %v", c.BackoffMin, c.BackoffMax)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, src, nil
}

// parseMaster reads --master as Mesos does, less file://: a zk:// URL, or
// host:port[,host:port...] (a "master@" UPID prefix is accepted).
func parseMaster(m string) (masterSource, error) {
	m = strings.TrimSpace(m)
	if m == "" {
		return masterSource{}, errors.New("empty: give host:port, a comma-separated list, or zk://host:port/mesos")
	}
	if strings.HasPrefix(m, zkurl.Scheme) {
		u, err := zkurl.Parse(m)
		if err != nil {
			return masterSource{}, err
		}
		return masterSource{zk: &u}, nil
	}
	var src masterSource
	for _, hp := range strings.Split(m, ",") {
		hp = strings.TrimPrefix(strings.TrimSpace(hp), "master@")
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return masterSource{}, fmt.Errorf("%q is not host:port (want host:port, a comma-separated list, or zk://host:port/mesos)", hp)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return masterSource{}, fmt.Errorf("%q has an invalid port", hp)
		}
		src.static = append(src.static, hp)
	}
	return src, nil
}
