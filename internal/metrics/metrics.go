// Package metrics exports the transcoder's state for Prometheus: jobs by
// status and the queue's depth (read from the job engine at each scrape),
// encode times and speeds, finished jobs and the lag of the events stream
// (from the job events as they happen), webhook deliveries and failures
// (from the notifier), and the Go runtime and process.
//
// Metrics are best-effort and never slow the engine down: events are read
// with a plain NATS subscription, whose messages the server drops rather
// than wait for a slow reader, and nothing here writes to JetStream.
package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/transcoder/transcoder/jobs"
)

// EventsSubject is what the metrics read: every job event of every
// pipeline.
const EventsSubject = "transcoder.events.>"

// Defaults of Options.
const (
	DefaultQueueTimeout = 2 * time.Second
	// pendingMsgs bounds the events waiting to be counted; beyond it the
	// client drops them (counted in transcoder_metrics_events_dropped_total).
	pendingMsgs  = 10000
	pendingBytes = 64 << 20
)

// Options tune Metrics.
type Options struct {
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the collectors; nil means a new one. The Go
	// runtime and process collectors are added to it unless already there.
	Registry *prometheus.Registry
	// QueueTimeout bounds reading the queue's depth at a scrape; default
	// DefaultQueueTimeout.
	QueueTimeout time.Duration
	// Now is the clock event lag is measured with; nil means time.Now.
	Now func() time.Time
}

// Metrics collects the transcoder's metrics. Create it with New; it
// follows the job events until the context given to New ends or Close is
// called.
type Metrics struct {
	svc  *jobs.Service
	reg  *prometheus.Registry
	log  *slog.Logger
	now  func() time.Time
	opts Options

	sub       *nats.Subscription
	closeOnce sync.Once
	stop      func() bool

	encodeSeconds *prometheus.HistogramVec
	encodeSpeed   *prometheus.HistogramVec
	finished      *prometheus.CounterVec
	eventLag      prometheus.Histogram
	deliveries    *prometheus.CounterVec
	failures      *prometheus.CounterVec
}

// New registers the collectors and subscribes to the job events of svc's
// engine.
func New(ctx context.Context, svc *jobs.Service, opts Options) (*Metrics, error) {
	if svc == nil {
		return nil, errors.New("metrics: no job service")
	}
	m := &Metrics{svc: svc, reg: opts.Registry, log: opts.Logger, now: opts.Now, opts: opts}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.opts.QueueTimeout <= 0 {
		m.opts.QueueTimeout = DefaultQueueTimeout
	}
	if m.reg == nil {
		m.reg = prometheus.NewRegistry()
	}
	m.encodeSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "transcoder_encode_seconds",
		Help: "Time from start to finish of the jobs that completed (Timing.FinishTimeMillis - StartTimeMillis), by pipeline.",
		// From a few seconds for a short clip to hours for a feature film.
		Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400},
	}, []string{"pipeline"})
	m.encodeSpeed = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "transcoder_encode_speed",
		Help: "Media seconds encoded per second of the jobs that completed (the longest output's duration over the " +
			"job's encode time), by pipeline: 2 means twice real time.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64},
	}, []string{"pipeline"})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "transcoder_jobs_finished_total",
		Help: "Jobs that reached a final status (Complete, Error, Canceled), as the job events report them.",
	}, []string{"status"})
	m.eventLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "transcoder_event_lag_seconds",
		Help: "Time from a job state event's publication to its arrival here: the lag of the events stream.",
		// 1 ms to about 16 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "transcoder_webhook_deliveries_total",
		Help: "Webhook notification delivery attempts by this process, successful or not, by notification state.",
	}, []string{"state"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "transcoder_webhook_failures_total",
		Help: "Webhook notification delivery attempts by this process that failed (no 2xx answer), by notification state.",
	}, []string{"state"})
	// The notification states exist from the start, so that a rate over
	// them is 0 rather than absent before the first delivery.
	for _, st := range []string{"PROGRESSING", "COMPLETED", "WARNING", "ERROR"} {
		m.deliveries.WithLabelValues(st)
		m.failures.WithLabelValues(st)
	}
	for _, st := range []string{jobs.StatusComplete, jobs.StatusError, jobs.StatusCanceled} {
		m.finished.WithLabelValues(st)
	}

	cs := []prometheus.Collector{m.encodeSeconds, m.encodeSpeed, m.finished, m.eventLag, m.deliveries, m.failures,
		&engineCollector{m: m}}
	for i, c := range cs {
		if err := m.reg.Register(c); err != nil {
			// Leave a caller's registry as it was.
			for _, c := range cs[:i] {
				m.reg.Unregister(c)
			}
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := m.reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}

	js := svc.JetStream()
	if js == nil || js.Conn() == nil {
		return nil, errors.New("metrics: the job service has no NATS connection")
	}
	sub, err := js.Conn().Subscribe(EventsSubject, m.handle)
	if err != nil {
		return nil, fmt.Errorf("metrics: subscribe to %s: %w", EventsSubject, err)
	}
	if err := sub.SetPendingLimits(pendingMsgs, pendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.sub = sub
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "transcoder_metrics_events_dropped_total",
		Help: "Job events these metrics missed because they arrived faster than they were counted.",
	}, func() float64 {
		n, _ := sub.Dropped()
		return float64(n)
	})
	if err := m.reg.Register(dropped); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m.stop = context.AfterFunc(ctx, m.Close)
	return m, nil
}

// Close stops following the job events. The collectors stay registered
// and the gauges read from the engine keep working.
func (m *Metrics) Close() {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			m.stop()
		}
		if err := m.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) &&
			!errors.Is(err, nats.ErrBadSubscription) {
			m.log.Debug("metrics: unsubscribe", "err", err)
		}
	})
}

// Handler serves the metrics in Prometheus' text (or OpenMetrics) format,
// for GET /metrics. A part that cannot be read (the queue's depth while
// the engine is away) is left out rather than failing the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slogPromLogger{m.log},
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	})
}

// Registry returns the registry the collectors are in, for a caller that
// adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// OnNotifyAttempt counts a webhook delivery attempt; it is what
// notify.Options.OnAttempt expects.
func (m *Metrics) OnNotifyAttempt(state string, ok bool) {
	state = strings.ToUpper(state)
	m.deliveries.WithLabelValues(state).Inc()
	if !ok {
		m.failures.WithLabelValues(state).Inc()
	}
}

// handle counts one job event. It runs on the subscription's goroutine.
func (m *Metrics) handle(msg *nats.Msg) {
	// Progress events (one a second per running job) need no decoding:
	// the speed is measured once per job, at its end.
	if !strings.HasSuffix(msg.Subject, "."+jobs.EventState) {
		return
	}
	var ev jobs.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		m.log.Debug("metrics: unreadable job event", "subject", msg.Subject, "err", err)
		return
	}
	if !ev.Time.IsZero() {
		// Clocks of other machines may be behind this one's.
		m.eventLag.Observe(max(0, m.now().Sub(ev.Time).Seconds()))
	}
	if !jobs.Terminal(ev.Status) {
		return
	}
	m.finished.WithLabelValues(ev.Status).Inc()
	j := ev.Job
	if ev.Status != jobs.StatusComplete || j == nil || j.Timing == nil ||
		j.Timing.StartTimeMillis == 0 || j.Timing.FinishTimeMillis < j.Timing.StartTimeMillis {
		return
	}
	pipeline := ev.PipelineID
	if pipeline == "" {
		pipeline = j.PipelineID
	}
	took := float64(j.Timing.FinishTimeMillis-j.Timing.StartTimeMillis) / 1000
	m.encodeSeconds.WithLabelValues(pipeline).Observe(took)
	if media := mediaSeconds(j); media > 0 && took > 0 {
		m.encodeSpeed.WithLabelValues(pipeline).Observe(media / took)
	}
}

// mediaSeconds is how much media a job made: its longest output.
func mediaSeconds(j *jobs.Job) float64 {
	var longest int64
	for _, o := range j.Outputs {
		if o == nil {
			continue
		}
		d := o.DurationMillis
		if d == 0 {
			d = o.Duration * 1000
		}
		longest = max(longest, d)
	}
	return float64(longest) / 1000
}

// engineCollector reads the job counts and the queue's depth from the
// engine at each scrape, so that they are exact whoever changed them.
type engineCollector struct{ m *Metrics }

var (
	jobsDesc = prometheus.NewDesc("transcoder_jobs",
		"Jobs in the engine by status (all pipelines, all processes).", []string{"status"}, nil)
	queueDesc = prometheus.NewDesc("transcoder_queue_depth",
		"Jobs in the work queue: waiting for a worker or running.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- queueDesc
}

// Collect implements prometheus.Collector.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.m.svc.Counts()
	for _, st := range []string{jobs.StatusSubmitted, jobs.StatusProgressing, jobs.StatusComplete,
		jobs.StatusCanceled, jobs.StatusError} {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.m.opts.QueueTimeout)
	defer cancel()
	depth, err := c.m.svc.QueueDepth(ctx)
	if err != nil {
		c.m.log.Debug("metrics: queue depth not read", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(depth))
}

// slogPromLogger passes promhttp's errors to slog.
type slogPromLogger struct{ log *slog.Logger }

// Println implements promhttp.Logger.
func (l slogPromLogger) Println(v ...any) {
	l.log.Warn("metrics: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
