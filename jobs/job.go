package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Job and output states, as Elastic Transcoder names them.
const (
	StatusSubmitted   = "Submitted"
	StatusProgressing = "Progressing"
	StatusComplete    = "Complete"
	StatusCanceled    = "Canceled"
	StatusError       = "Error"
)

// Job is one input turned into outputs, in Elastic Transcoder's JSON shape
// (API 2012-09-25): string values where ET used strings, numbers where it
// used numbers.
type Job struct {
	ID              string            `json:"Id"`
	Arn             string            `json:"Arn,omitempty"`
	PipelineID      string            `json:"PipelineId,omitempty"`
	Input           *JobInput         `json:"Input,omitempty"`
	Output          *JobOutput        `json:"Output,omitempty"`
	Outputs         []*JobOutput      `json:"Outputs"`
	OutputKeyPrefix string            `json:"OutputKeyPrefix,omitempty"`
	Playlists       []*Playlist       `json:"Playlists,omitempty"`
	Status          string            `json:"Status"`
	UserMetadata    map[string]string `json:"UserMetadata,omitempty"`
	Timing          *Timing           `json:"Timing,omitempty"`
}

// JobInput names the input and, after probing, what was found in it.
type JobInput struct {
	Key                string              `json:"Key"`
	FrameRate          string              `json:"FrameRate,omitempty"`
	Resolution         string              `json:"Resolution,omitempty"`
	AspectRatio        string              `json:"AspectRatio,omitempty"`
	Interlaced         string              `json:"Interlaced,omitempty"`
	Container          string              `json:"Container,omitempty"`
	TimeSpan           *TimeSpan           `json:"TimeSpan,omitempty"`
	DetectedProperties *DetectedProperties `json:"DetectedProperties,omitempty"`
}

// TimeSpan is a clip of the input: seconds as "sssss.SSS" strings.
type TimeSpan struct {
	StartTime string `json:"StartTime,omitempty"`
	Duration  string `json:"Duration,omitempty"`
}

// DetectedProperties are what probing the input found.
type DetectedProperties struct {
	Width          int64  `json:"Width,omitempty"`
	Height         int64  `json:"Height,omitempty"`
	FrameRate      string `json:"FrameRate,omitempty"`
	FileSize       int64  `json:"FileSize,omitempty"`
	DurationMillis int64  `json:"DurationMillis,omitempty"`
}

// JobOutput is one rendition and what became of it.
type JobOutput struct {
	ID               string `json:"Id"`
	Key              string `json:"Key"`
	ThumbnailPattern string `json:"ThumbnailPattern,omitempty"`
	Rotate           string `json:"Rotate,omitempty"`
	PresetID         string `json:"PresetId"`
	SegmentDuration  string `json:"SegmentDuration,omitempty"`
	Status           string `json:"Status"`
	StatusDetail     string `json:"StatusDetail,omitempty"`
	Duration         int64  `json:"Duration,omitempty"`
	Width            int64  `json:"Width,omitempty"`
	Height           int64  `json:"Height,omitempty"`
	FrameRate        string `json:"FrameRate,omitempty"`
	FileSize         int64  `json:"FileSize,omitempty"`
	DurationMillis   int64  `json:"DurationMillis,omitempty"`
	// Warnings are ours: things the output could not do as the preset
	// asked (e.g. HE-AAC without libfdk_aac). Elastic Transcoder had no
	// such field; SDKs ignore it.
	Warnings []string `json:"Warnings,omitempty"`
}

// Playlist is an adaptive-streaming manifest over some of a job's
// outputs, in Elastic Transcoder's shape. Name has no extension: the
// format's own (.m3u8, .mpd) is appended.
type Playlist struct {
	Name         string   `json:"Name"`
	Format       string   `json:"Format"` // HLSv3, HLSv4, MPEG-DASH (Smooth is refused)
	OutputKeys   []string `json:"OutputKeys"`
	Status       string   `json:"Status,omitempty"`
	StatusDetail string   `json:"StatusDetail,omitempty"`
}

// Timing holds a job's times in epoch milliseconds.
type Timing struct {
	SubmitTimeMillis int64 `json:"SubmitTimeMillis,omitempty"`
	StartTimeMillis  int64 `json:"StartTimeMillis,omitempty"`
	FinishTimeMillis int64 `json:"FinishTimeMillis,omitempty"`
}

// NewID returns an Elastic Transcoder-shaped ID, ^\d{13}-\w{6}$: the
// epoch millisecond, so IDs sort by time, and six characters, random for
// the first ID of a millisecond and counting up after it, so that the IDs
// one process makes sort in the order it made them.
func NewID(now time.Time) string {
	idMu.Lock()
	defer idMu.Unlock()
	ms := max(now.UnixMilli(), idLast.ms)
	if ms == idLast.ms && idLast.suffix != "" {
		if next, ok := increment(idLast.suffix); ok {
			idLast.suffix = next
			return fmt.Sprintf("%013d-%s", ms, next)
		}
		ms++ // six characters ran out within the millisecond
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	// The first character stays in the lower half, leaving room to count.
	b[0] = idAlphabet[int(b[0])%(len(idAlphabet)/2)]
	for i := 1; i < len(b); i++ {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	idLast.ms, idLast.suffix = ms, string(b[:])
	return fmt.Sprintf("%013d-%s", ms, b[:])
}

// idAlphabet is in byte order, so that counting up sorts up.
const idAlphabet = "0123456789abcdefghijklmnopqrstuvwxyz"

var (
	idMu   sync.Mutex
	idLast struct {
		ms     int64
		suffix string
	}
)

// increment counts a suffix up by one in idAlphabet; false on overflow.
func increment(s string) (string, bool) {
	b := []byte(s)
	for i := len(b) - 1; i >= 0; i-- {
		k := strings.IndexByte(idAlphabet, b[i])
		if k < len(idAlphabet)-1 {
			b[i] = idAlphabet[k+1]
			return string(b), true
		}
		b[i] = idAlphabet[0]
	}
	return "", false
}

// Millis converts a time to epoch milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// newJob returns a Submitted job for an input and its outputs.
func newJob(input string, outs []OutputRequest) *Job {
	now := time.Now()
	return &Job{ID: NewID(now), Status: StatusSubmitted, Timing: &Timing{SubmitTimeMillis: Millis(now)},
		Input: &JobInput{Key: input}, Outputs: jobOutputs(outs)}
}

// jobOutputs returns Submitted outputs, numbered from 1, for requests.
func jobOutputs(outs []OutputRequest) []*JobOutput {
	out := make([]*JobOutput, 0, len(outs))
	for i, o := range outs {
		out = append(out, &JobOutput{
			ID: strconv.Itoa(i + 1), Key: o.Key, PresetID: o.Preset.ID, ThumbnailPattern: o.ThumbnailPattern,
			Rotate: o.Rotate, SegmentDuration: o.SegmentDuration, Status: StatusSubmitted,
		})
	}
	return out
}

// failJob ends a job with err: Error, or Canceled when err is a
// cancellation, on the job and on every output not already Complete.
func failJob(job *Job, err error) (*Job, error) {
	if job == nil {
		return nil, err
	}
	job.Status = StatusError
	if errors.Is(err, context.Canceled) {
		job.Status = StatusCanceled
	}
	for _, o := range job.Outputs {
		if o.Status != StatusComplete {
			o.Status = job.Status
			o.StatusDetail = truncate(StatusDetail(err), 255)
		}
	}
	if job.Timing != nil {
		job.Timing.FinishTimeMillis = Millis(time.Now())
	}
	return job, err
}

// Terminal reports whether a job or output status is final.
func Terminal(status string) bool {
	return status == StatusComplete || status == StatusCanceled || status == StatusError
}

// transitions are the state machine's edges, for jobs and outputs alike.
// Progressing → Progressing is a retry after a worker was lost.
var transitions = map[string][]string{
	StatusSubmitted:   {StatusProgressing, StatusCanceled, StatusError},
	StatusProgressing: {StatusProgressing, StatusComplete, StatusCanceled, StatusError},
}

// CanMove reports whether the state machine allows from → to.
func CanMove(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// RollUp derives a job's status from its outputs, as Elastic Transcoder
// did: Submitted until the first output starts, Progressing until every
// output is final, then Complete only if every output is Complete,
// Canceled if any was canceled and none failed, else Error.
func RollUp(outputs []*JobOutput) string {
	if len(outputs) == 0 {
		return StatusSubmitted
	}
	started, final, complete, canceled := false, 0, 0, 0
	for _, o := range outputs {
		switch o.Status {
		case StatusSubmitted:
		case StatusProgressing:
			started = true
		case StatusComplete:
			final++
			complete++
		case StatusCanceled:
			final++
			canceled++
		default:
			final++
		}
	}
	switch {
	case final < len(outputs) && (started || final > 0):
		return StatusProgressing
	case final < len(outputs):
		return StatusSubmitted
	case complete == len(outputs):
		return StatusComplete
	case complete+canceled == len(outputs):
		return StatusCanceled
	default:
		return StatusError
	}
}
