package ffmpeg

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Progress is one progress report of a running ffmpeg.
type Progress struct {
	OutTime time.Duration // position reached in the output; never negative
	Frame   int64         // video frames written so far
	FPS     float64       // frames encoded per second of wall time; 0 if unknown
	Speed   float64       // encoding speed as a multiple of real time; 0 if unknown
	Percent float64       // 0..100, never decreasing; without RunOptions.Duration, 0 until a clean end
	ETA     time.Duration // estimated time to completion; 0 if unknown
	// Done means ffmpeg reported progress=end: this is the last report. ffmpeg also
	// reports the end when it was stopped; Run's error says whether the run succeeded,
	// and Percent only jumps to 100 at a clean end.
	Done bool
}

// progressParser turns ffmpeg's "-progress" output into Progress values. ffmpeg writes
// blocks of key=value lines, each ending with progress=continue or progress=end.
type progressParser struct {
	total time.Duration // expected output duration; 0 if unknown
	// stopped, if non-nil, reports whether Run is stopping ffmpeg. ffmpeg still writes
	// progress=end after a SIGTERM, and that must not read as 100% complete.
	stopped func() bool

	last Progress // last report, for values that must not move backwards

	// Fields of the block being read. out_time is given three ways; the most precise
	// one present wins.
	frame, outUS, outMS, outStr int64
	haveFrame                   bool
	haveUS, haveMS, haveStr     bool
	fps, speed                  float64
}

// feed consumes one line of progress output. At the end of a block it returns the
// block's Progress and true.
func (pp *progressParser) feed(line string) (Progress, bool) {
	key, value, ok := strings.Cut(strings.TrimSpace(line), "=")
	if !ok {
		return Progress{}, false
	}
	value = strings.TrimSpace(value)
	switch key {
	case "frame":
		pp.frame, pp.haveFrame = parseInt(value)
	case "fps":
		pp.fps = parseFloat(value)
	case "speed":
		// Written as "%4.3gx" ("  1.5x") or "N/A".
		pp.speed = parseFloat(strings.TrimSuffix(value, "x"))
	case "out_time_us":
		pp.outUS, pp.haveUS = parseInt(value)
	case "out_time_ms":
		// Despite its name, ffmpeg writes microseconds here too (a long-standing bug
		// kept for compatibility).
		pp.outMS, pp.haveMS = parseInt(value)
	case "out_time":
		pp.outStr, pp.haveStr = parseClock(value)
	case "progress":
		p := pp.finishBlock(value == "end")
		return p, true
	}
	return Progress{}, false
}

// finishBlock builds the Progress of the block just read and resets the block state.
func (pp *progressParser) finishBlock(done bool) Progress {
	p := Progress{
		OutTime: pp.last.OutTime, // N/A keeps the previous value
		Frame:   pp.last.Frame,
		FPS:     math.Max(pp.fps, 0),
		Speed:   math.Max(pp.speed, 0),
		Done:    done,
	}
	switch {
	case pp.haveUS:
		p.OutTime = time.Duration(max(pp.outUS, 0)) * time.Microsecond
	case pp.haveMS:
		p.OutTime = time.Duration(max(pp.outMS, 0)) * time.Microsecond
	case pp.haveStr:
		p.OutTime = time.Duration(max(pp.outStr, 0)) * time.Microsecond
	}
	if pp.haveFrame {
		p.Frame = max(pp.frame, 0)
	}

	p.Percent = pp.last.Percent
	if pp.total > 0 {
		pct := min(100*float64(p.OutTime)/float64(pp.total), 100)
		p.Percent = max(p.Percent, pct)
		if !done && p.Speed > 0 && p.OutTime < pp.total {
			p.ETA = time.Duration(float64(pp.total-p.OutTime) / p.Speed)
		}
	}
	// A clean end means the whole output was written, even when out_time stops a frame
	// short of the probed duration, or the duration was not known at all.
	if done && (pp.stopped == nil || !pp.stopped()) {
		p.Percent = 100
	}

	*pp = progressParser{total: pp.total, stopped: pp.stopped, last: p}
	return p
}

// parseInt parses an integer progress value; "N/A" and garbage report false.
func parseInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// parseFloat parses a float progress value; "N/A", garbage, NaN and negative values give 0.
func parseFloat(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

// parseClock parses ffmpeg's out_time, "[-]HH:MM:SS.micro", into microseconds.
func parseClock(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	h, rest, ok1 := strings.Cut(s, ":")
	m, sec, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return 0, false
	}
	hv, err1 := strconv.ParseInt(h, 10, 64)
	mv, err2 := strconv.ParseInt(m, 10, 64)
	sv, err3 := strconv.ParseFloat(sec, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, false
	}
	us := (hv*3600+mv*60)*1_000_000 + int64(math.Round(sv*1e6))
	if neg {
		us = -us
	}
	return us, true
}
