package runtime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/store"
)

// manyAgents makes the fake master list agents b1..bn on hosts host-1..n.
func manyAgents(n int) func(*master.Call) (*master.Response, error) {
	return func(c *master.Call) (*master.Response, error) {
		if c.Type != master.Call_GET_AGENTS {
			return &master.Response{}, nil
		}
		g := &master.Response_GetAgents{}
		for i := 1; i <= n; i++ {
			pid := fmt.Sprintf("slave(1)@10.0.%d.%d:5051", i/250, i%250+1)
			g.Agents = append(g.Agents, master.Response_GetAgents_Agent{
				AgentInfo: mesos.AgentInfo{ID: &mesos.AgentID{Value: "b" + strconv.Itoa(i)}, Hostname: "host-" + strconv.Itoa(i)},
				PID:       &pid, Active: true})
		}
		return &master.Response{Type: master.Response_GET_AGENTS, GetAgents: g}, nil
	}
}

// load sends n POSTs of bodies (round robin) to addr from conc keep-alive
// connections, one request in flight on each (like wrk without
// pipelining), and returns requests per second; every answer must have
// status want. The requests are written and the answers read with a
// minimal HTTP/1.1 client, so that the load generator, which shares the
// machine's two cores with the server, costs as little as it can.
func load(b *testing.B, addr, path, token string, bodies [][]byte, n, conc, want int) float64 {
	b.Helper()
	reqs := make([][]byte, len(bodies))
	for i, body := range bodies {
		reqs[i] = []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"+
			"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", path, addr, token, len(body), body))
	}
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		bad   atomic.Int64
		first atomic.Value
	)
	fail := func(err string) {
		bad.Add(1)
		first.CompareAndSwap(nil, err)
	}
	wantStatus := []byte(" " + strconv.Itoa(want) + " ")
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				fail(err.Error())
				return
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 16<<10)
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if _, err := conn.Write(reqs[i%int64(len(reqs))]); err != nil {
					fail(err.Error())
					return
				}
				status, length, err := readResponse(br)
				if err != nil {
					fail(err.Error())
					return
				}
				if !bytes.Contains(status, wantStatus) {
					fail(string(status))
				}
				if _, err := br.Discard(length); err != nil {
					fail(err.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if bad.Load() > 0 {
		b.Fatalf("%d of %d requests failed, first: %v", bad.Load(), n, first.Load())
	}
	return float64(n) / took.Seconds()
}

// readResponse reads a response's status line and headers and returns the
// status line and the body's Content-Length.
func readResponse(br *bufio.Reader) (status []byte, length int, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, 0, err
	}
	status = append([]byte(nil), line...)
	length = -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, 0, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return nil, 0, err
			}
		}
	}
	if length < 0 {
		return nil, 0, fmt.Errorf("no Content-Length in a response to %q", status)
	}
	return status, length, nil
}

// BenchmarkIngest: POST /repair for agents that already have an open
// incident (deduplicated: attached, no ZooKeeper write, not audited), with
// an operator token, through the whole admin API (access control,
// decoding, metrics) and the leader's event loop, over loopback HTTP from
// a load generator in the same process; and, in the same run, a bare
// net/http handler that reads the body and answers a small JSON, driven the
// same way. Targets: at least 20,000 requests/s, and at least 0.4× the
// bare handler's rate (reported as healer/bare).
func BenchmarkIngest(b *testing.B) {
	const agents, conc = 200, 64
	h := newHarness(b, func(c *Config) {
		approvalPolicy(c)
		c.Policy.MaxUnhealthyMin = 10 * agents // no storm breaker: every agent has an incident
	})
	h.m.onOp = manyAgents(agents)
	ctx, cancel := context.WithCancel(context.Background())
	h.termCtx = cancel
	h.lead <- Leadership{Kind: Elected, Term: &Term{Ctx: ctx, Store: auditStore{fakeStore: h.st, mem: store.NewMemory()}}}
	h.waitFor("term running", func() bool { return h.rt.term() != nil })
	h.subscribe(1)
	h.known("b" + strconv.Itoa(agents))

	tokens := filepath.Join(b.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("olga operator "+opToken+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	tk, err := admin.LoadTokens(tokens, nil)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	healer := serveOn(b, admin.NewHandler(admin.Config{Backend: h.rt, Tokens: tk, Metrics: reg, APIMetrics: admin.NewMetrics(reg)}))
	bare := serveOn(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"attached":true}` + "\n"))
	}))

	bodies := make([][]byte, agents)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"hostname":"host-%d","problem":"hung","source":"nagios","message":"load 40"}`, i+1))
	}
	// Open every incident (each waits for approval), then measure.
	load(b, healer, "/repair", opToken, bodies, agents, 8, http.StatusAccepted)
	saves := h.st.Counters().Saves
	b.ResetTimer()
	n := b.N
	healerRate := load(b, healer, "/repair", opToken, bodies, n, conc, http.StatusOK)
	bareRate := load(b, bare, "/repair", opToken, bodies, n, conc, http.StatusOK)
	b.StopTimer()
	if got := h.st.Counters().Saves; got != saves {
		b.Fatalf("deduplicated signals wrote to the store: %d saves", got-saves)
	}
	b.ReportMetric(healerRate, "healer-req/s")
	b.ReportMetric(bareRate, "bare-req/s")
	b.ReportMetric(healerRate/bareRate, "healer/bare")
}

// serveOn serves h on a loopback port until the benchmark ends.
func serveOn(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	b.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return ln.Addr().String()
}
