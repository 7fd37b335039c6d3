package jobs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/presets"
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

// TestRetryOverwritesOwnOutputs: an attempt that published an output and
// then died leaves the file behind; the next attempt replaces it instead
// of failing with 3002, because the first attempt recorded that it found
// the outputs free. A file that was there before the job is still 3002.
func TestRetryOverwritesOwnOutputs(t *testing.T) {
	ctx := context.Background()
	eng, err := engine.Start(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	reg := presets.NewRegistry()
	svc, err := Open(ctx, eng.JS, ServiceOptions{AckWait: time.Second, MaxDeliver: 3, Presets: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	tools, err := ffmpeg.Locate("", "")
	if err != nil {
		t.Fatalf("this test needs ffmpeg: %v", err)
	}
	out := t.TempDir()
	in := testmedia.Path(t, testmedia.Tiny)
	create := func(key string) *Job {
		j, err := svc.Create(ctx, CreateRequest{Input: in, Output: "file://" + out,
			Outputs: []OutputSpec{{Key: key, PresetID: "generic-320x240"}}})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	own, foreign := create("own.mp4"), create("foreign.mp4")
	cons, err := svc.queue.Consumer(ctx, workersConsumer)
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt of the first job: claimed, outputs checked, the
	// output published, and then the worker dies.
	m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil || string(m.Data()) != own.ID {
		t.Fatalf("delivery: %v %q", err, m.Data())
	}
	md, _ := m.Metadata()
	if _, _, err := svc.update(ctx, own.ID, func(r *record) error {
		r.Attempt, r.QueueSeq, r.Checked = 1, md.Sequence.Stream, true
		r.Job.Status = StatusProgressing
		r.Delivered = []string{"own.mp4"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"own.mp4", "foreign.mp4"} {
		if err := os.WriteFile(filepath.Join(out, f), []byte("half of something"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	enc, _ := tools.Capabilities(ctx)
	go func() {
		_ = svc.NewWorker(WorkerOptions{WorkDir: t.TempDir(), Tools: tools, Presets: reg,
			Caps: Capabilities{Encoders: enc}}).Run(wctx)
	}()
	final := func(id string) *Job {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if j, err := svc.Get(ctx, id); err == nil && Terminal(j.Status) {
				return j
			}
		}
		t.Fatalf("job %s not final", id)
		return nil
	}
	if j := final(own.ID); j.Status != StatusComplete {
		t.Errorf("retried job: %s %q", j.Status, j.Outputs[0].StatusDetail)
	}
	if st, err := os.Stat(filepath.Join(out, "own.mp4")); err != nil || st.Size() < 1000 {
		t.Errorf("own output not replaced: %v", err)
	}
	if j := final(foreign.ID); j.Status != StatusError || !strings.HasPrefix(j.Outputs[0].StatusDetail, "3002 ") {
		t.Errorf("output there before the job: %s %q", j.Status, j.Outputs[0].StatusDetail)
	}
}
