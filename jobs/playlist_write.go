package jobs

import (
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// audioGroup is the GROUP-ID of audio-only renditions in a master
// playlist, the name Elastic Transcoder's HLSv4 playlists used.
const audioGroup = "audio-0"

// writePlaylists writes the plan's playlists into dir (the staging
// directory), from what its finished outputs hold, and returns their
// files relative to dir. rends has one entry per plan output; outputs
// that are in no playlist may have nil.
func writePlaylists(dir string, plan *Plan, rends []*rendition) ([]string, error) {
	var files []string
	for _, pl := range plan.Playlists {
		var list []*rendition
		var outs []*PlannedOutput
		for _, i := range pl.Outputs {
			if rends[i] == nil {
				return nil, fmt.Errorf("playlist %s: output %s was not read back", pl.File, plan.Outputs[i].Main)
			}
			list = append(list, rends[i])
			outs = append(outs, &plan.Outputs[i])
		}
		var data []byte
		var err error
		if pl.Request.Format == FormatDASH {
			data, err = dashManifest(pl, outs, list)
		} else {
			data = hlsMaster(pl, outs, list)
		}
		if err != nil {
			return nil, fmt.Errorf("playlist %s: %w", pl.File, err)
		}
		file := filepath.Join(dir, filepath.FromSlash(pl.File))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, fmt.Errorf("playlist %s: %w", pl.File, err)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			return nil, fmt.Errorf("playlist %s: %w", pl.File, err)
		}
		files = append(files, pl.File)
	}
	return files, nil
}

// hlsMaster renders an HLS master playlist. Renditions with video are
// variants (EXT-X-STREAM-INF). Audio-only renditions form an audio group
// (EXT-X-MEDIA) that the video-only variants play with, or, when every
// variant carries its own audio (or there is no video), are audio-only
// variants themselves. HLSv4 adds an I-frame playlist per video rendition.
func hlsMaster(pl PlannedPlaylist, outs []*PlannedOutput, rends []*rendition) []byte {
	version := map[string]int{FormatHLSv3: 3, FormatHLSv4: 4, FormatHLSv7: 7}[pl.Request.Format]
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", version)
	// Every segment starts with a key frame (force_key_frames).
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")

	var videos, audios []int
	grouped := false
	for i, r := range rends {
		switch {
		case r.hasVideo:
			videos = append(videos, i)
			grouped = grouped || !r.hasAudio
		case r.hasAudio:
			audios = append(audios, i)
		}
	}
	grouped = grouped && len(audios) > 0
	uri := func(i int) string { return relativeURI(pl.Request.Name, outs[i].Main) }

	var audioPeak, audioAvg int64
	var audioCodec string
	if grouped {
		for n, i := range audios {
			r := rends[i]
			peak, avg := bandwidth(r.segments, r.target)
			audioPeak, audioAvg = max(audioPeak, peak), max(audioAvg, avg)
			if audioCodec == "" {
				audioCodec = r.audioCodec
			}
			// NAME is for people: the key below the playlist, unescaped.
			name := strings.ReplaceAll(strings.TrimPrefix(outs[i].Request.Key, pl.Request.Name[:strings.LastIndex(pl.Request.Name, "/")+1]), `"`, "'")
			def := "NO"
			if n == 0 {
				def = "YES"
			}
			fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=%q,NAME=%q,DEFAULT=%s,AUTOSELECT=YES", audioGroup, name, def)
			if r.channels > 0 {
				fmt.Fprintf(&b, ",CHANNELS=\"%d\"", r.channels)
			}
			fmt.Fprintf(&b, ",URI=%q\n", uri(i))
		}
	}
	variant := func(i int) {
		r := rends[i]
		peak, avg := bandwidth(r.segments, r.target)
		codecs := []string{}
		if r.hasVideo && r.videoCodec != "" {
			codecs = append(codecs, r.videoCodec)
		}
		if r.hasAudio && r.audioCodec != "" {
			codecs = append(codecs, r.audioCodec)
		}
		withGroup := grouped && r.hasVideo && !r.hasAudio
		if withGroup {
			peak, avg = peak+audioPeak, avg+audioAvg
			if audioCodec != "" {
				codecs = append(codecs, audioCodec)
			}
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d", peak, avg)
		if len(codecs) > 0 && (!r.hasVideo || r.videoCodec != "") {
			fmt.Fprintf(&b, ",CODECS=%q", strings.Join(codecs, ","))
		}
		if r.hasVideo && r.width > 0 {
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", r.width, r.height)
		}
		if r.hasVideo && r.frameRate > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", r.frameRate)
		}
		if withGroup {
			fmt.Fprintf(&b, ",AUDIO=%q", audioGroup)
		}
		fmt.Fprintf(&b, "\n%s\n", uri(i))
	}
	for _, i := range videos {
		variant(i)
	}
	if !grouped {
		for _, i := range audios {
			variant(i)
		}
	}
	for _, i := range videos {
		r := rends[i]
		if outs[i].IFramePlaylist == "" || len(r.iframes) == 0 {
			continue
		}
		peak, _ := bandwidth(r.iframes, 0)
		fmt.Fprintf(&b, "#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=%d", peak)
		if r.videoCodec != "" {
			fmt.Fprintf(&b, ",CODECS=%q", r.videoCodec)
		}
		if r.width > 0 {
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", r.width, r.height)
		}
		fmt.Fprintf(&b, ",URI=%q\n", relativeURI(pl.Request.Name, outs[i].IFramePlaylist))
	}
	return []byte(b.String())
}

// The MPD, as encoding/xml writes it: only what static (on-demand)
// presentations over CMAF segments need.
type mpd struct {
	XMLName                   xml.Name `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
	Profiles                  string   `xml:"profiles,attr"`
	Type                      string   `xml:"type,attr"`
	MediaPresentationDuration string   `xml:"mediaPresentationDuration,attr"`
	MaxSegmentDuration        string   `xml:"maxSegmentDuration,attr"`
	MinBufferTime             string   `xml:"minBufferTime,attr"`
	Period                    period   `xml:"Period"`
}

type period struct {
	ID             string          `xml:"id,attr"`
	Start          string          `xml:"start,attr"`
	AdaptationSets []adaptationSet `xml:"AdaptationSet"`
}

type adaptationSet struct {
	ID               int              `xml:"id,attr"`
	ContentType      string           `xml:"contentType,attr"`
	MimeType         string           `xml:"mimeType,attr"`
	SegmentAlignment bool             `xml:"segmentAlignment,attr"`
	StartWithSAP     int              `xml:"startWithSAP,attr"`
	MaxWidth         int              `xml:"maxWidth,attr,omitempty"`
	MaxHeight        int              `xml:"maxHeight,attr,omitempty"`
	MaxFrameRate     string           `xml:"maxFrameRate,attr,omitempty"`
	Representations  []representation `xml:"Representation"`
}

type representation struct {
	ID                string           `xml:"id,attr"`
	Bandwidth         int64            `xml:"bandwidth,attr"`
	Codecs            string           `xml:"codecs,attr,omitempty"`
	Width             int              `xml:"width,attr,omitempty"`
	Height            int              `xml:"height,attr,omitempty"`
	FrameRate         string           `xml:"frameRate,attr,omitempty"`
	SAR               string           `xml:"sar,attr,omitempty"`
	AudioSamplingRate int              `xml:"audioSamplingRate,attr,omitempty"`
	AudioChannels     *channelConfig   `xml:"AudioChannelConfiguration,omitempty"`
	SegmentTemplate   *segmentTemplate `xml:"SegmentTemplate"`
}

type channelConfig struct {
	SchemeIDURI string `xml:"schemeIdUri,attr"`
	Value       int    `xml:"value,attr"`
}

type segmentTemplate struct {
	Timescale              uint64      `xml:"timescale,attr"`
	PresentationTimeOffset uint64      `xml:"presentationTimeOffset,attr,omitempty"`
	Initialization         string      `xml:"initialization,attr"`
	Media                  string      `xml:"media,attr"`
	StartNumber            int         `xml:"startNumber,attr"`
	Timeline               []timelineS `xml:"SegmentTimeline>S"`
}

// timelineS is one <S> of a SegmentTimeline: r more segments of the same
// duration d follow the one starting at t.
type timelineS struct {
	T *uint64 `xml:"t,attr,omitempty"`
	D uint64  `xml:"d,attr"`
	R int     `xml:"r,attr,omitempty"`
}

// dashManifest renders an MPEG-DASH MPD over fmp4 outputs: one
// adaptation set for the video renditions and one for the audio ones,
// each representation addressing the output's own init segment and
// numbered segments (the files its HLS media playlist lists) through a
// SegmentTemplate with an exact SegmentTimeline.
func dashManifest(pl PlannedPlaylist, outs []*PlannedOutput, rends []*rendition) ([]byte, error) {
	var total, longest float64
	for _, r := range rends {
		total = max(total, r.duration())
		for _, s := range r.segments {
			longest = max(longest, s.duration)
		}
	}
	video := adaptationSet{ContentType: "video", MimeType: "video/mp4", SegmentAlignment: true, StartWithSAP: 1}
	audio := adaptationSet{ContentType: "audio", MimeType: "audio/mp4", SegmentAlignment: true, StartWithSAP: 1}
	var maxRate float64
	for k, r := range rends {
		o := outs[k]
		if r.timescale == 0 {
			return nil, fmt.Errorf("output %s: no timescale in its init segment %s", o.Main, o.InitSegment)
		}
		peak, _ := bandwidth(r.segments, r.target)
		rep := representation{
			ID:        strconv.Itoa(pl.Outputs[k] + 1), // the output's Id
			Bandwidth: peak,
			SegmentTemplate: &segmentTemplate{
				Timescale:      r.timescale,
				Initialization: strings.ReplaceAll(relativeURI(pl.Request.Name, o.InitSegment), "$", "$$"),
				// $ is the template's own character; a key's own is doubled.
				Media:       strings.ReplaceAll(relativeURI(pl.Request.Name, o.Request.Key), "$", "$$") + "$Number%05d$" + path.Ext(o.SegmentPattern),
				StartNumber: 0,
				Timeline:    timeline(r),
			},
		}
		if first := r.segments[0].start; first > 0 {
			rep.SegmentTemplate.PresentationTimeOffset = first
		}
		if r.hasVideo {
			rep.Codecs, rep.Width, rep.Height, rep.SAR = r.videoCodec, r.width, r.height, "1:1"
			if r.frameRate > 0 {
				rep.FrameRate = frameRateString(r.frameRate)
				maxRate = max(maxRate, r.frameRate)
			}
			video.MaxWidth, video.MaxHeight = max(video.MaxWidth, r.width), max(video.MaxHeight, r.height)
			video.Representations = append(video.Representations, rep)
			continue
		}
		rep.Codecs, rep.AudioSamplingRate = r.audioCodec, r.sampleRate
		if r.channels > 0 {
			rep.AudioChannels = &channelConfig{SchemeIDURI: "urn:mpeg:dash:23003:3:audio_channel_configuration:2011", Value: r.channels}
		}
		audio.Representations = append(audio.Representations, rep)
	}
	if maxRate > 0 {
		video.MaxFrameRate = frameRateString(maxRate)
	}
	m := mpd{
		Profiles:                  "urn:mpeg:dash:profile:isoff-live:2011",
		Type:                      "static",
		MediaPresentationDuration: isoDuration(total),
		MaxSegmentDuration:        isoDuration(longest),
		MinBufferTime:             isoDuration(max(longest, 1)),
		Period:                    period{ID: "0", Start: "PT0S"},
	}
	for _, set := range []adaptationSet{video, audio} {
		if len(set.Representations) > 0 {
			set.ID = len(m.Period.AdaptationSets)
			m.Period.AdaptationSets = append(m.Period.AdaptationSets, set)
		}
	}
	data, err := xml.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(data, '\n')...), nil
}

// timeline is a rendition's SegmentTimeline: each segment from its own
// start time (tfdt) to the next one's, the last for its #EXTINF
// duration; runs of equal durations are folded into one <S r=…>.
func timeline(r *rendition) []timelineS {
	var out []timelineS
	for i, s := range r.segments {
		var d uint64
		if i+1 < len(r.segments) && r.segments[i+1].start > s.start {
			d = r.segments[i+1].start - s.start
		} else {
			d = uint64(math.Round(s.duration * float64(r.timescale)))
		}
		if n := len(out); n > 0 && out[n-1].D == d {
			out[n-1].R++
			continue
		}
		e := timelineS{D: d}
		if i == 0 {
			t := s.start
			e.T = &t
		}
		out = append(out, e)
	}
	return out
}

// isoDuration renders seconds as an xs:duration (PT12.345S).
func isoDuration(sec float64) string {
	return "PT" + strconv.FormatFloat(math.Round(sec*1000)/1000, 'f', -1, 64) + "S"
}

// frameRateString renders a frame rate as DASH writes it: an integer, or
// NTSC's n*1000/1001 as a fraction.
func frameRateString(f float64) string {
	if math.Abs(f-math.Round(f)) < 0.001 {
		return strconv.Itoa(int(math.Round(f)))
	}
	if n := math.Round(f * 1001 / 1000); math.Abs(n*1000/1001-f) < 0.001 {
		return fmt.Sprintf("%d/1001", int(n)*1000)
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}
