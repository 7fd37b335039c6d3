package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

// TestRollUp pins Elastic Transcoder's roll-up of output states into the
// job's.
func TestRollUp(t *testing.T) {
	const (
		S = jobs.StatusSubmitted
		P = jobs.StatusProgressing
		C = jobs.StatusComplete
		X = jobs.StatusCanceled
		E = jobs.StatusError
	)
	tests := []struct {
		outputs []string
		want    string
	}{
		{nil, S},
		{[]string{S, S}, S},
		{[]string{P, S}, P},
		{[]string{C, S}, P}, // one output done, the next not started: still running
		{[]string{C, P}, P},
		{[]string{C, C, C}, C},
		{[]string{C, E}, E},
		{[]string{C, X}, X},
		{[]string{X, E}, E},
		{[]string{E, P}, P},
	}
	for _, tc := range tests {
		var outs []*jobs.JobOutput
		for _, s := range tc.outputs {
			outs = append(outs, &jobs.JobOutput{Status: s})
		}
		if got := jobs.RollUp(outs); got != tc.want {
			t.Errorf("RollUp(%v) = %s, want %s", tc.outputs, got, tc.want)
		}
	}
}

// TestStateMachine pins which moves are allowed.
func TestStateMachine(t *testing.T) {
	all := []string{jobs.StatusSubmitted, jobs.StatusProgressing, jobs.StatusComplete, jobs.StatusCanceled, jobs.StatusError}
	allowed := map[string]bool{
		"Submitted>Progressing": true, "Submitted>Canceled": true, "Submitted>Error": true,
		"Progressing>Progressing": true, "Progressing>Complete": true, "Progressing>Canceled": true, "Progressing>Error": true,
	}
	for _, from := range all {
		for _, to := range all {
			if got := jobs.CanMove(from, to); got != allowed[from+">"+to] {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
	}
}

// TestEngineReconcile: a job stored but never queued (its creator died in
// between) is queued again by Reconcile and runs.
func TestEngineReconcile(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	out := t.TempDir()
	job, err := e.svc.Create(ctx, jobs.CreateRequest{Input: testmedia.Path(t, testmedia.Tiny), Output: "file://" + out,
		Outputs: []jobs.OutputSpec{{Key: "x.mp4", PresetID: preset320}}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.eng.JS.Stream(ctx, "TRANSCODER_QUEUE")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Purge(ctx); err != nil { // as if the queueing never happened
		t.Fatal(err)
	}
	// Jobs younger than minAge are left alone: their creator may still be
	// about to queue them.
	if err := e.svc.Reconcile(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if info, _ := q.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("a young job was queued again")
	}
	if err := e.svc.Reconcile(ctx, 0); err != nil {
		t.Fatal(err)
	}
	e.startWorker(t, "w", 1, t.TempDir())
	if got := waitFinal(t, e.svc, job.ID, time.Minute); got.Status != jobs.StatusComplete {
		t.Fatalf("job %s", got.Status)
	}
	if n := e.tools.count(testmedia.Path(t, testmedia.Tiny)); n != 1 {
		t.Errorf("ffmpeg ran %d times", n)
	}
	// Run again: nothing unfinished, nothing queued. (The worker takes
	// the job off the queue just after its final event: wait for that.)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if info, _ := q.Info(ctx); info.State.Msgs == 0 {
			break
		}
	}
	if err := e.svc.Reconcile(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if info, _ := q.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("a finished job was queued again")
	}
}

// TestEngineNewerSchema: data written by a newer transcoder is refused,
// not misread; provisioning twice is fine.
func TestEngineNewerSchema(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	if _, err := jobs.Open(ctx, e.eng.JS, testServiceOptions(e.presets)); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	st, err := e.eng.JS.Stream(ctx, "TRANSCODER_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Metadata = map[string]string{"transcoder_schema": "99"}
	if _, err := e.eng.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	_, err = jobs.Open(ctx, e.eng.JS, testServiceOptions(e.presets))
	if !errors.Is(err, jobs.ErrNewerSchema) || !strings.Contains(err.Error(), "TRANSCODER_EVENTS has schema 99") {
		t.Fatalf("Open: %v", err)
	}
}

// TestEnginePause: a paused pipeline's jobs are created and start only
// when it is resumed, oldest first; other pipelines go on meanwhile.
func TestEnginePause(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	const held, other = "1700000000000-paused", "1700000000000-active"
	if err := e.svc.Pause(ctx, held); err != nil {
		t.Fatal(err)
	}
	if !e.svc.Paused(held) || e.svc.Paused(other) {
		t.Fatal("Paused disagrees with Pause")
	}
	e.startWorker(t, "w", 1, t.TempDir())
	in := testmedia.Path(t, testmedia.Tiny)
	out := t.TempDir()
	create := func(pipe, key string) *jobs.Job {
		j, err := e.svc.Create(ctx, jobs.CreateRequest{PipelineID: pipe, Input: in, Output: "file://" + out,
			Outputs: []jobs.OutputSpec{{Key: key, PresetID: preset320}}})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	a, b := create(held, "a.mp4"), create(held, "b.mp4")
	if got := waitFinal(t, e.svc, create(other, "c.mp4").ID, time.Minute); got.Status != jobs.StatusComplete {
		t.Fatalf("active pipeline's job: %s", got.Status)
	}
	for _, j := range []*jobs.Job{a, b} {
		if got, _ := e.svc.Get(ctx, j.ID); got.Status != jobs.StatusSubmitted {
			t.Fatalf("paused pipeline's job %s", got.Status)
		}
	}
	if err := e.svc.Resume(ctx, held); err != nil {
		t.Fatal(err)
	}
	ga, gb := waitFinal(t, e.svc, a.ID, time.Minute), waitFinal(t, e.svc, b.ID, time.Minute)
	if ga.Status != jobs.StatusComplete || gb.Status != jobs.StatusComplete {
		t.Fatalf("after resume: %s, %s", ga.Status, gb.Status)
	}
	if ga.Timing.StartTimeMillis > gb.Timing.StartTimeMillis {
		t.Errorf("resumed jobs started newest first")
	}
	if n := e.tools.count(in); n != 3 {
		t.Errorf("ffmpeg ran %d times, want 3", n)
	}
}

// TestEngineCreateWithID: a caller-chosen ID makes creation idempotent.
func TestEngineCreateWithID(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	req := jobs.CreateRequest{ID: "1700000000000-fixed1", Input: "in.mp4", Output: t.TempDir(),
		Outputs: []jobs.OutputSpec{{Key: "x.mp4", PresetID: preset320}}}
	if j, err := e.svc.Create(ctx, req); err != nil || j.ID != req.ID {
		t.Fatalf("first: %v %v", j, err)
	}
	if _, err := e.svc.Create(ctx, req); !errors.Is(err, jobs.ErrExists) {
		t.Fatalf("second: %v", err)
	}
}

// TestNewIDOrder: IDs made in a row sort in the order they were made,
// even within one millisecond, and keep Elastic Transcoder's shape.
func TestNewIDOrder(t *testing.T) {
	now := time.Now()
	prev := ""
	for i := range 5000 {
		id := jobs.NewID(now) // the same millisecond every time
		if !regexpID.MatchString(id) {
			t.Fatalf("ID %q", id)
		}
		if id <= prev {
			t.Fatalf("ID %d %q does not sort after %q", i, id, prev)
		}
		prev = id
	}
}

// TestEnginePlaylists: a queued job's playlists are checked when it is
// created (Elastic Transcoder's messages) and written when it runs.
func TestEnginePlaylists(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	out := t.TempDir()
	req := jobs.CreateRequest{Input: testmedia.Path(t, testmedia.Streaming), Output: "file://" + out, OutputKeyPrefix: "movie/",
		Outputs: []jobs.OutputSpec{
			{Key: "hls/360p", PresetID: "cmaf-h264-360p", SegmentDuration: "2"},
			{Key: "hls/audio", PresetID: "cmaf-aac-128k", SegmentDuration: "2"},
		},
		Playlists: []*jobs.Playlist{{Name: "hls/index", Format: "HLSv7", OutputKeys: []string{"hls/360p", "hls/audio"}}},
	}
	bad := req
	bad.Playlists = []*jobs.Playlist{{Name: "other/index", Format: "HLSv7", OutputKeys: []string{"hls/360p"}}}
	if _, err := e.svc.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "upto the last / character") {
		t.Fatalf("playlist outside its prefix: %v", err)
	}
	job, err := e.svc.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	e.startWorker(t, "w", 1, t.TempDir())
	got := waitFinal(t, e.svc, job.ID, 2*time.Minute)
	if got.Status != jobs.StatusComplete || got.Playlists[0].Status != jobs.StatusComplete {
		t.Fatalf("job %s, playlist %+v", got.Status, got.Playlists[0])
	}
	master, err := os.ReadFile(filepath.Join(out, "movie", "hls", "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(master), "#EXT-X-STREAM-INF") || !strings.Contains(string(master), "360p.m3u8") {
		t.Errorf("master playlist:\n%s", master)
	}
}
