package jobs_test

// End-to-end tests: generated clips (internal/testmedia) through
// jobs.TranscodeLocal and real ffmpeg, every output checked with ffprobe.
// The all-presets loop is in presets_e2e_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// sizingCase is one output of TestSizingPolicies: a box, policies and the
// frame Elastic Transcoder's rules give, worked out by hand.
type sizingCase struct {
	box             string // MaxWidth x MaxHeight
	policy, padding string
	dar             string // DisplayAspectRatio, "" for auto
	w, h            int
	sar             string // expected sample aspect ratio; "" means 1:1
}

// TestSizingPolicies encodes real sources under every sizing and padding
// policy and compares the frame ffprobe reports with the size worked out
// by hand from Elastic Transcoder's rules: f is the one scale factor for
// both sides (rw = boxW/srcW, rh = boxH/srcH), the side f matches comes out
// exactly, the other is rounded to the nearest even number with ties going
// down ("ne" below), Fill/Keep crop the centre, Pad fills the box.
//
// Only the first half second of each source is encoded (a TimeSpan).
func TestSizingPolicies(t *testing.T) {
	t.Parallel()
	all := func(box string, fit, fill, keep [2]int, fitPad, keepPad [2]int) []sizingCase {
		// Stretch always gives the box; ShrinkToFit and ShrinkToFill equal
		// Fit and Fill when the source is bigger than the box (the cases
		// where it is not are listed by hand instead).
		var bw, bh int
		fmt.Sscanf(box, "%dx%d", &bw, &bh)
		return []sizingCase{
			{box: box, policy: "Fit", padding: "NoPad", w: fit[0], h: fit[1]},
			{box: box, policy: "Fit", padding: "Pad", w: fitPad[0], h: fitPad[1]},
			{box: box, policy: "Fill", padding: "NoPad", w: fill[0], h: fill[1]},
			{box: box, policy: "Fill", padding: "Pad", w: fill[0], h: fill[1]},
			{box: box, policy: "Stretch", padding: "NoPad", w: bw, h: bh},
			{box: box, policy: "Stretch", padding: "Pad", w: bw, h: bh},
			{box: box, policy: "Keep", padding: "NoPad", w: keep[0], h: keep[1]},
			{box: box, policy: "Keep", padding: "Pad", w: keepPad[0], h: keepPad[1]},
			{box: box, policy: "ShrinkToFit", padding: "NoPad", w: fit[0], h: fit[1]},
			{box: box, policy: "ShrinkToFit", padding: "Pad", w: fitPad[0], h: fitPad[1]},
			{box: box, policy: "ShrinkToFill", padding: "NoPad", w: fill[0], h: fill[1]},
			{box: box, policy: "ShrinkToFill", padding: "Pad", w: fill[0], h: fill[1]},
		}
	}
	sz := func(w, h int) [2]int { return [2]int{w, h} }
	sources := []struct {
		name  string
		spec  testmedia.Spec
		cases []sizingCase
	}{
		{
			// 1920×1080 into 320×240: rw = 1/6, rh = 2/9.
			// Fit f = 1/6 → 320×180, Pad letterboxes to 320×240.
			// Fill f = 2/9 → ne(426.7) = 426 × 240, cropped to 320×240.
			// Keep crops 320×240 out of the middle.
			name: "landscape 1080p", spec: testmedia.Landscape1080,
			cases: append(all("320x240", sz(320, 180), sz(320, 240), sz(320, 240), sz(320, 240), sz(320, 240)),
				// 720×480 shown at 16:9: pixels are (16·480)/(9·720) = 32/27
				// wide, so the source is 1920·27/32 = 1620 pixels wide in
				// them; rw = 720/1620 = 4/9 = rh: exactly 720×480.
				sizingCase{box: "720x480", policy: "ShrinkToFit", padding: "Pad", dar: "16:9", w: 720, h: 480, sar: "32:27"}),
		},
		{
			// Stored 1280×720 with a 90° display rotation: 720×1280 upright.
			// Into 320×240: rw = 4/9, rh = 3/16.
			// Fit f = 3/16 → 720·3/16 = 135, an odd whole number: ties go
			// down, 134 × 240; Pad pillarboxes to 320×240.
			// Fill f = 4/9 → 320 × ne(568.9) = 568, cropped to 320×240.
			name: "portrait", spec: testmedia.Portrait,
			cases: append(all("320x240", sz(134, 240), sz(320, 240), sz(320, 240), sz(320, 240), sz(320, 240)),
				// Into 800×600: rw = 10/9, rh = 15/32.
				// Fit f = 15/32 → ne(337.5) = 338 × 600.
				// Fill f = 10/9 → 800 × ne(1422.2) = 1422, cropped 800×600.
				// Keep: 720×1280 cropped to 720×600; Pad 800×600.
				// ShrinkToFit = Fit (f < 1). ShrinkToFill: f = min(1, 10/9)
				// = 1, so as Keep.
				sizingCase{box: "800x600", policy: "Fit", padding: "NoPad", w: 338, h: 600},
				sizingCase{box: "800x600", policy: "Fit", padding: "Pad", w: 800, h: 600},
				sizingCase{box: "800x600", policy: "Fill", padding: "NoPad", w: 800, h: 600},
				sizingCase{box: "800x600", policy: "Keep", padding: "NoPad", w: 720, h: 600},
				sizingCase{box: "800x600", policy: "Keep", padding: "Pad", w: 800, h: 600},
				sizingCase{box: "800x600", policy: "ShrinkToFit", padding: "NoPad", w: 338, h: 600},
				sizingCase{box: "800x600", policy: "ShrinkToFill", padding: "NoPad", w: 720, h: 600},
				sizingCase{box: "800x600", policy: "ShrinkToFill", padding: "Pad", w: 800, h: 600},
			),
		},
		{
			// 640×480 into 320×240: the same shape, f = 1/2 for every
			// policy; Keep crops the middle. All 320×240.
			name: "4:3 SD", spec: testmedia.SD43,
			cases: append(all("320x240", sz(320, 240), sz(320, 240), sz(320, 240), sz(320, 240), sz(320, 240)),
				// Into 720×480 at 16:9 (pixels 32/27): the source is
				// 640·27/32 = 540 pixels wide; rw = 4/3, rh = 1. Fit
				// f = 1 → 540×480, pillarboxed to 720×480: 4:3 in 16:9.
				sizingCase{box: "720x480", policy: "Fit", padding: "Pad", dar: "16:9", w: 720, h: 480, sar: "32:27"},
				// Into 800×600 (larger): ShrinkToFit keeps 640×480 and
				// Pad centres it; Fit scales up by 5/4 to 800×600.
				sizingCase{box: "800x600", policy: "ShrinkToFit", padding: "NoPad", w: 640, h: 480},
				sizingCase{box: "800x600", policy: "ShrinkToFit", padding: "Pad", w: 800, h: 600},
				sizingCase{box: "800x600", policy: "Fit", padding: "NoPad", w: 800, h: 600},
			),
		},
		{
			// 641×361 into 320×240: rw = 320/641, rh = 240/361.
			// Fit f = 320/641 → 320 × ne(180.2) = 180; Pad 320×240.
			// Fill f = 240/361 → ne(426.1) = 426 × 240, cropped.
			// Keep: ne(641) = 640 (tie down) × 360, cropped to 320×240.
			name: "odd 641x361", spec: testmedia.Odd,
			cases: append(all("320x240", sz(320, 180), sz(320, 240), sz(320, 240), sz(320, 240), sz(320, 240)),
				// Into 800×600: rw = 1.248, rh = 1.662.
				// Fit f = 800/641 → 800 × ne(450.5) = 450; Pad 800×600.
				// Fill f = 600/361 → ne(1065.4) = 1066 × 600, cropped.
				// Keep, ShrinkToFit, ShrinkToFill: f = 1 → 640×360 (even
				// sizes, ties down); Pad 800×600.
				sizingCase{box: "800x600", policy: "Fit", padding: "NoPad", w: 800, h: 450},
				sizingCase{box: "800x600", policy: "Fill", padding: "NoPad", w: 800, h: 600},
				sizingCase{box: "800x600", policy: "Keep", padding: "NoPad", w: 640, h: 360},
				sizingCase{box: "800x600", policy: "ShrinkToFit", padding: "NoPad", w: 640, h: 360},
				sizingCase{box: "800x600", policy: "ShrinkToFit", padding: "Pad", w: 800, h: 600},
				sizingCase{box: "800x600", policy: "ShrinkToFill", padding: "NoPad", w: 640, h: 360},
			),
		},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			t.Parallel()
			input := testmedia.Path(t, src.spec)
			var outs []jobs.OutputRequest
			for _, c := range src.cases {
				bw, bh, _ := strings.Cut(c.box, "x")
				p := h264(bw, bh, c.policy, c.padding)
				p.Video.DisplayAspectRatio = c.dar
				key := fmt.Sprintf("%s-%s-%s%s.mp4", c.box, c.policy, c.padding, strings.ReplaceAll(c.dar, ":", "by"))
				outs = append(outs, jobs.OutputRequest{Key: key, Preset: p})
			}
			// One job: one decode split to every output.
			job, dir := transcode(t, input, jobs.LocalRequest{Outputs: outs, Clip: &jobs.Clip{Duration: 500 * time.Millisecond}})
			for i, c := range src.cases {
				t.Run(outs[i].Key, func(t *testing.T) {
					m := probe(t, filepath.Join(dir, outs[i].Key))
					v := m.video(t)
					sar := c.sar
					if sar == "" {
						sar = "1:1"
					}
					if v.Width != c.w || v.Height != c.h || v.SampleAspectRatio != sar {
						t.Errorf("frame %dx%d SAR %s, want %dx%d SAR %s", v.Width, v.Height, v.SampleAspectRatio, c.w, c.h, sar)
					}
					if c.dar != "" && v.DisplayAspectRatio != c.dar {
						t.Errorf("DAR %s, want %s", v.DisplayAspectRatio, c.dar)
					}
					if v.rotation() != 0 {
						t.Errorf("display matrix rotation %v in the output", v.rotation())
					}
					if d := m.duration(); !within(d, 0.5, 0.1) {
						t.Errorf("duration %.3f s, want the 0.5 s clip", d)
					}
					if o := job.Outputs[i]; o.Width != int64(c.w) || o.Height != int64(c.h) {
						t.Errorf("job says %dx%d", o.Width, o.Height)
					}
				})
			}
		})
	}
}

// TestSources runs each kind of source through presets and checks codec,
// profile, frame, frame rate, duration, audio and thumbnails.
func TestSources(t *testing.T) {
	t.Parallel()
	type want struct {
		w, h     int     // 0: no video expected
		rate     float64 // frame rate
		audio    bool
		seconds  float64
		thumb    string // the one thumbnail's name, "" for none
		warnings []string
	}
	tests := []struct {
		name   string
		spec   testmedia.Spec
		preset string
		want   want
	}{
		// generic-480p-16-9: 854×480 box, ShrinkToFit, 29.97 fps, AAC
		// 44.1 kHz, thumbnails 192×108 ShrinkToFit every 60 s.
		// 1920×1080: f = 480/1080 → ne(853.3) = 854 × 480; thumb 192×108.
		{"landscape 1080p", testmedia.Landscape1080, "generic-480p-16-9",
			want{w: 854, h: 480, rate: 30000.0 / 1001, audio: true, seconds: 3, thumb: "192x108"}},
		// Upright 720×1280 (rotation metadata): f = 480/1280 → 270×480;
		// thumb f = 108/1280 → ne(60.75) = 60 × 108.
		{"portrait", testmedia.Portrait, "generic-480p-16-9",
			want{w: 270, h: 480, rate: 30000.0 / 1001, audio: true, seconds: 2, thumb: "60x108"}},
		// 640×480 fits: kept; thumb f = 108/480 → 144×108. 25 → 29.97 fps.
		{"4:3 SD", testmedia.SD43, "generic-480p-16-9",
			want{w: 640, h: 480, rate: 30000.0 / 1001, audio: true, seconds: 2, thumb: "144x108"}},
		// 641×361 fits: kept at even 640×360; thumb f = 108/361 →
		// ne(191.8) = 192 × 108.
		{"odd 641x361", testmedia.Odd, "generic-480p-16-9",
			want{w: 640, h: 360, rate: 30000.0 / 1001, audio: true, seconds: 2, thumb: "192x108"}},
		// No audio stream: a video-only output.
		{"no audio", testmedia.NoAudio, "generic-480p-16-9",
			want{w: 854, h: 480, rate: 30000.0 / 1001, seconds: 2, thumb: "192x108"}},
		// HLS with auto frame rate keeps 30 fps.
		{"no audio, hls", testmedia.NoAudio, "hls-1m",
			want{w: 640, h: 360, rate: 30, seconds: 2, thumb: "192x108"}},
		// Audio only: an audio preset, and a video preset that falls back
		// to audio alone, with warnings instead of thumbnails.
		{"audio only, mp3", testmedia.AudioOnly, "audio-mp3-128k", want{audio: true, seconds: 2}},
		{"audio only, video preset", testmedia.AudioOnly, "generic-480p-16-9", want{audio: true, seconds: 2,
			warnings: []string{"the input has no video; the output has audio only", "the input has no video; no thumbnails were made"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := lookup(t, tt.preset)
			o := jobs.OutputRequest{Key: "out" + jobs.Extension(p.Container), Preset: p}
			if p.Thumbnails != nil {
				o.ThumbnailPattern = "thumbs/{resolution}/t-{count}"
			}
			job, dir := transcode(t, testmedia.Path(t, tt.spec), jobs.LocalRequest{Outputs: []jobs.OutputRequest{o}})
			out := job.Outputs[0]
			if !slices.Equal(out.Warnings, tt.want.warnings) {
				t.Errorf("warnings %q, want %q", out.Warnings, tt.want.warnings)
			}
			m := probe(t, filepath.Join(dir, o.Key))
			if d := m.duration(); !within(d, tt.want.seconds, 0.1) {
				t.Errorf("duration %.3f s, want %v", d, tt.want.seconds)
			}
			if !within(float64(out.DurationMillis), tt.want.seconds*1000, 100) {
				t.Errorf("job says %d ms", out.DurationMillis)
			}
			if tt.want.w == 0 {
				if n := len(m.streams("video")); n > 0 {
					t.Errorf("%d video streams, want none", n)
				}
			} else {
				v := m.video(t)
				wantProfile := map[string]string{"baseline": "Constrained Baseline", "main": "Main"}[p.Video.CodecOptions.Profile]
				if v.CodecName != "h264" || v.Profile != wantProfile {
					t.Errorf("video %s %q, want h264 %q", v.CodecName, v.Profile, wantProfile)
				}
				if v.Width != tt.want.w || v.Height != tt.want.h || out.Width != int64(tt.want.w) || out.Height != int64(tt.want.h) {
					t.Errorf("frame %dx%d (job %dx%d), want %dx%d", v.Width, v.Height, out.Width, out.Height, tt.want.w, tt.want.h)
				}
				if v.rotation() != 0 {
					t.Errorf("display matrix rotation %v: the picture is turned already", v.rotation())
				}
				if r := num(v.RFrameRate); !within(r, tt.want.rate, 0.01) {
					t.Errorf("frame rate %s, want %.3f", v.RFrameRate, tt.want.rate)
				}
			}
			if tt.want.audio {
				a := m.audio(t)
				wantCodec := audioCodecNames[p.Audio.Codec]
				if a.CodecName != wantCodec || a.SampleRate != p.Audio.SampleRate || fmt.Sprint(a.Channels) != p.Audio.Channels {
					t.Errorf("audio %s %s Hz %d ch, want %s %s Hz %s ch", a.CodecName, a.SampleRate, a.Channels, wantCodec, p.Audio.SampleRate, p.Audio.Channels)
				}
			} else if n := len(m.streams("audio")); n > 0 {
				t.Errorf("%d audio streams, want none", n)
			}
			var wantFiles []string
			if tt.want.thumb != "" {
				thumb := "thumbs/" + tt.want.thumb + "/t-00001.png"
				wantFiles = []string{o.Key, "thumbs", "thumbs/" + tt.want.thumb, thumb}
				if v := probe(t, filepath.Join(dir, thumb)).video(t); fmt.Sprintf("%dx%d", v.Width, v.Height) != tt.want.thumb {
					t.Errorf("thumbnail %dx%d, want %s", v.Width, v.Height, tt.want.thumb)
				}
			} else {
				wantFiles = []string{o.Key}
			}
			slices.Sort(wantFiles)
			if got := files(t, dir); !slices.Equal(got, wantFiles) {
				t.Errorf("files %v, want %v", got, wantFiles)
			}
		})
	}
}

// TestFixedGOPAndSegments: fixed GOPs put key frames at exact intervals,
// and segmented outputs are named as Elastic Transcoder named them
// (KEY.m3u8, KEY00000.ts…), each segment starting with a key frame.
func TestFixedGOPAndSegments(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Seven) // 7 s at 30 fps
	hls := lookup(t, "hls-400k")              // GOP 90 fixed: key frames at 0, 3, 6 s
	cmaf := lookup(t, "cmaf-h264-360p")       // GOP 60 fixed: 0, 2, 4, 6 s
	smooth := lookup(t, "smooth-1m")          // GOP 60 fixed, 30 fps, one fragmented file
	outs := []jobs.OutputRequest{
		{Key: "hls/400k", Preset: hls, SegmentDuration: "3"},
		{Key: "cmaf/360p", Preset: cmaf, SegmentDuration: "2"},
		{Key: "cmaf/audio", Preset: lookup(t, "cmaf-aac-128k"), SegmentDuration: "2"},
		{Key: "smooth.mp4", Preset: smooth},
	}
	job, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs})
	for _, o := range job.Outputs[:3] {
		if !within(float64(o.DurationMillis), 7000, 100) {
			t.Errorf("%s: job says %d ms, want 7000 (from the playlist)", o.Key, o.DurationMillis)
		}
	}

	want := []string{
		"cmaf", "cmaf/360p.m3u8", "cmaf/360p00000.m4s", "cmaf/360p00001.m4s", "cmaf/360p00002.m4s", "cmaf/360p00003.m4s", "cmaf/360p_init.mp4",
		"cmaf/audio.m3u8", "cmaf/audio00000.m4s", "cmaf/audio00001.m4s", "cmaf/audio00002.m4s", "cmaf/audio00003.m4s", "cmaf/audio_init.mp4",
		"hls", "hls/400k.m3u8", "hls/400k00000.ts", "hls/400k00001.ts", "hls/400k00002.ts",
		"smooth.mp4",
	}
	slices.Sort(want)
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files:\n%v\nwant\n%v", got, want)
	}

	t.Run("ts segments", func(t *testing.T) {
		checkPlaylist(t, filepath.Join(dir, "hls/400k.m3u8"), "", []string{"400k00000.ts", "400k00001.ts", "400k00002.ts"}, []float64{3, 3, 1})
		var keys []float64
		for i := range 3 {
			seg := filepath.Join(dir, fmt.Sprintf("hls/400k%05d.ts", i))
			if !firstVideoPacketIsKey(t, seg) {
				t.Errorf("%s does not start with a key frame", seg)
			}
			keys = append(keys, keyframes(t, seg)...)
			decodes(t, seg)
		}
		// ts timestamps start at 1.4 s (the muxer's offset): compare steps.
		checkKeySteps(t, keys, []float64{0, 3, 6})
	})
	t.Run("fmp4 segments", func(t *testing.T) {
		checkPlaylist(t, filepath.Join(dir, "cmaf/360p.m3u8"), "360p_init.mp4",
			[]string{"360p00000.m4s", "360p00001.m4s", "360p00002.m4s", "360p00003.m4s"}, []float64{2, 2, 2, 1})
		var keys []float64
		for i := range 4 {
			seg := joinFiles(t, filepath.Join(dir, "cmaf/360p_init.mp4"), filepath.Join(dir, fmt.Sprintf("cmaf/360p%05d.m4s", i)))
			if !firstVideoPacketIsKey(t, seg) {
				t.Errorf("segment %d does not start with a key frame", i)
			}
			keys = append(keys, keyframes(t, seg)...)
			decodes(t, seg)
		}
		checkKeySteps(t, keys, []float64{0, 2, 4, 6})
		audio := joinFiles(t, filepath.Join(dir, "cmaf/audio_init.mp4"), filepath.Join(dir, "cmaf/audio00000.m4s"))
		if a := probe(t, audio).audio(t); a.CodecName != "aac" || a.Profile != "LC" || a.SampleRate != "48000" {
			t.Errorf("audio rendition: %s %s %s Hz", a.CodecName, a.Profile, a.SampleRate)
		}
	})
	t.Run("fragmented mp4", func(t *testing.T) {
		file := filepath.Join(dir, "smooth.mp4")
		keys := keyframes(t, file)
		checkKeySteps(t, keys, []float64{0, 2, 4, 6})
		boxes := topBoxes(t, file)
		// One fragment per GOP (frag_keyframe), audio in fragments of its own.
		if n := strings.Count(strings.Join(boxes, " "), "moof"); n < 4 {
			t.Errorf("%d fragments (%v), want at least one per key frame", n, boxes)
		}
		if m := probe(t, file); !within(m.duration(), 7, 0.15) {
			t.Errorf("duration %.3f", m.duration())
		}
	})
}

// checkPlaylist checks an HLS media playlist: VOD, complete, segment URIs
// relative to it (never the staging directory), their durations, and for
// fmp4 the init segment.
func checkPlaylist(t *testing.T, file, init string, segments []string, durations []float64) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{"#EXTM3U", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST"} {
		if !strings.Contains(text, want) {
			t.Errorf("%s has no %s:\n%s", filepath.Base(file), want, text)
		}
	}
	if init != "" && !strings.Contains(text, `#EXT-X-MAP:URI="`+init+`"`) {
		t.Errorf("%s does not name init segment %s:\n%s", filepath.Base(file), init, text)
	}
	if strings.Contains(text, ".transcoder-") {
		t.Errorf("%s names the staging directory:\n%s", filepath.Base(file), text)
	}
	var gotSegs []string
	var gotDur []float64
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			gotDur = append(gotDur, num(strings.TrimSuffix(strings.TrimPrefix(line, "#EXTINF:"), ",")))
		case line != "" && !strings.HasPrefix(line, "#"):
			gotSegs = append(gotSegs, line)
		}
	}
	if !slices.Equal(gotSegs, segments) {
		t.Errorf("segments %v, want %v", gotSegs, segments)
	}
	if len(gotDur) != len(durations) {
		t.Fatalf("durations %v, want %v", gotDur, durations)
	}
	for i := range durations {
		if !within(gotDur[i], durations[i], 0.05) {
			t.Errorf("segment %d lasts %.3f s, want %v", i, gotDur[i], durations[i])
		}
	}
}

// checkKeySteps compares key frame times with want, relative to the first.
func checkKeySteps(t *testing.T, keys, want []float64) {
	t.Helper()
	if len(keys) != len(want) {
		t.Fatalf("key frames at %v, want %d at %v (relative)", keys, len(want), want)
	}
	for i := range keys {
		if !within(keys[i]-keys[0], want[i], 0.02) {
			t.Fatalf("key frames at %v, want %v relative to the first", keys, want)
		}
	}
}

// TestBitrate: bit-rate-driven presets land near their target. x264's ABR
// on 3 s of testsrc2 is loose, so video may be off by 25%; AAC by 10%; mp3
// is constant bit rate, so exact.
func TestBitrate(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Landscape720)
	refs := []string{"generic-480p-16-9", "generic-360p-16-9", "cmaf-h264-480p", "audio-aac-128k", "audio-mp3-192k"}
	var outs []jobs.OutputRequest
	for _, r := range refs {
		p := lookup(t, r)
		outs = append(outs, jobs.OutputRequest{Key: r + jobs.Extension(p.Container), Preset: p})
	}
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs})
	for _, o := range outs {
		t.Run(o.Key, func(t *testing.T) {
			m := probe(t, filepath.Join(dir, o.Key))
			if v := o.Preset.Video; v != nil {
				target := num(v.BitRate) * 1000
				if got := num(m.video(t).BitRate); !within(got, target, 0.25*target) {
					t.Errorf("video bit rate %.0f, want %.0f ± 25%%", got, target)
				}
			}
			if a := o.Preset.Audio; a != nil {
				target := num(a.BitRate) * 1000
				tol := 0.10
				if a.Codec == "mp3" {
					tol = 0
				}
				if got := num(m.audio(t).BitRate); !within(got, target, tol*target) {
					t.Errorf("audio bit rate %.0f, want %.0f ± %.0f%%", got, target, tol*100)
				}
			}
		})
	}
}

// TestThumbnails: Elastic Transcoder's ThumbnailPattern, {count} as five
// digits from 00001 and {resolution} as WxH, one every Interval seconds
// from the first frame, in the format and box of the preset.
func TestThumbnails(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Seven) // 7 s: thumbnails at 0, 2, 4, 6 s
	p := h264("320", "240", "ShrinkToFit", "NoPad")
	// 320×240 into 160×100 with Fit + Pad: f = min(1/2, 5/12) = 5/12 →
	// ne(133.3) = 134 × 100, pillarboxed to 160×100.
	p.Thumbnails = &presets.Thumbnails{Format: "jpg", Interval: "2", MaxWidth: "160", MaxHeight: "100", SizingPolicy: "Fit", PaddingPolicy: "Pad"}
	o := jobs.OutputRequest{Key: "video.mp4", Preset: p, ThumbnailPattern: "t/{resolution}/shot-{count}"}
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: []jobs.OutputRequest{o}})
	want := []string{"t", "t/160x100", "t/160x100/shot-00001.jpg", "t/160x100/shot-00002.jpg", "t/160x100/shot-00003.jpg", "t/160x100/shot-00004.jpg", "video.mp4"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, f := range want[2:6] {
		v := probe(t, filepath.Join(dir, f)).video(t)
		if v.CodecName != "mjpeg" || v.Width != 160 || v.Height != 100 {
			t.Errorf("%s: %s %dx%d, want mjpeg 160x100", f, v.CodecName, v.Width, v.Height)
		}
	}
}

// TestRotate: Rotate auto follows the input's rotation metadata; 0, 90,
// 180 and 270 turn the stored picture clockwise and ignore it. The output
// never carries a display matrix, so players do not turn it again.
func TestRotate(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Portrait) // stored 1280×720, shown turned 90° clockwise
	// Box 320×320, ShrinkToFit: upright 720×1280 → 180×320; stored
	// 1280×720 → 320×180.
	sizes := map[string][2]int{"auto": {180, 320}, "0": {320, 180}, "90": {180, 320}, "180": {320, 180}, "270": {180, 320}}
	var outs []jobs.OutputRequest
	for _, r := range []string{"auto", "0", "90", "180", "270"} {
		outs = append(outs, jobs.OutputRequest{Key: "rotate-" + r + ".mp4", Preset: h264("320", "320", "ShrinkToFit", "NoPad"), Rotate: r})
	}
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs, Clip: &jobs.Clip{Duration: 500 * time.Millisecond}})
	for _, o := range outs {
		v := probe(t, filepath.Join(dir, o.Key)).video(t)
		if s := sizes[o.Rotate]; v.Width != s[0] || v.Height != s[1] || v.rotation() != 0 {
			t.Errorf("%s: %dx%d rotation %v, want %dx%d and no rotation", o.Key, v.Width, v.Height, v.rotation(), s[0], s[1])
		}
	}
	// Compare pictures: auto and 90 show the same, 270 is it upside down;
	// 0 is the stored picture, 180 that upside down.
	frame := func(file string, noAutorotate bool, vf string) []byte {
		return grayFrame(t, file, noAutorotate, vf)
	}
	out := func(r string) string { return filepath.Join(dir, "rotate-"+r+".mp4") }
	upright := frame(out("auto"), false, "scale=90:160")
	stored := frame(src, true, "scale=160:90")
	same := []struct {
		name string
		a, b []byte
	}{
		{"90 = auto", frame(out("90"), false, "scale=90:160"), upright},
		{"270 = auto turned 180°", frame(out("270"), false, "scale=90:160,hflip,vflip"), upright},
		{"0 = stored", frame(out("0"), false, "scale=160:90"), stored},
		{"180 = stored turned 180°", frame(out("180"), false, "scale=160:90,hflip,vflip"), stored},
		{"auto = stored turned 90° clockwise", frame(src, true, "scale=160:90,transpose=clock"), upright},
	}
	for _, c := range same {
		d := meanAbsDiff(c.a, c.b)
		t.Logf("%s: %.2f per pixel", c.name, d)
		if d > 6 {
			t.Errorf("%s: pictures differ by %.1f per pixel", c.name, d)
		}
	}
	// The comparison can tell: 270 is not auto.
	if d := meanAbsDiff(frame(out("270"), false, "scale=90:160"), upright); d < 15 {
		t.Errorf("270 and auto differ by only %.1f per pixel: the comparison cannot tell orientations apart", d)
	}
}

// grayFrame decodes the first frame, filtered by vf, as 8-bit gray.
func grayFrame(t testing.TB, file string, noAutorotate bool, vf string) []byte {
	t.Helper()
	args := []string{"-nostdin", "-v", "error"}
	if noAutorotate {
		args = append(args, "-noautorotate")
	}
	args = append(args, "-i", file, "-frames:v", "1", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "gray", "-")
	out, err := exec.Command("ffmpeg", args...).Output()
	if err != nil {
		t.Fatalf("decode a frame of %s: %v %s", file, err, stderrOf(err))
	}
	return out
}

func meanAbsDiff(a, b []byte) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 255
	}
	var sum int
	for i := range a {
		d := int(a[i]) - int(b[i])
		sum += max(d, -d)
	}
	return float64(sum) / float64(len(a))
}

// TestTimeSpan: a clip (start, duration) encodes that part of the input.
func TestTimeSpan(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Seven)
	p := h264("320", "240", "ShrinkToFit", "NoPad")
	p.Audio = &presets.Audio{Codec: "AAC", SampleRate: "48000", BitRate: "96", Channels: "2"}
	clip := &jobs.Clip{Start: 4 * time.Second, Duration: 1500 * time.Millisecond}
	job, dir := transcode(t, src, jobs.LocalRequest{Outputs: []jobs.OutputRequest{{Key: "clip.mp4", Preset: p}}, Clip: clip})
	if ts := job.Input.TimeSpan; ts == nil || ts.StartTime != "4.000" || ts.Duration != "1.500" {
		t.Errorf("job TimeSpan %+v, want 4.000 + 1.500", ts)
	}
	file := filepath.Join(dir, "clip.mp4")
	m := probe(t, file)
	if !within(m.duration(), 1.5, 0.1) || !within(num(m.video(t).Duration), 1.5, 0.05) || !within(num(m.audio(t).Duration), 1.5, 0.1) {
		t.Errorf("durations: file %s, video %s, audio %s; want 1.5 s", m.Format.Duration, m.video(t).Duration, m.audio(t).Duration)
	}
	// The first frame is the input's frame at 4 s (testsrc2 draws a clock).
	got := grayFrame(t, file, false, "scale=160:120")
	at4 := grayFrameAt(t, src, 4, "scale=160:120")
	at0 := grayFrameAt(t, src, 0, "scale=160:120")
	d, d0 := meanAbsDiff(got, at4), meanAbsDiff(got, at0)
	t.Logf("first frame vs input at 4 s: %.2f per pixel, at 0 s: %.2f", d, d0)
	if d > 2 || d0 < 3*d {
		t.Errorf("first frame differs from the input at 4 s by %.1f, at 0 s by %.1f", d, d0)
	}
}

func grayFrameAt(t testing.TB, file string, at float64, vf string) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-ss", fmt.Sprint(at), "-i", file,
		"-frames:v", "1", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil {
		t.Fatalf("decode %s at %v s: %v %s", file, at, err, stderrOf(err))
	}
	return out
}

// TestIsolate: the same outputs from one ffmpeg process (decode once,
// split) and from one process per output.
func TestIsolate(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Tiny)
	for _, isolate := range []bool{false, true} {
		t.Run(fmt.Sprint("isolate=", isolate), func(t *testing.T) {
			t.Parallel()
			outs := []jobs.OutputRequest{
				{Key: "a/360p.mp4", Preset: lookup(t, "generic-360p-16-9"), ThumbnailPattern: "a/t-{count}"},
				{Key: "b/vp9.webm", Preset: lookup(t, "webm-vp9-opus-720p")},
				{Key: "c/audio.mp3", Preset: lookup(t, "audio-mp3-128k")},
			}
			var commands int
			job, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs, Isolate: isolate,
				OnPlan: func(p *jobs.Plan) bool { commands = len(p.Commands); return true }})
			if want := map[bool]int{false: 1, true: 3}[isolate]; commands != want {
				t.Errorf("%d ffmpeg commands, want %d", commands, want)
			}
			want := []string{"a", "a/360p.mp4", "a/t-00001.png", "b", "b/vp9.webm", "c", "c/audio.mp3"}
			if got := files(t, dir); !slices.Equal(got, want) {
				t.Errorf("files %v, want %v", got, want)
			}
			for i, o := range outs {
				m := probe(t, filepath.Join(dir, o.Key))
				if !within(m.duration(), 1, 0.1) || !within(float64(job.Outputs[i].DurationMillis), 1000, 100) {
					t.Errorf("%s: %s s (job %d ms), want 1", o.Key, m.Format.Duration, job.Outputs[i].DurationMillis)
				}
				decodes(t, filepath.Join(dir, o.Key))
			}
		})
	}
}

// TestFrameRate: FrameRate auto keeps the input's rate up to MaxFrameRate,
// which defaults to 30 as in Elastic Transcoder; a fixed FrameRate wins.
func TestFrameRate(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.HighRate) // 60 fps
	auto := h264("320", "240", "ShrinkToFit", "NoPad")
	max60 := h264("320", "240", "ShrinkToFit", "NoPad")
	max60.Video.MaxFrameRate = "60"
	max25 := h264("320", "240", "ShrinkToFit", "NoPad")
	max25.Video.MaxFrameRate = "25"
	fixed := h264("320", "240", "ShrinkToFit", "NoPad")
	fixed.Video.FrameRate = "23.97"
	cases := []struct {
		key  string
		p    *presets.Preset
		want float64
	}{
		{"auto.mp4", auto, 30},
		{"max60.mp4", max60, 60},
		{"max25.mp4", max25, 25},
		{"fixed.mp4", fixed, 24000.0 / 1001},
	}
	var outs []jobs.OutputRequest
	for _, c := range cases {
		outs = append(outs, jobs.OutputRequest{Key: c.key, Preset: c.p})
	}
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs})
	for _, c := range cases {
		file := filepath.Join(dir, c.key)
		v := probe(t, file).video(t)
		if r := num(v.AvgFrameRate); !within(r, c.want, 0.02) {
			t.Errorf("%s: %s fps, want %.3f", c.key, v.AvgFrameRate, c.want)
		}
		if n := countFrames(t, file); !within(float64(n), c.want, 1) {
			t.Errorf("%s: %d frames in 1 s, want %.0f", c.key, n, c.want)
		}
	}
	// An input at 25 fps keeps 25 under auto.
	_, dir = transcode(t, testmedia.Path(t, testmedia.SD43), jobs.LocalRequest{
		Outputs: []jobs.OutputRequest{{Key: "auto.mp4", Preset: auto}}, Clip: &jobs.Clip{Duration: time.Second}})
	if v := probe(t, filepath.Join(dir, "auto.mp4")).video(t); v.RFrameRate != "25/1" {
		t.Errorf("25 fps input under auto: %s, want 25/1", v.RFrameRate)
	}
}

// TestDeinterlace: an interlaced input becomes progressive for a
// progressive preset.
func TestDeinterlace(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.InterlacedSD)
	if s := probe(t, src).video(t); s.FieldOrder != "tt" {
		t.Fatalf("the test clip is %q, not interlaced top field first", s.FieldOrder)
	}
	p := lookup(t, "generic-360p-4-3")
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: []jobs.OutputRequest{{Key: "p.mp4", Preset: p}}})
	if s := probe(t, filepath.Join(dir, "p.mp4")).video(t); s.FieldOrder != "progressive" || s.Width != 320 || s.Height != 240 {
		t.Errorf("%s %dx%d, want progressive 320x240", s.FieldOrder, s.Width, s.Height)
	}
}

// TestHEAACFallback: without libfdk_aac, HE-AAC is encoded as AAC-LC and
// the output says so in a warning.
func TestHEAACFallback(t *testing.T) {
	t.Parallel()
	env := e2eTools(t)
	p := lookup(t, "audio-aac-64k")
	p.Audio.CodecOptions = &presets.AudioCodecOptions{Profile: "HE-AAC"}
	job, dir := transcode(t, testmedia.Path(t, testmedia.Tiny), jobs.LocalRequest{Outputs: []jobs.OutputRequest{{Key: "he.m4a", Preset: p}}})
	a := probe(t, filepath.Join(dir, "he.m4a")).audio(t)
	if env.caps.Encoders["libfdk_aac"] {
		if a.Profile != "HE-AAC" {
			t.Errorf("profile %q with libfdk_aac, want HE-AAC", a.Profile)
		}
		return
	}
	if a.CodecName != "aac" || a.Profile != "LC" {
		t.Errorf("audio %s %q, want aac LC", a.CodecName, a.Profile)
	}
	w := job.Outputs[0].Warnings
	if len(w) != 1 || !strings.Contains(w[0], "HE-AAC") || !strings.Contains(w[0], "AAC-LC") || !strings.Contains(w[0], "libfdk_aac") {
		t.Errorf("warnings %q, want one naming HE-AAC, libfdk_aac and AAC-LC", w)
	}
}

// TestAudioContainers: audio codecs, bit depths and containers that no
// system preset covers.
func TestAudioContainers(t *testing.T) {
	t.Parallel()
	src := testmedia.Path(t, testmedia.Tiny)
	audio := func(container, codec, depth string) *presets.Preset {
		return &presets.Preset{ID: "test-" + container, Name: "test " + container, Container: container,
			Audio: &presets.Audio{Codec: codec, SampleRate: "48000", Channels: "2", BitRate: "96",
				CodecOptions: &presets.AudioCodecOptions{BitDepth: depth, Signed: "Signed"}}}
	}
	cases := []struct {
		key                     string
		p                       *presets.Preset
		format, codec, fmt, raw string
	}{
		{"vorbis.oga", audio("oga", "vorbis", ""), "ogg", "vorbis", "fltp", ""},
		{"flac.oga", audio("oga", "flac", "16"), "ogg", "flac", "s16", ""},
		{"flac24.flac", audio("flac", "flac", "24"), "flac", "flac", "s32", "24"},
		{"pcm24.wav", audio("wav", "pcm", "24"), "wav", "pcm_s24le", "s32", "24"},
		// MPEG audio: ffmpeg's demuxer for it is called mp3.
		{"mp2.mp2", audio("mp2", "mp2", ""), "mp3", "mp2", "", ""},
	}
	var outs []jobs.OutputRequest
	for _, c := range cases {
		outs = append(outs, jobs.OutputRequest{Key: c.key, Preset: c.p})
	}
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs})
	for _, c := range cases {
		m := probe(t, filepath.Join(dir, c.key))
		a := m.audio(t)
		if m.Format.FormatName != c.format || a.CodecName != c.codec || (c.fmt != "" && a.SampleFmt != c.fmt) || a.SampleRate != "48000" || a.Channels != 2 {
			t.Errorf("%s: %s %s %s %s Hz %d ch, want %s %s %s 48000 Hz 2 ch", c.key, m.Format.FormatName, a.CodecName, a.SampleFmt, a.SampleRate, a.Channels, c.format, c.codec, c.fmt)
		}
		if c.raw != "" && a.BitsPerRawSample != c.raw {
			t.Errorf("%s: %s bits per sample, want %s", c.key, a.BitsPerRawSample, c.raw)
		}
		if !within(m.duration(), 1, 0.1) {
			t.Errorf("%s: %s s, want 1", c.key, m.Format.Duration)
		}
		decodes(t, filepath.Join(dir, c.key))
	}
}

// TestBadInput: each bad input gives one error that names the file and
// the problem, the job in state Error with ET's code, and nothing in the
// output directory.
func TestBadInput(t *testing.T) {
	t.Parallel()
	env := e2eTools(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good, err := os.ReadFile(testmedia.Path(t, testmedia.Seven)) // 7 s, moov first (faststart)
	if err != nil {
		t.Fatal(err)
	}
	missingTools := ffmpeg.Tools{FFmpeg: "/nonexistent/bin/ffmpeg", FFprobe: "/nonexistent/bin/ffprobe"}
	tests := []struct {
		name   string
		input  string
		tools  ffmpeg.Tools
		is     error
		code   string
		within []string // in the error text
	}{
		{"missing file", filepath.Join(dir, "nope.mp4"), env.tools, fs.ErrNotExist, "3001",
			[]string{"nope.mp4", "no such file"}},
		// Cut inside the header: ffprobe cannot read it at all.
		{"truncated header", write("head.mp4", good[:2000]), env.tools, ffmpeg.ErrInvalidMedia, "4000",
			[]string{"head.mp4", "not a readable media file"}},
		// Cut in the middle: the index (moov) is whole, the media ends at
		// about 3.5 s of 7, and ffmpeg takes the read error for the end.
		{"truncated media", write("half.mp4", good[:len(good)/2]), env.tools, jobs.ErrBadRequest, "4000",
			[]string{"half.mp4", "truncated"}},
		{"text renamed .mp4", write("notes.mp4", []byte("these are not the frames you are looking for\n")), env.tools, ffmpeg.ErrInvalidMedia, "4000",
			[]string{"notes.mp4", "not a readable media file"}},
		{"ffmpeg not installed", testmedia.Path(t, testmedia.Tiny), missingTools, ffmpeg.ErrNotFound, "9000",
			[]string{"/nonexistent/bin/ffmpeg", "apt-get install ffmpeg"}},
		{"ffmpeg missing, ffprobe there", testmedia.Path(t, testmedia.Tiny), ffmpeg.Tools{FFmpeg: "/nonexistent/bin/ffmpeg", FFprobe: env.tools.FFprobe}, ffmpeg.ErrNotFound, "9000",
			[]string{"/nonexistent/bin/ffmpeg", "install FFmpeg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "out", "sub")
			p := lookup(t, "generic-360p-16-9")
			job, err := jobs.TranscodeLocal(context.Background(), tt.tools, jobs.LocalRequest{
				Input: tt.input, OutputDir: out, Caps: env.caps,
				Outputs: []jobs.OutputRequest{{Key: "x.mp4", Preset: p, ThumbnailPattern: "x-{count}"}},
			})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			for _, s := range tt.within {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error has several lines:\n%s", err)
			}
			if job == nil || job.Status != jobs.StatusError || job.Outputs[0].Status != jobs.StatusError ||
				!strings.HasPrefix(job.Outputs[0].StatusDetail, tt.code+" ") {
				if job == nil {
					t.Fatalf("no job, want one in state Error")
				}
				t.Errorf("job %s, output %s %q; want Error with StatusDetail %s …", job.Status, job.Outputs[0].Status, job.Outputs[0].StatusDetail, tt.code)
			}
			if _, err := os.Stat(filepath.Dir(out)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("output directory left behind (%v): %v", err, files(t, filepath.Dir(out)))
			}
		})
	}
	t.Run("unknown preset", func(t *testing.T) {
		_, err := presets.NewRegistry().Lookup("generic-720")
		var le *presets.LookupError
		if !errors.As(err, &le) || !errors.Is(err, presets.ErrNotFound) ||
			!strings.Contains(err.Error(), `unknown preset "generic-720"`) || !strings.Contains(err.Error(), "generic-720p") {
			t.Errorf("error %v, want an unknown-preset error suggesting generic-720p", err)
		}
	})
	t.Run("ffmpeg.Locate", func(t *testing.T) {
		_, err := ffmpeg.Locate("/nonexistent/bin/ffmpeg", "")
		if !errors.Is(err, ffmpeg.ErrNotFound) || !strings.Contains(err.Error(), "apt-get install ffmpeg") {
			t.Errorf("error %v, want ErrNotFound with how to install", err)
		}
	})
	t.Run("video preset, input without video", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		_, err := jobs.TranscodeLocal(context.Background(), env.tools, jobs.LocalRequest{
			Input: testmedia.Path(t, testmedia.NoAudio), OutputDir: out, Caps: env.caps,
			Outputs: []jobs.OutputRequest{{Key: "a.mp3", Preset: lookup(t, "audio-mp3-128k")}},
		})
		if !errors.Is(err, jobs.ErrBadRequest) || !strings.Contains(err.Error(), "no audio stream") {
			t.Errorf("error %v, want a bad request about the missing audio", err)
		}
		if got := files(t, out); len(got) > 0 {
			t.Errorf("left behind: %v", got)
		}
	})
}

// TestCancel: cancelling mid-run stops ffmpeg and leaves no file, not even
// the staging directory, whether one process runs or several.
func TestCancel(t *testing.T) {
	t.Parallel()
	env := e2eTools(t)
	src := testmedia.Path(t, testmedia.Long) // 20 s: several seconds of x264
	for _, isolate := range []bool{false, true} {
		t.Run(fmt.Sprint("isolate=", isolate), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := t.TempDir()
			var progressed atomic.Bool
			start := time.Now()
			job, err := jobs.TranscodeLocal(ctx, env.tools, jobs.LocalRequest{
				Input: src, OutputDir: out, Caps: env.caps, Isolate: isolate,
				Outputs: []jobs.OutputRequest{
					{Key: "v.mp4", Preset: lookup(t, "generic-720p"), ThumbnailPattern: "t-{count}"},
					{Key: "a.mp3", Preset: lookup(t, "audio-mp3-128k")},
				},
				Exec: jobs.ExecOptions{GracePeriod: 2 * time.Second, OnProgress: func(p ffmpeg.Progress) {
					// Cancel once ffmpeg is under way and has written something.
					if p.Percent > 1 && !progressed.Swap(true) {
						cancel()
					}
				}},
			})
			if !progressed.Load() {
				t.Fatalf("finished (err %v) before any progress report", err)
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if elapsed := time.Since(start); elapsed > 15*time.Second {
				t.Errorf("took %s to stop", elapsed)
			}
			if job.Status != jobs.StatusCanceled {
				t.Errorf("job %s, want Canceled", job.Status)
			}
			for _, o := range job.Outputs {
				if o.Status != jobs.StatusCanceled {
					t.Errorf("output %s: %s, want Canceled", o.Key, o.Status)
				}
			}
			if got := files(t, out); len(got) > 0 {
				t.Errorf("left behind: %v", got)
			}
		})
	}
}
