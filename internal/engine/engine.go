// Package engine starts or joins the NATS JetStream server that holds
// transcoder's state, work queue and events: embedded in the process by
// default, so one machine needs nothing else, or an external cluster by
// URL when one machine is not enough.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says which engine to use.
type Config struct {
	// URL names an external NATS server or cluster, comma-separated
	// (nats://a:4222,nats://b:4222). Empty means an embedded server.
	URL string
	// DataDir holds the embedded server's JetStream storage (the server
	// keeps it under DataDir/jetstream).
	DataDir string
	// Listen, when set (host:port; port 0 picks one), opens the embedded
	// server's client port so that other processes can use it. By default
	// no port is opened: this process talks to it in memory.
	Listen string
	// Name is the embedded server's name; it must be unique in a cluster.
	// Default: the host name.
	Name string
	// Cluster, when set, makes the embedded server a member of a cluster.
	Cluster *ClusterConfig
	// Replicas is how many copies of each stream and bucket a cluster
	// keeps. 0 keeps what the streams have (1 for new ones), or 3 for an
	// embedded cluster of three or more: a process that joins a cluster
	// must not shrink what its members chose.
	Replicas int
	// Options are extra client options (credentials, TLS) for URL.
	Options []nats.Option
	// Logger receives the embedded server's log; nil discards it.
	Logger *slog.Logger
}

// ClusterConfig joins an embedded server to a cluster of embedded
// servers.
type ClusterConfig struct {
	Name   string   // cluster name, the same on every member
	Listen string   // host:port for routes from the other members
	Routes []string // the other members' route addresses, host:port
}

// Engine is a connection to JetStream, and the embedded server when there
// is one.
type Engine struct {
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Replicas int
	server   *server.Server
}

// Start starts the embedded server (or connects to cfg.URL) and waits
// until JetStream answers.
func Start(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{Replicas: cfg.Replicas}
	opts := append([]nats.Option{
		nats.Name("transcoder"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
	}, cfg.Options...)
	var err error
	if cfg.URL != "" {
		e.Conn, err = nats.Connect(cfg.URL, opts...)
		if err != nil {
			return nil, fmt.Errorf("engine: connect to %s: %w", redact(cfg.URL), err)
		}
	} else {
		if e.server, err = startServer(cfg); err != nil {
			return nil, err
		}
		if cfg.Cluster != nil && cfg.Replicas == 0 && len(cfg.Cluster.Routes) >= 2 {
			e.Replicas = 3
		}
		if cfg.Cluster != nil || cfg.Listen != "" {
			// Other members may take over: reconnect to whichever is up.
			e.Conn, err = nats.Connect(e.server.ClientURL(), opts...)
		} else {
			e.Conn, err = nats.Connect("", append(opts, nats.InProcessServer(e.server))...)
		}
		if err != nil {
			e.server.Shutdown()
			return nil, fmt.Errorf("engine: connect to the embedded server: %w", err)
		}
	}
	if e.JS, err = jetstream.New(e.Conn); err != nil {
		e.Close()
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := e.waitReady(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// waitReady waits until JetStream answers: a cluster needs a moment to
// elect its meta leader after starting.
func (e *Engine) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		// Each try has its own short deadline: a request sent before a new
		// cluster has elected its meta leader is never answered.
		actx, cancelTry := context.WithTimeout(ctx, time.Second)
		_, err := e.JS.AccountInfo(actx)
		cancelTry()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("engine: JetStream not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func startServer(cfg Config) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("engine: no data directory for the embedded server")
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("engine: data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: data directory: %w", err)
	}
	name := cfg.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	o := &server.Options{
		ServerName:             name,
		JetStream:              true,
		StoreDir:               dir,
		NoSigs:                 true,
		DisableJetStreamBanner: true,
		DontListen:             cfg.Listen == "" && cfg.Cluster == nil,
		MaxPayload:             8 << 20,
	}
	if !o.DontListen {
		host, port := "127.0.0.1", -1 // a cluster member needs a client port
		if cfg.Listen != "" {
			if host, port, err = splitHostPort(cfg.Listen); err != nil {
				return nil, fmt.Errorf("engine: listen %q: %w", cfg.Listen, err)
			}
		}
		o.Host, o.Port = host, port
	}
	if c := cfg.Cluster; c != nil {
		host, port, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("engine: cluster listen %q: %w", c.Listen, err)
		}
		o.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
		for _, r := range c.Routes {
			u, err := url.Parse("nats://" + r)
			if err != nil {
				return nil, fmt.Errorf("engine: cluster route %q: %w", r, err)
			}
			o.Routes = append(o.Routes, u)
		}
	}
	s, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if cfg.Logger != nil {
		s.SetLoggerV2(&logger{cfg.Logger.With("component", "nats", "server", name)}, false, false, false)
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("engine: embedded server %s did not start", name)
	}
	return s, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", p)
	}
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	return host, port, nil
}

// Server returns the embedded server, or nil when connected by URL.
func (e *Engine) Server() *server.Server { return e.server }

// ClientURL returns a URL other processes can connect to: the external
// URL's first server, or the embedded server's client port ("" when it
// opened none).
func (e *Engine) ClientURL() string {
	if e.server == nil {
		return e.Conn.ConnectedUrlRedacted()
	}
	if e.server.Addr() == nil {
		return ""
	}
	return e.server.ClientURL()
}

// Close drains the connection and stops the embedded server, waiting for
// it to flush its storage.
func (e *Engine) Close() error {
	var err error
	if e.Conn != nil {
		err = e.Conn.Drain()
		deadline := time.Now().Add(5 * time.Second)
		for !e.Conn.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		e.Conn.Close()
	}
	if e.server != nil {
		e.server.Shutdown()
		e.server.WaitForShutdown()
	}
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}

// redact hides credentials in a NATS URL list (nats://a:4222,nats://b:4222)
// before it is logged; a part it cannot read is not shown at all.
func redact(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		switch {
		case err != nil:
			parts[i] = "(unreadable URL)"
		case u.User != nil:
			u.User = url.User("REDACTED")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// logger adapts the embedded server's log to slog.
type logger struct{ l *slog.Logger }

func (l *logger) Noticef(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Warnf(format string, v ...any)   { l.l.Warn(fmt.Sprintf(format, v...)) }
func (l *logger) Fatalf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Errorf(format string, v ...any)  { l.l.Error(fmt.Sprintf(format, v...)) }
func (l *logger) Debugf(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l *logger) Tracef(format string, v ...any)  {}

// jsErrNoPeers is JetStream's "no suitable peers for placement".
const jsErrNoPeers jetstream.ErrorCode = 10005

// Provision runs fn, which creates or updates streams, buckets or
// consumers, and retries it for up to 30 seconds while a cluster that has
// just started cannot yet place replicas (not enough peers have joined)
// or does not answer (a leader is being elected).
func Provision(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		var apiErr *jetstream.APIError
		transient := errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrNoPeers ||
			errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) ||
			errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if err == nil || !transient || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Follow keeps a copy of a KV bucket current: it replays every entry and
// then applies changes until ctx ends, calling put for each value and del
// for each deletion. A watch that ends (the connection lost for good) is
// opened again after a second; its replay brings the copy up to date.
// ready receives nil once the first replay is complete, or the error that
// stopped the first watch from opening (and then Follow returns); it must
// have room for one value.
func Follow(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger, ready chan<- error,
	put func(key string, rev uint64, value []byte), del func(key string, rev uint64)) {
	signalled := false
	signal := func(err error) {
		if !signalled {
			signalled = true
			ready <- err
		}
	}
	for ctx.Err() == nil {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			if !signalled {
				signal(fmt.Errorf("watch %s: %w", kv.Bucket(), err))
				return
			}
			log.Warn("watch failed; retrying", "bucket", kv.Bucket(), "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for e := range w.Updates() {
			switch {
			case e == nil:
				signal(nil)
			case e.Operation() == jetstream.KeyValuePut:
				put(e.Key(), e.Revision(), e.Value())
			default:
				del(e.Key(), e.Revision())
			}
		}
		_ = w.Stop()
	}
	signal(ctx.Err())
}

// ReplicasFor returns the replica count to give a stream (a KV bucket's
// stream is KV_bucket) when creating or updating it: want when it is set,
// else what the stream has now, else 1.
func ReplicasFor(ctx context.Context, js jetstream.JetStream, stream string, want int) int {
	if want > 0 {
		return want
	}
	if st, err := js.Stream(ctx, stream); err == nil {
		return max(st.CachedInfo().Config.Replicas, 1)
	}
	return 1
}
