package metrics_test

// Tests of the metrics on a real embedded engine, a real worker running
// real ffmpeg and a real notifier posting to a loopback webhook; the
// metrics are read by scraping the handler and parsing Prometheus' text
// format.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/metrics"
	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

const (
	pipelineID = "1700000000000-metric"
	preset320  = "1351620000001-000061" // generic-320x240: quick to encode
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// env is an embedded engine with the job service on it.
type env struct {
	eng     *engine.Engine
	svc     *jobs.Service
	presets *presets.Registry
}

func startEngine(t *testing.T) *env {
	t.Helper()
	eng, err := engine.Start(context.Background(), engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	reg := presets.NewRegistry()
	svc, err := jobs.Open(context.Background(), eng.JS, jobs.ServiceOptions{Presets: reg, Logger: discard(),
		AckWait: 2 * time.Second, MaxDeliver: 3, Backoff: []time.Duration{200 * time.Millisecond}})
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		eng.Close()
	})
	return &env{eng: eng, svc: svc, presets: reg}
}

// startWorker runs a worker with the local ffmpeg until the test ends.
func (e *env) startWorker(t *testing.T) {
	t.Helper()
	tools, err := ffmpeg.Locate("", "")
	if err != nil {
		t.Fatalf("the metrics tests need ffmpeg and ffprobe: %v", err)
	}
	enc, err := tools.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stores, err := storage.NewStores(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := e.svc.NewWorker(jobs.WorkerOptions{Name: "w1", Concurrency: 1, WorkDir: t.TempDir(), Tools: tools,
		Stores: stores, Presets: e.presets, Caps: jobs.Capabilities{Encoders: enc}, StallTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// scrape GETs the metrics handler and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return mfs
}

// sample is one series of a family: its value, or for a histogram its
// count and sum. ok is false when the series is absent.
type sample struct {
	value, count, sum float64
	ok                bool
}

func find(mfs map[string]*dto.MetricFamily, name string, labels ...string) sample {
	mf := mfs[name]
	if mf == nil {
		return sample{}
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return sample{value: m.GetGauge().GetValue(), ok: true}
		case m.Counter != nil:
			return sample{value: m.GetCounter().GetValue(), ok: true}
		case m.Histogram != nil:
			return sample{count: float64(m.GetHistogram().GetSampleCount()), sum: m.GetHistogram().GetSampleSum(), ok: true}
		case m.Untyped != nil:
			return sample{value: m.GetUntyped().GetValue(), ok: true}
		}
	}
	return sample{}
}

// eventually scrapes until cond holds.
func eventually(t *testing.T, h http.Handler, what string, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mfs := scrape(t, h)
		if cond(mfs) {
			return mfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFinal watches a job until it is final.
func waitFinal(t *testing.T, svc *jobs.Service, id string) *jobs.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	events, err := svc.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.Kind == jobs.EventState && jobs.Terminal(ev.Status) {
			return ev.Job
		}
	}
	t.Fatalf("job %s not final", id)
	return nil
}

// webhook answers each notification state's first attempt 500, the
// next ones 200.
type webhook struct {
	mu   sync.Mutex
	seen map[string]int
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	state := r.Header.Get(notify.HeaderState)
	h.seen[state]++
	if h.seen[state] == 1 {
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// TestMetrics runs a job from submission to completion, with webhooks,
// and checks what a scrape says on the way.
func TestMetrics(t *testing.T) {
	e := startEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := metrics.New(ctx, e.svc, metrics.Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler()

	hook := &webhook{seen: map[string]int{}}
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()
	n, err := notify.New(e.svc.JetStream(), func(id string) (notify.Targets, bool) {
		if id != pipelineID {
			return notify.Targets{}, false
		}
		return notify.Targets{Progressing: []string{hookSrv.URL + "/p"}, Completed: []string{hookSrv.URL + "/c"}}, true
	}, notify.Options{Logger: discard(), Backoff: []time.Duration{100 * time.Millisecond}, OnAttempt: m.OnNotifyAttempt})
	if err != nil {
		t.Fatal(err)
	}
	nctx, stopNotifier := context.WithCancel(context.Background())
	notifierDone := make(chan struct{})
	go func() {
		defer close(notifierDone)
		_ = n.Run(nctx)
	}()
	defer func() { stopNotifier(); <-notifierDone }()

	// Before any job: every status is there, at 0.
	mfs := scrape(t, h)
	for _, st := range []string{"Submitted", "Progressing", "Complete", "Canceled", "Error"} {
		if s := find(mfs, "transcoder_jobs", "status", st); !s.ok || s.value != 0 {
			t.Errorf("transcoder_jobs{status=%q} = %+v before any job", st, s)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "transcoder_queue_depth",
		"transcoder_metrics_events_dropped_total", "transcoder_webhook_failures_total"} {
		if mfs[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}

	// A job waits for a worker.
	job, err := e.svc.Create(context.Background(), jobs.CreateRequest{
		PipelineID: pipelineID, Input: testmedia.Path(t, testmedia.Tiny), Output: "file://" + t.TempDir(),
		Outputs: []jobs.OutputSpec{{Key: "tiny.mp4", PresetID: preset320}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, h, "the submitted job", func(mfs map[string]*dto.MetricFamily) bool {
		return find(mfs, "transcoder_jobs", "status", "Submitted").value == 1 &&
			find(mfs, "transcoder_queue_depth").value == 1
	})

	// A worker runs it.
	e.startWorker(t)
	final := waitFinal(t, e.svc, job.ID)
	if final.Status != jobs.StatusComplete {
		t.Fatalf("job %s: %+v", final.Status, final.Outputs[0])
	}
	mfs = eventually(t, h, "the finished job", func(mfs map[string]*dto.MetricFamily) bool {
		return find(mfs, "transcoder_jobs_finished_total", "status", "Complete").value == 1 &&
			find(mfs, "transcoder_jobs", "status", "Complete").value == 1 &&
			find(mfs, "transcoder_queue_depth").value == 0 &&
			find(mfs, "transcoder_webhook_deliveries_total", "state", "COMPLETED").value == 2
	})
	for _, st := range []string{"Submitted", "Progressing", "Canceled", "Error"} {
		if v := find(mfs, "transcoder_jobs", "status", st).value; v != 0 {
			t.Errorf("transcoder_jobs{status=%q} = %v", st, v)
		}
	}
	took := float64(final.Timing.FinishTimeMillis-final.Timing.StartTimeMillis) / 1000
	enc := find(mfs, "transcoder_encode_seconds", "pipeline", pipelineID)
	if enc.count != 1 || enc.sum != took {
		t.Errorf("transcoder_encode_seconds = %+v, want one observation of %v", enc, took)
	}
	speed := find(mfs, "transcoder_encode_speed", "pipeline", pipelineID)
	wantSpeed := float64(final.Outputs[0].DurationMillis) / 1000 / took
	if speed.count != 1 || speed.sum < wantSpeed*0.999 || speed.sum > wantSpeed*1.001 {
		t.Errorf("transcoder_encode_speed = %+v, want one observation of %v", speed, wantSpeed)
	}
	// Submitted, Progressing, Complete at least.
	if lag := find(mfs, "transcoder_event_lag_seconds"); lag.count < 3 || lag.sum <= 0 || lag.sum/lag.count > 1 {
		t.Errorf("transcoder_event_lag_seconds = %+v", lag)
	}
	for _, st := range []string{"PROGRESSING", "COMPLETED"} {
		d := find(mfs, "transcoder_webhook_deliveries_total", "state", st)
		f := find(mfs, "transcoder_webhook_failures_total", "state", st)
		if d.value != 2 || f.value != 1 {
			t.Errorf("webhooks %s: %v attempts, %v failures; want 2 and 1", st, d.value, f.value)
		}
	}
	if v := find(mfs, "transcoder_metrics_events_dropped_total"); !v.ok || v.value != 0 {
		t.Errorf("dropped events: %+v", v)
	}
	t.Logf("encode %.3fs, speed %.2fx, %v state events with a mean lag of %.2f ms", enc.sum, speed.sum,
		find(mfs, "transcoder_event_lag_seconds").count,
		1000*find(mfs, "transcoder_event_lag_seconds").sum/find(mfs, "transcoder_event_lag_seconds").count)

	// Once its context ends, the metrics count no more events.
	cancel()
	m.Close() // a second stop is harmless
	ev := jobs.Event{Kind: jobs.EventState, JobID: "1700000000001-after1", PipelineID: pipelineID,
		Status: jobs.StatusError, Time: time.Now(), Job: &jobs.Job{ID: "1700000000001-after1", Status: jobs.StatusError}}
	data, _ := json.Marshal(ev)
	if err := e.eng.Conn.Publish(fmt.Sprintf("transcoder.events.%s.%s.state", pipelineID, ev.JobID), data); err != nil {
		t.Fatal(err)
	}
	if err := e.eng.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if v := find(scrape(t, h), "transcoder_jobs_finished_total", "status", "Error").value; v != 0 {
		t.Errorf("an event after Close was counted: %v", v)
	}
}

// TestEventsCounted publishes state and progress events straight to the
// engine, as other processes' workers would, and checks the counters.
func TestEventsCounted(t *testing.T) {
	e := startEngine(t)
	start := time.Now()
	now := start
	var mu sync.Mutex
	m, err := metrics.New(context.Background(), e.svc, metrics.Options{Logger: discard(),
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	publish := func(ev jobs.Event) {
		t.Helper()
		data, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.eng.Conn.Publish("transcoder.events."+ev.PipelineID+"."+ev.JobID+"."+ev.Kind, data); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = start.Add(500 * time.Millisecond) // every event arrives half a second after it was sent
	mu.Unlock()
	done := func(id, status string, startMs, finishMs, outMs int64) jobs.Event {
		return jobs.Event{Kind: jobs.EventState, JobID: id, PipelineID: "p1", Status: status, Time: start,
			Job: &jobs.Job{ID: id, PipelineID: "p1", Status: status,
				Timing:  &jobs.Timing{StartTimeMillis: startMs, FinishTimeMillis: finishMs},
				Outputs: []*jobs.JobOutput{{DurationMillis: outMs}, {DurationMillis: outMs / 2}}}}
	}
	publish(done("1700000000000-aaaaaa", jobs.StatusComplete, 1000, 11000, 40000)) // 10 s for 40 s: 4x
	publish(done("1700000000000-bbbbbb", jobs.StatusComplete, 0, 5000, 5000))      // never started: no timing
	publish(done("1700000000000-cccccc", jobs.StatusError, 1000, 2000, 0))
	publish(done("1700000000000-dddddd", jobs.StatusCanceled, 1000, 2000, 0))
	publish(jobs.Event{Kind: jobs.EventProgress, JobID: "1700000000000-eeeeee", PipelineID: "p1", Status: "Progressing",
		Time: start, Progress: &jobs.Progress{Percent: 50, Speed: 3}})
	if err := e.eng.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	mfs := eventually(t, m.Handler(), "four state events", func(mfs map[string]*dto.MetricFamily) bool {
		return find(mfs, "transcoder_event_lag_seconds").count == 4
	})
	for st, want := range map[string]float64{"Complete": 2, "Error": 1, "Canceled": 1} {
		if v := find(mfs, "transcoder_jobs_finished_total", "status", st).value; v != want {
			t.Errorf("finished %s = %v, want %v", st, v, want)
		}
	}
	if s := find(mfs, "transcoder_encode_seconds", "pipeline", "p1"); s.count != 1 || s.sum != 10 {
		t.Errorf("encode seconds %+v, want one of 10", s)
	}
	if s := find(mfs, "transcoder_encode_speed", "pipeline", "p1"); s.count != 1 || s.sum != 4 {
		t.Errorf("encode speed %+v, want one of 4", s)
	}
	if s := find(mfs, "transcoder_event_lag_seconds"); s.sum != 2 {
		t.Errorf("event lag %+v, want 4 × 0.5 s", s)
	}
}

// TestNew: New needs a service, and registers into a caller's registry
// beside collectors already there.
func TestNew(t *testing.T) {
	if _, err := metrics.New(context.Background(), nil, metrics.Options{}); err == nil {
		t.Error("no error without a service")
	}
	e := startEngine(t)
	m, err := metrics.New(context.Background(), e.svc, metrics.Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// A second set in the same registry collides with the first.
	if _, err := metrics.New(context.Background(), e.svc, metrics.Options{Logger: discard(), Registry: m.Registry()}); err == nil {
		t.Error("no error registering twice")
	}
}
