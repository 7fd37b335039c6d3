// Package catalog holds the pipelines and presets that clients create
// through the Elastic Transcoder-compatible API, beside the read-only ones
// of the configuration file and the system presets.
//
// API-made pipelines and presets live in JetStream KV buckets
// (transcoder_pipelines, transcoder_presets), so every process sharing an
// engine sees them; each process mirrors both buckets in memory from a
// watch (a replay at start, then live updates), so reads never touch
// storage. Configuration pipelines and the preset registry (system and
// YAML presets) are held in memory only and cannot be changed through the
// catalog.
package catalog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// Names of what the catalog keeps in JetStream.
const (
	PipelinesBucket = "transcoder_pipelines"
	PresetsBucket   = "transcoder_presets"
	// SchemaVersion is written into each bucket's metadata and record, so
	// that an older transcoder refuses data a newer one wrote.
	SchemaVersion = 1
	schemaKey     = "transcoder_schema"
)

// Errors of the catalog; the API maps them to Elastic Transcoder's
// exceptions.
var (
	// ErrNotFound: no pipeline or preset has that ID.
	ErrNotFound = errors.New("not found")
	// ErrReadOnly: the pipeline or preset comes from the configuration
	// file or is a system preset, and cannot be changed through the API.
	ErrReadOnly = errors.New("read-only")
	// ErrNewerSchema: the buckets were written by a newer transcoder.
	ErrNewerSchema = errors.New("catalog data was written by a newer transcoder")
)

// Options configure a Catalog.
type Options struct {
	// Replicas of each bucket (a cluster's choice); 0 keeps what they have
	// (1 for new ones).
	Replicas int
	// Presets holds the system presets and those of the configuration's
	// preset files; they are read-only through the catalog. Nil means
	// the system presets only.
	Presets *presets.Registry
	// Config are the pipelines of the configuration file (see
	// ConfigPipeline); they are read-only and never stored.
	Config []*Pipeline
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Catalog is the set of pipelines and presets the API serves. It is safe
// for concurrent use.
type Catalog struct {
	pipelinesKV jetstream.KeyValue
	presetsKV   jetstream.KeyValue
	registry    *presets.Registry
	config      map[string]*Pipeline
	log         *slog.Logger

	pipelines *mirror[Pipeline]
	presets   *mirror[presets.Preset]

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// record is what a bucket holds under each key.
type record[T any] struct {
	Schema int `json:"schema"`
	Value  *T  `json:"value"`
}

// Open creates the buckets when they are missing, replays them into
// memory and keeps the copy current until Close.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Catalog, error) {
	c := &Catalog{
		registry:  opts.Presets,
		config:    map[string]*Pipeline{},
		log:       opts.Logger,
		pipelines: newMirror[Pipeline](),
		presets:   newMirror[presets.Preset](),
	}
	if c.registry == nil {
		c.registry = presets.NewRegistry()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	for _, p := range opts.Config {
		if err := jobs.CheckID("id", p.ID); err != nil {
			return nil, fmt.Errorf("catalog: configured pipeline %q: %w", p.Name, err)
		}
		if _, dup := c.config[p.ID]; dup {
			return nil, fmt.Errorf("catalog: two configured pipelines have the ID %s", p.ID)
		}
		q := p.Clone()
		q.ReadOnly = true
		c.config[p.ID] = q
	}
	var err error
	if c.pipelinesKV, err = provision(ctx, js, PipelinesBucket, "transcoder: pipelines created through the API", opts.Replicas); err != nil {
		return nil, err
	}
	if c.presetsKV, err = provision(ctx, js, PresetsBucket, "transcoder: presets created through the API", opts.Replicas); err != nil {
		return nil, err
	}
	watchCtx, stop := context.WithCancel(context.Background())
	c.stop = stop
	readyP, readyS := make(chan error, 1), make(chan error, 1)
	c.wg.Go(func() { keep(watchCtx, c.pipelinesKV, c.pipelines, c.log, readyP) })
	c.wg.Go(func() { keep(watchCtx, c.presetsKV, c.presets, c.log, readyS) })
	for _, ready := range []chan error{readyP, readyS} {
		select {
		case err := <-ready:
			if err != nil {
				c.Close()
				return nil, err
			}
		case <-ctx.Done():
			c.Close()
			return nil, ctx.Err()
		}
	}
	return c, nil
}

// Close stops keeping the copy current; it does not close the connection.
func (c *Catalog) Close() {
	c.closed.Do(func() {
		c.stop()
		c.wg.Wait()
	})
}

func schemaMeta() map[string]string {
	return map[string]string{schemaKey: strconv.Itoa(SchemaVersion)}
}

// provision creates or updates a bucket, refusing one a newer version
// wrote.
func provision(ctx context.Context, js jetstream.JetStream, bucket, desc string, replicas int) (jetstream.KeyValue, error) {
	if kv, err := js.KeyValue(ctx, bucket); err == nil {
		if st, err := kv.Status(ctx); err == nil {
			if info, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				if v, err := strconv.Atoi(info.StreamInfo().Config.Metadata[schemaKey]); err == nil && v > SchemaVersion {
					return nil, fmt.Errorf("catalog: bucket %s has schema %d, this transcoder knows %d: %w", bucket, v, SchemaVersion, ErrNewerSchema)
				}
			}
		}
	}
	var kv jetstream.KeyValue
	err := engine.Provision(ctx, func() (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: bucket, Description: desc, History: 1, Storage: jetstream.FileStorage,
			Replicas: engine.ReplicasFor(ctx, js, "KV_"+bucket, replicas), Metadata: schemaMeta(),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// mirror is the in-memory copy of one bucket. Entries remember the
// revision they were written at, because a local write and the watch's
// report of it (or of an older write) arrive in any order; a deleted
// entry stays as a tombstone so that a late report cannot revive it.
type mirror[T any] struct {
	mu    sync.RWMutex
	items map[string]entry[T]
}

type entry[T any] struct {
	rev uint64
	val *T // nil: deleted
}

func newMirror[T any]() *mirror[T] { return &mirror[T]{items: map[string]entry[T]{}} }

func (m *mirror[T]) put(key string, rev uint64, v *T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.items[key]; ok && old.rev >= rev {
		return
	}
	m.items[key] = entry[T]{rev: rev, val: v}
}

// remove records a deletion; rev is the deletion's revision when known,
// else the last revision seen, which is enough to ignore older puts.
func (m *mirror[T]) remove(key string, rev uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.items[key]; ok {
		rev = max(rev, old.rev)
	}
	m.items[key] = entry[T]{rev: rev}
}

func (m *mirror[T]) get(key string) (*T, uint64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e, ok := m.items[key]
	if !ok || e.val == nil {
		return nil, 0, false
	}
	return e.val, e.rev, true
}

func (m *mirror[T]) all() []*T {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*T, 0, len(m.items))
	for _, e := range m.items {
		if e.val != nil {
			out = append(out, e.val)
		}
	}
	return out
}

// keep replays a bucket into a mirror, reports on ready when the replay
// is done, and then applies updates until ctx ends.
func keep[T any](ctx context.Context, kv jetstream.KeyValue, m *mirror[T], log *slog.Logger, ready chan<- error) {
	engine.Follow(ctx, kv, log, ready, func(key string, rev uint64, value []byte) {
		v, err := decode[T](value)
		if err != nil {
			log.Warn("catalog: unreadable record", "bucket", kv.Bucket(), "key", key, "err", err)
			return
		}
		m.put(key, rev, v)
	}, m.remove)
}

func decode[T any](data []byte) (*T, error) {
	var r record[T]
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.Schema > SchemaVersion {
		return nil, ErrNewerSchema
	}
	if r.Value == nil {
		return nil, errors.New("empty record")
	}
	return r.Value, nil
}

func encode[T any](v *T) ([]byte, error) {
	return json.Marshal(record[T]{Schema: SchemaVersion, Value: v})
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// CreatePipeline stores a new pipeline under a new ID and returns it. The
// caller has validated it (the API does, with Elastic Transcoder's
// messages) and resolved Input and Output.
func (c *Catalog) CreatePipeline(ctx context.Context, p *Pipeline) (*Pipeline, error) {
	p = p.Clone()
	p.ID, p.Status, p.Arn, p.ReadOnly = jobs.NewID(time.Now()), "", "", false
	data, err := encode(p)
	if err != nil {
		return nil, err
	}
	rev, err := c.pipelinesKV.Create(ctx, p.ID, data)
	if err != nil {
		return nil, fmt.Errorf("create pipeline: %w", err)
	}
	c.pipelines.put(p.ID, rev, p)
	return p.Clone(), nil
}

// GetPipeline returns a pipeline of the configuration or of the API.
func (c *Catalog) GetPipeline(id string) (*Pipeline, error) {
	if p, ok := c.config[id]; ok {
		return p.Clone(), nil
	}
	if p, ok := fetch(c.pipelinesKV, c.pipelines, id); ok {
		return p.Clone(), nil
	}
	return nil, fmt.Errorf("pipeline %s: %w", id, ErrNotFound)
}

// fetch returns an item from the in-memory copy, or, when the copy does
// not have it yet (made a moment ago on another machine), from the bucket
// itself, which it then puts into the copy.
func fetch[T any](kv jetstream.KeyValue, m *mirror[T], id string) (*T, bool) {
	if v, _, ok := m.get(id); ok {
		return v, true
	}
	if jobs.CheckID("id", id) != nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	e, err := kv.Get(ctx, id)
	if err != nil {
		return nil, false
	}
	v, err := decode[T](e.Value())
	if err != nil {
		return nil, false
	}
	m.put(id, e.Revision(), v)
	return v, true
}

// ListPipelines returns every pipeline, configuration and API alike, in
// ID order (creation order for API pipelines).
func (c *Catalog) ListPipelines() []*Pipeline {
	out := make([]*Pipeline, 0, len(c.config))
	for _, p := range c.config {
		out = append(out, p.Clone())
	}
	for _, p := range c.pipelines.all() {
		if _, shadowed := c.config[p.ID]; !shadowed {
			out = append(out, p.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *Pipeline) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// UpdatePipeline applies fn to an API pipeline and stores the result if
// no one else changed the pipeline meanwhile, retrying fn on a conflict.
// An error from fn is returned as it is, and nothing is written.
// Configuration pipelines are ErrReadOnly.
func (c *Catalog) UpdatePipeline(ctx context.Context, id string, fn func(*Pipeline) error) (*Pipeline, error) {
	if _, ok := c.config[id]; ok {
		return nil, fmt.Errorf("pipeline %s comes from the configuration file: %w", id, ErrReadOnly)
	}
	for range 50 {
		e, err := c.pipelinesKV.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("pipeline %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read pipeline %s: %w", id, err)
		}
		p, err := decode[Pipeline](e.Value())
		if err != nil {
			return nil, fmt.Errorf("read pipeline %s: %w", id, err)
		}
		if err := fn(p); err != nil {
			return nil, err
		}
		p.ID, p.Status, p.Arn, p.ReadOnly = id, "", "", false
		data, err := encode(p)
		if err != nil {
			return nil, err
		}
		rev, err := c.pipelinesKV.Update(ctx, id, data, e.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("update pipeline %s: %w", id, err)
		}
		c.pipelines.put(id, rev, p)
		return p.Clone(), nil
	}
	return nil, fmt.Errorf("update pipeline %s: too many concurrent updates", id)
}

// DeletePipeline removes an API pipeline. Configuration pipelines are
// ErrReadOnly. Whether the pipeline still has unfinished jobs is the
// caller's to check (the API answers ResourceInUseException).
func (c *Catalog) DeletePipeline(ctx context.Context, id string) error {
	if _, ok := c.config[id]; ok {
		return fmt.Errorf("pipeline %s comes from the configuration file: %w", id, ErrReadOnly)
	}
	return deleteKey(ctx, c.pipelinesKV, c.pipelines, "pipeline", id)
}

func deleteKey[T any](ctx context.Context, kv jetstream.KeyValue, m *mirror[T], what, id string) error {
	for range 10 { // an update in between changes the revision: read again
		e, err := kv.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read %s %s: %w", what, id, err)
		}
		err = kv.Delete(ctx, id, jetstream.LastRevision(e.Revision()))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete %s %s: %w", what, id, err)
		}
		m.remove(id, e.Revision())
		return nil
	}
	return fmt.Errorf("delete %s %s: too many concurrent updates", what, id)
}

// CreatePreset validates a custom preset, stores it under a new ID with
// Type Custom and returns it. Ladders and aliases are extensions of the
// preset files, not taken through the API.
func (c *Catalog) CreatePreset(ctx context.Context, p *presets.Preset) (*presets.Preset, error) {
	p = p.Clone()
	p.ID, p.Arn, p.Type = jobs.NewID(time.Now()), "", presets.TypeCustom
	if errs := p.Validate(); errs != nil {
		return nil, errs
	}
	if p.IsLadder() || len(p.Aliases) > 0 {
		return nil, errors.New("ladders and aliases can be defined in preset files only")
	}
	data, err := encode(p)
	if err != nil {
		return nil, err
	}
	rev, err := c.presetsKV.Create(ctx, p.ID, data)
	if err != nil {
		return nil, fmt.Errorf("create preset: %w", err)
	}
	c.presets.put(p.ID, rev, p)
	return p.Clone(), nil
}

// GetPreset returns the preset with an ID: a system or configured preset,
// or one made through the API.
func (c *Catalog) GetPreset(id string) (*presets.Preset, error) {
	if p, err := c.registry.Lookup(id); err == nil && strings.EqualFold(p.ID, id) {
		return p, nil
	}
	if p, ok := fetch(c.presetsKV, c.presets, id); ok {
		return p.Clone(), nil
	}
	return nil, fmt.Errorf("preset %s: %w", id, ErrNotFound)
}

// ReadOnlyPreset reports whether a preset ID belongs to the registry
// (system and configured presets), which the API cannot delete.
func (c *Catalog) ReadOnlyPreset(id string) bool {
	p, err := c.registry.Lookup(id)
	return err == nil && strings.EqualFold(p.ID, id)
}

// ListPresets returns every preset, system, configured and API-made, in
// ID order: Elastic Transcoder's system presets (1351620000001-…) first,
// then by creation time.
func (c *Catalog) ListPresets() []*presets.Preset {
	out := c.registry.List("")
	seen := make(map[string]bool, len(out))
	for _, p := range out {
		seen[p.ID] = true
	}
	for _, p := range c.presets.all() {
		if !seen[p.ID] {
			out = append(out, p.Clone())
		}
	}
	slices.SortStableFunc(out, func(a, b *presets.Preset) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// DeletePreset removes a preset made through the API. System and
// configured presets are ErrReadOnly.
func (c *Catalog) DeletePreset(ctx context.Context, id string) error {
	if c.ReadOnlyPreset(id) {
		return fmt.Errorf("preset %s is a system or configured preset: %w", id, ErrReadOnly)
	}
	return deleteKey(ctx, c.presetsKV, c.presets, "preset", id)
}

// lookupTimeout bounds the storage read of a preset the copy has not
// caught up with yet.
const lookupTimeout = 5 * time.Second

// Lookup finds a preset by ID, alias or name: system and configured
// presets first, then those made through the API (by ID, or by name when
// it is unique). It satisfies jobs.PresetLookup, so that job creation and
// workers on any machine resolve API-made presets; an ID this process has
// not seen yet (made a moment ago elsewhere) is read from storage.
func (c *Catalog) Lookup(ref string) (*presets.Preset, error) {
	p, err := c.registry.Lookup(ref)
	if err == nil || !errors.Is(err, presets.ErrNotFound) {
		return p, err
	}
	key := strings.TrimSpace(ref)
	if p, _, ok := c.presets.get(key); ok {
		return p.Clone(), nil
	}
	var named []*presets.Preset
	for _, q := range c.presets.all() {
		if strings.EqualFold(q.ID, key) || strings.EqualFold(q.Name, key) {
			named = append(named, q)
		}
	}
	if len(named) == 1 {
		return named[0].Clone(), nil
	}
	if len(named) > 1 {
		var ids []string
		for _, q := range named {
			ids = append(ids, q.ID)
		}
		slices.Sort(ids)
		return nil, &presets.LookupError{Ref: ref, Candidates: ids, Err: presets.ErrAmbiguous}
	}
	if jobs.CheckID("id", key) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		if e, gerr := c.presetsKV.Get(ctx, key); gerr == nil {
			if q, derr := decode[presets.Preset](e.Value()); derr == nil {
				c.presets.put(key, e.Revision(), q)
				return q.Clone(), nil
			}
		}
	}
	return nil, err
}

// Targets returns the webhooks of an API pipeline's notifications (see
// Pipeline.Targets), for the notifier. It reports false for unknown
// pipelines and for configuration pipelines, whose webhooks are in the
// configuration itself.
func (c *Catalog) Targets(pipelineID string, sns map[string]string, secret string) (notify.Targets, bool) {
	if _, ok := c.config[pipelineID]; ok {
		return notify.Targets{}, false
	}
	p, ok := fetch(c.pipelinesKV, c.pipelines, pipelineID)
	if !ok {
		return notify.Targets{}, false
	}
	return p.Targets(sns, secret), true
}
