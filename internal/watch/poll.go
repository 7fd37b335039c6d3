package watch

import (
	"context"
	"log/slog"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
)

// DefaultPollInterval is the poller's interval when the options leave it zero.
const DefaultPollInterval = 5 * time.Second

// PollOptions configure a [Poller].
type PollOptions struct {
	// Interval between listings; zero means DefaultPollInterval.
	Interval time.Duration
	// Settle is how long a local file must stay unchanged before it is reported (see
	// [List] for the rule); zero means DefaultSettle and a negative value none.
	// Objects in S3 stores appear whole and are reported at once.
	Settle time.Duration
	// Match selects the keys (relative to the location) to report; nil reports all.
	// Names that [Ignored] rejects are never reported.
	Match func(key string) bool
}

// Poller is a [Source] that lists a location (any S3 store, or a local directory)
// every interval and reports objects that are new or whose ETag changed since the
// previous listing, local files only once settled. Its first listing reports every
// object already there.
//
// It keeps the key, ETag, size and modification time of each object of the location
// between listings, and nothing else.
type Poller struct {
	bucket   storage.Bucket
	interval time.Duration
	settle   time.Duration
	match    func(string) bool
}

var _ Source = (*Poller)(nil)

// NewPoller returns a poller of bucket.
func NewPoller(bucket storage.Bucket, opts PollOptions) *Poller {
	p := &Poller{bucket: bucket, interval: opts.Interval, match: opts.Match}
	if p.interval <= 0 {
		p.interval = DefaultPollInterval
	}
	if isLocal(bucket) {
		p.settle = resolveSettle(opts.Settle)
	}
	return p
}

// polled is what the poller remembers of one object.
type polled struct {
	state
	since    time.Time // when this state was first seen
	reported bool      // whether this state has been reported
	gen      uint64    // the listing that last saw the object
}

// Run implements [Source]. A listing that fails is logged and tried again at the next
// interval: the store may come back, so Run only returns when ctx ends.
func (p *Poller) Run(ctx context.Context, found func(Object)) error {
	known := map[string]*polled{}
	var gen uint64
	var failing bool
	for {
		gen++
		err := p.poll(ctx, known, gen, found)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			slog.Warn("watch: listing failed, trying again", "location", p.bucket.String(), "every", p.interval, "err", err)
		case err != nil:
			slog.Debug("watch: listing failed again", "location", p.bucket.String(), "err", err)
		case failing:
			slog.Info("watch: listing works again", "location", p.bucket.String())
		}
		failing = err != nil
		if !sleep(ctx, p.interval) {
			return nil
		}
	}
}

// poll makes one listing, reporting what is new, changed or newly settled, and
// forgetting objects that are gone once the listing is complete.
func (p *Poller) poll(ctx context.Context, known map[string]*polled, gen uint64, found func(Object)) error {
	start := time.Now()
	for oi, err := range p.bucket.List(ctx, "") {
		if err != nil {
			return err // keep what we know: a partial listing proves nothing gone
		}
		if !wanted(oi.Key, p.match) {
			continue
		}
		st := stateOf(oi)
		e := known[oi.Key]
		if e == nil || !e.same(st) {
			e = &polled{state: st, since: time.Now()}
			known[oi.Key] = e
		}
		e.gen = gen
		if e.reported {
			continue
		}
		if p.settle > 0 && !settled(oi.ModTime, e.since, start, p.settle) {
			continue
		}
		e.reported = true
		found(toObject(oi))
	}
	for k, e := range known {
		if e.gen != gen {
			delete(known, k)
		}
	}
	return nil
}
