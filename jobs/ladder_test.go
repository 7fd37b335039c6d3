package jobs

import (
	"slices"
	"testing"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/presets"
)

func TestDropRungsAboveSource(t *testing.T) {
	r := presets.NewRegistry()
	ladder, err := r.Lookup("hls-1080p-ladder")
	if err != nil {
		t.Fatal(err)
	}
	rungs, err := r.Rungs(ladder)
	if err != nil {
		t.Fatal(err)
	}
	var outs []OutputRequest
	for _, p := range rungs {
		outs = append(outs, OutputRequest{Key: p.Alias(), Preset: p, Rung: true})
	}
	outs = append(outs, OutputRequest{Key: "single", Preset: mustPreset(t, r, "generic-1080p")})
	src := func(w, h, rot int) *ffmpeg.ProbeResult {
		return &ffmpeg.ProbeResult{Streams: []ffmpeg.Stream{{Type: "video", Width: w, Height: h, Rotation: rot}}}
	}
	tests := []struct {
		name  string
		probe *ffmpeg.ProbeResult
		want  []string
	}{
		{"1080p keeps all", src(1920, 1080, 0), []string{"cmaf-h264-1080p", "cmaf-h264-720p", "cmaf-h264-480p", "cmaf-h264-360p", "cmaf-aac-128k", "single"}},
		{"720p drops 1080p", src(1280, 720, 0), []string{"cmaf-h264-720p", "cmaf-h264-480p", "cmaf-h264-360p", "cmaf-aac-128k", "single"}},
		{"between rungs", src(1000, 560, 0), []string{"cmaf-h264-480p", "cmaf-h264-360p", "cmaf-aac-128k", "single"}},
		{"360p source", src(640, 360, 0), []string{"cmaf-h264-360p", "cmaf-aac-128k", "single"}},
		{"tiny keeps the smallest", src(320, 240, 0), []string{"cmaf-h264-360p", "cmaf-aac-128k", "single"}},
		{"portrait 720x1280", src(1280, 720, 90), []string{"cmaf-h264-720p", "cmaf-h264-480p", "cmaf-h264-360p", "cmaf-aac-128k", "single"}},
		{"audio only", &ffmpeg.ProbeResult{Streams: []ffmpeg.Stream{{Type: "audio"}}}, []string{"cmaf-h264-1080p", "cmaf-h264-720p", "cmaf-h264-480p", "cmaf-h264-360p", "cmaf-aac-128k", "single"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, o := range DropRungsAboveSource(outs, tt.probe) {
				got = append(got, o.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %v\nwant %v", got, tt.want)
			}
		})
	}
}
