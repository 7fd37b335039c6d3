package watch_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/watch"
)

// resubscribeMsg is what the listener logs each time it resubscribes.
const resubscribeMsg = "watch: MinIO listen subscription ended, resubscribing"

// listenStreams reports whether srv's listen API delivers a single event to a Go
// client within a few seconds. The pinned MinIO does not: its trackingResponseWriter
// (minio/minio commit 52eee5a2f, #21651) lacks Flush, so the event stream stays in
// the server's 4 KB socket buffer, and Go's chunked reader (minio-go's scanner reads
// 4 MB at a time) waits for the rest of a chunk that never comes. See docs/events.md.
func listenStreams(t *testing.T, srv *miniotest.Server) bool {
	t.Helper()
	name := srv.NewBucket(t)
	mc, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	ch := mc.ListenBucketNotification(ctx, name, "", "", []string{"s3:ObjectCreated:*"})
	go func() {
		time.Sleep(time.Second)
		mc.PutObject(ctx, name, "one.mp4", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	}()
	for info := range ch {
		if len(info.Records) > 0 {
			return true
		}
	}
	return false
}

// TestListenAPISendsRawKeys records what MinIO's listen API sends for tricky keys,
// the evidence behind the listener's default key encoding (raw). It reads the stream
// through a small buffer, byte by byte as it arrives, so that it works even with the
// pinned server, which only sends once about 4 KB have piled up.
func TestListenAPISendsRawKeys(t *testing.T) {
	t.Parallel()
	name := shared.NewBucket(t)
	b := s3Bucket(t, shared, name, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		shared.Endpoint+"/"+name+"?events=s3%3AObjectCreated%3A%2A&ping=1&prefix=&suffix=", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	req = signer.SignV4(*req, shared.AccessKey, shared.SecretKey, "", "us-east-1")
	go func() {
		// Tricky keys, then filler until the server's buffer spills.
		time.Sleep(500 * time.Millisecond)
		for _, k := range trickyKeys {
			b.Put(ctx, k, strings.NewReader("x"), 1)
		}
		for i := 0; ctx.Err() == nil; i++ {
			b.Put(ctx, fmt.Sprintf("filler-%d.mp4", i), strings.NewReader("x"), 1)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	missing := map[string]bool{}
	for _, k := range trickyKeys {
		missing[k] = true
	}
	lines := bufio.NewReaderSize(resp.Body, 16) // small reads: do not wait for whole chunks
	for len(missing) > 0 {
		line, err := lines.ReadBytes('\n')
		if err != nil {
			t.Fatalf("listen stream: %v; keys not seen: %q", err, keys(missing))
		}
		var info notification.Info
		if json.Unmarshal(line, &info) != nil {
			continue
		}
		for _, rec := range info.Records {
			raw := rec.S3.Object.Key
			if missing[raw] {
				delete(missing, raw)
				if raw == "in/Café del Mar +1 100%.mp4" {
					t.Logf("MinIO listen API sent key %q for object %q (raw)", raw, raw)
				}
			}
			if got, _ := url.QueryUnescape(raw); got != raw && missing[got] {
				t.Errorf("MinIO listen API sent %q, the form-encoded key of %q", raw, got)
				delete(missing, got)
			}
		}
	}
}

// TestListener checks what the listener reports through MinIO's listen API: puts,
// a multipart upload, a copy, tricky keys decoded right, and nothing ignored or outside
// the prefix.
func TestListener(t *testing.T) {
	t.Parallel()
	if !listenStreams(t, shared) {
		t.Fatal("the test MinIO does not flush its listen stream (trackingResponseWriter without Flush, " +
			"minio/minio#21651), so no listen event reaches a Go client: rebuild it with the fix, `make minio`")
	}
	name := shared.NewBucket(t)
	b := s3Bucket(t, shared, name, "in/")
	whole := s3Bucket(t, shared, name, "")
	l, err := watch.NewListener(b, watch.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, l)
	c.awaitSubscribed(b)

	want := map[string]storage.ObjectInfo{}
	for _, k := range trickyKeys {
		want[k] = put(t, b, k, []byte("content of "+k))
	}
	// 20 MB in 5 MiB parts: a multipart upload, which emits
	// s3:ObjectCreated:CompleteMultipartUpload.
	big := put(t, b, "big 20MB +multipart.mp4", bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16))
	if !strings.HasSuffix(big.ETag, "-4") {
		t.Errorf("big object ETag %q: not a four-part multipart upload", big.ETag)
	}
	want["big 20MB +multipart.mp4"] = big
	// A server-side copy emits s3:ObjectCreated:Copy.
	mc, err := shared.Client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.CopyObject(context.Background(),
		minio.CopyDestOptions{Bucket: name, Object: "in/copied.mp4"},
		minio.CopySrcOptions{Bucket: name, Object: "in/plain.mp4"}); err != nil {
		t.Fatal(err)
	}
	want["copied.mp4"] = want["plain.mp4"]
	// Neither of these may be reported.
	put(t, b, ".hidden.mp4", []byte("ignored"))
	put(t, whole, "out/elsewhere.mp4", []byte("outside the prefix"))

	got := c.await(20*time.Second, keys(want)...)
	for k, w := range want {
		if o := got[k]; o.ETag != w.ETag || o.Size != w.Size || o.ModTime.IsZero() {
			t.Errorf("%q reported as %+v; want ETag %s, size %d and a time", k, o, w.ETag, w.Size)
		}
	}
	for _, o := range c.quiet(300 * time.Millisecond) {
		if !isProbe(o.Key) && want[o.Key].ETag == "" {
			t.Errorf("reported %q, which is ignored or outside the location", o.Key)
		}
	}
}

// TestListenerResubscribes restarts MinIO under two listeners. Both must notice,
// warn, and resubscribe with backoff; the one with catch-up reports, from its catch-up
// listing once resubscribed, an object that no event announced. When the server's
// listen stream works, both must also report what is created after the restart.
func TestListenerResubscribes(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t)
	b := s3Bucket(t, srv, srv.NewBucket(t), "")
	put(t, b, "before.mp4", []byte("created before anyone listened"))
	streams := listenStreams(t, srv)

	opts := watch.ListenOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond}
	newListener := func(opts watch.ListenOptions) *watch.Listener {
		l, err := watch.NewListener(b, opts)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	liveOpts := opts
	liveOpts.NoCatchUp = true
	live := start(t, newListener(liveOpts))
	catchUp := start(t, newListener(opts))
	if streams {
		live.awaitSubscribed(b)
		catchUp.awaitSubscribed(b)
	}
	// The first subscription has no catch-up: the caller's reconcile covers it.
	for _, o := range catchUp.quiet(1500 * time.Millisecond) {
		if o.Key == "before.mp4" {
			t.Fatal("before.mp4 reported on the first subscription")
		}
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.count(resubscribeMsg, b.String()) < 4 { // two listeners, at least twice each
		if time.Now().After(deadline) {
			t.Fatalf("%d resubscription warnings within 5s of stopping MinIO; want at least 4", logs.count(resubscribeMsg, b.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// A catch-up listing runs only on a subscription that has lasted a second.
	catchUp.await(10*time.Second, "before.mp4")
	settledAt := logs.count(resubscribeMsg, b.String())
	time.Sleep(time.Second)
	if n := logs.count(resubscribeMsg, b.String()); n != settledAt {
		t.Errorf("%d more resubscription warnings after MinIO came back; want none", n-settledAt)
	}
	for _, o := range live.quiet(0) {
		if o.Key == "before.mp4" {
			t.Error("the listener without catch-up reported before.mp4, for which no event was sent")
		}
	}
	if !streams {
		t.Fatal("the test MinIO does not flush its listen stream (minio/minio#21651): rebuild it with the fix, `make minio`")
	}
	live.awaitSubscribed(b)
	put(t, b, "after restart.mp4", []byte("created after the restart"))
	live.await(10*time.Second, "after restart.mp4")
	catchUp.await(10*time.Second, "after restart.mp4")
}

// TestListenerRefusesOtherStores checks that the listen source says clearly that it
// needs MinIO. Ceph RGW and Garage take the listen request for a ListObjects and answer
// XML, and other servers answer 501; no such server runs here, so a loopback HTTP
// server answers as they do.
func TestListenerRefusesOtherStores(t *testing.T) {
	t.Parallel()
	local, err := storage.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.NewListener(local, watch.ListenOptions{}); err == nil {
		t.Error("NewListener accepted a local directory")
	}

	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"lists objects instead (Ceph, Garage)", http.StatusOK,
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>media</Name></ListBucketResult>`},
		{"not implemented", http.StatusNotImplemented,
			`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>NotImplemented</Code><Message>not implemented</Message></Error>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer fake.Close()
			b, err := storage.NewS3(storage.StoreConfig{Endpoint: fake.URL, AccessKey: "k", SecretKey: "secret", Region: "us-east-1",
				RetryTimeout: -1}, "media", "in/")
			if err != nil {
				t.Fatal(err)
			}
			l, err := watch.NewListener(b, watch.ListenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = l.Run(ctx, func(o watch.Object) { t.Errorf("reported %+v", o) })
			if !errors.Is(err, watch.ErrListenUnsupported) {
				t.Fatalf("Run = %v; want ErrListenUnsupported", err)
			}
			if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "media") {
				t.Errorf("error %q: want the location named and no credentials", err)
			}
		})
	}
}
