// Package client is a Go client of healer's admin API (what healerctl
// uses). It tries the instances it is given in turn until one answers,
// follows a standby's 307 to the leader itself (keeping the method, the
// body and the token, which Go's HTTP client would drop on another host),
// and returns the API's JSON errors as *Error.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxRedirects bounds the 307s followed for one request (a standby points
// at the leader; more than a few hops is a loop).
const maxRedirects = 3

// Client calls the admin API of one healer deployment.
type Client struct {
	// Addrs are the instances, tried in order: URLs, or host:port (http).
	Addrs []string
	// Token is sent as a bearer token when set.
	Token string
	// HTTP is the client used (a default with a 30 s timeout when nil).
	HTTP *http.Client
	// UserAgent is sent with every request.
	UserAgent string
}

// Error is an answer of the API that is not a success.
type Error struct {
	Status int
	Msg    string
	Detail string
	// URL is what was requested.
	URL string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, e.Msg)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ErrUnreachable wraps the failure to reach every instance.
var ErrUnreachable = errors.New("no healer instance answered")

// BaseURL turns an address into the URL requests are made against.
func BaseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("empty address")
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("address %q: want host:port or an http(s):// URL", addr)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// Do sends method path (with its query) to the first instance that
// answers, with body as JSON when not nil, and decodes a success into out
// when not nil. A 307 is followed to its Location.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var data []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		data = b
	} else if method == http.MethodPost {
		data = []byte("{}")
	}
	if len(c.Addrs) == 0 {
		return errors.New("no address: give --addr or HEALER_ADDR")
	}
	var errs []error
	for _, addr := range c.Addrs {
		base, err := BaseURL(addr)
		if err != nil {
			return err
		}
		err = c.do(ctx, method, base+path, data, out)
		var netErr *unreachable
		if !errors.As(err, &netErr) {
			return err
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

// unreachable is a transport failure: the next instance is tried.
type unreachable struct{ err error }

func (u *unreachable) Error() string { return u.err.Error() }
func (u *unreachable) Unwrap() error { return u.err }

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}

func (c *Client) do(ctx context.Context, method, target string, body []byte, out any) error {
	hc := *c.httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for hop := 0; ; hop++ {
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		if c.UserAgent != "" {
			req.Header.Set("User-Agent", c.UserAgent)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return &unreachable{fmt.Errorf("%s %s: %w", method, target, err)}
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return &unreachable{fmt.Errorf("%s %s: read the answer: %w", method, target, err)}
		}
		if resp.StatusCode == http.StatusTemporaryRedirect {
			loc, err := resp.Location()
			if err != nil || hop >= maxRedirects || (loc.Scheme != "http" && loc.Scheme != "https") {
				return &Error{Status: resp.StatusCode, Msg: "cannot follow the redirect to the leader",
					Detail: fmt.Sprintf("Location %q after %d hops", resp.Header.Get("Location"), hop+1), URL: target}
			}
			target = loc.String()
			continue
		}
		if resp.StatusCode >= 300 {
			var e struct {
				Error  string `json:"error"`
				Detail string `json:"detail"`
			}
			if json.Unmarshal(raw, &e) != nil || e.Error == "" {
				e.Error = strings.TrimSpace(string(raw))
				if len(e.Error) > 200 {
					e.Error = e.Error[:200]
				}
			}
			return &Error{Status: resp.StatusCode, Msg: e.Error, Detail: e.Detail, URL: target}
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fmt.Errorf("%s %s: decode the answer: %w", method, target, err)
			}
		}
		return nil
	}
}
