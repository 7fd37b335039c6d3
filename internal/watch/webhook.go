package watch

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Webhook defaults.
const (
	// DefaultQueueSize is how many reported objects a webhook holds for Run.
	DefaultQueueSize = 1024
	// DefaultMaxBody is the largest request body a webhook accepts. MinIO sends one
	// record per request, AWS-format relays a handful.
	DefaultMaxBody = 1 << 20
)

// WebhookOptions configure a [Webhook].
type WebhookOptions struct {
	// Token is the shared secret senders must present, as "Authorization: Bearer
	// TOKEN" (what MinIO's webhook target sends for auth_token) or as the query
	// parameter token=TOKEN (for Ceph, whose push endpoints send no headers).
	// Required.
	Token string
	// Bucket is the watched bucket: records about other buckets are ignored.
	// Required.
	Bucket string
	// Prefix is the watched location's key prefix inside Bucket ("" or ending in "/");
	// records about keys outside it are ignored and reported keys are relative to it.
	Prefix string
	// Match selects the keys (relative to the location) to report; nil reports all.
	// Names that [Ignored] rejects are never reported.
	Match func(key string) bool
	// KeyEncoding is how the sender encodes keys; KeyDefault means KeyForm, what the
	// S3 event format specifies and MinIO and AWS send. Set KeyRaw for Ceph RGW.
	KeyEncoding KeyEncoding
	// QueueSize is how many objects are held for Run, which drains them; zero means
	// DefaultQueueSize. When the queue is full the webhook answers 503 so that the
	// sender retries (MinIO with a queue_dir, Ceph with persistent topics); senders
	// that do not retry lose the event to the next reconcile listing.
	QueueSize int
	// MaxBody bounds request bodies (413 beyond); zero means DefaultMaxBody.
	MaxBody int64
}

// Webhook is a [Source] and an [http.Handler] that receives S3 event notifications:
// POSTs of {"Records":[…]} JSON, as MinIO's webhook targets and Ceph RGW's HTTP push
// endpoints send them. It reports the ObjectCreated records (every kind: Put, Post,
// Copy, CompleteMultipartUpload) about keys under its bucket and prefix.
//
// Answers: 204 when the records were taken (or were none of its business), 401
// without the right token, 405 for methods other than POST, 413 for bodies beyond
// MaxBody, 400 for bodies that are not S3 event JSON or whose keys do not decode, and
// 503 when the queue is full. Objects wait in a bounded queue for Run, so events that
// arrive while Run is not running (between restarts of a watcher) are not lost
// unless the queue fills, and then the sender is told.
type Webhook struct {
	token    [sha256.Size]byte
	bucket   string
	prefix   string
	match    func(string) bool
	encoding KeyEncoding
	maxBody  int64
	queue    chan Object
	running  atomic.Bool
}

var (
	_ Source       = (*Webhook)(nil)
	_ http.Handler = (*Webhook)(nil)
)

// NewWebhook returns a webhook receiver.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	switch {
	case opts.Token == "":
		return nil, errors.New("watch: the webhook source needs a token")
	case s3utils.CheckValidBucketName(opts.Bucket) != nil:
		return nil, fmt.Errorf("watch: webhook bucket %q: %w", opts.Bucket, s3utils.CheckValidBucketName(opts.Bucket))
	case opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/"):
		// storage.Location prefixes name "directories"; so do ours.
		opts.Prefix += "/"
	}
	if _, err := ParseKeyEncoding(string(opts.KeyEncoding)); err != nil {
		return nil, err
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	return &Webhook{
		// Comparing digests takes the same time whatever the lengths.
		token:    sha256.Sum256([]byte(opts.Token)),
		bucket:   opts.Bucket,
		prefix:   opts.Prefix,
		match:    opts.Match,
		encoding: opts.KeyEncoding.or(KeyForm),
		maxBody:  opts.MaxBody,
		queue:    make(chan Object, opts.QueueSize),
	}, nil
}

// Run implements [Source]: it reports the objects that deliveries queue, until ctx
// ends. Only one Run may be active at a time.
func (w *Webhook) Run(ctx context.Context, found func(Object)) error {
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("watch: webhook for bucket %q: already running", w.bucket)
	}
	defer w.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return nil
		case o := <-w.queue:
			found(o)
		}
	}
}

// s3Event is the part of an S3 event notification the webhook reads. Field names
// match case-insensitively, so Ceph's older "etag" fills ETag too.
type s3Event struct {
	Records []struct {
		EventName string `json:"eventName"`
		EventTime string `json:"eventTime"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key  string `json:"key"`
				Size int64  `json:"size"`
				ETag string `json:"eTag"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// ServeHTTP implements [http.Handler].
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "only POST", http.StatusMethodNotAllowed)
		return
	}
	if !w.authorized(r) {
		rw.Header().Set("WWW-Authenticate", `Bearer realm="transcoder"`)
		http.Error(rw, "missing or wrong token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			http.Error(rw, fmt.Sprintf("body larger than %d bytes", w.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	objs, err := w.parse(body)
	if err != nil {
		slog.Warn("watch: refusing a webhook delivery", "bucket", w.bucket, "from", r.RemoteAddr, "err", err)
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	for i, o := range objs {
		select {
		case w.queue <- o:
		default:
			slog.Warn("watch: webhook queue full, asking the sender to retry", "bucket", w.bucket,
				"queued", cap(w.queue), "refused", len(objs)-i)
			rw.Header().Set("Retry-After", "1")
			http.Error(rw, "queue full, retry later", http.StatusServiceUnavailable)
			return
		}
	}
	rw.WriteHeader(http.StatusNoContent)
}

// authorized checks the token of a delivery, in constant time.
func (w *Webhook) authorized(r *http.Request) bool {
	var got string
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(tok)
	} else if t := r.URL.Query().Get("token"); t != "" {
		got = t
	} else {
		return false
	}
	sum := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(sum[:], w.token[:]) == 1
}

// parse reads a delivery and returns the objects to report. Every record is checked
// before any is taken, so that a refused delivery has queued nothing.
func (w *Webhook) parse(body []byte) ([]Object, error) {
	var ev s3Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("not S3 event JSON: %w", err)
	}
	// Bodies without records (AWS's s3:TestEvent) leave nothing to do.
	var objs []Object
	for i, rec := range ev.Records {
		if !createdEvent(rec.EventName) || rec.S3.Bucket.Name != w.bucket {
			continue
		}
		full, err := DecodeKey(rec.S3.Object.Key, w.encoding)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		key, ok := relative(full, w.prefix)
		if !ok || !wanted(key, w.match) {
			continue
		}
		objs = append(objs, Object{
			Key:     key,
			ETag:    strings.Trim(rec.S3.Object.ETag, `"`),
			Size:    rec.S3.Object.Size,
			ModTime: eventTime(rec.EventTime),
		})
	}
	return objs, nil
}
