// Package ctl is healerctl: the operator's command line over healer's admin
// API. Run parses a command line and prints aligned tables (or, with
// -o json, the API's JSON), in colour only on a terminal.
//
// Exit codes: 0 done; 1 healer refused the request (4xx: the message says
// why and what to do); 2 a usage error; 3 no instance answered, or healer
// could not serve the request now (5xx: retry).
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/admin/client"
)

// The environment variables healerctl reads: the admin API's addresses
// (comma-separated) and the bearer token.
const (
	EnvAddr  = "HEALER_ADDR"
	EnvToken = "HEALER_TOKEN"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitRefused     = 1
	ExitUsage       = 2
	ExitUnavailable = 3
)

// Env is what Run reads from its process.
type Env struct {
	Args   []string
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Color says stdout is a terminal that takes colour.
	Color bool
	// HTTP, when set, is the HTTP client (tests).
	HTTP *http.Client
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// cli is one invocation.
type cli struct {
	env    Env
	c      *client.Client
	json   bool
	color  bool
	out    io.Writer
	ctx    context.Context
	addrs  []string
	output string
}

const usage = `healerctl: drive healer, the self-healing framework for Mesos, through its admin API.

Usage: healerctl [global flags] <command> [flags] [args]

Commands:
  status                          the leader, the master connection, pause/breaker, limits, agents by state
  agents [--state S] [-q TEXT]    agents healer keeps a record of (states: healthy, pending,
                                  awaiting-approval, repairing, probation, isolated)
  agent <id|hostname>             one agent, with its history
  repairs [--state S] [--agent A] [--problem P] [--older-than D] [--newer-than D]
                                  open incidents (--state closed|all for history)
  repair <agent> <problem> [-m MESSAGE]
                                  report a sick agent (a signal)
  approve <agent> [-r REASON]     approve the step waiting on the agent's open repair
  cancel <agent> [-r REASON]      cancel the agent's open repair (kills a step in flight)
  isolate|reactivate|exclude|include <agent> [-r REASON]
                                  operator overrides
  force <agent> [-p PROBLEM] [-r REASON]
                                  start the agent's next step now, bypassing every limit but Immutable
  pause -r REASON                 stop starting repairs
  resume [-r REASON]              start again (also resets a tripped storm breaker)
  audit [--limit N]               the audit trail, newest first
  whoami                          the token's name and role

Global flags (also after the command):
  --addr URL      an instance (repeat, or comma-separate, for several; env HEALER_ADDR;
                  default http://127.0.0.1:7070); a standby's redirect to the leader is followed
  --token TOKEN   bearer token (env HEALER_TOKEN)
  -o table|json   output format (default table)
  --timeout D     per request (default 30s)

Exit codes: 0 done; 1 refused by healer (the message says why); 2 usage; 3 unreachable or
unavailable (retry).
`

// Run runs healerctl and returns its exit code.
func Run(env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	c := &cli{env: env, out: env.Stdout, ctx: context.Background()}
	err := c.run(env.Args)
	return c.report(err)
}

// report prints err and maps it to an exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return ExitOK
	}
	var ue usageError
	var ae *client.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.env.Stderr, "healerctl: %s\n(healerctl help for usage)\n", ue.msg)
		return ExitUsage
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(c.env.Stdout, usage)
		return ExitOK
	case errors.As(err, &ae):
		fmt.Fprintf(c.env.Stderr, "healerctl: %s\n", c.paint(red, fmt.Sprintf("%d %s", ae.Status, ae.Msg)))
		if ae.Detail != "" {
			fmt.Fprintf(c.env.Stderr, "  %s\n", ae.Detail)
		}
		switch ae.Status {
		case http.StatusUnauthorized:
			fmt.Fprintln(c.env.Stderr, "  give a token with --token or HEALER_TOKEN")
		}
		if ae.Status >= 500 {
			return ExitUnavailable
		}
		return ExitRefused
	case errors.Is(err, client.ErrUnreachable):
		fmt.Fprintf(c.env.Stderr, "healerctl: %v\n  check --addr (or HEALER_ADDR): %s\n", err, strings.Join(c.addrs, ", "))
		return ExitUnavailable
	}
	fmt.Fprintf(c.env.Stderr, "healerctl: %v\n", err)
	return ExitUnavailable
}

// flags is a command's flag set with the global flags on it too, so they
// may come before or after the command.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("addr", "instance address (repeatable)", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				if _, err := client.BaseURL(a); err != nil {
					return err
				}
				c.addrs = append(c.addrs, a)
			}
		}
		return nil
	})
	fs.StringVar(&c.c.Token, "token", c.c.Token, "bearer token")
	fs.StringVar(&c.output, "o", c.output, "output: table or json")
	fs.Func("timeout", "per request", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 10s")
		}
		c.c.HTTP.Timeout = d
		return nil
	})
	return fs
}

// parse parses args with fs, allowing flags between positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *cli) run(args []string) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	if c.env.HTTP != nil {
		cp := *c.env.HTTP
		hc = &cp
	}
	c.c = &client.Client{HTTP: hc, Token: c.env.Getenv(EnvToken), UserAgent: "healerctl"}
	c.output = "table"
	// Global flags before the command.
	global := c.flags("healerctl")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	rest := global.Args()
	if len(rest) == 0 || rest[0] == "help" {
		return flag.ErrHelp
	}
	cmd, rest := rest[0], rest[1:]
	fs := c.flags(cmd)
	var (
		state, query, agent, problem, message, reason string
		olderThan, newerThan                          time.Duration
		limit                                         int
		incident, attempt                             uint64
	)
	switch cmd {
	case "agents":
		fs.StringVar(&state, "state", "", "state")
		fs.StringVar(&query, "q", "", "id or hostname contains")
		fs.IntVar(&limit, "limit", 100, "at most this many (0: all)")
	case "repairs":
		fs.StringVar(&state, "state", "open", "open, closed, all, or a state")
		fs.StringVar(&agent, "agent", "", "agent id or hostname")
		fs.StringVar(&problem, "problem", "", "problem")
		fs.DurationVar(&olderThan, "older-than", 0, "opened at least this long ago")
		fs.DurationVar(&newerThan, "newer-than", 0, "opened at most this long ago")
		fs.IntVar(&limit, "limit", admin.DefaultRepairsLimit, "at most this many")
	case "audit":
		fs.IntVar(&limit, "limit", 50, "at most this many")
	case "repair":
		fs.StringVar(&message, "m", "", "message")
	case "approve":
		fs.Uint64Var(&incident, "incident", 0, "incident (default: the open one)")
		fs.Uint64Var(&attempt, "attempt", 0, "attempt (default: the one waiting)")
		fs.StringVar(&reason, "r", "", "reason")
	case "cancel":
		fs.Uint64Var(&incident, "incident", 0, "incident (default: the open one)")
		fs.StringVar(&reason, "r", "", "reason")
	case "force":
		fs.StringVar(&problem, "p", "", "problem of the incident a force opens")
		fs.StringVar(&reason, "r", "", "reason")
	case "isolate", "reactivate", "exclude", "include", "pause", "resume":
		fs.StringVar(&reason, "r", "", "reason")
	case "status", "agent", "whoami":
	default:
		return usagef("unknown command %q", cmd)
	}
	pos, err := parse(fs, rest)
	if err != nil {
		return err
	}
	if len(c.addrs) == 0 {
		if v := c.env.Getenv(EnvAddr); v != "" {
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					c.addrs = append(c.addrs, a)
				}
			}
		} else {
			c.addrs = []string{"http://127.0.0.1:7070"}
		}
	}
	c.c.Addrs = c.addrs
	switch c.output {
	case "table":
	case "json":
		c.json = true
	default:
		return usagef("-o %q: want table or json", c.output)
	}
	c.color = c.env.Color && !c.json
	args2 := func(n int, names string) error {
		if len(pos) != n {
			return usagef("%s takes %s", cmd, names)
		}
		return nil
	}
	switch cmd {
	case "status":
		if err := args2(0, "no arguments"); err != nil {
			return err
		}
		return c.status()
	case "agents":
		if err := args2(0, "no arguments (filter with --state and -q)"); err != nil {
			return err
		}
		return c.agents(state, query, limit)
	case "agent":
		if err := args2(1, "one agent id or hostname"); err != nil {
			return err
		}
		return c.agent(pos[0])
	case "repairs":
		if err := args2(0, "no arguments (filter with --state, --agent, --problem, --older-than, --newer-than)"); err != nil {
			return err
		}
		q := url.Values{}
		set := func(k, v string) {
			if v != "" {
				q.Set(k, v)
			}
		}
		set("state", state)
		set("agent", agent)
		set("problem", problem)
		if olderThan > 0 {
			q.Set("older_than", olderThan.String())
		}
		if newerThan > 0 {
			q.Set("newer_than", newerThan.String())
		}
		q.Set("limit", strconv.Itoa(limit))
		return c.repairs(q)
	case "repair":
		if err := args2(2, "an agent (id or hostname) and a problem"); err != nil {
			return err
		}
		return c.signal(pos[0], pos[1], message)
	case "approve":
		if err := args2(1, "one agent (id or hostname)"); err != nil {
			return err
		}
		return c.approve(pos[0], incident, attempt, reason)
	case "cancel":
		if err := args2(1, "one agent (id or hostname)"); err != nil {
			return err
		}
		return c.cancel(pos[0], incident, reason)
	case "isolate", "reactivate", "exclude", "include":
		if err := args2(1, "one agent (id or hostname)"); err != nil {
			return err
		}
		return c.command("/agents/"+url.PathEscape(pos[0])+"/"+cmd, map[string]string{"reason": reason})
	case "force":
		if err := args2(1, "one agent (id or hostname)"); err != nil {
			return err
		}
		return c.command("/agents/"+url.PathEscape(pos[0])+"/force", map[string]string{"problem": problem, "reason": reason})
	case "pause":
		if err := args2(0, "no arguments"); err != nil {
			return err
		}
		if strings.TrimSpace(reason) == "" {
			return usagef("pause needs a reason: healerctl pause -r 'why'")
		}
		return c.command("/pause", map[string]string{"reason": reason})
	case "resume":
		if err := args2(0, "no arguments"); err != nil {
			return err
		}
		return c.command("/resume", map[string]string{"reason": reason})
	case "audit":
		if err := args2(0, "no arguments"); err != nil {
			return err
		}
		return c.audit(limit)
	case "whoami":
		var w admin.WhoAmI
		if err := c.c.Do(c.ctx, http.MethodGet, "/whoami", nil, &w); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(w)
		}
		fmt.Fprintf(c.out, "%s (%s), mutations %s, access control: %s\n", w.Name, w.Role, yesNo(w.Mutations, "allowed", "not allowed"), w.Auth)
		return nil
	}
	return nil
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// get reads path into out and prints it as JSON when -o json.
func (c *cli) get(path string, out any) (printed bool, err error) {
	if err := c.c.Do(c.ctx, http.MethodGet, path, nil, out); err != nil {
		return false, err
	}
	if c.json {
		return true, c.printJSON(out)
	}
	return false, nil
}

func (c *cli) table() *tabwriter.Writer { return tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0) }

func (c *cli) status() error {
	var s admin.Status
	if done, err := c.get("/status", &s); done || err != nil {
		return err
	}
	w := c.table()
	role := "standby"
	if s.IsLeader {
		role = "leader"
	}
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("Instance", role)
	row("Leader", orDash(s.Leader))
	row("Framework", orDash(s.FrameworkID))
	row("Master", yesNo(s.Subscribed, c.paint(green, "subscribed"), c.paint(red, "not subscribed")))
	row("Mode", s.Mode)
	if s.Immutable {
		why := s.ImmutableReason
		if s.ImmutableSince != nil {
			why += " (since " + ago(time.Since(*s.ImmutableSince)) + ")"
		}
		row("Immutable", c.paint(red, "yes: "+why))
	} else {
		row("Immutable", "no")
	}
	if s.Paused {
		row("Paused", c.paint(yellow, fmt.Sprintf("yes, by %s: %s", s.PausedBy, s.PauseReason)))
	} else {
		row("Paused", "no")
	}
	if s.Breaker.Tripped {
		row("Storm breaker", c.paint(red, fmt.Sprintf("TRIPPED (%d of %d unhealthy); healerctl resume resets it", s.Breaker.Unhealthy, s.Breaker.Known)))
	} else {
		row("Storm breaker", "ok")
	}
	row("Limits", fmt.Sprintf("%d at a time, zone cap %s, max unhealthy %s, spacing %s", s.Limits.NumAllowedRepairs,
		capText(s.Limits.ZoneCap), maxUnhealthy(s.Limits), s.Limits.MinRepairSpacing))
	row("Agents", fmt.Sprintf("%d known, %d unhealthy, %d in flight", s.Known, s.Unhealthy, s.InFlight))
	k := s.Counts
	row("By state", fmt.Sprintf("healthy %d, pending %d, awaiting-approval %s, repairing %d, probation %d, isolated %s, excluded %d, removed %d",
		k.Healthy, k.Pending, c.count(magenta, k.AwaitingApproval), k.Repairing, k.Probation, c.count(red, k.Isolated), k.Excluded, k.Removed))
	row("As of", s.AsOf.Local().Format(time.RFC3339))
	return w.Flush()
}

func (c *cli) count(col string, n int) string {
	if n == 0 {
		return "0"
	}
	return c.paint(col, strconv.Itoa(n))
}

func capText(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}

func maxUnhealthy(l admin.Limits) string {
	if l.MaxUnhealthyPercent > 0 {
		return fmt.Sprintf("%d%% (min %d)", l.MaxUnhealthyPercent, l.MaxUnhealthyMin)
	}
	return fmt.Sprintf("min %d", l.MaxUnhealthyMin)
}

func (c *cli) agents(state, query string, limit int) error {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if query != "" {
		q.Set("q", query)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/agents"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l admin.AgentList
	if done, err := c.get(path, &l); done || err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "ID\tHOSTNAME\tZONE\tSTATE\tINCIDENT\tSTEP\tNOTES")
	for _, a := range l.Agents {
		inc, step := "-", "-"
		if a.Incident != nil {
			inc = fmt.Sprintf("%d %s", a.Incident.ID, a.Incident.Problem)
			step = fmt.Sprintf("%d:%s", a.Incident.Step, a.Incident.Action)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Hostname, orDash(a.Zone), c.state(a.State), inc, step, notes(a))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(l.Agents) < l.Total {
		fmt.Fprintf(c.out, "(%d of %d; narrow with --state or -q, or raise --limit)\n", len(l.Agents), l.Total)
	}
	return nil
}

func notes(a admin.Agent) string {
	var n []string
	if a.Excluded {
		n = append(n, "excluded")
	}
	if a.Removed {
		n = append(n, "removed")
	}
	if a.Drained {
		n = append(n, "drained")
	}
	return strings.Join(n, ",")
}

func (c *cli) agent(id string) error {
	var a admin.Agent
	if done, err := c.get("/agents/"+url.PathEscape(id), &a); done || err != nil {
		return err
	}
	w := c.table()
	row := func(k, v string) { fmt.Fprintf(w, "%s\t%s\n", k, v) }
	row("ID", a.ID)
	row("Hostname", a.Hostname)
	row("Zone", orDash(a.Zone))
	row("State", c.state(a.State))
	if n := notes(a); n != "" {
		row("Notes", n)
	}
	if a.IsolatedAt != nil {
		row("Isolated", a.IsolatedAt.Local().Format(time.RFC3339)+" ("+ago(time.Since(*a.IsolatedAt))+" ago)")
	}
	if in := a.Incident; in != nil {
		row("Incident", fmt.Sprintf("%d: %s from %s, opened %s ago, %d signals", in.ID, in.Problem, orDash(in.Source), ago(time.Since(in.OpenedAt)), in.Signals))
		if in.Message != "" {
			row("Message", in.Message)
		}
		row("Step", fmt.Sprintf("%d: %s (%d run)", in.Step, in.Action, in.StepsRun))
		if a.State == "awaiting-approval" {
			row("Approval", c.paint(magenta, fmt.Sprintf("waiting: healerctl approve %s (attempt %d)", a.Hostname, in.ApprovalAttempt)))
		}
		if r := in.Run; r != nil {
			row("Running", fmt.Sprintf("attempt %d %s (%s scope), launched %s ago, deadline in %s", r.Attempt, r.Action, r.Scope,
				ago(time.Since(r.LaunchedAt)), ago(time.Until(r.Deadline))))
		}
	}
	if m := a.Monitor; m != nil {
		row("Monitor", m.State+orEmpty(" ("+m.LastError+")", m.LastError))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(a.History) == 0 {
		fmt.Fprintln(c.out, "\nNo history.")
		return nil
	}
	fmt.Fprintln(c.out, "\nHistory (newest last):")
	w = c.table()
	fmt.Fprintln(w, "ATTEMPT\tINCIDENT\tPROBLEM\tACTION\tSCOPE\tSTARTED\tTOOK\tRESULT\tEXIT\tOUTPUT")
	for _, h := range a.History {
		out := strings.TrimSpace(h.OutputTail)
		if i := strings.LastIndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
		if len(out) > 60 {
			out = out[len(out)-60:]
		}
		fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", h.ID, h.Incident, h.Problem, h.Action, h.Scope,
			h.StartedAt.Local().Format("2006-01-02 15:04:05"), h.EndedAt.Sub(h.StartedAt).Round(time.Second), c.result(h.Result), h.ExitCode, out)
	}
	return w.Flush()
}

func (c *cli) repairs(q url.Values) error {
	var l admin.RepairList
	if done, err := c.get("/repairs?"+q.Encode(), &l); done || err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "AGENT\tHOSTNAME\tINCIDENT\tPROBLEM\tSTATE\tSTEP\tAGE\tNOTE")
	for _, r := range l.Repairs {
		note := ""
		switch {
		case r.Approval != nil:
			note = c.paint(magenta, fmt.Sprintf("approve: healerctl approve %s", r.Hostname))
		case r.Run != nil:
			note = fmt.Sprintf("attempt %d running", r.Run.Attempt)
		case !r.Open:
			note = c.result(r.Result)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d:%s\t%s\t%s\n", r.AgentID, r.Hostname, r.Incident, r.Problem, c.state(r.State),
			r.Step, r.Action, ago(time.Duration(r.AgeSeconds*float64(time.Second))), note)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(l.Repairs) < l.Total {
		fmt.Fprintf(c.out, "(%d of %d; narrow the filters or raise --limit)\n", len(l.Repairs), l.Total)
	}
	if len(l.Repairs) == 0 {
		fmt.Fprintln(c.out, "No repairs match.")
	}
	return nil
}

func (c *cli) signal(target, problem, message string) error {
	req := admin.RepairRequest{Hostname: target, Problem: problem, Source: "healerctl", Message: message}
	if looksLikeAgentID(target) {
		req.AgentID, req.Hostname = target, ""
	}
	var resp admin.RepairResponse
	if err := c.c.Do(c.ctx, http.MethodPost, "/repair", req, &resp); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	if resp.Attached {
		fmt.Fprintf(c.out, "attached to the open incident of %s (%s)\n", resp.AgentID, c.state(resp.State))
		return nil
	}
	for _, d := range resp.Decisions {
		fmt.Fprintln(c.out, d.Text)
	}
	return nil
}

// looksLikeAgentID: Mesos agent ids are "<uuid>-S<n>".
func looksLikeAgentID(s string) bool {
	i := strings.LastIndex(s, "-S")
	if i < 36 {
		return false
	}
	_, err := strconv.Atoi(s[i+2:])
	return err == nil
}

// openIncident reads the agent's open incident.
func (c *cli) openIncident(target string) (admin.Agent, error) {
	var a admin.Agent
	if err := c.c.Do(c.ctx, http.MethodGet, "/agents/"+url.PathEscape(target), nil, &a); err != nil {
		return a, err
	}
	if a.Incident == nil {
		return a, &client.Error{Status: http.StatusConflict, Msg: "no open incident",
			Detail: fmt.Sprintf("%s (%s) is %s with nothing to act on", a.Hostname, a.ID, a.State)}
	}
	return a, nil
}

func (c *cli) approve(target string, incident, attempt uint64, reason string) error {
	if incident == 0 || attempt == 0 {
		a, err := c.openIncident(target)
		if err != nil {
			return err
		}
		if a.State != "awaiting-approval" {
			return &client.Error{Status: http.StatusConflict, Msg: "nothing awaits approval",
				Detail: fmt.Sprintf("incident %d of %s is %s", a.Incident.ID, a.Hostname, a.State)}
		}
		if incident == 0 {
			incident = a.Incident.ID
		}
		if attempt == 0 {
			attempt = a.Incident.ApprovalAttempt
		}
		if !c.json {
			fmt.Fprintf(c.out, "approving step %d (%s) of incident %d (%s) on %s, attempt %d\n", a.Incident.Step,
				a.Incident.Action, incident, a.Incident.Problem, a.Hostname, attempt)
		}
	}
	return c.commandAny("/repairs/"+url.PathEscape(target)+"/approve",
		map[string]any{"incident": incident, "attempt": attempt, "reason": reason})
}

func (c *cli) cancel(target string, incident uint64, reason string) error {
	if incident == 0 {
		a, err := c.openIncident(target)
		if err != nil {
			return err
		}
		incident = a.Incident.ID
	}
	body := map[string]any{"incident": incident}
	if reason != "" {
		body["reason"] = reason
	}
	return c.commandAny("/repairs/"+url.PathEscape(target)+"/cancel", body)
}

// command posts an operator command; empty string fields are left out.
func (c *cli) command(path string, body map[string]string) error {
	b := map[string]any{}
	for k, v := range body {
		if v != "" {
			b[k] = v
		}
	}
	return c.commandAny(path, b)
}

func (c *cli) commandAny(path string, body map[string]any) error {
	var resp admin.CommandResponse
	if err := c.c.Do(c.ctx, http.MethodPost, path, body, &resp); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(resp)
	}
	for _, d := range resp.Decisions {
		fmt.Fprintln(c.out, d.Text)
	}
	if resp.AgentID != "" {
		fmt.Fprintf(c.out, "%s (%s) is now %s\n", resp.Hostname, resp.AgentID, c.state(resp.State))
	}
	return nil
}

func (c *cli) audit(limit int) error {
	var l admin.AuditList
	if done, err := c.get("/audit?limit="+strconv.Itoa(limit), &l); done || err != nil {
		return err
	}
	w := c.table()
	fmt.Fprintln(w, "SEQ\tTIME\tWHO\tACTION\tTARGET\tRESULT\tCODE\tDETAIL")
	for _, e := range l.Entries {
		who := e.Principal
		if e.Role != "" {
			who += " (" + e.Role + ")"
		}
		res := e.Result
		if e.Result == admin.ResultRefused {
			res = c.paint(red, res)
		}
		if e.Count > 1 {
			res += fmt.Sprintf(" ×%d", e.Count)
		}
		detail := e.Detail
		if len(detail) > 100 {
			detail = detail[:100] + "…"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", e.Seq, e.At.Local().Format("2006-01-02 15:04:05"), who, e.Action,
			orDash(e.Target), res, e.Code, detail)
	}
	return w.Flush()
}

// Colours (ANSI), used only on a terminal.
const (
	red     = "31"
	green   = "32"
	yellow  = "33"
	magenta = "35"
)

func (c *cli) paint(col, s string) string {
	if !c.color {
		return s
	}
	return "\x1b[" + col + "m" + s + "\x1b[0m"
}

var stateColors = map[string]string{"healthy": green, "pending": yellow, "repairing": yellow, "probation": yellow,
	"awaiting-approval": magenta, "isolated": red}

func (c *cli) state(s string) string {
	if col, ok := stateColors[s]; ok {
		return c.paint(col, s)
	}
	return s
}

func (c *cli) result(s string) string {
	switch s {
	case "succeeded":
		return c.paint(green, s)
	case "":
		return "-"
	}
	return c.paint(red, s)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orEmpty(s, cond string) string {
	if cond == "" {
		return ""
	}
	return s
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

// ago renders a duration the way an operator reads it: 45s, 12m, 3h5m, 2d4h.
func ago(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + "h"
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// IsTerminal says whether f is a character device (a terminal), and the
// environment does not ask for no colour (NO_COLOR, TERM=dumb).
func IsTerminal(f *os.File, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" || getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
