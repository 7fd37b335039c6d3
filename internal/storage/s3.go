package storage

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Multipart upload limits (S3's) and our defaults.
const (
	// DefaultPartSize is the multipart part size when the store's configuration does
	// not set one (objects of known size use larger parts when 10,000 parts of this
	// size would not hold them). An upload doubles its part size every 1000 parts, so
	// that the 10,000-part limit still allows streams of several terabytes.
	DefaultPartSize = 8 << 20
	minPartSize     = 5 << 20
	maxPartSize     = 5 << 30
	maxParts        = 10000
	maxObjectSize   = 5 << 40
	// uploadConcurrency is how many parts of one upload are in memory (and in flight)
	// at once.
	uploadConcurrency = 2
	defaultPageSize   = 1000
	defaultEndpoint   = "https://s3.amazonaws.com"
)

// s3Client is one store's client, shared by the buckets opened on it.
type s3Client struct {
	core     minio.Core
	endpoint string // the endpoint URL, for messages
	retry    retryPolicy
	partSize int64
	pageSize int
	secrets  []string // never to appear in errors
	bufs     sync.Pool
}

// s3Settings is a StoreConfig resolved against the environment.
type s3Settings struct {
	endpoint string // URL for messages
	host     string // host[:port] for minio-go
	secure   bool
	opts     minio.Options
	retry    retryPolicy
	partSize int64
	pageSize int
	secrets  []string
}

// resolveS3Config checks cfg, fills its empty fields from getenv, and turns it into
// minio-go options.
func resolveS3Config(cfg StoreConfig, getenv func(string) string) (s3Settings, error) {
	cfg = cfg.withEnv(getenv)
	if cfg.Endpoint == "" {
		cfg.Endpoint = defaultEndpoint
	}
	raw := cfg.Endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return s3Settings{}, fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return s3Settings{}, fmt.Errorf("endpoint %q: the scheme must be http or https", cfg.Endpoint)
	case u.User != nil:
		return s3Settings{}, fmt.Errorf("endpoint %s: put credentials in access_key and secret_key, not in the URL", u.Redacted())
	case u.Host == "":
		return s3Settings{}, fmt.Errorf("endpoint %q: no host", cfg.Endpoint)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return s3Settings{}, fmt.Errorf("endpoint %q: an S3 endpoint has no path, query or fragment", cfg.Endpoint)
	}
	s := s3Settings{
		endpoint: u.Scheme + "://" + u.Host,
		host:     u.Host,
		secure:   u.Scheme == "https",
		retry:    newRetryPolicy(cfg.RetryTimeout),
		partSize: cfg.PartSize,
		pageSize: cfg.ListPageSize,
	}
	switch {
	case s.partSize == 0:
		s.partSize = DefaultPartSize
	case s.partSize < minPartSize || s.partSize > maxPartSize:
		return s3Settings{}, fmt.Errorf("part_size %d: want 5 MiB to 5 GiB", cfg.PartSize)
	}
	switch {
	case s.pageSize == 0:
		s.pageSize = defaultPageSize
	case s.pageSize < 0 || s.pageSize > 1000:
		return s3Settings{}, fmt.Errorf("list_page_size %d: want 1 to 1000", cfg.ListPageSize)
	}

	var creds *credentials.Credentials
	switch {
	case (cfg.AccessKey == "") != (cfg.SecretKey == ""):
		return s3Settings{}, errNoSecret
	case cfg.AccessKey != "":
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
		s.secrets = []string{cfg.SecretKey}
	case getenv("AWS_ACCESS_KEY_ID") != "":
		secret, token := getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
		creds = credentials.NewStaticV4(getenv("AWS_ACCESS_KEY_ID"), secret, token)
		s.secrets = []string{secret, token}
	default:
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}

	tr, err := minio.DefaultTransport(s.secure)
	if err != nil {
		return s3Settings{}, err
	}
	if s.secure && (cfg.InsecureSkipVerify || cfg.CAFile != "") {
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return s3Settings{}, fmt.Errorf("ca_file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return s3Settings{}, fmt.Errorf("ca_file %s: no PEM certificates", cfg.CAFile)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		tr.TLSClientConfig.InsecureSkipVerify = cfg.InsecureSkipVerify
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle != nil {
		lookup = minio.BucketLookupDNS
		if *cfg.PathStyle {
			lookup = minio.BucketLookupPath
		}
	}
	s.opts = minio.Options{
		Creds:        creds,
		Secure:       s.secure,
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		// Retries are ours (retry.go): one budget for all requests, including those
		// minio-go would not retry (bucket location lookups), and per part rather
		// than per upload.
		MaxRetries: 1,
	}
	return s, nil
}

func newS3Client(cfg StoreConfig, getenv func(string) string) (*s3Client, error) {
	s, err := resolveS3Config(cfg, getenv)
	if err != nil {
		return nil, err
	}
	opts := s.opts
	core, err := minio.NewCore(s.host, &opts)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", s.endpoint, err)
	}
	c := &s3Client{
		core:     *core,
		endpoint: s.endpoint,
		retry:    s.retry,
		partSize: s.partSize,
		pageSize: s.pageSize,
		secrets:  s.secrets,
	}
	c.bufs.New = func() any {
		b := make([]byte, c.partSize)
		return &b
	}
	return c, nil
}

// S3 is a [Bucket] on an S3-compatible store: the objects of one bucket whose keys
// start with a prefix.
//
// Requests that fail with network errors, 5xx, 408 or 429 responses or throttling
// codes are retried with exponential backoff for up to the store's RetryTimeout; a
// download that breaks off resumes where it stopped, on the same version of the
// object. Uploads go in one request when they fit in a part, and as multipart uploads
// otherwise, with at most two parts in memory and every part and request checked by
// Content-MD5; the stored size is checked afterwards.
type S3 struct {
	c      *s3Client
	bucket string
	prefix string
	url    string
}

var (
	_ Bucket    = (*S3)(nil)
	_ Presigner = (*S3)(nil)
)

// NewS3 returns the bucket on the store cfg describes (with empty fields taken from the
// AWS variables, see [StoreConfig]) whose keys are relative to prefix. It makes no
// request. Prefer [Stores.Open], which shares one client per store.
func NewS3(cfg StoreConfig, bucket, prefix string) (*S3, error) {
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return nil, fmt.Errorf("storage: bucket %q: %w", bucket, err)
	}
	if err := checkPrefix("", prefix); err != nil {
		return nil, fmt.Errorf("storage: prefix %q: %w", prefix, err)
	}
	c, err := newS3Client(cfg, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return newS3Bucket(c, Location{Store: StoreS3, Bucket: bucket, Prefix: prefix}), nil
}

func newS3Bucket(c *s3Client, loc Location) *S3 {
	loc.Prefix = dirPrefix(loc.Prefix)
	return &S3{c: c, bucket: loc.Bucket, prefix: loc.Prefix, url: loc.String()}
}

// String returns the location's URL.
func (b *S3) String() string { return b.url }

// object checks key and returns the full object name.
func (b *S3) object(op, key string) (string, error) {
	if err := checkKey(b.prefix, key); err != nil {
		return "", b.fail(op, b.prefix+key, ErrInvalidKey, err)
	}
	return b.prefix + key, nil
}

func (b *S3) fail(op, object string, kind, err error) error {
	return &Error{Op: op, Endpoint: b.c.endpoint, Bucket: b.bucket, Key: object, Kind: kind, Err: b.c.redact(err)}
}

// failed wraps an error from minio-go, with the kind its S3 error code implies.
func (b *S3) failed(op, object string, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var kind error
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		switch resp.Code {
		case "NoSuchKey", "NoSuchVersion":
			kind = ErrNotFound
		case "NoSuchBucket":
			kind = ErrNoSuchBucket
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
			"AllAccessDisabled", "AccountProblem", "InvalidSecurity", "XMinioInvalidAccessKeyId":
			kind = ErrAccessDenied
		default:
			switch resp.StatusCode {
			case http.StatusNotFound:
				kind = ErrNotFound
			case http.StatusForbidden, http.StatusUnauthorized:
				kind = ErrAccessDenied
			}
		}
		err = s3Cause{resp}
	}
	return &Error{Op: op, Endpoint: b.c.endpoint, Bucket: b.bucket, Key: object, Kind: kind, Err: b.c.redact(err)}
}

// s3Cause prints an S3 error response with its code and status.
type s3Cause struct{ resp minio.ErrorResponse }

func (c s3Cause) Error() string {
	msg := c.resp.Code
	if c.resp.Message != "" && c.resp.Message != c.resp.Code {
		msg += ": " + c.resp.Message
	}
	if c.resp.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", c.resp.StatusCode)
	}
	return msg
}

func (c s3Cause) Unwrap() error { return c.resp }

// redact replaces an error whose text shows a secret by one that does not.
func (c *s3Client) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range c.secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "REDACTED")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

// call runs fn, retrying transient errors under the store's policy. It returns an
// *Error; one that outlived the retry budget is an ErrUnavailable error.
func (b *S3) call(ctx context.Context, op, object string, fn func(context.Context) error) error {
	bo := b.c.retry.begin()
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		wait, ok := bo.next(ctx, err)
		if !ok {
			return b.gaveUp(ctx, op, object, bo, err)
		}
		slog.Warn("storage: transient error, retrying", "op", op, "endpoint", b.c.endpoint, "bucket", b.bucket,
			"key", object, "attempt", bo.attempts, "wait", wait.Round(time.Millisecond), "err", b.c.redact(err))
		if err := sleep(ctx, wait); err != nil {
			return b.fail(op, object, nil, err)
		}
	}
}

// gaveUp wraps the last error of a retried operation.
func (b *S3) gaveUp(ctx context.Context, op, object string, bo *backoff, err error) error {
	if ctx.Err() != nil {
		return b.fail(op, object, nil, ctx.Err())
	}
	if !retryable(ctx, err) {
		return b.failed(op, object, err)
	}
	e := b.failed(op, object, err)
	e.Err = fmt.Errorf("gave up after %d attempts in %s: %w", bo.attempts,
		time.Since(bo.start).Round(time.Millisecond), e.Err)
	if e.Kind == nil {
		e.Kind = ErrUnavailable
	}
	return e
}

// info converts minio-go's description of an object.
func (b *S3) info(oi minio.ObjectInfo) ObjectInfo {
	return ObjectInfo{
		Key:         strings.TrimPrefix(oi.Key, b.prefix),
		Size:        oi.Size,
		ETag:        strings.Trim(oi.ETag, `"`),
		ContentType: oi.ContentType,
		ModTime:     oi.LastModified,
	}
}

// Stat implements [Bucket].
func (b *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	object, err := b.object("stat", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	var oi minio.ObjectInfo
	err = b.call(ctx, "stat", object, func(ctx context.Context) (err error) {
		oi, err = b.c.core.StatObject(ctx, b.bucket, object, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	oi.Key = object
	return b.info(oi), nil
}

// Delete implements [Bucket].
func (b *S3) Delete(ctx context.Context, key string) error {
	object, err := b.object("delete", key)
	if err != nil {
		return err
	}
	return b.call(ctx, "delete", object, func(ctx context.Context) error {
		return b.c.core.RemoveObject(ctx, b.bucket, object, minio.RemoveObjectOptions{})
	})
}

// List implements [Bucket]. Each page is a ListObjectsV2 request; a page that fails
// is retried, continuing after the last key yielded. Keys ending in "/" (the folder
// markers some tools create) are skipped.
func (b *S3) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		full := b.prefix + prefix
		if err := checkPrefix(b.prefix, prefix); err != nil {
			yield(ObjectInfo{}, b.fail("list", full, ErrInvalidKey, err))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		bo := b.c.retry.begin()
		after := ""
		for {
			var err error
			for oi := range b.c.core.ListObjectsIter(ctx, b.bucket, minio.ListObjectsOptions{
				Prefix:     full,
				Recursive:  true,
				MaxKeys:    b.c.pageSize,
				StartAfter: after,
			}) {
				if oi.Err != nil {
					err = oi.Err
					break
				}
				after = oi.Key
				bo.reset()
				if strings.HasSuffix(oi.Key, "/") {
					continue
				}
				if !yield(b.info(oi), nil) {
					return
				}
			}
			if err == nil {
				if ctx.Err() != nil {
					yield(ObjectInfo{}, b.fail("list", full, nil, ctx.Err()))
				}
				return
			}
			wait, ok := bo.next(ctx, err)
			if !ok {
				yield(ObjectInfo{}, b.gaveUp(ctx, "list", full, bo, err))
				return
			}
			slog.Warn("storage: transient error, retrying", "op", "list", "endpoint", b.c.endpoint, "bucket", b.bucket,
				"key", full, "attempt", bo.attempts, "wait", wait.Round(time.Millisecond), "err", b.c.redact(err))
			if err := sleep(ctx, wait); err != nil {
				yield(ObjectInfo{}, b.fail("list", full, nil, err))
				return
			}
		}
	}
}

// PresignGet implements [Presigner].
func (b *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	object, err := b.object("presign", key)
	if err != nil {
		return "", err
	}
	var u *url.URL
	err = b.call(ctx, "presign", object, func(ctx context.Context) (err error) {
		u, err = b.c.core.PresignedGetObject(ctx, b.bucket, object, ttl, nil)
		return err
	})
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// Open implements [Bucket].
func (b *S3) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	object, err := b.object("open", key)
	if err != nil {
		return nil, err
	}
	if err := checkRange(offset); err != nil {
		return nil, b.fail("open", object, nil, err)
	}
	if length == 0 {
		// Nothing to read, but a missing object is still an error.
		if _, err := b.Stat(ctx, key); err != nil {
			return nil, err
		}
		return emptyReader(), nil
	}
	r := &s3Reader{b: b, ctx: ctx, object: object, pos: offset, end: -1}
	if length > 0 {
		r.end = offset + length
	}
	if err := b.call(ctx, "open", object, r.open); err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.Code == "InvalidRange" {
			return emptyReader(), nil // the object exists, and the range starts past its end
		}
		return nil, err
	}
	return r, nil
}
