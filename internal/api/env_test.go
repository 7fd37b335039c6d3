package api_test

// The test environment: a real embedded engine, a real MinIO for the
// buckets, the real job service and catalog, a real worker running real
// ffmpeg, and the API on an httptest server, driven by the real Elastic
// Transcoder client of the AWS SDK for Go v2.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	et "github.com/aws/aws-sdk-go-v2/service/elastictranscoder"

	"github.com/transcoder/transcoder/internal/apitest"
	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/jobs"
)

// configID is the ID of the configured (read-only) pipeline of every
// environment.
const configID = "1700000000000-config"

type testEnv struct {
	stack  *apitest.Stack
	eng    *engine.Engine
	svc    *jobs.Service
	cat    *catalog.Catalog
	stores *storage.Stores
	minio  *miniotest.Server
	srv    *httptest.Server
	client *et.Client
}

// options of newEnv.
type envOptions struct {
	minio  bool // start MinIO with buckets "inbox" and "outbox" as the default store
	worker bool // run a worker (real ffmpeg)
}

func newEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	st := apitest.Start(t, apitest.Options{
		MinIO: o.minio, Buckets: []string{"inbox", "outbox", "other-out"}, OtherStores: []string{"other"},
		Worker: o.worker,
		Config: []*catalog.Pipeline{catalog.ConfigPipeline(configID, "configured", "s3://inbox/", "s3://outbox/", "")},
	})
	e := &testEnv{stack: st, eng: st.Engine, svc: st.Jobs, cat: st.Catalog, stores: st.Stores, minio: st.MinIO}
	e.srv = httptest.NewServer(st.Handler)
	t.Cleanup(e.srv.Close)
	e.client = et.NewFromConfig(aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		BaseEndpoint: aws.String(e.srv.URL),
	})
	return e
}

// put stores a local file in a bucket of the default store.
func (e *testEnv) put(t testing.TB, bucket, key, file string) { e.stack.Put(t, bucket, key, file) }

// exists reports whether an object is in a bucket of the default store.
func (e *testEnv) exists(t testing.TB, bucket, key string) bool {
	return e.stack.Exists(t, bucket, key)
}

// do sends a raw request to the API.
func (e *testEnv) do(t testing.TB, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}
