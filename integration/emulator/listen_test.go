package emulator

import (
	"net"
	"testing"
)

// A port-0 listener takes a port below the ephemeral range, where no
// outgoing connection can take it while its master or agent is down.
func TestListenStableAvoidsEphemeralPorts(t *testing.T) {
	low := ephemeralLow()
	for range 20 {
		l, err := listenStable("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p >= low || p < 10000 {
			t.Fatalf("port %d, want one in [10000, %d)", p, low)
		}
	}
	l, err := listenStable("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := listenStable(l.Addr().String()); err == nil {
		t.Fatal("a second listener on a bound port succeeded")
	}
}
