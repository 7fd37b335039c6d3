package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/transcoder/transcoder/internal/engine"
)

// TestWorkersKeepDying: when every attempt of a job dies with its worker
// (here: a delivery is claimed as a worker would and never answered), the
// next worker to get it ends it in Error instead of trying for ever.
func TestWorkersKeepDying(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Start(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	svc, err := Open(ctx, eng.JS, ServiceOptions{AckWait: time.Second, MaxDeliver: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	job, err := svc.Create(ctx, CreateRequest{Input: "in.mp4", Output: t.TempDir(),
		Outputs: []OutputSpec{{Key: "x.mp4", PresetID: "any"}}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := svc.queue.Consumer(ctx, workersConsumer)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
		md, _ := m.Metadata()
		if _, _, err := svc.update(ctx, job.ID, func(r *record) error {
			r.Attempt++
			r.QueueSeq = md.Sequence.Stream
			r.Job.Status = StatusProgressing
			r.LastError = "9000 the worker was killed"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// ... and the worker dies: no answer, the ack wait runs out.
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = svc.NewWorker(WorkerOptions{WorkDir: t.TempDir()}).Run(wctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, err := svc.Get(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if Terminal(got.Status) {
			want := "9000 no worker finished the job in 2 attempts; last error: 9000 the worker was killed"
			if got.Status != StatusError || got.Outputs[0].StatusDetail != want {
				t.Fatalf("job %s: %q", got.Status, got.Outputs[0].StatusDetail)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("job never failed")
}
