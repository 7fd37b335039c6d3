package presets

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestValidateRules holds at least one failing case for every rule. Each
// case is a whole preset file that breaks exactly one rule; the test wants
// exactly one error, at the given line, whose text contains want.
func TestValidateRules(t *testing.T) {
	const h264 = "video: {codec: H.264, max_width: 1280, max_height: 720}\n"
	tests := []struct {
		name string
		yaml string
		line int
		want string
	}{
		// The preset as a whole.
		{"id pattern", "id: 123\nname: t\ncontainer: mp4\n" + h264, 1, `id: "123" is not valid; allowed: 13 digits`},
		{"name required", "container: mp4\n" + h264, 1, "name: is required (1 to 40 characters)"},
		{"name length", "name: " + strings.Repeat("n", 41) + "\ncontainer: mp4\n" + h264, 1, "name: is 41 characters long; allowed: 1 to 40"},
		{"description length", "name: t\ndescription: " + strings.Repeat("d", 256) + "\ncontainer: mp4\n" + h264, 2, "description: is 256 characters long; allowed: at most 255"},
		{"type system", "name: t\ntype: System\ncontainer: mp4\n" + h264, 2, `type: "System" is not allowed; allowed: Custom`},
		{"alias pattern", "name: t\naliases: [My Alias]\ncontainer: mp4\n" + h264, 2, `aliases[0]: "My Alias" is not valid`},
		{"alias shaped like id", "name: t\naliases: [1351620000001-000099]\ncontainer: mp4\n" + h264, 2, "is shaped like a preset ID"},
		{"alias twice", "name: t\naliases: [a, a]\ncontainer: mp4\n" + h264, 2, `aliases[1]: "a" is listed twice`},
		{"container required", "name: t\n" + h264, 1, "container: is required; allowed: mp4, ts"},
		{"container unknown", "name: t\ncontainer: avi\n" + h264, 2, `container: "avi" is not allowed; allowed: mp4`},
		{"container case", "name: t\ncontainer: MP4\n" + h264, 2, `did you mean "mp4"?`},
		{"no video or audio", "name: t\ncontainer: mp4\n", 1, "has neither video nor audio"},
		{"video in audio container", "name: t\ncontainer: mp3\naudio: {codec: mp3}\n" + h264, 4, `video: container "mp3" has no video`},
		{"audio in gif", "name: t\ncontainer: gif\nvideo: {codec: gif}\naudio: {codec: AAC}\n", 4, `audio: container "gif" has no audio`},
		{"thumbnails need video", "name: t\ncontainer: mp4\naudio: {codec: AAC}\nthumbnails: {format: png}\n", 4, "thumbnails: needs video"},

		// Ladders.
		{"ladder container", "name: t\ncontainer: mp4\nladder: [a, b]\n", 2, `container: "mp4" cannot hold a ladder; allowed: ts, fmp4`},
		{"ladder with video", "name: t\ncontainer: fmp4\nladder: [a]\n" + h264, 3, "ladder: a ladder takes its settings from its rungs"},
		{"ladder too long", "name: t\ncontainer: fmp4\nladder: [" + rungs(31) + "]\n", 3, "has 31 rungs; allowed: at most 30"},
		{"ladder empty rung", "name: t\ncontainer: fmp4\nladder: [a, '']\n", 3, "ladder[1]: is empty"},

		// Video.
		{"video codec required", "name: t\ncontainer: mp4\nvideo: {max_width: 640}\n", 3, "video.codec: is required; allowed: H.264"},
		{"video codec unknown", "name: t\ncontainer: mp4\nvideo: {codec: h264}\n", 3, `video.codec: "h264" is not allowed`},
		{"video codec container", "name: t\ncontainer: mp4\nvideo: {codec: vp9}\n", 3, `video.codec: "vp9" cannot go in container "mp4"; allowed: H.264, H.265, AV1`},
		{"gop for gif", "name: t\ncontainer: gif\nvideo: {codec: gif, keyframes_max_dist: 10}\n", 3, "video.keyframes_max_dist: does not apply to gif"},
		{"gop range", "name: t\ncontainer: mp4\nvideo: {codec: H.264, keyframes_max_dist: 0}\n", 3, "video.keyframes_max_dist: 0 is out of range; allowed: 1 to 100000 frames"},
		{"gop number", "name: t\ncontainer: mp4\nvideo: {codec: H.264, keyframes_max_dist: 2s}\n", 3, `"2s" is not a whole number`},
		{"fixed gop value", "name: t\ncontainer: mp4\nvideo: {codec: H.264, fixed_gop: yes}\n", 3, `video.fixed_gop: "yes" is not allowed; allowed: true, false`},
		{"fixed gop fmp4", "name: t\ncontainer: fmp4\nvideo: {codec: H.264, fixed_gop: false}\n", 3, "video.fixed_gop: must be true for container fmp4"},
		{"video bit rate", "name: t\ncontainer: mp4\nvideo: {codec: H.264, bit_rate: 5}\n", 3, `video.bit_rate: "5" is not allowed; allowed: auto or 10 to 99999`},
		{"video bit rate zeros", "name: t\ncontainer: mp4\nvideo: {codec: H.264, bit_rate: \"09\"}\n", 3, `video.bit_rate: "09" is not allowed`},
		{"frame rate", "name: t\ncontainer: mp4\nvideo: {codec: H.264, frame_rate: 31}\n", 3, `video.frame_rate: "31" is not allowed; allowed: auto, 10, 15, 23.97`},
		{"max frame rate value", "name: t\ncontainer: mp4\nvideo: {codec: H.264, max_frame_rate: auto}\n", 3, `video.max_frame_rate: "auto" is not allowed; allowed: 10,`},
		{"max frame rate needs auto", "name: t\ncontainer: mp4\nvideo: {codec: H.264, frame_rate: 30, max_frame_rate: 60}\n", 3, "video.max_frame_rate: applies only when frame_rate is auto"},
		{"legacy and new sizing", "name: t\ncontainer: mp4\nvideo: {codec: H.264, resolution: 640x480, max_width: 640}\n", 3, "video.resolution: cannot be combined with max_width"},
		{"legacy aspect and new sizing", "name: t\ncontainer: mp4\nvideo: {codec: H.264, aspect_ratio: '16:9', sizing_policy: Fit}\n", 3, "video.aspect_ratio: cannot be combined"},
		{"resolution", "name: t\ncontainer: mp4\nvideo: {codec: H.264, resolution: 1279x720}\n", 3, `video.resolution: "1279x720" is not allowed; allowed: auto or WIDTHxHEIGHT`},
		{"aspect ratio", "name: t\ncontainer: mp4\nvideo: {codec: H.264, aspect_ratio: '21:9'}\n", 3, `video.aspect_ratio: "21:9" is not allowed; allowed: auto, 1:1, 4:3, 3:2, 16:9`},
		{"max width odd", "name: t\ncontainer: mp4\nvideo: {codec: H.264, max_width: 1281}\n", 3, "video.max_width: 1281 is not allowed; allowed: auto or an even number of pixels from 128 to 4096"},
		{"max height range", "name: t\ncontainer: mp4\nvideo: {codec: H.264, max_height: 4000}\n", 3, "video.max_height: 4000 is not allowed; allowed: auto or an even number of pixels from 96 to 3072"},
		{"display aspect ratio", "name: t\ncontainer: mp4\nvideo: {codec: H.264, display_aspect_ratio: wide}\n", 3, `video.display_aspect_ratio: "wide" is not allowed`},
		{"sizing policy", "name: t\ncontainer: mp4\nvideo: {codec: H.264, sizing_policy: Crop}\n", 3, `video.sizing_policy: "Crop" is not allowed; allowed: Fit, Fill, Stretch, Keep, ShrinkToFit, ShrinkToFill`},
		{"padding policy", "name: t\ncontainer: mp4\nvideo: {codec: H.264, padding_policy: pad}\n", 3, `did you mean "Pad"?`},

		// Video codec options.
		{"h264 profile", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {profile: high10}}\n", 3, `video.codec_options.profile: "high10" is not allowed; allowed: baseline, main, high`},
		{"profile for mpeg2", "name: t\ncontainer: mpg\nvideo: {codec: mpeg2, codec_options: {profile: main}}\n", 3, "video.codec_options.profile: does not apply to codec mpeg2"},
		{"vp8 profile", "name: t\ncontainer: webm\nvideo: {codec: vp8, codec_options: {profile: 4}}\n", 3, `"4" is not allowed; allowed: 0, 1, 2, 3`},
		{"h264 level", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {level: 5}}\n", 3, `video.codec_options.level: "5" is not allowed; allowed: 1, 1b, 1.1`},
		{"level for vp8", "name: t\ncontainer: webm\nvideo: {codec: vp8, codec_options: {level: 3}}\n", 3, "video.codec_options.level: does not apply to codec vp8"},
		{"reference frames", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {max_reference_frames: 17}}\n", 3, "max_reference_frames: 17 is out of range; allowed: 0 to 16 frames"},
		{"max bit rate range", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {max_bit_rate: 10}}\n", 3, "max_bit_rate: 10 is out of range; allowed: 16 to 62500 kbit/s"},
		{"buffer size", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {buffer_size: 0}}\n", 3, "buffer_size: 0 is out of range"},
		{"max bit rate for gif", "name: t\ncontainer: gif\nvideo: {codec: gif, codec_options: {max_bit_rate: 100}}\n", 3, "max_bit_rate: does not apply to codec gif"},
		{"interlaced mode", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {interlaced_mode: Interlaced}}\n", 3, `interlaced_mode: "Interlaced" is not allowed; allowed: Progressive, TopFirst, BottomFirst, Auto`},
		{"interlaced baseline", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {profile: baseline, interlaced_mode: TopFirst}}\n", 3, `interlaced_mode: "TopFirst" needs H.264 profile main or high`},
		{"interlaced vp9", "name: t\ncontainer: webm\nvideo: {codec: vp9, codec_options: {interlaced_mode: TopFirst}}\n", 3, "interlaced_mode: does not apply to codec vp9"},
		{"color space", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {color_space_conversion_mode: Bt2020}}\n", 3, `color_space_conversion_mode: "Bt2020" is not allowed`},
		{"chroma for h264", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {chroma_subsampling: yuv420p}}\n", 3, "chroma_subsampling: does not apply to codec H.264; it applies to mpeg2"},
		{"chroma value", "name: t\ncontainer: mxf\nvideo: {codec: mpeg2, codec_options: {chroma_subsampling: yuv444p}}\n", 3, `chroma_subsampling: "yuv444p" is not allowed; allowed: yuv420p, yuv422p`},
		{"loop count word", "name: t\ncontainer: gif\nvideo: {codec: gif, codec_options: {loop_count: forever}}\n", 3, `loop_count: "forever" is not allowed; allowed: Infinite or 0 to 100`},
		{"loop count range", "name: t\ncontainer: gif\nvideo: {codec: gif, codec_options: {loop_count: 101}}\n", 3, "loop_count: 101 is out of range"},
		{"loop count for h264", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {loop_count: 1}}\n", 3, "loop_count: does not apply to codec H.264"},
		{"h264 level frame size", "name: t\ncontainer: mp4\nvideo: {codec: H.264, max_width: 1280, max_height: 720, codec_options: {level: 3}}\n", 3, "video.codec_options.level: 3 allows at most 414720 pixels a frame; 1280x720 has 921600"},
		{"h264 level bit rate", "name: t\ncontainer: mp4\nvideo: {codec: H.264, bit_rate: 15000, codec_options: {profile: main, level: 3.1}}\n", 3, "video.bit_rate: 15000 kbit/s is above the 14000 kbit/s H.264 level 3.1 main allows"},
		{"h264 level high bit rate", "name: t\ncontainer: mp4\nvideo: {codec: H.264, codec_options: {profile: high, level: 3.1, max_bit_rate: 17600}}\n", 3, "max_bit_rate: 17600 kbit/s is above the 17500 kbit/s H.264 level 3.1 high allows"},
		{"h264 level reference frames", "name: t\ncontainer: mp4\nvideo: {codec: H.264, max_width: 1920, max_height: 1080, codec_options: {level: 4, max_reference_frames: 5}}\n", 3, "max_reference_frames: 5 is more than H.264 level 4 allows at 1920x1080; allowed: 0 to 4"},

		// Watermarks.
		{"watermark count", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a}, {id: b}, {id: c}, {id: d}, {id: e}]}\n", 3, "video.watermarks: has 5 watermarks; allowed: at most 4"},
		{"watermark id", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{opacity: 50}]}\n", 3, "video.watermarks[0].id: is required"},
		{"watermark id unique", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a}, {id: a}]}\n", 3, `video.watermarks[1].id: "a" is used by another watermark`},
		{"watermark size pattern", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, max_width: 10}]}\n", 3, `video.watermarks[0].max_width: "10" is not allowed; allowed: a percentage`},
		{"watermark percent", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, horizontal_offset: 120%}]}\n", 3, `horizontal_offset: "120%" is more than 100%`},
		{"watermark sizing", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, sizing_policy: Fill}]}\n", 3, `watermarks[0].sizing_policy: "Fill" is not allowed; allowed: Fit, Stretch, ShrinkToFit`},
		{"watermark halign", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, horizontal_align: Middle}]}\n", 3, `horizontal_align: "Middle" is not allowed; allowed: Left, Right, Center`},
		{"watermark valign", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, vertical_align: Middle}]}\n", 3, `vertical_align: "Middle" is not allowed; allowed: Top, Bottom, Center`},
		{"watermark opacity", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, opacity: 101}]}\n", 3, `opacity: "101" is not allowed; allowed: 0 to 100`},
		{"watermark target", "name: t\ncontainer: mp4\nvideo: {codec: H.264, watermarks: [{id: a, target: Video}]}\n", 3, `target: "Video" is not allowed; allowed: Content, Frame`},

		// Audio.
		{"audio codec required", "name: t\ncontainer: mp4\naudio: {bit_rate: 128}\n", 3, "audio.codec: is required"},
		{"audio codec unknown", "name: t\ncontainer: mp4\naudio: {codec: aac}\n", 3, `audio.codec: "aac" is not allowed; allowed: AAC,`},
		{"audio codec container", "name: t\ncontainer: mp4\naudio: {codec: vorbis}\n", 3, `audio.codec: "vorbis" cannot go in container "mp4"; allowed: AAC, mp3, opus`},
		{"sample rate", "name: t\ncontainer: mp4\naudio: {codec: AAC, sample_rate: 44000}\n", 3, `audio.sample_rate: "44000" is not allowed; allowed: auto, 22050`},
		{"opus sample rate", "name: t\ncontainer: ogg\naudio: {codec: opus, sample_rate: 44100}\n", 3, "audio.sample_rate: 44100 is not allowed for opus; allowed: auto, 48000"},
		{"mp3 sample rate", "name: t\ncontainer: mp3\naudio: {codec: mp3, sample_rate: 96000}\n", 3, "audio.sample_rate: 96000 is not allowed for mp3"},
		{"bit rate lossless", "name: t\ncontainer: flac\naudio: {codec: flac, bit_rate: 320}\n", 3, "audio.bit_rate: does not apply to lossless flac"},
		{"audio bit rate range", "name: t\ncontainer: mp4\naudio: {codec: AAC, bit_rate: 32}\n", 3, "audio.bit_rate: 32 is out of range; allowed: 64 to 320 kbit/s"},
		{"opus bit rate range", "name: t\ncontainer: ogg\naudio: {codec: opus, bit_rate: 600}\n", 3, "audio.bit_rate: 600 is out of range; allowed: 6 to 510 kbit/s"},
		{"channels", "name: t\ncontainer: mp4\naudio: {codec: AAC, channels: 6}\n", 3, `audio.channels: "6" is not allowed; allowed: auto, 0, 1, 2`},
		{"packing mode value", "name: t\ncontainer: mxf\nvideo: {codec: mpeg2}\naudio: {codec: pcm, audio_packing_mode: Stereo}\n", 4, `audio.audio_packing_mode: "Stereo" is not allowed`},
		{"packing mode container", "name: t\ncontainer: wav\naudio: {codec: pcm, audio_packing_mode: OneChannelPerTrack}\n", 3, `audio.audio_packing_mode: "OneChannelPerTrack" needs container mxf with codec pcm`},
		{"aac profile value", "name: t\ncontainer: mp4\naudio: {codec: AAC, codec_options: {profile: LC}}\n", 3, `audio.codec_options.profile: "LC" is not allowed; allowed: auto, AAC-LC, HE-AAC, HE-AACv2`},
		{"profile for mp3", "name: t\ncontainer: mp3\naudio: {codec: mp3, codec_options: {profile: AAC-LC}}\n", 3, "audio.codec_options.profile: does not apply to codec mp3; it applies to AAC"},
		{"he-aacv2 mono", "name: t\ncontainer: mp4\naudio: {codec: AAC, channels: 1, codec_options: {profile: HE-AACv2}}\n", 3, "HE-AACv2 carries stereo only"},
		{"flac bit depth", "name: t\ncontainer: flac\naudio: {codec: flac, codec_options: {bit_depth: 8}}\n", 3, `audio.codec_options.bit_depth: "8" is not allowed; allowed: 16, 24`},
		{"pcm bit depth", "name: t\ncontainer: wav\naudio: {codec: pcm, codec_options: {bit_depth: 12}}\n", 3, `"12" is not allowed; allowed: 8, 16, 24, 32`},
		{"bit depth for aac", "name: t\ncontainer: mp4\naudio: {codec: AAC, codec_options: {bit_depth: 16}}\n", 3, "bit_depth: does not apply to codec AAC"},
		{"bit order", "name: t\ncontainer: wav\naudio: {codec: pcm, codec_options: {bit_order: BigEndian}}\n", 3, `bit_order: "BigEndian" is not allowed; allowed: LittleEndian`},
		{"bit order for flac", "name: t\ncontainer: flac\naudio: {codec: flac, codec_options: {bit_order: LittleEndian}}\n", 3, "bit_order: does not apply to codec flac; it applies to pcm"},
		{"signed", "name: t\ncontainer: wav\naudio: {codec: pcm, codec_options: {signed: yes}}\n", 3, `signed: "yes" is not allowed; allowed: Signed, Unsigned`},

		// Thumbnails.
		{"thumbnail format", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {format: gif}\n", 4, `thumbnails.format: "gif" is not allowed; allowed: jpg, png`},
		{"thumbnail interval", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {interval: 0}\n", 4, "thumbnails.interval: 0 is out of range; allowed: 1 to 99999 seconds"},
		{"thumbnail legacy mix", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {resolution: 160x120, max_width: 160}\n", 4, "thumbnails.resolution: cannot be combined"},
		{"thumbnail resolution", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {resolution: 16x12}\n", 4, `thumbnails.resolution: "16x12" is not allowed`},
		{"thumbnail aspect", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {aspect_ratio: '2:1'}\n", 4, `thumbnails.aspect_ratio: "2:1" is not allowed`},
		{"thumbnail max width", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {max_width: 30}\n", 4, "thumbnails.max_width: 30 is not allowed; allowed: auto or an even number of pixels from 32 to 4096"},
		{"thumbnail max height", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {max_height: 3073}\n", 4, "thumbnails.max_height: 3073 is not allowed"},
		{"thumbnail sizing", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {sizing_policy: Crop}\n", 4, `thumbnails.sizing_policy: "Crop" is not allowed`},
		{"thumbnail padding", "name: t\ncontainer: mp4\nvideo: {codec: H.264}\nthumbnails: {padding_policy: Yes}\n", 4, `thumbnails.padding_policy: "Yes" is not allowed; allowed: Pad, NoPad`},

		// The shape of the file.
		{"unknown field", "name: t\ncontainer: mp4\nvideo:\n  codec: H.264\n  bitrate: 2400\n", 5, `video.bitrate: unknown field; allowed: aspect_ratio, bit_rate,`},
		{"no far-fetched suggestion", "name: t\ncontainer: mp4\naudio: {codec: AAC}\nvidoe: {codec: H.264}\n", 4, `vidoe: unknown field; allowed: aliases, arn, audio, container, description, id, ladder, name, thumbnails, type, video (did you mean "video"?)`},
		{"unknown field suggestion", "name: t\ncontainer: mp4\nvideo:\n  codec: H.264\n  bitrate: 2400\n", 5, `(did you mean "bit_rate"?)`},
		{"duplicate key", "name: t\ncontainer: mp4\ncontainer: ts\n" + h264, 3, "container: is set twice (first on line 2)"},
		{"mapping for value", "name: t\ncontainer: {type: mp4}\n" + h264, 2, "container: must be a single value, got a mapping"},
		{"value for mapping", "name: t\ncontainer: mp4\nvideo: H.264\n", 3, `video: must be a mapping of fields, got the value "H.264"`},
		{"list for value", "name: t\ncontainer: mp4\nvideo: {codec: [H.264]}\n", 3, "video.codec: must be a single value, got a list"},
		{"top level scalar", "just a string\n", 1, "expected a preset (a mapping of fields) or a list of presets"},
		{"yaml syntax", "name: t\ncontainer: mp4\nvideo: {codec: H.264\n", 3, "invalid YAML:"},
		{"empty file", "# nothing\n", 0, "holds no presets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse() error = %v, want Errors", err)
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), errs)
			}
			e := errs[0]
			if !strings.Contains(e.Error(), tt.want) {
				t.Errorf("error = %q\nwant it to contain %q", e.Error(), tt.want)
			}
			if e.Line != tt.line || e.File != "p.yaml" {
				t.Errorf("error at %s:%d, want p.yaml:%d (%v)", e.File, e.Line, tt.line, e)
			}
		})
	}
}

// TestValidateReportsEveryError checks that problems are all reported, in
// file order, with line and column, not just the first one.
func TestValidateReportsEveryError(t *testing.T) {
	src := `- name: first
  container: mp4
  video:
    codec: H.264
    frame_rate: 31
    codec_options:
      profile: ultra
- name: second
  container: webm
  audio:
    codec: vorbis
    channels: 7
`
	_, err := Parse("multi.yaml", []byte(src))
	want := []string{
		`multi.yaml:5:17: video.frame_rate: "31" is not allowed`,
		`multi.yaml:7:16: video.codec_options.profile: "ultra" is not allowed`,
		`multi.yaml:12:15: audio.channels: "7" is not allowed`,
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q\nwant prefix %q", i, got[i], want[i])
		}
	}
}

// An unknown key does not hide the preset's other problems.
func TestUnknownKeyAndRuleErrorsTogether(t *testing.T) {
	src := "name: t\ncontainer: mp4\nvideo:\n  codec: H.264\n  bitrate: 2400\n  frame_rate: 31\n"
	_, err := Parse("p.yaml", []byte(src))
	want := []string{`p.yaml:5:3: video.bitrate: unknown field`, `p.yaml:6:15: video.frame_rate: "31" is not allowed`}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

func TestValidPresetsPass(t *testing.T) {
	src := `
- name: Minimal video
  container: mp4
  video: {codec: H.264}
- name: Everything set
  id: 1700000000000-abc123
  aliases: [everything, everything-else]
  description: every field
  container: mp4
  type: Custom
  video:
    codec: H.264
    codec_options: {profile: high, level: 4.1, max_reference_frames: 4, max_bit_rate: 8000, buffer_size: 16000, interlaced_mode: Progressive, color_space_conversion_mode: Auto}
    keyframes_max_dist: 48
    fixed_gop: true
    bit_rate: 6000
    frame_rate: auto
    max_frame_rate: 30
    max_width: 1920
    max_height: 1080
    display_aspect_ratio: 16:9
    sizing_policy: ShrinkToFill
    padding_policy: Pad
    watermarks:
      - {id: logo, max_width: 64px, max_height: 12.5%, sizing_policy: Fit, horizontal_align: Right, horizontal_offset: 5%, vertical_align: Bottom, vertical_offset: 10px, opacity: 87.5, target: Frame}
  audio: {codec: AAC, sample_rate: 48000, bit_rate: 192, channels: 2, audio_packing_mode: SingleTrack, codec_options: {profile: HE-AACv2}}
  thumbnails: {format: jpg, interval: 10, max_width: 320, max_height: 180, sizing_policy: Fit, padding_policy: NoPad}
- name: Legacy
  container: mp4
  video: {codec: H.264, resolution: 640x480, aspect_ratio: "4:3"}
  thumbnails: {resolution: 160x120, aspect_ratio: "4:3"}
- name: Broadcast
  container: mxf
  video: {codec: mpeg2, codec_options: {chroma_subsampling: yuv422p, interlaced_mode: TopFirst}}
  audio: {codec: pcm, audio_packing_mode: OneChannelPerTrack, codec_options: {bit_depth: 24, bit_order: LittleEndian, signed: Signed}}
- name: Ladder
  container: fmp4
  ladder: [cmaf-h264-720p, cmaf-aac-128k]
`
	ps, err := Parse("ok.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 5 {
		t.Fatalf("got %d presets, want 5", len(ps))
	}
}

func rungs(n int) string {
	var r []string
	for i := range n {
		r = append(r, fmt.Sprintf("r%d", i))
	}
	return strings.Join(r, ", ")
}

// TestHostileYAML: anchors that refer to themselves or multiply must end
// in an error, quickly, not in a hang or a crash.
func TestHostileYAML(t *testing.T) {
	for _, src := range []string{
		"&a [*a]\n",
		"name: t\ncontainer: mp4\nvideo: &v {codec: H.264, watermarks: [*v]}\n",
		"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
	} {
		if _, err := Parse("hostile.yaml", []byte(src)); err == nil {
			t.Errorf("Parse(%q) accepted it", src)
		}
	}
}
