package jobs_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// tinyFrames are the output frames, worked out by hand, of the presets
// that do not simply keep testmedia.Tiny's 320×240 (every other preset has
// a box at least that big and ShrinkToFit, which never upscales).
var tinyFrames = map[string]struct {
	w, h     int
	sar, dar string
}{
	// ShrinkToFill + Pad in 720×480 shown at 16:9: pixels are 32:27, so
	// the source is 320·27/32 = 270 pixels wide; f = min(1, max(720/270,
	// 480/240)) = 1 keeps it 270×240, padded to the box.
	"ntsc-mpg": {720, 480, "32:27", "16:9"},
	// 720×576 at 16:9: pixels 64:45, 320·45/64 = 225 → 224 (ties down).
	"pal-mpg": {720, 576, "64:45", "16:9"},
	// ShrinkToFill + Pad, 1920×1080 at 16:9 (square pixels): 320×240 kept,
	// padded to the full HD frame that these broadcast formats require.
	"full-hd-1080i60-mp4":      {1920, 1080, "1:1", "16:9"},
	"full-hd-1080i50-mp4":      {1920, 1080, "1:1", "16:9"},
	"full-hd-1080i60-xdcam422": {1920, 1080, "1:1", "16:9"},
	"full-hd-1080i50-xdcam422": {1920, 1080, "1:1", "16:9"},
	// ShrinkToFit into boxes lower than 240: f = boxH/240.
	"smooth-600k": {278, 208, "1:1", "139:104"}, // 320·208/240 = 277.3 → 278
	"smooth-500k": {214, 160, "1:1", "107:80"},  // 320·160/240 = 213.3 → 214
	"smooth-400k": {170, 128, "1:1", "85:64"},   // 320·128/240 = 170.7 → 170
}

// tinyThumbs: thumbnail boxes of the system presets, ShrinkToFit from
// 320×240: 192×108 gives f = 108/240 → 144×108; 192×144 gives 0.6.
var tinyThumbs = map[string]string{"192x108": "144x108", "192x144": "192x144"}

var formatNames = map[string]string{
	"mp4": "mov,mp4,m4a,3gp,3g2,mj2", "fmp4": "mov,mp4,m4a,3gp,3g2,mj2", "ts": "mpegts", "webm": "matroska,webm",
	"mp3": "mp3", "flac": "flac", "ogg": "ogg", "oga": "ogg", "wav": "wav", "gif": "gif", "mpg": "mpeg",
	"flv": "flv", "mxf": "mxf",
}

var videoCodecNames = map[string]string{
	"H.264": "h264", "H.265": "hevc", "AV1": "av1", "vp8": "vp8", "vp9": "vp9", "mpeg2": "mpeg2video", "gif": "gif",
}

var audioCodecNames = map[string]string{
	"AAC": "aac", "mp3": "mp3", "mp2": "mp2", "vorbis": "vorbis", "opus": "opus", "flac": "flac",
}

var frameRates = map[string]float64{"10": 10, "15": 15, "23.97": 24000.0 / 1001, "24": 24, "25": 25, "29.97": 30000.0 / 1001, "30": 30, "50": 50, "60": 60}

// TestSystemPresetsEncode encodes a one-second 320×240 clip with every
// system preset, Elastic Transcoder's and ours, and checks that each output
// is a valid file of its container with the codecs, profile, frame, frame
// rate, field order, audio layout and thumbnails the preset asks for.
func TestSystemPresetsEncode(t *testing.T) {
	t.Parallel()
	e2eTools(t) // fail here, once, when ffmpeg is missing
	src := testmedia.Path(t, testmedia.Tiny)
	reg := presets.NewRegistry()
	for _, p := range reg.List(presets.TypeSystem) {
		if p.IsLadder() {
			continue // its rungs are system presets of their own; see TestLadder
		}
		t.Run(p.Alias(), func(t *testing.T) {
			t.Parallel()
			o := jobs.OutputRequest{Key: "out/" + p.Alias() + jobs.Extension(p.Container), Preset: p}
			if p.Thumbnails != nil {
				o.ThumbnailPattern = "thumbs/{resolution}-{count}"
			}
			job, dir := transcode(t, src, jobs.LocalRequest{Outputs: []jobs.OutputRequest{o}})
			if w := job.Outputs[0].Warnings; len(w) > 0 {
				t.Errorf("warnings: %q", w)
			}
			file := filepath.Join(dir, o.Key)
			checkPresetOutput(t, p, file, job.Outputs[0])
			checkPresetThumbnails(t, p, dir)
			if p.Container != "webp" { // ffmpeg 5.1 cannot decode animated WebP
				decodes(t, file)
			}
		})
	}
}

func checkPresetOutput(t *testing.T, p *presets.Preset, file string, out *jobs.JobOutput) {
	t.Helper()
	want := tinyFrames[p.Alias()]
	if want.w == 0 {
		want.w, want.h, want.sar, want.dar = 320, 240, "1:1", "4:3"
	}
	if p.Video != nil && (out.Width != int64(want.w) || out.Height != int64(want.h)) {
		t.Errorf("job says %dx%d, want %dx%d", out.Width, out.Height, want.w, want.h)
	}
	if !within(float64(out.DurationMillis), 1000, 200) {
		t.Errorf("job says %d ms, want about 1000", out.DurationMillis)
	}

	if p.Container == "webp" {
		w := readWebP(t, file)
		rate := frameRates[p.Video.FrameRate]
		if w.Width != want.w || w.Height != want.h || w.Loops != 0 || !within(float64(w.Frames), rate, 1) {
			t.Errorf("webp = %+v, want %dx%d, looping forever, %v frames", w, want.w, want.h, rate)
		}
		return
	}

	m := probe(t, file)
	if got := m.Format.FormatName; got != formatNames[p.Container] {
		t.Errorf("format = %q, want %q", got, formatNames[p.Container])
	}
	if d := m.duration(); !within(d, 1, 0.2) {
		t.Errorf("duration = %.3f s, want 1 ± 0.2", d)
	}
	switch p.Container {
	case "gif":
		// Looping forever (LoopCount Infinite) at the preset's frame rate.
		if n := gifLoops(t, file); n != 0 {
			t.Errorf("gif loop count %d, want 0 (forever)", n)
		}
		if n, rate := countFrames(t, file), frameRates[p.Video.FrameRate]; !within(float64(n), rate, 1) {
			t.Errorf("%d gif frames in 1 s, want %v", n, rate)
		}
	case "mp4":
		boxes := topBoxes(t, file)
		if slices.Index(boxes, "moov") > slices.Index(boxes, "mdat") {
			t.Errorf("boxes %v: moov after mdat, want faststart", boxes)
		}
	case "fmp4":
		if boxes := topBoxes(t, file); !slices.Contains(boxes, "moof") || slices.Index(boxes, "moov") != 1 {
			t.Errorf("boxes %v: want ftyp, moov, then fragments (moof)", boxes)
		}
	}

	if v := p.Video; v != nil {
		checkPresetVideo(t, p, m.video(t), want.w, want.h, want.sar, want.dar)
	} else if n := len(m.streams("video")); n != 0 {
		t.Errorf("%d video streams in an audio preset's output", n)
	}
	if a := p.Audio; a != nil {
		checkPresetAudio(t, a, m)
	} else if n := len(m.streams("audio")); n != 0 {
		t.Errorf("%d audio streams, want none", n)
	}
}

func checkPresetVideo(t *testing.T, p *presets.Preset, s streamInfo, w, h int, sar, dar string) {
	t.Helper()
	v := p.Video
	co := v.CodecOptions
	if co == nil {
		co = &presets.VideoCodecOptions{}
	}
	if s.CodecName != videoCodecNames[v.Codec] {
		t.Errorf("video codec = %s, want %s", s.CodecName, videoCodecNames[v.Codec])
	}
	if s.Width != w || s.Height != h {
		t.Errorf("frame = %dx%d, want %dx%d", s.Width, s.Height, w, h)
	}
	if s.SampleAspectRatio != sar || s.DisplayAspectRatio != dar {
		t.Errorf("SAR %s DAR %s, want %s %s", s.SampleAspectRatio, s.DisplayAspectRatio, sar, dar)
	}
	if s.rotation() != 0 {
		t.Errorf("display matrix rotation %v in the output", s.rotation())
	}
	wantProfile := map[string]string{
		"H.264/baseline": "Constrained Baseline", "H.264/main": "Main", "H.264/high": "High",
		"H.265/main": "Main", "AV1/main": "Main", "vp9/0": "Profile 0", "vp9/": "Profile 0", "vp8/0": "0",
		"mpeg2/": "Main",
	}[v.Codec+"/"+co.Profile]
	if v.Codec == "mpeg2" && co.ChromaSubsampling == "yuv422p" {
		wantProfile = "4:2:2"
	}
	if wantProfile != "" && s.Profile != wantProfile {
		t.Errorf("profile = %q, want %q", s.Profile, wantProfile)
	}
	if v.Codec == "H.265" && s.CodecTag != "hvc1" {
		t.Errorf("H.265 sample entry %q, want hvc1 (Apple players need it)", s.CodecTag)
	}
	wantRate := 30.0 // Tiny's rate: auto keeps it, under every MaxFrameRate here
	if r, ok := frameRates[v.FrameRate]; ok {
		wantRate = r
	}
	if got := num(s.RFrameRate); !within(got, wantRate, 0.01) {
		t.Errorf("frame rate = %s, want %.3f", s.RFrameRate, wantRate)
	}
	switch {
	case v.Codec == "gif":
	case co.InterlacedMode == "TopFirst":
		if s.FieldOrder != "tt" {
			t.Errorf("field order = %q, want tt (interlaced, top field first)", s.FieldOrder)
		}
	case s.FieldOrder != "progressive":
		t.Errorf("field order = %q, want progressive", s.FieldOrder)
	}
	if co.ColorSpaceConversionMode == "Auto" && h >= 720 && s.ColorSpace != "bt709" {
		// Tiny is SD (BT.601); an HD output must say BT.709.
		t.Errorf("color space = %q, want bt709 for an HD output of an SD source", s.ColorSpace)
	}
}

func checkPresetAudio(t *testing.T, a *presets.Audio, m *mediaInfo) {
	t.Helper()
	co := a.CodecOptions
	if co == nil {
		co = &presets.AudioCodecOptions{}
	}
	codec := audioCodecNames[a.Codec]
	if a.Codec == "pcm" {
		codec = map[string]string{"8": "pcm_u8", "16": "pcm_s16le", "24": "pcm_s24le"}[co.BitDepth]
	}
	streams := m.streams("audio")
	tracks, channels := 1, a.Channels
	if a.AudioPackingMode == "OneChannelPerTrackWithMosTo8Tracks" {
		tracks, channels = 8, "1"
	}
	if len(streams) != tracks {
		t.Fatalf("%d audio streams, want %d", len(streams), tracks)
	}
	for _, s := range streams {
		if s.CodecName != codec {
			t.Errorf("audio codec = %s, want %s", s.CodecName, codec)
		}
		if s.SampleRate != a.SampleRate {
			t.Errorf("sample rate = %s, want %s", s.SampleRate, a.SampleRate)
		}
		if fmt.Sprint(s.Channels) != channels {
			t.Errorf("channels = %d, want %s", s.Channels, channels)
		}
		if a.Codec == "AAC" && s.Profile != "LC" {
			t.Errorf("AAC profile = %q, want LC", s.Profile)
		}
		if a.Codec == "flac" {
			wantFmt := map[string]string{"16": "s16", "24": "s32"}[co.BitDepth]
			if s.SampleFmt != wantFmt {
				t.Errorf("flac sample format = %s, want %s (%s bit)", s.SampleFmt, wantFmt, co.BitDepth)
			}
		}
		if a.Codec == "mp3" || a.Codec == "mp2" { // constant bit rate: exact
			if s.BitRate != a.BitRate+"000" {
				t.Errorf("bit rate = %s, want %s000", s.BitRate, a.BitRate)
			}
		}
	}
}

// checkPresetThumbnails: one thumbnail (the clip is shorter than every
// interval), named by the pattern with {resolution} and {count} filled in.
func checkPresetThumbnails(t *testing.T, p *presets.Preset, dir string) {
	t.Helper()
	got, _ := filepath.Glob(filepath.Join(dir, "thumbs", "*"))
	if p.Thumbnails == nil {
		if len(got) > 0 {
			t.Errorf("thumbnails %v from a preset without thumbnails", got)
		}
		return
	}
	res := tinyThumbs[p.Thumbnails.MaxWidth+"x"+p.Thumbnails.MaxHeight]
	if res == "" || p.Thumbnails.SizingPolicy != "ShrinkToFit" {
		t.Fatalf("no expected thumbnail size for %+v; work it out and add it to tinyThumbs", p.Thumbnails)
	}
	want := filepath.Join(dir, "thumbs", res+"-00001."+p.Thumbnails.Format)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("thumbnails = %v, want [%s]", got, want)
	}
	s := probe(t, want).video(t)
	if fmt.Sprintf("%dx%d", s.Width, s.Height) != res {
		t.Errorf("thumbnail is %dx%d, want %s", s.Width, s.Height, res)
	}
}

// TestLadder runs the H.264 CMAF ladder (four video rungs and an audio
// rendition) as one job, one decode, cut into HLS fmp4 segments: each rung
// gets KEY.m3u8, KEY_init.mp4 and KEY00000.m4s… beside it.
func TestLadder(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Tiny)
	reg := presets.NewRegistry()
	rungs, err := reg.Rungs(lookup(t, "hls-1080p-ladder"))
	if err != nil {
		t.Fatal(err)
	}
	var outs []jobs.OutputRequest
	for _, r := range rungs {
		outs = append(outs, jobs.OutputRequest{Key: "hls/" + r.Alias(), Preset: r, SegmentDuration: "2"})
	}
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs})
	var want []string
	for _, r := range rungs {
		key := "hls/" + r.Alias()
		want = append(want, key+".m3u8", key+"00000.m4s", key+"_init.mp4")
		playlist, err := os.ReadFile(filepath.Join(dir, key+".m3u8"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(playlist), `#EXT-X-MAP:URI="`+r.Alias()+`_init.mp4"`) {
			t.Errorf("%s.m3u8 does not name its init segment:\n%s", key, playlist)
		}
		joined := joinFiles(t, filepath.Join(dir, key+"_init.mp4"), filepath.Join(dir, key+"00000.m4s"))
		m := probe(t, joined)
		if r.Video != nil {
			if s := m.video(t); s.CodecName != "h264" || s.Width != 320 || s.Height != 240 {
				t.Errorf("%s: %s %dx%d, want h264 320x240", key, s.CodecName, s.Width, s.Height)
			}
		} else if s := m.audio(t); s.CodecName != "aac" || s.SampleRate != "48000" {
			t.Errorf("%s: %s %s Hz, want aac 48000", key, s.CodecName, s.SampleRate)
		}
		decodes(t, joined)
	}
	want = append(want, "hls")
	slices.Sort(want)
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Errorf("files = %v\nwant %v", got, want)
	}
}

// joinFiles writes the concatenation of files (an init segment and a media
// segment) to a temporary file, which ffprobe can then read as one MP4.
func joinFiles(t testing.TB, parts ...string) string {
	t.Helper()
	var data []byte
	for _, p := range parts {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	f := filepath.Join(t.TempDir(), "joined.mp4")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestMissingEncoder: a preset whose encoder this ffmpeg lacks fails at
// planning, before anything runs, with a message that names the encoder
// and what to do. (This ffmpeg has them all; the capabilities say not.)
func TestMissingEncoder(t *testing.T) {
	t.Parallel()
	env := e2eTools(t)
	tests := []struct{ preset, encoder string }{
		{"preview-webp", "libwebp_anim"},
		{"av1-720p", "libsvtav1"},
		{"hevc-720p", "libx265"},
		{"audio-opus-64k", "libopus"},
		{"audio-mp3-128k", "libmp3lame"},
	}
	src := testmedia.Path(t, testmedia.Tiny)
	for _, tt := range tests {
		t.Run(tt.preset, func(t *testing.T) {
			t.Parallel()
			if !env.caps.Encoders[tt.encoder] {
				t.Errorf("this ffmpeg has no %s: %s cannot encode here", tt.encoder, tt.preset)
			}
			caps := jobs.Capabilities{Encoders: maps.Clone(env.caps.Encoders)}
			delete(caps.Encoders, tt.encoder)
			out := filepath.Join(t.TempDir(), "out")
			_, err := jobs.TranscodeLocal(context.Background(), env.tools, jobs.LocalRequest{
				Input: src, OutputDir: out, Caps: caps,
				Outputs: []jobs.OutputRequest{{Key: "x", Preset: lookup(t, tt.preset)}},
			})
			if err == nil || !strings.Contains(err.Error(), "no "+tt.encoder+" encoder") || !strings.Contains(err.Error(), "install") {
				t.Errorf("error %v, want one naming %s and how to get it", err, tt.encoder)
			}
			if got := files(t, out); len(got) > 0 {
				t.Errorf("left behind: %v", got)
			}
		})
	}
}
