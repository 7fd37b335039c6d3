// Package apitest runs, for tests, the whole stack behind the Elastic
// Transcoder API in process: a real embedded engine, the job service, the
// catalog, the API handler (behind SigV4 authentication when asked), a
// real MinIO holding the default store's buckets, and a worker running
// real ffmpeg. The API's own tests and the CLI's share it.
package apitest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/api"
	"github.com/transcoder/transcoder/internal/auth"
	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// Options choose the parts of a Stack.
type Options struct {
	// MinIO starts a MinIO whose Buckets are the store "default" (and
	// the same server again as each of OtherStores).
	MinIO       bool
	Buckets     []string
	OtherStores []string
	// Worker runs a worker (real ffmpeg) until the test ends.
	Worker bool
	// Config pipelines, as the daemon gives the catalog from its file.
	Config []*catalog.Pipeline
	// Credentials, when set, put SigV4 authentication in front of the
	// handler (access key → secret).
	Credentials map[string]string
}

// Stack is a running API stack.
type Stack struct {
	Engine  *engine.Engine
	Jobs    *jobs.Service
	Catalog *catalog.Catalog
	Stores  *storage.Stores
	MinIO   *miniotest.Server
	// Handler serves the API, authenticated when Options.Credentials
	// were given; tests put it on a server of their choice.
	Handler http.Handler
}

// Logger is quiet unless the tests run with -v (then warnings show).
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Start starts a stack, stopped when the test ends.
func Start(tb testing.TB, o Options) *Stack {
	tb.Helper()
	ctx := context.Background()
	log := Logger()
	s := &Stack{}
	cfgs := map[string]storage.StoreConfig{}
	if o.MinIO {
		s.MinIO = miniotest.Start(tb)
		for _, b := range o.Buckets {
			s.MinIO.CreateBucket(tb, b)
		}
		sc := storage.StoreConfig{Endpoint: s.MinIO.Endpoint, Region: "us-east-1",
			AccessKey: s.MinIO.AccessKey, SecretKey: s.MinIO.SecretKey}
		cfgs["default"] = sc
		for _, name := range o.OtherStores {
			cfgs[name] = sc
		}
	}
	var err error
	if s.Stores, err = storage.NewStores(cfgs); err != nil {
		tb.Fatal(err)
	}
	if s.Engine, err = engine.Start(ctx, engine.Config{DataDir: tb.TempDir()}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Engine.Close() })
	s.Catalog, err = catalog.Open(ctx, s.Engine.JS, catalog.Options{Presets: presets.NewRegistry(), Config: o.Config, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Catalog.Close)
	s.Jobs, err = jobs.Open(ctx, s.Engine.JS, jobs.ServiceOptions{
		AckWait: 5 * time.Second, MaxDeliver: 2, Presets: s.Catalog, Logger: log,
		Backoff: []time.Duration{200 * time.Millisecond},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Jobs.Close)
	if o.Worker {
		s.startWorker(tb)
	}
	s.Handler = api.New(api.Options{Jobs: s.Jobs, Catalog: s.Catalog, Stores: s.Stores, Logger: log})
	if o.Credentials != nil {
		a, err := auth.New(auth.Options{Credentials: o.Credentials, Logger: log})
		if err != nil {
			tb.Fatal(err)
		}
		s.Handler = a.Wrap(s.Handler)
	}
	return s
}

// startWorker runs a worker with the catalog as its preset lookup, as the
// daemon does, until the test ends.
func (s *Stack) startWorker(tb testing.TB) {
	tb.Helper()
	tools, err := ffmpeg.Locate("", "")
	if err != nil {
		tb.Fatalf("the API tests need ffmpeg and ffprobe: %v", err)
	}
	enc, err := tools.Capabilities(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := s.Jobs.NewWorker(jobs.WorkerOptions{
		Name: "api-test", Concurrency: 2, WorkDir: tb.TempDir(), Tools: tools, Stores: s.Stores,
		Presets: s.Catalog, Caps: jobs.Capabilities{Encoders: enc}, StallTimeout: 30 * time.Second,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			tb.Errorf("worker: %v", err)
		}
	}()
	tb.Cleanup(func() { cancel(); <-done })
}

// Put stores a local file in a bucket of the default store.
func (s *Stack) Put(tb testing.TB, bucket, key, file string) {
	tb.Helper()
	b, err := s.Stores.OpenURL("s3://" + bucket + "/")
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		tb.Fatal(err)
	}
}

// Exists reports whether a key is in a bucket of the default store.
func (s *Stack) Exists(tb testing.TB, bucket, key string) bool {
	tb.Helper()
	b, err := s.Stores.OpenURL("s3://" + bucket + "/")
	if err != nil {
		tb.Fatal(err)
	}
	_, err = b.Stat(context.Background(), key)
	return err == nil
}
