package jobs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/transcoder/transcoder/internal/ffmpeg"
)

// rendition is what playlists need to know of one finished segmented
// output, read from its files while they are still in staging.
type rendition struct {
	hasVideo, hasAudio bool
	width, height      int
	frameRate          float64
	// videoCodec and audioCodec are RFC 6381 codec strings ("avc1.64001f",
	// "mp4a.40.2"); "" when unknown, and then CODECS is left out.
	videoCodec, audioCodec string
	sampleRate, channels   int
	target                 float64 // the requested segment duration, seconds
	segments               []segment
	// iframes are the entries of an HLSv4 output's I-frame playlist.
	iframes []segment
	// timescale of the (only) track of an fmp4 output, for DASH; segment
	// start times are in it.
	timescale uint64
}

// segment is one media segment (or I-frame) of a rendition.
type segment struct {
	uri      string  // as its media playlist names it
	duration float64 // seconds
	size     int64   // bytes
	offset   int64   // byte-range start, for single-file outputs
	start    uint64  // fmp4: the decode time of its first sample (tfdt)
}

// duration is the rendition's length: the sum of its segments.
func (r *rendition) duration() float64 {
	var d float64
	for _, s := range r.segments {
		d += s.duration
	}
	return d
}

// bandwidth returns the peak and average bit rate of segments, in bit/s.
// The peak leaves out segments much shorter than the target (the tail of
// the file): one key frame in a tenth of a second would otherwise make the
// rendition look many times more expensive than it is, and players would
// avoid it.
func bandwidth(segs []segment, target float64) (peak, avg int64) {
	var bytes int64
	var secs float64
	for _, s := range segs {
		bytes += s.size
		secs += s.duration
	}
	if secs <= 0 {
		return 0, 0
	}
	avg = int64(math.Ceil(float64(bytes*8) / secs))
	for pass := 0; pass < 2 && peak == 0; pass++ {
		for _, s := range segs {
			if s.duration <= 0 || (pass == 0 && s.duration < target/2) {
				continue
			}
			peak = max(peak, int64(math.Ceil(float64(s.size*8)/s.duration)))
		}
	}
	return max(peak, avg), avg
}

// analyzeOutput reads a finished segmented output: its media playlist,
// the sizes of its segments, its codecs, and for fmp4 the start time of
// each segment. pr is the probe of its first media (describeOutput).
func analyzeOutput(dir string, po *PlannedOutput, out *JobOutput, pr *ffmpeg.ProbeResult) (*rendition, error) {
	abs := func(f string) string { return filepath.Join(dir, filepath.FromSlash(f)) }
	r := &rendition{hasVideo: po.HasVideo, hasAudio: po.HasAudio, width: int(out.Width), height: int(out.Height)}
	r.target, _ = strconv.ParseFloat(po.Request.SegmentDuration, 64)
	segs, err := readMediaPlaylist(abs(po.Main))
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", po.Main, err)
	}
	base := path.Dir(po.Main)
	for i := range segs {
		if segs[i].size > 0 { // a byte range
			continue
		}
		st, err := os.Stat(abs(path.Join(base, segs[i].uri)))
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", po.Main, err)
		}
		segs[i].size = st.Size()
	}
	r.segments = segs
	if v := pr.Video(); v != nil {
		r.frameRate = v.FrameRate
	}
	if a := pr.Audio(); a != nil {
		r.audioCodec = audioCodecString(a)
		r.sampleRate, r.channels = a.SampleRate, a.Channels
	}
	if po.InitSegment != "" {
		init, err := os.ReadFile(abs(po.InitSegment))
		if err != nil {
			return nil, err
		}
		r.videoCodec, r.timescale = initInfo(init)
		for i := range r.segments {
			r.segments[i].start, err = segmentStart(abs(path.Join(base, r.segments[i].uri)))
			if err != nil {
				return nil, fmt.Errorf("output %s: segment %s: %w", po.Main, r.segments[i].uri, err)
			}
		}
	} else if po.HasVideo && len(segs) > 0 {
		first := abs(path.Join(base, segs[0].uri))
		r.videoCodec, err = tsVideoCodec(first)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", po.Main, err)
		}
	}
	if !po.HasVideo {
		r.videoCodec = ""
	}
	return r, nil
}

// readMediaPlaylist reads the segments of an HLS media playlist that
// ffmpeg wrote: #EXTINF, optional #EXT-X-BYTERANGE (always with an
// offset, as ffmpeg writes it), and the URI.
func readMediaPlaylist(file string) ([]segment, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var segs []segment
	var cur segment
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			if cur.duration, err = strconv.ParseFloat(v, 64); err != nil {
				return nil, fmt.Errorf("bad #EXTINF line %q", line)
			}
		case strings.HasPrefix(line, "#EXT-X-BYTERANGE:"):
			n, o, ok := strings.Cut(strings.TrimPrefix(line, "#EXT-X-BYTERANGE:"), "@")
			size, err1 := strconv.ParseInt(n, 10, 64)
			off, err2 := strconv.ParseInt(o, 10, 64)
			if !ok || err1 != nil || err2 != nil {
				return nil, fmt.Errorf("bad #EXT-X-BYTERANGE line %q", line)
			}
			cur.size, cur.offset = size, off
		case line != "" && !strings.HasPrefix(line, "#"):
			cur.uri = line
			segs = append(segs, cur)
			cur = segment{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, errors.New("the media playlist lists no segments")
	}
	return segs, nil
}

// audioCodecString is the RFC 6381 name of a probed audio stream.
func audioCodecString(a *ffmpeg.Stream) string {
	switch a.Codec {
	case "aac":
		switch a.Profile {
		case "HE-AAC":
			return "mp4a.40.5"
		case "HE-AACv2":
			return "mp4a.40.29"
		}
		return "mp4a.40.2"
	case "mp3":
		return "mp4a.40.34"
	case "ac3":
		return "ac-3"
	case "eac3":
		return "ec-3"
	case "opus":
		return "Opus"
	case "flac":
		return "fLaC"
	}
	return ""
}

// box is one ISO BMFF box: its type and its payload.
type box struct {
	typ  string
	data []byte
}

// boxes splits data into top-level boxes; a malformed tail is ignored.
func boxes(data []byte) []box {
	var out []box
	for len(data) >= 8 {
		size := uint64(binary.BigEndian.Uint32(data))
		typ, hdr := string(data[4:8]), uint64(8)
		switch size {
		case 0:
			size = uint64(len(data))
		case 1:
			if len(data) < 16 {
				return out
			}
			size, hdr = binary.BigEndian.Uint64(data[8:]), 16
		}
		if size < hdr || size > uint64(len(data)) {
			return out
		}
		out = append(out, box{typ, data[hdr:size]})
		data = data[size:]
	}
	return out
}

// child returns the payload of the first box of path under data, e.g.
// child(init, "moov", "trak", "mdia", "mdhd").
func child(data []byte, path ...string) ([]byte, bool) {
	for _, want := range path {
		found := false
		for _, b := range boxes(data) {
			if b.typ == want {
				data, found = b.data, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return data, true
}

// initInfo reads an fmp4 init segment: the RFC 6381 name of its video
// codec ("" without video, or when it is not H.264 or HEVC), and the
// timescale of its first track.
func initInfo(init []byte) (codec string, timescale uint64) {
	moov, ok := child(init, "moov")
	if !ok {
		return "", 0
	}
	for _, trak := range boxes(moov) {
		if trak.typ != "trak" {
			continue
		}
		if mdhd, ok := child(trak.data, "mdia", "mdhd"); ok && timescale == 0 && len(mdhd) >= 24 {
			if mdhd[0] == 1 && len(mdhd) >= 28 {
				timescale = uint64(binary.BigEndian.Uint32(mdhd[20:]))
			} else {
				timescale = uint64(binary.BigEndian.Uint32(mdhd[12:]))
			}
		}
		stsd, ok := child(trak.data, "mdia", "minf", "stbl", "stsd")
		if !ok || len(stsd) < 8 {
			continue
		}
		for _, entry := range boxes(stsd[8:]) {
			// A visual sample entry has 78 bytes before its child boxes.
			if len(entry.data) < 78 {
				continue
			}
			switch entry.typ {
			case "avc1", "avc3":
				if c, ok := child(entry.data[78:], "avcC"); ok && len(c) >= 4 {
					codec = fmt.Sprintf("%s.%02x%02x%02x", entry.typ, c[1], c[2], c[3])
				}
			case "hvc1", "hev1":
				if c, ok := child(entry.data[78:], "hvcC"); ok && len(c) >= 13 {
					codec = hevcCodec(entry.typ, c)
				}
			}
		}
	}
	return codec, timescale
}

// hevcCodec renders an HEVCDecoderConfigurationRecord as ISO/IEC 14496-15
// Annex E names it: hvc1.1.6.L93.B0.
func hevcCodec(typ string, c []byte) string {
	space := []string{"", "A", "B", "C"}[c[1]>>6]
	tier := "L"
	if c[1]&0x20 != 0 {
		tier = "H"
	}
	// The compatibility flags are written in reverse bit order.
	var compat uint32
	flags := binary.BigEndian.Uint32(c[2:6])
	for i := 0; i < 32; i++ {
		if flags&(1<<i) != 0 {
			compat |= 1 << (31 - i)
		}
	}
	s := fmt.Sprintf("%s.%s%d.%X.%s%d", typ, space, c[1]&0x1f, compat, tier, c[12])
	cons := c[6:12]
	n := len(cons)
	for n > 0 && cons[n-1] == 0 {
		n--
	}
	for _, b := range cons[:n] {
		s += fmt.Sprintf(".%X", b)
	}
	return s
}

// segmentStart returns the decode time (tfdt) of the first fragment of
// an fmp4 media segment.
func segmentStart(file string) (uint64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// The moof comes first and is small; its tfdt is all we need.
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return 0, err
	}
	head = head[:n]
	for _, b := range boxes(head) {
		if b.typ != "moof" {
			continue
		}
		tfdt, ok := child(b.data, "traf", "tfdt")
		if !ok || len(tfdt) < 8 {
			break
		}
		if tfdt[0] == 1 && len(tfdt) >= 12 {
			return binary.BigEndian.Uint64(tfdt[4:]), nil
		}
		return uint64(binary.BigEndian.Uint32(tfdt[4:])), nil
	}
	return 0, errors.New("no moof with a tfdt at its start")
}

// tsPacket is the size of an MPEG-TS packet.
const tsPacket = 188

// tsVideoCodec reads the H.264 sequence parameter set at the start of an
// MPEG-TS file and returns its RFC 6381 name (avc1.PPCCLL), or "" for
// other codecs.
func tsVideoCodec(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 256<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", err
	}
	ts, err := scanTS(head[:n])
	if err != nil {
		return "", err
	}
	if ts.videoType != 0x1b {
		return "", nil
	}
	es := ts.firstVideoPES
	for i := 0; i+6 < len(es); i++ {
		// A start code, then a NAL header of type 7 (SPS) with the
		// forbidden bit clear; profile, constraint flags and level follow.
		if es[i] == 0 && es[i+1] == 0 && es[i+2] == 1 && es[i+3]&0x9f == 0x07 {
			return fmt.Sprintf("avc1.%02x%02x%02x", es[i+4], es[i+5], es[i+6]), nil
		}
	}
	return "", nil
}

// tsScan is what scanTS found in an MPEG-TS file.
type tsScan struct {
	videoPID, videoType int
	// firstVideoPES is the start of the first video PES payload (enough
	// for its parameter sets).
	firstVideoPES []byte
	// keyframes are the video access units flagged as random access
	// points, with the byte range that holds each (from the PAT/PMT just
	// before it, when there is one, to the next video access unit).
	keyframes []tsKeyframe
}

type tsKeyframe struct {
	pts         int64 // 90 kHz
	offset, end int64
}

// scanTS walks MPEG-TS packets: the PAT and PMT for the video stream, and
// the video PES starts flagged as random access points (ffmpeg's muxer
// sets the flag on key frames and writes PAT and PMT just before each).
func scanTS(data []byte) (*tsScan, error) {
	s := &tsScan{videoPID: -1}
	pmtPID := -1
	psiStart := int64(-1) // first PSI packet of the run just before this one
	open := -1            // index in keyframes of the one whose end is not yet known
	for off := 0; off+tsPacket <= len(data); off += tsPacket {
		p := data[off : off+tsPacket]
		if p[0] != 0x47 {
			return nil, fmt.Errorf("not an MPEG-TS file: no sync byte at offset %d", off)
		}
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		pusi := p[1]&0x40 != 0
		payload := p[4:]
		rai := false
		if p[3]&0x20 != 0 { // adaptation field
			n := int(p[4])
			if n > 0 && 5 < len(p) {
				rai = p[5]&0x40 != 0
			}
			if 5+n > len(p) {
				continue
			}
			payload = p[5+n:]
		}
		if p[3]&0x10 == 0 {
			payload = nil
		}
		isPSI := pid == 0 || pid == pmtPID || pid == 0x11
		if isPSI {
			if psiStart < 0 {
				psiStart = int64(off)
			}
		}
		switch {
		case pid == 0 && pusi && len(payload) > 0:
			if sec := psiSection(payload); len(sec) >= 12 {
				for i := 8; i+4 <= len(sec)-4; i += 4 {
					if prog := int(sec[i])<<8 | int(sec[i+1]); prog != 0 {
						pmtPID = int(sec[i+2]&0x1f)<<8 | int(sec[i+3])
						break
					}
				}
			}
		case pid == pmtPID && pusi && len(payload) > 0 && s.videoPID < 0:
			if sec := psiSection(payload); len(sec) >= 16 {
				end := min(len(sec)-4, 3+(int(sec[1]&0x0f)<<8|int(sec[2])))
				i := 12 + (int(sec[10]&0x0f)<<8 | int(sec[11]))
				for ; i+5 <= end; i += 5 + (int(sec[i+3]&0x0f)<<8 | int(sec[i+4])) {
					switch typ := int(sec[i]); typ {
					case 0x1b, 0x24, 0x02, 0x10:
						s.videoPID, s.videoType = int(sec[i+1]&0x1f)<<8|int(sec[i+2]), typ
					}
					if s.videoPID >= 0 {
						break
					}
				}
			}
		case pid == s.videoPID && pusi:
			if open >= 0 {
				s.keyframes[open].end = int64(off)
				open = -1
			}
			pts, es, ok := pesHeader(payload)
			if s.firstVideoPES == nil && ok {
				s.firstVideoPES = es
			}
			if rai && ok {
				start := int64(off)
				if psiStart >= 0 {
					start = psiStart
				}
				s.keyframes = append(s.keyframes, tsKeyframe{pts: pts, offset: start})
				open = len(s.keyframes) - 1
			}
		}
		if !isPSI {
			psiStart = -1
		}
	}
	if open >= 0 {
		s.keyframes[open].end = int64(len(data) / tsPacket * tsPacket)
	}
	return s, nil
}

// psiSection returns the section a PSI payload holds, after its pointer
// field.
func psiSection(payload []byte) []byte {
	n := int(payload[0])
	if 1+n >= len(payload) {
		return nil
	}
	return payload[1+n:]
}

// pesHeader returns a PES packet's PTS and the start of its payload.
func pesHeader(p []byte) (pts int64, es []byte, ok bool) {
	if len(p) < 9 || p[0] != 0 || p[1] != 0 || p[2] != 1 {
		return 0, nil, false
	}
	hlen := int(p[8])
	if 9+hlen > len(p) {
		return 0, nil, false
	}
	if p[7]&0x80 != 0 && hlen >= 5 {
		b := p[9:14]
		pts = int64(b[0]>>1&7)<<30 | int64(b[1])<<22 | int64(b[2]>>1)<<15 | int64(b[3])<<7 | int64(b[4]>>1)
	}
	return pts, p[9+hlen:], true
}

// writeIFramePlaylist writes the I-frame playlist of an output in an
// HLSv4 playlist (KEY_iframe.m3u8), as Elastic Transcoder did: one byte
// range per key frame of the single KEY.ts, each lasting until the next
// key frame. It returns the entries for the master playlist's
// EXT-X-I-FRAME-STREAM-INF.
func writeIFramePlaylist(dir string, po *PlannedOutput) ([]segment, error) {
	abs := func(f string) string { return filepath.Join(dir, filepath.FromSlash(f)) }
	data, err := os.ReadFile(abs(po.MediaFile))
	if err != nil {
		return nil, err
	}
	ts, err := scanTS(data)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", po.MediaFile, err)
	}
	if len(ts.keyframes) == 0 {
		return nil, fmt.Errorf("output %s: no key frames found", po.MediaFile)
	}
	segs, err := readMediaPlaylist(abs(po.Main))
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", po.Main, err)
	}
	var total float64
	for _, s := range segs {
		total += s.duration
	}
	uri := escapePathSegment(path.Base(po.MediaFile))
	var frames []segment
	first := ts.keyframes[0].pts
	for i, k := range ts.keyframes {
		var d float64
		if i+1 < len(ts.keyframes) {
			d = float64(ts.keyframes[i+1].pts-k.pts) / 90000
		} else {
			d = total - float64(k.pts-first)/90000
		}
		frames = append(frames, segment{uri: uri, duration: max(d, 0), offset: k.offset, size: k.end - k.offset})
	}
	var b strings.Builder
	target := 1
	for _, f := range frames {
		target = max(target, int(math.Round(f.duration)))
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:4\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n", target)
	for _, f := range frames {
		fmt.Fprintf(&b, "#EXTINF:%.6f,\n#EXT-X-BYTERANGE:%d@%d\n%s\n", f.duration, f.size, f.offset, f.uri)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	if err := os.WriteFile(abs(po.IFramePlaylist), []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return frames, nil
}
