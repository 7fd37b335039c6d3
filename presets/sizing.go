package presets

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Layout says how a source picture becomes an output frame: scale the
// source (after rotation) to ScaleW×ScaleH, then crop to CropW×CropH at
// (CropX, CropY) when Crop is true, then pad to Width×Height placing the
// picture at (PadX, PadY) when Pad is true. Width×Height is the final frame
// in pixels (always even). DAR is the display aspect ratio to record in the
// output as "W:H" (e.g. "16:9"), or "" when pixels are square.
//
// The crop fields are zero when Crop is false and the pad offsets are zero
// when Pad is false. All sizes and offsets are even, so that the steps map
// onto ffmpeg's scale, crop and pad filters without chroma misalignment on
// 4:2:0 video. When ScaleW×ScaleH equals the source size the scale step is
// an identity and may be skipped.
type Layout struct {
	ScaleW, ScaleH             int
	Crop                       bool
	CropW, CropH, CropX, CropY int
	Pad                        bool
	PadX, PadY                 int
	Width, Height              int
	DAR                        string
}

// Elastic Transcoder's sizing policies.
const (
	sizingFit          = "Fit"
	sizingFill         = "Fill"
	sizingStretch      = "Stretch"
	sizingKeep         = "Keep"
	sizingShrinkToFit  = "ShrinkToFit"
	sizingShrinkToFill = "ShrinkToFill"
)

// "auto" (or absent) MaxWidth and MaxHeight, for video and thumbnails alike.
const (
	autoMaxWidth  = 1920
	autoMaxHeight = 1080
)

// VideoLayout computes the output frame for a source whose displayed picture is
// srcW×srcH pixels (already rotated, and with non-square source pixels already
// expanded: callers pass display dimensions) under a preset's Video settings.
//
// The modern fields (MaxWidth, MaxHeight, SizingPolicy, PaddingPolicy,
// DisplayAspectRatio) win whenever any of them is set; absent ones take
// Elastic Transcoder's defaults (1920×1080, ShrinkToFit, NoPad, square
// pixels). The legacy Resolution and AspectRatio are used only when no
// modern field is set: Elastic Transcoder's own Generic 1080p system preset
// carries AspectRatio "16:9" beside MaxWidth and MaxHeight, and there it
// adds nothing (ET ignored it), so it must not letterbox anything. A Video
// with no sizing field at all gets the modern defaults.
//
// With DisplayAspectRatio set, output pixels are not square and the sizing
// is done in display space; see fitPicture for the formula.
func VideoLayout(v *Video, srcW, srcH int) (Layout, error) {
	if v == nil {
		return Layout{}, errors.New("presets: no video settings to size")
	}
	if err := checkSource(srcW, srcH); err != nil {
		return Layout{}, err
	}
	modern := v.MaxWidth != "" || v.MaxHeight != "" || v.SizingPolicy != "" ||
		v.PaddingPolicy != "" || v.DisplayAspectRatio != ""
	if !modern && (v.Resolution != "" || v.AspectRatio != "") {
		return legacyLayout("video", v.Resolution, v.AspectRatio, srcW, srcH)
	}
	return modernLayout("video", v.MaxWidth, v.MaxHeight, v.SizingPolicy, v.PaddingPolicy, v.DisplayAspectRatio, srcW, srcH)
}

// ThumbnailLayout does the same for thumbnails.
//
// Thumbnails have no DisplayAspectRatio, so under the modern fields their
// pixels are square. The legacy Resolution and AspectRatio pair is handled
// as for video (and then DAR may be set: ffmpeg's png and mjpeg encoders
// record a pixel aspect, in pHYs and the JFIF density).
func ThumbnailLayout(t *Thumbnails, srcW, srcH int) (Layout, error) {
	if t == nil {
		return Layout{}, errors.New("presets: no thumbnail settings to size")
	}
	if err := checkSource(srcW, srcH); err != nil {
		return Layout{}, err
	}
	modern := t.MaxWidth != "" || t.MaxHeight != "" || t.SizingPolicy != "" || t.PaddingPolicy != ""
	if !modern && (t.Resolution != "" || t.AspectRatio != "") {
		return legacyLayout("thumbnails", t.Resolution, t.AspectRatio, srcW, srcH)
	}
	return modernLayout("thumbnails", t.MaxWidth, t.MaxHeight, t.SizingPolicy, t.PaddingPolicy, "", srcW, srcH)
}

func checkSource(srcW, srcH int) error {
	if srcW <= 0 || srcH <= 0 {
		return fmt.Errorf("presets: cannot size a %dx%d source picture: width and height must be positive", srcW, srcH)
	}
	return nil
}

// modernLayout sizes with MaxWidth, MaxHeight, SizingPolicy, PaddingPolicy
// and (video only) DisplayAspectRatio.
func modernLayout(section, maxW, maxH, policy, padding, dar string, srcW, srcH int) (Layout, error) {
	boxW, err := parseBoxSide(section, "max_width", maxW, autoMaxWidth)
	if err != nil {
		return Layout{}, err
	}
	boxH, err := parseBoxSide(section, "max_height", maxH, autoMaxHeight)
	if err != nil {
		return Layout{}, err
	}
	switch policy {
	case "":
		policy = sizingShrinkToFit
	case sizingFit, sizingFill, sizingStretch, sizingKeep, sizingShrinkToFit, sizingShrinkToFill:
	default:
		return Layout{}, sizingFieldError(section, "sizing_policy", policy, "not a sizing policy (Fit, Fill, Stretch, Keep, ShrinkToFit or ShrinkToFill)")
	}
	var pad bool
	switch padding {
	case "", "NoPad":
	case "Pad":
		pad = true
	default:
		return Layout{}, sizingFieldError(section, "padding_policy", padding, "not a padding policy (Pad or NoPad)")
	}
	aspect, err := parseAspect(section, "display_aspect_ratio", dar)
	if err != nil {
		return Layout{}, err
	}
	return fitPicture(boxW, boxH, pixelAspect(aspect, boxW, boxH), policy, pad, srcW, srcH), nil
}

// legacyLayout sizes with the legacy Resolution and AspectRatio: the frame
// is Resolution (auto or absent: the source's own size), displayed at
// AspectRatio (auto or absent: the frame's own shape, square pixels). ET
// documents that it rescales to the Resolution, up or down, and pillarboxes
// or letterboxes to keep the picture's aspect, which is Fit plus Pad.
func legacyLayout(section, resolution, aspectRatio string, srcW, srcH int) (Layout, error) {
	frameW, frameH, err := parseResolution(section, resolution)
	if err != nil {
		return Layout{}, err
	}
	if frameW == 0 {
		// Encoders need even sizes; an odd source loses its last row or
		// column (the nearest even number, ties going down).
		frameW, frameH = roundEven(big.NewRat(int64(srcW), 1)), roundEven(big.NewRat(int64(srcH), 1))
	}
	aspect, err := parseAspect(section, "aspect_ratio", aspectRatio)
	if err != nil {
		return Layout{}, err
	}
	return fitPicture(frameW, frameH, pixelAspect(aspect, frameW, frameH), sizingFit, true, srcW, srcH), nil
}

// pixelAspect returns the width-to-height ratio of one output pixel when a
// boxW×boxH frame is displayed at aspect (nil: square pixels):
//
//	PAR = aspect ÷ (boxW/boxH) = (aspectW·boxH) / (aspectH·boxW)
//
// e.g. 16:9 on 720×480 gives (16·480)/(9·720) = 32/27.
func pixelAspect(aspect *big.Rat, boxW, boxH int) *big.Rat {
	if aspect == nil {
		return big.NewRat(1, 1)
	}
	return new(big.Rat).Mul(aspect, big.NewRat(int64(boxH), int64(boxW)))
}

// fitPicture places a srcW×srcH (display) source in a boxW×boxH frame of
// pixels whose aspect is par, under policy, padding to the box when pad.
//
// Everything is computed in output pixels with exact rationals, so that
// ties and exact fits are decided exactly. The source measured in output
// pixels is
//
//	(srcW ÷ PAR) × srcH
//
// i.e. its height in lines is unchanged and its width is resampled so that
// it keeps its display aspect on screen (anamorphic formats squeeze
// horizontally: a 16:9 NTSC DVD is 480 lines whose 720 pixels are wide).
// The policies then pick one scale factor f for both dimensions (Stretch
// excepted), with rw = boxW/(srcW÷PAR) and rh = boxH/srcH:
//
//	Fit          f = min(rw, rh)
//	ShrinkToFit  f = min(1, rw, rh)
//	Fill         f = max(rw, rh), then center-crop to the box
//	ShrinkToFill f = min(1, max(rw, rh)), then center-crop what exceeds the box
//	Keep         f = 1, then center-crop what exceeds the box
//
// The side that f matches to the box comes out exactly as the box side; the
// other is rounded to even (roundEven). Because the box is even, rounding
// never takes a Fit picture past the box nor a Fill picture inside it.
func fitPicture(boxW, boxH int, par *big.Rat, policy string, pad bool, srcW, srcH int) Layout {
	sw := new(big.Rat).Quo(big.NewRat(int64(srcW), 1), par)
	sh := big.NewRat(int64(srcH), 1)

	var l Layout
	if policy == sizingStretch {
		l.ScaleW, l.ScaleH = boxW, boxH
	} else {
		f := scaleFactor(policy, boxW, boxH, sw, sh)
		l.ScaleW = roundEven(new(big.Rat).Mul(sw, f))
		l.ScaleH = roundEven(new(big.Rat).Mul(sh, f))
	}

	// Crop what exceeds the box, keeping the centre.
	picW, picH := min(l.ScaleW, boxW), min(l.ScaleH, boxH)
	if picW < l.ScaleW || picH < l.ScaleH {
		l.Crop = true
		l.CropW, l.CropH = picW, picH
		l.CropX, l.CropY = evenHalf(l.ScaleW-picW), evenHalf(l.ScaleH-picH)
	}

	l.Width, l.Height = picW, picH
	// Fill and Stretch always reach the box, so Pad never applies to them.
	if pad && (picW < boxW || picH < boxH) {
		l.Pad = true
		l.Width, l.Height = boxW, boxH
		l.PadX, l.PadY = evenHalf(boxW-picW), evenHalf(boxH-picH)
	}
	l.DAR = frameDAR(par, l.Width, l.Height)
	return l
}

// scaleFactor returns f for the policies that keep the aspect; see
// fitPicture.
func scaleFactor(policy string, boxW, boxH int, sw, sh *big.Rat) *big.Rat {
	one := big.NewRat(1, 1)
	rw := new(big.Rat).Quo(big.NewRat(int64(boxW), 1), sw)
	rh := new(big.Rat).Quo(big.NewRat(int64(boxH), 1), sh)
	switch policy {
	case sizingFit:
		return minRat(rw, rh)
	case sizingShrinkToFit:
		return minRat(one, minRat(rw, rh))
	case sizingFill:
		return maxRat(rw, rh)
	case sizingShrinkToFill:
		return minRat(one, maxRat(rw, rh))
	default: // Keep
		return one
	}
}

func minRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

func maxRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// roundEven returns the even integer nearest to x (x > 0), and at least 2.
// Ties (x odd) go down: the exact size is then a whole pixel, and giving up
// that pixel never pushes the picture past a limit it was computed to
// respect, whereas going up would (a 641-wide source kept by ShrinkToFit
// becomes 640, not 642). The even number nearest x is 2·⌈(x−1)/2⌉, which
// for x = n/d is 2·⌊(n+d−1)/(2d)⌋.
func roundEven(x *big.Rat) int {
	n, d := x.Num(), x.Denom()
	q := new(big.Int).Add(n, d)
	q.Sub(q, big.NewInt(1))
	q.Div(q, new(big.Int).Lsh(d, 1)) // Euclidean: the floor, as d > 0
	return max(2, 2*int(q.Int64()))
}

// evenHalf centres something in a gap of gap pixels: half the gap, rounded
// down to even so that offsets stay on 4:2:0 chroma sites. The far side may
// get 2 pixels more than the near one.
func evenHalf(gap int) int { return (gap / 2) &^ 1 }

// frameDAR is the display aspect of a width×height frame of par-shaped
// pixels, reduced ("16:9"), or "" for square pixels. When the frame is the
// whole box this is the preset's DisplayAspectRatio (or legacy
// AspectRatio); a smaller frame (NoPad, or ShrinkToFit of a small source)
// keeps the pixel shape, so its display aspect is its own: recording the
// preset's ratio there would distort the picture.
func frameDAR(par *big.Rat, width, height int) string {
	if par.Cmp(big.NewRat(1, 1)) == 0 {
		return ""
	}
	w := new(big.Int).Mul(big.NewInt(int64(width)), par.Num())
	h := new(big.Int).Mul(big.NewInt(int64(height)), par.Denom())
	r := new(big.Rat).SetFrac(w, h)
	return r.Num().String() + ":" + r.Denom().String()
}

// parseBoxSide reads MaxWidth or MaxHeight: "auto" or absent gives def.
// Validation only lets even numbers through; an odd one (from an
// unvalidated preset) is taken down to even so the frame stays encodable.
func parseBoxSide(section, field, s string, def int) (int, error) {
	if s == "" || s == "auto" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, sizingFieldError(section, field, s, "not a whole number of pixels or auto")
	}
	if n < 2 {
		return 0, sizingFieldError(section, field, s, "must be at least 2 pixels")
	}
	return n &^ 1, nil
}

// parseAspect reads an aspect ratio "W:H"; "auto" or absent gives nil.
func parseAspect(section, field, s string) (*big.Rat, error) {
	if s == "" || s == "auto" {
		return nil, nil
	}
	w, h, ok := parsePair(s, ":")
	if !ok {
		return nil, sizingFieldError(section, field, s, "not an aspect ratio like 16:9 or auto")
	}
	return big.NewRat(int64(w), int64(h)), nil
}

// parseResolution reads a legacy Resolution "WxH"; "auto" or absent gives
// 0, 0 (the source's size). Odd sides are taken down to even, as for
// MaxWidth.
func parseResolution(section, s string) (w, h int, err error) {
	if s == "" || s == "auto" {
		return 0, 0, nil
	}
	w, h, ok := parsePair(s, "x")
	if !ok || w < 2 || h < 2 {
		return 0, 0, sizingFieldError(section, "resolution", s, "not a size like 1280x720 or auto")
	}
	return w &^ 1, h &^ 1, nil
}

// parsePair reads two positive integers separated by sep.
func parsePair(s, sep string) (a, b int, ok bool) {
	as, bs, found := strings.Cut(s, sep)
	if !found {
		return 0, 0, false
	}
	a, errA := strconv.Atoi(as)
	b, errB := strconv.Atoi(bs)
	if errA != nil || errB != nil || a <= 0 || b <= 0 {
		return 0, 0, false
	}
	return a, b, true
}

func sizingFieldError(section, field, value, msg string) error {
	return fmt.Errorf("presets: %s.%s %q: %s", section, field, value, msg)
}
