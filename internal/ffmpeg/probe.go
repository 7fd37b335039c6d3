package ffmpeg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidMedia is wrapped by [Tools.Probe] errors for inputs that exist but are not
// media ffprobe can read: text files, truncated files, files without streams.
var ErrInvalidMedia = errors.New("not a readable media file")

// maxProbeOutput bounds ffprobe's JSON; a file with absurd numbers of streams or tags
// must not make us buffer without limit.
const maxProbeOutput = 16 << 20

// ProbeResult describes a media file as ffprobe sees it.
type ProbeResult struct {
	Path       string        // the path given to Probe
	FormatName string        // ffmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Duration   time.Duration // container duration; 0 if unknown
	Size       int64         // file size in bytes
	BitRate    int64         // overall bit rate in bits/s; 0 if unknown
	Streams    []Stream      // in file order
}

// Video returns the first video stream that is not an attached picture (cover art),
// or nil if there is none.
func (p *ProbeResult) Video() *Stream {
	for i := range p.Streams {
		if s := &p.Streams[i]; s.Type == "video" && !s.AttachedPic {
			return s
		}
	}
	return nil
}

// Audio returns the first audio stream, or nil if there is none.
func (p *ProbeResult) Audio() *Stream {
	for i := range p.Streams {
		if s := &p.Streams[i]; s.Type == "audio" {
			return s
		}
	}
	return nil
}

// Stream describes one stream of a probed file. Fields that do not apply to the
// stream's type, or that ffprobe does not know, are zero.
type Stream struct {
	Index   int    // ffmpeg's stream index, as used in -map 0:N
	Type    string // "video", "audio", "subtitle", "data" or "attachment"
	Codec   string // ffmpeg codec name, e.g. "h264", "aac"
	Profile string // e.g. "High", "LC"

	// Video.
	PixFmt      string
	Width       int // coded picture size, before rotation
	Height      int
	AttachedPic bool // cover art rather than moving picture
	// Rotation is how many degrees clockwise the picture must be turned for display:
	// 0, 90, 180 or 270. A phone held upright typically records 90. It comes from the
	// display matrix (whose ffprobe "rotation" is counter-clockwise, so -90 here
	// becomes 90) or else from the legacy "rotate" tag (already clockwise).
	Rotation           int
	FrameRate          float64 // average frame rate, e.g. 29.97; 0 if unknown
	Interlaced         bool    // FieldOrder is one of tt, bb, tb, bt
	FieldOrder         string  // "progressive", "tt", "bb", "tb", "bt" or "" if unknown
	SampleAspectRatio  string  // e.g. "1:1"
	DisplayAspectRatio string  // e.g. "16:9"

	// Audio.
	SampleRate    int // Hz
	Channels      int
	ChannelLayout string // e.g. "stereo", "5.1(side)"

	BitRate  int64         // bits/s; 0 if unknown
	Duration time.Duration // 0 if unknown
}

// DisplaySize returns the picture size after rotation for display: width and height
// are swapped for 90 and 270 degrees. The sample aspect ratio is not applied.
func (s *Stream) DisplaySize() (w, h int) {
	if s.Rotation == 90 || s.Rotation == 270 {
		return s.Height, s.Width
	}
	return s.Width, s.Height
}

// Probe runs ffprobe on the local file input and describes it. It applies the same
// protocol and format restrictions as [InputOptions]. Errors name the file; they wrap
// fs.ErrNotExist for a missing file, [ErrFormatNotAllowed] for a refused format,
// [ErrInvalidMedia] for anything ffprobe cannot read or that has no streams, and
// ctx.Err() when ctx ended the probe. Use a ctx with a deadline for untrusted inputs.
func (t Tools) Probe(ctx context.Context, input string) (*ProbeResult, error) {
	if t.FFprobe == "" {
		return nil, errors.New("probe: no ffprobe path in Tools (use ffmpeg.Locate)")
	}
	// Check the file first: ffprobe's own message for a missing file is terse, and this
	// lets callers test errors.Is(err, fs.ErrNotExist).
	fi, err := os.Stat(input)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("probe %q: %w", input, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("probe %q: %w", input, err)
	case fi.IsDir():
		return nil, fmt.Errorf("probe %q: %w: it is a directory", input, ErrInvalidMedia)
	case fi.Size() == 0:
		return nil, fmt.Errorf("probe %q: %w: it is empty", input, ErrInvalidMedia)
	}
	// An absolute path can never be mistaken for a URL: "a:b.mp4" would be protocol "a".
	abs, err := filepath.Abs(input)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", input, err)
	}

	args := []string{"-hide_banner", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"}
	args = append(args, InputOptions()...) // ffprobe takes them as global options
	args = append(args, "-i", abs)
	cmd := exec.CommandContext(ctx, t.FFprobe, args...)
	cmd.Env = childEnv()
	setProcAttr(cmd)
	cmd.Cancel = func() error { return kill(cmd.Process) } // ffprobe writes nothing worth saving
	cmd.WaitDelay = pipeDrainTimeout
	stdout := &limitedBuffer{max: maxProbeOutput}
	stderr := newTailBuffer(stderrTailSize)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	waitc, err := start(cmd)
	if err == nil {
		err = <-waitc
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxError(fmt.Sprintf("probe %q", input), ctx)
		}
		// ffprobe prefixes some messages with the path, which the error names already.
		tail := strings.ReplaceAll(stderr.String(), abs+": ", "")
		if name, ok := refusedFormat(tail); ok {
			return nil, fmt.Errorf("probe %q: %w: ffprobe detected %q, which is not one of the allowed media formats",
				input, ErrFormatNotAllowed, name)
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if s := summarizeStderr(tail); s != "" {
				return nil, fmt.Errorf("probe %q: %w: %s", input, ErrInvalidMedia, s)
			}
			return nil, fmt.Errorf("probe %q: %w (ffprobe: %v)", input, ErrInvalidMedia, err)
		}
		return nil, fmt.Errorf("probe %q: run ffprobe: %w", input, err)
	}
	if stdout.overflow {
		return nil, fmt.Errorf("probe %q: ffprobe output exceeds %d MiB", input, maxProbeOutput>>20)
	}

	res, err := parseProbe(stdout.buf)
	if err != nil {
		return nil, fmt.Errorf("probe %q: %w", input, err)
	}
	res.Path = input
	if len(res.Streams) == 0 {
		return nil, fmt.Errorf("probe %q: %w: it has no streams", input, ErrInvalidMedia)
	}
	return res, nil
}

// probeJSON mirrors the parts of ffprobe's JSON we use. ffprobe writes most numbers as
// strings (to keep precision) and some as numbers.
type probeJSON struct {
	Streams []struct {
		Index              int               `json:"index"`
		CodecType          string            `json:"codec_type"`
		CodecName          string            `json:"codec_name"`
		Profile            string            `json:"profile"`
		PixFmt             string            `json:"pix_fmt"`
		Width              int               `json:"width"`
		Height             int               `json:"height"`
		SampleAspectRatio  string            `json:"sample_aspect_ratio"`
		DisplayAspectRatio string            `json:"display_aspect_ratio"`
		FieldOrder         string            `json:"field_order"`
		AvgFrameRate       string            `json:"avg_frame_rate"`
		RFrameRate         string            `json:"r_frame_rate"`
		SampleRate         string            `json:"sample_rate"`
		Channels           int               `json:"channels"`
		ChannelLayout      string            `json:"channel_layout"`
		BitRate            string            `json:"bit_rate"`
		Duration           string            `json:"duration"`
		Disposition        map[string]int    `json:"disposition"`
		Tags               map[string]string `json:"tags"`
		SideDataList       []struct {
			SideDataType string   `json:"side_data_type"`
			Rotation     *float64 `json:"rotation"`
		} `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
		Size       string `json:"size"`
		BitRate    string `json:"bit_rate"`
	} `json:"format"`
}

// parseProbe turns ffprobe's JSON into a ProbeResult.
func parseProbe(data []byte) (*ProbeResult, error) {
	var pj probeJSON
	if err := json.Unmarshal(data, &pj); err != nil {
		return nil, fmt.Errorf("decode ffprobe output: %w", err)
	}
	res := &ProbeResult{
		FormatName: pj.Format.FormatName,
		Duration:   parseSeconds(pj.Format.Duration),
		Size:       parseInt64(pj.Format.Size),
		BitRate:    parseInt64(pj.Format.BitRate),
	}
	var longest time.Duration
	for _, js := range pj.Streams {
		s := Stream{
			Index:              js.Index,
			Type:               js.CodecType,
			Codec:              js.CodecName,
			Profile:            js.Profile,
			PixFmt:             js.PixFmt,
			Width:              js.Width,
			Height:             js.Height,
			AttachedPic:        js.Disposition["attached_pic"] != 0,
			FieldOrder:         js.FieldOrder,
			SampleAspectRatio:  js.SampleAspectRatio,
			DisplayAspectRatio: js.DisplayAspectRatio,
			SampleRate:         int(parseInt64(js.SampleRate)),
			Channels:           js.Channels,
			ChannelLayout:      js.ChannelLayout,
			BitRate:            parseInt64(js.BitRate),
			Duration:           parseSeconds(js.Duration),
		}
		if s.Profile == "unknown" {
			s.Profile = ""
		}
		if s.FieldOrder == "unknown" {
			s.FieldOrder = ""
		}
		switch s.FieldOrder {
		case "tt", "bb", "tb", "bt":
			s.Interlaced = true
		}
		if s.Type == "video" {
			s.FrameRate = parseRational(js.AvgFrameRate)
			if s.FrameRate == 0 {
				s.FrameRate = parseRational(js.RFrameRate)
			}
		}
		// Display matrix first: it is what players obey. ffmpeg 5 no longer exports the
		// "rotate" tag, but older tools wrote files where only the tag survives.
		rotation, found := 0.0, false
		for _, sd := range js.SideDataList {
			if sd.SideDataType == "Display Matrix" && sd.Rotation != nil {
				rotation, found = -*sd.Rotation, true
				break
			}
		}
		if !found {
			if v, err := strconv.ParseFloat(js.Tags["rotate"], 64); err == nil {
				rotation = v
			}
		}
		s.Rotation = normalizeRotation(rotation)
		res.Streams = append(res.Streams, s)
		longest = max(longest, s.Duration)
	}
	if res.Duration == 0 {
		// Some containers (raw ADTS, some MPEG-TS) have no duration of their own.
		res.Duration = longest
	}
	return res, nil
}

// normalizeRotation maps any angle to 0, 90, 180 or 270, rounding to the nearest
// quarter turn (the only rotations a player applies without resampling).
func normalizeRotation(deg float64) int {
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	r := int(math.Round(math.Mod(deg, 360)/90)) % 4 * 90
	if r < 0 {
		r += 360
	}
	return r
}

// parseRational parses ffprobe's "30000/1001" (or a plain number); "0/0" and garbage give 0.
func parseRational(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	if !ok {
		return n
	}
	d, err := strconv.ParseFloat(den, 64)
	if err != nil || d == 0 {
		return 0
	}
	return n / d
}

// parseSeconds parses ffprobe's "2.000000"; "N/A", negative values and garbage give 0.
func parseSeconds(s string) time.Duration {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return time.Duration(math.Round(v * float64(time.Second)))
}

// parseInt64 parses ffprobe's integer strings; "N/A" and garbage give 0.
func parseInt64(s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// limitedBuffer keeps up to max bytes and notes whether more were written. It never
// fails a write, so the child is never cut off mid-write.
type limitedBuffer struct {
	max      int
	buf      []byte
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - len(b.buf)
	if len(p) > room {
		b.overflow = true
		b.buf = append(b.buf, p[:max(room, 0)]...)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}
