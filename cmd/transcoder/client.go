package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/pflag"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/jobs"
)

// defaultServer is where 'transcoder run' listens unless told otherwise.
const defaultServer = "http://127.0.0.1:8080"

// signingName is Elastic Transcoder's SigV4 service name.
const signingName = "elastictranscoder"

// apiVersion prefixes every path of Elastic Transcoder's API.
const apiVersion = "/2012-09-25"

// clientOptions are the flags of the commands that talk to a running
// transcoder through its Elastic Transcoder-compatible API.
type clientOptions struct {
	server    string
	region    string
	accessKey string
	secretKey string
}

// addClientFlags adds --server, --region, --access-key and --secret-key.
// The secret key's flag has no default taken from the environment, so
// that --help never shows it; TRANSCODER_SECRET_KEY is read when the
// client is made.
func addClientFlags(fs *pflag.FlagSet, o *clientOptions) {
	fs.StringVar(&o.server, "server", envOr("TRANSCODER_SERVER", defaultServer),
		"URL of the transcoder API ('transcoder run'; env TRANSCODER_SERVER)")
	fs.StringVar(&o.region, "region", "", "region requests are signed for (default: AWS_REGION or the AWS profile's, else us-east-1)")
	fs.StringVar(&o.accessKey, "access-key", "", "API access key (env TRANSCODER_ACCESS_KEY; default: the AWS credential chain, AWS_ACCESS_KEY_ID…)")
	fs.StringVar(&o.secretKey, "secret-key", "", "API secret key (env TRANSCODER_SECRET_KEY)")
}

// apiClient is an Elastic Transcoder client for one server, plus what the
// SDK does not cover: the live events of a job.
type apiClient struct {
	et     *elastictranscoder.Client
	server string // base URL, without a trailing slash
	region string
	// creds sign requests; nil when no credentials were found, and
	// requests go unsigned (a server with api.auth: false takes them).
	creds aws.CredentialsProvider
	http  *http.Client
}

// connect makes the client the flags describe. Credentials come from
// --access-key/--secret-key (or TRANSCODER_ACCESS_KEY/TRANSCODER_SECRET_KEY),
// else from the AWS SDK's standard chain (AWS_ACCESS_KEY_ID…, AWS_PROFILE,
// ~/.aws files, SSO). The EC2 instance metadata service is left out of the
// chain: an instance role's keys are never a transcoder's, and probing for
// it off EC2 costs seconds on every command.
func (o *clientOptions) connect(ctx context.Context) (*apiClient, error) {
	server, err := normalizeServer(o.server)
	if err != nil {
		return nil, err
	}
	ak, sk := o.accessKey, o.secretKey
	if ak == "" {
		ak = os.Getenv("TRANSCODER_ACCESS_KEY")
	}
	if sk == "" {
		sk = os.Getenv("TRANSCODER_SECRET_KEY")
	}
	if (ak == "") != (sk == "") {
		return nil, errors.New("--access-key and --secret-key (TRANSCODER_ACCESS_KEY, TRANSCODER_SECRET_KEY) go together: give both or neither")
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if o.region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.region))
	}
	if ak != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c := &apiClient{server: server, region: cfg.Region, creds: cfg.Credentials, http: &http.Client{}}
	if c.creds != nil {
		if _, err := c.creds.Retrieve(ctx); err != nil {
			// No credentials anywhere: go unsigned rather than fail here,
			// and explain if the server wants a signature (authError).
			c.creds, cfg.Credentials = nil, aws.AnonymousCredentials{}
		}
	}
	c.et = elastictranscoder.NewFromConfig(cfg, func(eo *elastictranscoder.Options) {
		eo.BaseEndpoint = aws.String(server)
		// The SDK retries a refused connection with backoff (about four
		// seconds in all); when nothing listens the user should hear so
		// at once. Everything else is retried as the SDK does.
		eo.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if unreachable(err) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, so.Retryables...)
		})
	})
	return c, nil
}

// normalizeServer accepts host:port as well as a URL.
func normalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("--server is empty: give the URL of the transcoder API, such as " + defaultServer)
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--server %q: want an http or https URL such as %s", s, defaultServer)
	}
	return strings.TrimRight(s, "/"), nil
}

// fail turns an error of a call to the API into the message the user sees
// and exit status 1: the server's error type and message, or a hint when
// the server cannot be reached.
func (c *apiClient) fail(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: 130, msg: "canceled"}
	}
	var ex *exitError
	if errors.As(err, &ex) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		msg := "transcoder: " + api.ErrorCode()
		if m := api.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		if c.creds == nil && authError(api.ErrorCode()) {
			msg += " (no credentials were found: give --access-key and --secret-key, TRANSCODER_ACCESS_KEY and TRANSCODER_SECRET_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
		}
		return &exitError{code: 1, msg: msg}
	}
	if unreachable(err) {
		return &exitError{code: 1, msg: fmt.Sprintf("transcoder: cannot reach the transcoder API at %s: %v (is `transcoder run` running? --server / TRANSCODER_SERVER)",
			c.server, rootCause(err))}
	}
	return &exitError{code: 1, msg: "transcoder: " + err.Error()}
}

// authError reports whether an error code means the request lacked a
// valid signature.
func authError(code string) bool {
	switch code {
	case "MissingAuthenticationTokenException", "AccessDeniedException", "IncompleteSignatureException",
		"UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch":
		return true
	}
	return false
}

// unreachable reports whether err means no HTTP conversation took place:
// connection refused, an unknown host, a dial timeout.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// rootCause is the innermost error, without the SDK's layers of
// "operation error …, exceeded maximum number of attempts …".
func rootCause(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// etDocument turns an SDK value into Elastic Transcoder's JSON document:
// the SDK's field names are the API's member names, and members the
// server did not send (nil) are left out rather than written as null.
// Whole numbers become int64, so that millisecond timestamps print whole
// in JSON and YAML alike.
func etDocument(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return pruneNulls(doc), nil
}

func pruneNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if e == nil {
				delete(t, k)
				continue
			}
			t[k] = pruneNulls(e)
		}
	case []any:
		for i, e := range t {
			t[i] = pruneNulls(e)
		}
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
	}
	return v
}

// writeDocument prints SDK values as Elastic Transcoder's JSON, or the
// same document as YAML.
func writeDocument(w io.Writer, format string, v any) error {
	doc, err := etDocument(v)
	if err != nil {
		return err
	}
	if format == formatYAML {
		return writeYAML(w, doc)
	}
	return writeJSON(w, doc)
}

var etID = regexp.MustCompile(`^\d{13}-\w{6}$`)

// isID reports whether s has the shape of an Elastic Transcoder ID.
func isID(s string) bool { return etID.MatchString(s) }

// readJob reads one job.
func (c *apiClient) readJob(ctx context.Context, id string) (*types.Job, error) {
	out, err := c.et.ReadJob(ctx, &elastictranscoder.ReadJobInput{Id: aws.String(id)})
	if err != nil {
		return nil, err
	}
	if out.Job == nil {
		return nil, fmt.Errorf("ReadJob %s: the answer holds no job", id)
	}
	return out.Job, nil
}

// errNoEvents means the server has no live events endpoint (an older
// transcoder, or another Elastic Transcoder implementation): callers poll.
var errNoEvents = errors.New("no live events endpoint")

// eventProgress is the data of a progress event (member names match in
// any case, as encoding/json does).
type eventProgress struct {
	Percent    float64 `json:"Percent"`
	Speed      float64 `json:"Speed"`
	EtaSeconds float64 `json:"EtaSeconds"`
}

func (p eventProgress) progress() ffmpeg.Progress {
	return ffmpeg.Progress{Percent: p.Percent, Speed: p.Speed, ETA: time.Duration(p.EtaSeconds * float64(time.Second)), Done: p.Percent >= 100}
}

// streamEvents reads GET /2012-09-25/jobs/ID/events, a text/event-stream
// of "state" events (the job's JSON) and "progress" events, signed like the
// SDK's requests, and calls onState and onProgress for each. It returns
// the last state seen when the stream ends (after the job's final state,
// or early if the connection drops), and errNoEvents when the server does
// not offer the stream.
func (c *apiClient) streamEvents(ctx context.Context, id string, onState func(*types.Job), onProgress func(ffmpeg.Progress)) (*types.Job, error) {
	// A connection that goes silent (the server sends a keep-alive every
	// 15 seconds) is dropped; follow then reads the job and reconnects.
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	idle := time.AfterFunc(streamIdleTimeout, cancel)
	defer idle.Stop()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, c.server+apiVersion+"/jobs/"+url.PathEscape(id)+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if err := c.sign(ctx, req); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("%w (%s)", errNoEvents, resp.Status)
	}
	var last *types.Job
	err = readSSE(idleReader{resp.Body, idle}, func(event string, data []byte) bool {
		switch event {
		case "state":
			var j types.Job
			if json.Unmarshal(data, &j) != nil {
				return true
			}
			last = &j
			onState(&j)
			return !jobs.Terminal(aws.ToString(j.Status))
		case "progress":
			var p eventProgress
			if onProgress != nil && json.Unmarshal(data, &p) == nil {
				onProgress(p.progress())
			}
		}
		return true
	})
	if ctx.Err() != nil {
		return last, ctx.Err()
	}
	return last, err
}

// streamIdleTimeout is how long an event stream may stay silent.
var streamIdleTimeout = time.Minute

// idleReader restarts an idle timer on every read that returns data.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
}

func (x idleReader) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if n > 0 {
		x.timer.Reset(streamIdleTimeout)
	}
	return n, err
}

// sign signs a bodiless request with SigV4 for Elastic Transcoder, as the
// SDK signs its own; without credentials the request goes unsigned.
func (c *apiClient) sign(ctx context.Context, req *http.Request) error {
	if c.creds == nil {
		return nil
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	const emptyPayload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" // SHA-256 of ""
	return v4.NewSigner().SignHTTP(ctx, creds, req, emptyPayload, signingName, c.region, time.Now())
}

// readSSE reads a server-sent event stream, calling fn with each event's
// type and data until fn returns false or the stream ends. Comments
// (":" lines, the server's keep-alives) are skipped.
func readSSE(r io.Reader, fn func(event string, data []byte) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20) // a job's JSON can be large
	event, data := "", []byte(nil)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				if event == "" {
					event = "message"
				}
				if !fn(event, data) {
					return nil
				}
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "data":
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, value...)
			}
		}
	}
	return sc.Err()
}

// followOptions say what to report while following a job.
type followOptions struct {
	// onState is called with the job each time its status changes, the
	// first time with the status it has when following starts.
	onState func(*types.Job)
	// onProgress is called with each progress event; nil ignores them.
	onProgress func(ffmpeg.Progress)
	// poll is how often the job is read when the server has no events
	// endpoint; default 2s.
	poll time.Duration
}

// statusRank orders job statuses as they follow one another.
func statusRank(status string) int {
	switch {
	case status == jobs.StatusSubmitted:
		return 0
	case status == jobs.StatusProgressing:
		return 1
	case jobs.Terminal(status):
		return 2
	}
	return 0
}

// follow waits for a job to end and returns it as it ended: from the live
// events when the server offers them, else by reading the job every
// o.poll. A stream that ends early (the server restarted) is reopened.
func (c *apiClient) follow(ctx context.Context, id string, o followOptions) (*types.Job, error) {
	if o.poll <= 0 {
		o.poll = 2 * time.Second
	}
	// The event stream replays the job's history, which may be older
	// than the status already reported: a status is reported only when it
	// moves the job on.
	lastStatus, lastRank := "", -1
	report := func(j *types.Job) {
		s := aws.ToString(j.Status)
		if r := statusRank(s); s != lastStatus && r >= lastRank {
			lastStatus, lastRank = s, r
			if o.onState != nil {
				o.onState(j)
			}
		}
	}
	job, err := c.readJob(ctx, id)
	if err != nil {
		return nil, err
	}
	report(job)
	events := true
	// A daemon that restarts while we wait is waited for, up to a minute
	// of not answering; the job goes on without it or is released to
	// another worker.
	var downSince time.Time
	down := func(err error) error {
		if downSince.IsZero() {
			downSince = time.Now()
		}
		if time.Since(downSince) > time.Minute {
			return err
		}
		return nil
	}
	for !jobs.Terminal(aws.ToString(job.Status)) {
		if events {
			last, err := c.streamEvents(ctx, id, report, o.onProgress)
			switch {
			case last != nil && jobs.Terminal(aws.ToString(last.Status)):
				return last, nil
			case ctx.Err() != nil:
				return job, ctx.Err()
			case errors.Is(err, errNoEvents):
				events = false
			case err != nil && unreachable(err):
				if err := down(err); err != nil {
					return job, err
				}
			}
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(o.poll):
		}
		next, err := c.readJob(ctx, id)
		if err != nil && unreachable(err) {
			if err := down(err); err != nil {
				return job, err
			}
			continue
		}
		if err != nil {
			return job, err
		}
		downSince = time.Time{}
		job = next
		report(job)
	}
	return job, nil
}
