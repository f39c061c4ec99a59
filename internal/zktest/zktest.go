// Package zktest starts a real ZooKeeper server (Debian's zookeeper package)
// for tests: one standalone server per call, on a free loopback port, with
// its data in the test's temp dir, stopped when the test ends.
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

// Server is a running ZooKeeper server.
type Server struct {
	// Addr is host:port of the client port on loopback.
	Addr string

	dir string
	cmd *exec.Cmd
	log string
	t   testing.TB
}

// Start launches a ZooKeeper server for the test and waits until it accepts
// sessions. The server is stopped (and its output shown on failure) by
// t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	classPath, err := classPath()
	if err != nil {
		missing(t, err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		missing(t, fmt.Errorf("java not on PATH: %w", err))
	}
	s := &Server{dir: t.TempDir(), t: t}
	port, err := freePort()
	if err != nil {
		t.Fatalf("zktest: pick a port: %v", err)
	}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	cfg := strings.Join([]string{
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
	}, "\n") + "\n"
	cfgPath := filepath.Join(s.dir, "zoo.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatalf("zktest: write zoo.cfg: %v", err)
	}
	s.log = filepath.Join(s.dir, "zookeeper.log")
	logf, err := os.Create(s.log)
	if err != nil {
		t.Fatalf("zktest: create log: %v", err)
	}
	s.cmd = exec.Command("java",
		"-Xmx256m", "-Dzookeeper.log.dir="+s.dir, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
		"-cp", classPath, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgPath)
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("zktest: start ZooKeeper: %v", err)
	}
	logf.Close()
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			s.dumpLog()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s.serving() {
			return s
		}
		select {
		case err := <-exited:
			exited <- err
			s.dumpLog()
			t.Fatalf("zktest: ZooKeeper exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			s.dumpLog()
			t.Fatalf("zktest: ZooKeeper on %s did not serve within 30s", s.Addr)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's readiness, not waiting for a result
	}
}

// serving reports whether the server answers "srvr" with its mode, which it
// does only once it accepts client sessions ("ruok" is answered "imok" as
// soon as the process is up, before that).
func (s *Server) serving() bool {
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
	return strings.Contains(string(out), "Mode: standalone")
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
