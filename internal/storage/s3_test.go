package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/storage/storagetest"
)

// s3Config is the store of srv, with its root credentials.
func s3Config(srv *miniotest.Server) storage.StoreConfig {
	return storage.StoreConfig{
		Endpoint:     srv.Endpoint,
		AccessKey:    srv.AccessKey,
		SecretKey:    srv.SecretKey,
		ListPageSize: storagetest.PageSize,
	}
}

func newS3(t *testing.T, cfg storage.StoreConfig, bucket, prefix string) *storage.S3 {
	t.Helper()
	b, err := storage.NewS3(cfg, bucket, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3Conformance(t *testing.T) {
	srv := minioServer(t)
	storagetest.Run(t, func(t *testing.T) storage.Bucket {
		// Under a prefix, and with no region so that the client asks the server.
		return newS3(t, s3Config(srv), srv.NewBucket(t), "under/a prefix")
	})
}

func TestS3Prefix(t *testing.T) {
	srv := minioServer(t)
	ctx := t.Context()
	name := srv.NewBucket(t)
	cfg := s3Config(srv)
	cfg.Region = "us-east-1"
	whole := newS3(t, cfg, name, "")
	inner := newS3(t, cfg, name, "out/")
	if _, err := whole.Put(ctx, "outside.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := whole.Put(ctx, "out-of-prefix.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Put(ctx, "a/b.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	var got []string
	for info, err := range whole.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if want := []string{"out-of-prefix.mp4", "out/a/b.mp4", "outside.mp4"}; !slices.Equal(got, want) {
		t.Errorf("whole bucket lists %q; want %q", got, want)
	}
	got = nil
	for info, err := range inner.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if want := []string{"a/b.mp4"}; !slices.Equal(got, want) {
		t.Errorf("out/ lists %q; want %q", got, want)
	}
	if s := inner.String(); s != "s3://"+name+"/out/" {
		t.Errorf("String() = %q", s)
	}
}

func TestS3PresignGet(t *testing.T) {
	srv := minioServer(t)
	ctx := t.Context()
	b := newS3(t, s3Config(srv), srv.NewBucket(t), "in/")
	data := []byte("presigned content for ffmpeg")
	if _, err := b.Put(ctx, "clip one.mp4", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	u, err := b.PresignGet(ctx, "clip one.mp4", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=10-16")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || string(body) != string(data[10:17]) {
		t.Errorf("GET %s with a range: %s %q", u, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "video/mp4" {
		t.Errorf("Content-Type %q", ct)
	}
}

// wantFailure checks that err is of kind, names the endpoint, the bucket and the key,
// and shows none of the secrets.
func wantFailure(t *testing.T, op string, err, kind error, endpoint, bucket, key string, secrets ...string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: %v; want %v", op, err, kind)
		return
	}
	msg := err.Error()
	for _, want := range []string{endpoint, `"` + bucket + `"`, key} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: %q does not mention %s", op, msg, want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("%s: %q shows a secret", op, msg)
		}
	}
	var e *storage.Error
	if !errors.As(err, &e) || e.Endpoint != endpoint || e.Bucket != bucket {
		t.Errorf("%s: %#v is not a *storage.Error for %s %s", op, err, endpoint, bucket)
	}
}

// tryAll runs every operation on b and returns their errors by name.
func tryAll(ctx context.Context, b storage.Bucket, key string) map[string]error {
	errs := map[string]error{}
	_, errs["stat"] = b.Stat(ctx, key)
	r, err := b.Open(ctx, key, 0, -1)
	if err == nil {
		r.Close()
	}
	errs["open"] = err
	_, errs["put"] = b.Put(ctx, key, strings.NewReader("data"), 4)
	_, errs["put multipart"] = b.Put(ctx, key, io.LimitReader(rand.NewChaCha8([32]byte{}), 9<<20), -1)
	errs["delete"] = b.Delete(ctx, key)
	for _, err := range b.List(ctx, "") {
		errs["list"] = err
	}
	return errs
}

func TestS3WrongCredentials(t *testing.T) {
	srv := minioServer(t)
	name := srv.NewBucket(t)
	for _, tt := range []struct {
		name           string
		access, secret string
	}{
		{"wrong secret", srv.AccessKey, "wrong-secret-0123456789"},
		{"unknown access key", "nobody-knows-me", "some-secret-0123456789"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, region := range []string{"", "us-east-1"} {
				cfg := s3Config(srv)
				cfg.AccessKey, cfg.SecretKey, cfg.Region = tt.access, tt.secret, region
				b := newS3(t, cfg, name, "p/")
				for op, err := range tryAll(t.Context(), b, "k.mp4") {
					key := "p/k.mp4"
					if op == "list" {
						key = "p/"
					}
					wantFailure(t, op+" region="+region, err, storage.ErrAccessDenied, srv.Endpoint, name, key, tt.secret, srv.SecretKey)
				}
			}
		})
	}
}

func TestS3MissingBucket(t *testing.T) {
	srv := minioServer(t)
	for _, region := range []string{"", "us-east-1"} {
		cfg := s3Config(srv)
		cfg.Region = region
		b := newS3(t, cfg, "no-such-bucket", "")
		for op, err := range tryAll(t.Context(), b, "k.mp4") {
			if op == "delete" && err == nil {
				continue // S3 may accept deleting from nowhere
			}
			key := "k.mp4"
			if op == "list" {
				key = ""
			}
			wantFailure(t, op+" region="+region, err, storage.ErrNoSuchBucket, srv.Endpoint, "no-such-bucket", key, srv.SecretKey)
		}
	}
}

func TestS3EndpointDown(t *testing.T) {
	addr := miniotest.FreeAddr(t) // nothing listens there
	cfg := storage.StoreConfig{
		Endpoint: "http://" + addr, AccessKey: "access", SecretKey: "secret-never-shown",
		RetryTimeout: 500 * time.Millisecond,
	}
	b := newS3(t, cfg, "media", "in/")
	start := time.Now()
	for op, err := range tryAll(t.Context(), b, "k.mp4") {
		key := "in/k.mp4"
		if op == "list" {
			key = "in/"
		}
		wantFailure(t, op, err, storage.ErrUnavailable, "http://"+addr, "media", key, "secret-never-shown")
		if err != nil && !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%s: %q does not say why", op, err)
		}
	}
	// Six operations, each within its budget (with the slack of the last attempt).
	if elapsed := time.Since(start); elapsed > 6*time.Second {
		t.Errorf("took %v", elapsed)
	}
}

// TestS3SurvivesRestart stops a MinIO server in the middle of a multipart upload and
// of other requests, and starts it again on the same port and data directory within
// the retry window: every operation must complete.
func TestS3SurvivesRestart(t *testing.T) {
	srv := miniotest.Start(t) // its own: this test stops it
	name := srv.NewBucket(t)
	cfg := s3Config(srv)
	cfg.RetryTimeout = 30 * time.Second
	b := newS3(t, cfg, name, "")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := b.Put(ctx, "before.mp4", strings.NewReader("before"), -1); err != nil {
		t.Fatal(err)
	}

	// An upload whose source pauses after the first part until the server is down.
	const size = 20 << 20
	paused, resume := make(chan struct{}), make(chan struct{})
	src := sha256.New()
	gen := io.TeeReader(&pausingReader{
		r: io.LimitReader(rand.NewChaCha8([32]byte{7}), size), at: 9 << 20, paused: paused, resume: resume,
	}, src)
	var wg sync.WaitGroup
	var putErr error
	wg.Go(func() { _, putErr = b.Put(ctx, "during.mp4", gen, -1) })
	<-paused
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	close(resume)
	// Requests made while the server is down.
	var statErr, listErr error
	var listed []string
	wg.Go(func() { _, statErr = b.Stat(ctx, "before.mp4") })
	wg.Go(func() {
		for info, err := range b.List(ctx, "") {
			if err != nil {
				listErr = err
				return
			}
			listed = append(listed, info.Key)
		}
	})
	time.Sleep(time.Second)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("server down for %v (restart included)", time.Since(down).Round(time.Millisecond))
	wg.Wait()
	if putErr != nil || statErr != nil || listErr != nil {
		t.Fatalf("put: %v\nstat: %v\nlist: %v", putErr, statErr, listErr)
	}
	if !slices.Contains(listed, "before.mp4") {
		t.Errorf("listed %q", listed)
	}
	r, err := b.Open(ctx, "during.mp4", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dst := sha256.New()
	if n, err := io.Copy(dst, r); err != nil || n != size {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	if !bytes.Equal(src.Sum(nil), dst.Sum(nil)) {
		t.Error("the object uploaded across the restart differs from its source")
	}
}

// pausingReader reads r, but once at bytes have been read it closes paused and waits
// for resume.
type pausingReader struct {
	r              io.Reader
	at, n          int64
	paused, resume chan struct{}
	done           bool
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if !p.done && p.n >= p.at {
		p.done = true
		close(p.paused)
		<-p.resume
	}
	if !p.done {
		b = b[:min(int64(len(b)), p.at-p.n)]
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}
