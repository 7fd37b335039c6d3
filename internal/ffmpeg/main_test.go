package ffmpeg

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Shared by all tests; set up by TestMain.
var (
	tools      Tools
	fixtureDir string
)

// Fixtures generated once by TestMain (names inside fixtureDir).
const (
	fixLandscape  = "landscape.mp4" // 320x240, 25 fps, 2 s, h264 + aac
	fixRotated    = "rotated.mp4"   // fixLandscape remuxed with a 90° clockwise display matrix
	fixAudio      = "audio.m4a"     // 2 s sine, aac
	fixInterlaced = "interlaced.ts" // mpeg2video, top field first
	fixBox        = "box.mp4"       // 64x32, white square in the top-left corner
)

func TestMain(m *testing.M) {
	if marker := os.Getenv(helperEnv); marker != "" {
		os.Exit(runHelper(marker))
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	// Tests never skip for want of ffmpeg: a missing ffmpeg is a failure.
	tools, err = Locate("", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "internal/ffmpeg tests need ffmpeg and ffprobe:", err)
		return 1
	}
	fixtureDir, err = os.MkdirTemp("", "ffmpeg-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(fixtureDir)
	if err := makeFixtures(); err != nil {
		fmt.Fprintln(os.Stderr, "generate test media:", err)
		return 1
	}
	return m.Run()
}

// makeFixtures generates the shared media; independent files are made in parallel.
func makeFixtures() error {
	lavfi := func(graph string) []string { return []string{"-f", "lavfi", "-i", graph} }
	x264 := []string{"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"}
	jobs := map[string][]string{
		fixLandscape: concat(lavfi("testsrc2=size=320x240:rate=25:duration=2"),
			lavfi("sine=frequency=440:duration=2"), x264, []string{"-c:a", "aac"}),
		fixAudio: concat(lavfi("sine=frequency=440:duration=2"), []string{"-c:a", "aac"}),
		fixInterlaced: concat(lavfi("testsrc2=size=320x240:rate=25:duration=1"),
			[]string{"-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-top", "1"}),
		fixBox: concat(lavfi("color=black:size=64x32:duration=0.2,drawbox=x=0:y=0:w=16:h=16:color=white:t=fill"), x264),
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for name, args := range jobs {
		wg.Go(func() {
			if err := generate(concat(args, []string{filepath.Join(fixtureDir, name)})...); err != nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	// ffmpeg 5.1 has no -display_rotation; its "rotate" metadata still sets the display
	// matrix, with 270 giving ffprobe rotation -90, i.e. 90° clockwise for display.
	return generate("-i", fixture(fixLandscape), "-c", "copy", "-metadata:s:v:0", "rotate=270", fixture(fixRotated))
}

// generate runs ffmpeg directly (not through Run) to make test media; generators may use
// lavfi, which our pipeline's inputs may not.
func generate(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := concat([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tools.FFmpeg, argv...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg %q: %w: %s", argv, err, stderr.Bytes())
	}
	return nil
}

// mustGenerate is generate for use inside a test.
func mustGenerate(t testing.TB, args ...string) {
	t.Helper()
	if err := generate(args...); err != nil {
		t.Fatal(err)
	}
}

func fixture(name string) string { return filepath.Join(fixtureDir, name) }

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// input returns InputOptions followed by -i path: how every pipeline input is given.
func input(path string) []string {
	return concat(InputOptions(), []string{"-i", path})
}

// writeFile writes data to a new file in a test's temporary directory.
func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// helperEnv, when set, turns the test binary into a helper process that runs one long
// ffmpeg through Run, whose output name is the variable's value (so tests can find the
// ffmpeg in /proc); tests then kill the helper to see that its ffmpeg dies with it.
const helperEnv = "TRANSCODER_FFMPEG_TEST_HELPER"

func runHelper(marker string) int {
	t, err := Locate("", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	args := []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-t", "60", "-f", "null", marker}
	if err := t.Run(context.Background(), args, RunOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
