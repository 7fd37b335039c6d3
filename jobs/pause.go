package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
)

// pausedSet is the set of paused pipelines, kept in a bucket so that every
// process sharing the engine sees the same, and mirrored in memory from a
// watch.
type pausedSet struct {
	kv  jetstream.KeyValue
	mu  sync.RWMutex
	ids map[string]bool
}

func (p *pausedSet) start(ctx context.Context, js jetstream.JetStream, replicas int) error {
	var kv jetstream.KeyValue
	err := engine.Provision(ctx, func() (err error) {
		kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: pausedBucket, Description: "transcoder: paused pipelines", History: 1,
			Storage: jetstream.FileStorage, Replicas: engine.ReplicasFor(ctx, js, "KV_"+pausedBucket, replicas), Metadata: schemaMeta(),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("engine: bucket %s: %w", pausedBucket, err)
	}
	p.kv = kv
	p.ids = map[string]bool{}
	ready := make(chan error, 1)
	go engine.Follow(ctx, kv, slog.Default(), ready, func(key string, _ uint64, _ []byte) {
		p.set(key, true)
	}, func(key string, _ uint64) { p.set(key, false) })
	select {
	case err := <-ready:
		if err != nil {
			return fmt.Errorf("engine: paused pipelines: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("engine: paused pipelines: watch did not start")
	}
}

func (p *pausedSet) has(pipelineID string) bool {
	if pipelineID == "" {
		return false
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.ids[pipelineID]
}

func (p *pausedSet) set(pipelineID string, paused bool) {
	p.mu.Lock()
	p.ids[pipelineID] = paused
	p.mu.Unlock()
}

// Pause holds a pipeline's jobs: new ones are created but none starts
// until Resume, as Elastic Transcoder did. Jobs already running go on.
func (s *Service) Pause(ctx context.Context, pipelineID string) error {
	if err := CheckID("pipelineId", pipelineID); err != nil {
		return err
	}
	if _, err := s.paused.kv.PutString(ctx, pipelineID, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("pause pipeline %s: %w", pipelineID, err)
	}
	s.paused.set(pipelineID, true)
	return nil
}

// Resume lets a paused pipeline's jobs start, oldest first.
func (s *Service) Resume(ctx context.Context, pipelineID string) error {
	if err := CheckID("pipelineId", pipelineID); err != nil {
		return err
	}
	if err := s.paused.kv.Delete(ctx, pipelineID); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("resume pipeline %s: %w", pipelineID, err)
	}
	s.paused.set(pipelineID, false)
	// The held jobs were never queued (or were taken off the queue by a
	// worker that found the pipeline paused): queue them now, in order. A
	// new message ID each time: an earlier one may be in the duplicate
	// window. Queueing one twice is harmless (see Worker.handle).
	now := time.Now().UnixNano()
	for _, j := range s.index.submitted(pipelineID) {
		if err := s.enqueue(ctx, j, fmt.Sprintf("%s.resume.%d", j.ID, now)); err != nil {
			return fmt.Errorf("resume pipeline %s: queue job %s: %w", pipelineID, j.ID, err)
		}
	}
	return nil
}

// Paused reports whether a pipeline is paused.
func (s *Service) Paused(pipelineID string) bool { return s.paused.has(pipelineID) }
