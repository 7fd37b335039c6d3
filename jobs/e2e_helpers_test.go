package jobs_test

// Helpers of the end-to-end tests (e2e_test.go, presets_e2e_test.go): they
// run real ffmpeg through jobs.TranscodeLocal and look at what it wrote with
// ffprobe run directly, not through internal/ffmpeg's Probe, so that the
// check does not share the code it checks.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

var e2eSetup = sync.OnceValues(func() (e2eEnv, error) {
	tools, err := ffmpeg.Locate("", "")
	if err != nil {
		return e2eEnv{}, err
	}
	enc, err := tools.Capabilities(context.Background())
	if err != nil {
		return e2eEnv{}, err
	}
	return e2eEnv{tools: tools, caps: jobs.Capabilities{Encoders: enc}}, nil
})

type e2eEnv struct {
	tools ffmpeg.Tools
	caps  jobs.Capabilities
}

// e2eTools returns the local ffmpeg and its encoders. A missing ffmpeg
// fails the test: the suite never skips for want of it (see design.md).
func e2eTools(t testing.TB) e2eEnv {
	t.Helper()
	env, err := e2eSetup()
	if err != nil {
		t.Fatalf("the end-to-end tests need ffmpeg and ffprobe: %v", err)
	}
	return env
}

// transcode runs a local job into a new directory and fails the test on
// error. It returns the job and the output directory.
func transcode(t *testing.T, input string, req jobs.LocalRequest) (*jobs.Job, string) {
	t.Helper()
	env := e2eTools(t)
	if req.OutputDir == "" {
		req.OutputDir = t.TempDir()
	}
	req.Input = input
	req.Caps = env.caps
	job, err := jobs.TranscodeLocal(context.Background(), env.tools, req)
	if err != nil {
		t.Fatalf("TranscodeLocal(%s): %v", filepath.Base(input), err)
	}
	if job.Status != jobs.StatusComplete {
		t.Fatalf("job status = %s, want Complete", job.Status)
	}
	for _, o := range job.Outputs {
		if o.Status != jobs.StatusComplete {
			t.Fatalf("output %s status = %s (%s), want Complete", o.Key, o.Status, o.StatusDetail)
		}
	}
	return job, req.OutputDir
}

// mediaInfo is what ffprobe says about a file.
type mediaInfo struct {
	Streams []streamInfo `json:"streams"`
	Format  struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

type streamInfo struct {
	CodecType          string `json:"codec_type"`
	CodecName          string `json:"codec_name"`
	CodecTag           string `json:"codec_tag_string"`
	Profile            string `json:"profile"`
	Width              int    `json:"width"`
	Height             int    `json:"height"`
	SampleAspectRatio  string `json:"sample_aspect_ratio"`
	DisplayAspectRatio string `json:"display_aspect_ratio"`
	PixFmt             string `json:"pix_fmt"`
	ColorSpace         string `json:"color_space"`
	FieldOrder         string `json:"field_order"`
	RFrameRate         string `json:"r_frame_rate"`
	AvgFrameRate       string `json:"avg_frame_rate"`
	SampleRate         string `json:"sample_rate"`
	SampleFmt          string `json:"sample_fmt"`
	BitsPerRawSample   string `json:"bits_per_raw_sample"`
	Channels           int    `json:"channels"`
	BitRate            string `json:"bit_rate"`
	Duration           string `json:"duration"`
	SideData           []struct {
		Rotation *float64 `json:"rotation"`
	} `json:"side_data_list"`
}

// probe runs ffprobe on a file and fails the test if it cannot.
func probe(t testing.TB, file string) *mediaInfo {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v %s", file, err, stderrOf(err))
	}
	var m mediaInfo
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return &m
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// streams returns the streams of one type ("video", "audio").
func (m *mediaInfo) streams(typ string) []streamInfo {
	var out []streamInfo
	for _, s := range m.Streams {
		if s.CodecType == typ {
			out = append(out, s)
		}
	}
	return out
}

// video returns the only video stream, failing when there is not exactly one.
func (m *mediaInfo) video(t testing.TB) streamInfo {
	t.Helper()
	v := m.streams("video")
	if len(v) != 1 {
		t.Fatalf("%d video streams, want 1", len(v))
	}
	return v[0]
}

func (m *mediaInfo) audio(t testing.TB) streamInfo {
	t.Helper()
	a := m.streams("audio")
	if len(a) != 1 {
		t.Fatalf("%d audio streams, want 1", len(a))
	}
	return a[0]
}

func (m *mediaInfo) duration() float64 { return num(m.Format.Duration) }

// rotation is the display matrix rotation of a stream, 0 without one.
func (s streamInfo) rotation() float64 {
	for _, sd := range s.SideData {
		if sd.Rotation != nil {
			return *sd.Rotation
		}
	}
	return 0
}

// num parses ffprobe's numbers ("1.000000", "30000/1001"); N/A is NaN.
func num(s string) float64 {
	if a, b, ok := strings.Cut(s, "/"); ok {
		return num(a) / num(b)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

// within reports whether got is within tol of want (NaN never is).
func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// keyframes returns the presentation times of the video key frames (from
// the packets' K flags: no decoding).
func keyframes(t testing.TB, file string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v %s", file, err, stderrOf(err))
	}
	var keys []float64
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pts, flags, _ := strings.Cut(line, ",")
		if strings.Contains(flags, "K") {
			keys = append(keys, num(pts))
		}
	}
	slices.Sort(keys)
	return keys
}

// firstVideoPacketIsKey reports whether a file's first video packet in
// decoding order is a key frame (what a player joining a segment needs).
func firstVideoPacketIsKey(t testing.TB, file string) bool {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
		"-show_entries", "packet=flags", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v %s", file, err, stderrOf(err))
	}
	return strings.HasPrefix(strings.TrimSpace(string(out)), "K")
}

// countFrames decodes the video and counts its frames.
func countFrames(t testing.TB, file string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe -count_frames %s: %v %s", file, err, stderrOf(err))
	}
	n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(string(out)), ","))
	if err != nil {
		t.Fatalf("ffprobe -count_frames %s: %q", file, out)
	}
	return n
}

// decodes checks that ffmpeg decodes every stream of the file without
// reporting an error.
func decodes(t testing.TB, file string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", file, "-map", "0", "-f", "null", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("%s does not decode cleanly: %v %s", filepath.Base(file), err, stderr.String())
	}
}

// topBoxes lists the top-level box types of an MP4 file.
func topBoxes(t testing.TB, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var boxes []string
	for len(data) >= 8 {
		size := uint64(binary.BigEndian.Uint32(data))
		typ := string(data[4:8])
		switch size {
		case 0:
			size = uint64(len(data))
		case 1:
			if len(data) < 16 {
				t.Fatalf("%s: cut short in box %q", file, typ)
			}
			size = binary.BigEndian.Uint64(data[8:])
		}
		if size < 8 || size > uint64(len(data)) {
			t.Fatalf("%s: box %q has bad size %d", file, typ, size)
		}
		boxes = append(boxes, typ)
		data = data[size:]
	}
	return boxes
}

// webpInfo is what the RIFF chunks of an animated WebP say.
type webpInfo struct {
	Width, Height int
	Loops         int // 0: forever
	Frames        int
	Duration      time.Duration
}

// readWebP parses an animated WebP: RIFF "WEBP", a VP8X chunk with the
// animation flag and canvas size, ANIM (loop count) and one ANMF per frame,
// each holding a VP8 or VP8L bitstream.
func readWebP(t testing.TB, file string) webpInfo {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		t.Fatalf("%s is not a RIFF WEBP file", file)
	}
	if got := int(binary.LittleEndian.Uint32(data[4:])) + 8; got != len(data) {
		t.Fatalf("%s: RIFF size says %d bytes, file has %d", file, got, len(data))
	}
	u24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	var w webpInfo
	var animFlag, sawAnim bool
	for b := data[12:]; len(b) >= 8; {
		id, n := string(b[:4]), int(binary.LittleEndian.Uint32(b[4:]))
		if n > len(b)-8 {
			t.Fatalf("%s: chunk %q cut short", file, id)
		}
		body := b[8 : 8+n]
		switch id {
		case "VP8X":
			animFlag = body[0]&0x02 != 0
			w.Width, w.Height = u24(body[4:])+1, u24(body[7:])+1
		case "ANIM":
			sawAnim = true
			w.Loops = int(binary.LittleEndian.Uint16(body[4:]))
		case "ANMF":
			w.Frames++
			w.Duration += time.Duration(u24(body[12:])) * time.Millisecond
			if sub := string(body[16:20]); sub != "VP8 " && sub != "VP8L" && sub != "ALPH" {
				t.Errorf("%s: frame %d holds %q, want a VP8/VP8L bitstream", file, w.Frames, sub)
			}
		}
		b = b[8+n+n%2:]
	}
	if !animFlag || !sawAnim {
		t.Fatalf("%s: not an animated WebP (VP8X animation flag %v, ANIM chunk %v)", file, animFlag, sawAnim)
	}
	return w
}

// gifLoops returns the loop count of a GIF's NETSCAPE2.0 extension (0:
// forever), or -1 when it has none (plays once).
func gifLoops(t testing.TB, file string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("GIF89a")) {
		t.Fatalf("%s is not a GIF89a file", file)
	}
	i := bytes.Index(data, []byte("NETSCAPE2.0"))
	if i < 0 || len(data) < i+16 {
		return -1
	}
	return int(binary.LittleEndian.Uint16(data[i+13:]))
}

// files lists every file and directory under dir, hidden ones included,
// relative to it.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// lookup finds a system preset by reference and returns a copy.
func lookup(t testing.TB, ref string) *presets.Preset {
	t.Helper()
	p, err := presets.NewRegistry().Lookup(ref)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// h264 is a small custom H.264 preset for tests that look at one setting:
// auto bit rate (constant quality), no thumbnails, no audio.
func h264(maxW, maxH, sizing, padding string) *presets.Preset {
	return &presets.Preset{
		ID: "test-h264", Name: "test H.264", Container: "mp4",
		Video: &presets.Video{
			Codec: "H.264", CodecOptions: &presets.VideoCodecOptions{Profile: "main"},
			BitRate: "auto", FrameRate: "auto", MaxWidth: maxW, MaxHeight: maxH,
			SizingPolicy: sizing, PaddingPolicy: padding,
		},
	}
}
