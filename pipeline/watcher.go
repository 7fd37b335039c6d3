package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/watch"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// objectsBucket remembers which job each object version got.
const objectsBucket = "transcoder_objects"

// Seen records, in the engine, the job each (pipeline, key, ETag) got, so
// that every object version gets exactly one job across restarts and
// across watchers on several machines.
type Seen struct {
	kv jetstream.KeyValue
}

// OpenSeen creates (or opens) the bucket of seen objects.
func OpenSeen(ctx context.Context, js jetstream.JetStream, replicas int) (*Seen, error) {
	var kv jetstream.KeyValue
	err := engine.Provision(ctx, func() (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: objectsBucket, Description: "transcoder: the job of each input object version",
			History: 1, Storage: jetstream.FileStorage, Replicas: engine.ReplicasFor(ctx, js, "KV_"+objectsBucket, replicas),
			Metadata: map[string]string{"transcoder_schema": "1"},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: bucket %s: %w", objectsBucket, err)
	}
	return &Seen{kv: kv}, nil
}

// seenKey hashes an object version into a bucket key: keys may hold any
// character, bucket keys only a few.
func seenKey(pipelineID, key, etag string) string {
	h := sha256.Sum256([]byte(pipelineID + "\x00" + key + "\x00" + etag))
	return hex.EncodeToString(h[:20])
}

// claim returns the job ID for an object version: a new one if this call
// is the first to see it (created reports that), else the one recorded.
func (s *Seen) claim(ctx context.Context, k string) (id string, created bool, err error) {
	id = jobs.NewID(time.Now())
	_, err = s.kv.Create(ctx, k, []byte(id))
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", false, err
	}
	e, err := s.kv.Get(ctx, k)
	if err != nil {
		return "", false, err
	}
	return string(e.Value()), false, nil
}

// configStatus returns the status last applied from the config file for
// a pipeline ("" if none was).
func (s *Seen) configStatus(ctx context.Context, pipelineID string) (string, error) {
	e, err := s.kv.Get(ctx, "status."+pipelineID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pipeline %s: status: %w", pipelineID, err)
	}
	return string(e.Value()), nil
}

func (s *Seen) setConfigStatus(ctx context.Context, pipelineID, status string) error {
	if _, err := s.kv.PutString(ctx, "status."+pipelineID, status); err != nil {
		return fmt.Errorf("pipeline %s: status: %w", pipelineID, err)
	}
	return nil
}

// Watcher turns the objects that appear in one pipeline's input into
// jobs.
type Watcher struct {
	p        *Pipeline
	jobs     *jobs.Service
	seen     *Seen
	registry *presets.Registry
	input    storage.Bucket
	log      *slog.Logger
	// created counts jobs this watcher created (for tests and metrics).
	created func(job *jobs.Job)
}

// NewWatcher returns the watcher of a pipeline.
func NewWatcher(p *Pipeline, svc *jobs.Service, seen *Seen, reg *presets.Registry, stores *storage.Stores, log *slog.Logger) (*Watcher, error) {
	if dir, ok := strings.CutPrefix(p.Input, "file://"); ok {
		// A new user's inbox need not exist yet.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("pipeline %s: input: %w", p.Name, err)
		}
	}
	in, err := stores.OpenURL(p.Input)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: input: %w", p.Name, err)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{p: p, jobs: svc, seen: seen, registry: reg, input: in,
		log: log.With("pipeline", p.Name)}, nil
}

// match reports whether a key (relative to the input) is one of the
// pipeline's.
func (w *Watcher) match(key string) bool {
	if len(w.p.Match) == 0 {
		return true
	}
	for _, m := range w.p.Match {
		if ok, _ := path.Match(m, key); ok {
			return true
		}
		if ok, _ := path.Match(m, path.Base(key)); ok && !strings.Contains(m, "/") {
			return true
		}
	}
	return false
}

// source makes the pipeline's event source.
func (w *Watcher) source() (watch.Source, error) {
	switch w.p.Events.Source {
	case "listen":
		return watch.NewListener(w.input, watch.ListenOptions{Match: w.match,
			KeyEncoding: watch.KeyEncoding(w.p.Events.KeyEncoding)})
	case "webhook":
		loc, err := storage.ParseURL(w.p.Input)
		if err != nil {
			return nil, err
		}
		return watch.NewWebhook(watch.WebhookOptions{Token: w.p.Events.WebhookToken, Bucket: loc.Bucket,
			Prefix: loc.Prefix, Match: w.match, KeyEncoding: watch.KeyEncoding(w.p.Events.KeyEncoding)})
	default:
		return watch.NewPoller(w.input, watch.PollOptions{Interval: w.p.Events.PollInterval,
			Settle: w.p.Events.Settle, Match: w.match}), nil
	}
}

// Run watches until ctx ends: the pipeline's event source, plus a full
// listing at start and every reconcile interval, because every source
// can lose events. src may be nil (the pipeline's own source is made).
func (w *Watcher) Run(ctx context.Context, src watch.Source) error {
	if src == nil {
		var err error
		if src, err = w.source(); err != nil {
			return fmt.Errorf("pipeline %s: %w", w.p.Name, err)
		}
	}
	found := func(o watch.Object) { w.found(ctx, o) }
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, found) }()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return <-errc
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("pipeline %s: %w", w.p.Name, err)
			}
			return nil
		case <-t.C:
			w.reconcile(ctx)
			t.Reset(w.p.Events.ReconcileInterval)
		}
	}
}

// reconcile lists the whole input.
func (w *Watcher) reconcile(ctx context.Context) {
	n := 0
	for o, err := range watch.List(ctx, w.input, w.match, w.p.Events.Settle) {
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("reconcile listing failed", "input", w.input.String(), "err", err)
			}
			return
		}
		w.found(ctx, o)
		n++
	}
	w.log.Debug("reconciled", "objects", n)
}

// found makes sure an object version has its job, creating it once.
func (w *Watcher) found(ctx context.Context, o watch.Object) {
	if !w.match(o.Key) || watch.Ignored(o.Key) {
		return
	}
	log := w.log.With("key", o.Key)
	id, created, err := w.seen.claim(ctx, seenKey(w.p.ID, o.Key, o.ETag))
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("object not recorded; the next listing tries again", "err", err)
		}
		return
	}
	if !created {
		// Seen before. Its job normally exists; if the watcher that claimed
		// it died before creating it, create it now under the same ID.
		if _, err := w.jobs.Get(ctx, id); !errors.Is(err, jobs.ErrNotFound) {
			return
		}
	}
	req, err := w.request(o, id)
	if err != nil {
		log.Error("no job for object", "err", err)
		return
	}
	job, err := w.jobs.Create(ctx, req)
	if errors.Is(err, jobs.ErrBadRequest) {
		// This object cannot be transcoded as the pipeline says (its name
		// makes a key that is not allowed, say): a job in Error says so
		// where users look, and notifications tell them.
		log.Error("object refused", "err", err)
		job, err = w.jobs.CreateFailed(ctx, req, err)
	}
	switch {
	case errors.Is(err, jobs.ErrExists):
		return
	case err != nil:
		log.Error("job not created", "err", err)
		return
	}
	log.Info("job created", "job", job.ID, "etag", o.ETag, "size", o.Size)
	if w.created != nil {
		w.created(job)
	}
}

// request builds the job for an object from the pipeline's templates.
func (w *Watcher) request(o watch.Object, id string) (jobs.CreateRequest, error) {
	p := w.p
	req := jobs.CreateRequest{
		ID: id, PipelineID: p.ID, Input: strings.TrimSuffix(p.Input, "/") + "/" + o.Key, InputKey: o.Key,
		Output: p.Output, Thumbnails: p.Thumbnails, Overwrite: p.Overwrite,
	}
	if strings.HasSuffix(p.Input, "://") || strings.HasSuffix(p.Input, "/") {
		req.Input = p.Input + o.Key
	}
	base := jobs.KeyData{JobID: id}
	if p.OutputKeyPrefix != "" {
		d := keyData(o.Key, nil, false, id, 0)
		prefix, err := renderKey(p.OutputKeyPrefix, d)
		if err != nil {
			return req, err
		}
		req.OutputKeyPrefix = prefix
	}
	_ = base
	byTemplate := map[string][]string{}
	for _, out := range p.Outputs {
		pr, err := w.registry.Lookup(out.Preset)
		if err != nil {
			return req, err
		}
		rungs, err := w.registry.Rungs(pr)
		if err != nil {
			return req, err
		}
		for _, r := range rungs {
			segmented := out.SegmentDuration != "" && (r.Container == "ts" || r.Container == "fmp4")
			d := keyData(o.Key, r, segmented, id, len(req.Outputs)+1)
			key, err := renderKey(out.Key, d)
			if err != nil {
				return req, err
			}
			spec := jobs.OutputSpec{Key: key, PresetID: r.ID, Rotate: out.Rotate, Rung: pr.IsLadder()}
			if segmented {
				spec.SegmentDuration = out.SegmentDuration
			}
			if out.ThumbnailPattern != "" {
				if spec.ThumbnailPattern, err = renderKey(out.ThumbnailPattern, d); err != nil {
					return req, err
				}
			}
			req.Outputs = append(req.Outputs, spec)
			byTemplate[out.Key] = append(byTemplate[out.Key], key)
		}
	}
	for _, pl := range p.Playlists {
		name, err := renderKey(pl.Name, keyData(o.Key, nil, false, id, 0))
		if err != nil {
			return req, err
		}
		list := &jobs.Playlist{Name: name, Format: pl.Format}
		for _, t := range pl.Outputs {
			list.OutputKeys = append(list.OutputKeys, byTemplate[t]...)
		}
		req.Playlists = append(req.Playlists, list)
	}
	return req, nil
}

// keyData is what templates see for an input key and (when not nil) a
// preset.
func keyData(inputKey string, p *presets.Preset, segmented bool, jobID string, index int) jobs.KeyData {
	var d jobs.KeyData
	if p != nil {
		d = jobs.NewKeyData(inputKey, p, segmented)
	} else {
		d = jobs.NewKeyData(inputKey, &presets.Preset{}, true)
	}
	d.JobID, d.Index = jobID, index
	return d
}
