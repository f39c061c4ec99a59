// Package zktest starts a real ZooKeeper server (Debian's zookeeper package)
// for tests: one standalone server per call, on a free loopback port, with
// its data in the test's temp dir, stopped when the test ends.
//
// A test can stop and restart the server (same port, same data, so sessions
// younger than their timeout survive, as with a real ZooKeeper restart), and
// put a Proxy between its clients and the server to cut them off (Partition)
// or to expire one session on the server (Expire) the way a second client
// holding the session's id and password can.
//
// StartEnsemble starts a replicated ensemble (three or more servers) whose
// members can be killed and revived one by one, down to a lost quorum.
//
// When ZooKeeper is not installed the test is skipped on a developer's
// machine but FAILS in CI (CI=true), so a missing install step in .ci/run
// cannot turn the ZooKeeper tests into silent skips.
package zktest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// javaClassPathDir holds the jars Debian's zookeeper package installs (and
// its dependencies).
const javaClassPathDir = "/usr/share/java"

// Server is a running ZooKeeper server. Its methods are for the test's
// goroutine.
type Server struct {
	// Addr is host:port of the client port on loopback. It stays the same
	// across Restart.
	Addr string

	dir       string
	cfgPath   string
	classPath string
	log       string
	t         testing.TB
	// member: one server of an Ensemble.
	member bool

	// cmd and exited are the running process; nil while stopped.
	cmd    *exec.Cmd
	exited chan error
}

// Start launches a ZooKeeper server for the test and waits until it accepts
// sessions. The server is stopped (and its output shown on failure) by
// t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	classPath := requireZooKeeper(t)
	port, err := freePort()
	if err != nil {
		t.Fatalf("zktest: pick a port: %v", err)
	}
	s := newServer(t, classPath, port, nil)
	s.launch()
	return s
}

// requireZooKeeper returns the server's class path, or skips (fails in CI)
// the test when ZooKeeper or Java is missing.
func requireZooKeeper(t testing.TB) string {
	t.Helper()
	classPath, err := classPath()
	if err != nil {
		missing(t, err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		missing(t, fmt.Errorf("java not on PATH: %w", err))
	}
	return classPath
}

// newServer writes a server's configuration: standalone without peers,
// else member myid of the ensemble whose server lines are peers.
func newServer(t testing.TB, classPath string, port int, peers []string) *Server {
	t.Helper()
	s := &Server{dir: t.TempDir(), t: t, classPath: classPath, member: peers != nil}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	lines := []string{
		"tickTime=200",
		"initLimit=10",
		"syncLimit=5",
		"dataDir=" + filepath.Join(s.dir, "data"),
		"clientPort=" + fmt.Sprint(port),
		"clientPortAddress=127.0.0.1",
		"maxClientCnxns=0",
		"admin.enableServer=false",
		"4lw.commands.whitelist=ruok,stat,srvr,mntr",
		// Sessions may be as short as 2 ticks, so tests can expire them quickly.
		"minSessionTimeout=400",
		"maxSessionTimeout=60000",
	}
	lines = append(lines, peers...)
	s.cfgPath = filepath.Join(s.dir, "zoo.cfg")
	if err := os.WriteFile(s.cfgPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatalf("zktest: write zoo.cfg: %v", err)
	}
	s.log = filepath.Join(s.dir, "zookeeper.log")
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			s.dumpLog()
		}
	})
	return s
}

// launch starts the server process and waits until it serves.
func (s *Server) launch() {
	t := s.t
	t.Helper()
	if err := s.spawn(); err != nil {
		t.Fatal(err)
	}
	if err := s.waitServing(30 * time.Second); err != nil {
		s.dumpLog()
		t.Fatal(err)
	}
}

// spawn starts the server process without waiting for it to serve (an
// ensemble member serves only once a quorum is up).
func (s *Server) spawn() error {
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zktest: open log: %w", err)
	}
	cmd := exec.Command("java",
		"-Xmx256m", "-Dzookeeper.log.dir="+s.dir, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-cp", s.classPath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", s.cfgPath)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("zktest: start ZooKeeper: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s.cmd, s.exited = cmd, exited
	return nil
}

// waitServing polls until the server serves clients, it exits, or timeout.
func (s *Server) waitServing(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if s.Serving() {
			return nil
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("zktest: ZooKeeper on %s exited before serving: %v", s.Addr, err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zktest: ZooKeeper on %s did not serve within %v", s.Addr, timeout)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's readiness, not waiting for a result
	}
}

// Stop kills the server (SIGKILL, a crash: ZooKeeper syncs its transaction
// log before it answers a write, so nothing acknowledged is lost) and waits
// for it to exit. Clients see their connection drop; their sessions live on
// in the server's data until Restart, which gives each its full timeout
// again. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// Restart stops the server if it runs, starts it again on the same port
// with the same data, and waits until it serves.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.launch()
}

// Serving reports whether the server accepts client sessions: it answers
// "srvr" with its mode (standalone, or leader or follower in an ensemble
// with a quorum), which it does only once it serves ("ruok" is answered
// "imok" as soon as the process is up, before that, and an ensemble member
// without a quorum says it is not serving).
func (s *Server) Serving() bool {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("srvr")); err != nil {
		return false
	}
	out, _ := io.ReadAll(c)
	for _, mode := range []string{"Mode: standalone", "Mode: leader", "Mode: follower"} {
		if strings.Contains(string(out), mode) {
			return true
		}
	}
	return false
}

func (s *Server) dumpLog() {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return
	}
	if len(b) > 8192 {
		b = b[len(b)-8192:]
	}
	s.t.Logf("zktest: ZooKeeper log tail:\n%s", b)
}

// classPath is the one Debian's zookeeper package uses: zookeeper.jar, whose
// manifest names its dependencies, plus slf4j's simple binding (from
// libslf4j-java, a dependency of the package) so the server's log reaches
// zookeeper.log. Putting every jar of /usr/share/java on the path instead
// would make the logging binding, and any duplicated library, depend on
// whatever else the machine has installed.
func classPath() (string, error) {
	server := filepath.Join(javaClassPathDir, "zookeeper.jar")
	if _, err := os.Stat(server); err != nil {
		return "", fmt.Errorf("no %s (install it: apt-get install -y zookeeper): %w", server, err)
	}
	parts := []string{server}
	if logging := filepath.Join(javaClassPathDir, "slf4j-simple.jar"); fileExists(logging) {
		parts = append(parts, logging)
	}
	return strings.Join(parts, ":"), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("zktest: ZooKeeper is required in CI: %v", err)
	}
	t.Skipf("zktest: ZooKeeper not available (%v); CI installs it", err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
