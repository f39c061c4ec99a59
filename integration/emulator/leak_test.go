package emulator

import "go.uber.org/goleak"

// goroutineLeaks reports goroutines still running after the tests (TestMain
// runs it once they all passed). It tolerates idle keep-alive connections of
// HTTP clients (net/http's and mesos-go's), which belong to their
// transports, not to the emulator.
func goroutineLeaks() error {
	return goleak.Find(
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}
