package emulator

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/integration/emulator/zkgroup"
	"github.com/healer-mesos/healer/internal/mesosduration"
	"github.com/healer-mesos/healer/internal/zkurl"
)

// EmulatorConfig is the configuration of the mesos-emulator command: a
// cluster described by Mesos-like flags.
type EmulatorConfig struct {
	Listen               string // host:port of master 0; the others take the next ports (0: free ports)
	Masters              int
	Agents               int
	AllocationInterval   time.Duration
	OfferTimeout         time.Duration
	AgentPingTimeout     time.Duration
	MaxAgentPingTimeouts int
	HeartbeatInterval    time.Duration
	ZK                   string
	ZKSessionTimeout     time.Duration
	Zones                string // comma-separated
	Region               string
	AgentResources       string // Mesos --resources form: cpus:4;mem:8192;ports:[31000-32000]
	AgentAttributes      string // Mesos --attributes form: rack:r1;os:linux
	FakeExecutors        bool
	// Credentials is Mesos' --credentials file; AuthenticateFrameworks
	// and AuthenticateHTTPReadwrite turn on HTTP Basic authentication of
	// the scheduler and operator APIs (MasterConfig).
	Credentials               string
	AuthenticateFrameworks    bool
	AuthenticateHTTPReadwrite bool
	// LogLevel is the lowest level the command logs to stderr.
	LogLevel slog.Level
}

// DefaultEmulatorConfig has Mesos' defaults.
func DefaultEmulatorConfig() EmulatorConfig {
	return EmulatorConfig{
		Listen:               "127.0.0.1:5050",
		Masters:              1,
		Agents:               3,
		AllocationInterval:   defaultAllocationInterval,
		AgentPingTimeout:     defaultAgentPingTimeout,
		MaxAgentPingTimeouts: defaultMaxAgentPingTimeouts,
		HeartbeatInterval:    defaultHeartbeatInterval,
		ZKSessionTimeout:     zkgroup.DefaultSessionTimeout,
		LogLevel:             slog.LevelInfo,
	}
}

// AddFlags registers the command's flags, named as Mesos' master and agent
// flags where one exists.
func (c *EmulatorConfig) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "host:port of the first master (further masters take the following ports; port 0 picks free ports)")
	fs.IntVar(&c.Masters, "masters", c.Masters, "number of masters")
	fs.IntVar(&c.Agents, "agents", c.Agents, "number of agents")
	fs.Var(mesosduration.Value{D: &c.AllocationInterval}, "allocation_interval", "master --allocation_interval (Mesos form, e.g. 1secs, or Go form, e.g. 1s)")
	fs.Var(mesosduration.Value{D: &c.OfferTimeout}, "offer_timeout", "master --offer_timeout, e.g. 15mins (0: offers never expire)")
	fs.Var(mesosduration.Value{D: &c.AgentPingTimeout}, "agent_ping_timeout", "master --agent_ping_timeout, e.g. 15secs")
	fs.IntVar(&c.MaxAgentPingTimeouts, "max_agent_ping_timeouts", c.MaxAgentPingTimeouts, "master --max_agent_ping_timeouts")
	fs.Var(mesosduration.Value{D: &c.HeartbeatInterval}, "heartbeat_interval", "scheduler stream heartbeat interval, e.g. 15secs (fixed at 15secs in Mesos)")
	fs.StringVar(&c.ZK, "zk", c.ZK, "zk://[user:pass@]host:port[,...]/path: masters contend in this ZooKeeper group (empty: master 0 leads)")
	fs.Var(mesosduration.Value{D: &c.ZKSessionTimeout}, "zk_session_timeout", "master --zk_session_timeout, e.g. 10secs")
	fs.StringVar(&c.Zones, "zones", c.Zones, "comma-separated fault-domain zones spread round-robin over the agents")
	fs.StringVar(&c.Region, "region", c.Region, "fault-domain region of the agents (with --zones)")
	fs.StringVar(&c.AgentResources, "resources", c.AgentResources, "agent --resources, e.g. cpus:4;mem:8192;disk:10240;ports:[31000-32000]")
	fs.StringVar(&c.AgentAttributes, "attributes", c.AgentAttributes, "agent --attributes, e.g. rack:r1;os:linux")
	fs.BoolVar(&c.FakeExecutors, "fake_executors", c.FakeExecutors, "run every executor in-process (tasks go RUNNING and run until killed) instead of as processes")
	fs.StringVar(&c.Credentials, "credentials", c.Credentials, `master --credentials: path to {"credentials":[{"principal":"p","secret":"s"}]}`)
	fs.BoolVar(&c.AuthenticateFrameworks, "authenticate_http_frameworks", c.AuthenticateFrameworks, "master --authenticate_http_frameworks: schedulers must send Basic credentials (needs --credentials)")
	fs.BoolVar(&c.AuthenticateFrameworks, "authenticate_frameworks", c.AuthenticateFrameworks, "alias of --authenticate_http_frameworks")
	fs.TextVar(&c.LogLevel, "log_level", c.LogLevel, "lowest level logged to stderr: debug, info, warn or error")
	fs.BoolVar(&c.AuthenticateHTTPReadwrite, "authenticate_http_readwrite", c.AuthenticateHTTPReadwrite, "master --authenticate_http_readwrite: operator API calls must send Basic credentials (needs --credentials)")
}

// Validate checks the configuration.
func (c EmulatorConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen=%q: %w", c.Listen, err))
	} else if _, err := listenPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen=%q: %w", c.Listen, err))
	}
	if c.Masters < 1 {
		errs = append(errs, fmt.Errorf("--masters=%d: need at least one master", c.Masters))
	}
	if c.Masters > 1 && c.ZK == "" {
		errs = append(errs, errors.New("--masters > 1 needs --zk (standbys follow the ZooKeeper election)"))
	}
	if c.Agents < 0 {
		errs = append(errs, fmt.Errorf("--agents=%d: must not be negative", c.Agents))
	}
	if c.AllocationInterval <= 0 {
		errs = append(errs, fmt.Errorf("--allocation_interval=%s: must be positive", mesosduration.Format(c.AllocationInterval)))
	}
	if c.OfferTimeout < 0 {
		errs = append(errs, fmt.Errorf("--offer_timeout=%s: must not be negative", mesosduration.Format(c.OfferTimeout)))
	}
	if c.AgentPingTimeout < time.Second || c.AgentPingTimeout > 15*time.Minute {
		// Mesos' own bounds for --agent_ping_timeout.
		errs = append(errs, fmt.Errorf("--agent_ping_timeout=%s: must be within 1secs and 15mins", mesosduration.Format(c.AgentPingTimeout)))
	}
	if c.MaxAgentPingTimeouts < 1 {
		errs = append(errs, fmt.Errorf("--max_agent_ping_timeouts=%d: must be at least 1", c.MaxAgentPingTimeouts))
	}
	if (c.AuthenticateFrameworks || c.AuthenticateHTTPReadwrite) && c.Credentials == "" {
		errs = append(errs, errors.New("HTTP authentication needs --credentials"))
	}
	if c.HeartbeatInterval <= 0 {
		errs = append(errs, fmt.Errorf("--heartbeat_interval=%s: must be positive", mesosduration.Format(c.HeartbeatInterval)))
	}
	if c.ZK != "" {
		if _, err := zkurl.Parse(c.ZK); err != nil {
			errs = append(errs, fmt.Errorf("--zk: %w", err))
		}
	}
	if c.ZKSessionTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--zk_session_timeout=%s: must be positive", mesosduration.Format(c.ZKSessionTimeout)))
	}
	if _, err := ParseResources(c.AgentResources); err != nil {
		errs = append(errs, fmt.Errorf("--resources: %w", err))
	}
	if _, err := ParseAttributes(c.AgentAttributes); err != nil {
		errs = append(errs, fmt.Errorf("--attributes: %w", err))
	}
	return errors.Join(errs...)
}

func listenPort(hostPort string) (int, error) {
	_, p, _ := net.SplitHostPort(hostPort)
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, fmt.Errorf("bad port %q", p)
	}
	return port, nil
}

// ClusterConfig turns the command's configuration into a ClusterConfig;
// call Validate first.
func (c EmulatorConfig) ClusterConfig() (ClusterConfig, error) {
	if err := c.Validate(); err != nil {
		return ClusterConfig{}, err
	}
	host, _, _ := net.SplitHostPort(c.Listen)
	port, _ := listenPort(c.Listen)
	cc := ClusterConfig{
		Masters:          c.Masters,
		MasterHost:       host,
		ZK:               c.ZK,
		ZKSessionTimeout: c.ZKSessionTimeout,
		Agents:           c.Agents,
		Region:           c.Region,
		Master: MasterConfig{
			AllocationInterval:   c.AllocationInterval,
			OfferTimeout:         c.OfferTimeout,
			AgentPingTimeout:     c.AgentPingTimeout,
			MaxAgentPingTimeouts: c.MaxAgentPingTimeouts,
			HeartbeatInterval:    c.HeartbeatInterval,
		},
	}
	if port != 0 {
		for i := 0; i < c.Masters; i++ {
			cc.MasterPorts = append(cc.MasterPorts, port+i)
		}
	}
	if c.Zones != "" {
		cc.Zones = strings.Split(c.Zones, ",")
	}
	cc.Agent.Resources, _ = ParseResources(c.AgentResources)
	cc.Agent.Attributes, _ = ParseAttributes(c.AgentAttributes)
	if c.Credentials != "" {
		creds, err := LoadCredentials(c.Credentials)
		if err != nil {
			return ClusterConfig{}, fmt.Errorf("--credentials: %w", err)
		}
		cc.Master.Credentials = creds
		cc.Master.AuthenticateFrameworks = c.AuthenticateFrameworks
		cc.Master.AuthenticateHTTPReadwrite = c.AuthenticateHTTPReadwrite
	}
	if c.FakeExecutors {
		cc.Agent.FakeExecutors = FakeBehavior{}.Factory()
	}
	return cc, nil
}

// ParseResources parses Mesos' --resources text form
// ("cpus:4;mem:8192;ports:[31000-32000]", optionally "name(role):value");
// empty gives nil (the agent's defaults).
func ParseResources(s string) ([]mesos.Resource, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []mesos.Resource
	for _, item := range strings.Split(s, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("bad resource %q: expecting name:value", item)
		}
		r := mesos.Resource{Name: name}
		if n, role, ok := strings.Cut(name, "("); ok {
			role = strings.TrimSuffix(role, ")")
			r.Name = n
			if role != "*" {
				r.Role = proto.String(role)
			}
		}
		if strings.HasPrefix(value, "[") {
			ranges, err := parseRanges(value)
			if err != nil {
				return nil, fmt.Errorf("bad resource %q: %w", item, err)
			}
			r.Type = mesos.RANGES.Enum()
			r.Ranges = &mesos.Value_Ranges{Range: ranges}
		} else {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil || v < 0 {
				return nil, fmt.Errorf("bad resource %q: expecting a non-negative number or [a-b,...]", item)
			}
			r.Type = mesos.SCALAR.Enum()
			r.Scalar = &mesos.Value_Scalar{Value: v}
		}
		out = append(out, r)
	}
	return out, nil
}

func parseRanges(s string) ([]mesos.Value_Range, error) {
	inner, ok := strings.CutPrefix(s, "[")
	inner, ok2 := strings.CutSuffix(inner, "]")
	if !ok || !ok2 {
		return nil, fmt.Errorf("expecting [begin-end,...], got %q", s)
	}
	var out []mesos.Value_Range
	for _, part := range strings.Split(inner, ",") {
		b, e, ok := strings.Cut(strings.TrimSpace(part), "-")
		begin, err1 := strconv.ParseUint(b, 10, 64)
		end, err2 := strconv.ParseUint(e, 10, 64)
		if !ok || err1 != nil || err2 != nil || end < begin {
			return nil, fmt.Errorf("bad range %q", part)
		}
		out = append(out, mesos.Value_Range{Begin: begin, End: end})
	}
	return out, nil
}

// ParseAttributes parses Mesos' --attributes text form ("rack:r1;cores:8");
// numbers become scalars, everything else text.
func ParseAttributes(s string) ([]mesos.Attribute, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []mesos.Attribute
	for _, item := range strings.Split(s, ";") {
		name, value, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("bad attribute %q: expecting name:value", item)
		}
		a := mesos.Attribute{Name: name}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			a.Type = mesos.SCALAR
			a.Scalar = &mesos.Value_Scalar{Value: v}
		} else {
			a.Type = mesos.TEXT
			a.Text = &mesos.Value_Text{Value: value}
		}
		out = append(out, a)
	}
	return out, nil
}

// Describe writes one line per master and agent, in a stable format:
//
//	master 127.0.0.1:5050 (leading)
//	master 127.0.0.1:5051 (standby)
//	agent <id> <hostname> 127.0.0.1:NNNN zone=a
func (c *Cluster) Describe(w io.Writer) error {
	c.mu.Lock()
	var b strings.Builder
	for _, cm := range c.masters {
		state := "standby"
		switch {
		case cm.killed:
			state = "killed"
		case cm == c.leader:
			state = "leading"
		}
		fmt.Fprintf(&b, "master %s (%s)\n", cm.addr, state)
	}
	agents := append([]*clusterAgent(nil), c.agents...)
	c.mu.Unlock()
	for _, ca := range agents {
		info := ca.agent.Info()
		zone := ca.zone
		if zone == "" {
			zone = "-"
		}
		fmt.Fprintf(&b, "agent %s %s %s zone=%s\n", info.GetID().GetValue(), info.Hostname, ca.agent.Endpoint(), zone)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
