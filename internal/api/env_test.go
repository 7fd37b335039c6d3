package api_test

// The test environment: a real embedded engine, a real MinIO for the
// buckets, the real job service and catalog, a real worker running real
// ffmpeg, and the API on an httptest server, driven by the real Elastic
// Transcoder client of the AWS SDK for Go v2.

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	et "github.com/aws/aws-sdk-go-v2/service/elastictranscoder"

	"github.com/transcoder/transcoder/internal/api"
	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// configID is the ID of the configured (read-only) pipeline of every
// environment.
const configID = "1700000000000-config"

type testEnv struct {
	eng    *engine.Engine
	svc    *jobs.Service
	cat    *catalog.Catalog
	stores *storage.Stores
	minio  *miniotest.Server
	srv    *httptest.Server
	client *et.Client
}

// options of newEnv.
type envOptions struct {
	minio  bool // start MinIO with buckets "inbox" and "outbox" as the default store
	worker bool // run a worker (real ffmpeg)
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	ctx := context.Background()
	e := &testEnv{}
	log := quietLogger()
	cfgs := map[string]storage.StoreConfig{}
	if o.minio {
		e.minio = miniotest.Start(t)
		for _, b := range []string{"inbox", "outbox", "other-out"} {
			e.minio.CreateBucket(t, b)
		}
		sc := storage.StoreConfig{Endpoint: e.minio.Endpoint, Region: "us-east-1",
			AccessKey: e.minio.AccessKey, SecretKey: e.minio.SecretKey}
		cfgs["default"], cfgs["other"] = sc, sc
	}
	var err error
	if e.stores, err = storage.NewStores(cfgs); err != nil {
		t.Fatal(err)
	}
	if e.eng, err = engine.Start(ctx, engine.Config{DataDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.eng.Close() })
	reg := presets.NewRegistry()
	e.cat, err = catalog.Open(ctx, e.eng.JS, catalog.Options{
		Presets: reg, Logger: log,
		Config: []*catalog.Pipeline{catalog.ConfigPipeline(configID, "configured", "s3://inbox/", "s3://outbox/", "")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cat.Close)
	e.svc, err = jobs.Open(ctx, e.eng.JS, jobs.ServiceOptions{
		AckWait: 5 * time.Second, MaxDeliver: 2, Presets: e.cat, Logger: log,
		Backoff: []time.Duration{200 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	if o.worker {
		e.startWorker(t)
	}
	e.srv = httptest.NewServer(api.New(api.Options{Jobs: e.svc, Catalog: e.cat, Stores: e.stores, Logger: log}))
	t.Cleanup(e.srv.Close)
	e.client = et.NewFromConfig(aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		BaseEndpoint: aws.String(e.srv.URL),
	})
	return e
}

var tools = sync.OnceValues(func() (jobs.Capabilities, error) {
	t, err := ffmpeg.Locate("", "")
	if err != nil {
		return jobs.Capabilities{}, err
	}
	enc, err := t.Capabilities(context.Background())
	return jobs.Capabilities{Encoders: enc}, err
})

// startWorker runs a worker with the catalog as its preset lookup, as the
// daemon does, until the test ends.
func (e *testEnv) startWorker(t testing.TB) {
	t.Helper()
	caps, err := tools()
	if err != nil {
		t.Fatalf("the API tests need ffmpeg and ffprobe: %v", err)
	}
	tl, _ := ffmpeg.Locate("", "")
	ctx, cancel := context.WithCancel(context.Background())
	w := e.svc.NewWorker(jobs.WorkerOptions{
		Name: "api-test", Concurrency: 2, WorkDir: t.TempDir(), Tools: tl, Stores: e.stores,
		Presets: e.cat, Caps: caps, StallTimeout: 30 * time.Second,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// put stores a local file in a bucket of the default store.
func (e *testEnv) put(t testing.TB, bucket, key, file string) {
	t.Helper()
	b, err := e.stores.OpenURL("s3://" + bucket + "/")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

// exists reports whether an object is in a bucket of the default store.
func (e *testEnv) exists(t testing.TB, bucket, key string) bool {
	t.Helper()
	b, err := e.stores.OpenURL("s3://" + bucket + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Stat(context.Background(), key)
	return err == nil
}

// do sends a raw request to the API.
func (e *testEnv) do(t testing.TB, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}
