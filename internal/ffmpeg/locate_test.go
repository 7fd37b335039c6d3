package ffmpeg

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocate(t *testing.T) {
	notExec := writeFile(t, "ffmpeg", []byte("not a program"))
	tests := []struct {
		name            string
		ffmpeg, ffprobe string
		emptyPath       bool     // run with $PATH pointing at an empty directory
		wantErrContains []string // empty: success expected
	}{
		{name: "from PATH"},
		{name: "bare names", ffmpeg: "ffmpeg", ffprobe: "ffprobe"},
		{name: "explicit paths", ffmpeg: tools.FFmpeg, ffprobe: tools.FFprobe},
		{
			name: "bad ffmpeg path", ffmpeg: "/nonexistent/bin/ffmpeg",
			wantErrContains: []string{`"/nonexistent/bin/ffmpeg"`, "apt-get install ffmpeg", "brew install ffmpeg", "--ffmpeg"},
		},
		{
			name: "not executable", ffprobe: notExec,
			wantErrContains: []string{"ffprobe", notExec, "not an executable", "apt-get install ffmpeg"},
		},
		{
			name: "nothing in PATH", emptyPath: true,
			wantErrContains: []string{"ffmpeg is not in $PATH", "ffprobe is not in $PATH", "apt-get install ffmpeg", "--ffprobe"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: t.Setenv.
			if tt.emptyPath {
				t.Setenv("PATH", t.TempDir())
			}
			got, err := Locate(tt.ffmpeg, tt.ffprobe)
			if len(tt.wantErrContains) == 0 {
				if err != nil {
					t.Fatalf("Locate: %v", err)
				}
				if got != tools {
					t.Errorf("Locate = %+v, want %+v", got, tools)
				}
				if !filepath.IsAbs(got.FFmpeg) || !filepath.IsAbs(got.FFprobe) {
					t.Errorf("paths are not absolute: %+v", got)
				}
				return
			}
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Locate error = %v, want one wrapping ErrNotFound", err)
			}
			for _, want := range tt.wantErrContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}
