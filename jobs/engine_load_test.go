package jobs_test

// The engine under a queue of many short jobs: none lost, none run twice,
// started in the order they were submitted, and listed exactly once.

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

const presetMP3 = "1351620000001-300040" // audio-mp3-128k: milliseconds of work on AudioBlip

// TestEngineLoad submits 200 short jobs, alternating between two
// pipelines, to two workers of one slot each, while they run.
func TestEngineLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 200 jobs")
	}
	const (
		n         = 200
		workers   = 2 // Worker instances
		perWorker = 1 // slots of each: more only makes the processes contend for two cores
		slots     = workers * perWorker
	)
	pipelines := []string{"1700000000000-pipe01", "1700000000000-pipe02"}
	started := time.Now()
	e := startEngine(t, "")
	clip := testmedia.Path(t, testmedia.AudioBlip)
	in, out := t.TempDir(), t.TempDir()
	for i := range workers {
		e.startWorker(t, fmt.Sprintf("load-%d", i+1), perWorker, t.TempDir())
	}

	// Each job has an input of its own name, so that countingTools counts
	// ffmpeg runs per job.
	type submitted struct {
		id, pipeline, input string
		seq                 int // order of submission within its pipeline
	}
	subs := make([]submitted, n)
	byID := map[string]*submitted{}
	perPipeline := map[string]int{}
	for i := range n {
		p := pipelines[i%len(pipelines)]
		input := linkInput(t, clip, filepath.Join(in, fmt.Sprintf("load-%03d.m4a", i)))
		job, err := e.svc.Create(context.Background(), jobs.CreateRequest{
			PipelineID: p, Input: input, Output: "file://" + out,
			Outputs: []jobs.OutputSpec{{Key: fmt.Sprintf("load-%03d.mp3", i), PresetID: presetMP3}},
		})
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
		subs[i] = submitted{id: job.ID, pipeline: p, input: input, seq: perPipeline[p]}
		byID[job.ID] = &subs[i]
		perPipeline[p]++
	}
	t.Logf("%d jobs submitted in %v", n, time.Since(started).Round(time.Millisecond))

	for i, s := range subs {
		got := waitFinal(t, e.svc, s.id, 2*time.Minute)
		if got.Status != jobs.StatusComplete {
			t.Fatalf("job %d (%s) is %s: %+v", i, s.id, got.Status, got.Outputs[0])
		}
		if c := e.tools.count(s.input); c != 1 {
			t.Errorf("job %d (%s): ffmpeg ran %d times", i, s.id, c)
		}
	}
	t.Logf("%d jobs Complete %v after start", n, time.Since(started).Round(time.Millisecond))
	// ffprobe a sample of the outputs; the records say the rest are there.
	for i := 0; i < n; i += 40 {
		m := probe(t, filepath.Join(out, fmt.Sprintf("load-%03d.mp3", i)))
		if a := m.audio(t); a.CodecName != "mp3" || !within(m.duration(), 0.5, 0.15) {
			t.Errorf("output %d: %s, %.3f s", i, a.CodecName, m.duration())
		}
	}

	// Order of start: the Progressing events, in the events stream's
	// order, against the order of submission. The queue hands jobs out in
	// order, but a worker publishes Progressing only after it has claimed
	// the job it fetched, so the other worker may get its next job's event
	// in first: a job may be displaced by fewer places than there are
	// slots, never more.
	states := stateEvents(t, e.eng.JS)
	rank := map[string]int{}      // order of start within the job's pipeline
	startedIn := map[string]int{} // jobs started so far, by pipeline
	counts := map[string]map[string]int{}
	for _, ev := range states {
		if counts[ev.JobID] == nil {
			counts[ev.JobID] = map[string]int{}
		}
		counts[ev.JobID][ev.Status]++
		if byID[ev.JobID] == nil {
			t.Fatalf("state event of a job never submitted: %+v", ev)
		}
		if ev.Status == jobs.StatusProgressing {
			p := byID[ev.JobID].pipeline
			rank[ev.JobID] = startedIn[p]
			startedIn[p]++
		}
	}
	worst := 0
	for _, s := range subs {
		c := counts[s.id]
		if c[jobs.StatusSubmitted] != 1 || c[jobs.StatusProgressing] != 1 || c[jobs.StatusComplete] != 1 || len(c) != 3 {
			t.Errorf("job %s: state events %v, want one each of Submitted, Progressing, Complete", s.id, c)
			continue
		}
		d := max(rank[s.id]-s.seq, s.seq-rank[s.id])
		worst = max(worst, d)
		if d >= slots {
			t.Errorf("job %s, %s's job %d by submission, was started %dth", s.id, s.pipeline, s.seq, rank[s.id])
		}
	}
	t.Logf("largest displacement in start order: %d (allowed < %d)", worst, slots)

	// Listings, page by page, return every job exactly once, in ID order.
	all := make([]string, 0, n)
	for _, s := range subs {
		all = append(all, s.id)
	}
	slices.Sort(all)
	// IDs are the creation millisecond plus random characters, so jobs
	// created within one millisecond list in random order among
	// themselves; for the log.
	swapped := 0
	for i := 1; i < n; i++ {
		if subs[i].id < subs[i-1].id {
			swapped++
		}
	}
	t.Logf("%d of %d consecutive submissions have IDs out of submission order", swapped, n-1)
	ofPipeline := func(p string) []string {
		var ids []string
		for _, id := range all {
			if byID[id].pipeline == p {
				ids = append(ids, id)
			}
		}
		return ids
	}
	tests := []struct {
		name string
		req  jobs.ListRequest
		want []string // ascending
	}{
		{"pipeline 1", jobs.ListRequest{PipelineID: pipelines[0]}, ofPipeline(pipelines[0])},
		{"pipeline 2", jobs.ListRequest{PipelineID: pipelines[1]}, ofPipeline(pipelines[1])},
		{"Complete", jobs.ListRequest{Status: jobs.StatusComplete}, all},
		{"pipeline 2 Complete", jobs.ListRequest{PipelineID: pipelines[1], Status: jobs.StatusComplete}, ofPipeline(pipelines[1])},
		{"all", jobs.ListRequest{}, all},
		{"Submitted", jobs.ListRequest{Status: jobs.StatusSubmitted}, nil},
		{"Progressing", jobs.ListRequest{PipelineID: pipelines[0], Status: jobs.StatusProgressing}, nil},
		{"other pipeline", jobs.ListRequest{PipelineID: "1700000000000-pipe03"}, nil},
	}
	for _, tc := range tests {
		for _, asc := range []bool{false, true} {
			t.Run(fmt.Sprintf("list %s ascending=%v", tc.name, asc), func(t *testing.T) {
				req := tc.req
				req.Ascending, req.Limit = asc, 30
				got := listAll(t, e.svc, req)
				want := slices.Clone(tc.want)
				if !asc {
					slices.Reverse(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("got %d jobs, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
				}
			})
		}
	}
}

// listAll pages through a listing and returns the IDs in the order
// listed. Each page but the last must be full.
func listAll(t *testing.T, svc *jobs.Service, req jobs.ListRequest) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		page, err := svc.List(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			if req.Status != "" && j.Status != req.Status || req.PipelineID != "" && j.PipelineID != req.PipelineID {
				t.Errorf("listing %+v returned job %s, %s, %s", req, j.ID, j.PipelineID, j.Status)
			}
			ids = append(ids, j.ID)
		}
		if page.NextPageToken == "" {
			return ids
		}
		if len(page.Jobs) != req.Limit {
			t.Errorf("page %d has %d jobs and a next page", pages, len(page.Jobs))
		}
		req.PageToken = page.NextPageToken
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// stateEvents reads every state event in the events stream, in the
// stream's order.
func stateEvents(t *testing.T, js jetstream.JetStream) []jobs.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "TRANSCODER_EVENTS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"transcoder.events.*.*.state"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var evs []jobs.Event
	for {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var ev jobs.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(m.Subject(), "."+ev.JobID+".state") {
				t.Errorf("event of job %s on subject %s", ev.JobID, m.Subject())
			}
			evs = append(evs, ev)
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if got == 0 {
			return evs
		}
	}
}
