package auth_test

// Tests of the Authenticator with requests signed by the AWS SDK's own
// SigV4 signer, sent over a real loopback HTTP server, then with the real
// Elastic Transcoder client of the AWS SDK for Go v2 (et_client_test.go).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/transcoder/transcoder/internal/auth"
	"github.com/transcoder/transcoder/internal/logtest"
)

const (
	testKey    = "AKIDTRANSCODER01"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRET" // has / and +, as AWS secrets do
	otherKey   = "AKIDTRANSCODER02"
	otherSec   = "another-secret-key-0123456789"
	presetPath = "/2012-09-25/presets/1351620000001-000061"
	presetJSON = `{"Preset":{"Id":"1351620000001-000061","Name":"System preset: Generic 320x240","Container":"mp4","Type":"System"}}`
)

// testNow is the server's clock in most tests.
var testNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// logBuffer collects log lines for the test to read.
type logBuffer = logtest.Buffer

// seen is what the wrapped handler received.
type seen struct {
	mu     sync.Mutex
	calls  int
	body   []byte
	key    string
	method string
}

func (s *seen) get() (int, []byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, s.body, s.key
}

// presetHandler answers every request as ReadPreset (or CreatePreset,
// for a POST) would, and records what it was given.
func presetHandler(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		s.calls++
		s.body, s.key, s.method = body, auth.AccessKey(r.Context()), r.Method
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = io.WriteString(w, presetJSON)
	})
}

// server starts a loopback server of an Authenticator around
// presetHandler.
func server(t *testing.T, opts auth.Options) (*httptest.Server, *seen, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if opts.Logger == nil {
		opts.Logger = logs.Logger()
	}
	if opts.Credentials == nil && !opts.Disabled {
		opts.Credentials = map[string]string{testKey: testSecret, otherKey: otherSec}
	}
	a, err := auth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	srv := httptest.NewServer(a.Wrap(presetHandler(s)))
	t.Cleanup(srv.Close)
	return srv, s, logs
}

// signed returns a request signed by the SDK's signer.
type signSpec struct {
	method, path, body  string
	key, secret         string
	service, region     string
	at                  time.Time
	header              map[string]string // set before signing
	presign             bool
	presignExpires      time.Duration
	signedContentLength bool
}

func (sp signSpec) request(t *testing.T, base string) *http.Request {
	t.Helper()
	if sp.method == "" {
		sp.method = http.MethodGet
	}
	if sp.path == "" {
		sp.path = presetPath
	}
	if sp.key == "" {
		sp.key = testKey
		if sp.secret == "" {
			sp.secret = testSecret
		}
	}
	if sp.service == "" {
		sp.service = "elastictranscoder"
	}
	if sp.region == "" {
		sp.region = "us-east-1"
	}
	if sp.at.IsZero() {
		sp.at = testNow
	}
	var body io.Reader
	if sp.body != "" {
		body = strings.NewReader(sp.body)
	}
	req, err := http.NewRequest(sp.method, base+sp.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if sp.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range sp.header {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(sp.body))
	creds := aws.Credentials{AccessKeyID: sp.key, SecretAccessKey: sp.secret}
	signer := v4.NewSigner()
	if sp.presign {
		if sp.presignExpires > 0 {
			q := req.URL.Query()
			q.Set("X-Amz-Expires", fmt.Sprint(int(sp.presignExpires.Seconds())))
			req.URL.RawQuery = q.Encode()
		}
		signedURL, hdr, err := signer.PresignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]),
			sp.service, sp.region, sp.at)
		if err != nil {
			t.Fatal(err)
		}
		preq, err := http.NewRequest(sp.method, signedURL, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			if !strings.EqualFold(k, "host") { // the signed Host is the URL's
				preq.Header[k] = v
			}
		}
		return preq
	}
	if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), sp.service, sp.region,
		sp.at); err != nil {
		t.Fatal(err)
	}
	return req
}

// awsError is an error answer as the SDKs read it.
type awsError struct {
	Status    int
	Type      string
	Message   string
	RequestID string
}

func do(t *testing.T, req *http.Request) (*http.Response, awsError, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	e := awsError{Status: resp.StatusCode, Type: resp.Header.Get("x-amzn-ErrorType"),
		RequestID: resp.Header.Get("x-amzn-RequestId")}
	if resp.StatusCode >= 300 {
		var m struct {
			Message string `json:"message"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("error body %q is not {\"message\":…}: %v", body, err)
		}
		e.Message = m.Message
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("error Content-Type %q", ct)
		}
	}
	return resp, e, body
}

// TestSignatures runs requests signed by the SDK's signer, some then
// spoiled, through the Authenticator.
func TestSignatures(t *testing.T) {
	srv, s, logs := server(t, auth.Options{Now: func() time.Time { return testNow }})
	const createBody = `{"Name":"mine","Container":"mp4","Video":{"Codec":"H.264","BitRate":"2400"}}`

	cases := []struct {
		name string
		spec signSpec
		// spoil changes the request after signing.
		spoil func(r *http.Request)
		// want: 0 means the request passes; otherwise the status, the
		// error type and a part of the message.
		status  int
		errType string
		message string
		// reason is a part of the log line of a refusal.
		reason string
	}{
		{name: "signed GET", spec: signSpec{}},
		{name: "signed POST with a body", spec: signSpec{method: http.MethodPost, path: "/2012-09-25/presets",
			body: createBody}},
		{name: "signed with a query", spec: signSpec{path: "/2012-09-25/jobsByStatus/Progressing?Ascending=true&PageToken=1700000000000-abc%2Fdef"}},
		{name: "escaped path", spec: signSpec{path: "/2012-09-25/presets/a%20b%2Fc"}},
		{name: "any region", spec: signSpec{region: "eu-west-1"}},
		{name: "a made-up region", spec: signSpec{region: "local"}},
		{name: "the other key", spec: signSpec{key: otherKey, secret: otherSec}},
		{name: "14 minutes old", spec: signSpec{at: testNow.Add(-14 * time.Minute)}},
		{name: "14 minutes ahead", spec: signSpec{at: testNow.Add(14 * time.Minute)}},
		{name: "extra signed header", spec: signSpec{header: map[string]string{"X-Amz-Target": "x", "X-Custom": "a  b"}}},
		{name: "presigned URL", spec: signSpec{presign: true}},
		{name: "presigned URL within X-Amz-Expires", spec: signSpec{presign: true, presignExpires: time.Hour,
			at: testNow.Add(-50 * time.Minute)}},

		{name: "unsigned", spec: signSpec{}, spoil: func(r *http.Request) {
			r.Header.Del("Authorization")
			r.Header.Del("X-Amz-Date")
		}, status: 403, errType: "MissingAuthenticationTokenException", message: "Missing Authentication Token",
			reason: "no Authorization header"},
		{name: "wrong secret", spec: signSpec{secret: "not-the-secret"},
			status: 403, errType: "InvalidSignatureException",
			message: "The request signature we calculated does not match the signature you provided.",
			reason:  "signature mismatch"},
		{name: "another key's secret", spec: signSpec{key: testKey, secret: otherSec},
			status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "unknown key", spec: signSpec{key: "AKIDNOBODY", secret: testSecret},
			status: 403, errType: "UnrecognizedClientException",
			message: "The security token included in the request is invalid.", reason: "access_key=AKIDNOBODY"},
		{name: "16 minutes old", spec: signSpec{at: testNow.Add(-16 * time.Minute)},
			status: 400, errType: "RequestExpired",
			message: "Signature expired: 20260314T114400Z is now earlier than 20260314T114500Z (20260314T120000Z - 15 min.)"},
		{name: "16 minutes ahead", spec: signSpec{at: testNow.Add(16 * time.Minute)},
			status: 400, errType: "RequestExpired",
			message: "Signature not yet current: 20260314T121600Z is still later than 20260314T121500Z (20260314T120000Z + 15 min.)"},
		{name: "body changed after signing", spec: signSpec{method: http.MethodPost, path: "/2012-09-25/presets",
			body: createBody}, spoil: func(r *http.Request) {
			changed := strings.Replace(createBody, "2400", "9999", 1)
			r.Body = io.NopCloser(strings.NewReader(changed))
			r.ContentLength = int64(len(changed))
		}, status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "path changed after signing", spec: signSpec{}, spoil: func(r *http.Request) {
			r.URL.Path = "/2012-09-25/presets/1351620000001-000010"
		}, status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "query changed after signing", spec: signSpec{path: "/2012-09-25/jobsByStatus/Complete?Ascending=true"},
			spoil:  func(r *http.Request) { r.URL.RawQuery = "Ascending=false" },
			status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "method changed after signing", spec: signSpec{}, spoil: func(r *http.Request) { r.Method = http.MethodDelete },
			status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "signed header changed", spec: signSpec{method: http.MethodPost, path: "/2012-09-25/presets", body: createBody},
			spoil:  func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "signed header removed", spec: signSpec{header: map[string]string{"X-Custom": "1"}},
			spoil:  func(r *http.Request) { r.Header.Del("X-Custom") },
			status: 403, errType: "InvalidSignatureException", message: "does not match", reason: "cannot be reproduced"},
		{name: "X-Amz-Date changed after signing", spec: signSpec{}, spoil: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testNow.Add(time.Minute).Format("20060102T150405Z"))
		}, status: 403, errType: "InvalidSignatureException", message: "does not match"},
		{name: "wrong service", spec: signSpec{service: "s3"},
			status: 403, errType: "InvalidSignatureException",
			message: "Credential should be scoped to correct service: 'elastictranscoder'."},
		{name: "scope date is not X-Amz-Date's", spec: signSpec{}, spoil: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20260314/", "/20260313/", 1))
		}, status: 403, errType: "InvalidSignatureException",
			message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260313' != '20260314', from '20260314T120000Z'."},
		{name: "wrong terminator", spec: signSpec{}, spoil: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/aws4_request", "/aws5_request", 1))
		}, status: 403, errType: "InvalidSignatureException", message: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "not SigV4", spec: signSpec{}, spoil: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc.def") },
			status: 400, errType: "IncompleteSignatureException",
			message: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{name: "no X-Amz-Date", spec: signSpec{}, spoil: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			status: 400, errType: "IncompleteSignatureException", message: "requires existence of a 'X-Amz-Date' header"},
		{name: "bad X-Amz-Date", spec: signSpec{}, spoil: func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") },
			status: 400, errType: "IncompleteSignatureException", message: "X-Amz-Date must be in the ISO8601 Long Format"},
		{name: "pair without =", spec: signSpec{}, spoil: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential=", "Credential ", 1))
		}, status: 400, errType: "IncompleteSignatureException", message: "not a valid key=value pair (missing equal-sign)"},
		{name: "short credential", spec: signSpec{}, spoil: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/", 1))
		}, status: 400, errType: "IncompleteSignatureException", message: "Credential must have exactly 5 slash-delimited elements"},
		{name: "body too large", spec: signSpec{method: http.MethodPost, path: "/2012-09-25/presets",
			body: `{"Name":"` + strings.Repeat("x", auth.DefaultMaxBody) + `"}`},
			status: 413, errType: "RequestEntityTooLargeException", message: "larger than 1048576 bytes"},
		{name: "presigned URL expired", spec: signSpec{presign: true, presignExpires: time.Minute, at: testNow.Add(-2 * time.Minute)},
			status: 403, errType: "InvalidSignatureException", message: "Signature expired: 20260314T115900Z is now earlier than 20260314T120000Z"},
		{name: "presigned URL with a changed query", spec: signSpec{presign: true}, spoil: func(r *http.Request) {
			q := r.URL.Query()
			q.Set("Ascending", "true")
			r.URL.RawQuery = q.Encode()
		}, status: 403, errType: "InvalidSignatureException", message: "does not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.spec.request(t, srv.URL)
			if c.spoil != nil {
				c.spoil(req)
			}
			before, _, _ := s.get()
			resp, e, body := do(t, req)
			after, got, key := s.get()
			if c.status == 0 {
				if resp.StatusCode/100 != 2 || string(body) != presetJSON {
					t.Fatalf("refused: %d %+v", resp.StatusCode, e)
				}
				if after != before+1 {
					t.Fatalf("handler called %d times", after-before)
				}
				if string(got) != c.spec.body {
					t.Errorf("handler read body %q, want %q", got, c.spec.body)
				}
				wantKey := c.spec.key
				if wantKey == "" {
					wantKey = testKey
				}
				if key != wantKey {
					t.Errorf("AccessKey = %q, want %q", key, wantKey)
				}
				return
			}
			if after != before {
				t.Fatalf("a refused request reached the handler")
			}
			if e.Status != c.status || e.Type != c.errType || !strings.Contains(e.Message, c.message) {
				t.Errorf("got %d %s %q\nwant %d %s containing %q", e.Status, e.Type, e.Message, c.status, c.errType, c.message)
			}
			if len(e.RequestID) != 36 {
				t.Errorf("x-amzn-RequestId %q", e.RequestID)
			}
			if c.reason != "" && !strings.Contains(logs.String(), c.reason) {
				t.Errorf("log lacks %q:\n%s", c.reason, logs.String())
			}
		})
	}
	if log := logs.String(); strings.Contains(log, testSecret) || strings.Contains(log, otherSec) {
		t.Errorf("a secret key is in the log:\n%s", log)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="api: request refused" access_key=`+testKey) {
		t.Errorf("refusals are not logged at info with the key:\n%s", logs.String())
	}
}

// TestRateLimit: each key has its own budget; beyond its burst a key gets
// 429 ThrottlingException with Retry-After, and again requests once the
// budget refills.
func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := testNow
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	srv, s, _ := server(t, auth.Options{Now: clock, RateLimit: 0.5, RateBurst: 3})
	status := func(key, secret string) (int, awsError, http.Header) {
		req := signSpec{key: key, secret: secret, at: clock()}.request(t, srv.URL)
		resp, e, _ := do(t, req)
		return resp.StatusCode, e, resp.Header
	}
	for i := range 3 {
		if code, e, _ := status(testKey, testSecret); code != 200 {
			t.Fatalf("request %d in the burst: %d %+v", i+1, code, e)
		}
	}
	code, e, h := status(testKey, testSecret)
	if code != 429 || e.Type != "ThrottlingException:" || e.Message != "Rate exceeded" {
		t.Errorf("beyond the burst: %d %+v", code, e)
	}
	if h.Get("Retry-After") != "2" { // one request every 2 s
		t.Errorf("Retry-After %q, want 2", h.Get("Retry-After"))
	}
	if code, e, _ := status(otherKey, otherSec); code != 200 {
		t.Errorf("the other key was throttled too: %d %+v", code, e)
	}
	// Unsigned requests do not spend a key's budget.
	req := signSpec{}.request(t, srv.URL)
	req.Header.Del("Authorization")
	if resp, _, _ := do(t, req); resp.StatusCode != 403 {
		t.Errorf("unsigned: %d", resp.StatusCode)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if code, e, _ := status(testKey, testSecret); code != 200 {
		t.Errorf("after the budget refilled: %d %+v", code, e)
	}
	if calls, _, _ := s.get(); calls != 5 {
		t.Errorf("handler called %d times, want 5", calls)
	}
}

// TestDisabled: with authentication off every request passes, and New
// warns loudly.
func TestDisabled(t *testing.T) {
	logs := &logBuffer{}
	srv, s, _ := server(t, auth.Options{Disabled: true, Logger: logs.Logger()})
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "API authentication is OFF") {
		t.Errorf("no loud warning:\n%s", logs.String())
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/2012-09-25/presets", strings.NewReader(`{"Name":"x"}`))
	resp, e, _ := do(t, req)
	if resp.StatusCode != 201 {
		t.Fatalf("unsigned request with auth off: %d %+v", resp.StatusCode, e)
	}
	if _, body, key := s.get(); string(body) != `{"Name":"x"}` || key != "" {
		t.Errorf("handler saw body %q, key %q", body, key)
	}
	// A signature, even a wrong one, is not looked at.
	req = signSpec{secret: "wrong"}.request(t, srv.URL)
	if resp, _, _ := do(t, req); resp.StatusCode != 200 {
		t.Errorf("signed request with auth off: %d", resp.StatusCode)
	}
}

// TestDisabledRateLimit: with authentication off, all requests share one
// budget.
func TestDisabledRateLimit(t *testing.T) {
	srv, _, _ := server(t, auth.Options{Disabled: true, RateLimit: 1, RateBurst: 2, Now: func() time.Time { return testNow }})
	var codes []int
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+presetPath, nil)
		resp, _, _ := do(t, req)
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Errorf("statuses %v, want [200 200 429]", codes)
	}
}

// TestNewChecks: New refuses configurations that cannot work.
func TestNewChecks(t *testing.T) {
	cases := []struct {
		name string
		opts auth.Options
		want string
	}{
		{"no credentials", auth.Options{}, "no credentials"},
		{"empty key", auth.Options{Credentials: map[string]string{"": "s"}}, "an access key is empty"},
		{"empty secret", auth.Options{Credentials: map[string]string{"AK": ""}}, "AK has an empty secret key"},
		{"slash in key", auth.Options{Credentials: map[string]string{"A/K": "s"}}, `access key "A/K" contains`},
		{"negative rate", auth.Options{Credentials: map[string]string{"AK": "s"}, RateLimit: -1}, "rate limit -1"},
		{"negative burst", auth.Options{Credentials: map[string]string{"AK": "s"}, RateLimit: 1, RateBurst: -1}, "rate burst -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Logger = slog.New(slog.DiscardHandler)
			_, err := auth.New(c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want one containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "\"s\"") {
				t.Errorf("a secret is in the error: %v", err)
			}
		})
	}
	if _, err := auth.New(auth.Options{Disabled: true, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Errorf("disabled without credentials: %v", err)
	}
}

// TestBodyRestored: the wrapped handler reads the whole body, also one
// larger than a single read.
func TestBodyRestored(t *testing.T) {
	srv, s, _ := server(t, auth.Options{Now: func() time.Time { return testNow }})
	body := `{"Name":"` + strings.Repeat("é", 100_000) + `"}`
	req := signSpec{method: http.MethodPost, path: "/2012-09-25/presets", body: body}.request(t, srv.URL)
	if resp, e, _ := do(t, req); resp.StatusCode != 201 {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	if _, got, _ := s.get(); string(got) != body {
		t.Errorf("handler read %d bytes, want %d", len(got), len(body))
	}
}

// TestPresignedQueryEscaping: a presigned URL keeps working when its
// query is re-encoded by a client (parameter order changes).
func TestPresignedQueryEscaping(t *testing.T) {
	srv, _, _ := server(t, auth.Options{Now: func() time.Time { return testNow }})
	req := signSpec{presign: true, path: "/2012-09-25/jobsByPipeline/1351620000001-abcdef?Ascending=true"}.request(t, srv.URL)
	q, _ := url.ParseQuery(req.URL.RawQuery)
	req.URL.RawQuery = q.Encode() // sorted, differently escaped
	if resp, e, _ := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
}

// TestRefusalDate: a refusal carries the Date of the clock that judged
// it, so that clients which correct their clock from the server's Date
// header can.
func TestRefusalDate(t *testing.T) {
	srv, _, _ := server(t, auth.Options{Now: func() time.Time { return testNow }})
	resp, e, _ := do(t, signSpec{at: testNow.Add(-time.Hour)}.request(t, srv.URL))
	if e.Type != "RequestExpired" {
		t.Fatalf("%+v", e)
	}
	if d := resp.Header.Get("Date"); d != "Sat, 14 Mar 2026 12:00:00 GMT" {
		t.Errorf("Date %q", d)
	}
}
