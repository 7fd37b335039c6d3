package ffmpeg

import (
	"errors"
	"regexp"
	"slices"
	"strings"
)

// ErrFormatNotAllowed is wrapped by errors about inputs whose container format ffmpeg
// refused because it is not in [AllowedDemuxers].
var ErrFormatNotAllowed = errors.New("input format is not allowed")

// allowedDemuxers are the ffmpeg demuxers our inputs may use. The list is an allow-list
// on purpose: ffmpeg detects formats by content, so without it a file called in.mp4 that
// is really an HLS playlist, a DASH manifest, an ffconcat list, an IMF CPL or an SDP file
// would make ffmpeg open whatever files or URLs it names. Every entry below reads only
// the one stream it is given. Names are matched against each comma-separated part of a
// demuxer's name, so "mov" covers "mov,mp4,m4a,3gp,3g2,mj2" and "matroska" covers
// "matroska,webm". All of them exist in ffmpeg 5.1 (TestAllowedDemuxersExist checks).
var allowedDemuxers = []string{
	// Video containers Elastic Transcoder accepted (its JobInput.Container values).
	"mov",      // mp4, mov, m4a, 3gp, 3g2, mj2
	"matroska", // mkv, webm
	"mpegts",   // ts, m2ts
	"mpeg",     // MPEG program stream: mpg, vob
	"avi",      // avi, divx
	"flv",
	"mxf",
	"ogg",
	"asf", // wmv, wma
	"gif",
	// Audio-only containers.
	"wav",
	"aiff",
	"mp3",
	"aac", // ADTS
	"flac",
	// Still images, for watermarks and posters; ffmpeg picks these by content, not the
	// image2 demuxer (which expands file name patterns).
	"png_pipe",
	"jpeg_pipe",
	// Caption sidecars (Elastic Transcoder's InputCaptions); plain text, no references.
	"srt",
	"webvtt",
	"scc",
}

// AllowedDemuxers returns the names of the ffmpeg demuxers that inputs may use.
func AllowedDemuxers() []string {
	return slices.Clone(allowedDemuxers)
}

// InputOptions returns the ffmpeg options that must precede every -i of an encode, e.g.
//
//	args = append(args, ffmpeg.InputOptions()...)
//	args = append(args, "-i", input)
//
// They limit ffmpeg to local files and pipes (no network, no other protocols) and to
// the demuxers of [AllowedDemuxers]. In ffmpeg they are per-input options, so they
// must be repeated for each input. [Tools.Probe] applies them itself.
func InputOptions() []string {
	return []string{
		"-protocol_whitelist", "file,pipe",
		"-format_whitelist", strings.Join(allowedDemuxers, ","),
	}
}

// refusedRE matches the line libavformat logs when a demuxer is refused, e.g.
// "[hls @ 0x5564836402] Format not on whitelist 'mov,matroska'"; the bracket names the
// demuxer that content detection picked.
var refusedRE = regexp.MustCompile(`(?m)^\[([^\]]+?)(?: @ 0x[0-9a-fA-F]+)?\] Format not on whitelist`)

// refusedFormat reports whether stderr says ffmpeg refused an input's format, and the
// name of the demuxer it refused ("unknown" when the log line has no context).
func refusedFormat(stderr string) (string, bool) {
	if m := refusedRE.FindStringSubmatch(stderr); m != nil {
		return m[1], true
	}
	if strings.Contains(stderr, "Format not on whitelist") {
		return "unknown", true
	}
	return "", false
}
