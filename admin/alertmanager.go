package admin

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Default labels: which alert label names the agent, and which the
// problem (Config.AlertAgentLabel, Config.AlertProblemLabel).
const (
	DefaultAlertAgentLabel   = "instance"
	DefaultAlertProblemLabel = "alertname"
)

// Webhook is the body Prometheus Alertmanager POSTs to a webhook receiver
// (payload version 4).
type Webhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a Webhook.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// MaxAlerts bounds the alerts of one webhook call (Alertmanager's
// max_alerts truncates a group; configure it at or below this).
const MaxAlerts = 1000

// Signals maps a webhook's alerts to signals: the agent from agentLabel
// (an "host:port" value, as Prometheus' instance label holds, names host),
// the problem from problemLabel, the message from the summary or
// description annotation. Every alert must map: the error names each that
// does not, and the batch is refused whole.
func (w *Webhook) Signals(agentLabel, problemLabel string) ([]AlertSignal, *Error) {
	var bad []string
	if w.Version != "4" {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "unsupported Alertmanager webhook version " + strconv.Quote(w.Version),
			Detail: `healer reads version "4" (Alertmanager 0.x's webhook_config)`}
	}
	if len(w.Alerts) > MaxAlerts {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Msg: fmt.Sprintf("%d alerts in one call", len(w.Alerts)),
			Detail: fmt.Sprintf("at most %d: set max_alerts in the webhook_config", MaxAlerts)}
	}
	out := make([]AlertSignal, 0, len(w.Alerts))
	for i, a := range w.Alerts {
		where := fmt.Sprintf("alert %d", i+1)
		if a.Fingerprint != "" {
			where += " (" + a.Fingerprint + ")"
		}
		if a.Status != "firing" && a.Status != "resolved" {
			bad = append(bad, fmt.Sprintf("%s: status %q, want firing or resolved", where, a.Status))
			continue
		}
		target := agentOf(a.Labels[agentLabel])
		problem := strings.TrimSpace(a.Labels[problemLabel])
		if a.Status == "firing" {
			if target == "" {
				bad = append(bad, fmt.Sprintf("%s: no label %q naming the agent (set --alertmanager_agent_label to the label that does)", where, agentLabel))
				continue
			}
			if problem == "" {
				bad = append(bad, fmt.Sprintf("%s: no label %q naming the problem (set --alertmanager_problem_label)", where, problemLabel))
				continue
			}
		}
		msg := a.Annotations["summary"]
		if msg == "" {
			msg = a.Annotations["description"]
		}
		out = append(out, AlertSignal{Status: a.Status, Target: target, Problem: problem, Message: msg, Fingerprint: a.Fingerprint})
	}
	if len(bad) > 0 {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "bad alerts in the batch: none of it was taken", Detail: strings.Join(bad, "; ")}
	}
	return out, nil
}

// agentOf is the agent an alert label names: the value, without a :port.
func agentOf(v string) string {
	v = strings.TrimSpace(v)
	if host, port, err := net.SplitHostPort(v); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err == nil && host != "" {
			return host
		}
	}
	return v
}
