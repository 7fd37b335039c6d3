package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

// TestEngineCancel cancels a job in each state it can be canceled in,
// and one that is already finished.
func TestEngineCancel(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	out, work := t.TempDir(), t.TempDir()

	t.Run("submitted", func(t *testing.T) {
		in := testmedia.Path(t, testmedia.Tiny)
		job, err := e.svc.Create(ctx, jobs.CreateRequest{Input: in, Output: "file://" + out,
			Outputs: []jobs.OutputSpec{{Key: "never.mp4", PresetID: preset320}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.svc.Cancel(ctx, job.ID)
		if err != nil || got.Status != jobs.StatusCanceled || got.Outputs[0].Status != jobs.StatusCanceled {
			t.Fatalf("cancel: %+v, %v", got, err)
		}
		// A worker that starts now must not run it.
		stop := e.startWorker(t, "w", 1, work)
		marker, err := e.svc.Create(ctx, jobs.CreateRequest{Input: in, Output: "file://" + out,
			Outputs: []jobs.OutputSpec{{Key: "after.mp4", PresetID: preset320}}})
		if err != nil {
			t.Fatal(err)
		}
		waitFinal(t, e.svc, marker.ID, time.Minute)
		stop()
		if got, _ := e.svc.Get(ctx, job.ID); got.Status != jobs.StatusCanceled {
			t.Errorf("canceled job became %s", got.Status)
		}
		if _, err := os.Stat(filepath.Join(out, "never.mp4")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("canceled job wrote its output: %v", err)
		}
		if _, err := e.svc.Cancel(ctx, marker.ID); !errors.Is(err, jobs.ErrNotCancelable) {
			t.Errorf("cancel of a finished job: %v", err)
		}
	})

	t.Run("progressing", func(t *testing.T) {
		in := testmedia.Path(t, testmedia.Landscape1080)
		e.startWorker(t, "w2", 1, work)
		job, err := e.svc.Create(ctx, jobs.CreateRequest{Input: in, Output: "file://" + out + "/p",
			Outputs: []jobs.OutputSpec{
				{Key: "big.mp4", PresetID: preset1080, ThumbnailPattern: "thumb-{count}"},
				{Key: "small.mp4", PresetID: preset320},
			}})
		if err != nil {
			t.Fatal(err)
		}
		waitRunning(t, e.svc, job.ID)
		got, err := e.svc.Cancel(ctx, job.ID)
		if err != nil || got.Status != jobs.StatusProgressing {
			t.Fatalf("cancel: %+v, %v", got, err)
		}
		final := waitFinal(t, e.svc, job.ID, time.Minute)
		if final.Status != jobs.StatusCanceled {
			t.Fatalf("job %s", final.Status)
		}
		for _, o := range final.Outputs {
			if o.Status != jobs.StatusCanceled {
				t.Errorf("output %s: %s", o.Key, o.Status)
			}
		}
		if left := files(t, filepath.Join(out, "p")); len(left) != 0 {
			t.Errorf("canceled job left %v", left)
		}
		if left, _ := os.ReadDir(work); len(left) != 0 {
			t.Errorf("work directory holds %v", left[0].Name())
		}
		if p := ffmpegsOf(job.ID); len(p) > 0 {
			t.Errorf("ffmpeg still running: %v", p)
		}
	})
}

// TestEngineJobErrors checks the failures that are not retried: each ends
// in Error with Elastic Transcoder's code and the reason, after one
// attempt.
func TestEngineJobErrors(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	dir := t.TempDir()
	e.startWorker(t, "w", 2, t.TempDir())

	corrupt := filepath.Join(dir, "corrupt.mp4")
	if err := os.WriteFile(corrupt, []byte("this is not a video, only text renamed"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Half a real file: the probe reads it, the encode runs short, and the
	// read-back check refuses the truncated output.
	whole, err := os.ReadFile(testmedia.Path(t, testmedia.Landscape720))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mp4")
	if err := os.WriteFile(truncated, whole[:len(whole)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	existingOut := t.TempDir()
	if err := os.WriteFile(filepath.Join(existingOut, "taken.mp4"), []byte("someone else's"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, input, output, key string
		want                     []string // in the output's StatusDetail
	}{
		{"corrupt input", corrupt, t.TempDir(), "x.mp4", []string{"4000 ", "Invalid data found when processing input"}},
		{"missing input", filepath.Join(dir, "missing.mp4"), t.TempDir(), "x.mp4", []string{"3001 ", "missing.mp4"}},
		{"existing output", testmedia.Path(t, testmedia.Tiny), existingOut, "taken.mp4", []string{"3002 ", "taken.mp4"}},
		{"truncated input", truncated, t.TempDir(), "x.mp4", []string{"4000 "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job, err := e.svc.Create(ctx, jobs.CreateRequest{Input: tc.input, Output: "file://" + tc.output,
				Outputs: []jobs.OutputSpec{{Key: tc.key, PresetID: preset320}}})
			if err != nil {
				t.Fatal(err)
			}
			got := waitFinal(t, e.svc, job.ID, time.Minute)
			d := got.Outputs[0].StatusDetail
			if got.Status != jobs.StatusError || got.Outputs[0].Status != jobs.StatusError {
				t.Fatalf("status %s / %s: %s", got.Status, got.Outputs[0].Status, d)
			}
			for _, w := range tc.want {
				if !strings.Contains(d, w) {
					t.Errorf("StatusDetail %q lacks %q", d, w)
				}
			}
			if len(d) > 255 {
				t.Errorf("StatusDetail is %d characters", len(d))
			}
			if got.Timing.FinishTimeMillis == 0 {
				t.Error("no finish time")
			}
			if h := stateHistory(t, e.eng.JS, job.ID); strings.Join(h, ",") != "Submitted,Progressing,Error" {
				t.Errorf("states %v: want one attempt", h)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(existingOut, "taken.mp4")); string(b) != "someone else's" {
		t.Error("3002: the existing output was changed")
	}
}

// TestEngineStall stops ffmpeg with SIGSTOP: the watchdog must kill it and
// the job be retried, and the second attempt completes, also when its
// pipeline may run only one job at a time.
func TestEngineStall(t *testing.T) {
	e := startEngine(t, "")
	in := filepath.Join(t.TempDir(), "stall-me.mp4")
	if err := os.Link(testmedia.Path(t, testmedia.Tiny), in); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan int, 1)
	e.tools.onRun = func(args []string) {
		if inputOf(args) != "stall-me.mp4" || e.tools.count(in) != 1 {
			return
		}
		go func() { // find the ffmpeg just started and freeze it
			for range 200 {
				for _, f := range ffmpegsOf("stall-me.mp4") {
					pid, _ := strconv.Atoi(strings.Split(f, "/")[2])
					if syscall.Kill(pid, syscall.SIGSTOP) == nil {
						stopped <- pid
						return
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	// The pipeline may run one job at a time: its retry is that one job,
	// and must not wait for itself.
	ctx, cancel := context.WithCancel(context.Background())
	w := e.svc.NewWorker(jobs.WorkerOptions{Name: "w", Concurrency: 2, WorkDir: t.TempDir(), Tools: e.tools,
		Stores: e.stores, Presets: e.presets, Caps: e.caps, StallTimeout: 3 * time.Second,
		Limit: func(string) int { return 1 }})
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	out := t.TempDir()
	job, err := e.svc.Create(context.Background(), jobs.CreateRequest{PipelineID: "1700000000000-limit1", Input: in,
		Output: "file://" + out, Outputs: []jobs.OutputSpec{{Key: "x.mp4", PresetID: preset320}}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("ffmpeg was never stopped")
	}
	got := waitFinal(t, e.svc, job.ID, time.Minute)
	if got.Status != jobs.StatusComplete {
		t.Fatalf("job %s: %s", got.Status, got.Outputs[0].StatusDetail)
	}
	if n := e.tools.count(in); n != 2 {
		t.Errorf("ffmpeg ran %d times; want 2 (stalled, then the retry)", n)
	}
	probe(t, filepath.Join(out, "x.mp4")).video(t)
}

// TestEngineThumbnailLocation: thumbnails go to a location of their own
// (ET's ThumbnailConfig), are checked there for 3002, and everything else
// goes to the output.
func TestEngineThumbnailLocation(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	e.startWorker(t, "w", 1, t.TempDir())
	in := testmedia.Path(t, testmedia.Tiny)
	out, pics := t.TempDir(), t.TempDir()
	req := jobs.CreateRequest{Input: in, Output: "file://" + out, Thumbnails: "file://" + pics,
		Outputs: []jobs.OutputSpec{{Key: "v/x.mp4", PresetID: preset320, ThumbnailPattern: "v/x-{count}"}}}
	job, err := e.svc.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := waitFinal(t, e.svc, job.ID, time.Minute); got.Status != jobs.StatusComplete {
		t.Fatalf("job %s: %s", got.Status, got.Outputs[0].StatusDetail)
	}
	if got := files(t, out); strings.Join(got, ",") != "v,v/x.mp4" {
		t.Errorf("output location holds %v", got)
	}
	got := files(t, pics)
	if len(got) < 2 || got[1] != "v/x-00001.png" && got[1] != "v/x-00001.jpg" {
		t.Errorf("thumbnail location holds %v", got)
	}
	// A second job with the same keys: its thumbnails exist, 3002.
	req.Outputs[0].Key = "v/y.mp4"
	job, err = e.svc.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got2 := waitFinal(t, e.svc, job.ID, time.Minute)
	if got2.Status != jobs.StatusError || !strings.HasPrefix(got2.Outputs[0].StatusDetail, "3002 ") {
		t.Errorf("existing thumbnails: %s %q", got2.Status, got2.Outputs[0].StatusDetail)
	}
}
