package emulator

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gogo/protobuf/proto"

	"github.com/healer-mesos/healer/integration/emulator/mesosjson"
)

// Media types Mesos accepts and produces on its v1 APIs. Content-Type is
// compared as an exact string, as libprocess does.
const (
	mediaJSON     = "application/json"
	mediaProtobuf = "application/x-protobuf"
)

// maxRequestBody bounds what the emulator reads from one request.
const maxRequestBody = 16 << 20

// gzipThreshold is libprocess' size from which non-streaming bodies are
// compressed when the client accepts gzip.
const gzipThreshold = 1024

// readCall applies the generic request checks every master and agent v1
// endpoint makes (mesos-protocol.md 0.2 steps 4–7), in Mesos' order, and
// decodes the body into call. The error prefixes ("Failed to parse body into
// Call protobuf", ...) are Mesos'. On failure it has written the response and
// returns ok=false.
func readCall(w http.ResponseWriter, r *http.Request, call proto.Message) (contentType string, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed,
			fmt.Sprintf("Expecting one of { 'POST' }, but received '%s'", r.Method))
		return "", false
	}
	ct := lastHeader(r.Header, "Content-Type")
	if ct == "" {
		writeError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return "", false
	}
	if ct != mediaJSON && ct != mediaProtobuf {
		writeError(w, http.StatusUnsupportedMediaType,
			"Expecting 'Content-Type' of application/json or application/x-protobuf")
		return "", false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Failed to read body: "+err.Error())
		return "", false
	}
	if err := decodeMessage(ct, body, call); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return "", false
	}
	return ct, true
}

// decodeMessage decodes a request body with Mesos' error messages.
func decodeMessage(contentType string, body []byte, m proto.Message) error {
	if contentType == mediaProtobuf {
		if err := proto.Unmarshal(body, m); err != nil {
			return fmt.Errorf("Failed to parse body into %s protobuf", messageKind(m))
		}
		return nil
	}
	if err := mesosjson.Unmarshal(body, m); err != nil {
		return err // mesosjson already words it as Mesos does
	}
	return nil
}

// messageKind names the message in errors the way Mesos does ("Call").
func messageKind(m proto.Message) string {
	name := proto.MessageName(m)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// encodeMessage encodes a message in the negotiated media type.
func encodeMessage(contentType string, m proto.Message) ([]byte, error) {
	if contentType == mediaProtobuf {
		return proto.Marshal(m)
	}
	return mesosjson.Marshal(m)
}

// negotiateAccept picks the response media type from the request's Accept
// header: JSON if acceptable, else protobuf, else "" (the caller answers
// 406). A missing Accept header accepts everything; wildcards and q=0 are
// honoured; only the last Accept header counts, as in libprocess.
func negotiateAccept(r *http.Request) string {
	accept := lastHeader(r.Header, "Accept")
	if strings.TrimSpace(accept) == "" {
		return mediaJSON
	}
	if accepts(accept, mediaJSON) {
		return mediaJSON
	}
	if accepts(accept, mediaProtobuf) {
		return mediaProtobuf
	}
	return ""
}

// writeNotAcceptable answers 406 with Mesos' message.
func writeNotAcceptable(w http.ResponseWriter) {
	writeError(w, http.StatusNotAcceptable,
		"Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'")
}

// accepts reports whether an Accept header value allows mediaType.
func accepts(header, mediaType string) bool {
	typ, sub, _ := strings.Cut(mediaType, "/")
	best := -1.0
	for _, part := range strings.Split(header, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		t, s, _ := strings.Cut(mt, "/")
		if (t == "*" && s == "*") || (t == typ && (s == "*" || s == sub)) {
			// The most specific match decides; a later equally specific one
			// does not override an exact one.
			if t == typ && s == sub {
				return q > 0
			}
			if q > best {
				best = q
			}
		}
	}
	return best > 0
}

// lastHeader returns the last value of a repeated header: libprocess keeps
// only the last one (mesos-go sends Accept twice).
func lastHeader(h http.Header, key string) string {
	vs := h.Values(key)
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// writeError writes a libprocess-style error: a plain-text body.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(code)
	io.WriteString(w, msg)
}

// writeEmpty writes an empty response (202 for accepted asynchronous calls,
// 200 for mutations): Content-Length 0 and no Content-Type.
func writeEmpty(w http.ResponseWriter, code int) {
	w.Header().Del("Content-Type")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(code)
}

// writeMessage writes a 200 response holding one message in the negotiated
// media type, gzip-compressed from 1 KiB when the client accepts gzip.
func writeMessage(w http.ResponseWriter, r *http.Request, contentType string, m proto.Message) {
	body, err := encodeMessage(contentType, m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Failed to serialize response: "+err.Error())
		return
	}
	if len(body) >= gzipThreshold && acceptsGzip(r) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(body)
		zw.Close()
		body = buf.Bytes()
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// acceptsGzip reports whether Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// writeRedirect answers a call to a non-leading master: 307 with a
// protocol-relative Location under the /master prefix, no body and no
// Content-Type (mesos-protocol.md 0.5).
func writeRedirect(w http.ResponseWriter, leaderHostPort, path string) {
	w.Header().Del("Content-Type")
	w.Header().Set("Location", "//"+leaderHostPort+"/master"+strings.TrimPrefix(path, "/master"))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusTemporaryRedirect)
}

// eventStream writes RecordIO-framed events on a chunked HTTP response, as
// Mesos streams scheduler, executor and operator events. It is safe for
// concurrent use; Send after the client has gone returns an error.
type eventStream struct {
	mu          sync.Mutex
	w           io.Writer
	flusher     http.Flusher
	contentType string
	closed      bool
	done        chan struct{}
}

// startStream sends the 200 headers of a stream at once (Mesos returns them
// before any validation that depends on master state). extra headers (e.g.
// Mesos-Stream-Id) are set first. The handler must then block until
// stream.Done() or the request context ends, and return.
func startStream(w http.ResponseWriter, contentType string, extra http.Header) *eventStream {
	for k, vs := range extra {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Del("Content-Length") // chunked: mesos-go reads RecordIO only without it
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	if f != nil {
		f.Flush()
	}
	return &eventStream{w: w, flusher: f, contentType: contentType, done: make(chan struct{})}
}

// Send writes one event as a RecordIO record and flushes it.
func (s *eventStream) Send(m proto.Message) error {
	payload, err := encodeMessage(s.contentType, m)
	if err != nil {
		return fmt.Errorf("emulator: encode event: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errStreamClosed
	}
	if _, err := fmt.Fprintf(s.w, "%d\n", len(payload)); err != nil {
		s.closeLocked()
		return fmt.Errorf("emulator: write event: %w", err)
	}
	if _, err := s.w.Write(payload); err != nil {
		s.closeLocked()
		return fmt.Errorf("emulator: write event: %w", err)
	}
	if s.flusher != nil {
		s.flusher.Flush()
	}
	return nil
}

// Close ends the stream normally (the handler returns, closing the chunked
// body); the client sees EOF.
func (s *eventStream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked()
}

func (s *eventStream) closeLocked() {
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// Done is closed when the stream has been closed.
func (s *eventStream) Done() <-chan struct{} { return s.done }

var errStreamClosed = fmt.Errorf("emulator: stream closed")
