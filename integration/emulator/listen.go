package emulator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"syscall"
)

// listenStable listens on addr like net.Listen, except that port 0 takes a
// free port below the kernel's ephemeral range rather than one in it.
//
// Masters and agents restart on the address they first had, as the real
// processes do (their --port is fixed). A port handed out by the kernel for
// port 0 comes from the ephemeral range, and once its listener is closed the
// kernel may give it to any outgoing connection on the machine as its local
// port, which then keeps the restart from binding it (EADDRINUSE for as long
// as that connection lives: seen when several test packages run at once).
// Nothing is given a port below the range unless it asks for it by number.
func listenStable(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return net.Listen("tcp", addr)
	}
	low := ephemeralLow()
	const first = 10000 // above the well-known and most registered services
	if low-first < 1000 {
		return net.Listen("tcp", addr)
	}
	for range 64 {
		p := first + rand.IntN(low-first)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen below the ephemeral ports: %w", err)
		}
	}
	return net.Listen("tcp", addr)
}

// ephemeralLow is the first port of Linux's ephemeral range (32768 by
// default and where the file cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > 0 {
			return lo
		}
	}
	return 32768
}
