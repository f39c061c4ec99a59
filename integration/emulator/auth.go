package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// HTTP authentication realms of the master's endpoints (src/master/constants.hpp).
const (
	realmScheduler = "mesos-master-scheduler"
	realmReadwrite = "mesos-master-readwrite"
)

// authenticate is libprocess' basic HTTP authenticator, which runs before
// any handler (mesos-protocol.md 0.2 step 0): when enabled, a request
// without valid Basic credentials gets 401 with a WWW-Authenticate challenge
// naming realm and the body "401 Unauthorized.". It returns the
// authenticated principal ("" when authentication is off) and whether the
// request may proceed; otherwise it has answered.
func (m *Master) authenticate(w http.ResponseWriter, r *http.Request, realm string, enabled bool) (string, bool) {
	if !enabled {
		return "", true
	}
	principal, ok := basicPrincipal(lastHeader(r.Header, "Authorization"), m.cfg.Credentials)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
		writeError(w, http.StatusUnauthorized, "401 Unauthorized.")
		return "", false
	}
	return principal, true
}

// basicPrincipal checks an Authorization header the way libprocess'
// BasicAuthenticatorProcess does: exactly "Basic <base64>", decoding to
// exactly two ':'-separated parts (so a secret containing ':' never
// matches) that name a known principal and its secret.
func basicPrincipal(header string, credentials map[string]string) (string, bool) {
	parts := strings.Split(header, " ")
	if len(parts) != 2 || parts[0] != "Basic" {
		return "", false
	}
	decoded, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	cred := strings.Split(string(decoded), ":")
	if len(cred) != 2 {
		return "", false
	}
	secret, known := credentials[cred[0]]
	if !known || secret != cred[1] {
		return "", false
	}
	return cred[0], true
}

// principalMismatch is Mesos' message for a request whose authenticated
// principal differs from FrameworkInfo.principal.
func principalMismatch(authenticated, declared string) string {
	return "Authenticated principal '" + authenticated + "' does not match principal '" + declared +
		"' set in `FrameworkInfo`"
}

// checkSubscribePrincipal applies the authentication rules of a scheduler
// SUBSCRIBE (Master::Http::scheduler, validation::scheduler::call::validate):
// a declared principal must be the authenticated one (else it returns the
// validation message), and a missing one is filled in.
func checkSubscribePrincipal(call *scheduler.Call, principal string) string {
	if principal == "" || call.Type != scheduler.Call_SUBSCRIBE {
		return ""
	}
	fi := call.Subscribe.FrameworkInfo
	if fi.Principal == nil {
		p := principal
		fi.Principal = &p
		return ""
	}
	if *fi.Principal != principal {
		return principalMismatch(principal, *fi.Principal)
	}
	return ""
}

// checkCallPrincipal applies 1.1 step 4.2 to a non-SUBSCRIBE call: once the
// framework is known, a request authenticated as another principal than
// the framework's gets 400. It reports whether the call may proceed;
// unknown frameworks are left to serveCall's "Framework cannot be found".
func (m *Master) checkCallPrincipal(w http.ResponseWriter, call *scheduler.Call, principal string) bool {
	if principal == "" {
		return true
	}
	m.mu.Lock()
	fw := m.frameworks[call.FrameworkID.Value]
	declared := ""
	if fw != nil {
		declared = principalOf(&fw.info)
	}
	m.mu.Unlock()
	if fw == nil || declared == principal {
		return true
	}
	writeError(w, http.StatusBadRequest, principalMismatch(principal, declared))
	return false
}

// LoadCredentials reads a Mesos --credentials file (a path, or a file://
// URL) in Mesos' JSON form {"credentials":[{"principal":"p","secret":"s"}]}
// and returns the secrets by principal.
func LoadCredentials(path string) (map[string]string, error) {
	path = strings.TrimPrefix(path, "file://")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("emulator: credentials: %w", err)
	}
	var file struct {
		Credentials []struct {
			Principal *string `json:"principal"`
			Secret    *string `json:"secret"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("emulator: credentials %s: %w", path, err)
	}
	out := make(map[string]string, len(file.Credentials))
	for i, c := range file.Credentials {
		if c.Principal == nil || c.Secret == nil {
			return nil, fmt.Errorf("emulator: credentials %s: entry %d: %w", path, i, errIncompleteCredential)
		}
		out[*c.Principal] = *c.Secret
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("emulator: credentials %s: %w", path, errNoCredentials)
	}
	return out, nil
}

var (
	errIncompleteCredential = errors.New("needs both principal and secret")
	errNoCredentials        = errors.New("no credentials")
)
