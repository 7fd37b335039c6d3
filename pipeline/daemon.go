package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/transcoder/transcoder/internal/api"
	"github.com/transcoder/transcoder/internal/auth"
	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/metrics"
	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/internal/watch"
	"github.com/transcoder/transcoder/jobs"
)

// Roles say which parts of the daemon a process runs, so that many
// machines can share one engine: watchers (and the notifier and job
// reconciliation), workers, and the HTTP listener.
type Roles struct {
	Watch, Work, Notify, HTTP bool
}

// AllRoles is a process that does everything: the default.
var AllRoles = Roles{Watch: true, Work: true, Notify: true, HTTP: true}

// ParseRoles reads a comma-separated list of watch, work, notify, http
// (or all).
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "all":
			r = AllRoles
		case "watch", "watcher":
			r.Watch = true
		case "work", "worker":
			r.Work = true
		case "notify", "notifier":
			r.Notify = true
		case "http", "api":
			r.HTTP = true
		default:
			return r, fmt.Errorf("role %q; allowed: all, watch, work, notify, http (comma-separated)", part)
		}
	}
	return r, nil
}

// DaemonOptions are what a daemon needs besides its configuration.
type DaemonOptions struct {
	Roles  Roles
	Logger *slog.Logger
	// Tools and Caps run ffmpeg (for the work role).
	Tools jobs.Tools
	Caps  jobs.Capabilities
	// Ready, when set, is called once everything has started, with the
	// HTTP listener's address ("" without one).
	Ready func(d *Daemon)
}

// Daemon is a running `transcoder run`.
type Daemon struct {
	cfg      *Config
	opts     DaemonOptions
	log      *slog.Logger
	Engine   *engine.Engine
	Jobs     *jobs.Service
	Catalog  *catalog.Catalog
	Seen     *Seen
	addr     string
	ready    atomic.Bool
	watchers map[string]*Watcher
	hooks    map[string]*watch.Webhook
	metrics  *metrics.Metrics
}

// Addr is the HTTP listener's address, "" without one.
func (d *Daemon) Addr() string { return d.addr }

// Run runs the daemon until ctx ends, then stops watching and taking
// jobs, gives running jobs the grace period to finish, releases the rest
// to the queue, and returns nil.
func Run(ctx context.Context, cfg *Config, opts DaemonOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	d := &Daemon{cfg: cfg, opts: opts, log: log, watchers: map[string]*Watcher{}, hooks: map[string]*watch.Webhook{}}
	ecfg := engine.Config{URL: cfg.NATS.URL, DataDir: cfg.DataDir, Listen: cfg.NATS.Listen, Name: cfg.NATS.Name,
		Replicas: cfg.NATS.Replicas, Logger: log}
	if cfg.NATS.Credentials != "" {
		ecfg.Options = append(ecfg.Options, nats.UserCredentials(cfg.NATS.Credentials))
	}
	if c := cfg.NATS.Cluster; c != nil {
		ecfg.Cluster = &engine.ClusterConfig{Name: c.Name, Listen: c.Listen, Routes: c.Routes}
	}
	eng, err := engine.Start(ctx, ecfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	d.Engine = eng
	where := "embedded, data in " + cfg.DataDir
	if cfg.NATS.URL != "" {
		where = eng.Conn.ConnectedUrlRedacted()
	} else if u := eng.ClientURL(); u != "" {
		where += ", clients at " + u
	}
	log.Info("engine ready", "engine", where)

	// Pipelines and presets made through the API live beside the file's;
	// workers resolve presets through the catalog, so that one made on
	// any machine works on every other.
	var fromFile []*catalog.Pipeline
	for _, p := range cfg.Pipelines {
		fromFile = append(fromFile, catalog.ConfigPipeline(p.ID, p.Name, p.Input, p.Output, p.Thumbnails))
	}
	cat, err := catalog.Open(ctx, eng.JS, catalog.Options{Replicas: eng.Replicas, Presets: cfg.Registry,
		Config: fromFile, Logger: log})
	if err != nil {
		return err
	}
	defer cat.Close()
	d.Catalog = cat
	svc, err := jobs.Open(ctx, eng.JS, jobs.ServiceOptions{
		Replicas: eng.Replicas, AckWait: cfg.Workers.AckWait, MaxDeliver: cfg.Workers.MaxAttempts,
		Presets: cat, Logger: log,
	})
	if err != nil {
		return err
	}
	defer svc.Close()
	d.Jobs = svc
	mtr, err := metrics.New(ctx, svc, metrics.Options{Logger: log})
	if err != nil {
		return err
	}
	defer mtr.Close()
	d.metrics = mtr
	if d.Seen, err = OpenSeen(ctx, eng.JS, eng.Replicas); err != nil {
		return err
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// A part that cannot run at all stops the daemon with its error,
	// rather than leave it up and doing nothing.
	fatal := make(chan error, 1)

	if opts.Roles.Watch {
		if err := d.startWatchers(runCtx, &wg); err != nil {
			return err
		}
	}
	if opts.Roles.Notify {
		n, err := notify.New(eng.JS, d.targets, notify.Options{Logger: log, Replicas: eng.Replicas,
			OnAttempt: mtr.OnNotifyAttempt})
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := n.Run(runCtx); err != nil && runCtx.Err() == nil {
				log.Error("notifier stopped", "err", err)
			}
		})
	}
	if opts.Roles.HTTP && cfg.Listen != "off" {
		srv, err := d.listen()
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	if opts.Roles.Work {
		w := svc.NewWorker(jobs.WorkerOptions{
			Concurrency: cfg.Workers.Concurrency, WorkDir: cfg.Workers.WorkDir, Tools: opts.Tools,
			Stores: cfg.Store, Presets: cat, Caps: opts.Caps, StallTimeout: cfg.Workers.StallTimeout,
			GracePeriod: cfg.Workers.GracePeriod, Limit: d.limit,
		})
		wg.Go(func() {
			if err := w.Run(runCtx); err != nil {
				select {
				case fatal <- err:
				default:
				}
			}
		})
		log.Info("worker started", "concurrency", cfg.Workers.Concurrency, "work_dir", cfg.Workers.WorkDir)
	}
	d.ready.Store(true)
	if opts.Ready != nil {
		opts.Ready(d)
	}
	var failed error
	select {
	case <-ctx.Done():
		log.Info("stopping: no new jobs; running jobs have the grace period to finish",
			"grace_period", cfg.Workers.GracePeriod)
	case failed = <-fatal:
		log.Error("stopping", "err", failed)
	}
	d.ready.Store(false)
	stop()
	wg.Wait()
	log.Info("stopped")
	return failed
}

// startWatchers applies each pipeline's status and starts its watcher,
// and the reconciliation of unfinished jobs.
func (d *Daemon) startWatchers(ctx context.Context, wg *sync.WaitGroup) error {
	for _, p := range d.cfg.Pipelines {
		if err := d.applyStatus(ctx, p); err != nil {
			return fmt.Errorf("pipeline %s: %w", p.Name, err)
		}
		w, err := NewWatcher(p, d.Jobs, d.Seen, d.cfg.Registry, d.cfg.Store, d.log)
		if err != nil {
			return err
		}
		src, err := w.source()
		if err != nil {
			return fmt.Errorf("pipeline %s: %w", p.Name, err)
		}
		if hook, ok := src.(*watch.Webhook); ok {
			d.hooks[p.Name] = hook
		}
		d.watchers[p.ID] = w
		wg.Go(func() {
			backoff := time.Second
			for ctx.Err() == nil {
				err := w.Run(ctx, src)
				if ctx.Err() != nil {
					return
				}
				d.log.Error("watcher stopped; restarting", "pipeline", p.Name, "err", err, "in", backoff)
				sleep(ctx, backoff)
				backoff = min(backoff*2, time.Minute)
			}
		})
		d.log.Info("watching", "pipeline", p.Name, "id", p.ID, "input", p.Input, "source", p.Events.Source,
			"status", p.Status)
	}
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			if err := d.Jobs.Reconcile(ctx, 30*time.Second); err != nil && ctx.Err() == nil {
				d.log.Warn("job reconciliation failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return nil
}

// applyStatus applies a pipeline's configured status when it differs from
// the status last applied from the file: editing the file pauses or
// resumes, while a pause or resume made through the API since survives
// restarts that leave the file's status as it was.
func (d *Daemon) applyStatus(ctx context.Context, p *Pipeline) error {
	last, err := d.Seen.configStatus(ctx, p.ID)
	if err != nil {
		return err
	}
	if last == p.Status {
		return nil
	}
	switch {
	case p.Status == StatusPaused && !d.Jobs.Paused(p.ID):
		err = d.Jobs.Pause(ctx, p.ID)
	case p.Status == StatusActive && d.Jobs.Paused(p.ID):
		err = d.Jobs.Resume(ctx, p.ID)
	}
	if err != nil {
		return err
	}
	return d.Seen.setConfigStatus(ctx, p.ID, p.Status)
}

// targets returns a pipeline's webhooks: the file's, else those an API
// pipeline's SNS topics map to.
func (d *Daemon) targets(pipelineID string) (notify.Targets, bool) {
	for _, p := range d.cfg.Pipelines {
		if p.ID == pipelineID {
			return p.Notifications, true
		}
	}
	return d.Catalog.Targets(pipelineID, d.cfg.API.SNSTopics, d.cfg.API.Secret)
}

func (d *Daemon) limit(pipelineID string) int {
	for _, p := range d.cfg.Pipelines {
		if p.ID == pipelineID {
			return p.Concurrency
		}
	}
	return 0
}

// listen starts the HTTP listener: health, readiness and event webhooks.
func (d *Daemon) listen() (*http.Server, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.ready.Load() || d.Engine.Conn.Status() != nats.CONNECTED {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", d.metrics.Handler())
	creds := map[string]string{}
	for _, c := range d.cfg.API.Credentials {
		creds[c.AccessKey] = c.SecretKey
	}
	apiHandler := api.New(api.Options{Jobs: d.Jobs, Catalog: d.Catalog, Stores: d.cfg.Store,
		Region: d.cfg.API.Region, Account: d.cfg.API.Account, Logger: d.log})
	if d.cfg.API.AuthEnabled() && len(creds) == 0 {
		// Safe by default: a daemon whose file says nothing about the API
		// serves everything else and refuses API requests, saying why.
		d.log.Warn("API: no credentials configured, so every API request is refused; add api.credentials (or api.auth: false for local use)")
		mux.HandleFunc(api.Prefix, func(w http.ResponseWriter, r *http.Request) {
			api.WriteError(w, http.StatusForbidden, "AccessDeniedException",
				"This transcoder has no API credentials configured: set api.credentials in its config file (or api.auth: false for local use).")
		})
	} else {
		authn, err := auth.New(auth.Options{Credentials: creds, Disabled: !d.cfg.API.AuthEnabled(),
			RateLimit: d.cfg.API.RateLimit, RateBurst: d.cfg.API.RateBurst, Logger: d.log})
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		mux.Handle(api.Prefix, authn.Wrap(apiHandler))
	}
	mux.HandleFunc("POST /events/s3/{pipeline}", func(w http.ResponseWriter, r *http.Request) {
		hook := d.hooks[r.PathValue("pipeline")]
		if hook == nil {
			http.Error(w, "no pipeline with a webhook source by that name", http.StatusNotFound)
			return
		}
		hook.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", d.cfg.Listen, err)
	}
	d.addr = ln.Addr().String()
	// Streams of live events end when the daemon stops, not when
	// Shutdown gives up on them; slow or idle clients cannot hold
	// connections for ever.
	base, closeStreams := context.WithCancel(context.Background())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, BaseContext: func(net.Listener) context.Context { return base }}
	srv.RegisterOnShutdown(closeStreams)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("HTTP listener stopped", "err", err)
		}
	}()
	d.log.Info("listening", "addr", d.addr)
	return srv, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
