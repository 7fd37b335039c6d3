package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunProgress(t *testing.T) {
	t.Parallel()
	in, err := tools.Probe(context.Background(), fixture(fixLandscape))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.mp4")
	// -re paces reading to real time so several progress blocks are written.
	args := concat([]string{"-re"}, input(fixture(fixLandscape)), []string{
		"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-y", out})

	var (
		reports    []Progress
		stderrCopy bytes.Buffer
	)
	err = tools.Run(context.Background(), args, RunOptions{
		Duration:   in.Duration,
		OnProgress: func(p Progress) { reports = append(reports, p) }, // one goroutine: no lock needed
		Stderr:     &stderrCopy,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(reports) < 2 {
		t.Fatalf("got %d progress reports, want several: %+v", len(reports), reports)
	}
	last := reports[len(reports)-1]
	if !last.Done || last.Percent != 100 || last.ETA != 0 {
		t.Errorf("last report = %+v, want Done at 100%%", last)
	}
	if last.Frame != 50 || !near(last.OutTime, 2*time.Second, 100*time.Millisecond) {
		t.Errorf("last report = %+v, want 50 frames and about 2s", last)
	}
	for i, p := range reports {
		if p.Percent < 0 || p.Percent > 100 || (i > 0 && p.Percent < reports[i-1].Percent) {
			t.Errorf("report %d: percent %v out of range or decreasing (previous %v)", i, p.Percent, reports[max(i-1, 0)].Percent)
		}
		if p.Done != (i == len(reports)-1) {
			t.Errorf("report %d: Done = %v", i, p.Done)
		}
	}
	if !slices.ContainsFunc(reports, func(p Progress) bool { return p.Percent > 0 && p.Percent < 100 && p.ETA > 0 }) {
		t.Errorf("no report in between with a percentage and an ETA: %+v", reports)
	}

	res, err := tools.Probe(context.Background(), out)
	if err != nil {
		t.Fatalf("probe output: %v", err)
	}
	if v := res.Video(); v == nil || v.Codec != "h264" || !near(res.Duration, 2*time.Second, 100*time.Millisecond) {
		t.Errorf("output is not a 2s h264 file: %+v", res)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	playlist := writeFile(t, "playlist.mp4", []byte(hlsPlaylist(fixture(fixInterlaced))))
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantMsg    string // the whole of Error()
		wantStderr string
		wantIs     error
	}{
		{
			name:       "unknown encoder",
			args:       concat(input(fixture(fixLandscape)), []string{"-c:v", "nonexistent", "-f", "null", "-"}),
			wantCode:   1,
			wantMsg:    "ffmpeg exited with status 1: Unknown encoder 'nonexistent'",
			wantStderr: "Unknown encoder 'nonexistent'",
		},
		{
			name:       "bad option",
			args:       []string{"-no-such-option"},
			wantCode:   1,
			wantMsg:    "ffmpeg exited with status 1: Unrecognized option 'no-such-option'; Error splitting the argument list: Option not found",
			wantStderr: "Unrecognized option",
		},
		{
			name:       "encoder cannot open",
			args:       concat(input(fixture(fixLandscape)), []string{"-vf", "scale=10:7", "-c:v", "libx264", "-an", "-y", filepath.Join(dir, "odd.mp4")}),
			wantCode:   1,
			wantStderr: "height not divisible by 2",
		},
		{
			name:       "refused input format",
			args:       concat(input(playlist), []string{"-f", "null", "-"}),
			wantCode:   1,
			wantStderr: "Format not on whitelist",
			wantIs:     ErrFormatNotAllowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tools.Run(context.Background(), tt.args, RunOptions{})
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("Run error = %v, want *ExitError", err)
			}
			t.Logf("error: %v", err)
			if ee.Code != tt.wantCode {
				t.Errorf("Code = %d, want %d", ee.Code, tt.wantCode)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("Error() = %q, want %q", err, tt.wantMsg)
			}
			if !strings.Contains(ee.Stderr, tt.wantStderr) {
				t.Errorf("Stderr = %q, want it to contain %q", ee.Stderr, tt.wantStderr)
			}
			if !strings.Contains(err.Error(), tt.wantStderr) {
				t.Errorf("Error() = %q does not show %q", err, tt.wantStderr)
			}
			if want := concat([]string{tools.FFmpeg}, globalArgs, tt.args); !slices.Equal(ee.Args, want) {
				t.Errorf("Args = %q, want %q", ee.Args, want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error does not wrap %v", tt.wantIs)
			}
			if tt.wantIs == nil && errors.Is(err, ErrFormatNotAllowed) {
				t.Errorf("error wrongly wraps ErrFormatNotAllowed")
			}
		})
	}
}

func TestRunNotStarted(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		tools  Tools
		ctx    context.Context
		wantIs error
		want   string
	}{
		{"canceled context", tools, canceled, context.Canceled, "not started"},
		{"zero Tools", Tools{}, context.Background(), nil, "use ffmpeg.Locate"},
		{"missing binary", Tools{FFmpeg: "/nonexistent/ffmpeg"}, context.Background(), nil, "start ffmpeg"},
	}
	for _, tt := range tests {
		err := tt.tools.Run(tt.ctx, []string{"-version"}, RunOptions{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.wantIs != nil && !errors.Is(err, tt.wantIs)) {
			t.Errorf("%s: Run = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestRunSlowCallback checks that a callback slower than ffmpeg's reports neither holds
// the run up nor loses the final report, and that no callback runs after Run returns.
func TestRunSlowCallback(t *testing.T) {
	t.Parallel()
	var (
		mu       sync.Mutex
		returned bool
		last     Progress
		calls    int
	)
	args := concat(input(fixture(fixLandscape)), []string{"-f", "null", "-"})
	err := tools.Run(context.Background(), args, RunOptions{
		Duration: 2 * time.Second,
		OnProgress: func(p Progress) {
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			defer mu.Unlock()
			if returned {
				t.Error("callback after Run returned")
			}
			last, calls = p, calls+1
		},
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || !last.Done || last.Percent != 100 {
		t.Errorf("after %d calls the last report is %+v, want Done at 100%%", calls, last)
	}
}
