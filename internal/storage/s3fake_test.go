package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
)

// These tests put a scripted HTTP server where S3 would be, for failures that a real
// server does not produce on demand.

func fakeS3(t *testing.T, h http.HandlerFunc, retry time.Duration) (*storage.S3, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	yes := true
	b, err := storage.NewS3(storage.StoreConfig{
		Endpoint: srv.URL, Region: "us-east-1", AccessKey: "fake-access", SecretKey: "fake-secret-key",
		PathStyle: &yes, RetryTimeout: retry,
	}, "bucket", "pre/")
	if err != nil {
		t.Fatal(err)
	}
	return b, srv.URL
}

func TestS3RetriesServerErrors(t *testing.T) {
	var calls atomic.Int32
	b, _ := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
		default:
			if r.Method != http.MethodHead || r.URL.Path != "/bucket/pre/k.mp4" {
				t.Errorf("request %s %s", r.Method, r.URL.Path)
			}
			w.Header().Set("Content-Length", "5")
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Content-Type", "video/mp4")
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		}
	}, 10*time.Second)
	info, err := b.Stat(t.Context(), "k.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "k.mp4" || info.Size != 5 || info.ETag != "abc" || info.ContentType != "video/mp4" {
		t.Errorf("Stat = %+v", info)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests; want 3", n)
	}
}

func TestS3GivesUpAfterRetryTimeout(t *testing.T) {
	var calls atomic.Int32
	b, endpoint := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}, time.Second)
	start := time.Now()
	_, err := b.Stat(t.Context(), "k.mp4")
	elapsed := time.Since(start)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Stat: %v; want ErrUnavailable", err)
	}
	if elapsed > 2*time.Second || calls.Load() < 3 {
		t.Errorf("%d attempts in %v; want several within the 1s budget", calls.Load(), elapsed)
	}
	for _, want := range []string{endpoint, `"bucket"`, `"pre/k.mp4"`, "gave up after"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "fake-secret-key") {
		t.Errorf("error %q shows the secret", err)
	}
	t.Log(err)
}

func TestS3DoesNotRetryClientErrors(t *testing.T) {
	var calls atomic.Int32
	b, _ := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>`)
	}, 10*time.Second)
	r, err := b.Open(t.Context(), "k.mp4", 0, -1)
	if err == nil {
		r.Close()
	}
	if !errors.Is(err, storage.ErrAccessDenied) {
		t.Errorf("Open: %v; want ErrAccessDenied", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests for a 403; want 1", calls.Load())
	}
}

// TestS3ResumesBrokenDownload serves an object whose first responses break off after
// a few bytes; the reader must resume with ranged requests pinned to the ETag.
func TestS3ResumesBrokenDownload(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	var mu sync.Mutex
	var ranges []string
	breaks := 3
	b, _ := fakeS3(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range")+" "+r.Header.Get("If-Match"))
		brk := breaks > 0
		breaks--
		mu.Unlock()
		start, end := int64(0), int64(len(data))
		if rg := r.Header.Get("Range"); rg != "" {
			var err error
			s, e, _ := strings.Cut(strings.TrimPrefix(rg, "bytes="), "-")
			if start, err = strconv.ParseInt(s, 10, 64); err != nil {
				t.Errorf("range %q", rg)
			}
			if e != "" {
				last, _ := strconv.ParseInt(e, 10, 64)
				end = min(end, last+1)
			}
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(data)))
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		if r.Header.Get("Range") != "" {
			w.WriteHeader(http.StatusPartialContent)
		}
		body := data[start:end]
		if brk {
			// Send a part, then drop the connection.
			w.Write(body[:len(body)/3])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write(body)
	}, 10*time.Second)

	r, err := b.Open(t.Context(), "obj.bin", 1000, 50_000)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[1000:51_000]) {
		t.Errorf("read %d bytes that differ from the %d wanted", len(got), 50_000)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ranges) != 4 {
		t.Errorf("requests %q; want the first and three resumptions", ranges)
	}
	if ranges[0] != "bytes=1000-50999 " {
		t.Errorf("first request %q", ranges[0])
	}
	for _, rg := range ranges[1:] {
		if !strings.HasSuffix(rg, ` "v1"`) || !strings.HasSuffix(strings.Fields(rg)[0], "-50999") {
			t.Errorf("resumption %q is not pinned to the ETag and the original end", rg)
		}
	}
}
