package jobs_test

// Benchmarks of the job engine on the embedded server: how soon a worker
// starts a job, and how fast jobs can be created. They run only with
// -bench, e.g.
//
//	go test -run '^$' -bench Engine -benchtime 200x ./jobs/

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

// BenchmarkEngineCreateToProgressing measures the latency from just before
// Create to the moment the job's Progressing state event arrives at a
// subscriber of the events stream (an ordered JetStream consumer, as a
// notifier would use): the queue, the worker's claim and the event
// publication, without ffmpeg. Goal on two cores: p50 < 20 ms, p99 <
// 100 ms. ns/op is the mean of the same latency.
//
// The worker is idle at every Create: jobs are created one at a time, each
// after the previous one's Complete event, and the worker has two slots,
// so that while the previous job's slot is still acknowledging, the other
// slot already has a pull request waiting at the queue.
func BenchmarkEngineCreateToProgressing(b *testing.B) {
	quietLogs(b)
	e := startEngine(b, "")
	e.startWorker(b, "bench", 2, b.TempDir())
	clip := testmedia.Path(b, testmedia.AudioBlip)
	out := b.TempDir()
	events := watchStates(b, e.eng.JS)

	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		job, err := e.svc.Create(context.Background(), jobs.CreateRequest{
			PipelineID: "1700000000000-bench1", Input: clip, Output: "file://" + out,
			Outputs: []jobs.OutputSpec{{Key: fmt.Sprintf("bench-%d.mp3", i), PresetID: presetMP3}},
		})
		if err != nil {
			b.Fatal(err)
		}
		seen := events.wait(b, job.ID, jobs.StatusProgressing)
		lat = append(lat, seen.Sub(t0))
		b.StopTimer()
		events.wait(b, job.ID, jobs.StatusComplete)
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkEngineCreate measures job creation through the Go API, with no
// worker: one caller after another, and callers in parallel
// (GOMAXPROCS of them). Goal: at least 1,000 creates/s.
func BenchmarkEngineCreate(b *testing.B) {
	quietLogs(b)
	e := startEngine(b, "")
	req := jobs.CreateRequest{
		PipelineID: "1700000000000-bench2", Input: "/srv/inbox/in.mp4", Output: "file://" + b.TempDir(),
		Outputs: []jobs.OutputSpec{{Key: "out.mp4", PresetID: preset320}},
	}
	create := func(b *testing.B) {
		if _, err := e.svc.Create(context.Background(), req); err != nil {
			b.Error(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			create(b)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				create(b)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
	})
}

// stateWatch follows the state events of every job and records when each
// was received.
type stateWatch struct {
	ch chan stateSeen
}

type stateSeen struct {
	id, status string
	at         time.Time
}

func watchStates(b *testing.B, js jetstream.JetStream) *stateWatch {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	cons, err := js.OrderedConsumer(ctx, "TRANSCODER_EVENTS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"transcoder.events.*.*.state"},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
	})
	if err != nil {
		b.Fatal(err)
	}
	w := &stateWatch{ch: make(chan stateSeen, 1024)}
	var stopped atomic.Bool
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now()
		var ev jobs.Event
		if json.Unmarshal(m.Data(), &ev) == nil && !stopped.Load() {
			w.ch <- stateSeen{id: ev.JobID, status: ev.Status, at: at}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopped.Store(true); cc.Stop() })
	return w
}

// wait returns when the job's event with status was received; events of
// other jobs and states are skipped (the benchmark runs one job at a
// time).
func (w *stateWatch) wait(b *testing.B, id, status string) time.Time {
	b.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case s := <-w.ch:
			if s.id == id && s.status == status {
				return s.at
			}
			if s.id == id && jobs.Terminal(s.status) {
				b.Fatalf("job %s ended %s while waiting for %s", id, s.status, status)
			}
		case <-timeout:
			b.Fatalf("no %s event for job %s in a minute", status, id)
		}
	}
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p+99)/100 - 1 // nearest rank
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quietLogs keeps the engine's per-job log lines (slog's default logger,
// which a Service takes when it opens) out of benchmark output.
func quietLogs(b *testing.B) {
	old := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	b.Cleanup(func() { slog.SetDefault(old) })
}
