package watch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/watch"
)

// TestWebhookFromMinIO configures the real MinIO's webhook target (see TestMain) on a
// bucket and checks what it delivers: the Authorization header, the key encoding, and
// that every object created under the prefix, multipart uploads included, is reported
// with its key decoded.
func TestWebhookFromMinIO(t *testing.T) {
	// Not parallel: the shared server's webhook deliveries go to one handler at a time.
	name := shared.NewBucket(t)
	b := s3Bucket(t, shared, name, "in/")
	whole := s3Bucket(t, shared, name, "")

	w, err := watch.NewWebhook(watch.WebhookOptions{Token: hookToken, Bucket: name, Prefix: "in/"})
	if err != nil {
		t.Fatal(err)
	}
	hooks.use(t, w)
	c := start(t, w)

	mc, err := shared.Client()
	if err != nil {
		t.Fatal(err)
	}
	arn, err := notification.NewArnFromString(hookARN)
	if err != nil {
		t.Fatal(err)
	}
	q := notification.NewConfig(arn)
	q.AddEvents(notification.ObjectCreatedAll)
	var cfg notification.Configuration
	cfg.AddQueue(q)
	if err := mc.SetBucketNotification(context.Background(), name, cfg); err != nil {
		t.Fatalf("configuring the webhook notification on %s: %v", name, err)
	}

	want := map[string]storage.ObjectInfo{}
	for _, k := range trickyKeys {
		want[k] = put(t, b, k, []byte("content of "+k))
	}
	big := put(t, b, "big 20MB +multipart.mp4", bytes.Repeat([]byte("fedcba9876543210"), 20<<20/16))
	want["big 20MB +multipart.mp4"] = big
	put(t, whole, "out/elsewhere.mp4", []byte("outside the prefix"))
	put(t, b, "x.mp4.part", []byte("ignored"))

	got := c.await(20*time.Second, keys(want)...)
	for k, wo := range want {
		if o := got[k]; o.ETag != wo.ETag || o.Size != wo.Size {
			t.Errorf("%q reported as %+v; want ETag %s, size %d", k, o, wo.ETag, wo.Size)
		}
	}
	for _, o := range c.quiet(300 * time.Millisecond) {
		if want[o.Key].ETag == "" {
			t.Errorf("reported %q, which is ignored or outside the prefix", o.Key)
		}
	}

	// What MinIO sent: the evidence behind the webhook's defaults.
	sent := map[string]bool{}
	for _, d := range hooks.recorded() {
		var ev struct {
			EventName, Key string
			Records        []struct {
				EventName string `json:"eventName"`
				S3        struct {
					Bucket struct{ Name string } `json:"bucket"`
					Object struct{ Key string }  `json:"object"`
				} `json:"s3"`
			}
		}
		if err := json.Unmarshal(d.Body, &ev); err != nil || len(ev.Records) != 1 || ev.Records[0].S3.Bucket.Name != name {
			continue // another test's bucket, or not an event
		}
		if d.Authorization != "Bearer "+hookToken {
			t.Errorf("MinIO sent Authorization %q; want %q", d.Authorization, "Bearer "+hookToken)
		}
		rec := ev.Records[0]
		raw := rec.S3.Object.Key
		full, _ := url.QueryUnescape(raw)
		if raw != url.QueryEscape(full) {
			t.Errorf("MinIO sent key %q, which is not url.QueryEscape of %q", raw, full)
		}
		if ev.Key != name+"/"+full {
			t.Errorf("MinIO's top-level Key %q; want the raw %q", ev.Key, name+"/"+full)
		}
		if !strings.HasPrefix(rec.EventName, "s3:ObjectCreated:") {
			t.Errorf("event name %q", rec.EventName)
		}
		sent[rec.EventName] = true
		if strings.HasSuffix(full, "Café del Mar +1 100%.mp4") {
			t.Logf("MinIO webhook body for %q: key %q, top-level Key %q, event %s, Authorization: Bearer <token>",
				full, raw, ev.Key, rec.EventName)
		}
	}
	for _, e := range []string{"s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload"} {
		if !sent[e] {
			t.Errorf("MinIO sent no %s event (sent %v)", e, sent)
		}
	}
}

// Bodies as the servers send them. MinIO: "s3:" prefix, top-level EventName and Key,
// form-encoded key with "/" escaped. AWS (as relayed by a forwarder): no prefix,
// form-encoded key with "/" left alone. Ceph RGW: no prefix, the key raw, and older
// versions spell "etag" in lower case.
const (
	minioBody = `{"EventName":"s3:ObjectCreated:Put","Key":"media/in/Café del Mar +1 100%.mp4","Records":[{"eventVersion":"2.0",
"eventSource":"minio:s3","eventTime":"2026-01-02T03:04:05.678Z","eventName":"s3:ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0",
"bucket":{"name":"media","arn":"arn:aws:s3:::media"},"object":{"key":"in%2FCaf%C3%A9+del+Mar+%2B1+100%25.mp4","size":5,
"eTag":"0a1b2c3d4e5f","contentType":"video/mp4","sequencer":"1"}}}]}`
	awsBody = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-01-02T03:04:05.678Z",
"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"s3SchemaVersion":"1.0","configurationId":"transcoder",
"bucket":{"name":"media","arn":"arn:aws:s3:::media"},"object":{"key":"in/sub/red+flower+%2B1.mp4","size":20971520,
"eTag":"\"d41d8cd98f00b204e9800998ecf8427e-4\"","sequencer":"0A1B2C3D4E5F678901"}}}]}`
	cephBody = `{"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3","awsRegion":"default","eventTime":"2026-01-02T03:04:05.678Z",
"eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","configurationId":"transcoder","bucket":{"name":"media",
"arn":"arn:aws:s3:::media","id":"x.1"},"object":{"key":"in/Café del Mar +1 100%.mp4","size":5,"etag":"0a1b2c3d4e5f",
"versionId":"","sequencer":"A5BEA263AA549339","metadata":[],"tags":[]}}}],"eventId":"1","opaqueData":""}`
	removedBody = `{"Records":[{"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"media"},"object":{"key":"in%2Fa.mp4"}}}]}`
	otherBody   = `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"other"},"object":{"key":"in%2Fa.mp4","size":1,"eTag":"e"}}},
{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"out/a.mp4","size":1,"eTag":"e"}}},
{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"in/.hidden.mp4","size":1,"eTag":"e"}}}]}`
	awsTestEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-02T03:04:05.678Z","Bucket":"media"}`
)

func TestWebhookRequests(t *testing.T) {
	t.Parallel()
	bearer := http.Header{"Authorization": {"Bearer " + hookToken}}
	tests := []struct {
		name     string
		method   string
		target   string // path and query
		header   http.Header
		body     string
		encoding watch.KeyEncoding
		status   int
		want     []watch.Object
	}{
		{name: "MinIO", body: minioBody, status: http.StatusNoContent,
			want: []watch.Object{{Key: "Café del Mar +1 100%.mp4", ETag: "0a1b2c3d4e5f", Size: 5,
				ModTime: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)}}},
		{name: "AWS", body: awsBody, status: http.StatusNoContent,
			want: []watch.Object{{Key: "sub/red flower +1.mp4", ETag: "d41d8cd98f00b204e9800998ecf8427e-4", Size: 20971520,
				ModTime: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)}}},
		{name: "Ceph with raw keys", body: cephBody, encoding: watch.KeyRaw, status: http.StatusNoContent,
			want: []watch.Object{{Key: "Café del Mar +1 100%.mp4", ETag: "0a1b2c3d4e5f", Size: 5,
				ModTime: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)}}},
		{name: "Ceph read as form-encoded", body: cephBody, status: http.StatusBadRequest},
		{name: "token in the query", target: "/?token=" + url.QueryEscape(hookToken), header: http.Header{}, body: minioBody,
			status: http.StatusNoContent, want: []watch.Object{{Key: "Café del Mar +1 100%.mp4", ETag: "0a1b2c3d4e5f", Size: 5,
				ModTime: time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)}}},
		{name: "lower-case bearer", header: http.Header{"Authorization": {"bearer " + hookToken}}, body: removedBody,
			status: http.StatusNoContent},
		{name: "removal", body: removedBody, status: http.StatusNoContent},
		{name: "other bucket, outside the prefix, ignored name", body: otherBody, status: http.StatusNoContent},
		{name: "AWS test event", body: awsTestEvent, status: http.StatusNoContent},
		{name: "no token", header: http.Header{}, body: minioBody, status: http.StatusUnauthorized},
		{name: "wrong token", header: http.Header{"Authorization": {"Bearer " + hookToken + "x"}}, body: minioBody,
			status: http.StatusUnauthorized},
		{name: "wrong scheme", header: http.Header{"Authorization": {"Basic " + hookToken}}, body: minioBody,
			status: http.StatusUnauthorized},
		{name: "wrong token in the query", target: "/?token=nope", header: http.Header{}, body: minioBody,
			status: http.StatusUnauthorized},
		{name: "GET", method: http.MethodGet, status: http.StatusMethodNotAllowed},
		{name: "bad JSON", body: `{"Records":[{"eventName":`, status: http.StatusBadRequest},
		{name: "not an object", body: `["Records"]`, status: http.StatusBadRequest},
		{name: "trailing garbage", body: minioBody + "}", status: http.StatusBadRequest},
		{name: "too large", body: `{"Records":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := watch.NewWebhook(watch.WebhookOptions{Token: hookToken, Bucket: "media", Prefix: "in", KeyEncoding: tt.encoding})
			if err != nil {
				t.Fatal(err)
			}
			method, target, header := tt.method, tt.target, tt.header
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = "/"
			}
			if header == nil {
				header = bearer
			}
			req := httptest.NewRequest(method, "http://transcoder.test/events/s3/p"+target, strings.NewReader(tt.body))
			for k, v := range header {
				req.Header[k] = v
			}
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d (%s); want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tt.status)
			}

			// What was queued: Run reports it even though it started afterwards.
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			var got []watch.Object
			w.Run(ctx, func(o watch.Object) { got = append(got, o) })
			if len(got) != len(tt.want) {
				t.Fatalf("reported %+v; want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("reported %+v; want %+v", got[i], tt.want[i])
				}
			}
		})
	}
}

// TestWebhookQueue checks that deliveries are queued while no Run is active, that a
// full queue makes the sender retry (503) without losing what was already queued, and
// that only one Run may be active.
func TestWebhookQueue(t *testing.T) {
	t.Parallel()
	w, err := watch.NewWebhook(watch.WebhookOptions{Token: hookToken, Bucket: "media", QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	post := func(key string) int {
		body := `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"media"},"object":{"key":"` + key + `","size":1,"eTag":"e"}}}]}`
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+hookToken)
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		return rec.Code
	}
	for i, want := range []int{http.StatusNoContent, http.StatusNoContent, http.StatusServiceUnavailable} {
		if got := post(string(rune('a'+i)) + ".mp4"); got != want {
			t.Errorf("delivery %d: status %d; want %d", i+1, got, want)
		}
	}

	c := start(t, w)
	c.await(5*time.Second, "a.mp4", "b.mp4")
	if err := w.Run(context.Background(), func(watch.Object) {}); err == nil {
		t.Error("a second concurrent Run succeeded")
	}
	if got := post("c.mp4"); got != http.StatusNoContent {
		t.Errorf("retried delivery: status %d", got)
	}
	c.await(5*time.Second, "c.mp4")
}

func TestNewWebhookChecksOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []watch.WebhookOptions{
		{Bucket: "media"},
		{Token: "t", Bucket: "Not A Bucket"},
		{Token: "t", Bucket: "media", KeyEncoding: "url"},
	} {
		if _, err := watch.NewWebhook(opts); err == nil {
			t.Errorf("NewWebhook(%+v) succeeded", opts)
		}
	}
}
