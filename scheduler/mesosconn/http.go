package mesosconn

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/client"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
)

// codec is protobuf: mesos-go's JSON decoder fails on enum values newer than
// its 1.10 protos, e.g. a 1.12 master's QUOTA_V2 capability in SUBSCRIBED
// (shared/mesos-protocol.md 8.4).
var codec = codecs.ByMediaType[codecs.MediaTypeProtobuf]

// API paths on a master.
const (
	schedulerPath = "/api/v1/scheduler"
	operatorPath  = "/api/v1"
)

// maxErrorBody bounds what is kept of an error response's message.
const maxErrorBody = 4 << 10

// newHTTP builds the transport and the two mesos-go clients (scheduler and
// operator API) sharing it. Requests go to no fixed endpoint: each names its
// master with at().
func newHTTP(cfg Config) (sched, op *httpcli.Client, transport *http.Transport) {
	opts := []httpcli.ConfigOpt{
		// ResponseHeaderTimeout, dial and TLS handshake: a stream's body
		// is not bounded (the heartbeat watchdog watches it).
		httpcli.Timeout(cfg.CallTimeout),
		httpcli.Transport(func(t *http.Transport) {
			// Only loopback or the masters are ever dialled; a proxy
			// buffering the event stream would break it.
			t.Proxy = nil
			t.MaxIdleConnsPerHost = 2
			transport = t
		}),
	}
	if cfg.Principal != "" {
		opts = append(opts, httpcli.BasicAuth(cfg.Principal, cfg.Secret))
	}
	do := httpcli.With(opts...)
	h := &responseHandler{maxEvent: cfg.MaxEventBytes}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "healer-scheduler"
	}
	newClient := func(path string) *httpcli.Client {
		return httpcli.New(
			httpcli.Endpoint("http://unset"+path),
			httpcli.DefaultHeader("User-Agent", ua),
			httpcli.Codec(codec),
			httpcli.Do(do),
			httpcli.HandleResponse(h.handle),
		)
	}
	return newClient(schedulerPath), newClient(operatorPath), transport
}

// at is a request option sending the request to master (host:port) at path.
func at(master, path string) httpcli.RequestOpt {
	return func(r *http.Request) {
		r.URL = &url.URL{Scheme: "http", Host: master, Path: path}
		r.Host = "" // the Host header follows the URL
	}
}

// responseHandler turns HTTP responses into mesos-go responses or errors:
// 307 into *redirectError, other statuses ≥ 300 into *Error, 202 and an
// empty 200 (UPDATE_FRAMEWORK, operator mutations: no Content-Type, which
// mesos-go rejects, pitfall 3) into success without a body, a 200 with no
// Content-Length (a stream) into a RecordIO decoder, any other 200 into a
// single message.
type responseHandler struct {
	maxEvent int
}

func (h *responseHandler) handle(res *http.Response, rc client.ResponseClass, err error) (mesos.Response, error) {
	if err != nil {
		if res != nil && res.Body != nil {
			res.Body.Close()
		}
		return nil, err
	}
	switch {
	case res.StatusCode == http.StatusTemporaryRedirect:
		drain(res)
		return nil, &redirectError{location: res.Header.Get("Location")}
	case res.StatusCode >= 300:
		body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		drain(res)
		if res.StatusCode == http.StatusUnauthorized {
			if realm := res.Header.Get("WWW-Authenticate"); realm != "" {
				body = fmt.Appendf(nil, "%s (%s)", strings.TrimSpace(string(body)), realm)
			}
		}
		return nil, &Error{Code: res.StatusCode, Body: strings.TrimSpace(string(body))}
	case res.StatusCode == http.StatusAccepted || res.StatusCode == http.StatusNoContent:
		drain(res)
		return nil, nil
	case res.StatusCode != http.StatusOK:
		drain(res)
		return nil, httpcli.ProtocolError(fmt.Sprintf("unexpected HTTP status %d", res.StatusCode))
	}
	ct := res.Header.Get("Content-Type")
	if ct == "" && (res.ContentLength == 0 || rc == client.ResponseClassNoData) {
		drain(res)
		return nil, nil
	}
	if ct != codec.Type.ContentType() {
		drain(res)
		return nil, httpcli.ProtocolError(fmt.Sprintf("unexpected Content-Type %q (want %s)", ct, codec.Type.ContentType()))
	}
	// A stream has no Content-Length; Go's transparent gzip decoding
	// removes it from single messages too, which Uncompressed tells apart
	// (streams are never compressed).
	var src encoding.Source
	if rc == client.ResponseClassSingleton || res.ContentLength >= 0 || res.Uncompressed {
		src = encoding.SourceReader(res.Body)
	} else {
		fr := newFrameReader(res.Body, h.maxEvent)
		src = func() framing.Reader { return fr }
	}
	return &httpcli.Response{Closer: res.Body, Decoder: codec.NewDecoder(src), Header: res.Header}, nil
}

// drain reads what is left of a body (so its connection can be reused) and
// closes it.
func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxErrorBody))
	res.Body.Close()
}

// redirectTarget is the host:port a redirect's Location names: Mesos sends a
// scheme-less //host:port/master/api/v1/... (shared/mesos-protocol.md 0.5).
func redirectTarget(location string) (string, error) {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("redirect to %q: no host:port in Location", location)
	}
	return u.Host, nil
}
