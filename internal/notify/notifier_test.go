package notify_test

// Tests of the Notifier: a real embedded NATS JetStream server with the
// job engine's streams (jobs.Open), job state events published on the
// real events subjects, and real HTTP receivers on loopback.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/logtest"
	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/jobs"
)

const testSecret = "whsec-7f3a9c0e5b"

// startEngine starts an embedded engine and opens the job service on it,
// which creates the events stream.
func startEngine(t testing.TB) jetstream.JetStream {
	t.Helper()
	eng, err := engine.Start(context.Background(), engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := jobs.Open(context.Background(), eng.JS, jobs.ServiceOptions{Logger: discardLogger()})
	if err != nil {
		eng.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		eng.Close()
	})
	return eng.JS
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer collects log lines for the test to read.
type logBuffer = logtest.Buffer

// staticTargets serves one pipeline's targets.
func staticTargets(pipelineID string, t notify.Targets) func(string) (notify.Targets, bool) {
	return func(id string) (notify.Targets, bool) {
		if id != pipelineID {
			return notify.Targets{}, false
		}
		return t, true
	}
}

// runNotifier runs a Notifier until the returned stop is called or the
// test ends.
func runNotifier(t testing.TB, js jetstream.JetStream, targets func(string) (notify.Targets, bool), opts notify.Options) (stop func()) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	n, err := notify.New(js, targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(ctx); err != nil {
			t.Errorf("notifier: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// publish records a job's state change on the events stream, as the job
// engine does.
func publish(t testing.TB, js jetstream.JetStream, job *jobs.Job, at time.Time) {
	t.Helper()
	ev := jobs.Event{Kind: jobs.EventState, JobID: job.ID, PipelineID: job.PipelineID, Status: job.Status, Time: at, Job: job}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	subj := "transcoder.events." + job.PipelineID + "." + job.ID + "." + jobs.EventState
	if _, err := js.Publish(context.Background(), subj, data); err != nil {
		t.Fatal(err)
	}
}

// publishProgress records a progress event, which notifies no one.
func publishProgress(t testing.TB, js jetstream.JetStream, job *jobs.Job) {
	t.Helper()
	ev := jobs.Event{Kind: jobs.EventProgress, JobID: job.ID, PipelineID: job.PipelineID, Status: jobs.StatusProgressing,
		Time: time.Now(), Progress: &jobs.Progress{Percent: 50}}
	data, _ := json.Marshal(ev)
	if _, err := js.Publish(context.Background(), "transcoder.events."+job.PipelineID+"."+job.ID+".progress", data); err != nil {
		t.Fatal(err)
	}
}

// newJob is a job of testPipeline in a status, with an ID of its own.
func newJob(n int, status string) *jobs.Job {
	j := fixtureJob(status)
	j.ID = fmt.Sprintf("17000000%05d-job%03d", n, n)
	return j
}

// lifecycle publishes a job's whole history: Submitted, Progressing,
// then final (its outputs and playlists as final says).
func lifecycle(t testing.TB, js jetstream.JetStream, final *jobs.Job) {
	t.Helper()
	for _, status := range []string{jobs.StatusSubmitted, jobs.StatusProgressing} {
		j := fixtureJob(status)
		j.ID, j.PipelineID = final.ID, final.PipelineID
		publish(t, js, j, time.Now())
	}
	publishProgress(t, js, final)
	publish(t, js, final, time.Now())
}

// request is what a receiver saw of one attempt.
type request struct {
	Path     string
	Header   http.Header
	Body     []byte
	SigErr   error
	Answered int
	At       time.Time
}

// key names a notification: job and state.
func (r request) key() string {
	var n struct{ JobID, State string }
	_ = json.Unmarshal(r.Body, &n)
	return n.JobID + " " + n.State
}

// receiver is a webhook endpoint that verifies and records every
// attempt, and answers as answer says (200 by default).
type receiver struct {
	secret string
	mu     sync.Mutex
	reqs   []request
	// answer, when set, decides the status of an attempt; it may block.
	answer func(r *http.Request) int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	code := http.StatusOK
	rc.mu.Lock()
	answer := rc.answer
	rc.mu.Unlock()
	if answer != nil {
		code = answer(r)
	}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, request{Path: r.URL.Path, Header: r.Header.Clone(), Body: body,
		SigErr: notify.Verify(rc.secret, r.Header, body, 5*time.Minute), Answered: code, At: time.Now()})
	rc.mu.Unlock()
	w.WriteHeader(code)
	fmt.Fprintf(w, "answered %d\n", code)
}

func (rc *receiver) setAnswer(f func(r *http.Request) int) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

// delivered returns the first successful attempt of each notification.
func (rc *receiver) delivered() map[string]request {
	out := map[string]request{}
	for _, r := range rc.requests() {
		if r.Answered/100 == 2 {
			if _, ok := out[r.key()]; !ok {
				out[r.key()] = r
			}
		}
	}
	return out
}

// waitDelivered waits until n distinct notifications were delivered.
func (rc *receiver) waitDelivered(t testing.TB, n int, timeout time.Duration) map[string]request {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := rc.delivered()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d notifications delivered after %v: %v", len(got), n, timeout, keys(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keys(m map[string]request) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitQuiet waits until every event was fanned out and every delivery
// done: nothing pending on either consumer.
func waitQuiet(t testing.TB, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for {
		quiet := true
		for _, c := range []struct{ stream, consumer string }{{"TRANSCODER_EVENTS", "notifier"}, {"TRANSCODER_NOTIFY", "webhooks"}} {
			cons, err := js.Consumer(ctx, c.stream, c.consumer)
			if err != nil {
				quiet = false
				break
			}
			info, err := cons.Info(ctx)
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 || info.NumRedelivered > 0 {
				quiet = false
			}
		}
		if quiet {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifier still busy after %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func notifyStreamMsgs(t testing.TB, js jetstream.JetStream) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), "TRANSCODER_NOTIFY")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestNotifierStates runs jobs through every state and checks that each
// URL gets exactly the notifications Elastic Transcoder would have sent,
// signed, with the right headers and the exact JSON of Message.
func TestNotifierStates(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	targets := notify.Targets{
		Progressing: []string{srv.URL + "/progressing"}, Completed: []string{srv.URL + "/completed"},
		Warning: []string{srv.URL + "/warning"}, Error: []string{srv.URL + "/error", srv.URL + "/error-too?team=video"},
		Secret: testSecret,
	}
	runNotifier(t, js, staticTargets(testPipeline, targets), notify.Options{})

	completed := newJob(1, jobs.StatusComplete)
	warned := withWarnings(newJob(2, jobs.StatusComplete))
	failed := failedJob("3002 output already exists: videos/cat/720p.mp4")
	failed.ID = newJob(3, "").ID
	lifecycle(t, js, completed)
	lifecycle(t, js, warned)
	lifecycle(t, js, failed)
	// Canceled while Submitted: no notification at all.
	canceled := newJob(4, jobs.StatusSubmitted)
	publish(t, js, canceled, time.Now())
	canceled.Status = jobs.StatusCanceled
	publish(t, js, canceled, time.Now())
	// A pipeline without targets.
	other := newJob(5, jobs.StatusProgressing)
	other.PipelineID = "1700000000000-other1"
	publish(t, js, other, time.Now())

	type want struct {
		job   *jobs.Job
		state string
		path  string
	}
	wants := []want{
		{completed, notify.StateProgressing, "/progressing"},
		{completed, notify.StateCompleted, "/completed"},
		{warned, notify.StateProgressing, "/progressing"},
		{warned, notify.StateWarning, "/warning"},
		{warned, notify.StateCompleted, "/completed"},
		{failed, notify.StateProgressing, "/progressing"},
		{failed, notify.StateError, "/error"},
		{failed, notify.StateError, "/error-too"},
	}
	rc.waitDelivered(t, 7, 10*time.Second) // distinct (job, state): the ERROR goes to two URLs
	waitQuiet(t, js, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // anything wrongly queued would arrive now

	reqs := rc.requests()
	if len(reqs) != len(wants) {
		for _, r := range reqs {
			t.Logf("got %s %s", r.Path, r.key())
		}
		t.Fatalf("%d requests, want %d", len(reqs), len(wants))
	}
	for _, w := range wants {
		t.Run(w.job.ID[len(w.job.ID)-6:]+"-"+w.state+w.path, func(t *testing.T) {
			var got *request
			for i, r := range reqs {
				if r.Path == w.path && r.key() == w.job.ID+" "+w.state {
					got = &reqs[i]
				}
			}
			if got == nil {
				t.Fatal("not delivered")
			}
			if got.SigErr != nil {
				t.Errorf("signature: %v", got.SigErr)
			}
			// The progressing notification is made from the Progressing
			// event's job, the others from the final one.
			src := w.job
			if w.state == notify.StateProgressing {
				src = fixtureJob(jobs.StatusProgressing)
				src.ID = w.job.ID
			}
			body, err := notify.Message(src, w.state)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, body) {
				t.Errorf("body\n%s\nwant\n%s", got.Body, body)
			}
			for h, v := range map[string]string{
				"Content-Type": "application/json", "User-Agent": "transcoder", notify.HeaderState: w.state,
			} {
				if got.Header.Get(h) != v {
					t.Errorf("%s: %q, want %q", h, got.Header.Get(h), v)
				}
			}
			if !strings.HasPrefix(got.Header.Get(notify.HeaderDelivery), w.job.ID+".") {
				t.Errorf("delivery ID %q", got.Header.Get(notify.HeaderDelivery))
			}
		})
	}
	// The same ERROR to two URLs: two deliveries, told apart.
	var ids []string
	for _, r := range reqs {
		if r.Header.Get(notify.HeaderState) == notify.StateError {
			ids = append(ids, r.Header.Get(notify.HeaderDelivery))
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("ERROR delivery IDs %v", ids)
	}
	// ERROR carries ET's errorCode as a number.
	for _, r := range reqs {
		if r.Header.Get(notify.HeaderState) == notify.StateError {
			var m map[string]any
			if err := json.Unmarshal(r.Body, &m); err != nil || m["errorCode"] != float64(3002) {
				t.Errorf("errorCode %v (%v)", m["errorCode"], err)
			}
		}
	}
	if n := notifyStreamMsgs(t, js); n != 0 {
		t.Errorf("%d deliveries left in the stream", n)
	}
}

// TestNotifierRestart stops the Notifier in the middle of its work and
// starts another: every notification still arrives.
func TestNotifierRestart(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	rc.setAnswer(func(*http.Request) int {
		time.Sleep(40 * time.Millisecond) // slow enough to be caught mid-way
		return http.StatusNoContent
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	targets := staticTargets(testPipeline, notify.Targets{
		Progressing: []string{srv.URL + "/p"}, Completed: []string{srv.URL + "/c"}, Secret: testSecret,
	})
	const jobsN = 15
	for i := range jobsN {
		lifecycle(t, js, newJob(i, jobs.StatusComplete))
	}
	stop := runNotifier(t, js, targets, notify.Options{Concurrency: 2})
	rc.waitDelivered(t, 5, 10*time.Second)
	stop()
	before := len(rc.delivered())
	if before >= 2*jobsN {
		t.Fatalf("all %d delivered before the stop; the test proves nothing", before)
	}
	runNotifier(t, js, targets, notify.Options{Concurrency: 4})
	got := rc.waitDelivered(t, 2*jobsN, 20*time.Second)
	for k, r := range got {
		if r.SigErr != nil {
			t.Errorf("%s: %v", k, r.SigErr)
		}
	}
	waitQuiet(t, js, 10*time.Second)
	t.Logf("%d delivered before the restart, %d after; %d attempts in all", before, len(got)-before, len(rc.requests()))
}

// TestNotifierReceiverDown: the receiver refuses connections for 15
// seconds and answers 503 for 15 more; every notification arrives after
// it recovers, on the same port.
func TestNotifierReceiverDown(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 35 seconds")
	}
	js := startEngine(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connections are refused until the receiver starts
	rc := &receiver{secret: testSecret}
	logs := &logBuffer{}
	targets := staticTargets(testPipeline, notify.Targets{
		Progressing: []string{"http://" + addr + "/p"}, Completed: []string{"http://" + addr + "/c"}, Secret: testSecret,
	})
	runNotifier(t, js, targets, notify.Options{Logger: logs.Logger(), Backoff: []time.Duration{time.Second, 2 * time.Second, 5 * time.Second}})
	start := time.Now()
	const jobsN = 3
	for i := range jobsN {
		lifecycle(t, js, newJob(i, jobs.StatusComplete))
	}

	time.Sleep(15 * time.Second)
	var up atomic.Bool
	rc.setAnswer(func(*http.Request) int {
		if !up.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	l, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s taken meanwhile: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	time.Sleep(15 * time.Second)
	up.Store(true)
	recovered := time.Now()

	got := rc.waitDelivered(t, 2*jobsN, 15*time.Second)
	for k, r := range got {
		if r.SigErr != nil {
			t.Errorf("%s: %v", k, r.SigErr)
		}
		if r.At.Before(recovered) {
			t.Errorf("%s delivered at %v, before the receiver recovered", k, r.At.Sub(start))
		}
	}
	var refused503 int
	for _, r := range rc.requests() {
		if r.Answered == http.StatusServiceUnavailable {
			refused503++
		}
	}
	if refused503 == 0 {
		t.Error("no attempt while the receiver answered 503")
	}
	log := logs.String()
	for _, want := range []string{"connection refused", "answered 503 Service Unavailable", "retry_in=5s"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(log, testSecret) {
		t.Error("the secret is in the log")
	}
	t.Logf("all %d delivered %v after the receiver recovered (%v after the first event); %d attempts answered 503",
		len(got), time.Since(recovered).Round(time.Millisecond), time.Since(start).Round(time.Second), refused503)
}

// TestNotifierGiveUp: a notification that keeps failing is dropped once
// older than GiveUpAfter, and the log says which, without the secret or
// the URL's credentials.
func TestNotifierGiveUp(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	rc.setAnswer(func(*http.Request) int { return http.StatusInternalServerError })
	srv := httptest.NewServer(rc)
	defer srv.Close()
	hook := strings.Replace(srv.URL, "http://", "http://robot:hunter2@", 1) + "/done?token=tok-abc123"
	logs := &logBuffer{}
	targets := staticTargets(testPipeline, notify.Targets{
		Completed: []string{hook}, Secret: testSecret, GiveUpAfter: 2 * time.Second, Timeout: time.Second,
	})
	runNotifier(t, js, targets, notify.Options{Logger: logs.Logger(), Backoff: []time.Duration{200 * time.Millisecond, 500 * time.Millisecond}})

	job := newJob(1, jobs.StatusComplete)
	publish(t, js, job, time.Now())
	// An event older than GiveUpAfter (the notifier was away) is dropped
	// without an attempt.
	old := newJob(2, jobs.StatusComplete)
	publish(t, js, old, time.Now().Add(-time.Hour))

	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "notification given up\"") {
		if time.Now().After(deadline) {
			t.Fatalf("not given up; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitQuiet(t, js, 5*time.Second)
	log := logs.String()
	var line, oldLine string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "notification given up\"") {
			line = l
		}
		if strings.Contains(l, "older than give_up_after") {
			oldLine = l
		}
	}
	redacted := srv.URL + "/done"
	for _, want := range []string{"level=ERROR", "pipeline=" + testPipeline, "job=" + job.ID, "state=COMPLETED",
		"url=" + redacted, "give_up_after=2s", "answered 500 Internal Server Error"} {
		if !strings.Contains(line, want) {
			t.Errorf("give-up line lacks %q:\n%s", want, line)
		}
	}
	for _, want := range []string{"level=ERROR", "job=" + old.ID, "states=COMPLETED", "give_up_after=2s"} {
		if !strings.Contains(oldLine, want) {
			t.Errorf("old-event line lacks %q:\n%s", want, oldLine)
		}
	}
	for _, secret := range []string{testSecret, "hunter2", "tok-abc123"} {
		if strings.Contains(log, secret) {
			t.Errorf("log shows %q:\n%s", secret, log)
		}
	}
	attempts := rc.requests()
	if len(attempts) < 3 {
		t.Errorf("%d attempts in 2s with backoff 200ms, 500ms", len(attempts))
	}
	for _, r := range attempts {
		if r.key() != job.ID+" COMPLETED" {
			t.Errorf("unexpected attempt %s", r.key())
		}
		if r.SigErr != nil {
			t.Errorf("signature: %v", r.SigErr)
		}
	}
	if last := attempts[len(attempts)-1].At.Sub(attempts[0].At); last > 3*time.Second {
		t.Errorf("attempts went on for %v", last)
	}
	if n := notifyStreamMsgs(t, js); n != 0 {
		t.Errorf("%d deliveries left in the stream", n)
	}
}

// TestNotifierTimeout: a receiver that never answers is cut off after
// Timeout, and the delivery is retried.
func TestNotifierTimeout(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	var calls atomic.Int32
	hung := make(chan time.Duration, 1)
	rc.setAnswer(func(r *http.Request) int {
		if calls.Add(1) > 1 {
			return http.StatusOK
		}
		start := time.Now()
		select {
		case <-r.Context().Done(): // the notifier hung up
		case <-time.After(10 * time.Second):
		}
		hung <- time.Since(start)
		return http.StatusOK // too late: no one is listening
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	logs := &logBuffer{}
	const timeout = 300 * time.Millisecond
	targets := staticTargets(testPipeline, notify.Targets{
		Completed: []string{srv.URL + "/c"}, Secret: testSecret, Timeout: timeout,
	})
	runNotifier(t, js, targets, notify.Options{Logger: logs.Logger(), Backoff: []time.Duration{100 * time.Millisecond}})
	job := newJob(1, jobs.StatusComplete)
	publish(t, js, job, time.Now())

	select {
	case d := <-hung:
		// The timeout also covers connecting, so the handler sees a bit less.
		if d < timeout/2 || d > 3*time.Second {
			t.Errorf("the hanging attempt was cut off after %v, want about %v", d, timeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the hanging attempt was never cut off")
	}
	rc.waitDelivered(t, 1, 10*time.Second)
	waitQuiet(t, js, 5*time.Second)
	if !strings.Contains(logs.String(), "no answer within 300ms") {
		t.Errorf("log lacks the timeout:\n%s", logs.String())
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
}

// TestNotifierSharedWork runs two Notifiers on one engine: every
// notification arrives, and (without failures) once.
func TestNotifierSharedWork(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	targets := staticTargets(testPipeline, notify.Targets{
		Progressing: []string{srv.URL + "/p"}, Completed: []string{srv.URL + "/c"}, Secret: testSecret,
	})
	runNotifier(t, js, targets, notify.Options{})
	runNotifier(t, js, targets, notify.Options{})
	const jobsN = 20
	for i := range jobsN {
		lifecycle(t, js, newJob(i, jobs.StatusComplete))
	}
	rc.waitDelivered(t, 2*jobsN, 15*time.Second)
	waitQuiet(t, js, 10*time.Second)
	if n := len(rc.requests()); n != 2*jobsN {
		t.Errorf("%d requests for %d notifications", n, 2*jobsN)
	}
}

// TestNotifierTargetRemoved: deliveries queued for a URL that is then
// taken out of the configuration stop being attempted.
func TestNotifierTargetRemoved(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	rc.setAnswer(func(*http.Request) int { return http.StatusBadGateway })
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var mu sync.Mutex
	tg := notify.Targets{Completed: []string{srv.URL + "/c"}, Secret: testSecret}
	targets := func(id string) (notify.Targets, bool) {
		mu.Lock()
		defer mu.Unlock()
		return tg, id == testPipeline
	}
	logs := &logBuffer{}
	runNotifier(t, js, targets, notify.Options{Logger: logs.Logger(), Backoff: []time.Duration{100 * time.Millisecond}})
	publish(t, js, newJob(1, jobs.StatusComplete), time.Now())
	deadline := time.Now().Add(5 * time.Second)
	for len(rc.requests()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no retries")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	tg.Completed = nil
	mu.Unlock()
	waitQuiet(t, js, 5*time.Second)
	n := len(rc.requests())
	time.Sleep(300 * time.Millisecond)
	if len(rc.requests()) != n {
		t.Error("attempts went on after the URL was removed")
	}
	if !strings.Contains(logs.String(), "no longer configured") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// TestNotifierProvisioning: Run needs the job engine's events stream and
// refuses streams a newer transcoder wrote.
func TestNotifierProvisioning(t *testing.T) {
	noTargets := func(string) (notify.Targets, bool) { return notify.Targets{}, false }
	run := func(js jetstream.JetStream) error {
		n, err := notify.New(js, noTargets, notify.Options{Logger: discardLogger()})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go func() { time.Sleep(500 * time.Millisecond); cancel() }()
		return n.Run(ctx)
	}
	t.Run("no events stream", func(t *testing.T) {
		eng, err := engine.Start(context.Background(), engine.Config{DataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close()
		err = run(eng.JS)
		if !errors.Is(err, jetstream.ErrStreamNotFound) || !strings.Contains(err.Error(), "jobs.Open") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		js := startEngine(t)
		_, err := js.CreateStream(context.Background(), jetstream.StreamConfig{
			Name: "TRANSCODER_NOTIFY", Subjects: []string{"transcoder.notify.>"}, Retention: jetstream.WorkQueuePolicy,
			Metadata: map[string]string{"transcoder_schema": "2"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := run(js); !errors.Is(err, jobs.ErrNewerSchema) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		js := startEngine(t)
		for range 2 {
			if err := run(js); err != nil {
				t.Fatal(err)
			}
		}
		cons, err := js.Consumer(context.Background(), "TRANSCODER_NOTIFY", "webhooks")
		if err != nil {
			t.Fatal(err)
		}
		if v := cons.CachedInfo().Config.Metadata["transcoder_schema"]; v != "1" {
			t.Errorf("consumer schema %q", v)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		js := startEngine(t)
		if _, err := notify.New(js, noTargets, notify.Options{Backoff: []time.Duration{time.Second, 0}}); err == nil ||
			!strings.Contains(err.Error(), "backoff[1]: 0s is not positive") {
			t.Errorf("got %v", err)
		}
		if _, err := notify.New(js, nil, notify.Options{}); err == nil {
			t.Error("nil targets accepted")
		}
	})
}

// TestNotifierOnAttempt: OnAttempt hears of every attempt, failed and
// successful, with the notification's state.
func TestNotifierOnAttempt(t *testing.T) {
	js := startEngine(t)
	rc := &receiver{secret: testSecret}
	var calls atomic.Int32
	rc.setAnswer(func(*http.Request) int {
		if calls.Add(1) == 1 {
			return http.StatusBadGateway // the first attempt fails
		}
		return http.StatusOK
	})
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var mu sync.Mutex
	var attempts []string
	targets := staticTargets(testPipeline, notify.Targets{Completed: []string{srv.URL + "/c"}, Secret: testSecret})
	runNotifier(t, js, targets, notify.Options{
		Backoff: []time.Duration{100 * time.Millisecond},
		OnAttempt: func(state string, ok bool) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, fmt.Sprintf("%s %v", state, ok))
		},
	})
	publish(t, js, newJob(1, jobs.StatusComplete), time.Now())
	rc.waitDelivered(t, 1, 10*time.Second)
	waitQuiet(t, js, 5*time.Second)

	mu.Lock()
	defer mu.Unlock()
	want := []string{notify.StateCompleted + " false", notify.StateCompleted + " true"}
	if fmt.Sprint(attempts) != fmt.Sprint(want) {
		t.Errorf("OnAttempt calls %q, want %q", attempts, want)
	}
}
