package catalog

import (
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/internal/storage"
)

// Pipeline statuses, as Elastic Transcoder names them. The catalog does
// not store a status: the job service's paused set is the one source of
// truth, and the API fills Status in from it on every read.
const (
	StatusActive = "Active"
	StatusPaused = "Paused"
)

// Pipeline is an Elastic Transcoder pipeline (API 2012-09-25): ET's fields
// with ET's JSON names, plus the resolved locations jobs are created with.
type Pipeline struct {
	ID           string `json:"Id"`
	Arn          string `json:"Arn,omitempty"`
	Name         string `json:"Name"`
	Status       string `json:"Status,omitempty"`
	InputBucket  string `json:"InputBucket"`
	OutputBucket string `json:"OutputBucket,omitempty"`
	Role         string `json:"Role,omitempty"`
	AwsKmsKeyArn string `json:"AwsKmsKeyArn,omitempty"`
	// Notifications holds SNS topic ARNs, as ET clients send them; see
	// Targets for how they reach webhooks.
	Notifications   *Notifications `json:"Notifications,omitempty"`
	ContentConfig   *OutputConfig  `json:"ContentConfig,omitempty"`
	ThumbnailConfig *OutputConfig  `json:"ThumbnailConfig,omitempty"`

	// Input is the location input keys are resolved in (s3://bucket/,
	// minio://bucket/prefix/, file:///srv/inbox/): what InputBucket names.
	Input string `json:"Input"`
	// Output is the location output keys are resolved in: what
	// OutputBucket (or ContentConfig.Bucket) names.
	Output string `json:"Output"`
	// Thumbnails is where thumbnails go when ThumbnailConfig names a
	// bucket apart from the outputs'; "" means Output.
	Thumbnails string `json:"Thumbnails,omitempty"`
	// ReadOnly marks a pipeline from the configuration file: the API may
	// pause and resume it but not change or delete it. Never stored.
	ReadOnly bool `json:"-"`
}

// Notifications are the SNS topic ARNs of Elastic Transcoder's four
// notification states; "" means none. ET always returned all four keys.
type Notifications struct {
	Progressing string `json:"Progressing"`
	Completed   string `json:"Completed"`
	Warning     string `json:"Warning"`
	Error       string `json:"Error"`
}

// OutputConfig is ET's ContentConfig or ThumbnailConfig. StorageClass and
// Permissions are kept and shown but not applied (they are S3 ACL
// features that S3-compatible stores mostly lack).
type OutputConfig struct {
	Bucket       string       `json:"Bucket,omitempty"`
	StorageClass string       `json:"StorageClass,omitempty"`
	Permissions  []Permission `json:"Permissions,omitempty"`
}

// Permission is one grant of an OutputConfig.
type Permission struct {
	GranteeType string   `json:"GranteeType,omitempty"`
	Grantee     string   `json:"Grantee,omitempty"`
	Access      []string `json:"Access,omitempty"`
}

// Clone returns a deep copy.
func (p *Pipeline) Clone() *Pipeline {
	c := *p
	if p.Notifications != nil {
		n := *p.Notifications
		c.Notifications = &n
	}
	c.ContentConfig = p.ContentConfig.clone()
	c.ThumbnailConfig = p.ThumbnailConfig.clone()
	return &c
}

func (o *OutputConfig) clone() *OutputConfig {
	if o == nil {
		return nil
	}
	c := *o
	c.Permissions = make([]Permission, len(o.Permissions))
	for i, p := range o.Permissions {
		p.Access = append([]string(nil), p.Access...)
		c.Permissions[i] = p
	}
	if o.Permissions == nil {
		c.Permissions = nil
	}
	return &c
}

// ConfigPipeline returns the catalog's view of a pipeline from the
// configuration file: read-only, with InputBucket and OutputBucket named
// as the API names buckets (BucketName). input and output are the
// pipeline's resolved location URLs; thumbnails may be "" (thumbnails go
// to output). The daemon converts each pipeline.Pipeline with it.
func ConfigPipeline(id, name, input, output, thumbnails string) *Pipeline {
	p := &Pipeline{
		ID: id, Name: name, Input: input, Output: output, Thumbnails: thumbnails, ReadOnly: true,
		InputBucket: BucketName(input), OutputBucket: BucketName(output),
		Notifications: &Notifications{},
	}
	if thumbnails != "" && thumbnails != output {
		p.OutputBucket = ""
		p.ContentConfig = &OutputConfig{Bucket: BucketName(output)}
		p.ThumbnailConfig = &OutputConfig{Bucket: BucketName(thumbnails)}
	}
	return p
}

// BucketName names a location the way the API shows buckets: "bucket" on
// the default store (s3:// URLs), "store/bucket" on a configured store.
// A location with a key prefix, or a local directory, has no such name:
// it is shown as its URL.
func BucketName(location string) string {
	loc, err := storage.ParseURL(location)
	if err != nil || loc.Store == storage.StoreFile || loc.Prefix != "" {
		return location
	}
	if loc.Store == storage.StoreS3 || loc.Store == storage.DefaultStore {
		return loc.Bucket
	}
	return loc.Store + "/" + loc.Bucket
}

// snsARN is the shape ET accepted for a notification topic.
var snsARN = regexp.MustCompile(`^arn:aws:sns:.*:\w{12}:.+$`)

// ValidTopic reports whether s is "" or an SNS topic ARN as Elastic
// Transcoder accepted it (arn:aws:sns:REGION:ACCOUNT:NAME).
func ValidTopic(s string) bool { return s == "" || snsARN.MatchString(s) }

// warnedTopics remembers the unmapped topics already logged, so that a
// notifier asking at every delivery does not repeat the warning.
var warnedTopics sync.Map

// Targets maps the pipeline's SNS topic ARNs to webhook URLs through sns
// (the api.sns_topics setting), signed with secret, so that the notifier
// delivers ET's notification JSON for pipelines made through the API. An
// ARN with no mapping is skipped, with one warning per ARN in the log.
func (p *Pipeline) Targets(sns map[string]string, secret string) notify.Targets {
	t := notify.Targets{Secret: secret}
	if p.Notifications == nil {
		return t
	}
	for _, s := range []struct {
		arn string
		dst *[]string
	}{
		{p.Notifications.Progressing, &t.Progressing},
		{p.Notifications.Completed, &t.Completed},
		{p.Notifications.Warning, &t.Warning},
		{p.Notifications.Error, &t.Error},
	} {
		arn := strings.TrimSpace(s.arn)
		if arn == "" {
			continue
		}
		if u, ok := sns[arn]; ok && u != "" {
			*s.dst = append(*s.dst, u)
			continue
		}
		if _, seen := warnedTopics.LoadOrStore(p.ID+" "+arn, true); !seen {
			slog.Warn("notification topic has no webhook: add it to api.sns_topics", "pipeline", p.ID, "topic", arn)
		}
	}
	return t
}
