package presets

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits from Elastic Transcoder's API.
const (
	maxNameLen        = 40
	maxDescriptionLen = 255
	maxWatermarks     = 4
	maxLadderRungs    = 30
)

var (
	idPattern      = regexp.MustCompile(`^\d{13}-\w{6}$`)
	aliasPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)
	resolutionPat  = regexp.MustCompile(`^(\d+)x(\d+)$`)
	videoBitRate   = regexp.MustCompile(`^\d{2,5}$`)
	wmSizePattern  = regexp.MustCompile(`^(\d{1,3}(?:\.\d{0,5})?)%$|^(\d{1,4})px$`)
	opacityPattern = regexp.MustCompile(`^\d{1,3}(\.\d{1,5})?$`)
)

// Validate checks a user's (Custom) preset against every rule Elastic
// Transcoder enforced and the rules of our extensions. It returns every
// problem found, not just the first, or nil.
//
// Validate checks the preset on its own: whether a ladder's rungs exist is
// checked when the preset joins a Registry.
func (p *Preset) Validate() Errors { return validate(p, false) }

// systemExemptions are the rules Elastic Transcoder's own presets break as
// it shipped them; only presets of Type System are excused from them.
type exemption int

const (
	exemptNameLength   exemption = iota // e.g. "System preset: Full HD 1080i60 - XDCAM422" (41), the WAV 16-bit preset (54)
	exemptLegacyMixing                  // Generic 1080p has AspectRatio beside MaxWidth/MaxHeight
)

type validator struct {
	errs   Errors
	system bool
}

func validate(p *Preset, system bool) Errors {
	v := &validator{system: system}
	v.preset(p)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

// exempt reports whether a rule is waived. Both exemptions apply to every
// system preset; TestSystemExemptions pins exactly which presets need them.
func (v *validator) exempt(exemption) bool { return v.system }

func (v *validator) add(path Path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// enum reports a value outside allowed. An empty value is fine: absent
// fields take Elastic Transcoder's defaults.
func (v *validator) enum(path Path, val string, allowed []string) bool {
	if val == "" || slices.Contains(allowed, val) {
		return true
	}
	msg := fmt.Sprintf("%q is not allowed; allowed: %s", val, strings.Join(allowed, ", "))
	for _, a := range allowed {
		if strings.EqualFold(a, val) {
			msg += fmt.Sprintf(" (values are case-sensitive: did you mean %q?)", a)
			break
		}
	}
	v.add(path, "%s", msg)
	return false
}

func (v *validator) required(path Path, val string, allowed []string) bool {
	if val != "" {
		return v.enum(path, val, allowed)
	}
	if allowed == nil {
		v.add(path, "is required")
	} else {
		v.add(path, "is required; allowed: %s", strings.Join(allowed, ", "))
	}
	return false
}

// intRange parses an integer written in plain digits and checks its range.
func (v *validator) intRange(path Path, val string, lo, hi int, what string) (int, bool) {
	if val == "" {
		return 0, false
	}
	n, err := strconv.Atoi(val)
	if err != nil || strings.TrimLeft(val, "0123456789") != "" {
		v.add(path, "%q is not a whole number; allowed: %s", val, rangeText(lo, hi, what))
		return 0, false
	}
	if n < lo || n > hi {
		v.add(path, "%s is out of range; allowed: %s", val, rangeText(lo, hi, what))
		return 0, false
	}
	return n, true
}

func rangeText(lo, hi int, what string) string {
	s := fmt.Sprintf("%d to %d", lo, hi)
	if what != "" {
		s += " " + what
	}
	return s
}

// evenRange checks "auto" or an even integer in [lo, hi].
func (v *validator) evenRange(path Path, val string, lo, hi int, autoOK bool) (int, bool) {
	if val == "" || (autoOK && val == "auto") {
		return 0, false
	}
	allowed := fmt.Sprintf("an even number of pixels from %d to %d", lo, hi)
	if autoOK {
		allowed = "auto or " + allowed
	}
	n, err := strconv.Atoi(val)
	if err != nil || strings.TrimLeft(val, "0123456789") != "" {
		v.add(path, "%q is not allowed; allowed: %s", val, allowed)
		return 0, false
	}
	if n < lo || n > hi || n%2 != 0 {
		v.add(path, "%s is not allowed; allowed: %s", val, allowed)
		return 0, false
	}
	return n, true
}

func (v *validator) preset(p *Preset) {
	// Identity.
	if p.ID != "" && !idPattern.MatchString(p.ID) {
		v.add(Path{"id"}, "%q is not valid; allowed: 13 digits, a dash and 6 letters, digits or '_', like 1351620000001-000010", p.ID)
	}
	switch n := utf8.RuneCountInString(p.Name); {
	case n == 0:
		v.add(Path{"name"}, "is required (1 to %d characters)", maxNameLen)
	case n > maxNameLen && !v.exempt(exemptNameLength):
		v.add(Path{"name"}, "is %d characters long; allowed: 1 to %d characters", n, maxNameLen)
	}
	if n := utf8.RuneCountInString(p.Description); n > maxDescriptionLen {
		v.add(Path{"description"}, "is %d characters long; allowed: at most %d", n, maxDescriptionLen)
	}
	if v.system {
		v.enum(Path{"type"}, p.Type, []string{TypeSystem})
	} else {
		v.enum(Path{"type"}, p.Type, []string{TypeCustom})
	}
	seen := map[string]bool{}
	for i, a := range p.Aliases {
		path := Path{"aliases", i}
		switch {
		case !aliasPattern.MatchString(a):
			v.add(path, "%q is not valid; allowed: 1 to 40 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", a)
		case idPattern.MatchString(a):
			v.add(path, "%q is shaped like a preset ID; an alias must not be", a)
		case seen[a]:
			v.add(path, "%q is listed twice", a)
		}
		seen[a] = true
	}

	if !v.required(Path{"container"}, p.Container, Containers) {
		// Without a known container nothing else can be checked against it.
		v.parts(p, "")
		return
	}
	if p.IsLadder() {
		v.ladder(p)
		return
	}
	v.parts(p, p.Container)
}

func (v *validator) ladder(p *Preset) {
	if !slices.Contains(SegmentedContainers, p.Container) {
		v.add(Path{"container"}, "%q cannot hold a ladder; allowed: %s", p.Container, strings.Join(SegmentedContainers, ", "))
	}
	if p.Video != nil || p.Audio != nil || p.Thumbnails != nil {
		v.add(Path{"ladder"}, "a ladder takes its settings from its rungs; remove video, audio and thumbnails")
	}
	if len(p.Ladder) > maxLadderRungs {
		v.add(Path{"ladder"}, "has %d rungs; allowed: at most %d", len(p.Ladder), maxLadderRungs)
	}
	seen := map[string]bool{}
	for i, r := range p.Ladder {
		switch {
		case strings.TrimSpace(r) == "":
			v.add(Path{"ladder", i}, "is empty; name a preset by ID or alias")
		case seen[strings.ToLower(r)]:
			v.add(Path{"ladder", i}, "%q is listed twice", r)
		}
		seen[strings.ToLower(r)] = true
	}
}

func (v *validator) parts(p *Preset, container string) {
	codecs, known := containerCodecs[container]
	if p.Video == nil && p.Audio == nil && known {
		v.add(nil, "has neither video nor audio; add at least one")
	}
	if p.Video != nil {
		if known && codecs.video == nil {
			v.add(Path{"video"}, "container %q has no video; remove video", container)
		} else {
			v.video(p.Video, container, codecs.video)
		}
	}
	if p.Audio != nil {
		if known && codecs.audio == nil {
			v.add(Path{"audio"}, "container %q has no audio; remove audio", container)
		} else {
			v.audio(p.Audio, container, codecs.audio)
		}
	}
	if p.Thumbnails != nil {
		if p.Video == nil {
			v.add(Path{"thumbnails"}, "needs video; a preset without video makes no thumbnails")
		}
		v.thumbnails(p.Thumbnails)
	}
}

func (v *validator) video(vid *Video, container string, codecs []string) {
	path := Path{"video"}
	codecOK := v.required(path.with("codec"), vid.Codec, VideoCodecs)
	if codecOK && codecs != nil && !slices.Contains(codecs, vid.Codec) {
		v.add(path.with("codec"), "%q cannot go in container %q; allowed: %s", vid.Codec, container, strings.Join(codecs, ", "))
	}
	// Animated images have no keyframes; ET's own Gif preset still carries
	// a BitRate, so that is allowed (and ignored by the encoder).
	still := vid.Codec == "gif" || vid.Codec == "webp"

	if vid.KeyframesMaxDist != "" && still {
		v.add(path.with("keyframes_max_dist"), "does not apply to %s; remove it", vid.Codec)
	} else {
		v.intRange(path.with("keyframes_max_dist"), vid.KeyframesMaxDist, 1, 100000, "frames")
	}
	v.enum(path.with("fixed_gop"), vid.FixedGOP, booleans)
	if container == "fmp4" && vid.FixedGOP != "true" {
		if vid.FixedGOP == "" {
			v.add(path.with("fixed_gop"), "must be set to true for container fmp4, so that every fragment starts with a keyframe")
		} else {
			v.add(path.with("fixed_gop"), "must be true for container fmp4, so that every fragment starts with a keyframe (got %q)", vid.FixedGOP)
		}
	}
	bitRate := 0
	if vid.BitRate != "" && vid.BitRate != "auto" {
		if n, _ := strconv.Atoi(vid.BitRate); !videoBitRate.MatchString(vid.BitRate) || n < 10 {
			v.add(path.with("bit_rate"), "%q is not allowed; allowed: auto or 10 to 99999 (kbit/s, 2 to 5 digits)", vid.BitRate)
		} else {
			bitRate, _ = strconv.Atoi(vid.BitRate)
		}
	}
	v.enum(path.with("frame_rate"), vid.FrameRate, frameRates)
	if v.enum(path.with("max_frame_rate"), vid.MaxFrameRate, maxFrameRates) && vid.MaxFrameRate != "" &&
		vid.FrameRate != "" && vid.FrameRate != "auto" {
		v.add(path.with("max_frame_rate"), "applies only when frame_rate is auto (frame_rate is %q); remove one of them", vid.FrameRate)
	}

	// Sizing: legacy Resolution/AspectRatio, or the newer fields; not both.
	legacy := vid.Resolution != "" || vid.AspectRatio != ""
	modern := vid.MaxWidth != "" || vid.MaxHeight != "" || vid.SizingPolicy != "" || vid.PaddingPolicy != "" || vid.DisplayAspectRatio != ""
	if legacy && modern && !v.exempt(exemptLegacyMixing) {
		field := "resolution"
		if vid.Resolution == "" {
			field = "aspect_ratio"
		}
		v.add(path.with(field), "cannot be combined with max_width, max_height, sizing_policy, padding_policy or display_aspect_ratio; use one way of sizing")
	}
	width, height := 0, 0
	if vid.Resolution != "" && vid.Resolution != "auto" {
		m := resolutionPat.FindStringSubmatch(vid.Resolution)
		w, _ := strconv.Atoi(safeIndex(m, 1))
		h, _ := strconv.Atoi(safeIndex(m, 2))
		if m == nil || w < 128 || w > 4096 || h < 96 || h > 3072 || w%2 != 0 || h%2 != 0 {
			v.add(path.with("resolution"), "%q is not allowed; allowed: auto or WIDTHxHEIGHT with even width 128 to 4096 and even height 96 to 3072", vid.Resolution)
		} else {
			width, height = w, h
		}
	}
	v.enum(path.with("aspect_ratio"), vid.AspectRatio, aspectRatios)
	if w, ok := v.evenRange(path.with("max_width"), vid.MaxWidth, 128, 4096, true); ok {
		width = w
	}
	if h, ok := v.evenRange(path.with("max_height"), vid.MaxHeight, 96, 3072, true); ok {
		height = h
	}
	v.enum(path.with("display_aspect_ratio"), vid.DisplayAspectRatio, aspectRatios)
	v.enum(path.with("sizing_policy"), vid.SizingPolicy, sizingPolicies)
	v.enum(path.with("padding_policy"), vid.PaddingPolicy, paddingPolicies)

	if vid.CodecOptions != nil && codecOK {
		v.videoCodecOptions(path.with("codec_options"), vid, width, height, bitRate)
	}
	v.watermarks(path.with("watermarks"), vid.Watermarks)
}

func (v *validator) videoCodecOptions(path Path, vid *Video, width, height, bitRate int) {
	o, codec := vid.CodecOptions, vid.Codec
	notFor := func(field, val string, codecs ...string) bool {
		if val == "" || slices.Contains(codecs, codec) {
			return false
		}
		v.add(path.with(field), "does not apply to codec %s; it applies to %s", codec, strings.Join(codecs, ", "))
		return true
	}
	if !notFor("profile", o.Profile, "H.264", "vp8", "vp9", "H.265", "AV1") {
		v.enum(path.with("profile"), o.Profile, videoProfiles[codec])
	}
	levelOK := false
	if !notFor("level", o.Level, "H.264", "H.265") {
		levelOK = o.Level != "" && v.enum(path.with("level"), o.Level, videoLevels[codec])
	}
	refs, refsOK := 0, false
	if !notFor("max_reference_frames", o.MaxReferenceFrames, "H.264", "H.265") {
		refs, refsOK = v.intRange(path.with("max_reference_frames"), o.MaxReferenceFrames, 0, 16, "frames")
	}
	maxBR, maxBROK := 0, false
	if !notFor("max_bit_rate", o.MaxBitRate, "H.264", "vp8", "vp9", "mpeg2", "H.265", "AV1") {
		maxBR, maxBROK = v.intRange(path.with("max_bit_rate"), o.MaxBitRate, 16, 62500, "kbit/s")
	}
	if !notFor("buffer_size", o.BufferSize, "H.264", "vp8", "vp9", "mpeg2", "H.265", "AV1") {
		v.intRange(path.with("buffer_size"), o.BufferSize, 1, 1000000, "kbit")
	}
	if !notFor("interlaced_mode", o.InterlacedMode, "H.264", "mpeg2") {
		if v.enum(path.with("interlaced_mode"), o.InterlacedMode, interlacedModes) &&
			codec == "H.264" && o.Profile == "baseline" && (o.InterlacedMode == "TopFirst" || o.InterlacedMode == "BottomFirst") {
			v.add(path.with("interlaced_mode"), "%q needs H.264 profile main or high; baseline has no interlaced coding", o.InterlacedMode)
		}
	}
	if !notFor("color_space_conversion_mode", o.ColorSpaceConversionMode, "H.264", "mpeg2") {
		v.enum(path.with("color_space_conversion_mode"), o.ColorSpaceConversionMode, colorSpaceModes)
	}
	if !notFor("chroma_subsampling", o.ChromaSubsampling, "mpeg2") {
		v.enum(path.with("chroma_subsampling"), o.ChromaSubsampling, chromaSubsamplings)
	}
	if !notFor("loop_count", o.LoopCount, "gif", "webp") && o.LoopCount != "" && o.LoopCount != "Infinite" {
		if _, err := strconv.Atoi(o.LoopCount); err != nil {
			v.add(path.with("loop_count"), "%q is not allowed; allowed: Infinite or 0 to 100", o.LoopCount)
		} else {
			v.intRange(path.with("loop_count"), o.LoopCount, 0, 100, "loops, or Infinite")
		}
	}

	// H.264 levels bound frame size, bit rate and reference frames.
	if codec != "H.264" || !levelOK {
		return
	}
	lim := h264Levels[o.Level]
	if width > 0 && height > 0 && width*height > lim.maxLuma {
		v.add(path.with("level"), "%s allows at most %d pixels a frame; %dx%d has %d; raise the level or lower the size", o.Level, lim.maxLuma, width, height, width*height)
	}
	maxRate := lim.maxBR
	if o.Profile == "high" {
		maxRate = lim.maxBR * 5 / 4
	}
	profile := o.Profile
	if profile == "" {
		profile = "main"
	}
	if bitRate > maxRate {
		v.add(Path{"video", "bit_rate"}, "%d kbit/s is above the %d kbit/s H.264 level %s %s allows", bitRate, maxRate, o.Level, profile)
	}
	if maxBROK && maxBR > maxRate {
		v.add(path.with("max_bit_rate"), "%d kbit/s is above the %d kbit/s H.264 level %s %s allows", maxBR, maxRate, o.Level, profile)
	}
	if refsOK && width > 0 && height > 0 {
		mbs := ((width + 15) / 16) * ((height + 15) / 16)
		if most := min(lim.maxDPBMb/mbs, 16); refs > most {
			v.add(path.with("max_reference_frames"), "%d is more than H.264 level %s allows at %dx%d; allowed: 0 to %d", refs, o.Level, width, height, most)
		}
	}
}

func (v *validator) watermarks(path Path, wms []Watermark) {
	if len(wms) > maxWatermarks {
		v.add(path, "has %d watermarks; allowed: at most %d", len(wms), maxWatermarks)
	}
	ids := map[string]bool{}
	for i, w := range wms {
		p := path.with(i)
		switch n := utf8.RuneCountInString(w.ID); {
		case n == 0:
			v.add(p.with("id"), "is required (1 to 40 characters)")
		case n > 40:
			v.add(p.with("id"), "is %d characters long; allowed: 1 to 40", n)
		case ids[w.ID]:
			v.add(p.with("id"), "%q is used by another watermark; ids must be unique", w.ID)
		}
		ids[w.ID] = true
		for _, f := range []struct {
			name, val string
		}{{"max_width", w.MaxWidth}, {"max_height", w.MaxHeight}, {"horizontal_offset", w.HorizontalOffset}, {"vertical_offset", w.VerticalOffset}} {
			if f.val == "" {
				continue
			}
			m := wmSizePattern.FindStringSubmatch(f.val)
			if m == nil {
				v.add(p.with(f.name), "%q is not allowed; allowed: a percentage like 10%% or 12.5%%, or pixels like 64px", f.val)
			} else if pct, err := strconv.ParseFloat(m[1], 64); m[1] != "" && (err != nil || pct > 100) {
				v.add(p.with(f.name), "%q is more than 100%%", f.val)
			}
		}
		v.enum(p.with("sizing_policy"), w.SizingPolicy, wmSizingPolicies)
		v.enum(p.with("horizontal_align"), w.HorizontalAlign, wmHAligns)
		v.enum(p.with("vertical_align"), w.VerticalAlign, wmVAligns)
		if w.Opacity != "" {
			if o, err := strconv.ParseFloat(w.Opacity, 64); !opacityPattern.MatchString(w.Opacity) || err != nil || o > 100 {
				v.add(p.with("opacity"), "%q is not allowed; allowed: 0 to 100 (percent)", w.Opacity)
			}
		}
		v.enum(p.with("target"), w.Target, wmTargets)
	}
}

func (v *validator) audio(a *Audio, container string, codecs []string) {
	path := Path{"audio"}
	codecOK := v.required(path.with("codec"), a.Codec, AudioCodecs)
	if codecOK && codecs != nil && !slices.Contains(codecs, a.Codec) {
		v.add(path.with("codec"), "%q cannot go in container %q; allowed: %s", a.Codec, container, strings.Join(codecs, ", "))
	}
	if v.enum(path.with("sample_rate"), a.SampleRate, sampleRates) && a.SampleRate != "" && a.SampleRate != "auto" {
		rate, _ := strconv.Atoi(a.SampleRate)
		switch {
		case a.Codec == "opus" && rate != 48000:
			v.add(path.with("sample_rate"), "%s is not allowed for opus; allowed: auto, 48000", a.SampleRate)
		case (a.Codec == "mp3" || a.Codec == "mp2") && rate > 48000:
			v.add(path.with("sample_rate"), "%s is not allowed for %s; allowed: auto, 22050, 32000, 44100, 48000", a.SampleRate, a.Codec)
		}
	}
	switch a.Codec {
	case "flac", "pcm":
		if a.BitRate != "" {
			v.add(path.with("bit_rate"), "does not apply to lossless %s; remove it", a.Codec)
		}
	case "opus":
		v.intRange(path.with("bit_rate"), a.BitRate, 6, 510, "kbit/s")
	default:
		v.intRange(path.with("bit_rate"), a.BitRate, 64, 320, "kbit/s")
	}
	v.enum(path.with("channels"), a.Channels, channelCounts)
	if v.enum(path.with("audio_packing_mode"), a.AudioPackingMode, packingModes) &&
		a.AudioPackingMode != "" && a.AudioPackingMode != "SingleTrack" && (container != "mxf" || a.Codec != "pcm") {
		v.add(path.with("audio_packing_mode"), "%q needs container mxf with codec pcm; allowed here: SingleTrack", a.AudioPackingMode)
	}
	if a.CodecOptions == nil || !codecOK {
		return
	}
	o, op := a.CodecOptions, path.with("codec_options")
	notFor := func(field, val string, codecs ...string) bool {
		if val == "" || slices.Contains(codecs, a.Codec) {
			return false
		}
		v.add(op.with(field), "does not apply to codec %s; it applies to %s", a.Codec, strings.Join(codecs, ", "))
		return true
	}
	if !notFor("profile", o.Profile, "AAC") && v.enum(op.with("profile"), o.Profile, aacProfiles) &&
		o.Profile == "HE-AACv2" && a.Channels != "" && a.Channels != "auto" && a.Channels != "2" {
		v.add(op.with("profile"), "HE-AACv2 carries stereo only; set channels to 2 or auto (channels is %q)", a.Channels)
	}
	if !notFor("bit_depth", o.BitDepth, "flac", "pcm") {
		if a.Codec == "flac" {
			v.enum(op.with("bit_depth"), o.BitDepth, []string{"16", "24"})
		} else {
			v.enum(op.with("bit_depth"), o.BitDepth, []string{"8", "16", "24", "32"})
		}
	}
	if !notFor("bit_order", o.BitOrder, "pcm") {
		v.enum(op.with("bit_order"), o.BitOrder, []string{"LittleEndian"})
	}
	if !notFor("signed", o.Signed, "pcm") {
		v.enum(op.with("signed"), o.Signed, []string{"Signed", "Unsigned"})
	}
}

func (v *validator) thumbnails(t *Thumbnails) {
	path := Path{"thumbnails"}
	v.enum(path.with("format"), t.Format, thumbnailFormats)
	v.intRange(path.with("interval"), t.Interval, 1, 99999, "seconds")
	legacy := t.Resolution != "" || t.AspectRatio != ""
	modern := t.MaxWidth != "" || t.MaxHeight != "" || t.SizingPolicy != "" || t.PaddingPolicy != ""
	if legacy && modern {
		field := "resolution"
		if t.Resolution == "" {
			field = "aspect_ratio"
		}
		v.add(path.with(field), "cannot be combined with max_width, max_height, sizing_policy or padding_policy; use one way of sizing")
	}
	if t.Resolution != "" {
		m := resolutionPat.FindStringSubmatch(t.Resolution)
		w, _ := strconv.Atoi(safeIndex(m, 1))
		h, _ := strconv.Atoi(safeIndex(m, 2))
		if m == nil || w < 32 || w > 4096 || h < 32 || h > 3072 || w%2 != 0 || h%2 != 0 {
			v.add(path.with("resolution"), "%q is not allowed; allowed: WIDTHxHEIGHT with even width 32 to 4096 and even height 32 to 3072", t.Resolution)
		}
	}
	v.enum(path.with("aspect_ratio"), t.AspectRatio, aspectRatios)
	v.evenRange(path.with("max_width"), t.MaxWidth, 32, 4096, true)
	v.evenRange(path.with("max_height"), t.MaxHeight, 32, 3072, true)
	v.enum(path.with("sizing_policy"), t.SizingPolicy, sizingPolicies)
	v.enum(path.with("padding_policy"), t.PaddingPolicy, paddingPolicies)
}

func safeIndex(m []string, i int) string {
	if i < len(m) {
		return m[i]
	}
	return ""
}
