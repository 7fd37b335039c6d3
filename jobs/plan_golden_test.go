package jobs

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/presets"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// Probes of typical inputs, as internal/ffmpeg reports them.
var (
	probe1080 = &ffmpeg.ProbeResult{Path: "in.mp4", FormatName: "mov,mp4,m4a,3gp,3g2,mj2", Duration: 10 * time.Second, Size: 5 << 20,
		Streams: []ffmpeg.Stream{
			{Index: 0, Type: "video", Codec: "h264", Width: 1920, Height: 1080, FrameRate: 30, FieldOrder: "progressive", SampleAspectRatio: "1:1"},
			{Index: 1, Type: "audio", Codec: "aac", SampleRate: 48000, Channels: 2, ChannelLayout: "stereo"},
		}}
	probePortrait = &ffmpeg.ProbeResult{Path: "phone.mp4", Duration: 8 * time.Second,
		Streams: []ffmpeg.Stream{
			{Index: 0, Type: "video", Codec: "h264", Width: 1920, Height: 1080, Rotation: 90, FrameRate: 29.97},
			{Index: 1, Type: "audio", Codec: "aac", SampleRate: 44100, Channels: 1},
		}}
	probeInterlaced = &ffmpeg.ProbeResult{Path: "tape.mxf", Duration: 10 * time.Second,
		Streams: []ffmpeg.Stream{
			{Index: 0, Type: "video", Codec: "mpeg2video", Width: 1920, Height: 1080, FrameRate: 25, Interlaced: true, FieldOrder: "tt"},
			{Index: 1, Type: "audio", Codec: "pcm_s24le", SampleRate: 48000, Channels: 2},
		}}
	probeAudio = &ffmpeg.ProbeResult{Path: "song.m4a", Duration: 3 * time.Minute,
		Streams: []ffmpeg.Stream{{Index: 0, Type: "audio", Codec: "aac", SampleRate: 44100, Channels: 2}}}
)

// TestPlanGolden pins the exact ffmpeg argument list for each preset and
// case. Run `go test ./jobs -run Golden -update` after an intended change
// and review the diff of jobs/testdata/plan/.
func TestPlanGolden(t *testing.T) {
	r := presets.NewRegistry()
	heaac := mustPreset(t, r, "generic-720p")
	heaac.Audio.CodecOptions.Profile = "HE-AAC"
	out := func(key, ref string) OutputRequest { return OutputRequest{Key: key, Preset: mustPreset(t, r, ref)} }
	tests := []struct {
		name    string
		probe   *ffmpeg.ProbeResult
		outputs []OutputRequest
		clip    *Clip
		isolate bool
	}{
		{name: "generic-720p", probe: probe1080, outputs: []OutputRequest{out("in-generic-720p.mp4", "generic-720p")}},
		{name: "three-outputs-thumbnails", probe: probe1080, outputs: []OutputRequest{
			{Key: "720p.mp4", Preset: mustPreset(t, r, "generic-720p"), ThumbnailPattern: "thumbs/720p-{resolution}-{count}"},
			out("480p.mp4", "generic-480p-16-9"),
			out("audio.mp3", "audio-mp3-128k"),
		}},
		{name: "three-outputs-isolated", probe: probe1080, isolate: true, outputs: []OutputRequest{
			out("720p.mp4", "generic-720p"), out("480p.mp4", "generic-480p-16-9"), out("audio.mp3", "audio-mp3-128k"),
		}},
		{name: "hls-ts-segments", probe: probe1080, outputs: []OutputRequest{{Key: "hls/2m", Preset: mustPreset(t, r, "hls-2m"), SegmentDuration: "6"}}},
		{name: "cmaf-fmp4-segments", probe: probe1080, outputs: []OutputRequest{
			{Key: "cmaf/720p", Preset: mustPreset(t, r, "cmaf-h264-720p"), SegmentDuration: "4"},
			{Key: "cmaf/audio", Preset: mustPreset(t, r, "cmaf-aac-128k"), SegmentDuration: "4"},
		}},
		{name: "same-preset-twice", probe: probe1080, outputs: []OutputRequest{out("a.mp4", "generic-720p"), out("b.mp4", "generic-720p"), out("c.mp4", "generic-720p")}},
		{name: "gif", probe: probe1080, outputs: []OutputRequest{out("anim.gif", "gif-animated")}},
		{name: "webm-vp9", probe: probe1080, outputs: []OutputRequest{out("web.webm", "webm-vp9-720p")}},
		{name: "hevc-av1", probe: probe1080, outputs: []OutputRequest{out("hevc.mp4", "hevc-1080p"), out("av1.mp4", "av1-720p")}},
		{name: "xdcam-mxf", probe: probeInterlaced, outputs: []OutputRequest{out("xdcam.mxf", "full-hd-1080i60-xdcam422")}},
		{name: "ntsc-mpg", probe: probe1080, outputs: []OutputRequest{out("dvd.mpg", "ntsc-mpg")}},
		{name: "interlaced-to-progressive", probe: probeInterlaced, outputs: []OutputRequest{out("web.mp4", "generic-720p")}},
		{name: "portrait-clip-rotate", probe: probePortrait, clip: &Clip{Start: 1500 * time.Millisecond, Duration: 3 * time.Second},
			outputs: []OutputRequest{out("auto.mp4", "generic-720p"), {Key: "r90.mp4", Preset: mustPreset(t, r, "generic-360p-4-3"), Rotate: "90"}}},
		{name: "audio-only-input", probe: probeAudio, outputs: []OutputRequest{out("a.m4a", "audio-aac-128k"), out("a.wav", "audio-wav-8bit"), out("a.flac", "audio-flac-cd"), out("a.ogg", "audio-opus-128k")}},
		{name: "he-aac-fallback", probe: probe1080, outputs: []OutputRequest{{Key: "he.mp4", Preset: heaac}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := BuildPlan(PlanRequest{Input: tt.probe.Path, Probe: tt.probe, Clip: tt.clip, Outputs: tt.outputs, Dir: "out", Isolate: tt.isolate})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, c := range p.Commands {
				if i > 0 {
					b.WriteString("--- next process\n")
				}
				for _, a := range c.Args {
					b.WriteString(a + "\n")
				}
			}
			for _, o := range p.Outputs {
				b.WriteString("# output " + o.Main)
				for _, w := range o.Warnings {
					b.WriteString(" warning: " + w)
				}
				b.WriteString("\n")
			}
			golden(t, filepath.Join("testdata", "plan", tt.name+".golden"), b.String())
		})
	}
}

func TestPlanErrors(t *testing.T) {
	r := presets.NewRegistry()
	tests := []struct {
		name    string
		probe   *ffmpeg.ProbeResult
		outputs []OutputRequest
		clip    *Clip
		want    string
	}{
		{"video preset, audio input", probeAudio, []OutputRequest{{Key: "x.gif", Preset: mustPreset(t, r, "gif-animated")}}, nil, "needs video and the input has no video stream"},
		{"segments on mp4", probe1080, []OutputRequest{{Key: "x", Preset: mustPreset(t, r, "generic-720p"), SegmentDuration: "6"}}, nil, "segment duration applies to ts and fmp4 outputs"},
		{"segment range", probe1080, []OutputRequest{{Key: "x", Preset: mustPreset(t, r, "hls-2m"), SegmentDuration: "61"}}, nil, "allowed: 1 to 60 seconds"},
		{"key escapes", probe1080, []OutputRequest{{Key: "../x.mp4", Preset: mustPreset(t, r, "generic-720p")}}, nil, "must be relative and must not contain '..'"},
		{"same file twice", probe1080, []OutputRequest{{Key: "x.mp4", Preset: mustPreset(t, r, "generic-720p")}, {Key: "x.mp4", Preset: mustPreset(t, r, "generic-480p-16-9")}}, nil, "outputs 1 and 2 would both write x.mp4"},
		{"thumbnail pattern", probe1080, []OutputRequest{{Key: "x.mp4", Preset: mustPreset(t, r, "generic-720p"), ThumbnailPattern: "thumb"}}, nil, "must contain {count}"},
		{"rotate", probe1080, []OutputRequest{{Key: "x.mp4", Preset: mustPreset(t, r, "generic-720p"), Rotate: "45"}}, nil, "allowed: auto, 0, 90, 180, 270"},
		{"clip after end", probe1080, []OutputRequest{{Key: "x.mp4", Preset: mustPreset(t, r, "generic-720p")}}, &Clip{Start: time.Minute}, "after the end of the input"},
		{"ladder", probe1080, []OutputRequest{{Key: "x", Preset: mustPreset(t, r, "hls-1080p-ladder")}}, nil, "is a ladder; expand it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildPlan(PlanRequest{Input: "in", Probe: tt.probe, Outputs: tt.outputs, Clip: tt.clip, Dir: "out"})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error = %v, want ErrBadRequest containing %q", err, tt.want)
			}
		})
	}
	_, err := BuildPlan(PlanRequest{Input: "in", Probe: probe1080, Dir: "out", Caps: Capabilities{Encoders: map[string]bool{"aac": true}},
		Outputs: []OutputRequest{{Key: "x.mp4", Preset: mustPreset(t, r, "generic-720p")}}})
	if err == nil || !strings.Contains(err.Error(), "this ffmpeg has no libx264 encoder") {
		t.Fatalf("missing encoder error = %v", err)
	}
}

func mustPreset(t *testing.T, r *presets.Registry, ref string) *presets.Preset {
	t.Helper()
	p, err := r.Lookup(ref)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./jobs -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test ./jobs -run Golden -update if intended):\n--- got\n%s", path, got)
	}
}
