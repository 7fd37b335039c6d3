package ffmpeg

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// demuxerNames lists the demuxers of the installed ffmpeg, each comma-separated part
// of a name ("mov,mp4,...") separately, as the whitelist matches them.
func demuxerNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(tools.FFmpeg, "-hide_banner", "-demuxers").Output()
	if err != nil {
		t.Fatalf("ffmpeg -demuxers: %v", err)
	}
	// After the " --" separator each line reads " D  name  Long name".
	_, list, ok := strings.Cut(string(out), "--\n")
	if !ok {
		t.Fatalf("unexpected ffmpeg -demuxers output:\n%s", out)
	}
	names := map[string]bool{}
	for line := range strings.Lines(list) {
		if f := strings.Fields(line); len(f) >= 2 {
			for n := range strings.SplitSeq(f[1], ",") {
				names[n] = true
			}
		}
	}
	return names
}

func TestAllowedDemuxersExist(t *testing.T) {
	t.Parallel()
	names := demuxerNames(t)
	for _, d := range AllowedDemuxers() {
		if !names[d] {
			t.Errorf("allowed demuxer %q does not exist in this ffmpeg", d)
		}
	}
	// Demuxers that open further files or URLs, or synthesise input, must never be allowed.
	for _, d := range []string{"hls", "dash", "concat", "lavfi", "image2", "imf", "sdp", "rtp", "rtsp",
		"webm_dash_manifest", "ffmetadata", "mpjpeg", "data", "tty"} {
		if slices.Contains(AllowedDemuxers(), d) {
			t.Errorf("demuxer %q must not be allowed", d)
		}
	}
}

func TestInputOptions(t *testing.T) {
	t.Parallel()
	got := InputOptions()
	want := []string{"-protocol_whitelist", "file,pipe", "-format_whitelist", strings.Join(AllowedDemuxers(), ",")}
	if !slices.Equal(got, want) {
		t.Errorf("InputOptions() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if InputOptions()[0] != "-protocol_whitelist" {
		t.Error("InputOptions returns shared state")
	}
}

// TestProbeAllowedContainers makes a small file in each ordinary format and checks
// that the allow-list lets it through, and that ffmpeg picked the demuxer we expect.
func TestProbeAllowedContainers(t *testing.T) {
	t.Parallel()
	video := []string{"-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=0.3"}
	audio := []string{"-f", "lavfi", "-i", "sine=duration=0.3"}
	both := concat(video, audio)
	tests := []struct {
		file      string
		args      []string
		demuxer   string   // expected in ProbeResult.FormatName
		wantTypes []string // stream types, sorted (flv, for one, puts audio first)
	}{
		{"a.mp4", concat(both, []string{"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"}), "mov", []string{"audio", "video"}},
		{"a.mov", concat(both, []string{"-c:v", "mpeg4", "-c:a", "pcm_s16le"}), "mov", []string{"audio", "video"}},
		{"a.3gp", concat(video, []string{"-c:v", "h263", "-s", "176x144"}), "mov", []string{"video"}},
		{"a.m4a", concat(audio, []string{"-c:a", "aac"}), "mov", []string{"audio"}},
		{"a.mkv", concat(both, []string{"-c:v", "mpeg4", "-c:a", "flac"}), "matroska", []string{"audio", "video"}},
		{"a.webm", concat(both, []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"}), "matroska", []string{"audio", "video"}},
		{"a.ts", concat(both, []string{"-c:v", "mpeg2video", "-c:a", "mp2"}), "mpegts", []string{"audio", "video"}},
		{"a.mpg", concat(both, []string{"-c:v", "mpeg2video", "-c:a", "mp2"}), "mpeg", []string{"audio", "video"}},
		{"a.avi", concat(both, []string{"-c:v", "mpeg4", "-c:a", "mp3"}), "avi", []string{"audio", "video"}},
		{"a.flv", concat(both, []string{"-c:v", "flv1", "-c:a", "mp3", "-ar", "44100"}), "flv", []string{"audio", "video"}},
		{"a.mxf", concat(video, []string{"-c:v", "mpeg2video", "-r", "25"}), "mxf", []string{"video"}},
		{"a.ogg", concat(audio, []string{"-c:a", "libvorbis"}), "ogg", []string{"audio"}},
		{"a.wmv", concat(both, []string{"-c:v", "wmv2", "-c:a", "wmav2"}), "asf", []string{"audio", "video"}},
		{"a.gif", video, "gif", []string{"video"}},
		{"a.wav", audio, "wav", []string{"audio"}},
		{"a.aiff", audio, "aiff", []string{"audio"}},
		{"a.mp3", audio, "mp3", []string{"audio"}},
		{"a.aac", concat(audio, []string{"-c:a", "aac", "-f", "adts"}), "aac", []string{"audio"}},
		{"a.flac", audio, "flac", []string{"audio"}},
		{"a.png", concat(video, []string{"-frames:v", "1", "-update", "1"}), "png_pipe", []string{"video"}},
		{"a.jpg", concat(video, []string{"-frames:v", "1", "-update", "1"}), "jpeg_pipe", []string{"video"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := t.TempDir() + "/" + tt.file
			mustGenerate(t, concat(tt.args, []string{path})...)
			res, err := tools.Probe(context.Background(), path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if !slices.Contains(strings.Split(res.FormatName, ","), tt.demuxer) {
				t.Errorf("FormatName = %q, want demuxer %q", res.FormatName, tt.demuxer)
			}
			var types []string
			for _, s := range res.Streams {
				types = append(types, s.Type)
			}
			slices.Sort(types)
			if !slices.Equal(types, tt.wantTypes) {
				t.Errorf("stream types = %q, want %q", types, tt.wantTypes)
			}
		})
	}

	t.Run("captions", func(t *testing.T) {
		t.Parallel()
		for name, text := range map[string]string{
			"a.srt": "1\n00:00:00,000 --> 00:00:01,000\nHello\n",
			"a.vtt": "WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n",
		} {
			res, err := tools.Probe(context.Background(), writeFile(t, name, []byte(text)))
			if err != nil {
				t.Errorf("Probe %s: %v", name, err)
				continue
			}
			if len(res.Streams) != 1 || res.Streams[0].Type != "subtitle" {
				t.Errorf("%s: streams = %+v, want one subtitle stream", name, res.Streams)
			}
		}
	})
}
