// Package app assembles healer-scheduler from its configuration: the admin
// HTTP server, the ZooKeeper session with leader election and the fenced
// store (or the in-memory store without --zk), the Mesos connection of each
// leadership term, and the runtime that owns the coordinator. It owns every
// goroutine it starts and returns only when all of them ended.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zookeeper/zk"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/healer-mesos/healer/admin"
	"github.com/healer-mesos/healer/scheduler/config"
	"github.com/healer-mesos/healer/scheduler/election"
	"github.com/healer-mesos/healer/scheduler/mesosconn"
	"github.com/healer-mesos/healer/scheduler/runtime"
	"github.com/healer-mesos/healer/scheduler/store"
)

// Version is healer's version, set at build time.
var Version = "dev"

// Options are what Run needs besides the configuration.
type Options struct {
	Logger *slog.Logger
	// Ready, when set, is called with the admin listener's address once
	// it listens (tests use it with --admin_listen=127.0.0.1:0).
	Ready func(adminAddr string)
}

// Run runs healer-scheduler until ctx ends (nil) or it must stop (an
// error: the framework was removed, the admin port is taken, ...).
func Run(ctx context.Context, cfg config.Config, opt Options) error {
	log := opt.Logger
	ln, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		return fmt.Errorf("admin API: listen on %s: %w (is another healer or process using the port? set --admin_listen)", cfg.AdminListen, err)
	}
	defer ln.Close()
	hostname := cfg.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil {
			return fmt.Errorf("hostname: %w (set --hostname)", err)
		}
	}
	adminURL := cfg.AdminURL
	if adminURL == "" {
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		scheme := "http://"
		if cfg.AdminTLSCert != "" {
			scheme = "https://"
		}
		adminURL = scheme + net.JoinHostPort(hostname, port)
	}
	adminURL = strings.TrimSuffix(adminURL, "/")
	executorPath, executorURI, err := executor(cfg, adminURL)
	if err != nil {
		return err
	}
	policy, err := cfg.Policy()
	if err != nil {
		return err
	}
	fi, secret, err := frameworkInfo(cfg, hostname, adminURL)
	if err != nil {
		return err
	}
	reg, metrics, apiMetrics, _ := newMetrics()
	access, err := adminAccess(cfg, log, apiMetrics)
	if err != nil {
		return err
	}

	var leader atomic.Value // string: the leader's admin URL
	leader.Store("")
	idStore := "healer's in-memory state (restart healer-scheduler)"
	if cfg.ZK != "" {
		if u, err := cfg.ZKURL(); err == nil {
			idStore = "the znode " + u.Path + "/framework in ZooKeeper " + strings.Join(u.Servers, ",")
		}
	}
	// The instance id the election uses too: Mesos logs it with every
	// call, and the soak attributes calls to instances by it.
	instance := fmt.Sprintf("%s-%d", hostname, os.Getpid())
	userAgent := fmt.Sprintf("healer-scheduler/%s (%s)", Version, instance)
	commands := make(map[string]string, len(cfg.RepairSet))
	for _, r := range cfg.RepairSet {
		commands[r.ID] = r.Command
	}
	rcfg := runtime.Config{
		Policy: policy, Commands: commands, Framework: fi, ExecutorURI: executorURI,
		TaskCPUs: cfg.TaskCPUs, TaskMemMB: cfg.TaskMemMB, Monitor: cfg.Monitor,
		Logger: log, Metrics: metrics,
		LeaderURL: func() string { return leader.Load().(string) }, Self: adminURL,
		NewMaster: func(frameworkID string) (runtime.Master, error) {
			return mesosconn.New(mesosconn.Config{
				Master: cfg.Master, Framework: fi, FrameworkID: frameworkID, FrameworkIDStore: idStore,
				Principal: cfg.Principal, Secret: secret, ZKSessionTimeout: cfg.ZKSessionTimeout,
				UserAgent: userAgent, Logger: log.With("component", "mesos"),
			})
		},
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errs := make(chan error, 4)
	leadership := make(chan runtime.Leadership, 4)

	if cfg.ZK == "" {
		log.Warn("NO --zk: healer keeps its state IN MEMORY ONLY. Every incident, ladder position and isolation " +
			"is lost when this process stops, and a restart registers a NEW Mesos framework. Use this for trial runs " +
			"and the demo only; give --zk=zk://host:2181/healer for anything else.")
		leader.Store(adminURL)
		leadership <- runtime.Leadership{Kind: runtime.Elected, Term: &runtime.Term{Ctx: ctx, Store: store.NewMemory()}}
	} else {
		u, err := cfg.ZKURL()
		if err != nil {
			return err
		}
		var acl []zk.ACL
		if u.User != "" {
			acl = zk.DigestACL(zk.PermAll, u.User, u.Password)
		}
		var auth *election.Credentials
		if u.User != "" {
			auth = &election.Credentials{User: u.User, Password: u.Password}
		}
		el, err := election.New(election.Config{
			Servers: u.Servers, Chroot: u.Path, SessionTimeout: cfg.ZKSessionTimeout, ACL: acl, Auth: auth,
			Self: election.Member{ID: instance, AdminURL: adminURL,
				Hostname: hostname, Version: Version, StartedAt: time.Now()},
			Logger: log.With("component", "election"),
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		rcfg.Standby = func(ctx context.Context) (store.Snapshot, error) {
			conn := el.Conn()
			if conn == nil {
				return store.Snapshot{}, errors.New("no ZooKeeper session")
			}
			s, err := store.NewZK(conn, store.ZKConfig{Chroot: u.Path, ACL: acl})
			if err != nil {
				return store.Snapshot{}, err
			}
			return s.Load(ctx)
		}
		rcfg.StandbyAudit = func(ctx context.Context, limit int) ([]store.AuditEntry, error) {
			conn := el.Conn()
			if conn == nil {
				return nil, errors.New("no ZooKeeper session")
			}
			s, err := store.NewZK(conn, store.ZKConfig{Chroot: u.Path, ACL: acl})
			if err != nil {
				return nil, err
			}
			return s.LoadAudit(ctx, limit)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := el.Run(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("leader election: %w", err)
			}
		}()
		go func() {
			defer wg.Done()
			followElection(ctx, el, u.Path, acl, metrics, &leader, leadership, log)
		}()
	}

	rt, err := runtime.New(rcfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: admin.NewHandler(admin.Config{Backend: rt, Metrics: reg, APIMetrics: apiMetrics, ExecutorPath: executorPath,
			Logger: log.With("component", "admin"), Tokens: access.tokens, Insecure: cfg.AdminInsecure,
			AlertAgentLabel: cfg.AlertmanagerAgentLabel, AlertProblemLabel: cfg.AlertmanagerProblemLabel}),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         access.tls,
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		serve := func() error { return srv.Serve(ln) }
		if srv.TLSConfig != nil {
			serve = func() error { return srv.ServeTLS(ln, "", "") }
		}
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("admin API: %w", err)
		}
	}()
	if access.tokens != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer signal.Stop(hup)
			_ = access.tokens.Run(ctx, tokenPoll, hup)
		}()
	}
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}()
	switch {
	case cfg.AdminInsecure:
		log.Warn("ADMIN API WITHOUT ACCESS CONTROL (--admin_insecure): anyone who can reach " + adminURL +
			" can pause healer, isolate agents and force repairs. Use --admin_tokens for anything but a trial.")
	case access.tokens == nil:
		log.Warn("no --admin_tokens: the admin API is read-only (mutations are refused); give a token file to approve, pause or repair through it")
	}
	log.Info("healer-scheduler started", "admin", adminURL, "listen", ln.Addr().String(), "mode", policy.Mode.String(),
		"master", cfg.Master, "executor_uri", executorURI, "version", Version)
	if opt.Ready != nil {
		opt.Ready(ln.Addr().String())
	}

	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := rt.Run(ctx, leadership); err != nil {
			errs <- err
		}
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		cancel()
		return err
	}
}

// followElection turns the elector's events into the runtime's leadership
// changes, each term with a store fenced on the term's election node. The
// elector keeps only its latest state for a slow reader (an unread Elected
// may be overwritten by Suspended, and the Resumed that follows then names
// a term the runtime never saw), so each event is read as a state: Elected
// or Resumed of a term not yet started starts it.
func followElection(ctx context.Context, el *election.Elector, chroot string, acl []zk.ACL, m *runtime.Metrics,
	leader *atomic.Value, out chan<- runtime.Leadership, log *slog.Logger) {
	send := func(l runtime.Leadership) bool {
		select {
		case out <- l:
			return true
		case <-ctx.Done():
			return false
		}
	}
	started := "" // the election node of the last term started
	elect := func(t election.Term) bool {
		s, err := store.NewZK(t.Conn, store.ZKConfig{Chroot: chroot, ACL: acl, Fence: t.Node,
			Observe: func(op string, took time.Duration, err error) {
				if errors.Is(err, zk.ErrNoNode) {
					err = nil // a record not stored yet, e.g. the framework before its first SUBSCRIBED
				}
				m.ObserveStore(op, took, err)
			}})
		if err != nil {
			log.Error("cannot open the state store for this term", "err", err)
			return true
		}
		started = t.Node
		return send(runtime.Leadership{Kind: runtime.Elected, Term: &runtime.Term{Ctx: t.Ctx, Store: s}})
	}
	for {
		var ev election.Event
		select {
		case <-ctx.Done():
			return
		case e, ok := <-el.Events():
			if !ok {
				return
			}
			ev = e
		}
		if ev.HasLeader {
			leader.Store(ev.Leader.AdminURL)
		} else if ev.Kind == election.LeaderChanged {
			leader.Store("")
		}
		switch ev.Kind {
		case election.Elected:
			m.LeaderElected()
		case election.LeaderChanged:
			m.LeaderChanged()
		}
		ok := true
		switch ev.Kind {
		case election.Elected, election.Resumed:
			if ev.Term.Node != started && ev.Term.Ctx != nil && ev.Term.Ctx.Err() == nil {
				ok = elect(ev.Term)
			} else if ev.Kind == election.Resumed {
				ok = send(runtime.Leadership{Kind: runtime.Resumed})
			}
		case election.Suspended:
			ok = send(runtime.Leadership{Kind: runtime.Suspended})
		case election.Deposed:
			started = ""
			ok = send(runtime.Leadership{Kind: runtime.Deposed})
		case election.LeaderChanged:
			log.Info("leader", "admin_url", ev.Leader.AdminURL, "id", ev.Leader.ID)
		}
		if !ok {
			return
		}
	}
}

// executor finds the executor binary to serve and the URI agents fetch it
// from.
func executor(cfg config.Config, adminURL string) (path, uri string, err error) {
	if cfg.ExecutorURI != "" {
		return cfg.ExecutorPath, cfg.ExecutorURI, nil
	}
	path = cfg.ExecutorPath
	if path == "" {
		self, err := os.Executable()
		if err != nil {
			return "", "", fmt.Errorf("locate healer-executor: %w (set --executor_path or --executor_uri)", err)
		}
		path = filepath.Join(filepath.Dir(self), "healer-executor")
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return "", "", fmt.Errorf("healer-executor not found at %s: agents fetch it from this scheduler's admin port "+
			"(build it with make build, set --executor_path to it, or point --executor_uri at a copy agents can fetch)", path)
	}
	return path, adminURL + admin.ExecutorURLPath, nil
}

// frameworkInfo is the FrameworkInfo healer registers with.
func frameworkInfo(cfg config.Config, hostname, adminURL string) (mesos.FrameworkInfo, string, error) {
	u := cfg.User
	if u == "" {
		cur, err := user.Current()
		if err != nil {
			return mesos.FrameworkInfo{}, "", fmt.Errorf("current user: %w (set --user)", err)
		}
		u = cur.Username
	}
	failover := cfg.FailoverTimeout.Seconds()
	fi := mesos.FrameworkInfo{
		User: u, Name: cfg.FrameworkName, Roles: []string{cfg.Role}, FailoverTimeout: &failover,
		Checkpoint: &cfg.Checkpoint, Hostname: &hostname, WebUiURL: &adminURL,
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_MULTI_ROLE},
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
		},
	}
	secret := ""
	if cfg.Principal != "" {
		p := cfg.Principal
		fi.Principal = &p
	}
	if cfg.SecretFile != "" {
		b, err := os.ReadFile(cfg.SecretFile)
		if err != nil {
			return fi, "", fmt.Errorf("read --secret_file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	return fi, secret, nil
}
