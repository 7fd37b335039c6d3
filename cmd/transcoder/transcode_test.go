package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/testmedia"
)

// runBinary runs the built transcoder and returns its output and status.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, rel)
		}
		return nil
	})
	return files
}

func TestTranscodeCLI(t *testing.T) {
	in := testmedia.Path(t, testmedia.Tiny)
	out := t.TempDir()
	stdout, stderr, code := runBinary(t, "transcode", in, "-p", "generic-360p-16-9", "-p", "audio-mp3-128k", "-o", out, "--thumbnails", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var job struct {
		Id     string
		Status string
		Input  struct {
			DetectedProperties struct{ Width, Height, DurationMillis int64 }
		}
		Outputs []struct {
			Key, PresetId, Status, ThumbnailPattern string
			Width, Height, DurationMillis, FileSize int64
		}
		Timing struct{ SubmitTimeMillis, StartTimeMillis, FinishTimeMillis int64 }
	}
	if err := json.Unmarshal([]byte(stdout), &job); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, stdout)
	}
	base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
	if job.Status != "Complete" || len(job.Outputs) != 2 || job.Input.DetectedProperties.Width != 320 ||
		job.Timing.FinishTimeMillis < job.Timing.StartTimeMillis || job.Timing.StartTimeMillis < job.Timing.SubmitTimeMillis {
		t.Fatalf("job = %+v", job)
	}
	v, a := job.Outputs[0], job.Outputs[1]
	if v.Key != base+"-generic-360p-16-9.mp4" || v.PresetId != "1351620000001-000040" || v.Status != "Complete" ||
		v.Width != 320 || v.Height != 240 || v.FileSize == 0 || v.ThumbnailPattern != base+"-generic-360p-16-9-{count}" {
		t.Errorf("video output = %+v", v)
	}
	if a.Key != base+"-audio-mp3-128k.mp3" || a.Width != 0 || a.DurationMillis < 900 {
		t.Errorf("audio output = %+v", a)
	}
	want := []string{base + "-audio-mp3-128k.mp3", base + "-generic-360p-16-9-00001.png", base + "-generic-360p-16-9.mp4"}
	if got := listFiles(t, out); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("files = %v, want %v", got, want)
	}

	// Again without --overwrite: Elastic Transcoder's 3002, nothing touched.
	_, stderr, code = runBinary(t, "transcode", in, "-p", "generic-360p-16-9", "-o", out)
	if code != 1 || !strings.Contains(stderr, "output already exists") || !strings.Contains(stderr, "--overwrite") {
		t.Errorf("existing output: exit %d, %q", code, stderr)
	}
	if _, _, code = runBinary(t, "transcode", in, "-p", "generic-360p-16-9", "-o", out, "--overwrite"); code != 0 {
		t.Errorf("--overwrite: exit %d", code)
	}

	// A plain run prints a table of outputs.
	stdout, _, code = runBinary(t, "transcode", in, "-p", "audio-aac-64k", "-o", out)
	if code != 0 || !strings.HasPrefix(stdout, "OUTPUT") || !strings.Contains(stdout, "-audio-aac-64k.mp4") {
		t.Errorf("table output (exit %d):\n%s", code, stdout)
	}
}

func TestTranscodeDryRun(t *testing.T) {
	in := testmedia.Path(t, testmedia.Tiny)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := runBinary(t, "transcode", in, "-p", "generic-720p", "-o", out, "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"ffmpeg -nostdin", "-protocol_whitelist file,pipe", "-c:v libx264", "-profile:v baseline",
		filepath.Join(out, strings.TrimSuffix(filepath.Base(in), ".mp4")+"-generic-720p.mp4")} {
		if !strings.Contains(stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, stdout)
		}
	}
	if files := listFiles(t, out); len(files) != 0 {
		t.Errorf("dry run left files: %v", files)
	}
}

func TestTranscodeBadInput(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.mp4")
	os.WriteFile(text, []byte("this is not a video\n"), 0o644)
	good, err := os.ReadFile(testmedia.Path(t, testmedia.Tiny))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mp4")
	os.WriteFile(truncated, good[:len(good)/3], 0o644)
	in := testmedia.Path(t, testmedia.Tiny)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"missing file", []string{filepath.Join(dir, "nope.mp4"), "-p", "generic-720p"}, []string{"nope.mp4", "no such file"}},
		{"text renamed mp4", []string{text, "-p", "generic-720p"}, []string{"notes.mp4", "not a readable media file"}},
		{"truncated", []string{truncated, "-p", "generic-720p"}, []string{"truncated.mp4"}},
		{"unknown preset", []string{in, "-p", "generic-702p"}, []string{`unknown preset "generic-702p"`, "generic-720p"}},
		{"no ffmpeg", []string{in, "-p", "generic-720p", "--ffmpeg", filepath.Join(dir, "no-ffmpeg")}, []string{"apt-get install ffmpeg"}},
		{"bad clip", []string{in, "-p", "generic-720p", "--start", "ten"}, []string{`--start "ten"`, "allowed:"}},
		{"bad key", []string{in, "-p", "generic-720p", "--key", "../{{.Base}}.mp4"}, []string{"must not contain '..'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, stderr, code := runBinary(t, append([]string{"transcode", "-o", out}, tt.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n > 3 {
				t.Errorf("want one clear error, got %d lines:\n%s", n+1, stderr)
			}
			if files := listFiles(t, out); len(files) != 0 {
				t.Errorf("left files behind: %v", files)
			}
		})
	}
}

// TestTranscodeInterrupt sends SIGINT mid-encode: ffmpeg stops, partial
// outputs are removed and the exit status is 130.
func TestTranscodeInterrupt(t *testing.T) {
	in := testmedia.Path(t, testmedia.Spec{Width: 1920, Height: 1080, Rate: 30, Seconds: 20, Audio: true})
	out := t.TempDir()
	cmd := exec.Command(buildBinary(t), "transcode", in, "-p", "generic-1080p", "-p", "generic-720p", "-o", out)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until ffmpeg reports progress, so that it is really running.
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "progress:") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	go func() {
		for sc.Scan() {
		}
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit = %v, want status 130", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to stop", d)
	}
	if files := listFiles(t, out); len(files) != 0 {
		t.Errorf("left files behind: %v", files)
	}
}

func TestTranscodeSegmentDurationNeedsHLS(t *testing.T) {
	in := testmedia.Path(t, testmedia.Tiny)
	_, stderr, code := runBinary(t, "transcode", in, "-p", "generic-720p", "--segment-duration", "6", "-o", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "--segment-duration applies to ts and fmp4 presets") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// TestTranscodePlaylists: a ladder preset makes a master playlist and an
// MPD named after the input, beside the rungs (1080p and 720p dropped for
// an 854×480 source), listed in the JSON job as Complete.
func TestTranscodePlaylists(t *testing.T) {
	in := testmedia.Path(t, testmedia.Streaming)
	out := t.TempDir()
	stdout, stderr, code := runBinary(t, "transcode", in, "-p", "hls-1080p-ladder", "--segment-duration", "2",
		"--key", "{{.Base}}/{{.Alias}}", "-o", out, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var job struct {
		Outputs   []struct{ Key string }
		Playlists []struct{ Name, Format, Status string }
	}
	if err := json.Unmarshal([]byte(stdout), &job); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
	if len(job.Outputs) != 3 || len(job.Playlists) != 2 {
		t.Fatalf("outputs %+v, playlists %+v", job.Outputs, job.Playlists)
	}
	for i, want := range []string{"HLSv7", "MPEG-DASH"} {
		p := job.Playlists[i]
		if p.Name != base+"/"+base || p.Format != want || p.Status != "Complete" {
			t.Errorf("playlist %d: %+v, want %s/%s %s Complete", i, p, base, base, want)
		}
	}
	master, err := os.ReadFile(filepath.Join(out, base, base+".m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"#EXT-X-VERSION:7", `URI="cmaf-aac-128k.m3u8"`, "cmaf-h264-480p.m3u8", "cmaf-h264-360p.m3u8"} {
		if !strings.Contains(string(master), want) {
			t.Errorf("master playlist has no %s:\n%s", want, master)
		}
	}
	if _, err := os.Stat(filepath.Join(out, base, base+".mpd")); err != nil {
		t.Error(err)
	}
}

// TestTranscodePlaylistErrors: bad playlists are refused before anything
// is encoded or written, with Elastic Transcoder's message where it had one.
func TestTranscodePlaylistErrors(t *testing.T) {
	in := testmedia.Path(t, testmedia.Tiny)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"key outside the prefix", []string{"-p", "hls-1m", "-p", "hls-400k", "--key", "hls/{{.Alias}}", "--playlist", "other/index"},
			"All outputs in a playlist must begin identically to the playlist name upto the last / character."},
		{"HLSv4 over fmp4", []string{"-p", "hls-1080p-ladder", "--playlist-format", "hlsv4"}, "--playlist-format HLSv4 needs ts presets"},
		{"unknown format", []string{"-p", "hls-1080p-ladder", "--playlist-format", "smooth"}, "allowed: hlsv3, hlsv4, hlsv7, dash, none"},
		{"no streaming preset", []string{"-p", "generic-720p", "--playlist-format", "dash"}, "a playlist needs ts or fmp4 presets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			_, stderr, code := runBinary(t, append([]string{"transcode", in, "-o", out}, tt.args...)...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q, want 1 and %q", code, stderr, tt.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the output directory was made: %v", err)
			}
		})
	}
}
