// Package testmedia generates the media that tests and benchmarks run on,
// with ffmpeg's lavfi sources (testsrc2 pictures, sine tones), and caches
// each clip so that later runs and other packages reuse it.
//
// It is for tests only; it fails loudly, never skips, when ffmpeg is
// missing.
package testmedia

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Spec describes a clip to generate.
type Spec struct {
	Width, Height int     // 0 for audio only
	Rate          int     // frames per second; 25 when 0
	Seconds       float64 // length
	Audio         bool    // add a stereo 48 kHz sine tone
	// Rotate writes rotation metadata so that players turn the picture
	// 90° clockwise for display (the picture is stored landscape).
	Rotate bool
	// Interlaced encodes top-field-first interlaced H.264.
	Interlaced bool
	// Container picks the file type by extension; "mp4" when empty.
	Container string
}

// Common clips used across the test suites. They are small so that the
// whole suite stays fast on two cores.
var (
	Landscape1080 = Spec{Width: 1920, Height: 1080, Rate: 30, Seconds: 3, Audio: true}
	Landscape720  = Spec{Width: 1280, Height: 720, Rate: 30, Seconds: 3, Audio: true}
	Portrait      = Spec{Width: 1280, Height: 720, Rate: 30, Seconds: 2, Audio: true, Rotate: true}
	SD43          = Spec{Width: 640, Height: 480, Rate: 25, Seconds: 2, Audio: true}
	Odd           = Spec{Width: 641, Height: 361, Rate: 25, Seconds: 2, Audio: true}
	NoAudio       = Spec{Width: 1280, Height: 720, Rate: 30, Seconds: 2}
	AudioOnly     = Spec{Seconds: 2, Audio: true, Container: "m4a"}
	Tiny          = Spec{Width: 320, Height: 240, Rate: 30, Seconds: 1, Audio: true}
	// Seven is long enough for three 90-frame GOPs at 30 fps (keyframes
	// at 0, 3 and 6 s) and for several HLS segments.
	Seven = Spec{Width: 320, Height: 240, Rate: 30, Seconds: 7, Audio: true}
	// HighRate is above Elastic Transcoder's default MaxFrameRate (30).
	HighRate = Spec{Width: 320, Height: 240, Rate: 60, Seconds: 1, Audio: true}
	// InterlacedSD is top-field-first interlaced, for deinterlacing.
	InterlacedSD = Spec{Width: 320, Height: 240, Rate: 25, Seconds: 1, Interlaced: true}
	// Long takes an encode several seconds: for cancelling mid-run.
	Long = Spec{Width: 640, Height: 360, Rate: 30, Seconds: 20, Audio: true}
	// Streaming is for adaptive streaming: two rungs of the CMAF ladder
	// (480p, 360p) fit it and the larger ones are dropped, and 5 s make
	// three 2-second segments (the last one short).
	Streaming = Spec{Width: 854, Height: 480, Rate: 30, Seconds: 5, Audio: true}
	// StreamingPortrait is Streaming shot upright (displayed 480×854).
	StreamingPortrait = Spec{Width: 854, Height: 480, Rate: 30, Seconds: 5, Audio: true, Rotate: true}
	// StreamingSilent is Streaming without audio.
	StreamingSilent = Spec{Width: 854, Height: 480, Rate: 30, Seconds: 5}
	// Playback is long enough for a browser to play five seconds and
	// switch renditions on the way.
	Playback = Spec{Width: 854, Height: 480, Rate: 30, Seconds: 10, Audio: true}
	// AudioBlip is half a second of audio only: the cheapest real job
	// (an MP3 encode takes a few milliseconds), for load tests and
	// benchmarks of the job engine, where ffmpeg's work is not the point.
	AudioBlip = Spec{Seconds: 0.5, Audio: true, Container: "m4a"}
)

var mu sync.Mutex

// Dir is where generated clips are cached: $TRANSCODER_TESTMEDIA, or a
// directory under the system's temporary directory.
func Dir() string {
	if d := os.Getenv("TRANSCODER_TESTMEDIA"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "transcoder-testmedia")
}

// Path returns the path of the clip, generating it first when needed.
func Path(tb testing.TB, s Spec) string {
	tb.Helper()
	p, err := Generate(s)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Generate makes the clip (once; later calls reuse the cached file).
func Generate(s Spec) (string, error) {
	args := s.args()
	ext := s.Container
	if ext == "" {
		ext = "mp4"
	}
	key := fmt.Sprint(args)
	if s.Rotate {
		key += " remux rotate=270"
	}
	sum := sha256.Sum256([]byte(key))
	name := fmt.Sprintf("%dx%d-%s.%s", s.Width, s.Height, hex.EncodeToString(sum[:6]), ext)
	path := filepath.Join(Dir(), name)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(Dir(), 0o755); err != nil {
		return "", err
	}
	// Write beside, then rename: another test binary may be reading.
	tmp := filepath.Join(Dir(), ".tmp-"+strconv.Itoa(os.Getpid())+"-"+name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-nostdin", "-v", "error", "-y"}, args...), tmp)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("generate test clip %s: %v\n%s", name, err, out)
	}
	if s.Rotate {
		// ffmpeg 5.1 has no -display_rotation, and its "rotate" tag sets
		// the display matrix only when the stream is copied, not when it
		// is encoded (see internal/ffmpeg's rotation tests): remux.
		rotated := tmp + ".rotated." + ext
		cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", tmp, "-map", "0", "-c", "copy",
			"-metadata:s:v:0", "rotate=270", "-movflags", "+faststart", rotated)
		out, err := cmd.CombinedOutput()
		os.Remove(tmp)
		if err != nil {
			os.Remove(rotated)
			return "", fmt.Errorf("generate test clip %s: rotate: %v\n%s", name, err, out)
		}
		tmp = rotated
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	return path, nil
}

func (s Spec) args() []string {
	rate := s.Rate
	if rate == 0 {
		rate = 25
	}
	dur := strconv.FormatFloat(s.Seconds, 'f', 3, 64)
	var a []string
	if s.Width > 0 {
		a = append(a, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%s", s.Width, s.Height, rate, dur))
	}
	if s.Audio {
		a = append(a, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+dur, "-ac", "2")
	}
	if s.Width > 0 {
		a = append(a, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", strconv.Itoa(rate))
		if s.Interlaced {
			a = append(a, "-flags", "+ildct+ilme", "-x264opts", "tff=1")
		}
	}
	if s.Audio {
		a = append(a, "-c:a", "aac", "-b:a", "128k")
	}
	if s.Container == "" || s.Container == "mp4" || s.Container == "m4a" {
		a = append(a, "-movflags", "+faststart")
	}
	return a
}
