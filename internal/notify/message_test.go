package notify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/notify"
	"github.com/transcoder/transcoder/jobs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Fixture IDs, ET-shaped.
const (
	testPipeline = "1700000000000-pipe01"
	testJob      = "1700000000123-job001"
)

// fixtureJob is a two-output job with a playlist in the given status,
// filled in as the engine fills it at that point.
func fixtureJob(status string) *jobs.Job {
	j := &jobs.Job{
		ID: testJob, PipelineID: testPipeline, Status: status, OutputKeyPrefix: "videos/cat/",
		Input: &jobs.JobInput{Key: "incoming/cat.mov", TimeSpan: &jobs.TimeSpan{StartTime: "1.500", Duration: "30.000"}},
		Outputs: []*jobs.JobOutput{
			{ID: "1", Key: "720p.mp4", PresetID: "1351620000001-000010", ThumbnailPattern: "720p-{count}", Rotate: "auto", Status: status},
			{ID: "2", Key: "hls/1m", PresetID: "1351620000001-200030", SegmentDuration: "6", Status: status},
		},
		Playlists:    []*jobs.Playlist{{Name: "hls/index", Format: "HLSv3", OutputKeys: []string{"hls/1m"}, Status: status}},
		UserMetadata: map[string]string{"customer": "acme 42", "path": "a/b=c"},
		Timing:       &jobs.Timing{SubmitTimeMillis: 1700000000123, StartTimeMillis: 1700000001000},
	}
	if status == jobs.StatusSubmitted {
		return j
	}
	j.Input.DetectedProperties = &jobs.DetectedProperties{Width: 1920, Height: 1080, FrameRate: "29.97", FileSize: 10485760, DurationMillis: 31500}
	if status == jobs.StatusComplete {
		j.Outputs[0].Duration, j.Outputs[0].DurationMillis = 30, 30000
		j.Outputs[0].Width, j.Outputs[0].Height, j.Outputs[0].FrameRate, j.Outputs[0].FileSize = 1280, 720, "29.97", 4194304
		j.Outputs[1].Duration, j.Outputs[1].DurationMillis = 30, 30010
		j.Outputs[1].Width, j.Outputs[1].Height, j.Outputs[1].FrameRate, j.Outputs[1].FileSize = 640, 360, "29.97", 1048576
		j.Timing.FinishTimeMillis = 1700000031000
	}
	return j
}

func withWarnings(j *jobs.Job) *jobs.Job {
	j.Outputs[1].Warnings = []string{"HE-AAC is not available (no libfdk_aac); the output has AAC-LC"}
	return j
}

// failedJob failed on its first output; the second was done.
func failedJob(detail string) *jobs.Job {
	j := fixtureJob(jobs.StatusError)
	j.Outputs[0].StatusDetail = detail
	j.Outputs[1].Status = jobs.StatusComplete
	j.Playlists[0].StatusDetail = detail
	j.Timing.FinishTimeMillis = 1700000002000
	return j
}

// TestMessageGolden pins the notification JSON of each state against
// testdata/*.json (go test -run TestMessageGolden -update rewrites them).
func TestMessageGolden(t *testing.T) {
	tests := []struct {
		name  string
		job   *jobs.Job
		state string
	}{
		{"progressing", fixtureJob(jobs.StatusProgressing), notify.StateProgressing},
		{"completed", fixtureJob(jobs.StatusComplete), notify.StateCompleted},
		{"warning", withWarnings(fixtureJob(jobs.StatusComplete)), notify.StateWarning},
		{"error", failedJob("3002 output already exists: videos/cat/720p.mp4"), notify.StateError},
		{"error-without-code", failedJob("ffmpeg: killed"), notify.StateError},
		{"minimal", &jobs.Job{ID: testJob, Status: jobs.StatusProgressing}, notify.StateProgressing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := notify.Message(tc.job, tc.state)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, got, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s differs from the golden file:\n%s", tc.name, pretty.Bytes())
			}
		})
	}
}

// TestMessageMatchesET rebuilds a real Elastic Transcoder COMPLETED
// message (reference §4) from the job it describes: same keys, same
// order, same bytes.
func TestMessageMatchesET(t *testing.T) {
	const real = `{"state":"COMPLETED","version":"2012-09-25","jobId":"1478574570158-t6i6ud","pipelineId":"1477544179677-j0ddby",` +
		`"input":{"key":"temp/test/1/3089/m/1039"},` +
		`"outputs":[{"id":"1","presetId":"1351620000001-000050","key":"test/1/3089/m/1039",` +
		`"thumbnailPattern":"test_1_3089_m_1039_{count}","status":"Complete","duration":5,"width":202,"height":360}]}`
	job := &jobs.Job{
		ID: "1478574570158-t6i6ud", PipelineID: "1477544179677-j0ddby", Status: jobs.StatusComplete,
		Input: &jobs.JobInput{Key: "temp/test/1/3089/m/1039"},
		Outputs: []*jobs.JobOutput{{ID: "1", PresetID: "1351620000001-000050", Key: "test/1/3089/m/1039",
			ThumbnailPattern: "test_1_3089_m_1039_{count}", Status: jobs.StatusComplete, Duration: 5, Width: 202, Height: 360}},
	}
	got, err := notify.Message(job, notify.StateCompleted)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != real {
		t.Errorf("got\n%s\nwant\n%s", got, real)
	}
}

// TestMessageError checks the fields an ERROR adds, and that they appear
// only there.
func TestMessageError(t *testing.T) {
	tests := []struct {
		name        string
		job         *jobs.Job
		state       string
		wantCode    int
		wantDetails string
	}{
		{"output code", failedJob("3002 output already exists: x"), notify.StateError, 3002, "3002 output already exists: x"},
		{"no code", failedJob("ffmpeg: killed"), notify.StateError, 9000, "ffmpeg: killed"},
		{"no detail", &jobs.Job{ID: testJob, Status: jobs.StatusError}, notify.StateError, 9000, "9000 the job failed"},
		{"not an error", fixtureJob(jobs.StatusComplete), notify.StateCompleted, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := notify.NewNotification(tc.job, tc.state)
			if err != nil {
				t.Fatal(err)
			}
			if n.ErrorCode != tc.wantCode || n.MessageDetails != tc.wantDetails {
				t.Errorf("errorCode %d, messageDetails %q; want %d, %q", n.ErrorCode, n.MessageDetails, tc.wantCode, tc.wantDetails)
			}
		})
	}
}

func TestMessageRefuses(t *testing.T) {
	if _, err := notify.Message(nil, notify.StateCompleted); err == nil {
		t.Error("nil job accepted")
	}
	_, err := notify.Message(fixtureJob(jobs.StatusComplete), "Complete")
	if err == nil || !strings.Contains(err.Error(), `state "Complete"; allowed: PROGRESSING, COMPLETED, WARNING, ERROR`) {
		t.Errorf("got %v", err)
	}
}

// TestStates maps job statuses to notification states.
func TestStates(t *testing.T) {
	tests := []struct {
		name string
		job  *jobs.Job
		want []string
	}{
		{"submitted", fixtureJob(jobs.StatusSubmitted), nil},
		{"progressing", fixtureJob(jobs.StatusProgressing), []string{notify.StateProgressing}},
		{"complete", fixtureJob(jobs.StatusComplete), []string{notify.StateCompleted}},
		{"complete with warnings", withWarnings(fixtureJob(jobs.StatusComplete)), []string{notify.StateWarning, notify.StateCompleted}},
		{"error", failedJob("3001 input does not exist"), []string{notify.StateError}},
		{"canceled", fixtureJob(jobs.StatusCanceled), nil},
		{"nil", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := notify.States(tc.job); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		detail string
		code   int
		ok     bool
	}{
		{"3002 output already exists: a.mp4", 3002, true},
		{"4000 bad input", 4000, true},
		{"9999", 9999, true},
		{"Canceled", 0, false},
		{"300 short", 0, false},
		{"12345 long", 0, false},
		{"+300 signed", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		code, ok := notify.ErrorCode(tc.detail)
		if code != tc.code || ok != tc.ok {
			t.Errorf("ErrorCode(%q) = %d, %v; want %d, %v", tc.detail, code, ok, tc.code, tc.ok)
		}
	}
}
