package auth_test

// The real Elastic Transcoder client of the AWS SDK for Go v2 (the last
// release, v1.33.0) against the Authenticator: signed calls pass, and
// refusals arrive as the typed API errors SDK users check for.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	et "github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	ettypes "github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"
	"github.com/aws/smithy-go"

	"github.com/transcoder/transcoder/internal/auth"
)

// etClient is an Elastic Transcoder client of baseURL with static keys;
// secret "" makes it anonymous (unsigned). retries 0 means none.
func etClient(baseURL, key, secret string, retries int) *et.Client {
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if secret != "" {
		creds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, Source: "test"}, nil
		})
	}
	opts := et.Options{Region: "us-west-2", BaseEndpoint: aws.String(baseURL), Credentials: creds}
	if retries == 0 {
		opts.Retryer = aws.NopRetryer{}
	} else {
		opts.RetryMaxAttempts = retries
	}
	return et.New(opts)
}

// apiError unpacks an SDK error: code, message and HTTP status.
func apiError(t *testing.T, err error) (code, message string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), ae.ErrorMessage(), status
}

// TestETClient drives the SDK's Elastic Transcoder client through the
// Authenticator.
func TestETClient(t *testing.T) {
	var clockSkew atomic.Int64 // the server's clock minus the real one
	now := func() time.Time { return time.Now().Add(time.Duration(clockSkew.Load())) }
	srv, s, logs := server(t, auth.Options{Now: now})
	ctx := context.Background()
	presetID := aws.String("1351620000001-000061")

	t.Run("signed ReadPreset", func(t *testing.T) {
		out, err := etClient(srv.URL, testKey, testSecret, 0).ReadPreset(ctx, &et.ReadPresetInput{Id: presetID})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.Preset.Id) != "1351620000001-000061" || aws.ToString(out.Preset.Container) != "mp4" {
			t.Errorf("preset %+v", out.Preset)
		}
		if _, _, key := s.get(); key != testKey {
			t.Errorf("AccessKey %q", key)
		}
	})
	t.Run("signed CreatePreset", func(t *testing.T) {
		_, err := etClient(srv.URL, otherKey, otherSec, 0).CreatePreset(ctx, &et.CreatePresetInput{
			Name: aws.String("mine"), Container: aws.String("mp4"),
			Video: &ettypes.VideoParameters{Codec: aws.String("H.264"), BitRate: aws.String("2400")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, body, key := s.get(); key != otherKey || !strings.Contains(string(body), `"BitRate":"2400"`) {
			t.Errorf("handler saw key %q, body %s", key, body)
		}
	})
	t.Run("signed ListJobsByStatus with a query", func(t *testing.T) {
		_, err := etClient(srv.URL, testKey, testSecret, 0).ListJobsByStatus(ctx, &et.ListJobsByStatusInput{
			Status: aws.String("Progressing"), Ascending: aws.String("true"), PageToken: aws.String("1700000000000-abc/de"),
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	refusals := []struct {
		name         string
		client       *et.Client
		serverAhead  time.Duration
		code, msg    string
		status       int
		wantHandlerN int
	}{
		{name: "unsigned", client: etClient(srv.URL, "", "", 0),
			code: "MissingAuthenticationTokenException", msg: "Missing Authentication Token", status: 403},
		{name: "wrong secret", client: etClient(srv.URL, testKey, "wrong", 0),
			code: "InvalidSignatureException", msg: "The request signature we calculated does not match", status: 403},
		{name: "unknown key", client: etClient(srv.URL, "AKIDNOBODY", testSecret, 0),
			code: "UnrecognizedClientException", msg: "The security token included in the request is invalid.", status: 403},
		// RequestExpired, as Elastic Transcoder's documentation names it
		// (with retries the SDK corrects its clock and tries again: see
		// "clock skew corrected" below).
		{name: "clock 16 minutes slow", client: etClient(srv.URL, testKey, testSecret, 0), serverAhead: 16 * time.Minute,
			code: "RequestExpired", msg: "Signature expired: ", status: 400},
		{name: "clock 16 minutes fast", client: etClient(srv.URL, testKey, testSecret, 0), serverAhead: -16 * time.Minute,
			code: "RequestExpired", msg: "Signature not yet current: ", status: 400},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			clockSkew.Store(int64(c.serverAhead))
			defer clockSkew.Store(0)
			before, _, _ := s.get()
			_, err := c.client.ReadPreset(ctx, &et.ReadPresetInput{Id: presetID})
			if err == nil {
				t.Fatal("passed")
			}
			code, msg, status := apiError(t, err)
			if code != c.code || !strings.Contains(msg, c.msg) || status != c.status {
				t.Errorf("got %d %s %q, want %d %s containing %q", status, code, msg, c.status, c.code, c.msg)
			}
			if after, _, _ := s.get(); after != before {
				t.Error("a refused call reached the handler")
			}
		})
	}

	// With its retries on, the SDK corrects its clock by the refusal's
	// Date header and the call goes through, as it would against AWS.
	t.Run("clock skew corrected", func(t *testing.T) {
		clockSkew.Store(int64(16 * time.Minute))
		defer clockSkew.Store(0)
		if _, err := etClient(srv.URL, testKey, testSecret, 3).ReadPreset(ctx, &et.ReadPresetInput{Id: presetID}); err != nil {
			t.Fatalf("not corrected: %v", err)
		}
	})

	if log := logs.String(); strings.Contains(log, testSecret) || strings.Contains(log, otherSec) {
		t.Errorf("a secret key is in the log:\n%s", log)
	}
}

// TestETClientThrottled: beyond its rate a key's calls fail with
// ThrottlingException (429), which the SDK knows as throttling.
func TestETClientThrottled(t *testing.T) {
	srv, _, _ := server(t, auth.Options{RateLimit: 0.1, RateBurst: 2})
	c := etClient(srv.URL, testKey, testSecret, 0)
	ctx := context.Background()
	for i := range 2 {
		if _, err := c.ReadPreset(ctx, &et.ReadPresetInput{Id: aws.String("1351620000001-000061")}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	_, err := c.ReadPreset(ctx, &et.ReadPresetInput{Id: aws.String("1351620000001-000061")})
	if err == nil {
		t.Fatal("not throttled")
	}
	code, msg, status := apiError(t, err)
	if code != "ThrottlingException" || msg != "Rate exceeded" || status != http.StatusTooManyRequests {
		t.Errorf("got %d %s %q", status, code, msg)
	}
	// The other key still has its budget.
	if _, err := etClient(srv.URL, otherKey, otherSec, 0).ReadPreset(ctx,
		&et.ReadPresetInput{Id: aws.String("1351620000001-000061")}); err != nil {
		t.Errorf("other key: %v", err)
	}
}
