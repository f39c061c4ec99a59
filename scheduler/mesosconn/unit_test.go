package mesosconn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no master", func(c *Config) { c.Master = " " }, "master: empty"},
		{"bad master", func(c *Config) { c.Master = "m1:5050,m2" }, `"m2" is not host:port`},
		{"bad port", func(c *Config) { c.Master = "m1:0" }, "invalid port"},
		{"zk without path", func(c *Config) { c.Master = "zk://zk1:2181" }, "path"},
		{"no failover timeout", func(c *Config) { c.Framework.FailoverTimeout = nil }, "failover_timeout must be positive"},
		{"zero failover timeout", func(c *Config) { c.Framework.FailoverTimeout = proto.Float64(0) }, "failover_timeout must be positive"},
		{"id mismatch", func(c *Config) {
			c.FrameworkID = "a"
			c.Framework.ID = &mesos.FrameworkID{Value: "b"}
		}, `FrameworkInfo.id "b" differs`},
		{"principal mismatch", func(c *Config) {
			c.Principal = "healer"
			c.Framework.Principal = proto.String("other")
		}, "differs from Principal"},
		{"colon in secret", func(c *Config) { c.Principal, c.Secret = "healer", "a:b" }, "contains ':'"},
		{"secret alone", func(c *Config) { c.Secret = "s" }, "secret without a principal"},
		{"negative buffer", func(c *Config) { c.EventBuffer = -1 }, "EventBuffer must not be negative"},
		{"backoff order", func(c *Config) { c.BackoffMin, c.BackoffMax = time.Minute, time.Second }, "exceeds BackoffMax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "127.0.0.1:5050")
			tc.mutate(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Master: "master@m1:5050, m2:5050", Framework: testFramework(), Principal: "healer", Secret: "s"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := c.cfg
	if got.EventBuffer != DefaultEventBuffer || got.HeartbeatMisses != DefaultHeartbeatMisses || got.BackoffMin != DefaultBackoffMin ||
		got.BackoffMax != DefaultBackoffMax || got.CallTimeout != DefaultCallTimeout || got.MaxEventBytes != DefaultMaxEventBytes ||
		got.ZKSessionTimeout != DefaultZKSessionTimeout || got.Logger == nil {
		t.Errorf("defaults not applied: %+v", got)
	}
	if strings.Join(c.src.static, ",") != "m1:5050,m2:5050" {
		t.Errorf("masters = %v", c.src.static)
	}
	if got.Framework.GetPrincipal() != "healer" || cfg.Framework.Principal != nil {
		t.Errorf("principal %q set on the registered FrameworkInfo (and not on the caller's)", got.Framework.GetPrincipal())
	}
}

// The backoff doubles from BackoffMin, is capped at BackoffMax, and is
// jittered within the upper half of each step.
func TestBackoff(t *testing.T) {
	c := &Conn{cfg: Config{BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second}}
	for failures, step := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 64: time.Second} {
		lo, hi := step, time.Duration(0)
		for range 200 {
			d := c.backoff(failures)
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < step/2 || hi > step || hi-lo < step/4 {
			t.Errorf("backoff after %d failures in [%v, %v]; want spread over [%v, %v]", failures, lo, hi, step/2, step)
		}
	}
}

// records frames payloads with mesos-go's RecordIO writer.
func records(payloads ...string) []byte {
	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	for _, p := range payloads {
		if err := w.WriteFrame([]byte(p)); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

func TestFrameReader(t *testing.T) {
	big := strings.Repeat("x", 5<<20)
	for _, tc := range []struct {
		name  string
		in    []byte
		max   int
		want  []string
		err   error  // errors.Is
		inErr string // or a message part
	}{
		{"frames", records("a", "bc", big, "d"), 8 << 20, []string{"a", "bc", big, "d"}, io.EOF, ""},
		{"zero-length skipped", []byte("0\n1\na0\n"), 10, []string{"a"}, io.EOF, ""},
		{"over the limit", records("abc", "abcdef"), 5, []string{"abc"}, errFrameTooLarge, ""},
		{"cut in the payload", []byte("5\nab"), 10, nil, io.ErrUnexpectedEOF, ""},
		{"cut in the length", []byte("1\na12"), 10, []string{"a"}, io.ErrUnexpectedEOF, ""},
		{"not a number", []byte("1x\na"), 10, nil, nil, "unexpected byte"},
		{"empty length", []byte("\nabc"), 10, nil, nil, "empty"},
		{"too long", []byte("123456789012345678901\n"), 10, nil, nil, "over 64 bits"},
		{"overflow", []byte("99999999999999999999\n"), 10, nil, nil, "over 64 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(tc.in), tc.max)
			var got []string
			var err error
			for {
				var f []byte
				if f, err = fr.ReadFrame(); err != nil {
					break
				}
				got = append(got, string(f))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("frames %d, want %d", len(got), len(tc.want))
			}
			if tc.err != nil && !errors.Is(err, tc.err) || tc.inErr != "" && !strings.Contains(err.Error(), tc.inErr) {
				t.Errorf("error %v; want %v %q", err, tc.err, tc.inErr)
			}
		})
	}
}

// FuzzFrameReader feeds arbitrary bytes to the RecordIO reader: it never
// panics, never returns a frame over its limit or a zero-length one, and
// reads back exactly what mesos-go's writer framed.
func FuzzFrameReader(f *testing.F) {
	f.Add(records("hello", "world"), "ab")
	f.Add([]byte("3\nabc0\n"), "")
	f.Add([]byte("18446744073709551616\n"), "x")
	f.Fuzz(func(t *testing.T, raw []byte, payload string) {
		const limit = 1 << 10
		fr := newFrameReader(bytes.NewReader(raw), limit)
		for range 1000 {
			frame, err := fr.ReadFrame()
			if err != nil {
				break
			}
			if len(frame) == 0 || len(frame) > limit {
				t.Fatalf("frame of %d bytes (limit %d)", len(frame), limit)
			}
		}
		if payload == "" || len(payload) > limit {
			return
		}
		fr = newFrameReader(bytes.NewReader(records(payload, payload)), limit)
		for range 2 {
			frame, err := fr.ReadFrame()
			if err != nil || string(frame) != payload {
				t.Fatalf("read back %q, %v; want %q", frame, err, payload)
			}
		}
		if _, err := fr.ReadFrame(); err != io.EOF {
			t.Fatalf("after the last frame: %v; want io.EOF", err)
		}
	})
}

// BenchmarkDecodeOffers measures reading an event stream: RecordIO framing
// and protobuf decoding of OFFERS events of 1,000 offers (about 600 KB
// each), as a 1,000-agent cluster sends them.
func BenchmarkDecodeOffers(b *testing.B) {
	ev := scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{}}
	for i := range 1000 {
		id := fmt.Sprintf("agent-%d", i)
		ev.Offers.Offers = append(ev.Offers.Offers, mesos.Offer{
			ID: mesos.OfferID{Value: "o-" + id}, FrameworkID: mesos.FrameworkID{Value: "f"}, AgentID: mesos.AgentID{Value: id},
			Hostname:   id + ".example",
			Resources:  []mesos.Resource{{Name: "cpus", Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: 32}, Role: proto.String("*")}},
			Attributes: []mesos.Attribute{bigAttribute(512)},
		})
	}
	payload, err := proto.Marshal(&ev)
	if err != nil {
		b.Fatal(err)
	}
	const events = 16
	var stream []byte
	for range events {
		stream = append(stream, records(string(payload))...)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		fr := newFrameReader(bytes.NewReader(stream), DefaultMaxEventBytes)
		dec := codec.NewDecoder(func() framing.Reader { return fr })
		for range events {
			var got scheduler.Event
			if err := dec.Decode(&got); err != nil || len(got.Offers.Offers) != 1000 {
				b.Fatalf("decode: %v", err)
			}
		}
	}
}
