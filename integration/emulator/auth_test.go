package emulator

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

func authMaster(t *testing.T) *stubMaster {
	return startStubMaster(t, func(c *MasterConfig) {
		c.Credentials = map[string]string{"healer": "s3cret", "other": "pw"}
		c.AuthenticateFrameworks = true
		c.AuthenticateHTTPReadwrite = true
	})
}

func newAuthSchedClient(t *testing.T, url, user, pass string) *schedClient {
	cli := httpcli.New(
		httpcli.Endpoint(url+"/api/v1/scheduler"),
		httpcli.Codec(protobufCodec),
		httpcli.Do(httpcli.With(httpcli.Timeout(10*time.Second), httpcli.BasicAuth(user, pass))),
	)
	return &schedClient{t: t, caller: httpsched.NewCaller(cli, httpsched.EndpointCandidates(func() string { return "" }))}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

const subscribeBody = `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"fw"%s}}}`

func TestAuthenticationFailures(t *testing.T) {
	m := authMaster(t)
	for _, tc := range []struct {
		name, path, realm, auth string
	}{
		{"scheduler without credentials", "/api/v1/scheduler", "mesos-master-scheduler", ""},
		{"scheduler with a wrong secret", "/api/v1/scheduler", "mesos-master-scheduler", basic("healer", "wrong")},
		{"scheduler with an unknown principal", "/master/api/v1/scheduler", "mesos-master-scheduler", basic("nobody", "s3cret")},
		{"scheduler with a ':' in the secret", "/api/v1/scheduler", "mesos-master-scheduler", basic("healer", "s3cret:x")},
		{"scheduler with no ':'", "/api/v1/scheduler", "mesos-master-scheduler",
			"Basic " + base64.StdEncoding.EncodeToString([]byte("healer"))},
		{"scheduler with a bad scheme", "/api/v1/scheduler", "mesos-master-scheduler", "Bearer x"},
		{"scheduler with bad base64", "/api/v1/scheduler", "mesos-master-scheduler", "Basic %%%"},
		{"operator without credentials", "/api/v1", "mesos-master-readwrite", ""},
		{"operator with a wrong secret", "/master/api/v1", "mesos-master-readwrite", basic("healer", "nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			code, hdr, body := postRaw(t, m.url+tc.path, `{"type":"GET_HEALTH"}`, h)
			if code != http.StatusUnauthorized || body != "401 Unauthorized." ||
				hdr.Get("WWW-Authenticate") != `Basic realm="`+tc.realm+`"` {
				t.Errorf("got %d %q WWW-Authenticate %q; want 401 with realm %s", code, body, hdr.Get("WWW-Authenticate"), tc.realm)
			}
		})
	}
	// Authentication precedes every other check, even the method check.
	req, _ := http.NewRequest(http.MethodGet, m.url+"/api/v1/scheduler", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without credentials = %d; want 401", resp.StatusCode)
	}
	// Valid credentials reach the operator API.
	if code, _, body := postRaw(t, m.url+"/api/v1", `{"type":"GET_HEALTH"}`, map[string]string{"Authorization": basic("other", "pw")}); code != http.StatusOK {
		t.Errorf("authenticated GET_HEALTH = %d %s", code, body)
	}
}

func TestAuthenticationPrincipals(t *testing.T) {
	m := authMaster(t)
	auth := map[string]string{"Authorization": basic("healer", "s3cret")}

	// A declared principal different from the authenticated one: 400.
	code, _, body := postRaw(t, m.url+"/api/v1/scheduler", strings.Replace(subscribeBody, "%s", `,"principal":"other"`, 1), auth)
	want := "Failed to validate scheduler::Call: Authenticated principal 'healer' does not match principal 'other' set in `FrameworkInfo`"
	if code != http.StatusBadRequest || body != want {
		t.Errorf("mismatched principal: %d %q; want 400 %q", code, body, want)
	}

	// mesos-go with BasicAuth subscribes; the master fills the principal in.
	c := newAuthSchedClient(t, m.url, "healer", "s3cret")
	fi := frameworkInfo("auth")
	fi.FailoverTimeout = proto.Float64(3600)
	c.subscribe(fi)
	m.mu.Lock()
	principal := principalOf(&m.frameworks[c.fid].info)
	m.mu.Unlock()
	if principal != "healer" {
		t.Errorf("FrameworkInfo.principal = %q; want the authenticated healer", principal)
	}
	c.mustCall(calls.Revive())

	// Another principal's valid credentials cannot make calls for it.
	code, _, body = postRaw(t, m.url+"/api/v1/scheduler",
		`{"type":"REVIVE","framework_id":{"value":"`+c.fid+`"}}`, map[string]string{"Authorization": basic("other", "pw")})
	want = "Authenticated principal 'other' does not match principal 'healer' set in `FrameworkInfo`"
	if code != http.StatusBadRequest || body != want {
		t.Errorf("call as another principal: %d %q; want 400 %q", code, body, want)
	}

	// Re-subscribing with another principal is refused in the stream.
	fi.ID = &mesos.FrameworkID{Value: c.fid}
	other := newAuthSchedClient(t, m.url, "other", "pw")
	fi.Principal = proto.String("other")
	resp, err := other.caller.Call(context.Background(), calls.Subscribe(&fi).With(calls.SubscribeTo(c.fid)))
	if err != nil {
		t.Fatalf("re-subscribe: %v", err)
	}
	defer resp.Close()
	var ev scheduler.Event
	if err := resp.Decode(&ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != scheduler.Event_ERROR || ev.Error.Message != "Changing framework's principal is not allowed." {
		t.Errorf("re-subscribe with another principal: %v", ev)
	}

	// Wrong secret through mesos-go: a 401 error.
	bad := newAuthSchedClient(t, m.url, "healer", "wrong")
	_, err = bad.caller.Call(context.Background(), calls.Subscribe(&mesos.FrameworkInfo{User: "root", Name: "x"}))
	if !apierrors.CodeNotAuthenticated.Matches(err) {
		t.Errorf("subscribe with a wrong secret: %v; want a 401 apierrors.Error", err)
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "creds.json")
	os.WriteFile(good, []byte(`{"credentials":[{"principal":"p","secret":"s"},{"principal":"q","secret":"t"}]}`), 0o600)
	creds, err := LoadCredentials("file://" + good)
	if err != nil || len(creds) != 2 || creds["p"] != "s" || creds["q"] != "t" {
		t.Errorf("LoadCredentials = %v, %v", creds, err)
	}
	for name, content := range map[string]string{
		"empty.json":    `{"credentials":[]}`,
		"nosecret.json": `{"credentials":[{"principal":"p"}]}`,
		"bad.json":      `not json`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := LoadCredentials(p); err == nil {
			t.Errorf("LoadCredentials(%s) succeeded", name)
		}
	}
	if _, err := LoadCredentials(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadCredentials(missing) succeeded")
	}
}
