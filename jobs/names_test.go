package jobs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

// TestPatternCharactersInNames: keys and directories with characters that
// globs treat specially ("Movie [1080p]", "gl[1]", "*") are ordinary names:
// thumbnails and segments are found, and existing outputs are refused.
func TestPatternCharactersInNames(t *testing.T) {
	env := e2eTools(t)
	dir := filepath.Join(t.TempDir(), "gl[1]*")
	outputs := func() []jobs.OutputRequest {
		return []jobs.OutputRequest{
			{Key: "Movie [1080p]/web?.mp4", Preset: lookup(t, "generic-360p-16-9"), ThumbnailPattern: "Movie [1080p]/th[1]-{count}"},
			{Key: "Movie [1080p]/hls*", Preset: lookup(t, "hls-400k"), SegmentDuration: "1"},
		}
	}
	in := testmedia.Path(t, testmedia.Tiny)
	job, _ := transcode(t, in, jobs.LocalRequest{OutputDir: dir, Outputs: outputs()})
	want := []string{"Movie [1080p]", "Movie [1080p]/hls*.m3u8", "Movie [1080p]/hls*00000.ts",
		"Movie [1080p]/th[1]-00001.png", "Movie [1080p]/web?.mp4"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %q\nwant %q", got, want)
	}
	if job.Outputs[1].DurationMillis < 900 {
		t.Errorf("segmented output duration %d ms", job.Outputs[1].DurationMillis)
	}
	_, err := jobs.TranscodeLocal(context.Background(), env.tools, jobs.LocalRequest{Input: in, OutputDir: dir, Outputs: outputs(), Caps: env.caps})
	if !errors.Is(err, jobs.ErrOutputExists) {
		t.Fatalf("second run: %v, want ErrOutputExists", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Movie [1080p]", "web?.mp4")); err != nil {
		t.Fatal(err)
	}
}

// loggingTools records the ffmpeg runs of a job, in order, beside the
// publications.
type loggingTools struct {
	jobs.Tools
	log *[]string
}

func (l loggingTools) Run(ctx context.Context, args []string, opts ffmpeg.RunOptions) error {
	*l.log = append(*l.log, "run")
	return l.Tools.Run(ctx, args, opts)
}

// TestPublishAsFinished: with one process per output, each output is
// published as soon as its process has finished, before the next runs.
func TestPublishAsFinished(t *testing.T) {
	env := e2eTools(t)
	var log []string
	req := jobs.LocalRequest{
		Input: testmedia.Path(t, testmedia.Tiny), OutputDir: t.TempDir(), Isolate: true, Caps: env.caps,
		Outputs: []jobs.OutputRequest{{Key: "a.mp3", Preset: lookup(t, "audio-mp3-128k")}, {Key: "b.mp4", Preset: lookup(t, "audio-aac-64k")}},
		Publish: func(_ context.Context, _ string, files []string) error {
			log = append(log, "publish "+strings.Join(files, ","))
			return nil
		},
	}
	if _, err := jobs.TranscodeLocal(context.Background(), loggingTools{env.tools, &log}, req); err != nil {
		t.Fatal(err)
	}
	want := []string{"run", "publish a.mp3", "run", "publish b.mp4"}
	if !slices.Equal(log, want) {
		t.Fatalf("order = %q, want %q", log, want)
	}
}
