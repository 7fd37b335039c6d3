package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
)

// Names of what the engine keeps in JetStream. The schema version is
// written into each one's metadata, so that an older transcoder refuses
// data a newer one wrote instead of misreading it.
const (
	SchemaVersion   = 1
	jobsBucket      = "transcoder_jobs"
	pausedBucket    = "transcoder_paused"
	queueStream     = "TRANSCODER_QUEUE"
	eventsStream    = "TRANSCODER_EVENTS"
	queuePrefix     = "transcoder.queue."
	eventsPrefix    = "transcoder.events."
	workersConsumer = "workers"
	schemaKey       = "transcoder_schema"
)

// Errors of the Go API; the HTTP API maps them to Elastic Transcoder's
// exceptions.
var (
	// ErrNotFound: no job has that ID (ResourceNotFoundException).
	ErrNotFound = errors.New("job not found")
	// ErrExists: a job with the requested ID exists already.
	ErrExists = errors.New("job exists")
	// ErrNotCancelable: the job has already finished (ResourceInUseException).
	ErrNotCancelable = errors.New("job cannot be canceled")
	// ErrNewerSchema: the engine's data was written by a newer transcoder.
	ErrNewerSchema = errors.New("engine data was written by a newer transcoder")
)

// ServiceOptions tune the engine's streams and queue.
type ServiceOptions struct {
	// Replicas of each stream and bucket (a cluster's choice); 0 keeps
	// what they have (1 for new ones).
	Replicas int
	// AckWait is how long a job may go without a worker's heartbeat before
	// it goes back to the queue: how soon a dead worker's job is retried.
	// Default 10s.
	AckWait time.Duration
	// MaxDeliver bounds how many times a job is started, counting starts
	// whose worker died; default 5. (The queue itself redelivers without
	// bound, so that a job held back by a paused pipeline or a
	// concurrency limit uses up none of its attempts.)
	MaxDeliver int
	// Backoff is the delay before retry n (the last one repeats);
	// default 1s, 5s, 15s, 30s.
	Backoff []time.Duration
	// EventRetention is how long job events are kept; default 72h.
	EventRetention time.Duration
	// Presets resolves preset IDs when a job is created; nil skips the
	// check (the workers still resolve them).
	Presets PresetLookup
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Service is the job engine's Go API: create, get, list, cancel and watch
// jobs, and run workers. Its state lives in JetStream, so any number of
// Services on any number of machines can share it.
type Service struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	queue  jetstream.Stream
	events jetstream.Stream
	opts   ServiceOptions
	log    *slog.Logger
	index  *index

	stop   context.CancelFunc
	done   chan struct{}
	paused *pausedSet
	closed sync.Once
}

// record is a job as stored: the job in Elastic Transcoder's shape, the
// request it came from, and the bookkeeping of its attempts.
type record struct {
	Schema  int           `json:"schema"`
	Job     *Job          `json:"job"`
	Request storedRequest `json:"request"`
	// QueueSeq and Attempt name the queue message and its delivery that
	// own the job now, and Worker the worker running it; an update from
	// any other is refused.
	QueueSeq uint64 `json:"queueSeq,omitempty"`
	Attempt  int    `json:"attempt,omitempty"`
	Worker   string `json:"worker,omitempty"`
	// Checked records that the outputs were free when the first attempt
	// looked, so a retry overwrites what that attempt wrote.
	Checked bool `json:"checked,omitempty"`
	// CancelRequested asks the worker of a Progressing job to stop.
	CancelRequested bool `json:"cancelRequested,omitempty"`
	// Delivered lists the files published so far, relative to Output, so
	// that a canceled job can remove them.
	Delivered []string `json:"delivered,omitempty"`
	// LastError is why the last attempt failed, when it is to be retried.
	LastError string `json:"lastError,omitempty"`
}

// storedRequest is what a worker needs of the CreateRequest.
type storedRequest struct {
	Input      string       `json:"input"`
	Output     string       `json:"output"`
	Thumbnails string       `json:"thumbnails,omitempty"`
	Outputs    []OutputSpec `json:"outputs"`
	Overwrite  bool         `json:"overwrite,omitempty"`
}

// Open creates the engine's streams and bucket when they are missing (or
// updates them to this version's settings), replays the job index, and
// starts keeping it current.
func Open(ctx context.Context, js jetstream.JetStream, opts ServiceOptions) (*Service, error) {
	if opts.AckWait <= 0 {
		opts.AckWait = 10 * time.Second
	}
	if opts.MaxDeliver <= 0 {
		opts.MaxDeliver = 5
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second}
	}
	if opts.EventRetention <= 0 {
		opts.EventRetention = 72 * time.Hour
	}
	s := &Service{js: js, opts: opts, log: opts.Logger, index: newIndex(), done: make(chan struct{}), paused: &pausedSet{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.provision(ctx); err != nil {
		return nil, err
	}
	watchCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	ready := make(chan error, 1)
	go s.keepIndex(watchCtx, ready)
	select {
	case err := <-ready:
		if err != nil {
			stop()
			return nil, err
		}
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
	if err := s.paused.start(watchCtx, s.js, s.opts.Replicas); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the index; it does not close the connection.
func (s *Service) Close() {
	s.closed.Do(func() {
		if s.stop != nil {
			s.stop()
			<-s.done
		}
	})
}

func schemaMeta() map[string]string {
	return map[string]string{schemaKey: strconv.Itoa(SchemaVersion)}
}

// checkSchema refuses storage that a newer transcoder wrote.
func checkSchema(what string, meta map[string]string) error {
	if v, err := strconv.Atoi(meta[schemaKey]); err == nil && v > SchemaVersion {
		return fmt.Errorf("engine: %s has schema %d, this transcoder knows %d: %w", what, v, SchemaVersion, ErrNewerSchema)
	}
	return nil
}

func (s *Service) provision(ctx context.Context) error {
	streams := []jetstream.StreamConfig{{
		Name:        queueStream,
		Description: "transcoder: jobs waiting for a worker",
		Subjects:    []string{queuePrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		Metadata:    schemaMeta(),
	}, {
		Name:        eventsStream,
		Description: "transcoder: job state changes and progress",
		Subjects:    []string{eventsPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		MaxAge:      s.opts.EventRetention,
		Duplicates:  2 * time.Minute,
		Metadata:    schemaMeta(),
	}}
	for _, cfg := range streams {
		if st, err := s.js.Stream(ctx, cfg.Name); err == nil {
			if err := checkSchema("stream "+cfg.Name, st.CachedInfo().Config.Metadata); err != nil {
				return err
			}
		}
		cfg.Replicas = engine.ReplicasFor(ctx, s.js, cfg.Name, s.opts.Replicas)
		var st jetstream.Stream
		err := engine.Provision(ctx, func() (err error) {
			st, err = s.js.CreateOrUpdateStream(ctx, cfg)
			return err
		})
		if err != nil {
			return fmt.Errorf("engine: stream %s: %w", cfg.Name, err)
		}
		if cfg.Name == queueStream {
			s.queue = st
		} else {
			s.events = st
		}
	}
	if kv, err := s.js.KeyValue(ctx, jobsBucket); err == nil {
		if st, err := kv.Status(ctx); err == nil {
			if info, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				if err := checkSchema("bucket "+jobsBucket, info.StreamInfo().Config.Metadata); err != nil {
					return err
				}
			}
		}
	}
	var kv jetstream.KeyValue
	err := engine.Provision(ctx, func() (err error) {
		kv, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      jobsBucket,
			Description: "transcoder: jobs",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    engine.ReplicasFor(ctx, s.js, "KV_"+jobsBucket, s.opts.Replicas),
			Metadata:    schemaMeta(),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("engine: bucket %s: %w", jobsBucket, err)
	}
	s.kv = kv
	err = engine.Provision(ctx, func() error {
		_, err := s.queue.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       workersConsumer,
			Description:   "transcoder workers",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       s.opts.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: 10000,
			Metadata:      schemaMeta(),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("engine: consumer %s: %w", workersConsumer, err)
	}
	return nil
}

// Create validates a request, stores the job as Submitted and queues it.
func (s *Service) Create(ctx context.Context, req CreateRequest) (*Job, error) {
	if err := req.validate(s.opts.Presets); err != nil {
		return nil, err
	}
	job, rev, err := s.store(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	// The job is stored: what follows must happen even if the caller goes
	// away now, or the job would wait for Reconcile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// Submitted is published before the job is queued, so that no worker's
	// Progressing can come first.
	s.publishState(ctx, job, rev)
	if s.paused.has(job.PipelineID) {
		return job.clone(), nil // Resume queues it
	}
	if err := s.enqueue(ctx, job, job.ID); err != nil {
		// The job is stored; Reconcile queues it later.
		return nil, fmt.Errorf("create job %s: queue: %w", job.ID, err)
	}
	return job.clone(), nil
}

// CreateFailed stores a job whose request was refused as Error, with the
// reason in each output's StatusDetail, and queues nothing. A watcher has
// no caller to tell that an object cannot be transcoded (a name that
// makes an invalid key, say): a failed job is seen in listings and
// notifications, where a log line would be missed.
func (s *Service) CreateFailed(ctx context.Context, req CreateRequest, cause error) (*Job, error) {
	job, rev, err := s.store(ctx, req, cause)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.publishState(ctx, job, rev)
	return job.clone(), nil
}

// store writes a new job's record: Submitted, or Error with cause.
func (s *Service) store(ctx context.Context, req CreateRequest, cause error) (*Job, uint64, error) {
	now := time.Now()
	id := req.ID
	if id == "" {
		id = NewID(now)
	}
	job := &Job{
		ID: id, PipelineID: req.PipelineID, Status: StatusSubmitted,
		Input:           &JobInput{Key: req.InputKey, TimeSpan: req.TimeSpan},
		OutputKeyPrefix: req.OutputKeyPrefix, Playlists: req.Playlists,
		UserMetadata: req.UserMetadata, Timing: &Timing{SubmitTimeMillis: Millis(now)},
	}
	if job.Input.Key == "" {
		job.Input.Key = req.Input
	}
	for i, o := range req.Outputs {
		job.Outputs = append(job.Outputs, &JobOutput{
			ID: strconv.Itoa(i + 1), Key: o.Key, PresetID: o.PresetID, ThumbnailPattern: o.ThumbnailPattern,
			Rotate: o.Rotate, SegmentDuration: o.SegmentDuration, Status: StatusSubmitted,
		})
	}
	for _, p := range job.Playlists {
		p.Status = StatusSubmitted
	}
	if cause != nil {
		job.finish(StatusError, truncate(StatusDetail(cause), 255), now)
	}
	rec := &record{Schema: SchemaVersion, Job: job, Request: storedRequest{
		Input: req.Input, Output: req.Output, Thumbnails: req.Thumbnails, Outputs: req.Outputs, Overwrite: req.Overwrite,
	}}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, 0, err
	}
	rev, err := s.kv.Create(ctx, job.ID, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, 0, fmt.Errorf("%w: %s", ErrExists, job.ID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("create job: %w", err)
	}
	s.index.apply(job.ID, rev, rec)
	return job, rev, nil
}

// queueSubject is a job's subject in the queue: one per job, so that
// whether a job is still queued can be asked of the stream.
func queueSubject(j *Job) string {
	return queuePrefix + pipelineToken(j.PipelineID) + "." + j.ID
}

func (s *Service) enqueue(ctx context.Context, j *Job, msgID string) error {
	_, err := s.js.Publish(ctx, queueSubject(j), []byte(j.ID), jetstream.WithMsgID(msgID))
	return err
}

// Get returns a job as stored now.
func (s *Service) Get(ctx context.Context, id string) (*Job, error) {
	rec, _, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return rec.Job, nil
}

func (s *Service) load(ctx context.Context, id string) (*record, uint64, error) {
	if err := CheckID("id", id); err != nil {
		return nil, 0, err
	}
	e, err := s.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read job %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return nil, 0, fmt.Errorf("read job %s: %w", id, err)
	}
	if rec.Schema > SchemaVersion {
		return nil, 0, fmt.Errorf("read job %s: %w", id, ErrNewerSchema)
	}
	return &rec, e.Revision(), nil
}

// errStale is returned by an update function to give up without writing.
var errStale = errors.New("stale")

// update applies fn to the stored record and writes it back if no one
// else wrote meanwhile, retrying on conflict. fn may return errStale (or
// any error) to write nothing. It returns the record as written.
func (s *Service) update(ctx context.Context, id string, fn func(*record) error) (*record, uint64, error) {
	for range 50 {
		rec, rev, err := s.load(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if err := fn(rec); err != nil {
			return rec, rev, err
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return nil, 0, err
		}
		newRev, err := s.kv.Update(ctx, id, data, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("update job %s: %w", id, err)
		}
		s.index.apply(id, newRev, rec)
		return rec, newRev, nil
	}
	return nil, 0, fmt.Errorf("update job %s: too many concurrent updates", id)
}

// Cancel cancels a job. A Submitted job is Canceled at once. A
// Progressing one (which Elastic Transcoder could not cancel) is asked to
// stop: its worker stops ffmpeg, removes what the job had written and
// marks it Canceled; Watch tells when. A finished job is ErrNotCancelable.
func (s *Service) Cancel(ctx context.Context, id string) (*Job, error) {
	rec, rev, err := s.update(ctx, id, func(r *record) error {
		switch r.Job.Status {
		case StatusSubmitted:
			r.Job.finish(StatusCanceled, "", time.Now())
		case StatusProgressing:
			if r.CancelRequested {
				return errStale
			}
			r.CancelRequested = true
		default:
			return fmt.Errorf("%w: job %s is %s", ErrNotCancelable, id, r.Job.Status)
		}
		return nil
	})
	if errors.Is(err, errStale) {
		return rec.Job, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.Job.Status == StatusCanceled {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		s.publishState(ctx, rec.Job, rev)
		// Take it out of the queue; a worker that gets it anyway sees it
		// is Canceled and drops it.
		if m, err := s.queue.GetLastMsgForSubject(ctx, queueSubject(rec.Job)); err == nil {
			_ = s.queue.DeleteMsg(ctx, m.Sequence)
		}
	}
	return rec.Job, nil
}

// finish ends a job and its unfinished outputs and playlists with status.
func (j *Job) finish(status, detail string, now time.Time) {
	j.Status = status
	for _, o := range j.Outputs {
		if !Terminal(o.Status) {
			o.Status, o.StatusDetail = status, detail
		}
	}
	for _, p := range j.Playlists {
		if !Terminal(p.Status) {
			p.Status, p.StatusDetail = status, detail
		}
	}
	if j.Timing == nil {
		j.Timing = &Timing{}
	}
	j.Timing.FinishTimeMillis = Millis(now)
}

// clone returns a deep copy, so that callers can keep what they get.
func (j *Job) clone() *Job {
	data, err := json.Marshal(j)
	if err != nil {
		panic(err) // a Job always marshals
	}
	var c Job
	_ = json.Unmarshal(data, &c)
	return &c
}

// ListRequest selects jobs for List.
type ListRequest struct {
	PipelineID string // only this pipeline's jobs
	Status     string // only jobs in this status
	// Ascending lists oldest first; the default is newest first, as
	// Elastic Transcoder did.
	Ascending bool
	// PageToken continues a listing: the previous page's NextPageToken.
	PageToken string
	// Limit is the page size; default 50, Elastic Transcoder's.
	Limit int
}

// ListPage is one page of jobs.
type ListPage struct {
	Jobs []*Job
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// List returns jobs from the in-memory index: listings never scan
// storage.
func (s *Service) List(ctx context.Context, req ListRequest) (*ListPage, error) {
	if req.Status != "" {
		switch req.Status {
		case StatusSubmitted, StatusProgressing, StatusComplete, StatusCanceled, StatusError:
		default:
			return nil, invalid("status: %q; allowed: Submitted, Progressing, Complete, Canceled, Error", req.Status)
		}
	}
	if req.PageToken != "" {
		if err := CheckID("pageToken", req.PageToken); err != nil {
			return nil, err
		}
	}
	if req.Limit <= 0 {
		req.Limit = 50
	}
	jobs, next := s.index.list(req)
	return &ListPage{Jobs: jobs, NextPageToken: next}, ctx.Err()
}

// keepIndex replays the bucket into the index, reports on ready when that
// is done, and then applies updates until ctx ends.
func (s *Service) keepIndex(ctx context.Context, ready chan<- error) {
	defer close(s.done)
	engine.Follow(ctx, s.kv, s.log, ready, func(key string, rev uint64, value []byte) {
		var rec record
		if err := json.Unmarshal(value, &rec); err != nil || rec.Job == nil {
			s.log.Warn("job index: unreadable record", "key", key, "err", err)
			return
		}
		s.index.apply(key, rev, &rec)
	}, func(key string, _ uint64) { s.index.remove(key) })
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Reconcile queues again every Submitted job older than minAge that is no
// longer in the queue (its creator died between storing and queueing it),
// and fails every Progressing job that has left the queue without
// finishing. Every Service may run it; the queue's duplicate window and
// revision checks make that safe.
func (s *Service) Reconcile(ctx context.Context, minAge time.Duration) error {
	cutoff := Millis(time.Now().Add(-minAge))
	for _, j := range s.index.unfinished() {
		if j.Timing == nil || j.Timing.SubmitTimeMillis > cutoff {
			continue
		}
		_, err := s.queue.GetLastMsgForSubject(ctx, queueSubject(j))
		if err == nil {
			continue
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("reconcile: %w", err)
		}
		// Read the record after the queue: a worker finishes a job's record
		// before it takes the job off the queue.
		rec, _, err := s.load(ctx, j.ID)
		if err != nil {
			continue
		}
		switch rec.Job.Status {
		case StatusSubmitted:
			if s.paused.has(rec.Job.PipelineID) {
				continue
			}
			s.log.Info("reconcile: queueing job again", "job", j.ID)
			// A new message ID: the first one may still be in the duplicate
			// window. Two reconcilers within a minute queue it once; should a
			// job be queued twice anyway, the second delivery finds the
			// first one alive and drops itself.
			msgID := fmt.Sprintf("%s.reconcile.%d", j.ID, time.Now().Unix()/60)
			if err := s.enqueue(ctx, rec.Job, msgID); err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
		case StatusProgressing:
			s.failLost(ctx, j.ID, "9000 the job left the queue without finishing")
		}
	}
	return nil
}

// failLost ends a Progressing job whose worker is gone for good.
func (s *Service) failLost(ctx context.Context, id, detail string) {
	rec, rev, err := s.update(ctx, id, func(r *record) error {
		if Terminal(r.Job.Status) {
			return errStale
		}
		d := detail
		if r.LastError != "" {
			d += "; last error: " + r.LastError
		}
		r.Job.finish(StatusError, truncate(d, 255), time.Now())
		return nil
	})
	if err == nil {
		s.log.Warn("job failed: no worker finished it", "job", id, "detail", detail)
		s.publishState(ctx, rec.Job, rev)
	}
}

// pipelineToken is a pipeline ID as a subject token.
func pipelineToken(id string) string {
	if id == "" {
		return "_"
	}
	return strings.ReplaceAll(id, ".", "_")
}

// Counts returns how many jobs the index holds in each status (for
// metrics).
func (s *Service) Counts() map[string]int { return s.index.counts() }

// QueueDepth returns how many jobs wait in the queue or run (a job leaves
// the queue when it ends).
func (s *Service) QueueDepth(ctx context.Context) (uint64, error) {
	info, err := s.queue.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	return info.State.Msgs, nil
}

// JetStream returns the JetStream the service uses, for components that
// keep their own state beside the jobs (pipelines and presets created
// through the API, metrics).
func (s *Service) JetStream() jetstream.JetStream { return s.js }

// Replicas returns the replica count of the service's streams.
func (s *Service) Replicas() int { return s.opts.Replicas }
