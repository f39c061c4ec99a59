package zktest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards ZooKeeper client connections on loopback to a server, so a
// test can cut its clients off (Partition, Heal) and expire their sessions
// (Expire). Clients connect to Proxy.Addr instead of the server's.
//
// It reads the first frame the server sends on each connection, the
// connect response, to learn each session's id and password: what Expire
// needs, and what go-zookeeper keeps private.
type Proxy struct {
	// Addr is host:port of the proxy's listener on loopback.
	Addr string

	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu          sync.Mutex
	partitioned bool
	closed      bool
	conns       map[net.Conn]struct{}
	passwords   map[int64][]byte
}

// NewProxy starts a proxy to the ZooKeeper server at target (host:port),
// closed by t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("zktest: proxy listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln,
		conns: make(map[net.Conn]struct{}), passwords: make(map[int64][]byte)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Partition cuts every client off: open connections are closed and new
// ones are closed as soon as they are accepted, until Heal. The server
// hears nothing from the clients, so their sessions expire after their
// timeout, as in a network partition.
func (p *Proxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = true
	for c := range p.conns {
		c.Close()
	}
}

// Heal ends a Partition: new connections reach the server again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partitioned = false
}

// Expire closes the session on the server, the way a second client that
// attaches to the session with its id and password and then closes it
// does: the server deletes the session's ephemeral nodes at once, fires
// their watches, and drops the session's connection; the client learns
// that its session expired when it reconnects. The session must have
// connected through this proxy. It goes straight to the server, so it
// works during a Partition too.
func (p *Proxy) Expire(t testing.TB, session int64) {
	t.Helper()
	p.mu.Lock()
	passwd, ok := p.passwords[session]
	p.mu.Unlock()
	if !ok {
		t.Fatalf("zktest: expire session %#x: it never connected through the proxy", session)
	}
	if err := closeSession(p.target, session, passwd); err != nil {
		t.Fatalf("zktest: expire session %#x: %v", session, err)
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.partitioned || p.closed {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.forward(c)
	}
}

// forward relays one client connection until either side closes.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	defer p.drop(client)
	server, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.drop(server)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(server, client)
		server.Close()
	}()
	if err := p.relayConnectResponse(client, server); err == nil {
		_, _ = io.Copy(client, server)
	}
	client.Close()
	server.Close()
	<-done
}

// relayConnectResponse passes the server's first frame to the client,
// remembering the session's password.
func (p *Proxy) relayConnectResponse(client, server net.Conn) error {
	frame, err := readFrame(server)
	if err != nil {
		return err
	}
	if id, passwd, ok := parseConnectResponse(frame[4:]); ok && id != 0 {
		p.mu.Lock()
		p.passwords[id] = passwd
		p.mu.Unlock()
	}
	_, err = client.Write(frame)
	return err
}

// track registers c so Partition and close can cut it; false once the
// proxy is partitioned or closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.partitioned || p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// readFrame reads one length-prefixed ZooKeeper frame, prefix included.
func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", size)
	}
	frame := make([]byte, 4+size)
	copy(frame, n[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// parseConnectResponse reads ZooKeeper's ConnectResponse: protocol version
// (int32), timeout (int32), session id (int64), password (int32 length and
// bytes), then an optional read-only flag.
func parseConnectResponse(b []byte) (session int64, passwd []byte, ok bool) {
	if len(b) < 20 {
		return 0, nil, false
	}
	session = int64(binary.BigEndian.Uint64(b[8:16]))
	n := int(int32(binary.BigEndian.Uint32(b[16:20])))
	if n < 0 || len(b) < 20+n {
		return 0, nil, false
	}
	return session, append([]byte(nil), b[20:20+n]...), true
}

// closeSession attaches to the session from a new connection and closes it.
func closeSession(addr string, session int64, passwd []byte) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	// ConnectRequest: protocol version, last zxid seen, timeout, session
	// id, password.
	req := binary.BigEndian.AppendUint32(nil, 0)
	req = binary.BigEndian.AppendUint64(req, 0)
	req = binary.BigEndian.AppendUint32(req, 10000)
	req = binary.BigEndian.AppendUint64(req, uint64(session))
	req = binary.BigEndian.AppendUint32(req, uint32(len(passwd)))
	req = append(req, passwd...)
	if err := writeFrame(c, req); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	frame, err := readFrame(c)
	if err != nil {
		return fmt.Errorf("connect response: %w", err)
	}
	got, _, ok := parseConnectResponse(frame[4:])
	switch {
	case !ok:
		return errors.New("malformed connect response")
	case got == 0:
		return nil // already expired
	case got != session:
		return fmt.Errorf("server attached session %#x instead", got)
	}
	// closeSession: request header xid 1, opcode -11, no body.
	var opClose int32 = -11
	closeReq := binary.BigEndian.AppendUint32(nil, 1)
	closeReq = binary.BigEndian.AppendUint32(closeReq, uint32(opClose))
	if err := writeFrame(c, closeReq); err != nil {
		return fmt.Errorf("close session: %w", err)
	}
	// The reply header: xid, zxid, error code.
	for {
		frame, err := readFrame(c)
		if err != nil {
			return fmt.Errorf("close session reply: %w", err)
		}
		if len(frame) >= 20 && int32(binary.BigEndian.Uint32(frame[4:8])) == 1 {
			if code := int32(binary.BigEndian.Uint32(frame[16:20])); code != 0 {
				return fmt.Errorf("close session: server error %d", code)
			}
			return nil
		}
	}
}

func writeFrame(w io.Writer, body []byte) error {
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}
