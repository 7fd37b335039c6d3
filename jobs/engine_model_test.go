package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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

// TestEngineMaxDeliveries: when every allowed delivery of a job goes to a
// worker that dies (here: a consumer that takes the job and never answers),
// the job ends in Error rather than staying unfinished for ever.
func TestEngineMaxDeliveries(t *testing.T) {
	e := startEngine(t, "")
	ctx := context.Background()
	job, err := e.svc.Create(ctx, jobs.CreateRequest{Input: testmedia.Path(t, testmedia.Tiny), Output: "file://" + t.TempDir(),
		Outputs: []jobs.OutputSpec{{Key: "x.mp4", PresetID: preset320}}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := e.eng.JS.Consumer(ctx, "TRANSCODER_QUEUE", "workers")
	if err != nil {
		t.Fatal(err)
	}
	// Dead workers: they keep asking for jobs and never answer.
	var deliveries atomic.Int32
	pullCtx, stopPulling := context.WithCancel(ctx)
	defer stopPulling()
	go func() {
		for pullCtx.Err() == nil {
			m, err := cons.Next(jetstream.FetchMaxWait(500 * time.Millisecond))
			if err == nil && string(m.Data()) == job.ID {
				deliveries.Add(1)
			}
		}
	}()
	got := waitFinal(t, e.svc, job.ID, 30*time.Second)
	if got.Status != jobs.StatusError || !strings.HasPrefix(got.Outputs[0].StatusDetail, "9000 no worker finished the job in 3 attempts") {
		t.Fatalf("job %s: %q", got.Status, got.Outputs[0].StatusDetail)
	}
	stopPulling()
	if n := deliveries.Load(); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
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
	// Run again: nothing unfinished, nothing queued.
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
