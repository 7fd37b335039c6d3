package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
)

// DefaultRetryTimeout is how long an S3 request keeps retrying transient errors when
// the store's configuration does not say.
const DefaultRetryTimeout = 30 * time.Second

// retryPolicy is exponential backoff with jitter, bounded by the total time spent: the
// n-th wait is drawn from [d/2, d) with d = base·2ⁿ⁻¹ capped at max, and no wait starts
// that would end after timeout since the first attempt.
type retryPolicy struct {
	timeout   time.Duration
	base, max time.Duration
}

func newRetryPolicy(timeout time.Duration) retryPolicy {
	if timeout == 0 {
		timeout = DefaultRetryTimeout
	}
	return retryPolicy{timeout: max(timeout, 0), base: 100 * time.Millisecond, max: 5 * time.Second}
}

// backoff is one operation's progress through a retryPolicy.
type backoff struct {
	p        retryPolicy
	start    time.Time
	attempts int // failed attempts so far
}

func (p retryPolicy) begin() *backoff { return &backoff{p: p, start: time.Now()} }

// reset starts the budget again, after an operation made progress.
func (b *backoff) reset() { b.start, b.attempts = time.Now(), 0 }

// next records a failed attempt and returns the wait before the next one, or false
// when err is not transient, the budget is spent or ctx is done.
func (b *backoff) next(ctx context.Context, err error) (time.Duration, bool) {
	b.attempts++
	if !retryable(ctx, err) {
		return 0, false
	}
	d := b.p.base << min(b.attempts-1, 20)
	if d > b.p.max || d <= 0 {
		d = b.p.max
	}
	d = d/2 + rand.N(d/2+1)
	if time.Since(b.start)+d > b.p.timeout {
		return 0, false
	}
	return d, true
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryableCodes are S3 error codes worth another try whatever the HTTP status.
var retryableCodes = map[string]bool{
	"RequestTimeout":             true,
	"RequestTimeTooSkewed":       false,
	"SlowDown":                   true,
	"SlowDownRead":               true,
	"SlowDownWrite":              true,
	"Throttling":                 true,
	"ThrottlingException":        true,
	"RequestLimitExceeded":       true,
	"RequestThrottled":           true,
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"XMinioServerNotInitialized": true,
}

// retryable reports whether err is transient: a network error, a 5xx, 408 or 429
// response, or a throttling code. Certificate problems, plain HTTP from an HTTPS
// endpoint, unknown hosts, and every other 4xx are not.
func retryable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.StatusCode != 0 {
		if retry, ok := retryableCodes[resp.Code]; ok {
			return retry
		}
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout ||
			resp.StatusCode == http.StatusTooManyRequests
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalidCert      x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		dns              *net.DNSError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalidCert),
		errors.As(err, &verify), errors.As(err, &record):
		return false
	case errors.As(err, &dns):
		return !dns.IsNotFound
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return false
	}
	var (
		urlErr *url.Error
		netErr net.Error
	)
	return errors.As(err, &urlErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		// A timeout inside the HTTP client while the caller's context is still live.
		errors.Is(err, context.DeadlineExceeded)
}
