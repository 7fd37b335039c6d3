package watch_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/watch"
)

// The shared MinIO server of this test binary has a webhook notification target,
// hookTarget, that POSTs to hooks with hookToken (MinIO's auth_token).
const (
	hookTarget = "1"
	hookARN    = "arn:minio:sqs::" + hookTarget + ":webhook"
	hookToken  = "s3cr3t-hook-token"
)

var (
	shared *miniotest.Server
	hooks  = &hookMux{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	slog.SetDefault(slog.New(logs))
	hookSrv := httptest.NewServer(hooks)
	defer hookSrv.Close()

	dir, err := os.MkdirTemp("", "watch-test-minio-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// miniotest passes our environment to the server: the webhook target is
	// configured the way an operator would, by MINIO_NOTIFY_WEBHOOK_* variables. They
	// are set only while this server starts, so that other servers have no target.
	env := map[string]string{
		"MINIO_NOTIFY_WEBHOOK_ENABLE_" + hookTarget:     "on",
		"MINIO_NOTIFY_WEBHOOK_ENDPOINT_" + hookTarget:   hookSrv.URL + "/events/s3/test",
		"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_" + hookTarget: hookToken,
	}
	for k, v := range env {
		os.Setenv(k, v)
	}
	start := time.Now()
	shared, err = miniotest.Launch(dir)
	for k := range env {
		os.Unsetenv(k)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer shared.Stop()
	fmt.Fprintf(os.Stderr, "watch tests: MinIO ready at %s in %s\n", shared.Endpoint, time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// hookMux receives the shared server's webhook deliveries: it records each one and
// passes it to the handler a test installed.
type hookMux struct {
	handler atomic.Pointer[http.Handler]

	mu         sync.Mutex
	deliveries []delivery
}

// delivery is one recorded webhook request.
type delivery struct {
	Path, Authorization string
	Body                []byte
}

func (h *hookMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.deliveries = append(h.deliveries, delivery{r.URL.Path, r.Header.Get("Authorization"), body})
	h.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if p := h.handler.Load(); p != nil {
		(*p).ServeHTTP(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// use installs handler for the rest of the test.
func (h *hookMux) use(t *testing.T, handler http.Handler) {
	h.handler.Store(&handler)
	t.Cleanup(func() { h.handler.Store(nil) })
}

// recorded returns the deliveries so far.
func (h *hookMux) recorded() []delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]delivery(nil), h.deliveries...)
}

// s3Bucket opens the location bucket/prefix on srv.
func s3Bucket(t *testing.T, srv *miniotest.Server, bucket, prefix string) *storage.S3 {
	t.Helper()
	b, err := storage.NewS3(storage.StoreConfig{
		Endpoint:  srv.Endpoint,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Region:    "us-east-1",
		PartSize:  5 << 20, // so that 20 MB is a four-part multipart upload
	}, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// put stores data at key in b.
func put(t *testing.T, b storage.Bucket, key string, data []byte) storage.ObjectInfo {
	t.Helper()
	oi, err := b.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return oi
}

// collector runs a source and gathers what it reports.
type collector struct {
	t       *testing.T
	found   chan watch.Object
	done    chan error
	pending []watch.Object // read from found by awaitSubscribed, not yet by anyone else
}

// start runs src until the test ends.
func start(t *testing.T, src watch.Source) *collector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{t: t, found: make(chan watch.Object, 1000), done: make(chan error, 1)}
	go func() { c.done <- src.Run(ctx, func(o watch.Object) { c.found <- o }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("Run returned %v after the context ended; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of the context ending")
		}
	})
	return c
}

// await waits until every key in want has been reported, and returns the last
// report of each key seen meanwhile (wanted or not).
func (c *collector) await(timeout time.Duration, want ...string) map[string]watch.Object {
	c.t.Helper()
	got := map[string]watch.Object{}
	missing := map[string]bool{}
	for _, k := range want {
		missing[k] = true
	}
	for len(c.pending) > 0 && len(missing) > 0 {
		o := c.pending[0]
		c.pending = c.pending[1:]
		got[o.Key] = o
		delete(missing, o.Key)
	}
	deadline := time.After(timeout)
	for len(missing) > 0 {
		select {
		case o := <-c.found:
			got[o.Key] = o
			delete(missing, o.Key)
		case err := <-c.done:
			c.t.Fatalf("Run returned early: %v", err)
		case <-deadline:
			c.t.Fatalf("not reported within %s: %q (reported: %v)", timeout, keys(missing), got)
		}
	}
	return got
}

// quiet collects what is reported during d.
func (c *collector) quiet(d time.Duration) []watch.Object {
	got := c.pending
	c.pending = nil
	deadline := time.After(d)
	for {
		select {
		case o := <-c.found:
			got = append(got, o)
		case <-deadline:
			return got
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// awaitSubscribed puts probe objects into b until the source reports one: a listener
// reports only what is created once its subscription has reached the server, which
// nothing else tells. Other objects reported meanwhile are kept for await.
func (c *collector) awaitSubscribed(b storage.Bucket) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		put(c.t, b, fmt.Sprintf("probe-%d.mp4", i), []byte("probe"))
		wait := time.After(200 * time.Millisecond)
	read:
		for {
			select {
			case o := <-c.found:
				if isProbe(o.Key) {
					return
				}
				c.pending = append(c.pending, o)
			case err := <-c.done:
				c.t.Fatalf("Run returned early: %v", err)
			case <-wait:
				break read
			}
		}
	}
	c.t.Fatal("no probe object was reported within 20s: not subscribed")
}

func isProbe(key string) bool { return strings.HasPrefix(key, "probe-") }

// logs keeps the warnings the package logs, for tests to check, and prints them.
var logs = &logCapture{out: slog.NewTextHandler(os.Stderr, nil)}

type logCapture struct {
	out slog.Handler

	mu      sync.Mutex
	records []slog.Record
}

func (h *logCapture) Enabled(ctx context.Context, l slog.Level) bool { return h.out.Enabled(ctx, l) }
func (h *logCapture) WithAttrs(as []slog.Attr) slog.Handler          { return h } // unused by the package
func (h *logCapture) WithGroup(string) slog.Handler                  { return h }
func (h *logCapture) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return h.out.Handle(ctx, r)
}

// count returns how many records with msg and attribute location=loc were logged.
func (h *logCapture) count(msg, loc string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "location" && a.Value.String() == loc {
				n++
				return false
			}
			return true
		})
	}
	return n
}
