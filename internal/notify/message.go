package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transcoder/transcoder/jobs"
)

// Notification states, Elastic Transcoder's four.
const (
	StateProgressing = "PROGRESSING"
	StateCompleted   = "COMPLETED"
	StateWarning     = "WARNING"
	StateError       = "ERROR"
)

// Version is the API version every notification carries.
const Version = "2012-09-25"

// internalErrorCode is ET's "internal service error", for a failed job
// whose outputs carry no code of their own.
const internalErrorCode = 9000

// Notification is Elastic Transcoder's notification message (the SNS
// Message of ET), lowerCamelCase unlike the API. Receivers may decode
// deliveries into it; fields follow ET's order.
type Notification struct {
	State string `json:"state"`
	// ErrorCode and MessageDetails are set for StateError only: the code
	// and status detail of the first output that failed.
	ErrorCode       int                    `json:"errorCode,omitempty"`
	MessageDetails  string                 `json:"messageDetails,omitempty"`
	Version         string                 `json:"version"`
	JobID           string                 `json:"jobId"`
	PipelineID      string                 `json:"pipelineId"`
	Input           *NotificationInput     `json:"input,omitempty"`
	OutputKeyPrefix string                 `json:"outputKeyPrefix,omitempty"`
	Outputs         []NotificationOutput   `json:"outputs"`
	Playlists       []NotificationPlaylist `json:"playlists,omitempty"`
	UserMetadata    map[string]string      `json:"userMetadata,omitempty"`
}

// NotificationInput is the job's input settings and, once probed, what
// was detected in it.
type NotificationInput struct {
	Key                string              `json:"key"`
	FrameRate          string              `json:"frameRate,omitempty"`
	Resolution         string              `json:"resolution,omitempty"`
	AspectRatio        string              `json:"aspectRatio,omitempty"`
	Interlaced         string              `json:"interlaced,omitempty"`
	Container          string              `json:"container,omitempty"`
	TimeSpan           *TimeSpan           `json:"timeSpan,omitempty"`
	DetectedProperties *DetectedProperties `json:"detectedProperties,omitempty"`
}

// TimeSpan is a clip of the input.
type TimeSpan struct {
	StartTime string `json:"startTime,omitempty"`
	Duration  string `json:"duration,omitempty"`
}

// DetectedProperties are what probing the input found.
type DetectedProperties struct {
	Width          int64  `json:"width,omitempty"`
	Height         int64  `json:"height,omitempty"`
	FrameRate      string `json:"frameRate,omitempty"`
	FileSize       int64  `json:"fileSize,omitempty"`
	DurationMillis int64  `json:"durationMillis,omitempty"`
}

// NotificationOutput is one output's settings, status and, once
// Complete, measured properties. Status takes the job output's values
// (Complete, not the "Completed" of ET's documentation).
type NotificationOutput struct {
	ID               string `json:"id"`
	PresetID         string `json:"presetId"`
	Key              string `json:"key"`
	ThumbnailPattern string `json:"thumbnailPattern,omitempty"`
	Rotate           string `json:"rotate,omitempty"`
	SegmentDuration  string `json:"segmentDuration,omitempty"`
	Status           string `json:"status"`
	StatusDetail     string `json:"statusDetail,omitempty"`
	// ErrorCode is set on a failed output whose detail starts with a code.
	ErrorCode      int    `json:"errorCode,omitempty"`
	Duration       int64  `json:"duration,omitempty"`
	Width          int64  `json:"width,omitempty"`
	Height         int64  `json:"height,omitempty"`
	FrameRate      string `json:"frameRate,omitempty"`
	FileSize       int64  `json:"fileSize,omitempty"`
	DurationMillis int64  `json:"durationMillis,omitempty"`
	// Warnings are ours (ET had no such field): what the output could not
	// do as its preset asked. They are what a WARNING notification is
	// about.
	Warnings []string `json:"warnings,omitempty"`
}

// NotificationPlaylist is one playlist's settings and status.
type NotificationPlaylist struct {
	Name         string   `json:"name"`
	Format       string   `json:"format"`
	OutputKeys   []string `json:"outputKeys"`
	Status       string   `json:"status,omitempty"`
	StatusDetail string   `json:"statusDetail,omitempty"`
}

// States returns the notifications a job's state change calls for, in
// the order they are sent:
//
//   - Progressing: PROGRESSING;
//   - Complete: WARNING when an output has warnings, then COMPLETED;
//   - Error: ERROR;
//   - Submitted, Canceled: none, as Elastic Transcoder sent none (its
//     pipelines had no topic for them).
func States(job *jobs.Job) []string {
	if job == nil {
		return nil
	}
	switch job.Status {
	case jobs.StatusProgressing:
		return []string{StateProgressing}
	case jobs.StatusComplete:
		for _, o := range job.Outputs {
			if o != nil && len(o.Warnings) > 0 {
				return []string{StateWarning, StateCompleted}
			}
		}
		return []string{StateCompleted}
	case jobs.StatusError:
		return []string{StateError}
	}
	return nil
}

// Message returns Elastic Transcoder's notification JSON for a job in a
// notification state.
func Message(job *jobs.Job, state string) ([]byte, error) {
	n, err := NewNotification(job, state)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("notification for job %s: %w", job.ID, err)
	}
	return data, nil
}

// NewNotification builds the notification Message marshals.
func NewNotification(job *jobs.Job, state string) (*Notification, error) {
	if job == nil {
		return nil, errors.New("notification: no job")
	}
	switch state {
	case StateProgressing, StateCompleted, StateWarning, StateError:
	default:
		return nil, fmt.Errorf("notification for job %s: state %q; allowed: %s, %s, %s, %s",
			job.ID, state, StateProgressing, StateCompleted, StateWarning, StateError)
	}
	n := &Notification{
		State: state, Version: Version, JobID: job.ID, PipelineID: job.PipelineID,
		OutputKeyPrefix: job.OutputKeyPrefix, UserMetadata: job.UserMetadata,
		Outputs: make([]NotificationOutput, 0, len(job.Outputs)),
	}
	if in := job.Input; in != nil {
		n.Input = &NotificationInput{
			Key: in.Key, FrameRate: in.FrameRate, Resolution: in.Resolution, AspectRatio: in.AspectRatio,
			Interlaced: in.Interlaced, Container: in.Container,
		}
		if ts := in.TimeSpan; ts != nil {
			n.Input.TimeSpan = &TimeSpan{StartTime: ts.StartTime, Duration: ts.Duration}
		}
		if d := in.DetectedProperties; d != nil {
			n.Input.DetectedProperties = &DetectedProperties{
				Width: d.Width, Height: d.Height, FrameRate: d.FrameRate, FileSize: d.FileSize,
				DurationMillis: d.DurationMillis,
			}
		}
	}
	for _, o := range job.Outputs {
		if o == nil {
			continue
		}
		no := NotificationOutput{
			ID: o.ID, PresetID: o.PresetID, Key: o.Key, ThumbnailPattern: o.ThumbnailPattern, Rotate: o.Rotate,
			SegmentDuration: o.SegmentDuration, Status: o.Status, StatusDetail: o.StatusDetail,
			Duration: o.Duration, Width: o.Width, Height: o.Height, FrameRate: o.FrameRate,
			FileSize: o.FileSize, DurationMillis: o.DurationMillis, Warnings: o.Warnings,
		}
		if o.Status == jobs.StatusError {
			no.ErrorCode, _ = ErrorCode(o.StatusDetail)
		}
		n.Outputs = append(n.Outputs, no)
	}
	for _, p := range job.Playlists {
		if p == nil {
			continue
		}
		n.Playlists = append(n.Playlists, NotificationPlaylist{
			Name: p.Name, Format: p.Format, OutputKeys: p.OutputKeys, Status: p.Status, StatusDetail: p.StatusDetail,
		})
	}
	if state == StateError {
		n.ErrorCode, n.MessageDetails = jobError(job)
	}
	return n, nil
}

// jobError returns the code and detail of the first failed output (or
// else playlist) whose detail has a code; failing that, the first detail
// found with ET's internal-error code, so that an ERROR always has one.
func jobError(job *jobs.Job) (int, string) {
	var details []string
	for _, o := range job.Outputs {
		if o != nil && o.Status == jobs.StatusError && o.StatusDetail != "" {
			details = append(details, o.StatusDetail)
		}
	}
	for _, p := range job.Playlists {
		if p != nil && p.Status == jobs.StatusError && p.StatusDetail != "" {
			details = append(details, p.StatusDetail)
		}
	}
	for _, d := range details {
		if code, ok := ErrorCode(d); ok {
			return code, d
		}
	}
	if len(details) > 0 {
		return internalErrorCode, details[0]
	}
	return internalErrorCode, strconv.Itoa(internalErrorCode) + " the job failed"
}

// ErrorCode parses the Elastic Transcoder error code that starts a
// status detail ("3002 output already exists: …" → 3002).
func ErrorCode(detail string) (int, bool) {
	head, _, _ := strings.Cut(detail, " ")
	if len(head) != 4 {
		return 0, false
	}
	code, err := strconv.Atoi(head)
	if err != nil || code < 1000 {
		return 0, false
	}
	return code, true
}
