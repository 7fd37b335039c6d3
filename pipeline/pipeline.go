// Package pipeline turns objects that appear in a bucket into jobs:
// pipelines as the configuration declares them, the event sources that
// watch their inputs, the watcher that creates exactly one job per object
// version, the notifier that tells webhooks what became of each job, and
// the daemon that runs them all.
package pipeline

import (
	"time"

	"github.com/transcoder/transcoder/internal/notify"
)

// Pipeline statuses, as Elastic Transcoder names them.
const (
	StatusActive = "Active"
	StatusPaused = "Paused"
)

// Pipeline is Elastic Transcoder's pipeline plus what a watcher needs.
type Pipeline struct {
	// ID is Elastic Transcoder-shaped; when the configuration gives none
	// it is derived from Name, the same on every run.
	ID   string `yaml:"id,omitempty" json:"Id"`
	Name string `yaml:"name" json:"Name"`
	// Status is Active or Paused. A paused pipeline keeps creating jobs
	// for new objects and starts none until it is resumed.
	Status string `yaml:"status,omitempty" json:"Status"`

	// Input is the watched location: a bucket URL with an optional prefix
	// (minio://uploads/incoming/, s3://bucket/, file:///srv/inbox/).
	Input string `yaml:"input" json:"InputBucket"`
	// Match filters input keys by glob patterns on the name after the
	// input prefix ("*.mp4", "raw/*.mov"); empty matches everything.
	Match []string `yaml:"match,omitempty" json:"-"`
	// Output receives renditions (Elastic Transcoder's OutputBucket or
	// ContentConfig); Thumbnails, when set, receives thumbnails
	// (ThumbnailConfig), else they go to Output.
	Output     string `yaml:"output" json:"OutputBucket"`
	Thumbnails string `yaml:"thumbnails,omitempty" json:"-"`
	// OutputKeyPrefix is a key template put before every output key.
	OutputKeyPrefix string   `yaml:"output_key_prefix,omitempty" json:"-"`
	Outputs         []Output `yaml:"outputs" json:"-"`
	// Playlists over the outputs, by output key template.
	Playlists []Playlist `yaml:"playlists,omitempty" json:"-"`
	// Overwrite replaces existing outputs; by default an existing output
	// fails the job with Elastic Transcoder's 3002.
	Overwrite bool `yaml:"overwrite,omitempty" json:"-"`
	// Concurrency bounds this pipeline's jobs running at once across all
	// workers; 0 means no bound of its own.
	Concurrency int `yaml:"concurrency,omitempty" json:"-"`

	Events Events `yaml:"events,omitempty" json:"-"`
	// Notifications are webhook URLs per job state, Elastic Transcoder's
	// four; each receives ET's notification JSON, signed with its secret.
	Notifications notify.Targets `yaml:"notifications,omitempty" json:"Notifications"`
}

// Output is one rendition a pipeline makes of each input. Key and
// ThumbnailPattern are templates: {{.Base}} (input name without directory
// and extension), {{.Dir}}, {{.InputExt}}, {{.Ext}} (the preset's),
// {{.JobID}}, {{.Alias}} (the preset's first alias), {{.PresetID}},
// {{.Index}}.
type Output struct {
	Preset           string `yaml:"preset"`
	Key              string `yaml:"key"`
	ThumbnailPattern string `yaml:"thumbnail_pattern,omitempty"`
	SegmentDuration  string `yaml:"segment_duration,omitempty"`
	Rotate           string `yaml:"rotate,omitempty"`
}

// Playlist is an adaptive-streaming playlist over some outputs.
type Playlist struct {
	// Name is a key template without extension.
	Name   string `yaml:"name"`
	Format string `yaml:"format"` // HLSv3, HLSv4, HLSv7 (fMP4/CMAF), MPEG-DASH
	// Outputs are the Key templates of the outputs it lists.
	Outputs []string `yaml:"outputs"`
}

// Events says how the pipeline learns of new objects. Whatever the
// source, the input is also listed at start and every ReconcileInterval,
// because every source can lose events.
type Events struct {
	// Source is "poll" (list the input every PollInterval; works with any
	// store and directories), "listen" (MinIO's listen API) or "webhook"
	// (S3 event notifications POSTed to the daemon). Default: "listen"
	// "poll". (MinIO builds from 2025-08 to the fix of minio/minio#21651
	// never flush the listen stream: use "webhook" with those.)
	Source string `yaml:"source,omitempty"`
	// PollInterval for "poll"; default 5s.
	PollInterval time.Duration `yaml:"poll_interval,omitempty"`
	// ReconcileInterval between full listings; default 5m.
	ReconcileInterval time.Duration `yaml:"reconcile_interval,omitempty"`
	// Settle is how long a local file must stay unchanged before it is
	// taken, so that a file still being copied in is not picked up half
	// done; default 2s. Objects in S3 stores appear whole and need none.
	Settle time.Duration `yaml:"settle,omitempty"`
	// WebhookToken authenticates "webhook" deliveries (a bearer token or
	// ?token=); required for that source.
	WebhookToken string `yaml:"webhook_token,omitempty"`
	// KeyEncoding is how event keys are encoded: "form" (S3's event
	// format: MinIO webhooks, AWS; the webhook's default) or "raw" (Ceph
	// RGW; MinIO's listen API, the listener's default).
	KeyEncoding string `yaml:"key_encoding,omitempty"`
}
