package presets

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// Expected layouts are built from the scale size with options, in the
// order the filters run: want(854, 480, crop(640, 480, 106, 0)).
func want(scaleW, scaleH int, opts ...func(*Layout)) Layout {
	l := Layout{ScaleW: scaleW, ScaleH: scaleH, Width: scaleW, Height: scaleH}
	for _, o := range opts {
		o(&l)
	}
	return l
}

func crop(w, h, x, y int) func(*Layout) {
	return func(l *Layout) {
		l.Crop, l.CropW, l.CropH, l.CropX, l.CropY = true, w, h, x, y
		l.Width, l.Height = w, h
	}
}

func pad(w, h, x, y int) func(*Layout) {
	return func(l *Layout) {
		l.Pad, l.PadX, l.PadY = true, x, y
		l.Width, l.Height = w, h
	}
}

func dar(s string) func(*Layout) { return func(l *Layout) { l.DAR = s } }

// vid is a modern-sizing Video.
func vid(maxW, maxH, sizing, padding string) *Video {
	return &Video{MaxWidth: maxW, MaxHeight: maxH, SizingPolicy: sizing, PaddingPolicy: padding}
}

func withDAR(v *Video, d string) *Video { v.DisplayAspectRatio = d; return v }

// Every expected value below was worked out by hand from the rules in
// fitPicture's comment; the arithmetic is in the comments. "ne(x)" is the
// even number nearest x, ties down.
func TestVideoLayout(t *testing.T) {
	tests := []struct {
		name       string
		v          *Video
		srcW, srcH int
		want       Layout
	}{
		// 1920×1080 into 1280×720, the same shape: every policy lands on
		// 1280×720 except Keep, which crops the centre.
		{"16:9 into 720p Fit", vid("1280", "720", "Fit", ""), 1920, 1080, want(1280, 720)},
		{"16:9 into 720p Fill", vid("1280", "720", "Fill", ""), 1920, 1080, want(1280, 720)},
		{"16:9 into 720p Stretch", vid("1280", "720", "Stretch", ""), 1920, 1080, want(1280, 720)},
		// (1920-1280)/2 = 320, (1080-720)/2 = 180.
		{"16:9 into 720p Keep", vid("1280", "720", "Keep", ""), 1920, 1080, want(1920, 1080, crop(1280, 720, 320, 180))},
		{"16:9 into 720p ShrinkToFit", vid("1280", "720", "ShrinkToFit", ""), 1920, 1080, want(1280, 720)},
		{"16:9 into 720p ShrinkToFill", vid("1280", "720", "ShrinkToFill", ""), 1920, 1080, want(1280, 720)},
		{"16:9 into 720p ShrinkToFit Pad adds nothing", vid("1280", "720", "ShrinkToFit", "Pad"), 1920, 1080, want(1280, 720)},

		// 1920×1080 into a 4:3 box, 640×480. rw = 1/3, rh = 4/9.
		// Fit: f = 1/3 → 640×360; Pad letterboxes (480-360)/2 = 60.
		{"16:9 into 4:3 Fit", vid("640", "480", "Fit", "NoPad"), 1920, 1080, want(640, 360)},
		{"16:9 into 4:3 Fit Pad", vid("640", "480", "Fit", "Pad"), 1920, 1080, want(640, 360, pad(640, 480, 0, 60))},
		// Fill: f = 4/9 → 1920·4/9 = 853.3 → 854 × 480; crop x = 214/2 = 107 → 106.
		{"16:9 into 4:3 Fill", vid("640", "480", "Fill", ""), 1920, 1080, want(854, 480, crop(640, 480, 106, 0))},
		{"16:9 into 4:3 Fill Pad changes nothing", vid("640", "480", "Fill", "Pad"), 1920, 1080, want(854, 480, crop(640, 480, 106, 0))},
		{"16:9 into 4:3 Stretch", vid("640", "480", "Stretch", ""), 1920, 1080, want(640, 480)},
		{"16:9 into 4:3 Stretch Pad changes nothing", vid("640", "480", "Stretch", "Pad"), 1920, 1080, want(640, 480)},
		// Keep: (1920-640)/2 = 640, (1080-480)/2 = 300.
		{"16:9 into 4:3 Keep", vid("640", "480", "Keep", ""), 1920, 1080, want(1920, 1080, crop(640, 480, 640, 300))},
		{"16:9 into 4:3 ShrinkToFit", vid("640", "480", "ShrinkToFit", "NoPad"), 1920, 1080, want(640, 360)},
		{"16:9 into 4:3 ShrinkToFit Pad", vid("640", "480", "ShrinkToFit", "Pad"), 1920, 1080, want(640, 360, pad(640, 480, 0, 60))},
		// ShrinkToFill: f = min(1, 4/9) = 4/9, as Fill.
		{"16:9 into 4:3 ShrinkToFill", vid("640", "480", "ShrinkToFill", ""), 1920, 1080, want(854, 480, crop(640, 480, 106, 0))},
		{"16:9 into 4:3 ShrinkToFill Pad", vid("640", "480", "ShrinkToFill", "Pad"), 1920, 1080, want(854, 480, crop(640, 480, 106, 0))},

		// A smaller 640×360 source into 1280×720: Fit, Fill and Stretch
		// upscale (f = 2); Keep and the Shrink policies keep 640×360, and
		// Pad centres it: (1280-640)/2 = 320, (720-360)/2 = 180.
		{"small Fit upscales", vid("1280", "720", "Fit", ""), 640, 360, want(1280, 720)},
		{"small Fill upscales", vid("1280", "720", "Fill", ""), 640, 360, want(1280, 720)},
		{"small Stretch upscales", vid("1280", "720", "Stretch", ""), 640, 360, want(1280, 720)},
		{"small Keep", vid("1280", "720", "Keep", "NoPad"), 640, 360, want(640, 360)},
		{"small Keep Pad", vid("1280", "720", "Keep", "Pad"), 640, 360, want(640, 360, pad(1280, 720, 320, 180))},
		{"small ShrinkToFit", vid("1280", "720", "ShrinkToFit", ""), 640, 360, want(640, 360)},
		{"small ShrinkToFit Pad", vid("1280", "720", "ShrinkToFit", "Pad"), 640, 360, want(640, 360, pad(1280, 720, 320, 180))},
		{"small ShrinkToFill", vid("1280", "720", "ShrinkToFill", "NoPad"), 640, 360, want(640, 360)},
		{"small ShrinkToFill Pad", vid("1280", "720", "ShrinkToFill", "Pad"), 640, 360, want(640, 360, pad(1280, 720, 320, 180))},

		// Portrait 1080×1920 into 1280×720: rw = 32/27, rh = 3/8.
		// Fit: f = 3/8 → 1080·3/8 = 405 exactly, an odd tie → 404 × 720;
		// Pad: (1280-404)/2 = 438.
		{"portrait Fit", vid("1280", "720", "Fit", ""), 1080, 1920, want(404, 720)},
		{"portrait Fit Pad", vid("1280", "720", "Fit", "Pad"), 1080, 1920, want(404, 720, pad(1280, 720, 438, 0))},
		// Fill: f = 32/27 → 1280 × 1920·32/27 = 2275.6 → 2276; y = 1556/2 = 778.
		{"portrait Fill", vid("1280", "720", "Fill", ""), 1080, 1920, want(1280, 2276, crop(1280, 720, 0, 778))},
		{"portrait Stretch", vid("1280", "720", "Stretch", ""), 1080, 1920, want(1280, 720)},
		// Keep: crop height only, y = (1920-720)/2 = 600; Pad x = 200/2 = 100.
		{"portrait Keep", vid("1280", "720", "Keep", ""), 1080, 1920, want(1080, 1920, crop(1080, 720, 0, 600))},
		{"portrait Keep Pad", vid("1280", "720", "Keep", "Pad"), 1080, 1920, want(1080, 1920, crop(1080, 720, 0, 600), pad(1280, 720, 100, 0))},
		{"portrait ShrinkToFit", vid("1280", "720", "ShrinkToFit", ""), 1080, 1920, want(404, 720)},
		{"portrait ShrinkToFit Pad", vid("1280", "720", "ShrinkToFit", "Pad"), 1080, 1920, want(404, 720, pad(1280, 720, 438, 0))},
		// ShrinkToFill: f = min(1, 32/27) = 1: narrower than the box, so
		// not scaled, only cropped in height.
		{"portrait ShrinkToFill", vid("1280", "720", "ShrinkToFill", ""), 1080, 1920, want(1080, 1920, crop(1080, 720, 0, 600))},
		{"portrait ShrinkToFill Pad", vid("1280", "720", "ShrinkToFill", "Pad"), 1080, 1920, want(1080, 1920, crop(1080, 720, 0, 600), pad(1280, 720, 100, 0))},

		// 4:3 SD 640×480 into 1280×720: rw = 2, rh = 3/2.
		// Fit: f = 3/2 → 960×720; Pad x = 320/2 = 160.
		{"SD Fit", vid("1280", "720", "Fit", ""), 640, 480, want(960, 720)},
		{"SD Fit Pad", vid("1280", "720", "Fit", "Pad"), 640, 480, want(960, 720, pad(1280, 720, 160, 0))},
		// Fill: f = 2 → 1280×960; y = 240/2 = 120.
		{"SD Fill", vid("1280", "720", "Fill", ""), 640, 480, want(1280, 960, crop(1280, 720, 0, 120))},
		{"SD Stretch", vid("1280", "720", "Stretch", ""), 640, 480, want(1280, 720)},
		{"SD Keep Pad", vid("1280", "720", "Keep", "Pad"), 640, 480, want(640, 480, pad(1280, 720, 320, 120))},
		{"SD ShrinkToFit", vid("1280", "720", "ShrinkToFit", ""), 640, 480, want(640, 480)},
		{"SD ShrinkToFill Pad", vid("1280", "720", "ShrinkToFill", "Pad"), 640, 480, want(640, 480, pad(1280, 720, 320, 120))},
		// 720×540 into 640×480, the same shape: f = 8/9 → 640×480.
		{"SD 720x540 ShrinkToFit", vid("640", "480", "ShrinkToFit", ""), 720, 540, want(640, 480)},
		{"SD 720x540 Fill", vid("640", "480", "Fill", ""), 720, 540, want(640, 480)},
		// Keep: (720-640)/2 = 40, (540-480)/2 = 30.
		{"SD 720x540 Keep", vid("640", "480", "Keep", ""), 720, 540, want(720, 540, crop(640, 480, 40, 30))},

		// Odd 641×361 into 1280×720: rw = 1280/641 = 1.99688,
		// rh = 720/361 = 1.99446.
		// Fit: f = rh → 720 × 641·720/361 = 1278.45 → 1278; Pad x = 2/2 = 1 → 0.
		{"odd Fit", vid("1280", "720", "Fit", ""), 641, 361, want(1278, 720)},
		{"odd Fit Pad", vid("1280", "720", "Fit", "Pad"), 641, 361, want(1278, 720, pad(1280, 720, 0, 0))},
		// Fill: f = rw → 1280 × 361·1280/641 = 720.87 → 720: nothing to crop.
		{"odd Fill", vid("1280", "720", "Fill", ""), 641, 361, want(1280, 720)},
		{"odd Stretch", vid("1280", "720", "Stretch", ""), 641, 361, want(1280, 720)},
		// f = 1: 641 and 361 are odd ties → 640×360.
		{"odd Keep", vid("1280", "720", "Keep", ""), 641, 361, want(640, 360)},
		{"odd ShrinkToFit", vid("1280", "720", "ShrinkToFit", ""), 641, 361, want(640, 360)},
		{"odd ShrinkToFit Pad", vid("1280", "720", "ShrinkToFit", "Pad"), 641, 361, want(640, 360, pad(1280, 720, 320, 180))},
		{"odd ShrinkToFill", vid("1280", "720", "ShrinkToFill", ""), 641, 361, want(640, 360)},
		// Into 640×480: f = min(640/641, 480/361) = 640/641 →
		// 640 × 361·640/641 = 360.44 → 360.
		{"odd Fit 4:3", vid("640", "480", "Fit", ""), 641, 361, want(640, 360)},
		// 1001×563 fits inside 1280×720, so ShrinkToFit only evens it.
		{"odd 1001x563 ShrinkToFit", vid("1280", "720", "ShrinkToFit", ""), 1001, 563, want(1000, 562)},
		// Fit: rw = 1.27872 < rh = 1.27886 → 1280 × 563·1280/1001 = 719.92 → 720.
		{"odd 1001x563 Fit", vid("1280", "720", "Fit", ""), 1001, 563, want(1280, 720)},
		// Fill: f = rh → 720 × 1001·720/563 = 1280.14 → 1280.
		{"odd 1001x563 Fill", vid("1280", "720", "Fill", ""), 1001, 563, want(1280, 720)},
		// Keep into 640×480: 1000×562, x = 360/2 = 180, y = 82/2 = 41 → 40.
		{"odd 1001x563 Keep 4:3", vid("640", "480", "Keep", ""), 1001, 563, want(1000, 562, crop(640, 480, 180, 40))},
		// ShrinkToFill into 640×480: f = max(640/1001, 480/563) = 480/563 →
		// 1001·480/563 = 853.4 → 854 × 480; x = 214/2 = 107 → 106.
		{"odd 1001x563 ShrinkToFill 4:3", vid("640", "480", "ShrinkToFill", ""), 1001, 563, want(854, 480, crop(640, 480, 106, 0))},

		// Generic 480p 16:9: rw = 854/1920 = 0.44479 > rh = 4/9 →
		// 1920·4/9 = 853.3 → 854 × 480.
		{"480p 16:9 Fit", vid("854", "480", "Fit", ""), 1920, 1080, want(854, 480)},

		// auto and absent MaxWidth/MaxHeight mean 1920×1080.
		{"auto ShrinkToFit 4K", vid("auto", "", "ShrinkToFit", ""), 3840, 2160, want(1920, 1080)},
		{"auto Fit upscales", vid("auto", "auto", "Fit", ""), 1280, 720, want(1920, 1080)},
		// Box 1920×720: f = min(1, 1, 2/3) → 1280×720.
		{"auto width, 720 high", vid("auto", "720", "ShrinkToFit", ""), 1920, 1080, want(1280, 720)},
		{"absent policy is ShrinkToFit", vid("1280", "720", "", ""), 640, 360, want(640, 360)},
		{"absent padding is NoPad", vid("1280", "720", "Fit", ""), 640, 480, want(960, 720)},
		{"no sizing at all: modern defaults, 4K", &Video{}, 3840, 2160, want(1920, 1080)},
		{"no sizing at all: modern defaults, small", &Video{}, 640, 360, want(640, 360)},
		{"DAR auto is square pixels", withDAR(vid("1280", "720", "Fit", ""), "auto"), 1920, 1080, want(1280, 720)},

		// DisplayAspectRatio. NTSC 720×480 at 16:9:
		// PAR = (16·480)/(9·720) = 32/27. A 1920×1080 source is
		// 1920·27/32 = 1620 × 1080 output pixels; ShrinkToFill:
		// f = min(1, max(720/1620, 480/1080)) = 4/9 → 720×480, no bars.
		{"NTSC 16:9 from HD", withDAR(vid("720", "480", "ShrinkToFill", "Pad"), "16:9"), 1920, 1080, want(720, 480, dar("16:9"))},
		// A 640×480 source is 640·27/32 = 540 × 480: f = min(1, max(4/3, 1))
		// = 1 → 540×480, pillarboxed (720-540)/2 = 90.
		{"NTSC 16:9 from 4:3", withDAR(vid("720", "480", "ShrinkToFill", "Pad"), "16:9"), 640, 480, want(540, 480, pad(720, 480, 90, 0), dar("16:9"))},
		// Without Pad the 540×480 frame of 32:27 pixels displays at
		// 540·32 : 480·27 = 17280 : 12960 = 4:3, which is what it records.
		{"NTSC 16:9 from 4:3 NoPad", withDAR(vid("720", "480", "ShrinkToFill", "NoPad"), "16:9"), 640, 480, want(540, 480, dar("4:3"))},
		// PAL 720×576 at 16:9: PAR = (16·576)/(9·720) = 64/45; 1920×1080 is
		// 1920·45/64 = 1350 × 1080; f = 576/1080 = 720/1350 = 8/15 → 720×576.
		{"PAL 16:9 from HD", withDAR(vid("720", "576", "ShrinkToFill", "Pad"), "16:9"), 1920, 1080, want(720, 576, dar("16:9"))},
		// NTSC at 4:3: PAR = (4·480)/(3·720) = 8/9; 1920×1080 is 2160 × 1080;
		// Fit: f = min(720/2160, 480/1080) = 1/3 → 720×360, letterboxed 60.
		{"NTSC 4:3 from HD letterboxes", withDAR(vid("720", "480", "Fit", "Pad"), "4:3"), 1920, 1080, want(720, 360, pad(720, 480, 0, 60), dar("4:3"))},
		// 16:9 on 1280×720 is square pixels: nothing to record.
		{"DAR equal to the box is square", withDAR(vid("1280", "720", "Fit", ""), "16:9"), 1920, 1080, want(1280, 720)},
		// Stretch ignores the source's shape; the frame still displays 16:9.
		{"NTSC 16:9 Stretch", withDAR(vid("720", "480", "Stretch", ""), "16:9"), 640, 480, want(720, 480, dar("16:9"))},
		// Keep: no scaling on screen, so 1920×1080 is 1620×1080 pixels,
		// cropped to 720×480 at (900/2, 600/2) = (450, 300).
		{"NTSC 16:9 Keep", withDAR(vid("720", "480", "Keep", ""), "16:9"), 1920, 1080, want(1620, 1080, crop(720, 480, 450, 300), dar("16:9"))},

		// Legacy Resolution/AspectRatio: Fit inside the frame, then bars.
		// 640x480 at 4:3 is square: 1920×1080 → 640×360, letterboxed 60.
		{"legacy 640x480 4:3", &Video{Resolution: "640x480", AspectRatio: "4:3"}, 1920, 1080, want(640, 360, pad(640, 480, 0, 60))},
		{"legacy 640x480 auto", &Video{Resolution: "640x480", AspectRatio: "auto"}, 1920, 1080, want(640, 360, pad(640, 480, 0, 60))},
		{"legacy 640x480 absent aspect", &Video{Resolution: "640x480"}, 1920, 1080, want(640, 360, pad(640, 480, 0, 60))},
		// 640x480 at 16:9: PAR = (16·480)/(9·640) = 4/3; 1920×1080 is
		// 1440 × 1080; f = 640/1440 = 480/1080 = 4/9 → 640×480, no bars.
		{"legacy 640x480 16:9", &Video{Resolution: "640x480", AspectRatio: "16:9"}, 1920, 1080, want(640, 480, dar("16:9"))},
		// 1280x720 at 4:3: PAR = (4·720)/(3·1280) = 3/4; 1280×720 is
		// 1706.7 × 720; f = min(1280/1706.7, 1) = 3/4 → 1280×540, letterboxed 90.
		{"legacy 1280x720 4:3 letterboxes 16:9", &Video{Resolution: "1280x720", AspectRatio: "4:3"}, 1280, 720, want(1280, 540, pad(1280, 720, 0, 90), dar("4:3"))},
		// Legacy rescales up as well as down.
		{"legacy upscales", &Video{Resolution: "640x360"}, 320, 180, want(640, 360)},
		// auto: the frame is the source, evened.
		{"legacy auto", &Video{Resolution: "auto"}, 1920, 1080, want(1920, 1080)},
		{"legacy auto aspect only", &Video{AspectRatio: "auto"}, 1280, 720, want(1280, 720)},
		// 641×361 → frame 640×360; f = min(640/641, 360/361) = 360/361 →
		// 641·360/361 = 639.2 → 640 × 360.
		{"legacy auto odd", &Video{Resolution: "auto", AspectRatio: "auto"}, 641, 361, want(640, 360)},
		// auto at 16:9 on a 640×480 source: PAR = (16·480)/(9·640) = 4/3;
		// the source is 480×480 output pixels, f = 1, pillarboxed 160/2 = 80.
		{"legacy auto 16:9 from 4:3", &Video{Resolution: "auto", AspectRatio: "16:9"}, 640, 480, want(480, 480, pad(640, 480, 80, 0), dar("16:9"))},
		// Generic 1080p carries AspectRatio 16:9 beside the modern fields:
		// ignored, so a 4:3 source is not pillarboxed.
		{"legacy ignored beside modern (Generic 1080p)", &Video{
			MaxWidth: "1920", MaxHeight: "1080", SizingPolicy: "ShrinkToFit", PaddingPolicy: "NoPad",
			DisplayAspectRatio: "auto", AspectRatio: "16:9",
		}, 640, 480, want(640, 480)},
		{"legacy Resolution ignored beside modern", &Video{Resolution: "640x480", MaxWidth: "1280", MaxHeight: "720", SizingPolicy: "Fit"}, 1920, 1080, want(1280, 720)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VideoLayout(tt.v, tt.srcW, tt.srcH)
			if err != nil {
				t.Fatalf("VideoLayout(%dx%d): %v", tt.srcW, tt.srcH, err)
			}
			if got != tt.want {
				t.Errorf("VideoLayout(%dx%d)\n got %+v\nwant %+v", tt.srcW, tt.srcH, got, tt.want)
			}
		})
	}
}

func TestThumbnailLayout(t *testing.T) {
	thumb := func(maxW, maxH, sizing, padding string) *Thumbnails {
		return &Thumbnails{MaxWidth: maxW, MaxHeight: maxH, SizingPolicy: sizing, PaddingPolicy: padding}
	}
	tests := []struct {
		name       string
		t          *Thumbnails
		srcW, srcH int
		want       Layout
	}{
		// f = min(1, 192/1920, 108/1080) = 1/10.
		{"192x108 from HD", thumb("192", "108", "ShrinkToFit", "NoPad"), 1920, 1080, want(192, 108)},
		// f = min(1, 192/1080, 108/1920) = 108/1920 → 1080·108/1920 = 60.75 → 60.
		{"192x108 from portrait", thumb("192", "108", "ShrinkToFit", "NoPad"), 1080, 1920, want(60, 108)},
		// Generic 1080p's 192×144 box with Pad: 192×108, letterboxed 36/2 = 18.
		{"192x144 Pad from HD", thumb("192", "144", "ShrinkToFit", "Pad"), 1920, 1080, want(192, 108, pad(192, 144, 0, 18))},
		{"auto box", thumb("auto", "auto", "ShrinkToFit", ""), 3840, 2160, want(1920, 1080)},
		{"absent box and policy", &Thumbnails{Format: "png", Interval: "60"}, 3840, 2160, want(1920, 1080)},
		// Fill 100×100: f = 100/1080 → 1920·100/1080 = 177.8 → 178 × 100;
		// x = 78/2 = 39 → 38.
		{"square Fill", thumb("100", "100", "Fill", ""), 1920, 1080, want(178, 100, crop(100, 100, 38, 0))},
		{"small source ShrinkToFit", thumb("192", "108", "ShrinkToFit", ""), 160, 90, want(160, 90)},
		{"small source Fit", thumb("192", "108", "Fit", ""), 160, 90, want(192, 108)},
		// Legacy 160x120 at 4:3: 160×90, letterboxed 30/2 = 15 → 14.
		{"legacy 160x120 4:3", &Thumbnails{Resolution: "160x120", AspectRatio: "4:3"}, 1920, 1080, want(160, 90, pad(160, 120, 0, 14))},
		// Legacy 160x120 at 16:9: PAR = (16·120)/(9·160) = 4/3; 1920×1080
		// is 1440 × 1080; f = 1/9 → 160×120.
		{"legacy 160x120 16:9", &Thumbnails{Resolution: "160x120", AspectRatio: "16:9"}, 1920, 1080, want(160, 120, dar("16:9"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ThumbnailLayout(tt.t, tt.srcW, tt.srcH)
			if err != nil {
				t.Fatalf("ThumbnailLayout(%dx%d): %v", tt.srcW, tt.srcH, err)
			}
			if got != tt.want {
				t.Errorf("ThumbnailLayout(%dx%d)\n got %+v\nwant %+v", tt.srcW, tt.srcH, got, tt.want)
			}
		})
	}
}

func TestLayoutErrors(t *testing.T) {
	tests := []struct {
		name       string
		v          *Video
		t          *Thumbnails
		srcW, srcH int
		mention    []string // substrings the error must contain
	}{
		{name: "zero width", v: vid("1280", "720", "Fit", ""), srcW: 0, srcH: 1080, mention: []string{"0x1080"}},
		{name: "negative height", v: vid("1280", "720", "Fit", ""), srcW: 1920, srcH: -2, mention: []string{"1920x-2"}},
		{name: "thumbnail zero source", t: &Thumbnails{}, srcW: 0, srcH: 0, mention: []string{"0x0"}},
		{name: "nil video", srcW: 1920, srcH: 1080, mention: []string{"video"}},
		{name: "max width not a number", v: vid("wide", "720", "Fit", ""), srcW: 1920, srcH: 1080, mention: []string{"max_width", `"wide"`}},
		{name: "max height zero", v: vid("1280", "0", "Fit", ""), srcW: 1920, srcH: 1080, mention: []string{"max_height", `"0"`}},
		{name: "sizing policy", v: vid("1280", "720", "Shrink", ""), srcW: 1920, srcH: 1080, mention: []string{"sizing_policy", `"Shrink"`}},
		{name: "padding policy", v: vid("1280", "720", "Fit", "Yes"), srcW: 1920, srcH: 1080, mention: []string{"padding_policy", `"Yes"`}},
		{name: "display aspect ratio", v: withDAR(vid("1280", "720", "Fit", ""), "16/9"), srcW: 1920, srcH: 1080, mention: []string{"display_aspect_ratio", `"16/9"`}},
		{name: "display aspect ratio zero", v: withDAR(vid("1280", "720", "Fit", ""), "0:9"), srcW: 1920, srcH: 1080, mention: []string{"display_aspect_ratio"}},
		{name: "legacy resolution", v: &Video{Resolution: "640by480"}, srcW: 1920, srcH: 1080, mention: []string{"video.resolution", `"640by480"`}},
		{name: "legacy aspect ratio", v: &Video{Resolution: "640x480", AspectRatio: "4-3"}, srcW: 1920, srcH: 1080, mention: []string{"video.aspect_ratio", `"4-3"`}},
		{name: "thumbnail max width", t: &Thumbnails{MaxWidth: "1.5"}, srcW: 1920, srcH: 1080, mention: []string{"thumbnails.max_width"}},
		{name: "thumbnail resolution", t: &Thumbnails{Resolution: "x120"}, srcW: 1920, srcH: 1080, mention: []string{"thumbnails.resolution"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.t != nil {
				_, err = ThumbnailLayout(tt.t, tt.srcW, tt.srcH)
			} else {
				_, err = VideoLayout(tt.v, tt.srcW, tt.srcH)
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %s", err, m)
				}
			}
		})
	}
	if _, err := ThumbnailLayout(nil, 1920, 1080); err == nil {
		t.Error("ThumbnailLayout(nil): no error")
	}
}

func TestRoundEvenSizing(t *testing.T) {
	for _, tt := range []struct {
		num, den int64
		want     int
	}{
		{640, 1, 640},
		{641, 1, 640},          // odd: a tie, goes down
		{643, 1, 642},          // odd: a tie, goes down
		{6409, 10, 640},        // 640.9: 640 is 0.9 away, 642 is 1.1
		{6411, 10, 642},        // 641.1: 642 is 0.9 away
		{2560, 3, 854},         // 853.33
		{1, 1, 2},              // never below 2
		{1, 1000, 2},           // never below 2
		{1287, 2, 644},         // 643.5: 644 is 0.5 away
		{461520, 361, 1278},    // 1278.45
		{462080, 641, 720},     // 720.87
		{61440, 27, 2276},      // 2275.56
		{1215, 20, 60},         // 60.75
		{480480, 563, 854},     // 853.41
		{720720, 563, 1280},    // 1280.14
		{720640, 1001, 720},    // 719.92
		{231040, 641, 360},     // 360.44
		{1080 * 3, 8, 404},     // 405: a tie, goes down
		{7680, 9, 854},         // 853.33
		{12441600, 7680, 1620}, // 1620 exactly
	} {
		x := big.NewRat(tt.num, tt.den)
		if got := roundEven(x); got != tt.want {
			t.Errorf("roundEven(%d/%d) = %d, want %d", tt.num, tt.den, got, tt.want)
		}
	}
}

// TestLayoutInvariants checks, over many generated presets and sources,
// properties that hold whatever the exact rounding: even positive sizes,
// frames inside the box (or equal to the legacy Resolution), crops inside
// the scaled picture, bars inside the frame and centred, each policy's own
// promise, the display aspect kept, and a DAR that matches the pixels.
func TestLayoutInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	policies := []string{"Fit", "Fill", "Stretch", "Keep", "ShrinkToFit", "ShrinkToFill", ""}
	paddings := []string{"Pad", "NoPad", ""}
	aspects := []string{"", "auto", "1:1", "4:3", "3:2", "16:9"}
	sources := [][2]int{{1920, 1080}, {1080, 1920}, {641, 361}, {1001, 563}, {1, 1}, {3, 5000}, {5000, 3}, {720, 480}}
	even := func(lo, hi int) int { return lo + 2*rng.IntN((hi-lo)/2+1) }

	failures := 0
	for i := range 20000 {
		var srcW, srcH int
		if i < 2*len(sources) {
			srcW, srcH = sources[i/2][0], sources[i/2][1]
		} else {
			srcW, srcH = 1+rng.IntN(5000), 1+rng.IntN(5000)
		}
		legacy := i%5 == 0
		thumbs := i%7 == 0
		var c invariantCase
		c.srcW, c.srcH = srcW, srcH
		var got Layout
		var err error
		switch {
		case legacy:
			res := "auto"
			if rng.IntN(3) > 0 {
				res = fmt.Sprintf("%dx%d", even(32, 4096), even(32, 3072))
			}
			asp := aspects[rng.IntN(len(aspects))]
			c.legacy, c.policy, c.pad = true, "Fit", true
			c.boxW, c.boxH = evenDown(srcW), evenDown(srcH)
			if w, h, ok := strings.Cut(res, "x"); ok {
				c.boxW, c.boxH = atoi(w), atoi(h)
			}
			c.aspect = asp
			if thumbs {
				got, err = ThumbnailLayout(&Thumbnails{Resolution: res, AspectRatio: asp}, srcW, srcH)
			} else {
				got, err = VideoLayout(&Video{Resolution: res, AspectRatio: asp}, srcW, srcH)
			}
		default:
			maxW, maxH := "auto", "auto"
			c.boxW, c.boxH = 1920, 1080
			if rng.IntN(4) > 0 {
				c.boxW, c.boxH = even(32, 4096), even(32, 3072)
				maxW, maxH = strconv.Itoa(c.boxW), strconv.Itoa(c.boxH)
			}
			pol, padding := policies[rng.IntN(len(policies))], paddings[rng.IntN(len(paddings))]
			c.policy, c.pad = pol, padding == "Pad"
			if pol == "" {
				c.policy = "ShrinkToFit"
			}
			if thumbs {
				got, err = ThumbnailLayout(&Thumbnails{MaxWidth: maxW, MaxHeight: maxH, SizingPolicy: pol, PaddingPolicy: padding}, srcW, srcH)
			} else {
				c.aspect = aspects[rng.IntN(len(aspects))]
				v := vid(maxW, maxH, pol, padding)
				v.DisplayAspectRatio = c.aspect
				got, err = VideoLayout(v, srcW, srcH)
			}
		}
		if err != nil {
			t.Fatalf("case %d %+v: %v", i, c, err)
		}
		if problems := c.check(got); len(problems) > 0 {
			t.Errorf("case %d %+v\n got %+v\n%s", i, c, got, strings.Join(problems, "\n"))
			if failures++; failures == 10 {
				t.Fatal("too many failures")
			}
		}
	}
}

type invariantCase struct {
	srcW, srcH int
	boxW, boxH int // MaxWidth×MaxHeight, or the legacy frame
	policy     string
	pad        bool
	aspect     string // the display aspect asked for, "" or auto for none
	legacy     bool
}

func (c invariantCase) check(l Layout) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	isEven := func(n int) bool { return n >= 0 && n%2 == 0 }

	// The pixel aspect, computed here independently in floating point
	// (one division of exact products, so that square pixels give exactly 1).
	par := 1.0
	if w, h, ok := strings.Cut(c.aspect, ":"); ok {
		par = float64(atoi(w)*c.boxH) / float64(atoi(h)*c.boxW)
	}
	sw, sh := float64(c.srcW)/par, float64(c.srcH) // the source in output pixels

	for _, d := range []struct {
		name string
		v    int
	}{{"Width", l.Width}, {"Height", l.Height}, {"ScaleW", l.ScaleW}, {"ScaleH", l.ScaleH}} {
		if d.v < 2 || !isEven(d.v) {
			fail("%s = %d, want even and at least 2", d.name, d.v)
		}
	}
	if l.Width > c.boxW || l.Height > c.boxH {
		fail("frame %dx%d exceeds the box %dx%d", l.Width, l.Height, c.boxW, c.boxH)
	}
	if c.legacy && (l.Width != c.boxW || l.Height != c.boxH) {
		fail("legacy frame %dx%d, want the Resolution %dx%d", l.Width, l.Height, c.boxW, c.boxH)
	}

	picW, picH := l.ScaleW, l.ScaleH
	if l.Crop {
		picW, picH = l.CropW, l.CropH
		if l.CropW < 2 || l.CropH < 2 || !isEven(l.CropW) || !isEven(l.CropH) || !isEven(l.CropX) || !isEven(l.CropY) {
			fail("crop %dx%d at %d,%d: want even sizes and offsets", l.CropW, l.CropH, l.CropX, l.CropY)
		}
		if l.CropX+l.CropW > l.ScaleW || l.CropY+l.CropH > l.ScaleH {
			fail("crop %dx%d at %d,%d outside the %dx%d picture", l.CropW, l.CropH, l.CropX, l.CropY, l.ScaleW, l.ScaleH)
		}
		if l.CropW == l.ScaleW && l.CropH == l.ScaleH {
			fail("crop that removes nothing")
		}
		if r := l.ScaleW - l.CropW - 2*l.CropX; r < 0 || r > 2 {
			fail("crop not centred horizontally (right margin - left = %d)", r)
		}
		if r := l.ScaleH - l.CropH - 2*l.CropY; r < 0 || r > 2 {
			fail("crop not centred vertically (bottom margin - top = %d)", r)
		}
	} else if l.CropW != 0 || l.CropH != 0 || l.CropX != 0 || l.CropY != 0 {
		fail("crop fields set without Crop")
	}

	if l.Pad {
		if !c.pad {
			fail("padded without Pad")
		}
		if l.Width != c.boxW || l.Height != c.boxH {
			fail("padded to %dx%d, not the box %dx%d", l.Width, l.Height, c.boxW, c.boxH)
		}
		if !isEven(l.PadX) || !isEven(l.PadY) || l.PadX+picW > l.Width || l.PadY+picH > l.Height {
			fail("picture %dx%d at %d,%d outside the %dx%d frame", picW, picH, l.PadX, l.PadY, l.Width, l.Height)
		}
		if picW == l.Width && picH == l.Height {
			fail("padding that adds nothing")
		}
		if r := l.Width - picW - 2*l.PadX; r < 0 || r > 2 {
			fail("bars not centred horizontally (right - left = %d)", r)
		}
		if r := l.Height - picH - 2*l.PadY; r < 0 || r > 2 {
			fail("bars not centred vertically (bottom - top = %d)", r)
		}
	} else {
		if l.PadX != 0 || l.PadY != 0 {
			fail("pad offsets set without Pad")
		}
		if l.Width != picW || l.Height != picH {
			fail("frame %dx%d is not the picture %dx%d", l.Width, l.Height, picW, picH)
		}
		if c.pad && (l.Width < c.boxW || l.Height < c.boxH) {
			fail("Pad asked but frame %dx%d is smaller than the box", l.Width, l.Height)
		}
	}

	// Each policy's promise. "touches" = matches MaxWidth or MaxHeight.
	touches := l.ScaleW == c.boxW || l.ScaleH == c.boxH
	const eps = 1e-9
	noUpscale := float64(l.ScaleW) <= max(sw+1, 2)+eps && float64(l.ScaleH) <= max(sh+1, 2)+eps
	fitsBox := sw <= float64(c.boxW) && sh <= float64(c.boxH)
	switch c.policy {
	case "Stretch":
		if l.ScaleW != c.boxW || l.ScaleH != c.boxH || l.Crop {
			fail("Stretch: want scale to the box and no crop")
		}
	case "Fit":
		if !touches || l.Crop {
			fail("Fit: want the picture to touch the box, uncropped")
		}
	case "Fill":
		if !touches || l.ScaleW < c.boxW || l.ScaleH < c.boxH || l.Width != c.boxW || l.Height != c.boxH {
			fail("Fill: want the picture to cover the box and be cropped to it")
		}
	case "ShrinkToFit":
		if l.Crop || !noUpscale || (!fitsBox && !touches) {
			fail("ShrinkToFit: want no crop, no upscaling, and touching the box when shrunk")
		}
	case "ShrinkToFill":
		if !noUpscale {
			fail("ShrinkToFill: upscaled")
		}
		if sw >= float64(c.boxW) && sh >= float64(c.boxH) && (l.Width != c.boxW || l.Height != c.boxH) {
			fail("ShrinkToFill: a source covering the box must fill it")
		}
	case "Keep":
		if math.Abs(float64(l.ScaleW)-sw) > 1 && l.ScaleW != 2 || math.Abs(float64(l.ScaleH)-sh) > 1 && l.ScaleH != 2 {
			fail("Keep: scaled to %dx%d, want the source's %.1fx%.1f", l.ScaleW, l.ScaleH, sw, sh)
		}
	}
	// The display aspect is kept: each scaled side is within a pixel (two
	// when clamped at the minimum of 2) of the exact one, so the cross
	// products differ by at most that much of the other side.
	if c.policy != "Stretch" {
		diff := math.Abs(float64(l.ScaleW)*sh - float64(l.ScaleH)*sw)
		if diff > 2*(sh+sw) {
			fail("aspect not kept: %dx%d from %.1fx%.1f", l.ScaleW, l.ScaleH, sw, sh)
		}
	}

	// DAR: none for square pixels, otherwise the frame's display shape.
	if par == 1 {
		if l.DAR != "" {
			fail("DAR %q for square pixels", l.DAR)
		}
	} else {
		w, h, ok := strings.Cut(l.DAR, ":")
		if !ok {
			fail("DAR %q for pixels of aspect %g", l.DAR, par)
		} else if got, want := float64(atoi(w))/float64(atoi(h)), float64(l.Width)*par/float64(l.Height); math.Abs(got-want) > 1e-9*want {
			fail("DAR %s = %g, want %g", l.DAR, got, want)
		}
		if l.Width == c.boxW && l.Height == c.boxH && l.DAR != c.aspect {
			fail("DAR %q for the full box, want the preset's %q", l.DAR, c.aspect)
		}
	}
	return bad
}

func evenDown(n int) int { return max(2, n&^1) }

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
