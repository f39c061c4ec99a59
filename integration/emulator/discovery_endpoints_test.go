package emulator

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func getNoRedirect(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := noRedirectClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// /redirect and /master/redirect send operators and tools to the leading
// master's root (Master::Http::redirect): a standby to the leader, the
// leader to itself; without a leader 503; below them 404.
func TestRedirectEndpoint(t *testing.T) {
	m := startStubMaster(t, func(c *MasterConfig) {
		c.IP, c.Hostname, c.Port = "127.0.0.1", "127.0.0.1", 5050
	})
	for _, path := range []string{"/redirect", "/master/redirect"} {
		code, h, body := getNoRedirect(t, m.url+path)
		if code != http.StatusTemporaryRedirect || h.Get("Location") != "//127.0.0.1:5050" || body != "" || h.Get("Content-Type") != "" {
			t.Errorf("leader GET %s: %d Location %q Content-Type %q body %q; want 307 to //127.0.0.1:5050, no body",
				path, code, h.Get("Location"), h.Get("Content-Type"), body)
		}
	}
	m.Follow("leader.example:5050")
	code, h, _ := getNoRedirect(t, m.url+"/master/redirect")
	if code != http.StatusTemporaryRedirect || h.Get("Location") != "//leader.example:5050" {
		t.Errorf("standby: %d Location %q; want 307 to //leader.example:5050", code, h.Get("Location"))
	}
	code, _, _ = getNoRedirect(t, m.url+"/redirect/api/v1")
	if code != http.StatusNotFound {
		t.Errorf("below /redirect: %d; want 404", code)
	}

	m.Follow("")
	code, _, body := getNoRedirect(t, m.url+"/redirect")
	if code != http.StatusServiceUnavailable || body != "No leader elected" {
		t.Errorf("no leader: %d %q; want 503 No leader elected", code, body)
	}
}

// In a cluster, the standbys' /redirect names the elected master.
func TestRedirectEndpointInCluster(t *testing.T) {
	cl := startCluster(t, fastCluster(0))
	leader := cl.LeaderURL()
	code, h, _ := getNoRedirect(t, leader+"/redirect")
	if want := "//" + strings.TrimPrefix(leader, "http://"); code != http.StatusTemporaryRedirect || h.Get("Location") != want {
		t.Errorf("leader /redirect: %d %q; want 307 to %s", code, h.Get("Location"), want)
	}
}

// /health and /master/health answer 200 with an empty body on any master,
// leading, standing by or knowing no leader.
func TestHealthEndpoint(t *testing.T) {
	m := startStubMaster(t)
	check := func(state string) {
		t.Helper()
		for _, path := range []string{"/health", "/master/health"} {
			code, _, body := getNoRedirect(t, m.url+path)
			if code != http.StatusOK || body != "" {
				t.Errorf("%s GET %s: %d %q; want 200 and no body", state, path, code, body)
			}
		}
	}
	check("leader")
	m.Follow("leader.example:5050")
	check("standby")
	m.Follow("")
	check("no leader")
}
