package pipeline_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	et "github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"
	"github.com/aws/smithy-go"

	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/pipeline"
)

// TestDaemonAPI runs the daemon with its API on and talks to it with the
// real Elastic Transcoder client: the file's pipeline is listed and runs
// a job; requests must be signed; /metrics counts the job.
func TestDaemonAPI(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(testmedia.Path(t, testmedia.Tiny), filepath.Join(dir, "in", "clip.mp4")); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.ParseConfig(filepath.Join(dir, "transcoder.yaml"), []byte(`data_dir: ./data
listen: 127.0.0.1:0
api:
  credentials: [{access_key: AKIDTEST, secret_key: test-secret}]
pipelines:
  - name: files
    status: Paused          # no watcher jobs: only the API's
    input: ./in/
    output: ./out/
    outputs: [{preset: generic-320x240, key: "{{.Base}}.mp4"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	dm := startDaemon(t, cfg)
	base := "http://" + dm.d.Addr()
	client := func(secret string) *et.Client {
		return et.New(et.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), Retryer: aws.NopRetryer{},
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: secret}, nil
			})})
	}
	ctx := context.Background()
	c := client("test-secret")
	pls, err := c.ListPipelines(ctx, &et.ListPipelinesInput{})
	if err != nil || len(pls.Pipelines) != 1 || aws.ToString(pls.Pipelines[0].Name) != "files" {
		t.Fatalf("ListPipelines: %v %+v", err, pls)
	}
	id := pls.Pipelines[0].Id
	if _, err := c.UpdatePipelineStatus(ctx, &et.UpdatePipelineStatusInput{Id: id, Status: aws.String("Active")}); err != nil {
		t.Fatal(err)
	}
	job, err := c.CreateJob(ctx, &et.CreateJobInput{PipelineId: id, Input: &types.JobInput{Key: aws.String("clip.mp4")},
		Outputs: []types.CreateJobOutput{{Key: aws.String("api/clip.mp4"), PresetId: aws.String("1351620000001-000061")}}})
	if err != nil {
		t.Fatal(err)
	}
	w := et.NewJobCompleteWaiter(c, func(o *et.JobCompleteWaiterOptions) { o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second })
	if err := w.Wait(ctx, &et.ReadJobInput{Id: job.Job.Id}, 2*time.Minute); err != nil {
		t.Fatalf("JobComplete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "api", "clip.mp4")); err != nil {
		t.Errorf("output: %v", err)
	}
	// Wrong secret: refused with the error ET's clients expect.
	_, err = client("wrong").ListPipelines(ctx, &et.ListPipelinesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Errorf("wrong secret: %v", err)
	}
	// Unsigned.
	resp, err := http.Get(base + "/2012-09-25/pipelines")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned: %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}
	// Metrics and health need no signature.
	for path, want := range map[string]string{
		"/metrics": `transcoder_jobs_finished_total{status="Complete"} 1`, "/healthz": "ok", "/readyz": "ready",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d, want %q in:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}
}

// TestDaemonAPIWithoutCredentials: a file that says nothing about the API
// still starts the daemon; API requests are refused, saying why.
func TestDaemonAPIWithoutCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg, err := pipeline.ParseConfig(filepath.Join(dir, "transcoder.yaml"), []byte(`data_dir: ./data
listen: 127.0.0.1:0
`))
	if err != nil {
		t.Fatal(err)
	}
	dm := startDaemon(t, cfg)
	resp, err := http.Get("http://" + dm.d.Addr() + "/2012-09-25/pipelines")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != "AccessDeniedException" ||
		!strings.Contains(string(body), "no API credentials configured") {
		t.Errorf("%d %s %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
	}
}
