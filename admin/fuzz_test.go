package admin

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzDecodeRepair: any body either decodes into a request the API
// validates, or is refused with a 4xx; nothing panics.
func FuzzDecodeRepair(f *testing.F) {
	f.Add([]byte(`{"hostname":"h1","problem":"disk_full","source":"nagios","message":"/var 98%"}`))
	f.Add([]byte(`{"agent_id":"a1","problem":"p"}`))
	f.Add([]byte(`{"hostname":"*","problem":"p"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req RepairRequest
		if e := unmarshalStrict(body, &req, false); e != nil {
			if e.Status != http.StatusBadRequest {
				t.Fatalf("decode refused with %d", e.Status)
			}
			return
		}
		if e := req.validate(); e == nil && (req.Problem == "" || (req.AgentID == "") == (req.Hostname == "")) {
			t.Fatalf("validated a request without exactly one target and a problem: %+v", req)
		}
	})
}

// FuzzDecodeCommand: every operator command's body decodes into a command
// of that op, or is refused with 400.
func FuzzDecodeCommand(f *testing.F) {
	f.Add("approve", []byte(`{"incident":1,"attempt":7,"reason":"looked at it"}`))
	f.Add("cancel", []byte(`{"incident":3}`))
	f.Add("force", []byte(`{"problem":"hung","reason":"r"}`))
	f.Add("pause", []byte(`{"reason":"maintenance window"}`))
	f.Add("isolate", []byte(``))
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		c, e := decodeCommand(op, body)
		if e != nil {
			if e.Status != http.StatusBadRequest {
				t.Fatalf("refused with %d", e.Status)
			}
			return
		}
		if c.Op != op {
			t.Fatalf("decoded op %q from %q", c.Op, op)
		}
		if op == OpApprove && (c.Incident == 0 || c.Attempt == 0) {
			t.Fatalf("an approval without incident and attempt: %+v", c)
		}
		if op == OpPause && c.Reason == "" {
			t.Fatal("a pause without a reason")
		}
	})
}

// FuzzAlertmanager: a webhook body maps to signals, each firing one with a
// target and a problem, or is refused whole with a 4xx.
func FuzzAlertmanager(f *testing.F) {
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"instance":"h1:9100","alertname":"DiskFull"},"annotations":{"summary":"s"},"fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"resolved","labels":{}}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"instance":"[::1]:80","alertname":"x"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var hook Webhook
		if err := json.Unmarshal(body, &hook); err != nil {
			return
		}
		signals, e := hook.Signals(DefaultAlertAgentLabel, DefaultAlertProblemLabel)
		if e != nil {
			if e.Status < 400 || e.Status >= 500 {
				t.Fatalf("refused with %d", e.Status)
			}
			return
		}
		if len(signals) != len(hook.Alerts) {
			t.Fatalf("%d signals from %d alerts: a batch is taken whole", len(signals), len(hook.Alerts))
		}
		for _, s := range signals {
			if s.Status == "firing" && (s.Target == "" || s.Problem == "") {
				t.Fatalf("a firing signal without target or problem: %+v", s)
			}
		}
	})
}

// FuzzTokens: a token file parses into tokens that authenticate as
// themselves, or is refused.
func FuzzTokens(f *testing.F) {
	f.Add([]byte("alice operator " + operatorToken + "\nbob viewer " + viewerToken + "\n"))
	f.Add([]byte("# c\n\nx viewer 0123456789abcdef\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parseTokens(data)
		if err != nil {
			return
		}
		if len(set.entries) == 0 || set.viewers+set.operators != len(set.entries) {
			t.Fatalf("parsed %d tokens (%d viewers, %d operators)", len(set.entries), set.viewers, set.operators)
		}
	})
}
