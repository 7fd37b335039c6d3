package jobs

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/presets"
)

// TestValidatePlaylists: Elastic Transcoder's playlist rules, with its
// messages where they are known (quoted in boto/boto3#1618,
// video-dev/video-transcoding-api#65 and aws/aws-sdk-php#324).
func TestValidatePlaylists(t *testing.T) {
	r := presets.NewRegistry()
	seg := func(key, ref, d string) OutputRequest {
		return OutputRequest{Key: key, Preset: mustPreset(t, r, ref), SegmentDuration: d}
	}
	ts := []OutputRequest{seg("hls/1m", "hls-1m", "6"), seg("hls/400k", "hls-400k", "6"), seg("hls/audio", "hls-audio-160k", "6")}
	cmaf := []OutputRequest{seg("cmaf/720p", "cmaf-h264-720p", "4"), seg("cmaf/audio", "cmaf-aac-128k", "4")}
	tests := []struct {
		name string
		outs []OutputRequest
		pls  []PlaylistRequest
		want string // "" for valid
	}{
		{"HLSv3", ts, []PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m", "hls/400k", "hls/audio"}}}, ""},
		{"HLSv4 and HLSv7 and DASH", append(ts[:2:2], cmaf...), []PlaylistRequest{
			{Name: "hls/index", Format: FormatHLSv4, OutputKeys: []string{"hls/1m", "hls/400k"}},
			{Name: "cmaf/index", Format: FormatHLSv7, OutputKeys: []string{"cmaf/720p", "cmaf/audio"}},
			{Name: "cmaf/index", Format: FormatDASH, OutputKeys: []string{"cmaf/720p", "cmaf/audio"}},
		}, ""},
		{"top-level playlist", ts, []PlaylistRequest{{Name: "index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}}}, ""},
		{"unknown output", ts, []PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m", "hls/2m"}}},
			`playlist "hls/index" names output key "hls/2m", which is not the key of any output of this job`},
		{"segment durations differ", []OutputRequest{seg("hls/1m", "hls-1m", "6"), seg("hls/400k", "hls-400k", "10")},
			[]PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m", "hls/400k"}}},
			`All outputs in a playlist must have the same SegmentDuration. (playlist "hls/index": 6 s and 10 s)`},
		{"same duration written differently", []OutputRequest{seg("hls/1m", "hls-1m", "6"), seg("hls/400k", "hls-400k", "6.0")},
			[]PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m", "hls/400k"}}}, ""},
		{"key outside the prefix", ts, []PlaylistRequest{{Name: "streams/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}}},
			`All outputs in a playlist must begin identically to the playlist name upto the last / character. (playlist "streams/index", output key "hls/1m")`},
		{"no segment duration", []OutputRequest{{Key: "hls/1m", Preset: mustPreset(t, r, "hls-1m")}},
			[]PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}}},
			"Output 'hls/1m' must have a SegmentDuration since it is part of a playlist."},
		{"HLSv4 over fmp4", cmaf, []PlaylistRequest{{Name: "cmaf/index", Format: FormatHLSv4, OutputKeys: []string{"cmaf/720p"}}},
			"All output keys in a HLSv4 playlist must have container type of ts. For fmp4 (CMAF) outputs use HLSv7."},
		{"DASH over ts", ts, []PlaylistRequest{{Name: "hls/index", Format: FormatDASH, OutputKeys: []string{"hls/1m"}}},
			"All output keys in a MPEG-DASH playlist must have container type of fmp4."},
		{"DASH over muxed audio and video", []OutputRequest{seg("s/1m", "smooth-1m", "2")},
			[]PlaylistRequest{{Name: "s/index", Format: FormatDASH, OutputKeys: []string{"s/1m"}}},
			`output "s/1m" has both video and audio; MPEG-DASH needs video-only and audio-only outputs`},
		{"Smooth", ts, []PlaylistRequest{{Name: "hls/index", Format: FormatSmooth, OutputKeys: []string{"hls/1m"}}},
			`playlist "hls/index": Smooth playlists are not supported; allowed formats: HLSv3, HLSv4, HLSv7, MPEG-DASH`},
		{"unknown format", ts, []PlaylistRequest{{Name: "hls/index", Format: "hls", OutputKeys: []string{"hls/1m"}}},
			`format "hls" is not allowed; allowed: HLSv3, HLSv4, HLSv7, MPEG-DASH`},
		{"no outputs", ts, []PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3}}, `playlist "hls/index" names no outputs`},
		{"no name", ts, []PlaylistRequest{{Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}}}, "a playlist has no Name"},
		{"name escapes", ts, []PlaylistRequest{{Name: "../index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}}}, "must be relative and must not contain '..'"},
		{"output twice", ts, []PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m", "hls/1m"}}}, `names output key "hls/1m" twice`},
		{"HLSv3 and HLSv4 over one output", ts, []PlaylistRequest{
			{Name: "hls/v3", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}},
			{Name: "hls/v4", Format: FormatHLSv4, OutputKeys: []string{"hls/1m"}},
		}, `output "hls/1m" is in playlist "hls/v3" (HLSv3) and in playlist "hls/v4" (HLSv4), which need different files`},
		{"two playlists, one file", ts, []PlaylistRequest{
			{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}},
			{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/400k"}},
		}, `playlists "hls/index" and "hls/index" would both write hls/index.m3u8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePlaylists(tt.outs, tt.pls)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want == "":
			case err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrBadRequest):
				t.Fatalf("error = %v\nwant ErrBadRequest containing %q", err, tt.want)
			}
		})
	}
}

// TestPlaylistFileClash: a playlist may not overwrite an output's file.
func TestPlaylistFileClash(t *testing.T) {
	r := presets.NewRegistry()
	_, err := BuildPlan(PlanRequest{Input: "in.mp4", Probe: probe1080, Dir: "out",
		Outputs:   []OutputRequest{{Key: "hls/index", Preset: mustPreset(t, r, "hls-1m"), SegmentDuration: "6"}},
		Playlists: []PlaylistRequest{{Name: "hls/index", Format: FormatHLSv3, OutputKeys: []string{"hls/index"}}},
	})
	if err == nil || !strings.Contains(err.Error(), `playlist "hls/index" and output "hls/index" would both write hls/index.m3u8`) {
		t.Fatalf("error = %v", err)
	}
}

// TestPlaylistRefusedBeforeWork: a bad playlist fails the job before
// anything is looked at: here the input does not even exist, and the
// error is the playlist's, coded 4000 like Elastic Transcoder's
// ValidationException, on the job's outputs and playlists alike.
func TestPlaylistRefusedBeforeWork(t *testing.T) {
	r := presets.NewRegistry()
	dir := t.TempDir()
	job, err := TranscodeLocal(context.Background(), ffmpeg.Tools{}, LocalRequest{
		Input: filepath.Join(dir, "missing.mp4"), OutputDir: filepath.Join(dir, "out"),
		Outputs:   []OutputRequest{{Key: "hls/1m", Preset: mustPreset(t, r, "hls-1m"), SegmentDuration: "6"}},
		Playlists: []PlaylistRequest{{Name: "other/index", Format: FormatHLSv3, OutputKeys: []string{"hls/1m"}}},
	})
	const want = "All outputs in a playlist must begin identically to the playlist name upto the last / character."
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want %q", err, want)
	}
	if job.Status != StatusError || !strings.HasPrefix(job.Outputs[0].StatusDetail, "4000 "+want) {
		t.Errorf("job %s, output detail %q", job.Status, job.Outputs[0].StatusDetail)
	}
	if len(job.Playlists) != 1 || job.Playlists[0].Status != StatusError || !strings.HasPrefix(job.Playlists[0].StatusDetail, "4000 ") {
		t.Errorf("playlists %+v", job.Playlists)
	}
}

// TestPlanPlaylistGolden pins the ffmpeg arguments of outputs in
// playlists: HLSv4's single byte-ranged file and key frames forced at
// every segment boundary. Run `go test ./jobs -run Golden -update` after
// an intended change.
func TestPlanPlaylistGolden(t *testing.T) {
	r := presets.NewRegistry()
	p, err := BuildPlan(PlanRequest{Input: "in.mp4", Probe: probePortrait, Dir: "out",
		Outputs: []OutputRequest{
			{Key: "v4/1m", Preset: mustPreset(t, r, "hls-video-1m"), SegmentDuration: "6"},
			{Key: "v4/audio", Preset: mustPreset(t, r, "hls-audio-64k"), SegmentDuration: "6"},
			{Key: "cmaf/720p", Preset: mustPreset(t, r, "cmaf-h264-720p"), SegmentDuration: "4", Rung: true},
		},
		Playlists: []PlaylistRequest{
			{Name: "v4/index", Format: FormatHLSv4, OutputKeys: []string{"v4/1m", "v4/audio"}},
			{Name: "cmaf/index", Format: FormatDASH, OutputKeys: []string{"cmaf/720p"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range p.Commands[0].Args {
		b.WriteString(a + "\n")
	}
	for _, o := range p.Outputs {
		b.WriteString("# output " + strings.Join(o.Files(), " ") + "\n")
	}
	for _, pl := range p.Playlists {
		b.WriteString("# playlist " + pl.File + "\n")
	}
	golden(t, filepath.Join("testdata", "plan", "playlists.golden"), b.String())
}

// TestPlaylistWriters pins what the master playlists and the MPD say
// for renditions whose measurements are given: attributes, audio groups,
// I-frame playlists, URIs relative to the playlist (escaped), and a DASH
// SegmentTimeline folded into runs.
func TestPlaylistWriters(t *testing.T) {
	video := func(w, h int, codec string, kbit int64) *rendition {
		return &rendition{hasVideo: true, width: w, height: h, frameRate: 29.97, videoCodec: codec, target: 4, timescale: 30000,
			segments: []segment{
				{duration: 4, size: kbit * 500, start: 0}, {duration: 4, size: kbit * 520, start: 120000},
				{duration: 4, size: kbit * 480, start: 240000}, {duration: 0.5, size: kbit * 200, start: 360000},
			}}
	}
	audio := &rendition{hasAudio: true, audioCodec: "mp4a.40.2", sampleRate: 48000, channels: 2, target: 4, timescale: 48000,
		segments: []segment{{duration: 4, size: 64000, start: 0}, {duration: 4, size: 64000, start: 192000}, {duration: 4, size: 64000, start: 384000}, {duration: 0.5, size: 8000, start: 576000}}}
	muxed := video(640, 360, "avc1.4d401e", 900)
	muxed.hasAudio, muxed.audioCodec = true, "mp4a.40.2"
	hi, lo := video(1280, 720, "avc1.64001f", 3000), video(640, 360, "avc1.4d401e", 800)
	hi.iframes = []segment{{duration: 4, size: 40000}, {duration: 4, size: 41000}, {duration: 4.5, size: 39000}}
	outs := func(keys ...string) ([]*PlannedOutput, []int) {
		var po []*PlannedOutput
		var idx []int
		for i, k := range keys {
			po = append(po, &PlannedOutput{Request: OutputRequest{Key: k}, Main: k + ".m3u8", InitSegment: k + "_init.mp4", SegmentPattern: k + digits5 + ".m4s"})
			idx = append(idx, i)
		}
		return po, idx
	}
	tests := []struct {
		name   string
		format string
		keys   []string
		rends  []*rendition
	}{
		{"hlsv7-audio-group", FormatHLSv7, []string{"s/720p", "s/360p", "s/audio en"}, []*rendition{hi, lo, audio}},
		{"hlsv3-muxed", FormatHLSv3, []string{"s/a/1m", "s/audio"}, []*rendition{muxed, audio}},
		{"hlsv4-iframes", FormatHLSv4, []string{"s/720p", "s/audio"}, []*rendition{hi, audio}},
		{"dash", FormatDASH, []string{"s/720p", "s/360p", "s/$audio"}, []*rendition{hi, lo, audio}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			po, idx := outs(tt.keys...)
			if tt.format == FormatHLSv4 {
				po[0].Main, po[0].IFramePlaylist = "s/720p_v4.m3u8", "s/720p_iframe.m3u8"
			}
			pl := PlannedPlaylist{Request: PlaylistRequest{Name: "s/index", Format: tt.format, OutputKeys: tt.keys}, Outputs: idx}
			var data []byte
			if tt.format == FormatDASH {
				var err error
				if data, err = dashManifest(pl, po, tt.rends); err != nil {
					t.Fatal(err)
				}
			} else {
				data = hlsMaster(pl, po, tt.rends)
			}
			golden(t, filepath.Join("testdata", "playlists", tt.name+PlaylistExtension(tt.format)), string(data))
		})
	}
}
