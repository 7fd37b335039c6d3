package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/transcoder/transcoder/jobs"
)

// heartbeat is how often an idle event stream sends a comment, so that
// proxies and clients do not take a long encode for a dead connection.
var heartbeat = 15 * time.Second

// progressView is a progress event's data.
type progressView struct {
	JobID      string  `json:"JobId"`
	Status     string  `json:"Status"`
	Percent    float64 `json:"Percent"`
	Speed      float64 `json:"Speed,omitempty"`
	EtaSeconds float64 `json:"EtaSeconds,omitempty"`
	Attempt    int     `json:"Attempt,omitempty"`
}

// jobEvents streams a job's events as server-sent events (an extension:
// ET had SNS notifications only): "state" events carry the job in ET's
// JSON, "progress" events how far the encode is. The stream starts with
// the job's history (as far as the events stream keeps it) and ends
// after the job's final state.
func (s *server) jobEvents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("Id")
	if err := checkID("id", id); err != nil {
		return err
	}
	events, err := s.opts.Jobs.Watch(r.Context(), id)
	if errors.Is(err, jobs.ErrNotFound) {
		return s.notFound("job", id)
	}
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	// Long encodes outlive a server's read and write timeouts (the read
	// deadline would end the stream: the server watches the connection
	// for the client going away).
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil // the connection is gone or cannot stream; nothing to answer
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			var data any
			switch ev.Kind {
			case jobs.EventState:
				if ev.Job == nil {
					continue
				}
				data = s.jobView(ev.Job)
			case jobs.EventProgress:
				if ev.Progress == nil {
					continue
				}
				data = progressView{JobID: ev.JobID, Status: ev.Status, Percent: ev.Progress.Percent,
					Speed: ev.Progress.Speed, EtaSeconds: ev.Progress.ETA.Seconds(), Attempt: ev.Progress.Attempt}
			default:
				continue
			}
			b, err := json.Marshal(data)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Kind, b); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}
