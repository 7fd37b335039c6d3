package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/jobs"
)

// Names of what the notifier keeps in JetStream, beside the job engine's
// (whose events stream it reads).
const (
	eventsStream     = "TRANSCODER_EVENTS"
	eventsFilter     = "transcoder.events.*.*." + jobs.EventState
	notifyStream     = "TRANSCODER_NOTIFY"
	notifyPrefix     = "transcoder.notify."
	eventsConsumer   = "notifier"
	deliveryConsumer = "webhooks"
	schemaKey        = "transcoder_schema"
	schemaVersion    = 1

	// ackWait is how long a notifier may hold an event or a delivery
	// without word before the server gives it to another one. Attempts
	// longer than this keep it with InProgress heartbeats.
	ackWait = 30 * time.Second
	// dedupeWindow is how long the delivery stream remembers a delivery's
	// ID: an event fanned out again after a crash within it queues
	// nothing new.
	dedupeWindow = 10 * time.Minute
	// eventBuffer is how many events a notifier holds at once.
	eventBuffer = 64
	// publishTimeout bounds queueing one delivery.
	publishTimeout = 10 * time.Second
	// maxAnswer is how much of a receiver's answer is read: enough to log
	// why it refused and to reuse the connection.
	maxAnswer = 64 << 10
)

// DefaultBackoff is the delay before each retry of a failed delivery;
// the last one repeats until the notification is given up.
var DefaultBackoff = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute,
}

// Options tune a Notifier.
type Options struct {
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// HTTPClient makes the deliveries; nil means a client that does not
	// follow redirects (a redirected POST would arrive as a GET, so a 3xx
	// answer counts as a failure). Each attempt is bounded by its
	// pipeline's Timeout whatever the client's own.
	HTTPClient *http.Client
	// Backoff is the delay before retry n (the last one repeats); nil
	// means DefaultBackoff.
	Backoff []time.Duration
	// Replicas of the delivery stream (a cluster's choice); 0 keeps what it
	// has (1 for a new one).
	// The consumers have as many as their streams, so that they fit the
	// events stream however the job engine was configured.
	Replicas int
	// Concurrency is how many deliveries one Notifier attempts at once, so
	// that a slow receiver does not hold up the others; default 8.
	Concurrency int
	// OnAttempt, when set, is told of every delivery attempt: the
	// notification's state (PROGRESSING, COMPLETED, WARNING, ERROR) and
	// whether the receiver took it. Metrics count deliveries and failures
	// with it. Attempts abandoned because the Notifier is stopping are not
	// reported: they say nothing about the receiver. It is called from
	// the delivering goroutines, so it must be quick and safe for
	// concurrent use.
	OnAttempt func(state string, ok bool)
}

// Notifier delivers Elastic Transcoder's job notifications to webhooks,
// at least once. A durable consumer of the job events turns each state
// change into one delivery per (notification, URL) on a work-queue
// stream; a second durable consumer POSTs them, retrying failures with
// backoff that the server keeps (NakWithDelay), so it survives restarts,
// until they succeed or grow older than their pipeline's GiveUpAfter.
// Any number of Notifiers, in any number of processes, may run on one
// engine: they share the work.
type Notifier struct {
	js      jetstream.JetStream
	targets func(pipelineID string) (Targets, bool)
	opts    Options
	log     *slog.Logger
	client  *http.Client
}

// New returns a Notifier. targets returns a pipeline's webhooks, and
// false for a pipeline it does not know; it is asked at every event and
// every attempt, so configuration changes apply at once, also to
// deliveries already queued. It must be safe for concurrent use.
func New(js jetstream.JetStream, targets func(pipelineID string) (Targets, bool), opts Options) (*Notifier, error) {
	if js == nil {
		return nil, errors.New("notify: no JetStream")
	}
	if targets == nil {
		return nil, errors.New("notify: no targets function")
	}
	if len(opts.Backoff) == 0 {
		opts.Backoff = DefaultBackoff
	}
	for i, d := range opts.Backoff {
		if d <= 0 {
			return nil, fmt.Errorf("notify: backoff[%d]: %v is not positive", i, d)
		}
	}
	opts.Backoff = append([]time.Duration(nil), opts.Backoff...)
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	n := &Notifier{js: js, targets: targets, opts: opts, log: opts.Logger, client: opts.HTTPClient}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.client == nil {
		n.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	return n, nil
}

// Run provisions the delivery stream and both consumers (idempotently;
// the job engine's events stream must exist: jobs.Open creates it), then
// fans out events and delivers notifications until ctx ends. It returns
// nil when ctx ends, and an error only when provisioning fails. Attempts
// under way when ctx ends are abandoned and handed back to the server at
// once, so that another Notifier, or this one started again, retries
// them.
func (n *Notifier) Run(ctx context.Context) error {
	events, deliveries, err := n.provision(ctx)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, n.opts.Concurrency)
	var inflight, loops sync.WaitGroup
	dispatch := func(ctx context.Context, m jetstream.Msg) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			_ = m.Nak()
			return
		}
		inflight.Go(func() {
			defer func() { <-sem }()
			n.deliver(ctx, m)
		})
	}
	loops.Go(func() { n.consume(ctx, eventsConsumer, events, eventBuffer, n.fanOut) })
	loops.Go(func() { n.consume(ctx, deliveryConsumer, deliveries, n.opts.Concurrency, dispatch) })
	loops.Wait()
	inflight.Wait()
	return nil
}

func schemaMeta() map[string]string {
	return map[string]string{schemaKey: strconv.Itoa(schemaVersion)}
}

// checkSchema refuses a stream that a newer transcoder wrote.
func checkSchema(what string, meta map[string]string) error {
	if v, err := strconv.Atoi(meta[schemaKey]); err == nil && v > schemaVersion {
		return fmt.Errorf("notify: %s has schema %d, this transcoder knows %d: %w", what, v, schemaVersion,
			jobs.ErrNewerSchema)
	}
	return nil
}

// provision creates or updates the delivery stream and the two durable
// consumers. Their configuration is fixed by this code, so every
// Notifier of a version writes the same and concurrent starts agree.
func (n *Notifier) provision(ctx context.Context) (events, deliveries func(context.Context) (jetstream.Consumer, error), err error) {
	evStream, err := n.js.Stream(ctx, eventsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil, fmt.Errorf("notify: stream %s is missing; the job engine creates it (jobs.Open): %w",
			eventsStream, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("notify: stream %s: %w", eventsStream, err)
	}
	if err := checkSchema("stream "+eventsStream, evStream.CachedInfo().Config.Metadata); err != nil {
		return nil, nil, err
	}
	if st, err := n.js.Stream(ctx, notifyStream); err == nil {
		if err := checkSchema("stream "+notifyStream, st.CachedInfo().Config.Metadata); err != nil {
			return nil, nil, err
		}
	}
	_, err = n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        notifyStream,
		Description: "transcoder: webhook notifications waiting for delivery",
		Subjects:    []string{notifyPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    engine.ReplicasFor(ctx, n.js, notifyStream, n.opts.Replicas),
		Duplicates:  dedupeWindow,
		Metadata:    schemaMeta(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("notify: stream %s: %w", notifyStream, err)
	}
	events = func(ctx context.Context) (jetstream.Consumer, error) {
		c, err := n.js.CreateOrUpdateConsumer(ctx, eventsStream, jetstream.ConsumerConfig{
			Durable:     eventsConsumer,
			Description: "transcoder: job state changes to webhook notifications",
			// All, not New: events published before the very first
			// notifier started (the daemon starts its parts in any order)
			// are notified too; ones older than GiveUpAfter are dropped.
			DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: eventsFilter,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       ackWait,
			MaxDeliver:    -1,
			MaxAckPending: 1000,
			Metadata:      schemaMeta(),
		})
		if err != nil {
			return nil, fmt.Errorf("notify: consumer %s: %w", eventsConsumer, err)
		}
		return c, nil
	}
	deliveries = func(ctx context.Context) (jetstream.Consumer, error) {
		c, err := n.js.CreateOrUpdateConsumer(ctx, notifyStream, jetstream.ConsumerConfig{
			Durable:     deliveryConsumer,
			Description: "transcoder: webhook deliveries",
			AckPolicy:   jetstream.AckExplicitPolicy,
			AckWait:     ackWait,
			// Deliveries end by age (GiveUpAfter), not by count.
			MaxDeliver:    -1,
			MaxAckPending: 10000,
			Metadata:      schemaMeta(),
		})
		if err != nil {
			return nil, fmt.Errorf("notify: consumer %s: %w", deliveryConsumer, err)
		}
		return c, nil
	}
	if _, err := events(ctx); err != nil {
		return nil, nil, err
	}
	if _, err := deliveries(ctx); err != nil {
		return nil, nil, err
	}
	return events, deliveries, nil
}

// consume hands every message of a consumer to handle until ctx ends,
// starting over (and recreating the consumer, should someone have
// deleted it) when the subscription fails. Messages fetched but not yet
// handled when ctx ends are handed back to the server at once.
func (n *Notifier) consume(ctx context.Context, name string, open func(context.Context) (jetstream.Consumer, error),
	buffer int, handle func(context.Context, jetstream.Msg)) {
	for first := true; ctx.Err() == nil; first = false {
		if !first && !sleep(ctx, time.Second) {
			return
		}
		cons, err := open(ctx)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("notify: consumer unavailable; retrying", "consumer", name, "err", err)
			}
			continue
		}
		iter, err := cons.Messages(jetstream.PullMaxMessages(buffer))
		if err != nil {
			n.log.Warn("notify: cannot consume; retrying", "consumer", name, "err", err)
			continue
		}
		stop := context.AfterFunc(ctx, iter.Drain)
		for {
			m, err := iter.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					n.log.Warn("notify: consuming failed; starting over", "consumer", name, "err", err)
				}
				break
			}
			if ctx.Err() != nil {
				_ = m.Nak()
				continue
			}
			handle(ctx, m)
		}
		stop()
		iter.Stop()
	}
}

// delivery is one notification to one URL, as the delivery stream holds
// it. The body is made once, when the event is fanned out, so that every
// attempt sends the same bytes; the secret is not in it.
type delivery struct {
	ID         string          `json:"id"`
	PipelineID string          `json:"pipelineId"`
	JobID      string          `json:"jobId"`
	State      string          `json:"state"`
	URL        string          `json:"url"`
	Due        time.Time       `json:"due"` // the job's state change: give-up age counts from here
	Body       json.RawMessage `json:"body"`
}

// fanOut turns one job state event into its deliveries and then acks it.
// If any cannot be queued the event is retried; the deliveries' message
// IDs make queueing again harmless.
func (n *Notifier) fanOut(ctx context.Context, m jetstream.Msg) {
	var ev jobs.Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.Kind != jobs.EventState || ev.Job == nil {
		n.log.Warn("notify: not a job state event; skipped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	states := States(ev.Job)
	if len(states) == 0 {
		_ = m.Ack()
		return
	}
	pipelineID := ev.PipelineID
	if pipelineID == "" {
		pipelineID = ev.Job.PipelineID
	}
	t, ok := n.targets(pipelineID)
	if !ok || t.Empty() {
		_ = m.Ack()
		return
	}
	t = t.withDefaults()
	due := ev.Time
	if md, err := m.Metadata(); due.IsZero() && err == nil {
		due = md.Timestamp
	}
	if age := time.Since(due); age > t.GiveUpAfter {
		// The notifier was away longer than the pipeline wants to wait.
		n.log.Error("notify: notification given up: the job event is older than give_up_after",
			"pipeline", pipelineID, "job", ev.JobID, "states", strings.Join(states, ","),
			"age", age.Round(time.Second), "give_up_after", t.GiveUpAfter)
		_ = m.Ack()
		return
	}
	for _, state := range states {
		urls := t.URLs(state)
		if len(urls) == 0 {
			continue
		}
		body, err := Message(ev.Job, state)
		if err != nil {
			n.log.Error("notify: notification not built", "pipeline", pipelineID, "job", ev.JobID, "state", state, "err", err)
			continue
		}
		for _, u := range urls {
			d := delivery{ID: deliveryID(ev.JobID, state, u), PipelineID: pipelineID, JobID: ev.JobID,
				State: state, URL: u, Due: due, Body: body}
			data, err := json.Marshal(d)
			if err == nil {
				pctx, cancel := context.WithTimeout(ctx, publishTimeout)
				_, err = n.js.Publish(pctx, notifySubject(pipelineID, ev.JobID), data, jetstream.WithMsgID(d.ID))
				cancel()
			}
			if err != nil {
				if ctx.Err() == nil {
					n.log.Warn("notify: delivery not queued; the event will be retried", "pipeline", pipelineID,
						"job", ev.JobID, "state", state, "url", RedactURL(u), "err", err)
				}
				_ = m.NakWithDelay(time.Second)
				return
			}
		}
	}
	_ = m.Ack()
}

// deliveryID names a notification to a URL: the same for every attempt
// and every fan-out of the same event, so that both the stream and the
// receiver can drop repeats. A job reaches each notification state once.
func deliveryID(jobID, state, u string) string {
	sum := sha256.Sum256([]byte(u))
	return jobID + "." + strings.ToLower(state) + "." + hex.EncodeToString(sum[:8])
}

// notifySubject is transcoder.notify.PIPELINE.JOB.
func notifySubject(pipelineID, jobID string) string {
	return notifyPrefix + subjectToken(pipelineID) + "." + subjectToken(jobID)
}

// subjectToken makes an ID safe as one subject token.
func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// deliver makes one attempt at a delivery and acks it, schedules the
// next attempt, or gives it up.
func (n *Notifier) deliver(ctx context.Context, m jetstream.Msg) {
	var d delivery
	if err := json.Unmarshal(m.Data(), &d); err != nil {
		n.log.Error("notify: unreadable delivery dropped", "subject", m.Subject(), "err", err)
		_ = m.TermWithReason("unreadable")
		return
	}
	log := n.log.With("pipeline", d.PipelineID, "job", d.JobID, "state", d.State, "url", RedactURL(d.URL),
		"delivery", d.ID)
	t, ok := n.targets(d.PipelineID)
	if !ok || !t.has(d.State, d.URL) {
		log.Info("notify: delivery dropped: the URL is no longer configured for this state")
		_ = m.TermWithReason("no longer configured")
		return
	}
	t = t.withDefaults()
	attempt := 1
	if md, err := m.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	start := time.Now()
	err := n.post(ctx, m, t, &d)
	if n.opts.OnAttempt != nil && (err == nil || ctx.Err() == nil) {
		n.opts.OnAttempt(d.State, err == nil)
	}
	if err == nil {
		_ = m.Ack()
		log.Debug("notify: delivered", "attempt", attempt, "took", time.Since(start).Round(time.Millisecond))
		return
	}
	if ctx.Err() != nil {
		// Shutting down: another notifier, or this one restarted, retries
		// it now rather than after AckWait.
		_ = m.Nak()
		return
	}
	age := time.Since(d.Due)
	if age >= t.GiveUpAfter {
		log.Error("notify: notification given up", "attempts", attempt, "age", age.Round(time.Second),
			"give_up_after", t.GiveUpAfter, "err", err)
		_ = m.TermWithReason("given up after " + t.GiveUpAfter.String())
		return
	}
	// The last attempt is made when the notification reaches its give-up
	// age, not one backoff step later.
	delay := min(n.opts.Backoff[min(attempt, len(n.opts.Backoff))-1], t.GiveUpAfter-age)
	log.Warn("notify: delivery failed; will retry", "attempt", attempt, "retry_in", delay, "err", err)
	_ = m.NakWithDelay(delay)
}

// post makes one attempt, within the pipeline's timeout. Any 2xx answer
// is success; anything else, a 3xx, 4xx or 5xx alike, is a failure to be
// retried: receivers answer 401 or 404 while being redeployed or
// reconfigured, and giving up for good on the first such answer would
// lose notifications that a minute later would have been taken.
func (n *Notifier) post(ctx context.Context, m jetstream.Msg, t Targets, d *delivery) error {
	actx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	stop := heartbeat(m, ackWait/3)
	defer stop()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return redactErr(err)
	}
	ts := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "transcoder")
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderState, d.State)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	if t.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(t.Secret, ts, d.Body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		if errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("no answer within %v: %w", t.Timeout, redactErr(err))
		}
		return redactErr(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s: %s", resp.Status, excerpt(answer))
	}
	return nil
}

// heartbeat tells the server every interval that the attempt on m is
// still under way, so that a Timeout longer than AckWait does not hand m
// to another notifier meanwhile.
func heartbeat(m jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	tick := time.NewTicker(every)
	go func() {
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				_ = m.InProgress()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// redactErr takes credentials and query out of the URL an HTTP client
// error quotes.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = RedactURL(ue.URL)
	}
	return err
}

// excerpt is the start of a receiver's answer, fit for one log line.
func excerpt(b []byte) string {
	const n = 200
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// sleep waits for d or until ctx ends, and reports whether ctx is alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
