// Package jobs turns presets and a probed input into ffmpeg work and runs
// it: the encode plan (this file), and the pieces that execute a job.
package jobs

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	ffgo "github.com/u2takey/ffmpeg-go"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/presets"
)

// Clip limits the part of the input that is encoded, like Elastic
// Transcoder's TimeSpan. A zero Duration means "to the end".
type Clip struct {
	Start    time.Duration
	Duration time.Duration
}

// OutputRequest is one rendition a job asks for.
type OutputRequest struct {
	// Key is where the output goes, relative to the output location. For
	// segmented outputs (ts or fmp4 with a SegmentDuration) it is the base
	// name: Key.m3u8 and Key00000.ts are written, as Elastic Transcoder did.
	Key    string
	Preset *presets.Preset
	// ThumbnailPattern is Elastic Transcoder's pattern: "" for no
	// thumbnails, else a key containing {count} (five digits from 00001)
	// and optionally {resolution}; the format's extension is appended.
	ThumbnailPattern string
	// SegmentDuration in seconds (1 to 60) cuts ts and fmp4 outputs into an
	// HLS media playlist and segments.
	SegmentDuration string
	// Rotate is auto (follow the input's rotation metadata; also when
	// empty), or 0, 90, 180, 270 degrees clockwise relative to the stored
	// picture, ignoring its metadata.
	Rotate string
	// Rung marks an output that is one rung of a ladder preset: it is
	// dropped when it is larger than the source (DropRungsAboveSource).
	Rung bool
}

// DropRungsAboveSource removes the ladder rungs whose size box is larger
// than the source picture in both dimensions: they would only repeat a
// smaller rung at a higher bit rate, since sizing never upscales. Boxes
// are compared in the source's orientation, so a portrait source keeps
// the rungs its height allows. The smallest video rung of a ladder is
// always kept, and outputs that are not rungs are never dropped.
func DropRungsAboveSource(outs []OutputRequest, probe *ffmpeg.ProbeResult) []OutputRequest {
	sv := probe.Video()
	if sv == nil {
		return outs
	}
	w, h := sv.DisplaySize()
	w, h = displaySize(sv, w, h)
	above := func(o OutputRequest) bool {
		v := o.Preset.Video
		if !o.Rung || v == nil {
			return false
		}
		bw, bh := atoiOr(v.MaxWidth, 1920), atoiOr(v.MaxHeight, 1080)
		if (h > w) != (bh > bw) { // a portrait source turns the box
			bw, bh = bh, bw
		}
		return bw > w && bh > h
	}
	smallest := -1
	for i, o := range outs {
		if o.Rung && o.Preset.Video != nil && (smallest < 0 ||
			atoiOr(o.Preset.Video.MaxWidth, 1920)*atoiOr(o.Preset.Video.MaxHeight, 1080) <
				atoiOr(outs[smallest].Preset.Video.MaxWidth, 1920)*atoiOr(outs[smallest].Preset.Video.MaxHeight, 1080)) {
			smallest = i
		}
	}
	var kept []OutputRequest
	for i, o := range outs {
		if i == smallest || !above(o) {
			kept = append(kept, o)
		}
	}
	return kept
}

// turnBox returns v with MaxWidth and MaxHeight swapped when the source
// and the box differ in orientation: a ladder rung's 1280×720 box becomes
// 720×1280 for a phone's portrait video, so that the rung keeps its
// number of lines rather than shrinking to 405×720.
func turnBox(v *presets.Video, w, h int) *presets.Video {
	bw, bh := atoiOr(v.MaxWidth, 1920), atoiOr(v.MaxHeight, 1080)
	if bw == bh || (h > w) == (bh > bw) || w == h {
		return v
	}
	t := *v
	t.MaxWidth, t.MaxHeight = strconv.Itoa(bh), strconv.Itoa(bw)
	return &t
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// Capabilities says which encoders the local ffmpeg has, so that a plan
// can fail early with a clear message, or fall back where Elastic
// Transcoder's semantics allow it.
type Capabilities struct {
	Encoders map[string]bool
}

// PlanRequest is everything a plan is made from.
type PlanRequest struct {
	Input   string // local path ffmpeg reads
	Probe   *ffmpeg.ProbeResult
	Clip    *Clip
	Outputs []OutputRequest
	Dir     string // directory ffmpeg writes into; keys are relative to it
	Isolate bool   // one ffmpeg process per output instead of one for all
	Caps    Capabilities
	// Playlists over the outputs; they are checked here (ValidatePlaylists)
	// and decide how the outputs they name are segmented.
	Playlists []PlaylistRequest
}

// Plan is the ffmpeg work for one job.
type Plan struct {
	Commands []Command
	Outputs  []PlannedOutput
	// Duration is how long the encoded part of the input is, for progress.
	Duration time.Duration
	// Dir is the directory the commands write into.
	Dir string
	// Playlists are written after every output is finished, in the
	// order requested.
	Playlists []PlannedPlaylist
}

// PlannedPlaylist is a master playlist or manifest the job writes.
type PlannedPlaylist struct {
	Request PlaylistRequest
	// File is the playlist's key: Name plus the format's extension.
	File string
	// Outputs are the indexes in Plan.Outputs of the outputs it lists, in
	// the order of Request.OutputKeys.
	Outputs []int
}

// Command is one ffmpeg invocation: its arguments (without the program
// name and without the global flags the runner adds) and the indexes of
// the outputs it writes.
type Command struct {
	Args    []string
	Outputs []int
}

// PlannedOutput is what one output will produce.
type PlannedOutput struct {
	Request OutputRequest
	// Main is the file players open: the media file, or the media
	// playlist of a segmented output. Relative to the plan's Dir.
	Main string
	// Segmented outputs also write SegmentPattern (a glob) and, for fmp4,
	// InitSegment.
	Segmented      bool
	SegmentPattern string
	InitSegment    string
	// MediaFile is the one byte-ranged file of an output in an HLSv4
	// playlist (KEY.ts); its media playlist (Main) is KEY_v4.m3u8 and,
	// for video, IFramePlaylist is KEY_iframe.m3u8, which is written
	// after ffmpeg (ffmpeg 5.1 writes no I-frame playlists).
	MediaFile      string
	IFramePlaylist string
	// ThumbnailGlob matches the thumbnails written, "" for none.
	ThumbnailGlob string
	// Width and Height of the output frame, 0 for audio-only outputs.
	Width, Height int
	HasVideo      bool
	HasAudio      bool
	Warnings      []string
}

// Files lists every file the output may write, as path.Match patterns
// (slash-separated, relative, with the characters of keys escaped), for
// checks and collection.
func (o *PlannedOutput) Files() []string {
	f := []string{globEscape(o.Main)}
	if o.SegmentPattern != "" {
		f = append(f, o.SegmentPattern)
	}
	if o.InitSegment != "" {
		f = append(f, globEscape(o.InitSegment))
	}
	if o.MediaFile != "" {
		f = append(f, globEscape(o.MediaFile))
	}
	if o.IFramePlaylist != "" {
		f = append(f, globEscape(o.IFramePlaylist))
	}
	if o.ThumbnailGlob != "" {
		f = append(f, o.ThumbnailGlob)
	}
	return f
}

// globEscape quotes the characters path.Match and fs.Glob treat as
// pattern syntax, so that a key like "Movie [1080p]" is matched literally.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// literalPrefix returns the part of a pattern before its first unescaped
// pattern character, unescaped: what a listing by prefix can start from.
func literalPrefix(pattern string) string {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 < len(pattern) {
				i++
				b.WriteByte(pattern[i])
			}
		case '*', '?', '[':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ErrBadRequest is matched (errors.Is) by errors that come from the
// request or the input (Elastic Transcoder's 4000 range) rather than from
// the system.
var ErrBadRequest = errors.New("bad request")

// requestError is an error of the request or input; its text is the
// message alone, without ErrBadRequest's.
type requestError struct{ err error }

func (e *requestError) Error() string        { return e.err.Error() }
func (e *requestError) Unwrap() error        { return e.err }
func (e *requestError) Is(target error) bool { return target == ErrBadRequest }

func badRequest(format string, args ...any) error {
	return &requestError{fmt.Errorf(format, args...)}
}

// digits5 matches the five-digit counter of segments and thumbnails.
const digits5 = "[0-9][0-9][0-9][0-9][0-9]"

// Extension returns the file extension (with the dot) of a container.
func Extension(container string) string {
	switch container {
	case "fmp4":
		return ".mp4"
	case "mpg":
		return ".mpg"
	default:
		return "." + container
	}
}

// muxers maps containers to ffmpeg's muxer names.
var muxers = map[string]string{
	"mp4": "mp4", "fmp4": "mp4", "ts": "mpegts", "webm": "webm", "mp3": "mp3", "mp2": "mp2", "flac": "flac",
	"oga": "ogg", "ogg": "ogg", "wav": "wav", "gif": "gif", "mpg": "vob", "flv": "flv", "mxf": "mxf",
	"mkv": "matroska", "webp": "webp",
}

// videoEncoders maps preset codecs to ffmpeg encoders.
var videoEncoders = map[string]string{
	"H.264": "libx264", "H.265": "libx265", "AV1": "libsvtav1", "vp8": "libvpx", "vp9": "libvpx-vp9",
	"mpeg2": "mpeg2video", "gif": "gif", "webp": "libwebp_anim",
}

var audioEncoders = map[string]string{
	"AAC": "aac", "mp3": "libmp3lame", "mp2": "mp2", "vorbis": "libvorbis", "opus": "libopus", "flac": "flac",
}

// BuildPlan makes the ffmpeg work for a job. It never starts a process.
// Errors that come from the request or the input match ErrBadRequest.
func BuildPlan(req PlanRequest) (plan *Plan, err error) {
	// ffmpeg-go panics on graphs it cannot render; turn that into an
	// error rather than a crashed daemon.
	defer func() {
		if r := recover(); r != nil {
			plan, err = nil, fmt.Errorf("building the ffmpeg command failed: %v", r)
		}
	}()
	if req.Probe == nil {
		return nil, errors.New("plan: the input was not probed")
	}
	if len(req.Outputs) == 0 {
		return nil, badRequest("no outputs requested")
	}
	p := &Plan{Duration: clipDuration(req.Probe.Duration, req.Clip), Dir: req.Dir}
	if req.Clip != nil && req.Clip.Start >= req.Probe.Duration && req.Probe.Duration > 0 {
		return nil, badRequest("clip starts at %s, after the end of the input (%s)", req.Clip.Start, req.Probe.Duration)
	}
	layouts, err := playlistLayouts(req.Outputs, req.Playlists)
	if err != nil {
		return nil, err
	}
	var specs []*outputSpec
	for i, o := range req.Outputs {
		s, err := planOutput(req, o, layouts[i])
		if err != nil {
			return nil, fmt.Errorf("output %d (%s): %w", i+1, o.Key, err)
		}
		specs = append(specs, s)
		p.Outputs = append(p.Outputs, s.planned)
	}
	p.Playlists = planPlaylists(req.Outputs, req.Playlists)
	if err := checkDistinctFiles(p.Outputs, p.Playlists); err != nil {
		return nil, err
	}
	if req.Isolate {
		for i, s := range specs {
			p.Commands = append(p.Commands, Command{Args: render(req, []*outputSpec{s}), Outputs: []int{i}})
		}
	} else {
		idx := make([]int, len(specs))
		for i := range idx {
			idx[i] = i
		}
		p.Commands = []Command{{Args: render(req, specs), Outputs: idx}}
	}
	return p, nil
}

func clipDuration(total time.Duration, c *Clip) time.Duration {
	if c == nil {
		return total
	}
	d := max(total-c.Start, 0)
	if c.Duration > 0 && c.Duration < d {
		d = c.Duration
	}
	return d
}

func checkDistinctFiles(outs []PlannedOutput, pls []PlannedPlaylist) error {
	seen := map[string]int{}
	for i, o := range outs {
		for _, f := range o.Files() {
			if j, dup := seen[f]; dup {
				return badRequest("outputs %d and %d would both write %s; give them different keys", j+1, i+1, f)
			}
			seen[f] = i
		}
	}
	for _, pl := range pls {
		for _, f := range outs {
			for _, pattern := range f.Files() {
				// Segment patterns too: playlist "hls/a00001" and output
				// "hls/a" are one file.
				if ok, _ := path.Match(pattern, pl.File); ok {
					return badRequest("playlist %q and output %q would both write %s; give them different names", pl.Request.Name, f.Request.Key, pl.File)
				}
			}
		}
	}
	return nil
}

// outputSpec is one output's part of the ffmpeg command, before it is
// rendered: the filters its video and audio go through and its options.
type outputSpec struct {
	planned PlannedOutput

	video    *videoSpec
	audio    *audioSpec
	thumbs   *videoSpec
	opts     ffgo.KwArgs // output options (codecs, rates, muxer)
	file     string      // path ffmpeg writes
	thumbOpt ffgo.KwArgs
	thumbOut string
}

// videoSpec is the chain of filters after the decoded video.
type videoSpec struct {
	filters [][2]string // name, arguments
}

type audioSpec struct {
	// tracks > 0 splits the audio into that many mono tracks (mxf packing
	// modes); channelsInTracks says how many carry a source channel, the
	// rest are silent.
	tracks, channelsInTracks int
}

func planOutput(req PlanRequest, o OutputRequest, lay outputLayout) (*outputSpec, error) {
	pr := o.Preset
	if pr == nil {
		return nil, errors.New("no preset")
	}
	if pr.IsLadder() {
		return nil, badRequest("preset %q is a ladder; expand it into its rungs first", pr.Name)
	}
	if err := validKey(o.Key); err != nil {
		return nil, err
	}
	src := req.Probe
	sv, sa := src.Video(), src.Audio()
	s := &outputSpec{opts: ffgo.KwArgs{}}
	s.planned.Request = o
	wantVideo := pr.Video != nil
	wantAudio := pr.Audio != nil && pr.Audio.Channels != "0"

	if wantVideo && sv == nil {
		if !wantAudio || sa == nil {
			return nil, badRequest("preset %q needs video and the input has no video stream", pr.Name)
		}
		wantVideo = false
		s.planned.Warnings = append(s.planned.Warnings, "the input has no video; the output has audio only")
	}
	if wantAudio && sa == nil {
		if !wantVideo {
			return nil, badRequest("preset %q needs audio and the input has no audio stream", pr.Name)
		}
		wantAudio = false
	}
	s.planned.HasVideo, s.planned.HasAudio = wantVideo, wantAudio

	segmented := o.SegmentDuration != ""
	if segmented {
		if !slices.Contains(presets.SegmentedContainers, pr.Container) {
			return nil, badRequest("segment duration applies to ts and fmp4 outputs; preset %q is %s", pr.Name, pr.Container)
		}
		n, err := strconv.ParseFloat(o.SegmentDuration, 64)
		if err != nil || n < 1 || n > 60 {
			return nil, badRequest("segment duration %q: allowed: 1 to 60 seconds", o.SegmentDuration)
		}
	}

	if wantVideo {
		if err := planVideo(req, o, s, sv); err != nil {
			return nil, err
		}
	} else {
		s.opts["vn"] = ""
	}
	if wantAudio {
		if err := planAudio(req, o, s, sa); err != nil {
			return nil, err
		}
	} else {
		s.opts["an"] = ""
	}
	s.opts["sn"] = ""
	s.opts["dn"] = ""
	s.opts["map_metadata"] = "-1"
	s.opts["map_chapters"] = "-1"

	// The container.
	s.opts["f"] = muxers[pr.Container]
	switch {
	case segmented:
		s.planned.Segmented = true
		s.planned.Main = o.Key + ".m3u8"
		s.file = path.Join(req.Dir, s.planned.Main)
		s.opts["f"] = "hls"
		s.opts["hls_time"] = o.SegmentDuration
		s.opts["hls_playlist_type"] = "vod"
		s.opts["hls_list_size"] = "0"
		s.opts["hls_flags"] = "independent_segments"
		if wantVideo {
			// A key frame at every segment boundary, in every rendition
			// whatever its frame rate or GOP, so that segments last what
			// was asked and players switch renditions at any boundary.
			s.opts["force_key_frames"] = "expr:gte(t,n_forced*" + o.SegmentDuration + ")"
		}
		if lay == layoutByteRange {
			// Elastic Transcoder's HLSv4: one file, byte ranges in KEY_v4.m3u8.
			s.planned.Main = o.Key + "_v4.m3u8"
			s.planned.MediaFile = o.Key + ".ts"
			if wantVideo {
				s.planned.IFramePlaylist = o.Key + "_iframe.m3u8"
			}
			s.file = path.Join(req.Dir, s.planned.Main)
			s.opts["hls_flags"] = "single_file+independent_segments"
			s.opts["hls_segment_filename"] = path.Join(req.Dir, s.planned.MediaFile)
			break
		}
		ext := ".ts"
		if pr.Container == "fmp4" {
			ext = ".m4s"
			s.opts["hls_segment_type"] = "fmp4"
			s.planned.InitSegment = o.Key + "_init.mp4"
			// ffmpeg resolves the init name against the playlist's directory.
			s.opts["hls_fmp4_init_filename"] = path.Base(s.planned.InitSegment)
		}
		s.planned.SegmentPattern = globEscape(o.Key) + digits5 + ext
		s.opts["hls_segment_filename"] = path.Join(req.Dir, o.Key+"%05d"+ext)
	default:
		s.planned.Main = o.Key
		s.file = path.Join(req.Dir, o.Key)
		switch pr.Container {
		case "mp4":
			s.opts["movflags"] = "+faststart"
		case "fmp4":
			s.opts["movflags"] = "+frag_keyframe+empty_moov+default_base_moof"
		case "gif", "webp":
			loop := "0"
			if pr.Video != nil && pr.Video.CodecOptions != nil && pr.Video.CodecOptions.LoopCount != "" && pr.Video.CodecOptions.LoopCount != "Infinite" {
				loop = pr.Video.CodecOptions.LoopCount
			}
			s.opts["loop"] = loop
		}
	}

	if o.ThumbnailPattern != "" {
		if err := planThumbnails(req, o, s, sv); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// validKey refuses keys that would write outside the output directory.
func validKey(key string) error {
	switch {
	case key == "":
		return badRequest("the output key is empty")
	case strings.ContainsRune(key, 0):
		return badRequest("the output key contains a NUL byte")
	case path.IsAbs(key) || slices.Contains(strings.Split(key, "/"), ".."):
		return badRequest("output key %q must be relative and must not contain '..'", key)
	case strings.Contains(key, "%"):
		// ffmpeg's image and segment muxers read % as a pattern.
		return badRequest("output key %q must not contain '%%'", key)
	}
	return nil
}

// rotation returns the filters that turn the picture as the output asks,
// and the size of the turned picture.
//
// ffmpeg always autorotates: it turns the picture by the input's display
// rotation and writes the output with an identity display matrix. An
// explicit Rotate is then reached by turning the rest of the way. The
// alternative, -noautorotate plus the whole turn, is wrong in ffmpeg 5.1:
// an encoded stream then inherits the input's display matrix (and
// "-metadata:s:v rotate=0" cannot reset it when encoding), so players would
// turn the already turned picture once more.
func rotation(o OutputRequest, sv *ffmpeg.Stream) (transpose []string, w, h int, err error) {
	var want int
	switch o.Rotate {
	case "", "auto":
		w, h = sv.DisplaySize()
		return nil, w, h, nil
	case "0", "90", "180", "270":
		want, _ = strconv.Atoi(o.Rotate)
	default:
		return nil, 0, 0, badRequest("rotate %q: allowed: auto, 0, 90, 180, 270", o.Rotate)
	}
	w, h = sv.Width, sv.Height
	if want == 90 || want == 270 {
		w, h = h, w
	}
	switch (want - sv.Rotation + 360) % 360 {
	case 90:
		transpose = []string{"clock"}
	case 180:
		transpose = []string{"hflip", "vflip"}
	case 270:
		transpose = []string{"cclock"}
	}
	return transpose, w, h, nil
}

// displaySize returns the size the picture is shown at: stored pixels
// widened by a non-square sample aspect ratio.
func displaySize(sv *ffmpeg.Stream, w, h int) (int, int) {
	num, den, ok := parseRatio(sv.SampleAspectRatio)
	if !ok || num == den || num <= 0 || den <= 0 {
		return w, h
	}
	return int(math.Round(float64(w) * float64(num) / float64(den))), h
}

func parseRatio(s string) (int, int, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	return n, d, err1 == nil && err2 == nil && d != 0
}

// frameRates maps Elastic Transcoder's frame rates to exact ffmpeg rates.
var frameRates = map[string]string{
	"10": "10", "15": "15", "23.97": "24000/1001", "24": "24", "25": "25", "29.97": "30000/1001",
	"30": "30", "50": "50", "60": "60",
}

func rateValue(r string) float64 {
	if n, d, ok := strings.Cut(r, "/"); ok {
		a, _ := strconv.ParseFloat(n, 64)
		b, _ := strconv.ParseFloat(d, 64)
		if b != 0 {
			return a / b
		}
	}
	f, _ := strconv.ParseFloat(r, 64)
	return f
}

// outputRate returns the ffmpeg frame rate for the output, or "" to keep
// the input's. FrameRate auto keeps the input rate up to MaxFrameRate,
// which defaults to 30 as in Elastic Transcoder.
func outputRate(v *presets.Video, src float64) string {
	if r, ok := frameRates[v.FrameRate]; ok {
		return r
	}
	limit := "30"
	if v.MaxFrameRate != "" {
		limit = v.MaxFrameRate
	}
	if src > rateValue(frameRates[limit])+0.01 {
		return frameRates[limit]
	}
	return ""
}

func planVideo(req PlanRequest, o OutputRequest, s *outputSpec, sv *ffmpeg.Stream) error {
	v := o.Preset.Video
	enc := videoEncoders[v.Codec]
	if !req.Caps.has(enc) {
		return fmt.Errorf("this ffmpeg has no %s encoder, needed for %s video; install an ffmpeg built with it", enc, v.Codec)
	}
	transpose, w, h, err := sourceSize(o, sv)
	if err != nil {
		return err
	}
	if o.Rung {
		v = turnBox(v, w, h)
	}
	layout, err := presets.VideoLayout(v, w, h)
	if err != nil {
		return badRequest("sizing: %w", err)
	}
	s.planned.Width, s.planned.Height = layout.Width, layout.Height
	vs := &videoSpec{}
	co := v.CodecOptions
	if co == nil {
		co = &presets.VideoCodecOptions{}
	}
	interlacedOut := co.InterlacedMode == "TopFirst" || co.InterlacedMode == "BottomFirst" ||
		(co.InterlacedMode == "Auto" && sv.Interlaced)
	if sv.Interlaced && !interlacedOut {
		vs.add("yadif", "") // Progressive output from an interlaced source.
	}
	vs.addTurn(transpose)
	if r := outputRate(v, sv.FrameRate); r != "" {
		vs.add("fps", r)
	}
	scale := fmt.Sprintf("%d:%d", layout.ScaleW, layout.ScaleH)
	if m := colorMatrices(co.ColorSpaceConversionMode, h, layout.Height); m != "" {
		scale += ":" + m
		s.opts["colorspace"] = map[string]string{"in_color_matrix=bt709:out_color_matrix=bt601": "smpte170m", "in_color_matrix=bt601:out_color_matrix=bt709": "bt709"}[m]
	}
	vs.add("scale", scale)
	vs.addFrame(layout)
	if interlacedOut {
		field := "tff"
		if co.InterlacedMode == "BottomFirst" || (co.InterlacedMode == "Auto" && sv.FieldOrder == "bb") {
			field = "bff"
		}
		vs.add("setfield", field)
	}
	pixFmt := "yuv420p"
	switch {
	case co.ChromaSubsampling == "yuv422p":
		pixFmt = "yuv422p"
	case v.Codec == "H.265" && co.Profile == "main10":
		pixFmt = "yuv420p10le"
	case v.Codec == "gif":
		pixFmt = ""
		vs.add("split", "")
	case v.Codec == "webp":
		pixFmt = "yuva420p"
	}
	if pixFmt != "" {
		vs.add("format", pixFmt)
	}
	s.video = vs

	s.opts["c:v"] = enc
	videoRate(v, co, s.opts)
	if err := videoCodecArgs(v, co, interlacedOut, s); err != nil {
		return err
	}
	return nil
}

func (v *videoSpec) add(name, args string) { v.filters = append(v.filters, [2]string{name, args}) }

// addTurn adds the filters that turn the picture as rotation decided.
func (v *videoSpec) addTurn(transpose []string) {
	for _, t := range transpose {
		if t == "clock" || t == "cclock" {
			v.add("transpose", t)
		} else {
			v.add(t, "")
		}
	}
}

// addFrame adds what follows scaling in a layout: crop, pad, and the
// pixel or display aspect ratio the output records.
func (v *videoSpec) addFrame(l presets.Layout) {
	if l.Crop {
		v.add("crop", fmt.Sprintf("%d:%d:%d:%d", l.CropW, l.CropH, l.CropX, l.CropY))
	}
	if l.Pad {
		v.add("pad", fmt.Sprintf("%d:%d:%d:%d:black", l.Width, l.Height, l.PadX, l.PadY))
	}
	if l.DAR != "" {
		v.add("setdar", strings.Replace(l.DAR, ":", "/", 1))
	} else {
		v.add("setsar", "1")
	}
}

// sourceSize is the picture the sizing policies work on: turned as the
// output asks, with non-square pixels widened to their display size.
func sourceSize(o OutputRequest, sv *ffmpeg.Stream) (transpose []string, w, h int, err error) {
	transpose, w, h, err = rotation(o, sv)
	if err != nil {
		return nil, 0, 0, err
	}
	w, h = displaySize(sv, w, h)
	return transpose, w, h, nil
}

func (c Capabilities) has(enc string) bool {
	if c.Encoders == nil {
		return true // unknown: let ffmpeg decide
	}
	return c.Encoders[enc]
}

// colorMatrices returns the scale filter's matrix options for a
// ColorSpaceConversionMode. Auto converts when the output crosses the
// SD/HD boundary (BT.601 below 720 lines, BT.709 from 720).
func colorMatrices(mode string, srcH, outH int) string {
	const to601 = "in_color_matrix=bt709:out_color_matrix=bt601"
	const to709 = "in_color_matrix=bt601:out_color_matrix=bt709"
	switch mode {
	case "Bt709toBt601":
		return to601
	case "Bt601toBt709":
		return to709
	case "Auto":
		switch {
		case srcH >= 720 && outH < 720:
			return to601
		case srcH < 720 && outH >= 720:
			return to709
		}
	}
	return ""
}

// videoRate sets bit rate, peak rate and buffer. BitRate auto leaves the
// rate to a constant-quality setting suited to the codec.
func videoRate(v *presets.Video, co *presets.VideoCodecOptions, o ffgo.KwArgs) {
	if v.BitRate != "" && v.BitRate != "auto" {
		o["b:v"] = v.BitRate + "k"
	} else {
		switch v.Codec {
		case "H.264":
			o["crf"] = "23"
		case "H.265":
			o["crf"] = "28"
		case "vp8", "vp9":
			o["crf"] = "31"
			o["b:v"] = "0"
		case "AV1":
			o["crf"] = "35"
		case "mpeg2":
			o["q:v"] = "4"
		}
	}
	if co.MaxBitRate != "" {
		o["maxrate"] = co.MaxBitRate + "k"
		buf := co.BufferSize
		if buf == "" {
			// Elastic Transcoder's default: ten times the peak rate.
			n, _ := strconv.Atoi(co.MaxBitRate)
			buf = strconv.Itoa(10 * n)
		}
		o["bufsize"] = buf + "k"
	} else if co.BufferSize != "" {
		o["bufsize"] = co.BufferSize + "k"
	}
}

func videoCodecArgs(v *presets.Video, co *presets.VideoCodecOptions, interlaced bool, s *outputSpec) error {
	o := s.opts
	gop := v.KeyframesMaxDist
	fixed := v.FixedGOP == "true"
	switch v.Codec {
	case "H.264":
		if co.Profile != "" {
			o["profile:v"] = co.Profile
		}
		if co.Level != "" {
			o["level:v"] = co.Level
		}
		if co.MaxReferenceFrames != "" {
			o["refs"] = co.MaxReferenceFrames
		}
		if gop != "" {
			o["g"] = gop
			if fixed {
				o["keyint_min"] = gop
				o["sc_threshold"] = "0"
			}
		}
		if interlaced {
			o["flags"] = "+ildct+ilme"
		}
	case "H.265":
		params := []string{"log-level=error"}
		if co.Profile != "" {
			o["profile:v"] = co.Profile
		}
		if co.Level != "" {
			params = append(params, "level-idc="+co.Level)
		}
		if co.MaxReferenceFrames != "" {
			params = append(params, "ref="+co.MaxReferenceFrames)
		}
		if gop != "" {
			params = append(params, "keyint="+gop)
			if fixed {
				params = append(params, "min-keyint="+gop, "scenecut=0", "open-gop=0")
			}
		}
		o["x265-params"] = strings.Join(params, ":")
		o["tag:v"] = "hvc1" // Apple players need the hvc1 sample entry.
	case "AV1":
		if gop != "" {
			o["g"] = gop
			if fixed {
				o["svtav1-params"] = "scd=0"
			}
		}
		o["preset"] = "8"
	case "vp8", "vp9":
		if co.Profile != "" {
			o["profile:v"] = co.Profile
		}
		if gop != "" {
			o["g"] = gop
			if fixed {
				o["keyint_min"] = gop
			}
		}
		o["deadline"] = "good"
		o["cpu-used"] = "4"
		if v.Codec == "vp9" {
			o["row-mt"] = "1"
		}
	case "mpeg2":
		if gop != "" {
			o["g"] = gop
			if fixed {
				o["sc_threshold"] = "1000000000"
				o["flags"] = "+cgop"
			}
		}
		o["bf"] = "2"
		if interlaced {
			o["flags"] = o.GetString("flags") + "+ildct+ilme"
		}
	case "gif", "webp":
		if v.Codec == "webp" {
			o["quality"] = "75"
		}
	}
	return nil
}

func planAudio(req PlanRequest, o OutputRequest, s *outputSpec, sa *ffmpeg.Stream) error {
	a := o.Preset.Audio
	opts := s.opts
	enc := audioEncoders[a.Codec]
	co := a.CodecOptions
	if co == nil {
		co = &presets.AudioCodecOptions{}
	}
	if a.Codec == "pcm" {
		enc = pcmEncoder(co)
	}
	if a.Codec == "AAC" {
		switch co.Profile {
		case "HE-AAC", "HE-AACv2":
			if req.Caps.has("libfdk_aac") && req.Caps.Encoders != nil {
				enc = "libfdk_aac"
				opts["profile:a"] = map[string]string{"HE-AAC": "aac_he", "HE-AACv2": "aac_he_v2"}[co.Profile]
			} else {
				s.planned.Warnings = append(s.planned.Warnings,
					fmt.Sprintf("this ffmpeg cannot encode %s (it needs libfdk_aac); the audio is AAC-LC instead", co.Profile))
				opts["profile:a"] = "aac_low"
			}
		default:
			opts["profile:a"] = "aac_low"
		}
	}
	if !req.Caps.has(enc) {
		return fmt.Errorf("this ffmpeg has no %s encoder, needed for %s audio; install an ffmpeg built with it", enc, a.Codec)
	}
	opts["c:a"] = enc
	if a.BitRate != "" {
		opts["b:a"] = a.BitRate + "k"
	}
	rate := sa.SampleRate
	if a.SampleRate != "" && a.SampleRate != "auto" {
		rate, _ = strconv.Atoi(a.SampleRate)
	}
	rate = supportedRate(a.Codec, rate)
	if rate > 0 {
		opts["ar"] = strconv.Itoa(rate)
	}
	channels := min(sa.Channels, 2)
	if a.Channels == "1" || a.Channels == "2" {
		channels, _ = strconv.Atoi(a.Channels)
	}
	if channels <= 0 {
		channels = 2
	}
	switch a.AudioPackingMode {
	case "OneChannelPerTrack":
		s.audio = &audioSpec{tracks: channels, channelsInTracks: channels}
	case "OneChannelPerTrackWithMosTo8Tracks":
		s.audio = &audioSpec{tracks: 8, channelsInTracks: channels}
	default:
		s.audio = &audioSpec{}
		opts["ac"] = strconv.Itoa(channels)
	}
	if a.Codec == "flac" {
		switch co.BitDepth {
		case "24":
			opts["sample_fmt"] = "s32"
			opts["bits_per_raw_sample"] = "24"
		case "16":
			opts["sample_fmt"] = "s16"
		}
	}
	return nil
}

// supportedRate moves a sample rate to the nearest one the codec takes.
func supportedRate(codec string, rate int) int {
	switch codec {
	case "opus":
		return 48000
	case "mp3", "mp2":
		if rate > 48000 {
			return 48000
		}
		if rate > 0 && rate < 22050 {
			return 22050
		}
	case "AAC", "vorbis", "flac", "pcm":
		if rate > 96000 && codec != "pcm" && codec != "flac" {
			return 96000
		}
	}
	return rate
}

func pcmEncoder(co *presets.AudioCodecOptions) string {
	switch co.BitDepth {
	case "8":
		if co.Signed == "Signed" {
			return "pcm_s8"
		}
		return "pcm_u8"
	case "24":
		return "pcm_s24le"
	case "32":
		return "pcm_s32le"
	default:
		return "pcm_s16le"
	}
}

func planThumbnails(req PlanRequest, o OutputRequest, s *outputSpec, sv *ffmpeg.Stream) error {
	t := o.Preset.Thumbnails
	if t == nil {
		return badRequest("a thumbnail pattern was given but preset %q makes no thumbnails", o.Preset.Name)
	}
	if !strings.Contains(o.ThumbnailPattern, "{count}") {
		return badRequest("thumbnail pattern %q must contain {count}", o.ThumbnailPattern)
	}
	if err := validKey(strings.NewReplacer("{count}", "c", "{resolution}", "r").Replace(o.ThumbnailPattern)); err != nil {
		return err
	}
	if sv == nil {
		s.planned.Warnings = append(s.planned.Warnings, "the input has no video; no thumbnails were made")
		return nil
	}
	transpose, w, h, err := sourceSize(o, sv)
	if err != nil {
		return err
	}
	layout, err := presets.ThumbnailLayout(t, w, h)
	if err != nil {
		return badRequest("thumbnail sizing: %w", err)
	}
	interval := 60
	if t.Interval != "" {
		interval, _ = strconv.Atoi(t.Interval)
	}
	vs := &videoSpec{}
	if sv.Interlaced {
		vs.add("yadif", "")
	}
	vs.addTurn(transpose)
	// The first frame, then one every interval: unlike fps=1/N, this also
	// gives a thumbnail for inputs shorter than the interval.
	vs.add("select", fmt.Sprintf("isnan(prev_selected_t)+gte(t-prev_selected_t,%d)", interval))
	vs.add("scale", fmt.Sprintf("%d:%d", layout.ScaleW, layout.ScaleH))
	vs.addFrame(layout)
	format := t.Format
	if format == "" {
		format = "png"
	}
	res := fmt.Sprintf("%dx%d", layout.Width, layout.Height)
	pattern := strings.ReplaceAll(o.ThumbnailPattern, "{resolution}", res)
	s.thumbs = vs
	s.thumbOut = path.Join(req.Dir, strings.Replace(pattern, "{count}", "%05d", 1)+"."+format)
	before, after, _ := strings.Cut(pattern, "{count}")
	s.planned.ThumbnailGlob = globEscape(before) + digits5 + globEscape(after+"."+format)
	s.thumbOpt = ffgo.KwArgs{"f": "image2", "start_number": "1", "an": "", "sn": "", "map_metadata": "-1", "fps_mode": "vfr"}
	if format == "jpg" {
		s.thumbOpt["c:v"] = "mjpeg"
		s.thumbOpt["q:v"] = "3"
		vs.add("format", "yuvj420p")
	} else {
		s.thumbOpt["c:v"] = "png"
	}
	return nil
}

// render turns output specs into one ffmpeg argument list: one input, one
// decode, split to every video consumer, each output with its own chain.
func render(req PlanRequest, specs []*outputSpec) []string {
	inArgs := ffgo.KwArgs{}
	opts := ffmpeg.InputOptions()
	for i := 0; i+1 < len(opts); i += 2 {
		inArgs[strings.TrimPrefix(opts[i], "-")] = opts[i+1]
	}
	if req.Clip != nil {
		if req.Clip.Start > 0 {
			inArgs["ss"] = seconds(req.Clip.Start)
		}
		if req.Clip.Duration > 0 {
			inArgs["t"] = seconds(req.Clip.Duration)
		}
	}
	in := ffgo.Input(req.Input, inArgs)

	// Every chain that consumes video gets its own branch of one split.
	var consumers []*videoSpec
	for _, s := range specs {
		if s.video != nil {
			consumers = append(consumers, s.video)
		}
		if s.thumbs != nil {
			consumers = append(consumers, s.thumbs)
		}
	}
	branches := map[*videoSpec]*ffgo.Stream{}
	if len(consumers) > 0 {
		src := in.Get("v:0")
		if len(consumers) == 1 {
			branches[consumers[0]] = src
		} else {
			split := src.Split()
			for i, c := range consumers {
				branches[c] = split.Get(strconv.Itoa(i))
			}
		}
	}
	chain := func(vs *videoSpec) *ffgo.Stream {
		st := branches[vs]
		for _, f := range vs.filters {
			switch {
			case f[0] == "split":
				// gif: a palette made from the clip itself, then applied.
				sp := st.Split()
				pal := sp.Get("1").Filter("palettegen", ffgo.Args{"stats_mode=diff"})
				st = ffgo.Filter([]*ffgo.Stream{sp.Get("0"), pal}, "paletteuse", ffgo.Args{"dither=bayer"})
			case f[1] == "":
				st = st.Filter(f[0], nil)
			default:
				st = st.Filter(f[0], ffgo.Args{f[1]})
			}
		}
		return st
	}

	var outs []*ffgo.Stream
	for _, s := range specs {
		var streams []*ffgo.Stream
		if s.video != nil {
			streams = append(streams, chain(s.video))
		}
		if s.audio != nil {
			streams = append(streams, audioStreams(in, s.audio)...)
		}
		if len(streams) > 0 {
			outs = append(outs, ffgo.Output(streams, s.file, s.opts))
		}
		if s.thumbs != nil {
			outs = append(outs, ffgo.Output([]*ffgo.Stream{chain(s.thumbs)}, s.thumbOut, s.thumbOpt))
		}
	}
	merged := outs[0]
	if len(outs) > 1 {
		merged = ffgo.MergeOutputs(outs...)
	}
	// -y: the staging directory is ours and new; never stop to ask.
	return append(merged.GetArgs(), "-y")
}

// audioStreams returns the audio to map: the first audio stream as it is,
// or split into mono tracks for mxf packing modes.
func audioStreams(in *ffgo.Stream, a *audioSpec) []*ffgo.Stream {
	src := in.Get("a:0")
	if a.tracks == 0 {
		return []*ffgo.Stream{src}
	}
	stereo := src.Filter("aformat", ffgo.Args{fmt.Sprintf("channel_layouts=%s", map[int]string{1: "mono", 2: "stereo"}[a.channelsInTracks])})
	split := stereo.ASplit()
	var out []*ffgo.Stream
	for i := range a.tracks {
		// Track i carries source channel i, or silence (MOS, "mit out
		// sound") past the source's channels. The index stands early in the
		// expression on purpose: ffmpeg-go identifies filter nodes by an
		// additive hash in which sibling filters differing only in their last
		// character can collide, and it then refuses the graph.
		expr := fmt.Sprintf("exprs=val(%d)", i)
		if i >= a.channelsInTracks {
			expr = fmt.Sprintf("exprs=%d*0", i)
		}
		out = append(out, split.Get(strconv.Itoa(i)).Filter("aeval", ffgo.Args{expr, "channel_layout=mono"}))
	}
	return out
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}
