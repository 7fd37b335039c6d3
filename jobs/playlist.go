package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Playlist formats. HLSv3, HLSv4, MPEG-DASH and Smooth are Elastic
// Transcoder's; HLSv7 is ours: HLS over fMP4 (CMAF) segments, the same
// segments an MPEG-DASH playlist of the job can use.
const (
	FormatHLSv3  = "HLSv3"
	FormatHLSv4  = "HLSv4"
	FormatHLSv7  = "HLSv7"
	FormatDASH   = "MPEG-DASH"
	FormatSmooth = "Smooth"
)

// PlaylistFormats are the formats a playlist may have, in the order
// messages list them. Smooth is Elastic Transcoder's but is refused.
var PlaylistFormats = []string{FormatHLSv3, FormatHLSv4, FormatHLSv7, FormatDASH}

// Limits of Elastic Transcoder's CreateJob.
const (
	maxPlaylists          = 30
	maxPlaylistOutputKeys = 30
	maxPlaylistName       = 255
)

// PlaylistRequest is a master playlist (HLS) or manifest (DASH) a job
// asks for over some of its outputs, as Elastic Transcoder's
// CreateJobPlaylist.
type PlaylistRequest struct {
	// Name is the playlist's key without extension, relative to the
	// output location: .m3u8 (HLS) or .mpd (MPEG-DASH) is appended.
	Name string
	// Format is one of PlaylistFormats.
	Format string
	// OutputKeys are the Key of each output the playlist lists, in the
	// order players see them.
	OutputKeys []string
}

// PlaylistExtension returns the extension (with the dot) Elastic
// Transcoder appends to a playlist's Name for a format.
func PlaylistExtension(format string) string {
	if format == FormatDASH {
		return ".mpd"
	}
	return ".m3u8"
}

// File is the key of the playlist file itself: Name plus the format's
// extension.
func (p PlaylistRequest) File() string { return p.Name + PlaylistExtension(p.Format) }

// outputLayout says which files a segmented output writes; playlists decide it.
type outputLayout int

const (
	// layoutSegments: KEY.m3u8 and KEY00000.ts (or KEY_init.mp4 and
	// KEY00000.m4s for fmp4), Elastic Transcoder's HLSv3 naming and the
	// naming of a segmented output in no playlist.
	layoutSegments outputLayout = iota
	// layoutByteRange: KEY_v4.m3u8 over one byte-ranged KEY.ts, and
	// KEY_iframe.m3u8 for video, Elastic Transcoder's HLSv4 naming.
	layoutByteRange
)

// ValidatePlaylists checks playlists against the outputs of the same job
// with Elastic Transcoder's rules, and with its messages where they are
// known. It needs only the request (presets, keys), not the input, so an
// API can refuse a job before it is queued; BuildPlan calls it again.
// Errors match ErrBadRequest.
func ValidatePlaylists(outs []OutputRequest, pls []PlaylistRequest) error {
	_, err := playlistLayouts(outs, pls)
	return err
}

// playlistLayouts validates playlists and returns the layout of every
// output, by index.
func playlistLayouts(outs []OutputRequest, pls []PlaylistRequest) ([]outputLayout, error) {
	layouts := make([]outputLayout, len(outs))
	if len(pls) == 0 {
		return layouts, nil
	}
	if len(pls) > maxPlaylists {
		return nil, badRequest("a job may have at most %d playlists; this one has %d", maxPlaylists, len(pls))
	}
	byKey := map[string]int{}
	for i, o := range outs {
		if _, dup := byKey[o.Key]; !dup {
			byKey[o.Key] = i
		}
	}
	// inFormat remembers, per output, the first playlist format that named
	// it: HLSv4 needs other files than every other format.
	inFormat := map[int]PlaylistRequest{}
	names := map[string]string{}
	for _, pl := range pls {
		if err := validatePlaylist(pl, outs, byKey); err != nil {
			return nil, err
		}
		if prev, dup := names[pl.File()]; dup {
			return nil, badRequest("playlists %q and %q would both write %s; give them different names", prev, pl.Name, pl.File())
		}
		names[pl.File()] = pl.Name
		for _, k := range pl.OutputKeys {
			i := byKey[k]
			if prev, ok := inFormat[i]; ok && (prev.Format == FormatHLSv4) != (pl.Format == FormatHLSv4) {
				return nil, badRequest("output %q is in playlist %q (%s) and in playlist %q (%s), which need different files; use one output for each",
					k, prev.Name, prev.Format, pl.Name, pl.Format)
			}
			inFormat[i] = pl
			if pl.Format == FormatHLSv4 {
				layouts[i] = layoutByteRange
			}
		}
	}
	return layouts, nil
}

// validatePlaylist applies the rules of one playlist.
func validatePlaylist(pl PlaylistRequest, outs []OutputRequest, byKey map[string]int) error {
	switch {
	case pl.Name == "":
		return badRequest("a playlist has no Name")
	case len(pl.Name) > maxPlaylistName:
		return badRequest("playlist name %q is longer than %d characters", truncate(pl.Name, 40), maxPlaylistName)
	case strings.HasSuffix(pl.Name, "/"):
		return badRequest("playlist name %q ends with '/'; it needs a file name after the last '/'", pl.Name)
	}
	if err := validKey(pl.File()); err != nil {
		return fmt.Errorf("playlist %q: %w", pl.Name, err)
	}
	switch {
	case pl.Format == FormatSmooth:
		return badRequest("playlist %q: Smooth playlists are not supported; allowed formats: %s", pl.Name, strings.Join(PlaylistFormats, ", "))
	case !slices.Contains(PlaylistFormats, pl.Format):
		return badRequest("playlist %q: format %q is not allowed; allowed: %s", pl.Name, pl.Format, strings.Join(PlaylistFormats, ", "))
	case len(pl.OutputKeys) == 0:
		return badRequest("playlist %q names no outputs", pl.Name)
	case len(pl.OutputKeys) > maxPlaylistOutputKeys:
		return badRequest("playlist %q names %d outputs; a playlist may name at most %d", pl.Name, len(pl.OutputKeys), maxPlaylistOutputKeys)
	}
	// Elastic Transcoder wrote the playlist beside its media playlists and
	// named them relative to it.
	prefix := pl.Name[:strings.LastIndex(pl.Name, "/")+1]
	var segment string
	seen := map[string]bool{}
	for _, k := range pl.OutputKeys {
		i, ok := byKey[k]
		if !ok {
			return badRequest("playlist %q names output key %q, which is not the key of any output of this job", pl.Name, k)
		}
		if seen[k] {
			return badRequest("playlist %q names output key %q twice", pl.Name, k)
		}
		seen[k] = true
		o := outs[i]
		if !strings.HasPrefix(k, prefix) {
			return badRequest("All outputs in a playlist must begin identically to the playlist name upto the last / character. (playlist %q, output key %q)", pl.Name, k)
		}
		if o.SegmentDuration == "" {
			// Elastic Transcoder's message, without its typo
			// ("SegmentDurtion").
			return badRequest("Output '%s' must have a SegmentDuration since it is part of a playlist. SegmentDuration is available only for 'ts' and 'fmp4' containers.", k)
		}
		if segment == "" {
			segment = o.SegmentDuration
		} else if !sameSeconds(segment, o.SegmentDuration) {
			return badRequest("All outputs in a playlist must have the same SegmentDuration. (playlist %q: %s s and %s s)", pl.Name, segment, o.SegmentDuration)
		}
		if o.Preset == nil {
			continue // BuildPlan reports it
		}
		want := "ts"
		if pl.Format == FormatHLSv7 || pl.Format == FormatDASH {
			want = "fmp4"
		}
		if o.Preset.Container != want {
			msg := fmt.Sprintf("All output keys in a %s playlist must have container type of %s.", pl.Format, want)
			switch pl.Format {
			case FormatHLSv3, FormatHLSv4:
				msg += " For fmp4 (CMAF) outputs use HLSv7."
			case FormatHLSv7:
				msg += " For ts outputs use HLSv3 or HLSv4."
			}
			return badRequest("%s (playlist %q, output key %q is %s)", msg, pl.Name, k, o.Preset.Container)
		}
		if pl.Format == FormatDASH && o.Preset.Video != nil && o.Preset.Audio != nil && o.Preset.Audio.Channels != "0" {
			// DASH players (dash.js, Shaka) want one media type per
			// representation; a muxed one would play without sound or
			// not at all.
			return badRequest("playlist %q: output %q has both video and audio; MPEG-DASH needs video-only and audio-only outputs", pl.Name, k)
		}
	}
	return nil
}

// sameSeconds compares two segment durations as numbers ("6" and "6.0"
// are the same); unparsable ones compare as text, and BuildPlan refuses
// them.
func sameSeconds(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x == y
}

// PrunePlaylists drops from the playlists the output keys that are no
// longer among outs (ladder rungs dropped for being larger than the
// source, see DropRungsAboveSource). A playlist left with no outputs is an
// error.
func PrunePlaylists(pls []PlaylistRequest, outs []OutputRequest) ([]PlaylistRequest, error) {
	keys := map[string]bool{}
	for _, o := range outs {
		keys[o.Key] = true
	}
	var res []PlaylistRequest
	for _, pl := range pls {
		var kept []string
		for _, k := range pl.OutputKeys {
			if keys[k] {
				kept = append(kept, k)
			}
		}
		if len(kept) == 0 && len(pl.OutputKeys) > 0 {
			return nil, badRequest("playlist %q: every output it names is larger than the source and was dropped", pl.Name)
		}
		pl.OutputKeys = kept
		res = append(res, pl)
	}
	return res, nil
}

// relativeURI is the URI of key as seen from a playlist at name: the part
// after the playlist's directory (which ValidatePlaylists made a prefix of
// key), with characters that URIs reserve escaped.
func relativeURI(name, key string) string {
	rel := strings.TrimPrefix(key, name[:strings.LastIndex(name, "/")+1])
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		parts[i] = escapePathSegment(p)
	}
	return strings.Join(parts, "/")
}

// escapePathSegment percent-encodes what cannot stand in a relative URI's
// path segment (url.PathEscape would also escape ':' and leave some
// characters HLS playlists cannot hold).
func escapePathSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// planPlaylists resolves each playlist's output keys to output indexes;
// the playlists have been validated.
func planPlaylists(outs []OutputRequest, pls []PlaylistRequest) []PlannedPlaylist {
	var res []PlannedPlaylist
	for _, pl := range pls {
		pp := PlannedPlaylist{Request: pl, File: pl.File()}
		for _, k := range pl.OutputKeys {
			pp.Outputs = append(pp.Outputs, slices.IndexFunc(outs, func(o OutputRequest) bool { return o.Key == k }))
		}
		res = append(res, pp)
	}
	return res
}

// jobPlaylists returns the job's view of playlist requests: Submitted,
// as Elastic Transcoder shows them before the job starts.
func jobPlaylists(pls []PlaylistRequest) []*Playlist {
	var out []*Playlist
	for _, pl := range pls {
		out = append(out, &Playlist{Name: pl.Name, Format: pl.Format, OutputKeys: slices.Clone(pl.OutputKeys), Status: StatusSubmitted})
	}
	return out
}

// failPlaylists ends the job's playlists that are not Complete with the
// job's error, as failJob does for outputs.
func failPlaylists(job *Job, err error) {
	status := StatusError
	if errors.Is(err, context.Canceled) {
		status = StatusCanceled
	}
	for _, p := range job.Playlists {
		if p.Status != StatusComplete {
			p.Status = status
			p.StatusDetail = truncate(StatusDetail(err), 255)
		}
	}
}

// listedOutputs marks the outputs that some playlist lists.
func listedOutputs(plan *Plan) []bool {
	listed := make([]bool, len(plan.Outputs))
	for _, pl := range plan.Playlists {
		for _, i := range pl.Outputs {
			listed[i] = true
		}
	}
	return listed
}

// checkPlaylistsFree returns ErrOutputExists (3002) when a playlist file
// is already in dir.
func checkPlaylistsFree(dir string, plan *Plan) error {
	for _, pl := range plan.Playlists {
		f := filepath.Join(dir, filepath.FromSlash(pl.File))
		if _, err := os.Lstat(f); err == nil {
			return fmt.Errorf("%w: %s (use --overwrite to replace it)", ErrOutputExists, f)
		}
	}
	return nil
}

// publishPlaylists writes the plan's playlists into staging and publishes
// them, after every output they list, and marks them Complete.
func publishPlaylists(ctx context.Context, staging string, plan *Plan, rends []*rendition, job *Job,
	publish func(ctx context.Context, staging string, files []string) error, onPublished func([]string)) error {
	if len(plan.Playlists) == 0 {
		return nil
	}
	files, err := writePlaylists(staging, plan, rends)
	if err != nil {
		return err
	}
	if err := publish(ctx, staging, files); err != nil {
		return err
	}
	if onPublished != nil {
		onPublished(files)
	}
	for _, p := range job.Playlists {
		p.Status = StatusComplete
	}
	return nil
}
