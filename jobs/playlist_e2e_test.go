package jobs_test

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// streamingJob is one job per source that makes every playlist format at
// once, so that the encodes are shared between the assertions: HLSv3 over
// ET's muxed HLS presets and an audio-only one, HLSv4 over ET's video-only
// and audio-only HLS presets, and HLSv7 plus MPEG-DASH over the same CMAF
// ladder rungs (the ladder's 1080p and 720p rungs are dropped: the sources
// are 854×480).
func streamingJob(t *testing.T, reg *presets.Registry, audio bool) ([]jobs.OutputRequest, []jobs.PlaylistRequest) {
	t.Helper()
	var outs []jobs.OutputRequest
	add := func(key, ref string, rung bool) string {
		if p := lookup(t, ref); audio || p.Video != nil {
			outs = append(outs, jobs.OutputRequest{Key: key, Preset: p, SegmentDuration: "2", Rung: rung})
			return key
		}
		return ""
	}
	keys := func(k ...string) []string { return slices.DeleteFunc(k, func(s string) bool { return s == "" }) }
	v3 := keys(add("v3/1m", "hls-1m", false), add("v3/400k", "hls-400k", false), add("v3/audio", "hls-audio-160k", false))
	v4 := keys(add("v4/1m", "hls-video-1m", false), add("v4/400k", "hls-video-400k", false), add("v4/audio", "hls-audio-64k", false))
	rungs, err := reg.Rungs(lookup(t, "hls-1080p-ladder"))
	if err != nil {
		t.Fatal(err)
	}
	var cmaf []string
	for _, r := range rungs {
		cmaf = append(cmaf, add("cmaf/"+r.Alias(), r.Alias(), true))
	}
	cmaf = keys(cmaf...)
	return outs, []jobs.PlaylistRequest{
		{Name: "v3/index", Format: jobs.FormatHLSv3, OutputKeys: v3},
		{Name: "v4/index", Format: jobs.FormatHLSv4, OutputKeys: v4},
		{Name: "cmaf/index", Format: jobs.FormatHLSv7, OutputKeys: cmaf},
		{Name: "cmaf/manifest", Format: jobs.FormatDASH, OutputKeys: cmaf},
	}
}

// TestPlaylists: for landscape, portrait and silent sources, every
// playlist format opens in ffprobe and decodes to the end; media
// playlists keep to the segment duration; every segment of every
// rendition starts with a key frame, at the same times in every
// rendition; and the master playlists and the MPD describe what was
// written.
func TestPlaylists(t *testing.T) {
	t.Parallel()
	reg := presets.NewRegistry()
	tests := []struct {
		name  string
		spec  testmedia.Spec
		audio bool
		// The CMAF rungs kept, as displayed: the 1080p and 720p rungs are
		// dropped, and a portrait source turns the boxes.
		cmaf []string
	}{
		{"landscape", testmedia.Streaming, true, []string{"854x480", "640x360"}},
		{"portrait", testmedia.StreamingPortrait, true, []string{"480x854", "360x640"}},
		{"silent", testmedia.StreamingSilent, false, []string{"854x480", "640x360"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := testmedia.Path(t, tt.spec)
			outs, pls := streamingJob(t, reg, tt.audio)
			job, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs, Playlists: pls})

			for _, p := range job.Playlists {
				if p.Status != jobs.StatusComplete {
					t.Errorf("playlist %s: status %s (%s)", p.Name, p.Status, p.StatusDetail)
				}
			}
			var cmafKeys []string
			for _, o := range job.Outputs {
				if strings.HasPrefix(o.Key, "cmaf/") {
					cmafKeys = append(cmafKeys, o.Key)
				}
			}
			wantCMAF := []string{"cmaf/cmaf-h264-480p", "cmaf/cmaf-h264-360p"}
			if tt.audio {
				wantCMAF = append(wantCMAF, "cmaf/cmaf-aac-128k")
			}
			if !slices.Equal(cmafKeys, wantCMAF) {
				t.Errorf("CMAF outputs %v, want %v (rungs above the source dropped)", cmafKeys, wantCMAF)
			}

			t.Run("HLSv3", func(t *testing.T) {
				m := checkMaster(t, dir, "v3/index.m3u8", 3)
				if tt.audio {
					// Muxed variants: the audio-only rendition is a variant
					// of its own, not a group.
					m.wantVariants(t, "1m.m3u8", "400k.m3u8", "audio.m3u8")
					m.wantAudioGroup(t)
				} else {
					m.wantVariants(t, "1m.m3u8", "400k.m3u8")
				}
				m.checkVariants(t, tt.audio)
				for _, v := range []string{"1m", "400k"} {
					segs := checkMediaPlaylist(t, filepath.Join(dir, "v3", v+".m3u8"), 2)
					for _, s := range segs {
						if !firstVideoPacketIsKey(t, filepath.Join(dir, "v3", s.uri)) {
							t.Errorf("v3/%s does not start with a key frame", s.uri)
						}
					}
				}
				checkAligned(t, dir, "v3/1m.m3u8", "v3/400k.m3u8")
				readsToEnd(t, filepath.Join(dir, "v3/index.m3u8"), 5)
			})

			t.Run("HLSv4", func(t *testing.T) {
				m := checkMaster(t, dir, "v4/index.m3u8", 4)
				m.wantVariants(t, "1m_v4.m3u8", "400k_v4.m3u8")
				if tt.audio {
					m.wantAudioGroup(t, "audio_v4.m3u8")
				}
				m.checkVariants(t, tt.audio)
				if got, want := m.iframes, []string{"1m_iframe.m3u8", "400k_iframe.m3u8"}; !slices.Equal(got, want) {
					t.Errorf("I-frame playlists %v, want %v", got, want)
				}
				for _, v := range []string{"1m", "400k"} {
					segs := checkMediaPlaylist(t, filepath.Join(dir, "v4", v+"_v4.m3u8"), 2)
					for i, s := range segs {
						if s.uri != v+".ts" || s.length == 0 {
							t.Errorf("%s_v4.m3u8 segment %d: %s %d@%d, want a byte range of %s.ts", v, i, s.uri, s.length, s.offset, v)
						}
						if part := byteRange(t, filepath.Join(dir, "v4", s.uri), s.offset, s.length); !firstVideoPacketIsKey(t, part) {
							t.Errorf("%s.ts bytes %d@%d do not start with a key frame", v, s.length, s.offset)
						}
					}
					frames := checkMediaPlaylist(t, filepath.Join(dir, "v4", v+"_iframe.m3u8"), 0)
					if len(frames) != len(segs) {
						t.Errorf("%s_iframe.m3u8 has %d I-frames, want one per segment (%d)", v, len(frames), len(segs))
					}
					for i, f := range frames {
						part := byteRange(t, filepath.Join(dir, "v4", f.uri), f.offset, f.length)
						if !firstVideoPacketIsKey(t, part) || decodedKeyFrames(t, part) != "1" {
							t.Errorf("%s_iframe.m3u8 entry %d (%d@%d) is not one decodable key frame", v, i, f.length, f.offset)
						}
					}
				}
				checkAligned(t, dir, "v4/1m_v4.m3u8", "v4/400k_v4.m3u8")
				readsToEnd(t, filepath.Join(dir, "v4/index.m3u8"), 5)
			})

			t.Run("HLSv7", func(t *testing.T) {
				m := checkMaster(t, dir, "cmaf/index.m3u8", 7)
				m.wantVariants(t, "cmaf-h264-480p.m3u8", "cmaf-h264-360p.m3u8")
				if tt.audio {
					m.wantAudioGroup(t, "cmaf-aac-128k.m3u8")
				}
				m.checkVariants(t, tt.audio)
				for i, v := range m.variants {
					if m.attrs[i]["RESOLUTION"] != tt.cmaf[i] {
						t.Errorf("%s: RESOLUTION=%s, want %s", v, m.attrs[i]["RESOLUTION"], tt.cmaf[i])
					}
				}
				for _, v := range []string{"cmaf-h264-480p", "cmaf-h264-360p"} {
					segs := checkMediaPlaylist(t, filepath.Join(dir, "cmaf", v+".m3u8"), 2)
					for _, s := range segs {
						joined := joinFiles(t, filepath.Join(dir, "cmaf", v+"_init.mp4"), filepath.Join(dir, "cmaf", s.uri))
						if !firstVideoPacketIsKey(t, joined) {
							t.Errorf("cmaf/%s does not start with a key frame", s.uri)
						}
					}
				}
				checkAligned(t, dir, "cmaf/cmaf-h264-480p.m3u8", "cmaf/cmaf-h264-360p.m3u8")
				readsToEnd(t, filepath.Join(dir, "cmaf/index.m3u8"), 5)
			})

			t.Run("MPEG-DASH", func(t *testing.T) {
				checkMPD(t, filepath.Join(dir, "cmaf/manifest.mpd"), tt.cmaf, tt.audio)
				readsToEnd(t, filepath.Join(dir, "cmaf/manifest.mpd"), 5)
			})
		})
	}
}

// master is a parsed HLS master playlist.
type master struct {
	text      string
	variants  []string            // URIs of EXT-X-STREAM-INF
	attrs     []map[string]string // their attributes
	audio     []string            // URIs of the EXT-X-MEDIA audio group
	iframes   []string            // URIs of EXT-X-I-FRAME-STREAM-INF
	mediaAttr []map[string]string
}

var attrRE = regexp.MustCompile(`([A-Z0-9-]+)=("[^"]*"|[^,]*)`)

func parseAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range attrRE.FindAllStringSubmatch(s, -1) {
		m[kv[1]] = strings.Trim(kv[2], `"`)
	}
	return m
}

// checkMaster reads a master playlist and checks its header.
func checkMaster(t *testing.T, dir, name string, version int) *master {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	m := &master{text: string(data)}
	if !strings.HasPrefix(m.text, fmt.Sprintf("#EXTM3U\n#EXT-X-VERSION:%d\n", version)) {
		t.Errorf("%s does not start with #EXTM3U and version %d:\n%s", name, version, m.text)
	}
	lines := strings.Split(strings.TrimSpace(m.text), "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "#EXT-X-STREAM-INF:"):
			m.attrs = append(m.attrs, parseAttrs(strings.TrimPrefix(l, "#EXT-X-STREAM-INF:")))
			m.variants = append(m.variants, lines[i+1])
		case strings.HasPrefix(l, "#EXT-X-MEDIA:"):
			a := parseAttrs(strings.TrimPrefix(l, "#EXT-X-MEDIA:"))
			m.mediaAttr = append(m.mediaAttr, a)
			m.audio = append(m.audio, a["URI"])
		case strings.HasPrefix(l, "#EXT-X-I-FRAME-STREAM-INF:"):
			m.iframes = append(m.iframes, parseAttrs(l)["URI"])
		}
	}
	for _, u := range append(append(slices.Clone(m.variants), m.audio...), m.iframes...) {
		if _, err := os.Stat(filepath.Join(dir, path.Dir(name), u)); err != nil {
			t.Errorf("%s names %s: %v", name, u, err)
		}
	}
	return m
}

func (m *master) wantVariants(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(m.variants, want) {
		t.Errorf("variants %v, want %v:\n%s", m.variants, want, m.text)
	}
}

func (m *master) wantAudioGroup(t *testing.T, want ...string) {
	t.Helper()
	if !slices.Equal(m.audio, want) {
		t.Errorf("audio group %v, want %v:\n%s", m.audio, want, m.text)
	}
	for i, a := range m.mediaAttr {
		if a["TYPE"] != "AUDIO" || a["GROUP-ID"] != "audio-0" || (i == 0) != (a["DEFAULT"] == "YES") {
			t.Errorf("EXT-X-MEDIA %v: want TYPE=AUDIO, GROUP-ID=audio-0, DEFAULT=YES on the first only", a)
		}
	}
	for i, a := range m.attrs {
		if a["RESOLUTION"] == "" {
			continue
		}
		if got := a["AUDIO"] != ""; got != (len(want) > 0) {
			t.Errorf("variant %s: AUDIO=%q with an audio group of %d", m.variants[i], a["AUDIO"], len(want))
		}
	}
}

var (
	avcRE   = regexp.MustCompile(`^avc1\.(42c0|4d40|6400)[0-9a-f]{2}$`)
	codecRE = map[string]*regexp.Regexp{"video": avcRE, "audio": regexp.MustCompile(`^mp4a\.40\.2$`)}
)

// checkVariants checks every variant's attributes against its media: the
// resolution ffprobe reads, the frame rate, a CODECS entry per media type,
// and bandwidths that are plausible (peak at least the average).
func (m *master) checkVariants(t *testing.T, audio bool) {
	t.Helper()
	for i, a := range m.attrs {
		peak, err1 := strconv.Atoi(a["BANDWIDTH"])
		avg, err2 := strconv.Atoi(a["AVERAGE-BANDWIDTH"])
		if err1 != nil || err2 != nil || avg <= 0 || peak < avg || peak > 20_000_000 {
			t.Errorf("variant %s: BANDWIDTH=%s AVERAGE-BANDWIDTH=%s", m.variants[i], a["BANDWIDTH"], a["AVERAGE-BANDWIDTH"])
		}
		codecs := strings.Split(a["CODECS"], ",")
		video := a["RESOLUTION"] != ""
		want := 0
		if video {
			want++
			if !avcRE.MatchString(codecs[0]) {
				t.Errorf("variant %s: CODECS=%q, want avc1.PPCCLL first", m.variants[i], a["CODECS"])
			}
			if a["FRAME-RATE"] != "30.000" {
				t.Errorf("variant %s: FRAME-RATE=%q, want 30.000", m.variants[i], a["FRAME-RATE"])
			}
		}
		if audio {
			want++
			if !codecRE["audio"].MatchString(codecs[len(codecs)-1]) {
				t.Errorf("variant %s: CODECS=%q, want mp4a.40.2 last", m.variants[i], a["CODECS"])
			}
		}
		if len(codecs) != want {
			t.Errorf("variant %s: CODECS=%q, want %d codecs", m.variants[i], a["CODECS"], want)
		}
	}
}

// mediaSegment is one entry of a media (or I-frame) playlist.
type mediaSegment struct {
	uri            string
	duration       float64
	length, offset int64
}

// checkMediaPlaylist reads a media playlist and checks that it is a
// complete VOD playlist whose segments keep to its target duration and,
// when segment > 0, last segment seconds each but the last.
func checkMediaPlaylist(t *testing.T, file string, segment float64) []mediaSegment {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var segs []mediaSegment
	var cur mediaSegment
	target := -1
	var text strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		text.WriteString(l + "\n")
		switch {
		case strings.HasPrefix(l, "#EXT-X-TARGETDURATION:"):
			target, _ = strconv.Atoi(strings.TrimPrefix(l, "#EXT-X-TARGETDURATION:"))
		case strings.HasPrefix(l, "#EXTINF:"):
			cur.duration = num(strings.TrimSuffix(strings.TrimPrefix(l, "#EXTINF:"), ","))
		case strings.HasPrefix(l, "#EXT-X-BYTERANGE:"):
			n, o, _ := strings.Cut(strings.TrimPrefix(l, "#EXT-X-BYTERANGE:"), "@")
			cur.length, _ = strconv.ParseInt(n, 10, 64)
			cur.offset, _ = strconv.ParseInt(o, 10, 64)
		case l != "" && !strings.HasPrefix(l, "#"):
			cur.uri = l
			segs = append(segs, cur)
			cur = mediaSegment{}
		}
	}
	for _, want := range []string{"#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-ENDLIST"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("%s has no %s", filepath.Base(file), want)
		}
	}
	if len(segs) == 0 || target <= 0 {
		t.Fatalf("%s: %d segments, target duration %d:\n%s", filepath.Base(file), len(segs), target, text.String())
	}
	for i, s := range segs {
		if math.Round(s.duration) > float64(target) {
			t.Errorf("%s: segment %d lasts %.3f s, over the target duration %d", filepath.Base(file), i, s.duration, target)
		}
		if segment > 0 && i < len(segs)-1 && !within(s.duration, segment, 0.05) {
			t.Errorf("%s: segment %d lasts %.3f s, want %v", filepath.Base(file), i, s.duration, segment)
		}
	}
	return segs
}

// checkAligned checks that video renditions cut their segments at the
// same times, which with a key frame at each segment start means key
// frames aligned across the renditions.
func checkAligned(t *testing.T, dir string, playlists ...string) {
	t.Helper()
	var first []float64
	for i, p := range playlists {
		var d []float64
		for _, s := range checkMediaPlaylist(t, filepath.Join(dir, p), 0) {
			d = append(d, math.Round(s.duration*100)/100)
		}
		if i == 0 {
			first = d
		} else if !slices.Equal(d, first) {
			t.Errorf("%s cuts segments at %v, %s at %v: not aligned", playlists[0], first, p, d)
		}
	}
}

// byteRange copies length bytes at offset of file into a new file.
func byteRange(t *testing.T, file string, offset, length int64) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if offset+length > int64(len(data)) || length <= 0 {
		t.Fatalf("byte range %d@%d is outside %s (%d bytes)", length, offset, file, len(data))
	}
	out := filepath.Join(t.TempDir(), "range"+path.Ext(file))
	if err := os.WriteFile(out, data[offset:offset+length], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// readsToEnd opens a master playlist or MPD with ffprobe, which follows
// every variant, and checks that every stream's packets reach the end of
// the presentation; then decodes everything without an error.
func readsToEnd(t *testing.T, file string, seconds float64) {
	t.Helper()
	out, err := ffprobeOut(file, "-show_entries", "packet=stream_index,pts_time,duration_time", "-of", "csv=p=0")
	if err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(file), err)
	}
	ends := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		if end := num(f[1]) + num(f[2]); !math.IsNaN(end) {
			ends[f[0]] = max(ends[f[0]], end)
		}
	}
	if len(ends) == 0 {
		t.Fatalf("ffprobe read no packets from %s", filepath.Base(file))
	}
	for s, end := range ends {
		// ts timestamps start at 1.4 s; an end before the duration means
		// a stream stopped early.
		if end < seconds-0.2 {
			t.Errorf("%s: stream %s ends at %.3f s, want at least %.1f", filepath.Base(file), s, end, seconds)
		}
	}
	decodes(t, file)
}

// ffprobeOut runs ffprobe with the protocols HLS and DASH over local
// files need.
func ffprobeOut(file string, args ...string) (string, error) {
	cmd := exec.Command("ffprobe", append([]string{"-v", "error"}, append(args, file)...)...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v %s", err, stderrOf(err))
	}
	return string(out), nil
}

// The parts of an MPD the test reads.
type testMPD struct {
	Type     string `xml:"type,attr"`
	Duration string `xml:"mediaPresentationDuration,attr"`
	Sets     []struct {
		ContentType string `xml:"contentType,attr"`
		Reps        []struct {
			ID        string `xml:"id,attr"`
			Bandwidth int    `xml:"bandwidth,attr"`
			Codecs    string `xml:"codecs,attr"`
			Width     int    `xml:"width,attr"`
			Height    int    `xml:"height,attr"`
			Template  struct {
				Timescale int    `xml:"timescale,attr"`
				Init      string `xml:"initialization,attr"`
				Media     string `xml:"media,attr"`
				S         []struct {
					T *int `xml:"t,attr"`
					D int  `xml:"d,attr"`
					R int  `xml:"r,attr"`
				} `xml:"SegmentTimeline>S"`
			} `xml:"SegmentTemplate"`
		} `xml:"Representation"`
	} `xml:"Period>AdaptationSet"`
}

// checkMPD checks an MPD: static, one video adaptation set with the
// rungs' sizes and (with audio) one audio set, and SegmentTimelines whose
// segments each exist and add up to the duration.
func checkMPD(t *testing.T, file string, sizes []string, audio bool) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var m testMPD
	if err := xml.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	want := []string{"video"}
	if audio {
		want = append(want, "audio")
	}
	var got []string
	for _, s := range m.Sets {
		got = append(got, s.ContentType)
	}
	if m.Type != "static" || !slices.Equal(got, want) {
		t.Fatalf("MPD type %q with adaptation sets %v, want static with %v:\n%s", m.Type, got, want, data)
	}
	var gotSizes []string
	for _, s := range m.Sets {
		for _, r := range s.Reps {
			if s.ContentType == "video" {
				gotSizes = append(gotSizes, fmt.Sprintf("%dx%d", r.Width, r.Height))
				if !avcRE.MatchString(r.Codecs) {
					t.Errorf("representation %s: codecs %q", r.ID, r.Codecs)
				}
			} else if r.Codecs != "mp4a.40.2" {
				t.Errorf("representation %s: codecs %q, want mp4a.40.2", r.ID, r.Codecs)
			}
			if r.Bandwidth <= 0 {
				t.Errorf("representation %s: bandwidth %d", r.ID, r.Bandwidth)
			}
			st := r.Template
			var n, total int
			for _, s := range st.S {
				n += 1 + s.R
				total += (1 + s.R) * s.D
			}
			if secs := float64(total) / float64(st.Timescale); !within(secs, 5, 0.1) {
				t.Errorf("representation %s: timeline lasts %.3f s, want 5", r.ID, secs)
			}
			dir := filepath.Dir(file)
			if _, err := os.Stat(filepath.Join(dir, st.Init)); err != nil {
				t.Errorf("representation %s: %v", r.ID, err)
			}
			for i := range n {
				seg := strings.Replace(st.Media, "$Number%05d$", fmt.Sprintf("%05d", i), 1)
				if _, err := os.Stat(filepath.Join(dir, seg)); err != nil {
					t.Errorf("representation %s: segment %d: %v", r.ID, i, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, strings.Replace(st.Media, "$Number%05d$", fmt.Sprintf("%05d", n), 1))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("representation %s: the timeline has %d segments but there are more", r.ID, n)
			}
		}
	}
	if !slices.Equal(gotSizes, sizes) {
		t.Errorf("video representations %v, want %v", gotSizes, sizes)
	}
}

// decodedKeyFrames decodes a file's video and returns the key_frame flag
// of each frame, one character per frame.
func decodedKeyFrames(t *testing.T, file string) string {
	t.Helper()
	out, err := ffprobeOut(file, "-select_streams", "v:0", "-show_entries", "frame=key_frame", "-of", "csv=p=0")
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var flags strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// The first frame may carry side data, in more fields.
		f, _, _ := strings.Cut(line, ",")
		flags.WriteString(f)
	}
	return flags.String()
}
