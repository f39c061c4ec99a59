package monitor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/healer-mesos/healer/executor/monitorconfig"
	"github.com/healer-mesos/healer/internal/stepcmd"
	"github.com/healer-mesos/healer/proto/healerpb"
)

// Prober measures one check. It is called from several goroutines at once
// (the due checks of a round run concurrently) and must return by ctx's
// deadline, the check's timeout.
type Prober interface {
	Probe(ctx context.Context, c *healerpb.Check) Sample
}

// Stats reads a built-in statistic (monitorconfig's Metric* names); path is
// set for the disk and inode ones.
type Stats interface {
	Metric(name, path string) (float64, error)
}

// Probes is the Prober of the real executor.
type Probes struct {
	Stats Stats
	// Env is the environment of command checks (the executor's own).
	Env []string
	// HTTP is the client of HTTP checks; nil means a client that follows
	// no redirect and keeps no idle connection.
	HTTP *http.Client
}

// commandKillGrace is a command check's SIGTERM→SIGKILL grace at its
// timeout: checks are cheap probes, not repairs.
const commandKillGrace = time.Second

// bodyLimit bounds what an HTTP check reads of a response body.
const bodyLimit = 64 << 10

// NewHTTPClient is the default HTTP check client: no redirects (the status
// is the value), no idle connections kept between rounds (nothing lingers
// in the executor for a check run once a minute).
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Probe measures c.
func (p *Probes) Probe(ctx context.Context, c *healerpb.Check) Sample {
	switch c.Kind {
	case healerpb.CHECK_KIND_BUILTIN:
		v, err := p.Stats.Metric(c.Metric, c.Path)
		if err != nil {
			return Failed("%v", err)
		}
		return Sample{Value: v}
	case healerpb.CHECK_KIND_COMMAND:
		return p.command(ctx, c)
	case healerpb.CHECK_KIND_HTTP:
		return p.http(ctx, c)
	case healerpb.CHECK_KIND_TCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.Address)
		if err != nil {
			return Sample{Value: 0, Message: err.Error()}
		}
		conn.Close()
		return Sample{Value: 1}
	}
	return Failed("unknown check kind %d", c.Kind)
}

func (p *Probes) command(ctx context.Context, c *healerpb.Check) Sample {
	spec := stepcmd.Spec{Command: c.Command, Env: p.Env, KillGrace: commandKillGrace, TailBytes: 256}
	if dl, ok := ctx.Deadline(); ok {
		spec.Timeout = time.Until(dl)
	}
	// Its own timer usually fires first (TimedOut); ctx ending (the
	// deadline a moment later, or the monitor stopping) kills it too.
	res, err := stepcmd.Run(ctx, spec)
	if err != nil {
		return Failed("%v", err)
	}
	tail := lastLine(res.Tail)
	switch {
	case res.TimedOut || res.Killed:
		return Failed("timed out after %s%s", time.Duration(c.TimeoutNs), tail)
	case res.Signal != 0:
		return Failed("terminated by signal %s%s", res.Signal, tail)
	}
	return Sample{Value: float64(res.ExitCode), Message: strings.TrimPrefix(tail, ": ")}
}

// lastLine is ": <last non-empty output line>", or "".
func lastLine(b []byte) string {
	b = bytes.TrimRight(b, "\n\r\t ")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) == 0 {
		return ""
	}
	return ": " + strings.ToValidUTF8(string(b), "?")
}

func (p *Probes) http(ctx context.Context, c *healerpb.Check) Sample {
	cli := p.HTTP
	if cli == nil {
		cli = NewHTTPClient()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Url, nil)
	if err != nil {
		return Sample{Value: 0, Message: err.Error()}
	}
	req.Header.Set("User-Agent", "healer-executor")
	resp, err := cli.Do(req)
	if err != nil {
		return Sample{Value: 0, Message: err.Error()}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, bodyLimit))
	resp.Body.Close()
	return Sample{Value: float64(resp.StatusCode)}
}

// SystemStats reads the built-in statistics from the host: /proc, /sys and
// statfs(2). The roots are fields so tests can point them at fixtures.
type SystemStats struct {
	Proc string // default /proc
	Sys  string // default /sys
	// Statfs defaults to syscall.Statfs.
	Statfs func(path string, st *syscall.Statfs_t) error
}

func (s *SystemStats) proc(p string) string {
	root := s.Proc
	if root == "" {
		root = "/proc"
	}
	return filepath.Join(root, p)
}

// Metric implements Stats.
func (s *SystemStats) Metric(name, path string) (float64, error) {
	switch name {
	case monitorconfig.MetricLoadPerCPU:
		return s.loadPerCPU()
	case monitorconfig.MetricMemAvailableRatio, monitorconfig.MetricMemAvailableBytes, monitorconfig.MetricSwapUsedRatio:
		m, err := s.meminfo()
		if err != nil {
			return math.NaN(), err
		}
		switch name {
		case monitorconfig.MetricMemAvailableBytes:
			return float64(m["MemAvailable"]), nil
		case monitorconfig.MetricMemAvailableRatio:
			if m["MemTotal"] == 0 {
				return math.NaN(), errors.New("meminfo: MemTotal is 0")
			}
			return float64(m["MemAvailable"]) / float64(m["MemTotal"]), nil
		}
		if m["SwapTotal"] == 0 {
			return 0, nil
		}
		return float64(m["SwapTotal"]-min(m["SwapFree"], m["SwapTotal"])) / float64(m["SwapTotal"]), nil
	case monitorconfig.MetricDiskUsedRatio, monitorconfig.MetricDiskFreeBytes, monitorconfig.MetricInodeUsedRatio:
		return s.fs(name, path)
	case monitorconfig.MetricFDUsedRatio:
		b, err := os.ReadFile(s.proc("sys/fs/file-nr"))
		if err != nil {
			return math.NaN(), fmt.Errorf("file handles: %w", err)
		}
		f := strings.Fields(string(b))
		if len(f) != 3 {
			return math.NaN(), fmt.Errorf("file handles: unexpected %q", b)
		}
		alloc, err1 := strconv.ParseFloat(f[0], 64)
		limit, err2 := strconv.ParseFloat(f[2], 64)
		if err1 != nil || err2 != nil || limit <= 0 {
			return math.NaN(), fmt.Errorf("file handles: unexpected %q", b)
		}
		return alloc / limit, nil
	}
	return math.NaN(), fmt.Errorf("unknown metric %q", name)
}

func (s *SystemStats) loadPerCPU() (float64, error) {
	b, err := os.ReadFile(s.proc("loadavg"))
	if err != nil {
		return math.NaN(), fmt.Errorf("load: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return math.NaN(), fmt.Errorf("load: unexpected %q", b)
	}
	load, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN(), fmt.Errorf("load: %w", err)
	}
	return load / float64(s.onlineCPUs()), nil
}

// onlineCPUs counts the host's online CPUs (not the executor's cgroup
// share: load is a host figure), falling back to what Go sees.
func (s *SystemStats) onlineCPUs() int {
	root := s.Sys
	if root == "" {
		root = "/sys"
	}
	b, err := os.ReadFile(filepath.Join(root, "devices/system/cpu/online"))
	if err == nil {
		if n := countCPUList(strings.TrimSpace(string(b))); n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// countCPUList counts a kernel CPU list such as "0-3,6,8-9"; 0 when it
// cannot be read.
func countCPUList(s string) int {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}

// meminfo reads /proc/meminfo's fields in bytes.
func (s *SystemStats) meminfo() (map[string]uint64, error) {
	f, err := os.Open(s.proc("meminfo"))
	if err != nil {
		return nil, fmt.Errorf("meminfo: %w", err)
	}
	defer f.Close()
	m := make(map[string]uint64, 8)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "MemTotal", "MemAvailable", "SwapTotal", "SwapFree":
		default:
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("meminfo: %s: %w", k, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		m[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("meminfo: %w", err)
	}
	if _, ok := m["MemAvailable"]; !ok {
		return nil, errors.New("meminfo: no MemAvailable (kernel older than 3.14?)")
	}
	return m, nil
}

func (s *SystemStats) fs(name, path string) (float64, error) {
	statfs := s.Statfs
	if statfs == nil {
		statfs = syscall.Statfs
	}
	var st syscall.Statfs_t
	if err := statfs(path, &st); err != nil {
		return math.NaN(), fmt.Errorf("statfs %s: %w", path, err)
	}
	switch name {
	case monitorconfig.MetricDiskFreeBytes:
		return float64(st.Bavail) * float64(st.Bsize), nil
	case monitorconfig.MetricInodeUsedRatio:
		if st.Files == 0 {
			return 0, nil // no inode limit (e.g. btrfs)
		}
		return float64(st.Files-min(st.Ffree, st.Files)) / float64(st.Files), nil
	}
	// As df: used / (used + available to non-root).
	used := st.Blocks - min(st.Bfree, st.Blocks)
	if used+st.Bavail == 0 {
		return 0, nil
	}
	return float64(used) / float64(used+st.Bavail), nil
}
