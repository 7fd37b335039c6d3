package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Kinds of Event.
const (
	EventState    = "state"    // the job's status changed; Job is the job as it is now
	EventProgress = "progress" // an encode moved on; at most one a second per job
)

// Event is a change to a job, as the events stream carries it:
// notifications and live progress are built on these.
type Event struct {
	Kind       string    `json:"kind"`
	JobID      string    `json:"jobId"`
	PipelineID string    `json:"pipelineId,omitempty"`
	Status     string    `json:"status"`
	Time       time.Time `json:"time"`
	// Job is set on state events.
	Job *Job `json:"job,omitempty"`
	// Progress is set on progress events.
	Progress *Progress `json:"progress,omitempty"`
}

// Progress is how far a running job has got.
type Progress struct {
	Percent float64       `json:"percent"`
	Speed   float64       `json:"speed,omitempty"` // multiple of real time
	ETA     time.Duration `json:"eta,omitempty"`
	Attempt int           `json:"attempt,omitempty"`
}

// eventSubject is transcoder.events.PIPELINE.JOB.KIND, so that a
// subscriber can follow one job, one pipeline or one kind.
func eventSubject(pipelineID, jobID, kind string) string {
	return eventsPrefix + pipelineToken(pipelineID) + "." + jobID + "." + kind
}

// publishState records a status change in the events stream. The message
// ID (job, revision) makes a repeated publication of the same change a
// no-op. A failure is logged, not returned: the job's record, not its
// events, is the truth.
func (s *Service) publishState(ctx context.Context, j *Job, rev uint64) {
	// The change is stored: its event must not be lost to a caller that
	// gives up now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ev := Event{Kind: EventState, JobID: j.ID, PipelineID: j.PipelineID, Status: j.Status, Time: time.Now(), Job: j}
	data, err := json.Marshal(ev)
	if err == nil {
		_, err = s.js.Publish(ctx, eventSubject(j.PipelineID, j.ID, EventState), data,
			jetstream.WithMsgID(j.ID+"."+strconv.FormatUint(rev, 10)))
	}
	if err != nil {
		s.log.Warn("job event not published", "job", j.ID, "status", j.Status, "err", err)
	}
}

// publishProgress records progress without waiting for the stream's
// acknowledgement: progress is advisory and frequent.
func (s *Service) publishProgress(j *Job, p Progress) {
	ev := Event{Kind: EventProgress, JobID: j.ID, PipelineID: j.PipelineID, Status: StatusProgressing,
		Time: time.Now(), Progress: &p}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	if _, err := s.js.PublishAsync(eventSubject(j.PipelineID, j.ID, EventProgress), data); err != nil {
		s.log.Debug("progress event not published", "job", j.ID, "err", err)
	}
}

// Watch returns the events of one job, from its creation on (as far as
// the events stream keeps them), and closes the channel after the job's
// final state or when ctx ends. A finished job yields one state event.
func (s *Service) Watch(ctx context.Context, id string) (<-chan Event, error) {
	job, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make(chan Event, 16)
	if Terminal(job.Status) {
		out <- Event{Kind: EventState, JobID: job.ID, PipelineID: job.PipelineID, Status: job.Status, Time: time.Now(), Job: job}
		close(out)
		return out, nil
	}
	cons, err := s.events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{eventsPrefix + "*." + id + ".*"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("watch job %s: %w", id, err)
	}
	iter, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("watch job %s: %w", id, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		iter.Stop()
	}()
	go func() {
		defer close(out)
		defer close(done)
		for {
			m, err := iter.Next()
			if err != nil {
				return
			}
			var ev Event
			if json.Unmarshal(m.Data(), &ev) != nil {
				continue
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
			if ev.Kind == EventState && Terminal(ev.Status) {
				return
			}
		}
	}()
	return out, nil
}
