// Package auth guards the Elastic Transcoder-compatible API: it accepts
// requests signed with AWS Signature Version 4 by the access keys of the
// configuration, refuses the others with the errors AWS answered (so that
// the SDKs and the AWS CLI report them as they always did), and limits
// each key's request rate.
//
// A signature is checked by signing the request again, with the secret
// of the access key it names, using the AWS SDK's own signer
// (aws-sdk-go-v2 aws/signer/v4) rather than a second implementation of
// the canonical request, and comparing the two in constant time.
package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/time/rate"
)

// Defaults of Options.
const (
	// DefaultService is Elastic Transcoder's signing name: the service of
	// a signature's credential scope.
	DefaultService = "elastictranscoder"
	// DefaultMaxSkew is how far a request's X-Amz-Date may be from the
	// server's clock, as at AWS.
	DefaultMaxSkew = 15 * time.Minute
	// DefaultMaxBody bounds the body read to check its hash. Elastic
	// Transcoder's largest requests (a job with 30 outputs and playlists)
	// are a few tens of kilobytes.
	DefaultMaxBody = 1 << 20
)

// Error codes, as AWS names them in the x-amzn-ErrorType header (the SDKs
// read the code from there).
const (
	CodeMissingToken        = "MissingAuthenticationTokenException"
	CodeIncompleteSignature = "IncompleteSignatureException"
	CodeInvalidSignature    = "InvalidSignatureException"
	// CodeRequestExpired is what Elastic Transcoder's documentation names
	// for a request signed more than 15 minutes away from the server's
	// clock. The AWS SDKs know it: they correct their clock by the
	// answer's Date header and retry.
	CodeRequestExpired     = "RequestExpired"
	CodeUnrecognizedClient = "UnrecognizedClientException"
	CodeThrottling         = "ThrottlingException"
	CodeTooLarge           = "RequestEntityTooLargeException"
)

// Messages of the errors whose wording SDK users search for.
const (
	MsgMissingToken      = "Missing Authentication Token"
	MsgUnrecognized      = "The security token included in the request is invalid."
	MsgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	MsgThrottled = "Rate exceeded"
)

const (
	algorithm  = "AWS4-HMAC-SHA256"
	terminator = "aws4_request"
	// amzDateFormat is ISO 8601 basic format, as X-Amz-Date carries it.
	amzDateFormat = "20060102T150405Z"
	// maxPresignExpiry is the longest X-Amz-Expires AWS accepts.
	maxPresignExpiry = 7 * 24 * time.Hour
	// maxEcho bounds how much of a malformed Authorization header an
	// error message repeats.
	maxEcho = 256
)

// Options configure an Authenticator.
type Options struct {
	// Credentials maps access key IDs to their secret keys. At least one
	// is required unless Disabled.
	Credentials map[string]string
	// Disabled lets every request through unsigned: for local use only.
	// New logs a warning that says so.
	Disabled bool
	// Service is the signing name a credential scope must carry; default
	// DefaultService.
	Service string
	// MaxSkew is how far X-Amz-Date may be from Now; default
	// DefaultMaxSkew.
	MaxSkew time.Duration
	// MaxBody bounds the request body (its hash is part of the
	// signature); larger ones are refused with 413. Default DefaultMaxBody.
	MaxBody int64
	// RateLimit, above 0, is the requests per second each access key may
	// make, in bursts of up to RateBurst (default: RateLimit rounded up,
	// at least 1); beyond it requests get 429 ThrottlingException. With
	// Disabled, all requests share one such budget. 0 means no limit.
	RateLimit float64
	RateBurst int
	// Logger receives refused attempts (at info, with the access key ID
	// and the reason, never a secret); nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock requests' dates are checked against; nil means
	// time.Now.
	Now func() time.Time
}

// Authenticator checks requests' signatures and rates. It is safe for
// concurrent use.
type Authenticator struct {
	secrets  map[string]string
	disabled bool
	service  string
	maxSkew  time.Duration
	maxBody  int64
	limiters map[string]*rate.Limiter // by access key; "" when Disabled
	log      *slog.Logger
	now      func() time.Time
	signer   *v4.Signer
}

// New checks opts and returns an Authenticator.
func New(opts Options) (*Authenticator, error) {
	a := &Authenticator{
		secrets:  map[string]string{},
		disabled: opts.Disabled,
		service:  opts.Service,
		maxSkew:  opts.MaxSkew,
		maxBody:  opts.MaxBody,
		log:      opts.Logger,
		now:      opts.Now,
		signer:   v4.NewSigner(),
	}
	if a.service == "" {
		a.service = DefaultService
	}
	if a.maxSkew <= 0 {
		a.maxSkew = DefaultMaxSkew
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBody
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if opts.RateLimit < 0 || math.IsNaN(opts.RateLimit) || math.IsInf(opts.RateLimit, 0) {
		return nil, fmt.Errorf("auth: rate limit %v: want a number of requests per second, 0 for none", opts.RateLimit)
	}
	if opts.RateBurst < 0 {
		return nil, fmt.Errorf("auth: rate burst %d is negative", opts.RateBurst)
	}
	var errs []error
	for key, secret := range opts.Credentials {
		switch {
		case key == "":
			errs = append(errs, errors.New("auth: an access key is empty"))
		case strings.ContainsAny(key, "/ ,=\t\r\n"):
			// The key is the first element of a slash-separated
			// credential scope in a comma-separated header.
			errs = append(errs, fmt.Errorf("auth: access key %q contains a character out of / , = or a space", key))
		case secret == "":
			errs = append(errs, fmt.Errorf("auth: access key %s has an empty secret key", key))
		default:
			a.secrets[key] = secret
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !a.disabled && len(a.secrets) == 0 {
		return nil, errors.New("auth: no credentials: configure api.credentials, or set api.auth: false " +
			"to run the API without authentication (local use only)")
	}
	if opts.RateLimit > 0 {
		burst := opts.RateBurst
		if burst == 0 {
			burst = max(1, int(math.Ceil(opts.RateLimit)))
		}
		a.limiters = map[string]*rate.Limiter{}
		if a.disabled {
			a.limiters[""] = rate.NewLimiter(rate.Limit(opts.RateLimit), burst)
		} else {
			for key := range a.secrets {
				a.limiters[key] = rate.NewLimiter(rate.Limit(opts.RateLimit), burst)
			}
		}
	}
	if a.disabled {
		a.log.Warn("API authentication is OFF (api.auth: false): anyone who can reach the listener can create, " +
			"read, change and delete pipelines, presets and jobs. Use it on a trusted machine only; configure " +
			"api.credentials to require signed requests.")
	}
	return a, nil
}

type ctxKey struct{}

// AccessKey returns the access key ID that signed the request whose
// context ctx is, or "" when authentication is off.
func AccessKey(ctx context.Context) string {
	k, _ := ctx.Value(ctxKey{}).(string)
	return k
}

// Wrap returns a handler that passes to next only the requests that are
// signed by a configured access key and within its rate, with the key in
// the request's context (AccessKey), and answers the others with AWS's
// errors. The body of a passed request can be read again by next.
func (a *Authenticator) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.disabled {
			if a.allow(w, r, "") {
				next.ServeHTTP(w, r)
			}
			return
		}
		key, f := a.verify(r)
		if f != nil {
			a.refuse(w, r, f)
			return
		}
		if !a.allow(w, r, key) {
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, key)))
	})
}

// failure is a refused request: what the client is told and what the log
// says.
type failure struct {
	status  int
	code    string
	message string
	// key is the access key the request claimed, if any.
	key string
	// reason is the log's account, when it says more than message.
	reason string
}

func incomplete(message string) *failure {
	return &failure{status: http.StatusBadRequest, code: CodeIncompleteSignature, message: message}
}

func expired(key, message string) *failure {
	return &failure{status: http.StatusBadRequest, code: CodeRequestExpired, message: message, key: key}
}

func invalid(key, message string) *failure {
	return &failure{status: http.StatusForbidden, code: CodeInvalidSignature, message: message, key: key}
}

// signature is what a request claims: from its Authorization header or,
// for a presigned URL, its query.
type signature struct {
	presigned     bool
	key           string
	date          string // the credential scope's YYYYMMDD
	region        string
	service       string
	signedHeaders []string
	signature     string
	time          time.Time // X-Amz-Date
	expires       time.Duration
}

// verify checks r's signature and returns the access key that made it.
func (a *Authenticator) verify(r *http.Request) (string, *failure) {
	sig, f := a.parse(r)
	if f != nil {
		return "", f
	}
	if f := a.checkScope(sig); f != nil {
		return "", f
	}
	secret, ok := a.secrets[sig.key]
	if !ok {
		return "", &failure{status: http.StatusForbidden, code: CodeUnrecognizedClient, message: MsgUnrecognized,
			key: sig.key, reason: "unknown access key"}
	}
	body, f := a.readBody(r)
	if f != nil {
		f.key = sig.key
		return "", f
	}
	want, signedHeaders, err := a.sign(r, sig, secret, body)
	if err != nil {
		return "", &failure{status: http.StatusInternalServerError, code: "InternalFailure",
			message: "The request processing has failed because of an unknown error.", key: sig.key,
			reason: "signing the request again failed: " + err.Error()}
	}
	if claimed := strings.Join(sig.signedHeaders, ";"); claimed != signedHeaders {
		// The signer canonicalises what it is given: a header the client
		// signed but that did not arrive, or that the SDK never signs
		// (User-Agent, Expect…), makes the lists differ, and then the
		// signatures cannot agree. Say why in the log.
		f := invalid(sig.key, MsgSignatureMismatch)
		f.reason = fmt.Sprintf("signed headers %q cannot be reproduced (rebuilt %q)", claimed, signedHeaders)
		return "", f
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(sig.signature))) {
		f := invalid(sig.key, MsgSignatureMismatch)
		f.reason = "signature mismatch (wrong secret key, or the request changed after signing)"
		return "", f
	}
	return sig.key, nil
}

// parse reads the claimed signature of r, in the Authorization header or
// a presigned URL's query.
func (a *Authenticator) parse(r *http.Request) (*signature, *failure) {
	header := r.Header.Get("Authorization")
	q := r.URL.Query()
	if header == "" && (q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential")) {
		return a.parsePresigned(q)
	}
	if header == "" {
		return nil, &failure{status: http.StatusForbidden, code: CodeMissingToken, message: MsgMissingToken,
			reason: "no Authorization header"}
	}
	sig := &signature{}
	params := map[string]string{}
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg == algorithm {
		for part := range strings.SplitSeq(rest, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return nil, incomplete(fmt.Sprintf("'%s' not a valid key=value pair (missing equal-sign) in "+
					"Authorization header: '%s'.", echo(part), echo(header)))
			}
			params[k] = v
		}
	}
	var missing []string
	for _, p := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[p] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", p))
		}
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		// AWS also takes a Date header; every SDK sends X-Amz-Date, and
		// the SDK's signer, which checks signatures here, signs only that.
		missing = append(missing, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	if len(missing) > 0 {
		if alg != algorithm && alg != "" {
			missing = append([]string{fmt.Sprintf("Unsupported authorization type '%s': use %s.", echo(alg), algorithm)},
				missing...)
		}
		return nil, incomplete(strings.Join(missing, " ") + " Authorization=" + echo(header))
	}
	if f := parseCredential(sig, params["Credential"]); f != nil {
		return nil, f
	}
	sig.signedHeaders = strings.Split(params["SignedHeaders"], ";")
	sig.signature = params["Signature"]
	t, err := time.Parse(amzDateFormat, date)
	if err != nil {
		return nil, incomplete(fmt.Sprintf("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", "+
			"not '%s'.", echo(date)))
	}
	sig.time = t
	return sig, nil
}

// parsePresigned reads a presigned URL's query parameters.
func (a *Authenticator) parsePresigned(q url.Values) (*signature, *failure) {
	var missing []string
	for _, p := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders",
		"X-Amz-Date"} {
		if q.Get(p) == "" {
			missing = append(missing, fmt.Sprintf("AWS query-string parameters must include '%s'.", p))
		}
	}
	if len(missing) > 0 {
		return nil, incomplete(strings.Join(missing, " ") + " Re-examine the query-string parameters.")
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return nil, incomplete(fmt.Sprintf("X-Amz-Algorithm only supports %q, not %q.", algorithm, echo(alg)))
	}
	sig := &signature{presigned: true}
	if f := parseCredential(sig, q.Get("X-Amz-Credential")); f != nil {
		return nil, f
	}
	sig.signedHeaders = strings.Split(q.Get("X-Amz-SignedHeaders"), ";")
	sig.signature = q.Get("X-Amz-Signature")
	t, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return nil, incomplete(fmt.Sprintf("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", "+
			"not '%s'.", echo(q.Get("X-Amz-Date"))))
	}
	sig.time = t
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxPresignExpiry {
			return nil, incomplete(fmt.Sprintf("X-Amz-Expires must be a whole number of seconds from 0 to %d, not '%s'.",
				int64(maxPresignExpiry/time.Second), echo(e)))
		}
		sig.expires = time.Duration(n) * time.Second
	}
	return sig, nil
}

// parseCredential reads AKID/YYYYMMDD/REGION/SERVICE/aws4_request.
func parseCredential(sig *signature, cred string) *failure {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return incomplete(fmt.Sprintf("Credential must have exactly 5 slash-delimited elements, "+
			"e.g. keyid/date/region/service/term, got '%s'.", echo(cred)))
	}
	sig.key, sig.date, sig.region, sig.service = parts[0], parts[1], parts[2], parts[3]
	if parts[4] != terminator {
		return invalid(sig.key, fmt.Sprintf("Credential should be scoped with a valid terminator: '%s', not '%s'.",
			terminator, echo(parts[4])))
	}
	return nil
}

// checkScope checks the credential scope and the request's time against
// the server's clock, with AWS's words.
func (a *Authenticator) checkScope(sig *signature) *failure {
	if sig.region == "" {
		// Any region will do: there is one server, whatever the client's
		// configuration says (the AWS CLI and SDKs insist on one).
		return invalid(sig.key, "Credential should be scoped to a valid region. ")
	}
	if sig.service != a.service {
		f := invalid(sig.key, fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", a.service))
		f.reason = fmt.Sprintf("credential scoped to service %q", sig.service)
		return f
	}
	amzDate := sig.time.Format(amzDateFormat)
	if sig.date != amzDate[:8] {
		return invalid(sig.key, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "+
			"of date from HTTP: '%s' != '%s', from '%s'.", echo(sig.date), amzDate[:8], amzDate))
	}
	now := a.now().UTC()
	skew := int(a.maxSkew / time.Minute)
	if sig.presigned {
		if now.Before(sig.time.Add(-a.maxSkew)) {
			return invalid(sig.key, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
				amzDate, now.Add(a.maxSkew).Format(amzDateFormat), now.Format(amzDateFormat), skew))
		}
		if sig.expires > 0 {
			// A presigned URL is good from its date until it expires.
			if end := sig.time.Add(sig.expires); now.After(end) {
				return invalid(sig.key, fmt.Sprintf("Signature expired: %s is now earlier than %s (X-Amz-Date %s + "+
					"X-Amz-Expires %d s.)", end.Format(amzDateFormat), now.Format(amzDateFormat), amzDate,
					int64(sig.expires/time.Second)))
			}
			return nil
		}
	}
	if earliest := now.Add(-a.maxSkew); sig.time.Before(earliest) {
		return expired(sig.key, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
			amzDate, earliest.Format(amzDateFormat), now.Format(amzDateFormat), skew))
	}
	if latest := now.Add(a.maxSkew); sig.time.After(latest) {
		return expired(sig.key, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			amzDate, latest.Format(amzDateFormat), now.Format(amzDateFormat), skew))
	}
	return nil
}

// readBody reads r's body (its hash is signed) and puts it back for the
// next handler.
func (a *Authenticator) readBody(r *http.Request) ([]byte, *failure) {
	tooLarge := &failure{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
		message: fmt.Sprintf("The request body is larger than %d bytes.", a.maxBody)}
	if r.ContentLength > a.maxBody {
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, &failure{status: http.StatusBadRequest, code: CodeIncompleteSignature,
			message: "The request body could not be read.", reason: "reading the body: " + err.Error()}
	}
	if int64(len(body)) > a.maxBody {
		return nil, tooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// sign signs a copy of r, made of what the client signed, with secret, at
// the claimed time, region and service, and returns the signature and the
// signed headers the signer chose.
func (a *Authenticator) sign(r *http.Request, sig *signature, secret string, body []byte) (signature, signedHeaders string, err error) {
	target := r.RequestURI
	if target == "" { // a request made in process, not read from a connection
		target = r.URL.RequestURI()
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return "", "", fmt.Errorf("request URI: %w", err)
	}
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if sig.presigned {
		// The signature is not part of what it signs; the signer sets the
		// other X-Amz-* parameters again, to the same values.
		q := u.Query()
		q.Del("X-Amz-Signature")
		u.RawQuery = q.Encode()
	}
	c := &http.Request{Method: r.Method, URL: u, Host: r.Host, Header: http.Header{}}
	for _, h := range sig.signedHeaders {
		switch h {
		case "host":
		case "content-length":
			// The signer signs the length it is given, not the header.
			c.ContentLength = int64(len(body))
		default:
			if vs := r.Header.Values(h); len(vs) > 0 {
				c.Header[http.CanonicalHeaderKey(h)] = vs
			}
		}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	creds := aws.Credentials{AccessKeyID: sig.key, SecretAccessKey: secret}
	if sig.presigned {
		signed, _, err := a.signer.PresignHTTP(r.Context(), creds, c, payloadHash, sig.service, sig.region, sig.time)
		if err != nil {
			return "", "", err
		}
		su, err := url.Parse(signed)
		if err != nil {
			return "", "", fmt.Errorf("presigned URL: %w", err)
		}
		return su.Query().Get("X-Amz-Signature"), su.Query().Get("X-Amz-SignedHeaders"), nil
	}
	if err := a.signer.SignHTTP(r.Context(), creds, c, payloadHash, sig.service, sig.region, sig.time); err != nil {
		return "", "", err
	}
	_, params, _ := strings.Cut(c.Header.Get("Authorization"), " ")
	for part := range strings.SplitSeq(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "SignedHeaders":
			signedHeaders = v
		case "Signature":
			signature = v
		}
	}
	return signature, signedHeaders, nil
}

// allow spends one request of key's rate, or answers 429 and returns
// false.
func (a *Authenticator) allow(w http.ResponseWriter, r *http.Request, key string) bool {
	lim := a.limiters[key]
	if lim == nil {
		return true
	}
	now := a.now()
	res := lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if res.OK() && delay == 0 {
		return true
	}
	res.CancelAt(now)
	retry := max(1, int(math.Ceil(delay.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	a.log.Debug("api: request throttled", "access_key", key, "method", r.Method, "path", r.URL.Path,
		"retry_after", retry)
	// The trailing colon is how the service wrote this header
	// (boto/botocore#235); SDKs cut the code at the first colon.
	a.write(w, http.StatusTooManyRequests, CodeThrottling+":", MsgThrottled)
	return false
}

// refuse answers a failed check and logs it.
func (a *Authenticator) refuse(w http.ResponseWriter, r *http.Request, f *failure) {
	reason := f.reason
	if reason == "" {
		reason = f.message
	}
	a.log.Info("api: request refused", "access_key", f.key, "error", f.code, "reason", reason,
		"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	// The Date of the clock that judged the request lets the SDKs correct
	// their signing time and retry, as they do against AWS.
	w.Header().Set("Date", a.now().UTC().Format(http.TimeFormat))
	a.write(w, f.status, f.code, f.message)
}

// write answers with an error in the shape of Elastic Transcoder's.
func (a *Authenticator) write(w http.ResponseWriter, status int, code, message string) {
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-Errortype", code)
	h.Set("X-Amzn-Requestid", requestID())
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// requestID returns a random ID shaped like AWS's request IDs (a UUID).
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// echo shortens what a client sent for an error message.
func echo(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
