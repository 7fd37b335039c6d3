package main

// The CLI as a client, against a real server: an embedded engine, the
// job service, the catalog and the API behind SigV4 authentication on an
// httptest server, a worker running real ffmpeg, and MinIO as the default
// store whose buckets the pipelines name.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"

	"github.com/transcoder/transcoder/internal/api"
	"github.com/transcoder/transcoder/internal/apitest"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// Credentials the test server accepts.
const (
	testAccessKey = "AKIDTRANSCODERCLI"
	testSecretKey = "cli-secret-never-printed"
)

// apiServer is a running transcoder API with its buckets.
type apiServer struct {
	*apitest.Stack
	URL string
	// noEvents takes the live events endpoint away, as on a server that
	// has none.
	noEvents atomic.Bool
	handler  http.Handler
	addr     string
	srv      *http.Server
}

// serve starts listening on s.addr (a free port the first time).
func (s *apiServer) serve(t *testing.T) {
	t.Helper()
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.srv = &http.Server{Handler: s.handler}
	go func() { _ = s.srv.Serve(ln) }()
}

// stop closes the listener and every connection: a daemon restarting.
func (s *apiServer) stop() { _ = s.srv.Close() }

// startAPIServer starts the whole server in process, behind SigV4; MinIO
// holds the buckets "inbox" and "outbox" of the default store.
func startAPIServer(t *testing.T) *apiServer {
	t.Helper()
	st := apitest.Start(t, apitest.Options{MinIO: true, Buckets: []string{"inbox", "outbox"}, Worker: true,
		Credentials: map[string]string{testAccessKey: testSecretKey}})
	s := &apiServer{Stack: st}
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.noEvents.Load() && strings.HasSuffix(r.URL.Path, "/events") {
			api.WriteError(w, http.StatusNotFound, "UnknownOperationException", "no operation at "+r.URL.Path)
			return
		}
		st.Handler.ServeHTTP(w, r)
	})
	s.serve(t)
	t.Cleanup(s.stop)
	return s
}

// put stores a local file in a bucket of the default store.
func (s *apiServer) put(t *testing.T, bucket, key, file string) { s.Put(t, bucket, key, file) }

// exists reports whether an object is in a bucket of the default store.
func (s *apiServer) exists(t *testing.T, bucket, key string) bool { return s.Exists(t, bucket, key) }

// isolateAWS keeps the developer's own AWS settings out of a test.
func isolateAWS(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
		"AWS_DEFAULT_REGION", "TRANSCODER_SERVER", "TRANSCODER_ACCESS_KEY", "TRANSCODER_SECRET_KEY"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

// jobJSON is what the tests read of a job.
type jobJSON struct {
	Id, PipelineId, Status string
	Input                  struct{ Key string }
	Outputs                []struct {
		Id, Key, PresetId, Status, StatusDetail, ThumbnailPattern string
		Width, Height                                             int
	}
	UserMetadata map[string]string
	Timing       struct{ SubmitTimeMillis, FinishTimeMillis int64 }
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

// exitCode is the status main would exit with for err.
func exitCode(err error) int {
	var ex *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ex):
		return ex.code
	}
	return 1
}

func errText(err error) string {
	var ex *exitError
	if errors.As(err, &ex) {
		return ex.msg
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestClientAgainstServer drives every client command, in process,
// against a real server.
func TestClientAgainstServer(t *testing.T) {
	isolateAWS(t)
	s := startAPIServer(t)
	s.put(t, "inbox", "movies/clip.mp4", testmedia.Path(t, testmedia.Tiny))
	srv := []string{"--server", s.URL, "--access-key", testAccessKey, "--secret-key", testSecretKey}
	cli := func(args ...string) (string, string, error) {
		t.Helper()
		// Client flags after the subcommand, as people type them.
		return run(t, append(args, srv...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, err := cli(args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), errText(err), stderr, out)
		}
		return out
	}

	// A pipeline, by name from now on.
	out := must("pipelines", "create", "--name", "cli-test", "--input-bucket", "inbox", "--output-bucket", "outbox", "-o", "json")
	pl := decodeJSON[struct{ Id, Name, Status, InputBucket, OutputBucket string }](t, out)
	if !isID(pl.Id) || pl.Name != "cli-test" || pl.Status != "Active" || pl.InputBucket != "inbox" || pl.OutputBucket != "outbox" {
		t.Fatalf("created pipeline: %+v", pl)
	}
	if out := must("pipelines", "list"); !strings.Contains(out, pl.Id) || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "cli-test") {
		t.Errorf("pipelines list:\n%s", out)
	}
	if out := must("pipelines", "show", "cli-test"); !strings.Contains(out, "Status:") || !strings.Contains(out, "Active") {
		t.Errorf("pipelines show:\n%s", out)
	}

	// A job with two outputs: an alias with a key of its own, and one
	// named by the key template; then wait for it.
	out = must("jobs", "create", "--pipeline", "cli-test", "--input", "movies/clip.mp4",
		"-p", "generic-360p-16-9:movies/clip/360p.mp4", "-p", "audio-mp3-128k", "--key", "{{.Dir}}/{{.Base}}/{{.Alias}}{{.Ext}}",
		"--thumbnail-pattern", "{{.Dir}}/{{.Base}}/t-{count}", "--metadata", "customer=acme", "-o", "json")
	job := decodeJSON[jobJSON](t, out)
	if !isID(job.Id) || job.PipelineId != pl.Id || len(job.Outputs) != 2 || job.Input.Key != "movies/clip.mp4" || job.UserMetadata["customer"] != "acme" {
		t.Fatalf("created job: %+v", job)
	}
	if o := job.Outputs[0]; o.Key != "movies/clip/360p.mp4" || o.PresetId != "1351620000001-000040" || o.ThumbnailPattern != "movies/clip/t-{count}" {
		t.Errorf("output 1: %+v", o)
	}
	if o := job.Outputs[1]; o.Key != "movies/clip/audio-mp3-128k.mp3" || o.PresetId != "1351620000001-300040" {
		t.Errorf("output 2: %+v", o)
	}
	start := time.Now()
	out, stderr, err := cli("jobs", "wait", job.Id, "--timeout", "3m")
	if err != nil {
		t.Fatalf("jobs wait: %v\n%s%s", errText(err), out, stderr)
	}
	t.Logf("job done in %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, job.Id) || !strings.Contains(out, "Complete") {
		t.Errorf("jobs wait:\n%s", out)
	}
	for _, key := range []string{"movies/clip/360p.mp4", "movies/clip/audio-mp3-128k.mp3", "movies/clip/t-00001.png"} {
		if !s.exists(t, "outbox", key) {
			t.Errorf("output %s is not in the bucket", key)
		}
	}

	// Show it: as a table, as ET's JSON, and --watch of a finished job.
	out = must("jobs", "show", job.Id)
	for _, want := range []string{"Status:", "Complete", "movies/clip/360p.mp4", "320x240", "OUTPUT", "Metadata:", "customer=acme"} {
		if !strings.Contains(out, want) {
			t.Errorf("jobs show: no %q in\n%s", want, out)
		}
	}
	shown := decodeJSON[jobJSON](t, must("jobs", "show", job.Id, "-o", "json"))
	if shown.Status != "Complete" || shown.Outputs[0].Status != "Complete" || shown.Outputs[0].Width == 0 || shown.Timing.FinishTimeMillis == 0 {
		t.Errorf("jobs show -o json: %+v", shown)
	}
	if out := must("jobs", "show", job.Id, "--watch", "-o", "yaml"); !strings.Contains(out, "Status: Complete") {
		t.Errorf("jobs show --watch -o yaml:\n%s", out)
	}

	// A paused pipeline keeps its new job in Submitted, which can be
	// canceled; waiting for it then fails.
	if out := must("pipelines", "pause", "cli-test"); strings.TrimSpace(out) != "pipeline "+pl.Id+": Paused" {
		t.Errorf("pause: %q", out)
	}
	held := decodeJSON[jobJSON](t, must("jobs", "create", "--pipeline", pl.Id, "--input", "movies/clip.mp4", "-p", "audio-aac-64k", "-o", "json"))
	if held.Status != "Submitted" {
		t.Errorf("job in a paused pipeline: %s", held.Status)
	}
	if out := must("jobs", "cancel", held.Id); strings.TrimSpace(out) != "job "+held.Id+": cancel requested" {
		t.Errorf("cancel: %q", out)
	}
	out, _, err = cli("jobs", "wait", held.Id, job.Id)
	if exitCode(err) != 1 || !strings.Contains(out, "Canceled") || !strings.Contains(errText(err), "1 of 2 jobs not Complete") {
		t.Errorf("wait for a canceled job: %v\n%s", err, out)
	}
	// A finished job among others: each is tried, each failure said.
	_, stderr, err = cli("jobs", "cancel", job.Id, "1700000000000-nojob0")
	if exitCode(err) != 1 || !strings.Contains(errText(err), "2 of 2 jobs not canceled") ||
		!strings.Contains(stderr, "job "+job.Id+": transcoder: ResourceInUseException: ") ||
		!strings.Contains(stderr, "job 1700000000000-nojob0: transcoder: ResourceNotFoundException: ") {
		t.Errorf("cancel of a finished and an unknown job: %v\n%s", errText(err), stderr)
	}
	if out := must("pipelines", "resume", "cli-test"); !strings.Contains(out, "Active") {
		t.Errorf("resume: %q", out)
	}

	// Listings: by pipeline, by status, of everything; table and JSON.
	out = must("jobs", "list", "--pipeline", "cli-test")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], held.Id) || !strings.Contains(lines[2], "cli-test") {
		t.Errorf("jobs list (newest first):\n%s", out)
	}
	list := decodeJSON[[]jobJSON](t, must("jobs", "list", "-o", "json", "--ascending"))
	if len(list) != 2 || list[0].Id != job.Id || list[1].Id != held.Id {
		t.Errorf("jobs list -o json --ascending: %+v", list)
	}
	list = decodeJSON[[]jobJSON](t, must("jobs", "list", "--status", "canceled", "-o", "json"))
	if len(list) != 1 || list[0].Id != held.Id {
		t.Errorf("jobs list --status canceled: %+v", list)
	}
	out, stderr, err = cli("jobs", "list", "--limit", "1")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(stderr, "more jobs") {
		t.Errorf("jobs list --limit 1: %v\n%s%s", err, out, stderr)
	}

	// The server's presets.
	ps := decodeJSON[[]struct{ Id, Name, Type string }](t, must("presets", "list", "-o", "json"))
	if len(ps) < 60 || ps[0].Id == "" {
		t.Errorf("presets list --server: %d presets", len(ps))
	}
	if out := must("presets", "show", "generic-720p", "-o", "json"); !strings.Contains(out, `"Id": "1351620000001-000010"`) || !strings.Contains(out, `"Arn": "arn:aws:elastictranscoder:`) {
		t.Errorf("presets show --server:\n%s", out)
	}

	// Errors name the server's error type and message; exit status 1.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"jobs", "show", "1700000000000-nosuch"}, "transcoder: ResourceNotFoundException: The specified job was not found"},
		{[]string{"jobs", "show", "not-an-id"}, "transcoder: ValidationException: "},
		{[]string{"jobs", "list", "--pipeline", "no-such-pipeline"}, `transcoder: no pipeline is named "no-such-pipeline" (known: cli-test)`},
		{[]string{"jobs", "create", "--pipeline", "cli-test", "--input", "missing.mp4", "-p", "generic-702p"}, `unknown preset "generic-702p"`},
		{[]string{"presets", "show", "1351620000009-000000"}, "transcoder: ResourceNotFoundException: "},
	} {
		_, _, err := cli(tt.args...)
		if exitCode(err) != 1 || !strings.Contains(errText(err), tt.want) {
			t.Errorf("%s: %q, want %q", strings.Join(tt.args, " "), errText(err), tt.want)
		}
	}

	// Credentials from the environment; a wrong secret; none at all.
	t.Setenv("TRANSCODER_ACCESS_KEY", testAccessKey)
	t.Setenv("TRANSCODER_SECRET_KEY", testSecretKey)
	if _, _, err := run(t, "pipelines", "list", "--server", s.URL); err != nil {
		t.Errorf("credentials from TRANSCODER_*: %v", errText(err))
	}
	t.Setenv("TRANSCODER_SECRET_KEY", "wrong-secret")
	if _, _, err := run(t, "pipelines", "list", "--server", s.URL); exitCode(err) != 1 || !strings.Contains(errText(err), "signature") ||
		strings.Contains(errText(err), "wrong-secret") {
		t.Errorf("a wrong secret: %q", errText(err))
	}
	t.Setenv("TRANSCODER_ACCESS_KEY", "")
	t.Setenv("TRANSCODER_SECRET_KEY", "")
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("TRANSCODER_SERVER", s.URL)
	if _, _, err := run(t, "jobs", "show", job.Id); err != nil {
		t.Errorf("credentials from AWS_*, server from TRANSCODER_SERVER: %v", errText(err))
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, _, err := run(t, "jobs", "show", job.Id); exitCode(err) != 1 || !strings.Contains(errText(err), "MissingAuthenticationTokenException") ||
		!strings.Contains(errText(err), "no credentials were found") {
		t.Errorf("no credentials: %q", errText(err))
	}

	// Deleting the pipeline; the jobs are finished.
	if out := must("pipelines", "delete", "cli-test"); !strings.Contains(out, "deleted") {
		t.Errorf("delete: %q", out)
	}
	if out := must("pipelines", "list"); strings.Contains(out, "cli-test") {
		t.Errorf("deleted pipeline still listed:\n%s", out)
	}
}

// TestWatchProgress follows a running job through the live events: the
// stream must be accepted (signed as the SDK signs) and carry progress.
func TestWatchProgress(t *testing.T) {
	isolateAWS(t)
	s := startAPIServer(t)
	s.put(t, "inbox", "long.mp4", testmedia.Path(t, testmedia.Long))
	srv := []string{"--server", s.URL, "--access-key", testAccessKey, "--secret-key", testSecretKey}
	out, stderr, err := run(t, append([]string{"pipelines", "create", "--name", "p", "--input-bucket", "inbox", "--output-bucket", "outbox", "-o", "json"}, srv...)...)
	if err != nil {
		t.Fatalf("%v\n%s", errText(err), stderr)
	}
	pl := decodeJSON[struct{ Id string }](t, out)

	co := &clientOptions{server: s.URL, accessKey: testAccessKey, secretKey: testSecretKey}
	ctx := context.Background()
	c, err := co.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := c.presetIndex(ctx, presets.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	in, err := buildCreateJob(&jobsCreateOptions{input: "long.mp4", presets: []string{"generic-720p"}, keyTemplate: jobs.DefaultKeyTemplate}, idx)
	if err != nil {
		t.Fatal(err)
	}
	in.PipelineId = aws.String(pl.Id)
	created, err := c.et.CreateJob(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(created.Job.Id)

	var mu sync.Mutex
	var states []string
	progress := 0
	last, err := c.streamEvents(ctx, id, func(j *types.Job) {
		mu.Lock()
		defer mu.Unlock()
		states = append(states, aws.ToString(j.Status))
	}, func(p ffmpeg.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Percent > 0 && p.Percent <= 100 {
			progress++
		}
	})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	if aws.ToString(last.Status) != "Complete" || progress == 0 || states[len(states)-1] != "Complete" {
		t.Errorf("events: last %s, states %v, %d progress events", aws.ToString(last.Status), states, progress)
	}

	// jobs show --watch of the finished job prints it and exits 0; its
	// progress view writes plain lines when stderr is not a terminal.
	out, stderr, err = run(t, append([]string{"jobs", "show", id, "--watch"}, srv...)...)
	if err != nil || !strings.Contains(out, "Complete") || !strings.Contains(stderr, "job "+id+": Complete") {
		t.Errorf("jobs show --watch: %v\n%s%s", errText(err), out, stderr)
	}

	// A server without the events endpoint: --watch reads the job until
	// it ends.
	s.noEvents.Store(true)
	s.put(t, "inbox", "tiny.mp4", testmedia.Path(t, testmedia.Tiny))
	out, stderr, err = run(t, append([]string{"jobs", "create", "--pipeline", "p", "--input", "tiny.mp4", "-p", "audio-mp3-128k", "-o", "json"}, srv...)...)
	if err != nil {
		t.Fatalf("%v\n%s", errText(err), stderr)
	}
	id = decodeJSON[jobJSON](t, out).Id
	if _, err := c.streamEvents(ctx, id, func(*types.Job) {}, nil); !errors.Is(err, errNoEvents) {
		t.Fatalf("events of a server without them: %v", err)
	}
	out, stderr, err = run(t, append([]string{"jobs", "show", id, "--watch", "-o", "json"}, srv...)...)
	if err != nil || decodeJSON[jobJSON](t, out).Status != "Complete" {
		t.Errorf("jobs show --watch by polling: %v\n%s%s", errText(err), out, stderr)
	}

	// The daemon restarts while `jobs wait` waits: the wait goes on. (The
	// job is held by a paused pipeline, then resumed while the server is
	// down.)
	s.noEvents.Store(false)
	out, stderr, err = run(t, append([]string{"pipelines", "pause", "p"}, srv...)...)
	if err != nil {
		t.Fatalf("%v\n%s", errText(err), stderr)
	}
	out, stderr, err = run(t, append([]string{"jobs", "create", "--pipeline", "p", "--input", "tiny.mp4", "-p", "audio-mp3-128k",
		"--key", "{{.Base}}-restart{{.Ext}}", "-o", "json"}, srv...)...)
	if err != nil {
		t.Fatalf("%v\n%s", errText(err), stderr)
	}
	id = decodeJSON[jobJSON](t, out).Id
	waited := make(chan error, 1)
	go func() {
		_, _, err := run(t, append([]string{"jobs", "wait", id, "--timeout", "90s"}, srv...)...)
		waited <- err
	}()
	time.Sleep(500 * time.Millisecond)
	s.stop()
	time.Sleep(3 * time.Second)
	s.serve(t)
	if _, stderr, err := run(t, append([]string{"pipelines", "resume", "p"}, srv...)...); err != nil {
		t.Fatalf("%v\n%s", errText(err), stderr)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("jobs wait across a restart: %v", errText(err))
		}
	case <-time.After(90 * time.Second):
		t.Error("jobs wait did not end")
	}
}

// TestClientBinary checks the exit statuses and messages of the built
// binary: 0 for a Complete job, 1 and the server's typed error for an
// unknown one, 1 and a hint when no server listens.
func TestClientBinary(t *testing.T) {
	isolateAWS(t)
	s := startAPIServer(t)
	s.put(t, "inbox", "clip.mp4", testmedia.Path(t, testmedia.Tiny))
	bin := buildBinary(t)
	env := append(os.Environ(), "TRANSCODER_SERVER="+s.URL, "TRANSCODER_ACCESS_KEY="+testAccessKey, "TRANSCODER_SECRET_KEY="+testSecretKey)
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		code := 0
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	if _, stderr, code := cli("pipelines", "create", "--name", "bin", "--input-bucket", "inbox", "--output-bucket", "outbox"); code != 0 {
		t.Fatalf("pipelines create: exit %d\n%s", code, stderr)
	}
	out, stderr, code := cli("jobs", "create", "--pipeline", "bin", "--input", "clip.mp4", "-p", "audio-mp3-128k", "-p", "generic-360p-4-3", "--wait", "-o", "json")
	if code != 0 || decodeJSON[jobJSON](t, out).Status != "Complete" || strings.Contains(stderr+out, testSecretKey) {
		t.Fatalf("jobs create --wait: exit %d\n%s%s", code, stderr, out)
	}
	id := decodeJSON[jobJSON](t, out).Id
	if out, stderr, code := cli("jobs", "wait", id); code != 0 || !strings.Contains(out, "Complete") {
		t.Errorf("jobs wait of a Complete job: exit %d\n%s%s", code, out, stderr)
	}
	_, stderr, code = cli("jobs", "show", "1700000000000-nosuch")
	if code != 1 || !strings.HasPrefix(stderr, "transcoder: ResourceNotFoundException: The specified job was not found") {
		t.Errorf("unknown job: exit %d, stderr %q", code, stderr)
	}
	_, stderr, code = cli("jobs", "wait", "1700000000000-nosuch")
	if code != 1 || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Errorf("wait for an unknown job: exit %d, stderr %q", code, stderr)
	}

	// No server: a hint, quickly enough, exit 1.
	down := "http://" + miniotest.FreeAddr(t)
	start := time.Now()
	_, stderr, code = cli("jobs", "list", "--server", down)
	t.Logf("server down: answered in %v", time.Since(start).Round(time.Millisecond))
	if code != 1 || !strings.HasPrefix(stderr, "transcoder: cannot reach the transcoder API at "+down+": ") ||
		!strings.Contains(stderr, "connection refused") || !strings.Contains(stderr, "(is `transcoder run` running? --server / TRANSCODER_SERVER)") {
		t.Errorf("server down: exit %d, stderr %q", code, stderr)
	}
}
