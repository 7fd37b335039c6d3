package pipeline_test

// End-to-end tests of the daemon: real MinIO or real directories, the
// embedded engine, real ffmpeg, and a webhook receiver on loopback.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/pipeline"
)

const secret = "s3cr3t-for-the-test"

// receiver is a webhook receiver that checks every signature.
type receiver struct {
	t    *testing.T
	mu   sync.Mutex
	got  map[string][]string // job ID → states, in arrival order
	srv  *httptest.Server
	bad  int
	seen map[string]bool // delivery IDs
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, got: map[string][]string{}, seen: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := notify.Verify(secret, req.Header, body, time.Hour); err != nil {
			r.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var msg struct {
			State string `json:"state"`
			JobID string `json:"jobId"`
		}
		if err := json.Unmarshal(body, &msg); err != nil {
			r.bad++
			return
		}
		if id := req.Header.Get("X-Transcoder-Delivery"); !r.seen[id] {
			r.seen[id] = true
			r.got[msg.JobID] = append(r.got[msg.JobID], msg.State)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) states(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got[id]...)
}

// daemon runs pipeline.Run in the background until stop is called.
type daemon struct {
	d    *pipeline.Daemon
	stop func()
	done chan error
}

func startDaemon(t *testing.T, cfg *pipeline.Config) *daemon {
	t.Helper()
	return startDaemonTB(t, cfg)
}

func startDaemonTB(t testing.TB, cfg *pipeline.Config) *daemon {
	t.Helper()
	tools, err := ffmpeg.Locate("", "")
	if err != nil {
		t.Fatalf("the daemon tests need ffmpeg: %v", err)
	}
	caps, err := tools.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *pipeline.Daemon, 1)
	dm := &daemon{stop: cancel, done: make(chan error, 1)}
	go func() {
		dm.done <- pipeline.Run(ctx, cfg, pipeline.DaemonOptions{Roles: pipeline.AllRoles, Tools: tools,
			Caps: jobs.Capabilities{Encoders: caps}, Ready: func(d *pipeline.Daemon) { ready <- d }})
	}()
	select {
	case dm.d = <-ready:
	case err := <-dm.done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not start")
	}
	t.Cleanup(func() { dm.shutdown(t) })
	return dm
}

func (dm *daemon) shutdown(t testing.TB) {
	if dm.stop == nil {
		return
	}
	dm.stop()
	dm.stop = nil
	select {
	case err := <-dm.done:
		if err != nil {
			t.Errorf("daemon: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("daemon did not stop")
	}
}

// waitJobs waits until the pipeline has n final jobs and returns all its
// jobs.
func waitJobs(t *testing.T, svc *jobs.Service, pipelineID string, n int, timeout time.Duration) []*jobs.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var all []*jobs.Job
	for {
		page, err := svc.List(context.Background(), jobs.ListRequest{PipelineID: pipelineID, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		all = page.Jobs
		final := 0
		for _, j := range all {
			if jobs.Terminal(j.Status) {
				final++
			}
		}
		if final >= n {
			return all
		}
		if time.Now().After(deadline) {
			for _, j := range all {
				t.Logf("job %s %s %s", j.ID, j.Input.Key, j.Status)
			}
			t.Fatalf("%d of %d jobs final after %v", final, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bigMP4 is a valid MP4 of about size bytes: a short clip followed by a
// free box, so that it takes a multipart upload without a long encode.
func bigMP4(t *testing.T, size int) []byte {
	t.Helper()
	clip, err := os.ReadFile(testmedia.Path(t, testmedia.Tiny))
	if err != nil {
		t.Fatal(err)
	}
	pad := size - len(clip)
	var box [8]byte
	binary.BigEndian.PutUint32(box[:4], uint32(pad))
	copy(box[4:], "free")
	return append(append(clip, box[:]...), make([]byte, pad-8)...)
}

// ffprobeSize returns a video's width and height, by ffprobe.
func ffprobeSize(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=width,height", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// scenario is the acceptance scenario, run over one kind of
// store: five objects (one a 20 MB multipart upload, one named with
// spaces, a plus and unicode) become five jobs whose
// renditions appear at the templated keys; the daemon is stopped (as by
// SIGTERM) during an encode and started again; two objects arrive while it
// is down; a paused pipeline holds its job until resumed; a webhook
// receiver gets Progressing and Completed, signed, for every job.
type scenario struct {
	config string                                      // YAML, with {{DIR}} for a work directory
	put    func(t *testing.T, key string, data []byte) // puts an input object
	output func(t *testing.T, key string) string       // fetches an output to a local file
}

func (s scenario) run(t *testing.T) {
	dir := t.TempDir()
	rcv := newReceiver(t)
	yml := strings.NewReplacer("{{DIR}}", dir, "{{HOOK}}", rcv.srv.URL, "{{SECRET}}", secret).Replace(s.config)
	cfg, err := pipeline.ParseConfig(filepath.Join(dir, "transcoder.yaml"), []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	main, held := cfg.Pipelines[0], cfg.Pipelines[1]
	clip, err := os.ReadFile(testmedia.Path(t, testmedia.Tiny))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := os.ReadFile(testmedia.Path(t, testmedia.Landscape1080))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a.mp4", "Café del Mar +1.mp4", "big.mp4", "late-1.mp4", "late 2.mp4"}

	dm := startDaemon(t, cfg)
	s.put(t, "in/"+names[0], slow) // slow enough to be stopped mid-encode
	s.put(t, "in/"+names[1], clip)
	s.put(t, "in/"+names[2], bigMP4(t, 20<<20))
	s.put(t, "held/x.mp4", clip)

	// Stop while an encode runs: nothing may be lost or done twice.
	deadline := time.Now().Add(time.Minute)
	for {
		page, _ := dm.d.Jobs.List(context.Background(), jobs.ListRequest{Status: jobs.StatusProgressing})
		if len(page.Jobs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no job started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	dm.shutdown(t)
	s.put(t, "in/"+names[3], clip)
	s.put(t, "in/"+names[4], clip)

	dm = startDaemon(t, cfg)
	svc := dm.d.Jobs
	got := waitJobs(t, svc, main.ID, 5, 3*time.Minute)
	if len(got) != 5 {
		t.Fatalf("%d jobs for 5 objects", len(got))
	}
	byKey := map[string]*jobs.Job{}
	for _, j := range got {
		if byKey[j.Input.Key] != nil {
			t.Errorf("two jobs for %s", j.Input.Key)
		}
		byKey[j.Input.Key] = j
		if j.Status != jobs.StatusComplete {
			t.Errorf("job for %s: %s %s", j.Input.Key, j.Status, j.Outputs[0].StatusDetail)
		}
	}
	for _, name := range names {
		if byKey[name] == nil {
			t.Errorf("no job for %q", name)
			continue
		}
		base := strings.TrimSuffix(name, ".mp4")
		if size := ffprobeSize(t, s.output(t, "out/"+base+"/small.mp4")); size != "320,240" && size != "320,180" {
			t.Errorf("%s: rendition %s", name, size)
		}
	}

	// The paused pipeline created its job and started none.
	hp, _ := svc.List(context.Background(), jobs.ListRequest{PipelineID: held.ID})
	if len(hp.Jobs) != 1 || hp.Jobs[0].Status != jobs.StatusSubmitted {
		t.Fatalf("paused pipeline: %+v", hp.Jobs)
	}
	if err := svc.Resume(context.Background(), held.ID); err != nil {
		t.Fatal(err)
	}
	if j := waitJobs(t, svc, held.ID, 1, time.Minute); j[0].Status != jobs.StatusComplete {
		t.Errorf("resumed job: %s", j[0].Status)
	}

	// Every job of the main pipeline was notified, signed.
	deadline = time.Now().Add(time.Minute)
	for _, j := range got {
		for {
			st := rcv.states(j.ID)
			if strings.Contains(strings.Join(st, ","), "COMPLETED") && strings.Contains(strings.Join(st, ","), "PROGRESSING") {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("job %s (%s): notifications %v", j.ID, j.Input.Key, st)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if rcv.bad > 0 {
		t.Errorf("%d notifications with a bad signature or body", rcv.bad)
	}
}

const scenarioPipelines = `
workers: {concurrency: 1, grace_period: 0s, ack_wait: 2s}
pipelines:
  - name: main
    input: %s/in/
    output: %s/out/
    outputs:
      - {preset: generic-320x240, key: "{{.Base}}/small.mp4"}
    events: %s
    notifications:
      progressing: ["{{HOOK}}/hook"]
      completed: ["{{HOOK}}/hook"]
      error: ["{{HOOK}}/hook"]
      secret: "{{SECRET}}"
  - name: held
    status: Paused
    input: %s/held/
    output: %s/out-held/
    outputs:
      - {preset: generic-320x240, key: "{{.Base}}.mp4"}
    events: %s
`

// TestDaemonMinIO runs the scenario against a real MinIO that pushes its
// bucket events to the daemon's webhook receiver, as an operator would
// configure it (MINIO_NOTIFY_WEBHOOK_*, then a bucket notification). The
// paused pipeline polls.
func TestDaemonMinIO(t *testing.T) {
	const token = "hook-token-for-the-test"
	addr := miniotest.FreeAddr(t)
	t.Setenv("MINIO_NOTIFY_WEBHOOK_ENABLE_TC", "on")
	t.Setenv("MINIO_NOTIFY_WEBHOOK_ENDPOINT_TC", "http://"+addr+"/events/s3/main")
	t.Setenv("MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_TC", token)
	// MinIO keeps events for a target that is down (the daemon, while it
	// restarts) in this directory and delivers them later.
	t.Setenv("MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_TC", t.TempDir())
	srv := miniotest.Start(t)
	in, out := srv.NewBucket(t), srv.NewBucket(t)
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	q := notification.NewConfig(notification.Arn{Partition: "minio", Service: "sqs", AccountID: "TC", Resource: "webhook"})
	q.AddEvents(notification.ObjectCreatedAll)
	q.AddFilterPrefix("in/")
	var nc notification.Configuration
	nc.AddQueue(q)
	if err := client.SetBucketNotification(context.Background(), in, nc); err != nil {
		t.Fatalf("bucket notification: %v", err)
	}
	cfg := fmt.Sprintf(`data_dir: {{DIR}}/data
listen: %s
stores:
  minio: {endpoint: %s, access_key: %s, secret_key: %s, region: us-east-1}
`, addr, srv.Endpoint, srv.AccessKey, srv.SecretKey) +
		fmt.Sprintf(scenarioPipelines, "minio://"+in, "minio://"+out,
			"{source: webhook, webhook_token: "+token+", reconcile_interval: 1m}",
			"minio://"+in, "minio://"+out, "{source: poll, poll_interval: 300ms}")
	minioScenario(t, client, in, out, cfg).run(t)
}

// TestDaemonMinIOListen runs the scenario against a real MinIO through its
// listen API.
func TestDaemonMinIOListen(t *testing.T) {
	srv := miniotest.Start(t)
	in, out := srv.NewBucket(t), srv.NewBucket(t)
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	events := "{source: listen, reconcile_interval: 1m}"
	cfg := fmt.Sprintf(`data_dir: {{DIR}}/data
listen: 127.0.0.1:0
stores:
  minio: {endpoint: %s, access_key: %s, secret_key: %s, region: us-east-1}
`, srv.Endpoint, srv.AccessKey, srv.SecretKey) +
		fmt.Sprintf(scenarioPipelines, "minio://"+in, "minio://"+out, events, "minio://"+in, "minio://"+out, events)
	minioScenario(t, client, in, out, cfg).run(t)
}

// minioScenario is the scenario on a MinIO input and output bucket; puts
// take multipart uploads from 5 MB.
func minioScenario(t *testing.T, client *minio.Client, in, out, cfg string) scenario {
	return scenario{
		config: cfg,
		put: func(t *testing.T, key string, data []byte) {
			_, err := client.PutObject(context.Background(), in, key, bytes.NewReader(data), int64(len(data)),
				minio.PutObjectOptions{PartSize: 5 << 20})
			if err != nil {
				t.Fatal(err)
			}
		},
		output: func(t *testing.T, key string) string {
			f := filepath.Join(t.TempDir(), filepath.Base(key))
			if err := client.FGetObject(context.Background(), out, key, f, minio.GetObjectOptions{}); err != nil {
				t.Fatalf("output %s: %v", key, err)
			}
			return f
		},
	}
}

// TestDaemonDirectories runs the scenario with a file:// inbox and outbox,
// the README's main command; inputs are written slowly, so a file still
// being written must not be taken half done.
func TestDaemonDirectories(t *testing.T) {
	root := t.TempDir()
	events := "{source: poll, poll_interval: 200ms, settle: 500ms}"
	cfg := "data_dir: {{DIR}}/data\nlisten: 127.0.0.1:0\n" +
		fmt.Sprintf(scenarioPipelines, "file://"+root, "file://"+root, events, "file://"+root, "file://"+root, events)
	scenario{
		config: cfg,
		put: func(t *testing.T, key string, data []byte) {
			p := filepath.Join(root, key)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Half now, half a poll interval and more later.
			half := len(data) / 2
			if _, err := f.Write(data[:half]); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			if _, err := f.Write(data[half:]); err != nil {
				t.Fatal(err)
			}
		},
		output: func(t *testing.T, key string) string { return filepath.Join(root, key) },
	}.run(t)
}

// TestDaemonStatusFromFile: the file's status applies when it changes;
// a resume made meanwhile (the API's) survives a restart that leaves the
// file as it was.
func TestDaemonStatusFromFile(t *testing.T) {
	dir := t.TempDir()
	yml := func(status string) *pipeline.Config {
		cfg, err := pipeline.ParseConfig(filepath.Join(dir, "transcoder.yaml"), []byte(fmt.Sprintf(`data_dir: ./data
listen: off
pipelines:
  - name: p
    status: %s
    input: ./in/
    output: ./out/
    outputs: [{preset: generic-320x240, key: "{{.Base}}.mp4"}]
`, status)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := yml("Paused")
	id := cfg.Pipelines[0].ID
	dm := startDaemon(t, cfg)
	if !dm.d.Jobs.Paused(id) {
		t.Fatal("not paused by the file")
	}
	if err := dm.d.Jobs.Resume(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	dm.shutdown(t)
	dm = startDaemon(t, yml("Paused"))
	if dm.d.Jobs.Paused(id) {
		t.Error("a restart with the file unchanged undid the resume")
	}
	dm.shutdown(t)
	dm = startDaemon(t, yml("Active"))
	dm.shutdown(t)
	dm = startDaemon(t, yml("Paused"))
	if !dm.d.Jobs.Paused(id) {
		t.Error("a changed file did not pause")
	}
}

// TestDaemonRefusedObject: an object whose name makes a key that is not
// allowed gets a job in Error that says why (and an ERROR notification),
// once, rather than a log line.
func TestDaemonRefusedObject(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(testmedia.Path(t, testmedia.Tiny), filepath.Join(dir, "in", "100%.mp4")); err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.ParseConfig(filepath.Join(dir, "transcoder.yaml"), []byte(`data_dir: ./data
listen: off
pipelines:
  - name: p
    input: ./in/
    output: ./out/
    outputs: [{preset: generic-320x240, key: "{{.Base}}.mp4"}]
    events: {source: poll, poll_interval: 200ms, settle: 100ms, reconcile_interval: 300ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	dm := startDaemon(t, cfg)
	got := waitJobs(t, dm.d.Jobs, cfg.Pipelines[0].ID, 1, time.Minute)
	time.Sleep(time.Second) // more polls and reconciles: still one job
	page, _ := dm.d.Jobs.List(context.Background(), jobs.ListRequest{PipelineID: cfg.Pipelines[0].ID})
	if len(page.Jobs) != 1 {
		t.Fatalf("%d jobs for one object", len(page.Jobs))
	}
	j := got[0]
	if j.Status != jobs.StatusError || !strings.HasPrefix(j.Outputs[0].StatusDetail, "4000 ") ||
		!strings.Contains(j.Outputs[0].StatusDetail, "%") {
		t.Errorf("job %s %q", j.Status, j.Outputs[0].StatusDetail)
	}
}
