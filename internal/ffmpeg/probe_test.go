package ffmpeg

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file                string
		wantFormat          string
		wantVideo           *Stream // only the fields checked below
		wantDisplayW, wantH int
		wantAudio           *Stream
	}{
		{
			file:       fixLandscape,
			wantFormat: "mov,mp4,m4a,3gp,3g2,mj2",
			wantVideo: &Stream{Type: "video", Codec: "h264", PixFmt: "yuv420p", Width: 320, Height: 240,
				FrameRate: 25, FieldOrder: "progressive", SampleAspectRatio: "1:1", DisplayAspectRatio: "4:3"},
			wantDisplayW: 320, wantH: 240,
			wantAudio: &Stream{Type: "audio", Codec: "aac", Profile: "LC", SampleRate: 44100, Channels: 1, ChannelLayout: "mono"},
		},
		{
			file:         fixRotated,
			wantFormat:   "mov,mp4,m4a,3gp,3g2,mj2",
			wantVideo:    &Stream{Type: "video", Codec: "h264", PixFmt: "yuv420p", Width: 320, Height: 240, Rotation: 90, FrameRate: 25, FieldOrder: "progressive", SampleAspectRatio: "1:1", DisplayAspectRatio: "4:3"},
			wantDisplayW: 240, wantH: 320,
			wantAudio: &Stream{Type: "audio", Codec: "aac", Profile: "LC", SampleRate: 44100, Channels: 1, ChannelLayout: "mono"},
		},
		{
			file:       fixAudio,
			wantFormat: "mov,mp4,m4a,3gp,3g2,mj2",
			wantAudio:  &Stream{Type: "audio", Codec: "aac", Profile: "LC", SampleRate: 44100, Channels: 1, ChannelLayout: "mono"},
		},
		{
			file:       fixInterlaced,
			wantFormat: "mpegts",
			wantVideo: &Stream{Type: "video", Codec: "mpeg2video", Profile: "Main", PixFmt: "yuv420p", Width: 320, Height: 240,
				FrameRate: 25, Interlaced: true, FieldOrder: "tt", SampleAspectRatio: "1:1", DisplayAspectRatio: "4:3"},
			wantDisplayW: 320, wantH: 240,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := fixture(tt.file)
			res, err := tools.Probe(context.Background(), path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if res.Path != path || res.FormatName != tt.wantFormat {
				t.Errorf("Path, FormatName = %q, %q; want %q, %q", res.Path, res.FormatName, path, tt.wantFormat)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if res.Size != fi.Size() {
				t.Errorf("Size = %d, want %d", res.Size, fi.Size())
			}
			if !near(res.Duration, 2*time.Second, 100*time.Millisecond) && tt.file != fixInterlaced {
				t.Errorf("Duration = %v, want about 2s", res.Duration)
			}
			if res.BitRate <= 0 {
				t.Errorf("BitRate = %d, want > 0", res.BitRate)
			}
			checkStream(t, "video", res.Video(), tt.wantVideo)
			checkStream(t, "audio", res.Audio(), tt.wantAudio)
			if v := res.Video(); v != nil {
				if w, h := v.DisplaySize(); w != tt.wantDisplayW || h != tt.wantH {
					t.Errorf("DisplaySize = %dx%d, want %dx%d", w, h, tt.wantDisplayW, tt.wantH)
				}
			}
		})
	}
}

// checkStream compares the descriptive fields of got with want; bit rate, duration and
// index are only checked for plausibility.
func checkStream(t *testing.T, kind string, got, want *Stream) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s stream = %+v, want none", kind, *got)
		}
		return
	}
	if got == nil {
		t.Errorf("no %s stream, want %+v", kind, *want)
		return
	}
	// MPEG-TS gives no per-stream bit rate, so only its sign is checked.
	if got.Duration <= 0 || got.BitRate < 0 || got.Index < 0 {
		t.Errorf("%s stream: implausible Duration %v, BitRate %d or Index %d", kind, got.Duration, got.BitRate, got.Index)
	}
	g := *got
	g.Index, g.BitRate, g.Duration = 0, 0, 0
	if kind == "video" && g.Codec == "h264" {
		g.Profile = "" // x264 picks the profile; not ours to pin
	}
	if g != *want {
		t.Errorf("%s stream:\n got %+v\nwant %+v", kind, g, *want)
	}
}

func near(got, want, tolerance time.Duration) bool {
	return got >= want-tolerance && got <= want+tolerance
}

// TestRotationDirection pins Stream.Rotation's sign convention to what ffmpeg itself does
// when it rotates for display: a white square in the top-left corner must end up in the
// corner that a clockwise turn of Rotation degrees puts it in.
func TestRotationDirection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rotateTag    string // what 5.1's -metadata rotate= is given
		wantRotation int
		wantCorner   string
	}{
		{"0", 0, "top-left"},
		{"90", 270, "bottom-left"}, // 5.1 stores rotate=90 as a counter-clockwise matrix
		{"180", 180, "bottom-right"},
		{"270", 90, "top-right"},
	}
	for _, tt := range tests {
		t.Run(tt.rotateTag, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			rotated := filepath.Join(dir, "rotated.mp4")
			mustGenerate(t, "-i", fixture(fixBox), "-c", "copy", "-metadata:s:v:0", "rotate="+tt.rotateTag, rotated)
			res, err := tools.Probe(context.Background(), rotated)
			if err != nil {
				t.Fatal(err)
			}
			v := res.Video()
			if v.Rotation != tt.wantRotation {
				t.Fatalf("Rotation = %d, want %d", v.Rotation, tt.wantRotation)
			}
			// Let ffmpeg apply the rotation (autorotate) and look at the picture.
			raw := filepath.Join(dir, "frame.gray")
			args := concat(input(rotated), []string{"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-y", raw})
			if err := tools.Run(context.Background(), args, RunOptions{}); err != nil {
				t.Fatal(err)
			}
			pix, err := os.ReadFile(raw)
			if err != nil {
				t.Fatal(err)
			}
			w, h := v.DisplaySize()
			if len(pix) != w*h {
				t.Fatalf("decoded %d bytes, want %dx%d: DisplaySize disagrees with ffmpeg", len(pix), w, h)
			}
			if got := brightCorner(pix, w, h); got != tt.wantCorner {
				t.Errorf("square is %s after ffmpeg's rotation, want %s", got, tt.wantCorner)
			}
		})
	}
}

// brightCorner says which corner of a w×h grey picture is white.
func brightCorner(pix []byte, w, h int) string {
	corners := map[string][2]int{"top-left": {2, 2}, "top-right": {w - 3, 2}, "bottom-left": {2, h - 3}, "bottom-right": {w - 3, h - 3}}
	for name, c := range corners {
		if pix[c[1]*w+c[0]] > 128 {
			return name
		}
	}
	return "nowhere"
}

func TestProbeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	landscape, err := os.ReadFile(fixture(fixLandscape))
	if err != nil {
		t.Fatal(err)
	}
	// A local segment an HLS playlist could point at; without the format allow-list
	// ffprobe would read it (checked below), so the refusal is what protects us.
	segment := fixture(fixInterlaced)
	playlist := hlsPlaylist(segment)

	tests := []struct {
		name         string
		path         string
		wantIs       error
		wantContains []string
	}{
		{
			name: "missing", path: filepath.Join(dir, "missing.mp4"), wantIs: fs.ErrNotExist,
			wantContains: []string{"missing.mp4", "does not exist"},
		},
		{
			name: "directory", path: dir, wantIs: ErrInvalidMedia,
			wantContains: []string{"directory"},
		},
		{
			name: "text renamed .mp4", path: writeFile(t, "text.mp4", []byte("hello, this is not a video\n")), wantIs: ErrInvalidMedia,
			wantContains: []string{"text.mp4", "not a readable media file", "moov atom not found"},
		},
		{
			name: "truncated mp4", path: writeFile(t, "truncated.mp4", landscape[:len(landscape)/2]), wantIs: ErrInvalidMedia,
			wantContains: []string{"truncated.mp4", "not a readable media file", "Invalid data"},
		},
		{
			name: "empty file", path: writeFile(t, "empty.mp4", nil), wantIs: ErrInvalidMedia,
			wantContains: []string{"empty.mp4", "not a readable media file: it is empty"},
		},
		{
			name: "no streams", path: writeFile(t, "notracks.mp4", mp4WithoutTracks()), wantIs: ErrInvalidMedia,
			wantContains: []string{"notracks.mp4", "no streams"},
		},
		{
			name: "HLS playlist renamed .mp4", path: writeFile(t, "playlist.mp4", []byte(playlist)), wantIs: ErrFormatNotAllowed,
			wantContains: []string{"playlist.mp4", "not allowed", `"hls"`},
		},
		{
			name: "ffconcat list renamed .mp4", path: writeFile(t, "list.mp4", []byte("ffconcat version 1.0\nfile '/etc/passwd'\n")),
			wantIs: ErrFormatNotAllowed, wantContains: []string{"list.mp4", "not allowed", `"concat"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := tools.Probe(context.Background(), tt.path)
			if err == nil {
				t.Fatalf("Probe succeeded: %+v", res)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
			for _, want := range tt.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}

	t.Run("playlist is readable without the allow-list", func(t *testing.T) {
		t.Parallel()
		path := writeFile(t, "control.mp4", []byte(playlist))
		out, err := exec.Command(tools.FFprobe, "-v", "error", "-protocol_whitelist", "file",
			"-show_entries", "format=format_name", "-of", "csv=p=0", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hls") {
			t.Errorf("control: ffprobe without -format_whitelist gave %q, %v; want it to read the playlist, "+
				"else the refusal tests above prove nothing", out, err)
		}
	})
}

// hlsPlaylist returns an HLS playlist whose one segment is the local file segment.
func hlsPlaylist(segment string) string {
	return "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n" + segment + "\n#EXT-X-ENDLIST\n"
}

func TestProbeCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tools.Probe(ctx, fixture(fixLandscape))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Probe with canceled context: %v, want context.Canceled", err)
	}
}

// mp4WithoutTracks returns a well-formed MP4 (ftyp + moov with only an mvhd) that has no
// tracks: ffprobe reads it and finds zero streams.
func mp4WithoutTracks() []byte {
	box := func(typ string, payload []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(payload)))
		return append(append(b, typ...), payload...)
	}
	var mvhd bytes.Buffer
	for _, v := range []any{
		uint32(0),            // version, flags
		uint32(0), uint32(0), // creation, modification time
		uint32(1000), uint32(0), // timescale, duration
		uint32(0x10000), uint16(0x100), make([]byte, 10), // rate, volume, reserved
		[9]uint32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}, // identity matrix
		make([]byte, 24), uint32(2), // pre-defined, next track ID
	} {
		_ = binary.Write(&mvhd, binary.BigEndian, v)
	}
	ftyp := box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2mp41"))
	return append(ftyp, box("moov", box("mvhd", mvhd.Bytes()))...)
}

func TestParseProbe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want func(*ProbeResult) string // "" when fine, else what is wrong
	}{
		{
			name: "display matrix -90 is 90 clockwise",
			json: `{"streams":[{"codec_type":"video","width":1920,"height":1080,"side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}]}`,
			want: rotation(90),
		},
		{
			name: "display matrix 90 is 270 clockwise",
			json: `{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":90}]}]}`,
			want: rotation(270),
		},
		{
			name: "display matrix -180",
			json: `{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":-180}]}]}`,
			want: rotation(180),
		},
		{
			name: "display matrix fractional rounds to quarter turns",
			json: `{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"Display Matrix","rotation":-89.99}]}]}`,
			want: rotation(90),
		},
		{
			name: "legacy rotate tag is clockwise",
			json: `{"streams":[{"codec_type":"video","tags":{"rotate":"90"}}]}`,
			want: rotation(90),
		},
		{
			name: "display matrix wins over tag",
			json: `{"streams":[{"codec_type":"video","tags":{"rotate":"90"},"side_data_list":[{"side_data_type":"Display Matrix","rotation":180}]}]}`,
			want: rotation(180),
		},
		{
			name: "other side data ignored",
			json: `{"streams":[{"codec_type":"video","side_data_list":[{"side_data_type":"CPB properties"}]}]}`,
			want: rotation(0),
		},
		{
			name: "frame rate falls back to r_frame_rate",
			json: `{"streams":[{"codec_type":"video","avg_frame_rate":"0/0","r_frame_rate":"30000/1001"}]}`,
			want: func(p *ProbeResult) string {
				if math.Abs(p.Streams[0].FrameRate-29.97003) > 1e-4 {
					return fmt.Sprintf("FrameRate %v", p.Streams[0].FrameRate)
				}
				return ""
			},
		},
		{
			name: "attached picture is not the video",
			json: `{"streams":[{"index":0,"codec_type":"audio","codec_name":"mp3"},
				{"index":1,"codec_type":"video","codec_name":"mjpeg","disposition":{"attached_pic":1}}]}`,
			want: func(p *ProbeResult) string {
				if p.Video() != nil || p.Audio() == nil || !p.Streams[1].AttachedPic {
					return "cover art taken for video"
				}
				return ""
			},
		},
		{
			name: "unknowns and N/A are zero",
			json: `{"streams":[{"codec_type":"video","profile":"unknown","field_order":"unknown","bit_rate":"N/A","duration":"N/A"}],
				"format":{"duration":"N/A","bit_rate":"N/A","size":"N/A"}}`,
			want: func(p *ProbeResult) string {
				s := p.Streams[0]
				if s.Profile != "" || s.FieldOrder != "" || s.Interlaced || s.BitRate != 0 || s.Duration != 0 || p.Duration != 0 || p.BitRate != 0 {
					return "unknown values leaked"
				}
				return ""
			},
		},
		{
			name: "duration from longest stream when the container has none",
			json: `{"streams":[{"codec_type":"audio","duration":"1.5"},{"codec_type":"video","duration":"2.25"}],"format":{}}`,
			want: func(p *ProbeResult) string {
				if p.Duration != 2250*time.Millisecond {
					return "Duration " + p.Duration.String()
				}
				return ""
			},
		},
		{
			name: "bottom field first is interlaced",
			json: `{"streams":[{"codec_type":"video","field_order":"bb"}]}`,
			want: func(p *ProbeResult) string {
				if !p.Streams[0].Interlaced {
					return "not interlaced"
				}
				return ""
			},
		},
	}
	for _, tt := range tests {
		res, err := parseProbe([]byte(tt.json))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if problem := tt.want(res); problem != "" {
			t.Errorf("%s: %s (%+v)", tt.name, problem, res)
		}
	}
	if _, err := parseProbe([]byte("{")); err == nil {
		t.Error("parseProbe accepted broken JSON")
	}
}

func rotation(want int) func(*ProbeResult) string {
	return func(p *ProbeResult) string {
		if got := p.Streams[0].Rotation; got != want {
			return fmt.Sprintf("Rotation %d", got)
		}
		return ""
	}
}

func TestNormalizeRotation(t *testing.T) {
	t.Parallel()
	tests := map[float64]int{0: 0, 90: 90, -90: 270, 180: 180, -180: 180, 270: 270, -270: 90, 360: 0, 450: 90, 44: 0, 46: 90, math.Inf(1): 0, math.NaN(): 0}
	for in, want := range tests {
		if got := normalizeRotation(in); got != want {
			t.Errorf("normalizeRotation(%v) = %d, want %d", in, got, want)
		}
	}
}
