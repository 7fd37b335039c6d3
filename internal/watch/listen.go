package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/transcoder/transcoder/internal/storage"
)

// ErrListenUnsupported is returned (wrapped) by [Listener.Run] when the store does not
// offer MinIO's listen API: AWS, Ceph RGW, Garage and other S3 servers. Use a [Poller]
// or a [Webhook] there.
var ErrListenUnsupported = errors.New("the store does not offer MinIO's listen API (MinIO only); use the poll or webhook source")

// Backoff defaults of [Listener].
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// healthyAfter is how long a subscription must have lasted for the next failure to
	// start the backoff afresh.
	healthyAfter = 30 * time.Second
)

// createdEvents are the events a listener subscribes to: every way an object comes to
// be (Put, Post, Copy, CompleteMultipartUpload, and MinIO's PutRetention/PutLegalHold,
// which do not change the content and so repeat a known ETag).
var createdEvents = []string{"s3:ObjectCreated:*"}

// ListenOptions configure a [Listener].
type ListenOptions struct {
	// Match selects the keys (relative to the location) to report; nil reports all.
	// Names that [Ignored] rejects are never reported.
	Match func(key string) bool
	// KeyEncoding is how the server encodes keys in listen events; KeyDefault means
	// KeyRaw, what MinIO has sent since 2020 (verified against the pinned server in
	// the tests). MinIO servers from before then sent KeyForm.
	KeyEncoding KeyEncoding
	// MinBackoff and MaxBackoff bound the wait before resubscribing, which doubles
	// from MinBackoff up to MaxBackoff while subscriptions keep failing; zero means
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// NoCatchUp turns off the listing the listener makes after each resubscription
	// (once the new subscription has lasted a second; not after the first
	// subscription, which the caller's reconcile listing at start covers) to report
	// what was created while it was not subscribed. With it, such objects wait for the
	// caller's next reconcile listing.
	NoCatchUp bool
}

// listenBucket is what a Listener needs of a bucket: *storage.S3 provides it.
type listenBucket interface {
	storage.Bucket
	Listen(ctx context.Context, events ...string) <-chan notification.Info
	Prefix() string
}

// Listener is a [Source] that subscribes to MinIO's listen API for the objects created
// under an S3 location. MinIO closes the subscription when it restarts or the
// connection breaks, and drops events while nobody listens: the listener resubscribes
// with backoff, logging a warning each time, and then lists the location once to catch
// up (see ListenOptions.NoCatchUp).
//
// MinIO builds that carry commit 52eee5a2f (minio/minio#21651) without its fix never
// flush the listen stream, so events reach the listener only in bursts of about 4 KB,
// or not at all: see docs/events.md, and prefer the poll or webhook source with those
// builds (the tests build the pinned MinIO with the fix).
type Listener struct {
	bucket   listenBucket
	opts     ListenOptions
	encoding KeyEncoding
}

var _ Source = (*Listener)(nil)

// NewListener returns a listener on bucket, which must be an S3 location
// (*storage.S3); whether the server is MinIO shows when Run subscribes.
func NewListener(bucket storage.Bucket, opts ListenOptions) (*Listener, error) {
	lb, ok := bucket.(listenBucket)
	if !ok {
		return nil, fmt.Errorf("watch: %s: the listen source needs an S3 location on MinIO", bucket)
	}
	if _, err := ParseKeyEncoding(string(opts.KeyEncoding)); err != nil {
		return nil, err
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	return &Listener{bucket: lb, opts: opts, encoding: opts.KeyEncoding.or(KeyRaw)}, nil
}

// Run implements [Source]. It returns an error wrapping [ErrListenUnsupported] when the
// server turns out not to be MinIO, and otherwise runs until ctx ends.
func (l *Listener) Run(ctx context.Context, found func(Object)) error {
	wait := l.opts.MinBackoff
	for attempt := 0; ; attempt++ {
		began := time.Now()
		err := l.subscribe(ctx, found, attempt > 0 && !l.opts.NoCatchUp)
		if ctx.Err() != nil {
			return nil
		}
		if unsupported(err) {
			return fmt.Errorf("watch: %s: %w: %w", l.bucket, ErrListenUnsupported, err)
		}
		if time.Since(began) >= healthyAfter {
			wait = l.opts.MinBackoff
		}
		if err == nil {
			err = errors.New("the server closed the subscription")
		}
		slog.Warn("watch: MinIO listen subscription ended, resubscribing", "location", l.bucket.String(),
			"wait", wait, "err", err)
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(2*wait, l.opts.MaxBackoff)
	}
}

// subscribeGrace is how long a new subscription must survive before the catch-up
// listing: a server that is down fails the subscription at once, and is not worth a
// listing that would retry for the store's whole retry window; one that is up has
// received the subscription by then, so the listing misses nothing created after it.
const subscribeGrace = time.Second

// subscribe runs one subscription until its channel closes or delivers an error (after
// which minio-go would retry on its own without telling us; we prefer one retry loop,
// with our backoff and our catch-up listing). With catchUp, it lists the location once
// the subscription has survived subscribeGrace.
func (l *Listener) subscribe(ctx context.Context, found func(Object), catchUp bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := l.bucket.Listen(ctx, createdEvents...)
	defer func() {
		cancel()
		for range ch { // let the subscription's goroutines exit
		}
	}()
	var grace <-chan time.Time
	if catchUp {
		t := time.NewTimer(subscribeGrace)
		defer t.Stop()
		grace = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-grace:
			grace = nil
			l.catchUp(ctx, found)
		case info, ok := <-ch:
			if !ok {
				return nil
			}
			if info.Err != nil {
				return info.Err
			}
			for _, rec := range info.Records {
				if o, ok := l.object(rec); ok {
					found(o)
				}
			}
		}
	}
}

// object turns an event record into an Object, reporting false for records to skip.
func (l *Listener) object(rec notification.Event) (Object, bool) {
	if !createdEvent(rec.EventName) {
		return Object{}, false
	}
	full, err := DecodeKey(rec.S3.Object.Key, l.encoding)
	if err != nil {
		slog.Error("watch: skipping a listen event (is the key encoding right?)", "location", l.bucket.String(),
			"encoding", l.encoding, "err", err)
		return Object{}, false
	}
	key, ok := relative(full, l.bucket.Prefix())
	if !ok || !wanted(key, l.opts.Match) {
		return Object{}, false
	}
	return Object{
		Key:     key,
		ETag:    strings.Trim(rec.S3.Object.ETag, `"`),
		Size:    rec.S3.Object.Size,
		ModTime: eventTime(rec.EventTime),
	}, true
}

// catchUp reports what the location holds, for what was created between
// subscriptions. A failure is only logged: the caller's reconcile listing will cover it.
func (l *Listener) catchUp(ctx context.Context, found func(Object)) {
	for o, err := range List(ctx, l.bucket, l.opts.Match, -1) {
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("watch: catch-up listing after resubscribing failed", "location", l.bucket.String(), "err", err)
			}
			return
		}
		found(o)
	}
}

// unsupported reports whether a subscription failed because the server does not offer
// the listen API: minio-go refuses AWS and Google endpoints itself; other servers answer
// 501 Not Implemented, or take the request for a ListObjects and answer XML, which
// minio-go fails to parse as the JSON lines of the listen API.
func unsupported(err error) bool {
	if err == nil {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code == "NotImplemented" || resp.Code == "APINotSupported" ||
			resp.StatusCode == http.StatusNotImplemented
	}
	var syntax *json.SyntaxError
	return errors.As(err, &syntax)
}

// createdEvent reports whether an event name (with or without the "s3:" prefix that
// MinIO adds and AWS and Ceph do not) is an ObjectCreated event.
func createdEvent(name string) bool {
	return strings.HasPrefix(strings.TrimPrefix(name, "s3:"), "ObjectCreated:")
}

// eventTime parses an event's time, or returns zero.
func eventTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
