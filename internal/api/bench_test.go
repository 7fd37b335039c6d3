package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/transcoder/transcoder/internal/api"
	"github.com/transcoder/transcoder/internal/auth"
)

// benchConns is how many connections the load generator keeps busy.
const benchConns = 16

// BenchmarkAPI is a load generator over loopback HTTP: benchConns
// clients send CreateJob (to a paused pipeline, so that no ffmpeg runs)
// or ReadJob as fast as answers come, and the benchmark reports requests
// per second and latency percentiles. Every request is signed with SigV4
// by the SDK's signer and checked by internal/auth, as the daemon serves
// the API.
//
//	go test -run '^$' -bench API -benchtime 5s ./internal/api
func BenchmarkAPI(b *testing.B) {
	e := newEnv(b, envOptions{})
	if err := e.svc.Pause(context.Background(), configID); err != nil {
		b.Fatal(err)
	}
	const key, secret = "AKIDBENCH", "bench-secret"
	authn, err := auth.New(auth.Options{Credentials: map[string]string{key: secret},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	signed := httptest.NewServer(authn.Wrap(api.New(api.Options{Jobs: e.svc, Catalog: e.cat, Stores: e.stores,
		Logger: slog.New(slog.DiscardHandler)})))
	defer signed.Close()
	signer := v4.NewSigner()
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchConns, MaxConnsPerHost: benchConns}}
	create := []byte(`{"PipelineId":"` + configID + `","Input":{"Key":"in.mp4"},"OutputKeyPrefix":"bench/",` +
		`"Outputs":[{"Key":"720p.mp4","PresetId":"1351620000001-000010"},{"Key":"480p.mp4","PresetId":"1351620000001-000020"}]}`)
	send := func(method, url string, body []byte) (int, []byte, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256(body)
		if err := signer.SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "elastictranscoder",
			"us-east-1", time.Now()); err != nil {
			return 0, nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		return resp.StatusCode, data, err
	}
	b.Run("CreateJob", func(b *testing.B) {
		load(b, func(int) error {
			return expect(send("POST", signed.URL+"/2012-09-25/jobs", create))(http.StatusCreated)
		})
	})
	// Jobs to read: made once, read round robin.
	ids := make([]string, 1000)
	for i := range ids {
		_, body, err := send("POST", signed.URL+"/2012-09-25/jobs", create)
		var out struct{ Job struct{ Id string } }
		if err != nil || json.Unmarshal(body, &out) != nil || out.Job.Id == "" {
			b.Fatalf("CreateJob: %v %s", err, body)
		}
		ids[i] = out.Job.Id
	}
	b.Run("ReadJob", func(b *testing.B) {
		load(b, func(i int) error {
			return expect(send("GET", signed.URL+"/2012-09-25/jobs/"+ids[i%len(ids)], nil))(http.StatusOK)
		})
	})
}

// expect checks an answer's status.
func expect(status int, body []byte, err error) func(want int) error {
	return func(want int) error {
		if err == nil && status != want {
			err = &unexpected{status, string(body)}
		}
		return err
	}
}

type unexpected struct {
	status int
	body   string
}

func (u *unexpected) Error() string { return http.StatusText(u.status) + ": " + u.body }

// load runs do b.N times from benchConns goroutines and reports the rate
// and latency percentiles.
func load(b *testing.B, do func(i int) error) {
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range benchConns {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N || failed.Load() != nil {
					return
				}
				t0 := time.Now()
				if err := do(i); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if p := failed.Load(); p != nil {
		b.Fatal(*p)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)]) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // the rate says it; ns/op of a concurrent load misleads
}
