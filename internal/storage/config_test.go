package storage

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestResolveS3Config(t *testing.T) {
	yes, no := true, false
	awsEnv := map[string]string{
		"AWS_ACCESS_KEY_ID":     "AKIAENV",
		"AWS_SECRET_ACCESS_KEY": "env-secret",
		"AWS_SESSION_TOKEN":     "env-token",
		"AWS_REGION":            "eu-west-3",
		"AWS_DEFAULT_REGION":    "us-west-2",
		"AWS_ENDPOINT_URL_S3":   "https://s3.env.example",
		"AWS_ENDPOINT_URL":      "https://generic.env.example",
	}
	for _, tt := range []struct {
		name     string
		cfg      StoreConfig
		env      map[string]string
		endpoint string
		secure   bool
		region   string
		access   string
		lookup   minio.BucketLookupType
	}{
		{
			name:     "all from config",
			cfg:      StoreConfig{Endpoint: "http://127.0.0.1:9000", Region: "r1", AccessKey: "ak", SecretKey: "sk", PathStyle: &yes},
			env:      awsEnv,
			endpoint: "http://127.0.0.1:9000", region: "r1", access: "ak", lookup: minio.BucketLookupPath,
		},
		{
			name:     "all from the environment",
			env:      awsEnv,
			endpoint: "https://s3.env.example", secure: true, region: "eu-west-3", access: "AKIAENV",
		},
		{
			name:     "AWS_ENDPOINT_URL and AWS_DEFAULT_REGION as the last resort",
			env:      map[string]string{"AWS_ENDPOINT_URL": "http://minio:9000", "AWS_DEFAULT_REGION": "us-west-2"},
			endpoint: "http://minio:9000", region: "us-west-2",
		},
		{
			name:     "AWS itself by default",
			endpoint: "https://s3.amazonaws.com", secure: true,
		},
		{
			name:     "a bare host means https",
			cfg:      StoreConfig{Endpoint: "storage.example:8443/", PathStyle: &no},
			endpoint: "https://storage.example:8443", secure: true, lookup: minio.BucketLookupDNS,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolveS3Config(tt.cfg, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if s.endpoint != tt.endpoint || s.secure != tt.secure || s.opts.Region != tt.region || s.opts.BucketLookup != tt.lookup {
				t.Errorf("got endpoint %q secure %v region %q lookup %v; want %q %v %q %v",
					s.endpoint, s.secure, s.opts.Region, s.opts.BucketLookup, tt.endpoint, tt.secure, tt.region, tt.lookup)
			}
			if s.opts.MaxRetries != 1 {
				t.Errorf("minio-go retries %d times; ours should be the only retries", s.opts.MaxRetries)
			}
			if tt.access != "" {
				v, err := s.opts.Creds.GetWithContext(nil)
				if err != nil {
					t.Fatal(err)
				}
				if v.AccessKeyID != tt.access {
					t.Errorf("access key %q; want %q", v.AccessKeyID, tt.access)
				}
			}
		})
	}
}

func TestResolveS3ConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  StoreConfig
		want string
	}{
		{StoreConfig{AccessKey: "only-access"}, "set both or neither"},
		{StoreConfig{SecretKey: "only-secret"}, "set both or neither"},
		{StoreConfig{Endpoint: "ftp://host"}, "http or https"},
		{StoreConfig{Endpoint: "https://user:hunter2@host"}, "not in the URL"},
		{StoreConfig{Endpoint: "https://host/path"}, "no path"},
		{StoreConfig{Endpoint: "https://host?x=1"}, "no path"},
		{StoreConfig{PartSize: 1 << 20}, "part_size"},
		{StoreConfig{ListPageSize: 5000}, "list_page_size"},
		{StoreConfig{Endpoint: "https://h", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
	} {
		_, err := resolveS3Config(tt.cfg, env(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v; want one mentioning %q", tt.cfg, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestStoreConfigHidesSecret(t *testing.T) {
	cfg := StoreConfig{Endpoint: "http://h", AccessKey: "ak", SecretKey: "super-secret"}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("store", "cfg", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", &cfg), logged.String()} {
		if strings.Contains(s, "super-secret") {
			t.Errorf("%q shows the secret", s)
		}
		if !strings.Contains(s, "http://h") {
			t.Errorf("%q does not show the endpoint", s)
		}
	}
}

func TestNewStores(t *testing.T) {
	for name, want := range map[string]string{
		"s3":      `name the store "default"`,
		"file":    "taken",
		"https":   "taken",
		"Upper":   "lower-case",
		"9lives":  "starting with a letter",
		"has_und": "lower-case",
	} {
		_, err := NewStores(map[string]StoreConfig{name: {Endpoint: "http://h"}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("store name %q: %v; want an error mentioning %q", name, err, want)
		}
	}
	if _, err := NewStores(map[string]StoreConfig{"minio": {AccessKey: "x"}}); err == nil || !strings.Contains(err.Error(), `store "minio"`) {
		t.Errorf("half credentials: %v; want an error naming the store", err)
	}
}

func TestStoresOpen(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
		"AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://env.example:9000")
	dir := t.TempDir()
	open := func(s *Stores, raw string) Bucket {
		t.Helper()
		b, err := s.OpenURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withDefault, err := NewStores(map[string]StoreConfig{
		"default": {Endpoint: "http://default.example:9000"},
		"minio":   {Endpoint: "http://minio.example:9000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	envOnly, err := NewStores(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		stores   *Stores
		raw      string
		endpoint string
		str      string
	}{
		{withDefault, "s3://media/in/", "http://default.example:9000", "s3://media/in/"},
		{withDefault, "default://media/in", "http://default.example:9000", "default://media/in/"},
		{withDefault, "minio://media", "http://minio.example:9000", "minio://media/"},
		{envOnly, "s3://media/in/", "http://env.example:9000", "s3://media/in/"},
	} {
		b := open(tt.stores, tt.raw)
		s3, ok := b.(*S3)
		if !ok {
			t.Fatalf("%s: opened a %T", tt.raw, b)
		}
		if s3.c.endpoint != tt.endpoint || s3.String() != tt.str {
			t.Errorf("%s: endpoint %s, String %q; want %s, %q", tt.raw, s3.c.endpoint, s3.String(), tt.endpoint, tt.str)
		}
	}
	// Buckets of one store share its client.
	if open(withDefault, "minio://aaa").(*S3).c != open(withDefault, "minio://bbb/x").(*S3).c {
		t.Error("two buckets of one store have different clients")
	}
	if l, ok := open(envOnly, "file://"+dir).(*Local); !ok || l.String() != "file://"+dir {
		t.Errorf("file URL opened %v", l)
	}
	_, err = withDefault.OpenURL("nas://media/")
	if err == nil || !strings.Contains(err.Error(), `no store named "nas"`) || !strings.Contains(err.Error(), "default, minio") {
		t.Errorf("unknown store: %v", err)
	}
}

func TestRetryable(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	resp := func(status int, code string) error { return minio.ErrorResponse{StatusCode: status, Code: code} }
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tt := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection refused", ctx, &url.Error{Op: "Get", URL: "http://x", Err: opErr}, true},
		{"connection reset", ctx, fmt.Errorf("wrapped: %w", syscall.ECONNRESET), true},
		{"unexpected EOF", ctx, io.ErrUnexpectedEOF, true},
		{"500", ctx, resp(500, "InternalError"), true},
		{"502 without code", ctx, resp(502, "502 Bad Gateway"), true},
		{"503 SlowDown", ctx, resp(503, "SlowDown"), true},
		{"503 MinIO starting", ctx, resp(503, "XMinioServerNotInitialized"), true},
		{"429", ctx, resp(429, "TooManyRequests"), true},
		{"408", ctx, resp(408, "RequestTimeout"), true},
		{"404", ctx, resp(404, "NoSuchKey"), false},
		{"403", ctx, resp(403, "AccessDenied"), false},
		{"400", ctx, resp(400, "InvalidArgument"), false},
		{"clock skew", ctx, resp(403, "RequestTimeTooSkewed"), false},
		{"unknown authority", ctx, &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, false},
		{"no such host", ctx, &url.Error{Op: "Get", URL: "https://x", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}, false},
		{"DNS timeout", ctx, &url.Error{Op: "Get", URL: "https://x", Err: &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}}, true},
		{"HTTP to an HTTPS endpoint", ctx, &url.Error{Op: "Get", URL: "https://x", Err: errors.New("http: server gave HTTP response to HTTPS client")}, false},
		{"canceled", canceled, &url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, false},
		{"other", ctx, errors.New("something else"), false},
	} {
		if got := retryable(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: retryable = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestBackoffStaysInBudget(t *testing.T) {
	p := retryPolicy{timeout: 2 * time.Second, base: 100 * time.Millisecond, max: time.Second}
	bo := p.begin()
	transient := io.ErrUnexpectedEOF
	var total time.Duration
	prevMax := time.Duration(0)
	for {
		d, ok := bo.next(context.Background(), transient)
		if !ok {
			break
		}
		ceiling := min(p.base<<(bo.attempts-1), p.max)
		if d < ceiling/2 || d > ceiling {
			t.Errorf("attempt %d: wait %v outside [%v, %v]", bo.attempts, d, ceiling/2, ceiling)
		}
		prevMax = max(prevMax, d)
		total += d
		bo.start = bo.start.Add(-d) // pretend we slept
	}
	if total > p.timeout {
		t.Errorf("waited %v in all; budget %v", total, p.timeout)
	}
	if bo.attempts < 4 {
		t.Errorf("only %d attempts in a %v budget", bo.attempts, p.timeout)
	}
	if _, ok := p.begin().next(context.Background(), errors.New("permanent")); ok {
		t.Error("a permanent error was retried")
	}
	if _, ok := newRetryPolicy(-1).begin().next(context.Background(), transient); ok {
		t.Error("a negative timeout still retries")
	}
}

func TestCheckLocalKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"a":                  true,
		"a/b/c.mp4":          true,
		".hidden":            true,
		"a..b":               true,
		"back\\slash":        true,
		"":                   false,
		"/abs":               false,
		"a/":                 false,
		"a//b":               false,
		"./a":                false,
		"a/./b":              false,
		"a/../b":             false,
		"..":                 false,
		"a\x00b":             false,
		"x/.transcoder-tmp-": false,
	} {
		if err := checkLocalKey(key); (err == nil) != ok {
			t.Errorf("checkLocalKey(%q) = %v; want ok=%v", key, err, ok)
		}
	}
}
