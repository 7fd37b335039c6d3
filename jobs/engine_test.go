package jobs_test

// Tests of the job engine: a real embedded NATS JetStream server (or a
// cluster of them), real workers running real ffmpeg.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

const (
	preset320  = "1351620000001-000061" // generic-320x240: quick to encode
	preset1080 = "1351620000001-000001" // generic-1080p: slow enough to interrupt
)

// engineEnv is one engine and what workers need.
type engineEnv struct {
	eng     *engine.Engine
	svc     *jobs.Service
	presets *presets.Registry
	stores  *storage.Stores
	tools   *countingTools
	caps    jobs.Capabilities
	dataDir string
}

// testServiceOptions keep retries quick.
func testServiceOptions(reg *presets.Registry) jobs.ServiceOptions {
	return jobs.ServiceOptions{
		AckWait: 2 * time.Second, MaxDeliver: 3, Presets: reg,
		Backoff: []time.Duration{200 * time.Millisecond},
	}
}

// startEngine starts an embedded engine in a new data directory (or the
// given one) and opens the job service on it.
func startEngine(t testing.TB, dataDir string) *engineEnv {
	t.Helper()
	return startEngineConfig(t, engine.Config{DataDir: dataDir})
}

// startEngineConfig is startEngine with more choices.
func startEngineConfig(t testing.TB, cfg engine.Config) *engineEnv {
	t.Helper()
	env := e2eTools(t)
	if cfg.DataDir == "" && cfg.URL == "" {
		cfg.DataDir = t.TempDir()
	}
	dataDir := cfg.DataDir
	eng, err := engine.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := presets.NewRegistry()
	svc, err := jobs.Open(context.Background(), eng.JS, testServiceOptions(reg))
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	stores, err := storage.NewStores(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &engineEnv{eng: eng, svc: svc, presets: reg, stores: stores, caps: env.caps, dataDir: dataDir,
		tools: &countingTools{Tools: env.tools}}
	t.Cleanup(e.close)
	return e
}

func (e *engineEnv) close() {
	e.svc.Close()
	e.eng.Close()
}

// startWorker runs a worker until the test ends (or stop is called).
func (e *engineEnv) startWorker(t testing.TB, name string, concurrency int, workDir string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := e.svc.NewWorker(jobs.WorkerOptions{
		Name: name, Concurrency: concurrency, WorkDir: workDir, Tools: e.tools, Stores: e.stores,
		Presets: e.presets, Caps: e.caps, StallTimeout: 3 * time.Second,
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker %s: %v", name, err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFinal watches a job until it is final.
func waitFinal(t testing.TB, svc *jobs.Service, id string, timeout time.Duration) *jobs.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		events, err := svc.Watch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for ev := range events {
			if ev.Kind == jobs.EventState && jobs.Terminal(ev.Status) {
				return ev.Job
			}
		}
	}
	j, _ := svc.Get(context.Background(), id)
	t.Fatalf("job %s not final after %v: %+v", id, timeout, j)
	return nil
}

// countingTools counts ffmpeg runs by their last argument (the output
// of a one-output job), so that a job run twice shows.
type countingTools struct {
	ffmpeg.Tools
	mu   sync.Mutex
	runs map[string]int
	// onRun, when set, sees each ffmpeg start.
	onRun func(args []string)
}

func (c *countingTools) Run(ctx context.Context, args []string, opts ffmpeg.RunOptions) error {
	c.mu.Lock()
	if c.runs == nil {
		c.runs = map[string]int{}
	}
	c.runs[inputOf(args)]++
	f := c.onRun
	c.mu.Unlock()
	if f != nil {
		f(args)
	}
	return c.Tools.Run(ctx, args, opts)
}

func (c *countingTools) count(input string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[filepath.Base(input)]
}

func inputOf(args []string) string {
	for i, a := range args {
		if a == "-i" && i+1 < len(args) {
			return filepath.Base(args[i+1])
		}
	}
	return ""
}

// TestEngineRunsJob runs one job through the queue and checks the job
// record, its events, and the output with ffprobe.
func TestEngineRunsJob(t *testing.T) {
	e := startEngine(t, "")
	in := testmedia.Path(t, testmedia.Tiny)
	out := t.TempDir()
	e.startWorker(t, "w1", 1, t.TempDir())

	job, err := e.svc.Create(context.Background(), jobs.CreateRequest{
		Input: in, Output: "file://" + out, OutputKeyPrefix: "videos/",
		Outputs:      []jobs.OutputSpec{{Key: "tiny.mp4", PresetID: preset320}},
		UserMetadata: map[string]string{"customer": "acme 42", "path": "a/b=c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !regexpID.MatchString(job.ID) || job.Status != jobs.StatusSubmitted || job.Timing.SubmitTimeMillis == 0 {
		t.Fatalf("created job: %+v", job)
	}
	got := waitFinal(t, e.svc, job.ID, time.Minute)
	if got.Status != jobs.StatusComplete {
		t.Fatalf("status %s, output %+v", got.Status, got.Outputs[0])
	}
	o := got.Outputs[0]
	if o.Status != jobs.StatusComplete || o.Width != 320 || o.Height != 240 || o.DurationMillis < 900 {
		t.Errorf("output %+v", o)
	}
	d := got.Input.DetectedProperties
	if d == nil || d.Width != 320 || d.Height != 240 || d.FileSize == 0 {
		t.Errorf("detected properties %+v", d)
	}
	tm := got.Timing
	if !(tm.SubmitTimeMillis <= tm.StartTimeMillis && tm.StartTimeMillis <= tm.FinishTimeMillis) {
		t.Errorf("timing %+v", tm)
	}
	if got.UserMetadata["customer"] != "acme 42" {
		t.Errorf("user metadata %v", got.UserMetadata)
	}
	v := probe(t, filepath.Join(out, "videos", "tiny.mp4")).video(t)
	if v.CodecName != "h264" || v.Width != 320 {
		t.Errorf("output video %+v", v)
	}
	// The listing and Get agree with the final event.
	page, err := e.svc.List(context.Background(), jobs.ListRequest{Status: jobs.StatusComplete})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != job.ID {
		t.Errorf("list Complete: %+v, %v", page, err)
	}
	if n := e.tools.count(in); n != 1 {
		t.Errorf("ffmpeg ran %d times", n)
	}
}

// TestEngineCreateValidation checks what Create refuses, and the texts.
func TestEngineCreateValidation(t *testing.T) {
	e := startEngine(t, "")
	ok := jobs.CreateRequest{Input: "in.mp4", Output: "file:///tmp/x", Outputs: []jobs.OutputSpec{{Key: "a.mp4", PresetID: preset320}}}
	many := map[string]string{}
	for i := range 11 {
		many[string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name string
		edit func(r *jobs.CreateRequest)
		want string
	}{
		{"no outputs", func(r *jobs.CreateRequest) { r.Outputs = nil }, "outputs: a job needs at least one output"},
		{"unknown preset", func(r *jobs.CreateRequest) { r.Outputs[0].PresetID = "nope" }, "outputs[0].presetId:"},
		{"ladder", func(r *jobs.CreateRequest) { r.Outputs[0].PresetID = "hls-1080p-ladder" }, "is a ladder"},
		{"bad pipeline", func(r *jobs.CreateRequest) { r.PipelineID = "p1" }, "Value 'p1' at 'pipelineId' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\\d{13}-\\w{6}$"},
		{"metadata count", func(r *jobs.CreateRequest) { r.UserMetadata = many }, "userMetadata: 11 pairs; allowed: at most 10"},
		{"metadata chars", func(r *jobs.CreateRequest) { r.UserMetadata = map[string]string{"k": "semi;colon"} }, `userMetadata["k"]: value "semi;colon"`},
		{"duplicate keys", func(r *jobs.CreateRequest) { r.Outputs = append(r.Outputs, r.Outputs[0]) }, `outputs[1].key: "a.mp4" is also the key of outputs[0]`},
		{"escaping key", func(r *jobs.CreateRequest) { r.Outputs[0].Key = "../a.mp4" }, "outputs[0].key:"},
		{"segment duration", func(r *jobs.CreateRequest) { r.Outputs[0].SegmentDuration = "61" }, "allowed: 1 to 60 seconds"},
		{"time span", func(r *jobs.CreateRequest) { r.TimeSpan = &jobs.TimeSpan{StartTime: "25:00:00.000"} }, "timeSpan.startTime"},
		{"rotate", func(r *jobs.CreateRequest) { r.Outputs[0].Rotate = "45" }, "allowed: auto, 0, 90, 180, 270"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Outputs = slices.Clone(ok.Outputs)
			tc.edit(&r)
			_, err := e.svc.Create(context.Background(), r)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, jobs.ErrBadRequest) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	page, _ := e.svc.List(context.Background(), jobs.ListRequest{})
	if len(page.Jobs) != 0 {
		t.Errorf("refused requests left jobs: %d", len(page.Jobs))
	}
	if _, err := e.svc.Get(context.Background(), "1234567890123-abcdef"); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("get missing: %v", err)
	}
	if _, err := e.svc.Get(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "Value 'x' at 'id'") {
		t.Errorf("get bad id: %v", err)
	}
}

var regexpID = regexp.MustCompile(`^\d{13}-\w{6}$`)

var _ = os.Getenv
