package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
)

// WorkerOptions configure a worker.
type WorkerOptions struct {
	// Name identifies the worker in job records and logs; default
	// host:pid.
	Name string
	// Concurrency is how many jobs run at once; default 1.
	Concurrency int
	// WorkDir holds each running job's temporary files, in a directory
	// named after the job that is removed on every way out; default
	// $TMPDIR/transcoder-work.
	WorkDir string
	Tools   Tools
	Stores  BucketOpener
	Presets PresetLookup
	Caps    Capabilities
	// StallTimeout is how long ffmpeg may make no progress before it is
	// killed and the job retried; 0 means ffmpeg's default.
	StallTimeout time.Duration
	// Limit, when set, gives the most jobs of a pipeline that may run at
	// once across all workers (0: no limit). It is checked against the
	// shared index when a job is about to start, so workers starting jobs
	// of one pipeline at the same instant may exceed it briefly.
	Limit func(pipelineID string) int
	// GracePeriod is how long running jobs may go on after Run's context
	// ends; jobs still running then are stopped and go back to the queue
	// for another worker. Default 0: release them at once.
	GracePeriod time.Duration
}

// Worker takes jobs from the queue and runs them.
type Worker struct {
	svc  *Service
	opts WorkerOptions
	log  *slog.Logger
}

// NewWorker returns a worker for the service's queue.
func (s *Service) NewWorker(opts WorkerOptions) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Name == "" {
		host, _ := os.Hostname()
		opts.Name = host + ":" + strconv.Itoa(os.Getpid())
	}
	if opts.WorkDir == "" {
		opts.WorkDir = filepath.Join(os.TempDir(), "transcoder-work")
	}
	return &Worker{svc: s, opts: opts, log: s.log.With("worker", opts.Name)}
}

// errReleased stops a job that goes back to the queue for another worker.
var errReleased = errors.New("worker shutting down: job released to the queue")

// errCancelRequested stops a job whose cancellation was asked for.
var errCancelRequested = errors.New("job canceled")

// errLostLease stops a job that another attempt has taken over.
var errLostLease = errors.New("another worker has taken the job over")

// Run takes jobs until ctx ends, then lets running jobs finish within
// the grace period, releases the rest to the queue, and returns.
func (w *Worker) Run(ctx context.Context) error {
	if err := os.MkdirAll(w.opts.WorkDir, 0o700); err != nil {
		return fmt.Errorf("worker: work directory: %w", err)
	}
	cons, err := w.svc.queue.Consumer(ctx, workersConsumer)
	if err != nil {
		return fmt.Errorf("worker: queue: %w", err)
	}
	// Jobs run under their own context, which outlives ctx by the grace
	// period.
	jobsCtx, stopJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopJobs(nil)
	slots := make(chan struct{}, w.opts.Concurrency)
	var wg sync.WaitGroup
	failures := 0
fetch:
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break fetch
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				break
			}
			if !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) &&
				!errors.Is(err, context.DeadlineExceeded) {
				failures++
				w.log.Warn("worker: fetching from the queue failed", "err", err)
				sleep(ctx, min(time.Duration(failures)*200*time.Millisecond, 5*time.Second))
			}
			continue
		}
		failures = 0
		if ctx.Err() != nil {
			_ = msg.Nak() // taken while stopping: someone else's now
			<-slots
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			defer func() {
				// A bug must cost one attempt of one job, not the daemon:
				// the job goes back to the queue, and its attempts run out
				// if it keeps happening.
				if r := recover(); r != nil {
					w.log.Error("worker: panic while running a job", "job", string(msg.Data()), "panic", r,
						"stack", string(debug.Stack()))
					_ = msg.NakWithDelay(w.svc.opts.Backoff[0])
				}
			}()
			w.handle(jobsCtx, msg)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(w.opts.GracePeriod)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		stopJobs(errReleased)
		<-done
	}
	return nil
}

// handle runs one delivery of a job, and acknowledges, retries or
// releases it.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg) {
	id := string(msg.Data())
	md, err := msg.Metadata()
	if err != nil {
		_ = msg.Nak()
		return
	}
	seq := md.Sequence.Stream
	log := w.log.With("job", id)

	// Claim the job: from here on, updates of other deliveries are refused.
	var l lease
	var drop, hold, wait, canceled, exhausted bool
	// The claim is written whole or not at all, even if a shutdown starts
	// meanwhile: a claim stored but not seen would start the job without
	// its Progressing event. (A shutdown then releases the job at once.)
	claimCtx, cancelClaim := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelClaim()
	rec, rev, err := w.svc.update(claimCtx, id, func(r *record) error {
		drop, hold, wait, canceled, exhausted = false, false, false, false, false
		switch {
		case Terminal(r.Job.Status):
			drop = true
			return errStale
		case r.Job.Status == StatusSubmitted && w.svc.paused.has(r.Job.PipelineID):
			hold = true
			return errStale
		case r.Job.Status == StatusSubmitted && w.atLimit(r.Job.PipelineID):
			// The pipeline has as many jobs running as it may: ask again
			// soon. (A job already Progressing — a retry, or one whose
			// worker died — is one of those and goes on.) The queue
			// redelivers without bound; attempts count only starts.
			wait = true
			return errStale
		case r.Job.Status == StatusProgressing && r.QueueSeq != 0 && r.QueueSeq != seq:
			// Queued twice: if the message that owns the job is still in
			// the queue, its worker is alive or it will be redelivered.
			// Only a sure "not there" lets this delivery take over.
			_, err := w.svc.queue.GetMsg(ctx, r.QueueSeq)
			if err == nil {
				drop = true
				return errStale
			}
			if !errors.Is(err, jetstream.ErrMsgNotFound) {
				wait = true
				return errStale
			}
		}
		canceled = r.CancelRequested
		r.Attempt++
		l = lease{seq: seq, attempt: r.Attempt}
		r.QueueSeq, r.Worker = seq, w.opts.Name
		if r.Attempt > w.svc.opts.MaxDeliver && !canceled {
			// Every attempt so far died with its worker (a failure that
			// the worker saw ends the job or is retried below).
			exhausted = true
			detail := fmt.Sprintf("9000 no worker finished the job in %d attempts", r.Attempt-1)
			if r.LastError != "" {
				detail += "; last error: " + r.LastError
			}
			r.Job.finish(StatusError, truncate(detail, 255), time.Now())
			return nil
		}
		r.Job.Status = StatusProgressing
		if r.Job.Timing.StartTimeMillis == 0 {
			r.Job.Timing.StartTimeMillis = Millis(time.Now())
		}
		for _, o := range r.Job.Outputs {
			o.Status = StatusProgressing
		}
		for _, p := range r.Job.Playlists {
			p.Status = StatusProgressing
		}
		return nil
	})
	log = log.With("attempt", l.attempt)
	switch {
	case errors.Is(err, ErrNotFound):
		if md.NumDelivered < 5 {
			// A cluster member may answer before it has the new record.
			_ = msg.NakWithDelay(time.Second)
			return
		}
		log.Warn("queued job has no record; dropped")
		_ = msg.Term()
		return
	case wait:
		_ = msg.NakWithDelay(time.Second)
		return
	case drop:
		_ = msg.Ack()
		return
	case hold:
		// The pipeline is paused: the job leaves the queue and stays
		// Submitted; Resume queues it again.
		_ = msg.Term()
		return
	case err != nil:
		log.Warn("job not claimed; it stays queued", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	case exhausted:
		log.Warn("job failed: its workers kept dying", "detail", rec.Job.Outputs[0].StatusDetail)
		w.svc.publishState(ctx, rec.Job, rev)
		_ = msg.DoubleAck(ctx)
		return
	case canceled:
		// Its worker died after the cancellation was asked for.
		w.ackCanceled(ctx, msg, id, l, log)
		return
	}
	// Every start says Progressing, not only the first: if the previous
	// attempt's event was lost with its process, this one makes up for it
	// (notifications of a job's state are delivered once per URL anyway).
	w.svc.publishState(claimCtx, rec.Job, rev)
	log.Info("job started", "input", rec.Request.Input)

	jobCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stop(nil) // runs first: ends the helpers below
	bg.Go(func() { w.heartbeat(jobCtx, msg) })
	bg.Go(func() { w.watchRecord(jobCtx, stop, id, l) })

	job, runErr := w.run(jobCtx, rec, l, log)
	cause := context.Cause(jobCtx)
	switch {
	case errors.Is(cause, errLostLease):
		log.Warn("job taken over by another attempt; stopped")
		return // the new owner has the message
	case errors.Is(cause, errReleased):
		// A shutdown is not the job's failure: give the attempt back.
		_, _, _ = w.svc.update(context.WithoutCancel(ctx), id, owned(l, func(r *record) error {
			r.Attempt--
			r.Worker = ""
			return nil
		}))
		log.Info("job released to the queue")
		_ = msg.Nak()
		return
	case errors.Is(cause, errCancelRequested):
		w.ackCanceled(context.WithoutCancel(ctx), msg, id, l, log)
		return
	}
	fctx := context.WithoutCancel(ctx)
	if runErr == nil {
		w.finish(fctx, msg, id, l, job, nil, log)
		return
	}
	detail := truncate(StatusDetail(runErr), 255)
	if retryable(runErr) && l.attempt < w.svc.opts.MaxDeliver {
		delay := w.svc.opts.Backoff[min(l.attempt-1, len(w.svc.opts.Backoff)-1)]
		log.Warn("job failed; will retry", "err", runErr, "in", delay)
		_, _, err := w.svc.update(fctx, id, owned(l, func(r *record) error {
			r.LastError = detail
			return nil
		}))
		if err == nil {
			_ = msg.NakWithDelay(delay)
		}
		return
	}
	w.finish(fctx, msg, id, l, job, runErr, log)
}

// heartbeat tells the queue the job is alive, so that it is redelivered
// only when this worker is gone.
func (w *Worker) heartbeat(ctx context.Context, msg jetstream.Msg) {
	t := time.NewTicker(max(w.svc.opts.AckWait/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = msg.InProgress()
		}
	}
}

// watchRecord stops the job when its cancellation is asked for or
// another attempt takes it over.
func (w *Worker) watchRecord(ctx context.Context, stop context.CancelCauseFunc, id string, l lease) {
	for ctx.Err() == nil {
		// Not UpdatesOnly: the first value is the record as it is now, so
		// a cancellation that came between the claim and this watch counts.
		kw, err := w.svc.kv.Watch(ctx, id)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		for e := range kw.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var rec record
			if json.Unmarshal(e.Value(), &rec) != nil {
				continue
			}
			switch {
			case !l.owns(&rec):
				stop(errLostLease)
			case rec.CancelRequested:
				stop(errCancelRequested)
			}
		}
		_ = kw.Stop()
	}
}

// run does the work of one attempt.
func (w *Worker) run(ctx context.Context, rec *record, l lease, log *slog.Logger) (*Job, error) {
	id := rec.Job.ID
	// What a crashed attempt of this job left behind is removed first.
	dir := filepath.Join(w.opts.WorkDir, id)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if isLocal(rec.Request.Output) {
		out := strings.TrimPrefix(rec.Request.Output, "file://")
		stale, _ := filepath.Glob(filepath.Join(globEscape(out), ".transcoder-"+id+"-*"))
		for _, d := range stale {
			_ = os.RemoveAll(d)
		}
	}

	outs, err := resolveOutputs(w.opts.Presets, rec.Job.OutputKeyPrefix, rec.Request.Outputs)
	if err != nil {
		return nil, err
	}
	clip, err := rec.Job.Input.TimeSpan.Clip()
	if err != nil {
		return nil, err
	}
	var lastProgress time.Time
	var mu sync.Mutex
	req := TranscodeRequest{
		LocalRequest: LocalRequest{
			JobID: id, Outputs: outs, Clip: clip, Caps: w.opts.Caps,
			Playlists: playlistRequests(rec.Job.OutputKeyPrefix, rec.Job.Playlists),
			Overwrite: rec.Request.Overwrite || rec.Checked,
			Exec: ExecOptions{StallTimeout: w.opts.StallTimeout, OnProgress: func(p ffmpeg.Progress) {
				if now := time.Now(); now.Sub(lastProgress) >= time.Second || p.Done {
					lastProgress = now
					w.svc.publishProgress(rec.Job, Progress{Percent: p.Percent, Speed: p.Speed, ETA: p.ETA, Attempt: l.attempt})
				}
			}},
			BeforeRun: func(ctx context.Context) error {
				if rec.Checked {
					return nil
				}
				_, _, err := w.svc.update(ctx, id, owned(l, func(r *record) error {
					r.Checked = true
					return nil
				}))
				return err
			},
			OnPublished: func(files []string) {
				mu.Lock()
				defer mu.Unlock()
				// Recorded even when the job is being stopped: what was
				// published must be known to be removed.
				_, _, err := w.svc.update(context.WithoutCancel(ctx), id, owned(l, func(r *record) error {
					for _, f := range files {
						if !containsString(r.Delivered, f) {
							r.Delivered = append(r.Delivered, f)
						}
					}
					return nil
				}))
				if err != nil {
					log.Warn("could not record delivered files", "err", err)
				}
			},
		},
		InputURL: rec.Request.Input, OutputURL: rec.Request.Output, ThumbnailURL: rec.Request.Thumbnails, WorkDir: dir,
	}
	return Transcode(ctx, w.opts.Tools, w.opts.Stores, req)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lease names the delivery of a queue message that owns a job.
type lease struct {
	seq     uint64 // the message's stream sequence
	attempt int    // its delivery count
}

func (l lease) owns(r *record) bool { return r.QueueSeq == l.seq && r.Attempt == l.attempt }

// owned wraps an update so that it applies only while l owns the job.
func owned(l lease, fn func(*record) error) func(*record) error {
	return func(r *record) error {
		if !l.owns(r) || Terminal(r.Job.Status) {
			return errLostLease
		}
		return fn(r)
	}
}

// finish records the end of an attempt that is not retried.
func (w *Worker) finish(ctx context.Context, msg jetstream.Msg, id string, l lease, result *Job, runErr error, log *slog.Logger) {
	// The result is worth waiting for: while the engine fails over (the
	// heartbeat goes on meanwhile), keep trying rather than run the job
	// again.
	var rec *record
	var rev uint64
	var err error
	for wait, deadline := 200*time.Millisecond, time.Now().Add(30*time.Second); ; wait = min(2*wait, 5*time.Second) {
		rec, rev, err = w.record(ctx, id, l, result, runErr)
		if err == nil || errors.Is(err, errLostLease) || time.Now().After(deadline) {
			break
		}
		log.Warn("job result not recorded yet; retrying", "err", err)
		sleep(ctx, wait)
	}
	if err != nil {
		log.Warn("job result not recorded", "err", err)
		if !errors.Is(err, errLostLease) {
			_ = msg.NakWithDelay(time.Second)
		}
		return
	}
	w.svc.publishState(ctx, rec.Job, rev)
	if runErr != nil {
		log.Warn("job failed", "err", runErr)
	} else {
		log.Info("job finished", "status", rec.Job.Status)
	}
	// The record is final before the job leaves the queue (Reconcile
	// relies on that order).
	_ = msg.DoubleAck(ctx)
}

// record writes an attempt's result into the job's record.
func (w *Worker) record(ctx context.Context, id string, l lease, result *Job, runErr error) (*record, uint64, error) {
	return w.svc.update(ctx, id, owned(l, func(r *record) error {
		merge(r.Job, result)
		if runErr != nil {
			r.Job.finish(StatusError, truncate(StatusDetail(runErr), 255), time.Now())
			return nil
		}
		r.Job.Status = RollUp(r.Job.Outputs)
		for _, p := range r.Job.Playlists {
			if !Terminal(p.Status) {
				p.Status = r.Job.Status
			}
		}
		r.Job.Timing.FinishTimeMillis = Millis(time.Now())
		return nil
	}))
}

// merge copies what a transcode found into the stored job, whose IDs,
// keys and request fields stay as they were created.
func merge(dst, src *Job) {
	if src == nil {
		return
	}
	if src.Input != nil {
		dst.Input.DetectedProperties = src.Input.DetectedProperties
	}
	byKey := map[string]*JobOutput{}
	for _, o := range src.Outputs {
		byKey[o.Key] = o
	}
	// Ladder rungs larger than the input were left out of the transcode;
	// they leave the job too, as they do on the command line.
	dst.Outputs = slices.DeleteFunc(dst.Outputs, func(o *JobOutput) bool {
		return len(src.Outputs) > 0 && byKey[dst.OutputKeyPrefix+o.Key] == nil
	})
	lists := map[string]*Playlist{}
	for _, p := range src.Playlists {
		lists[p.Name] = p
	}
	for _, p := range dst.Playlists {
		if s := lists[dst.OutputKeyPrefix+p.Name]; s != nil {
			p.Status, p.StatusDetail = s.Status, s.StatusDetail
		}
	}
	for _, o := range dst.Outputs {
		s := byKey[dst.OutputKeyPrefix+o.Key]
		if s == nil {
			continue
		}
		o.Status, o.StatusDetail = s.Status, s.StatusDetail
		o.Duration, o.Width, o.Height, o.FrameRate = s.Duration, s.Width, s.Height, s.FrameRate
		o.FileSize, o.DurationMillis, o.Warnings = s.FileSize, s.DurationMillis, s.Warnings
	}
}

// finishCanceled removes what a canceled job had delivered and marks it
// Canceled.
func (w *Worker) finishCanceled(ctx context.Context, id string, l lease, log *slog.Logger) error {
	rec, _, err := w.svc.load(ctx, id)
	if err != nil {
		return err
	}
	if len(rec.Delivered) > 0 {
		// Thumbnails may have gone to a location of their own; removing
		// what is not there is no error.
		for _, loc := range []string{rec.Request.Output, rec.Request.Thumbnails} {
			if loc == "" {
				continue
			}
			if err := w.remove(ctx, loc, rec.Delivered); err != nil {
				log.Warn("canceled job: outputs not all removed", "location", loc, "err", err)
			}
		}
	}
	rec, rev, err := w.svc.update(ctx, id, owned(l, func(r *record) error {
		r.Job.finish(StatusCanceled, "", time.Now())
		for _, o := range r.Job.Outputs {
			o.Status = StatusCanceled
		}
		r.Delivered = nil
		return nil
	}))
	if err != nil {
		return err
	}
	log.Info("job canceled")
	w.svc.publishState(ctx, rec.Job, rev)
	return nil
}

// ackCanceled finishes a canceled job and takes it off the queue; if the
// record cannot be written, the job stays queued to be finished later.
func (w *Worker) ackCanceled(ctx context.Context, msg jetstream.Msg, id string, l lease, log *slog.Logger) {
	if err := w.finishCanceled(ctx, id, l, log); err != nil && !errors.Is(err, errLostLease) {
		log.Warn("canceled job not recorded; it stays queued", "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	_ = msg.Ack()
}

// atLimit reports whether a pipeline runs as many jobs as it may.
func (w *Worker) atLimit(pipelineID string) bool {
	if w.opts.Limit == nil || pipelineID == "" {
		return false
	}
	n := w.opts.Limit(pipelineID)
	return n > 0 && w.svc.index.running(pipelineID) >= n
}

// remove deletes delivered files from the output location.
func (w *Worker) remove(ctx context.Context, output string, files []string) error {
	var errs []error
	if isLocal(output) {
		dir := strings.TrimPrefix(output, "file://")
		for _, f := range files {
			if err := os.Remove(filepath.Join(dir, filepath.FromSlash(f))); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	b, err := w.opts.Stores.OpenURL(output)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := b.Delete(ctx, f); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retryable reports whether another attempt might succeed: a hung ffmpeg,
// storage that is unavailable, or an internal error. Bad input, a missing
// input and an existing output stay as they are, so those jobs fail at
// once.
func retryable(err error) bool {
	if errors.Is(err, ffmpeg.ErrStalled) {
		return true
	}
	code, _, _ := strings.Cut(StatusDetail(err), " ")
	return code == "9000" || code == "3000"
}
