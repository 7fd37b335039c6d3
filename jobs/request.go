package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/transcoder/transcoder/presets"
)

// Limits Elastic Transcoder put on a job, kept so that code written for it
// meets the same checks.
const (
	MaxOutputs      = 30
	MaxPlaylists    = 30
	MaxUserMetadata = 10
)

// CreateRequest asks the engine for a job.
type CreateRequest struct {
	// ID, when set, is the new job's ID (Elastic Transcoder-shaped); a
	// caller that must not create a job twice picks it first and gets
	// ErrExists on a second try. Empty: a new ID.
	ID string
	// PipelineID groups jobs: listings, order of start and (with
	// pipelines) pausing go by it. Empty is allowed for ad-hoc jobs.
	PipelineID string
	// Input is the input object's location: s3://bucket/key,
	// NAME://bucket/key, file:///path or a plain path on the workers.
	Input string
	// InputKey is what the job reports as Input.Key (Elastic Transcoder's
	// key within the pipeline's input bucket); default Input.
	InputKey string
	// Output is where output keys are resolved: a bucket URL with an
	// optional prefix, or a directory.
	Output string
	// Thumbnails, when set, is where thumbnails go (Elastic Transcoder's
	// ThumbnailConfig); empty: Output.
	Thumbnails string
	// OutputKeyPrefix is put before every output key and playlist name.
	OutputKeyPrefix string
	Outputs         []OutputSpec
	Playlists       []*Playlist
	// TimeSpan clips the input: StartTime and Duration as seconds
	// ("12.5") or HH:mm:ss.SSS.
	TimeSpan *TimeSpan
	// Overwrite replaces existing outputs instead of failing with 3002.
	Overwrite    bool
	UserMetadata map[string]string
}

// OutputSpec is one rendition of a CreateRequest, as Elastic Transcoder's
// CreateJobOutput names it.
type OutputSpec struct {
	Key              string `json:"Key"`
	PresetID         string `json:"PresetId"`
	ThumbnailPattern string `json:"ThumbnailPattern,omitempty"`
	Rotate           string `json:"Rotate,omitempty"`
	SegmentDuration  string `json:"SegmentDuration,omitempty"`
	// Rung marks an output that a ladder preset expanded into: it is
	// left out, not failed, when it would be larger than the input.
	Rung bool `json:"Rung,omitempty"`
}

// PresetLookup finds presets by ID, alias or name; *presets.Registry
// satisfies it.
type PresetLookup interface {
	Lookup(ref string) (*presets.Preset, error)
}

// ValidationError is a request the engine refuses; its message follows
// Elastic Transcoder's validation style. It matches ErrBadRequest.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string        { return e.Msg }
func (e *ValidationError) Is(target error) bool { return target == ErrBadRequest }

func invalid(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

var (
	idPattern       = regexp.MustCompile(`^\d{13}-\w{6}$`)
	metadataPattern = regexp.MustCompile(`^[0-9A-Za-z _.:/=+\-%@]*$`)
)

// CheckID refuses a job or pipeline ID that is not Elastic Transcoder's
// shape, with ET's message.
func CheckID(field, id string) error {
	if !idPattern.MatchString(id) {
		return invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\\d{13}-\\w{6}$", id, field)
	}
	return nil
}

// validate checks a request and resolves its presets, so that a job that
// cannot run is refused when it is created, not when a worker takes it.
func (r *CreateRequest) validate(lookup PresetLookup) error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, invalid(format, args...)) }
	if r.ID != "" {
		if err := CheckID("id", r.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if r.PipelineID != "" {
		if err := CheckID("pipelineId", r.PipelineID); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Input == "" {
		add("input: no input object given")
	}
	if r.Output == "" {
		add("output: no output location given")
	}
	if len(r.OutputKeyPrefix) > 255 {
		add("outputKeyPrefix: %d characters; allowed: at most 255", len(r.OutputKeyPrefix))
	}
	switch n := len(r.Outputs); {
	case n == 0:
		add("outputs: a job needs at least one output")
	case n > MaxOutputs:
		add("outputs: %d outputs; allowed: at most %d", n, MaxOutputs)
	}
	seen := map[string]int{}
	for i, o := range r.Outputs {
		field := fmt.Sprintf("outputs[%d]", i)
		if o.Key == "" || len(o.Key) > 255 {
			add("%s.key: %q; allowed: 1 to 255 characters", field, o.Key)
		} else if err := validKey(r.OutputKeyPrefix + o.Key); err != nil {
			add("%s.key: %v", field, err)
		}
		if j, dup := seen[o.Key]; dup {
			add("%s.key: %q is also the key of outputs[%d]; each output needs its own key", field, o.Key, j)
		}
		seen[o.Key] = i
		if lookup != nil {
			p, err := lookup.Lookup(o.PresetID)
			switch {
			case err != nil:
				add("%s.presetId: %v", field, err)
			case p.IsLadder():
				add("%s.presetId: %s is a ladder; name each of its rungs as an output", field, o.PresetID)
			}
		}
		if o.ThumbnailPattern != "" && !strings.Contains(o.ThumbnailPattern, "{count}") {
			add("%s.thumbnailPattern: %q must contain {count}", field, o.ThumbnailPattern)
		}
		switch o.Rotate {
		case "", "auto", "0", "90", "180", "270":
		default:
			add("%s.rotate: %q; allowed: auto, 0, 90, 180, 270", field, o.Rotate)
		}
		if o.SegmentDuration != "" {
			if v, err := strconv.ParseFloat(o.SegmentDuration, 64); err != nil || v < 1 || v > 60 {
				add("%s.segmentDuration: %q; allowed: 1 to 60 seconds", field, o.SegmentDuration)
			}
		}
	}
	if len(r.Playlists) > MaxPlaylists {
		add("playlists: %d playlists; allowed: at most %d", len(r.Playlists), MaxPlaylists)
	}
	if len(r.Playlists) > 0 && lookup != nil && len(errs) == 0 {
		// Elastic Transcoder refused a job whose playlists break its rules
		// when the job was created, before anything ran.
		outs, err := resolveOutputs(lookup, r.OutputKeyPrefix, r.Outputs)
		if err == nil {
			err = ValidatePlaylists(outs, playlistRequests(r.OutputKeyPrefix, r.Playlists))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if r.TimeSpan != nil {
		if _, err := r.TimeSpan.Clip(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := CheckUserMetadata(r.UserMetadata); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckUserMetadata applies Elastic Transcoder's rules: at most 10 pairs,
// keys and values of 0-9 A-Z a-z space _.:/=+-%@ only.
func CheckUserMetadata(m map[string]string) error {
	if len(m) > MaxUserMetadata {
		return invalid("userMetadata: %d pairs; allowed: at most %d", len(m), MaxUserMetadata)
	}
	for k, v := range m {
		if k == "" || len(k) > 128 || !metadataPattern.MatchString(k) {
			return invalid("userMetadata: key %q; allowed: 1 to 128 of 0-9 A-Z a-z space _.:/=+-%%@", k)
		}
		if len(v) > 256 || !metadataPattern.MatchString(v) {
			return invalid("userMetadata[%q]: value %q; allowed: at most 256 of 0-9 A-Z a-z space _.:/=+-%%@", k, v)
		}
	}
	return nil
}

// Clip reads the span: StartTime and Duration as seconds ("12.5", at most
// 86399.999) or HH:mm:ss.SSS (at most 23:59:59.999). A nil span or an
// empty one is no clip.
func (t *TimeSpan) Clip() (*Clip, error) {
	if t == nil || (t.StartTime == "" && t.Duration == "") {
		return nil, nil
	}
	var c Clip
	var err error
	if c.Start, err = ParseTimecode("timeSpan.startTime", t.StartTime); err != nil {
		return nil, err
	}
	if c.Duration, err = ParseTimecode("timeSpan.duration", t.Duration); err != nil {
		return nil, err
	}
	if t.Duration != "" && c.Duration <= 0 {
		return nil, invalid("timeSpan.duration %q: must be more than 0", t.Duration)
	}
	return &c, nil
}

// ParseTimecode reads Elastic Transcoder's time forms: seconds with up to
// three decimals (at most 86399.999) or HH:mm:ss.SSS. Empty is 0. field
// names the value in the error.
func ParseTimecode(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	bad := invalid("%s %q: allowed: seconds like 12.5 (at most 86399.999) or HH:MM:SS.sss", field, s)
	var secs float64
	if parts := strings.Split(s, ":"); len(parts) == 3 {
		h, err1 := strconv.Atoi(parts[0])
		m, err2 := strconv.Atoi(parts[1])
		sec, err3 := strconv.ParseFloat(parts[2], 64)
		if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec >= 60 {
			return 0, bad
		}
		secs = float64(h*3600+m*60) + sec
	} else {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f > 86399.999 || strings.ContainsAny(s, "eE") {
			return 0, bad
		}
		secs = f
	}
	return time.Duration(secs * float64(time.Second)).Round(time.Millisecond), nil
}

// resolveOutputs turns a request's outputs into what a transcode takes:
// presets looked up, keys prefixed.
func resolveOutputs(lookup PresetLookup, prefix string, specs []OutputSpec) ([]OutputRequest, error) {
	outs := make([]OutputRequest, 0, len(specs))
	for _, o := range specs {
		p, err := lookup.Lookup(o.PresetID)
		if err != nil {
			return nil, badRequest("output %s: %v", o.Key, err)
		}
		thumbs := ""
		if o.ThumbnailPattern != "" {
			thumbs = prefix + o.ThumbnailPattern
		}
		outs = append(outs, OutputRequest{
			Key: prefix + o.Key, Preset: p, ThumbnailPattern: thumbs,
			SegmentDuration: o.SegmentDuration, Rotate: o.Rotate, Rung: o.Rung,
		})
	}
	return outs, nil
}

// playlistRequests turns a job's playlists into what a transcode takes,
// names and output keys prefixed as Elastic Transcoder's
// OutputKeyPrefix applied to them.
func playlistRequests(prefix string, pls []*Playlist) []PlaylistRequest {
	out := make([]PlaylistRequest, 0, len(pls))
	for _, p := range pls {
		r := PlaylistRequest{Name: prefix + p.Name, Format: p.Format}
		for _, k := range p.OutputKeys {
			r.OutputKeys = append(r.OutputKeys, prefix+k)
		}
		out = append(out, r)
	}
	return out
}
