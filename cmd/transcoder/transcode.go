package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

type transcodeOptions struct {
	presets          []string
	outputDir        string
	keyTemplate      string
	thumbnails       bool
	thumbnailPattern string
	segmentDuration  string
	playlist         string
	playlistFormats  []string
	start, duration  string
	rotate           string
	overwrite        bool
	dryRun           bool
	json             bool
	isolate          bool
	ffmpegPath       string
	ffprobePath      string
	stallTimeout     time.Duration
}

func newTranscodeCmd(g *globalOptions) *cobra.Command {
	o := &transcodeOptions{}
	cmd := &cobra.Command{
		Use:   "transcode INPUT -p PRESET [-p PRESET...] -o DIR|URL",
		Short: "Transcode one file with one or more presets",
		Long: `Transcode one file into one output per preset, with one ffmpeg process that
decodes the input once (or one process per output with --isolate).

Outputs are written to a hidden staging directory inside DIR and moved into
place only when ffmpeg has finished, so an interrupted run (Ctrl-C) leaves
nothing behind. An output that already exists is refused (Elastic
Transcoder's error 3002) unless --overwrite is given.

INPUT and the output may be local paths or bucket URLs: s3://bucket/key uses
the default store (the store named "default" in --config, else the AWS_*
variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
AWS_ENDPOINT_URL_S3), NAME://bucket/key the store NAME of --config. A remote
input is downloaded first; remote outputs are uploaded when encoded and checked,
segments before playlists.

Output keys are Go templates over .Base (input name without extension), .Dir,
.InputExt, .Ext (the output's extension), .Alias, .PresetID and .Index.
Segmented outputs (--segment-duration with a ts or fmp4 preset) write
KEY.m3u8 and KEY00000.ts, as Elastic Transcoder did.

Adaptive streaming: with a ladder preset, with two or more segmented
outputs, or with --playlist or --playlist-format, a master playlist (HLS)
and/or a manifest (MPEG-DASH) is written over them, after every output it
names: HLSv3 for ts outputs, HLSv7 (HLS over fMP4/CMAF) and MPEG-DASH for
fmp4 outputs, unless --playlist-format says otherwise (HLSv4 writes
KEY_v4.m3u8, KEY_iframe.m3u8 and one byte-ranged KEY.ts per output, as
Elastic Transcoder did). The playlist is named after the input, beside the
outputs (--playlist to choose); segments are 6 seconds unless
--segment-duration says otherwise.`,
		Example: `  transcoder transcode movie.mov -p generic-720p -o out/
  transcoder transcode movie.mov -p 1351620000001-000010 -p audio-mp3-128k -o out/ --thumbnails
  transcoder transcode movie.mov -p hls-2m --segment-duration 6 -o out/ --key '{{.Base}}/hls-2m'
  transcoder transcode movie.mov -p hls-1080p-ladder -o out/ --key '{{.Base}}/{{.Alias}}'
  transcoder transcode movie.mov -p hls-2m -p hls-1m -p hls-400k --segment-duration 6 -o out/ --key '{{.Base}}/{{.Alias}}' --playlist '{{.Base}}/index' --playlist-format hlsv4
  transcoder transcode movie.mov -p generic-480p-16-9 --start 10 --duration 30 -o out/ --json
  transcoder transcode s3://uploads/movie.mov -p generic-720p -o s3://renditions/movies/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTranscode(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.presets, "preset", "p", nil, "preset ID, alias or name (repeatable; a ladder preset adds one output per rung)")
	f.StringVarP(&o.outputDir, "output", "o", "", "directory or bucket URL to write outputs into (required)")
	f.StringVar(&o.keyTemplate, "key", jobs.DefaultKeyTemplate, "output key template")
	f.BoolVar(&o.thumbnails, "thumbnails", false, "also write the presets' thumbnails, named "+jobs.DefaultThumbnailTemplate)
	f.StringVar(&o.thumbnailPattern, "thumbnail-pattern", "", "thumbnail key template with {count} (and optionally {resolution}); implies --thumbnails")
	f.StringVar(&o.segmentDuration, "segment-duration", "", "cut ts/fmp4 outputs into an HLS playlist and segments of this many seconds (1-60)")
	f.StringVar(&o.playlist, "playlist", "", "playlist name template, without extension (default: the input's name beside the outputs)")
	f.StringSliceVar(&o.playlistFormats, "playlist-format", nil, "playlist formats: hlsv3, hlsv4, hlsv7 (HLS over fMP4), dash, or none (default: hlsv3 for ts, hlsv7 and dash for fmp4)")
	f.StringVar(&o.start, "start", "", "clip start: seconds (12.5) or HH:MM:SS.sss")
	f.StringVar(&o.duration, "duration", "", "clip duration: seconds or HH:MM:SS.sss")
	f.StringVar(&o.rotate, "rotate", "auto", "auto (follow the input's rotation metadata), 0, 90, 180 or 270 degrees clockwise")
	f.BoolVar(&o.overwrite, "overwrite", false, "replace outputs that already exist")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the ffmpeg command and exit")
	f.BoolVar(&o.json, "json", false, "print the finished job as Elastic Transcoder's Job JSON")
	f.BoolVar(&o.isolate, "isolate", false, "run one ffmpeg process per output instead of one for all")
	f.StringVar(&o.ffmpegPath, "ffmpeg", os.Getenv("TRANSCODER_FFMPEG"), "path of ffmpeg (default: from PATH; env TRANSCODER_FFMPEG)")
	f.StringVar(&o.ffprobePath, "ffprobe", os.Getenv("TRANSCODER_FFPROBE"), "path of ffprobe (default: from PATH; env TRANSCODER_FFPROBE)")
	f.DurationVar(&o.stallTimeout, "stall-timeout", 2*time.Minute, "stop ffmpeg when it makes no progress for this long")
	_ = cmd.MarkFlagRequired("preset")
	_ = cmd.MarkFlagRequired("output")
	_ = cmd.RegisterFlagCompletionFunc("preset", completePresets(g))
	_ = cmd.RegisterFlagCompletionFunc("rotate", cobra.FixedCompletions([]string{"auto", "0", "90", "180", "270"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func runTranscode(cmd *cobra.Command, g *globalOptions, o *transcodeOptions, input string) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	reg, err := g.registry()
	if err != nil {
		return err
	}
	clip, err := parseClip(o.start, o.duration)
	if err != nil {
		return err
	}
	tools, err := ffmpeg.Locate(o.ffmpegPath, o.ffprobePath)
	if err != nil {
		return err
	}
	caps, err := tools.Capabilities(ctx)
	if err != nil {
		return err
	}
	outputs, playlists, err := streamingRequests(reg, o, input)
	if err != nil {
		return err
	}
	stores, err := loadStores(g.configPath)
	if err != nil {
		return err
	}

	stderr := cmd.ErrOrStderr()
	progress := newProgressView(stderr, o.json)
	req := jobs.LocalRequest{
		Input: input, OutputDir: o.outputDir, Outputs: outputs, Playlists: playlists, Clip: clip, Overwrite: o.overwrite,
		Isolate: o.isolate, Caps: jobs.Capabilities{Encoders: caps},
		Exec: jobs.ExecOptions{StallTimeout: o.stallTimeout, OnProgress: progress.update},
	}
	if o.dryRun {
		req.OnPlan = func(p *jobs.Plan) bool {
			for _, c := range p.Commands {
				args := append(ffmpeg.GlobalArgs(), c.Args...)
				if !strings.Contains(o.outputDir, "://") {
					// Show where the files end up rather than the staging
					// directory, which is gone once the dry run returns.
					for i, a := range args {
						if rest, ok := strings.CutPrefix(a, p.Dir+string(filepath.Separator)); ok {
							args[i] = filepath.Join(o.outputDir, rest)
						}
					}
				}
				fmt.Fprintln(cmd.OutOrStdout(), shellQuote(append([]string{tools.FFmpeg}, args...)))
			}
			return false
		}
	}
	job, err := jobs.Transcode(ctx, tools, stores, jobs.TranscodeRequest{LocalRequest: req, InputURL: input, OutputURL: o.outputDir})
	progress.finish(err == nil)
	if o.dryRun && err == nil {
		return nil
	}
	if job != nil {
		for _, out := range job.Outputs {
			for _, w := range out.Warnings {
				fmt.Fprintf(stderr, "warning: %s: %s\n", out.Key, w)
			}
		}
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: 130, msg: "canceled: ffmpeg stopped, partial outputs removed"}
	}
	if o.json && job != nil {
		if werr := writeJSON(cmd.OutOrStdout(), job); werr != nil {
			return werr
		}
	}
	if err != nil {
		return err
	}
	if !o.json {
		return printOutputs(cmd.OutOrStdout(), o.outputDir, job)
	}
	return nil
}

// defaultSegmentDuration is the segment length of playlists when
// --segment-duration is not given: Apple's recommendation.
const defaultSegmentDuration = "6"

// streamingRequests makes the outputs and, when the command streams (a
// ladder, two or more segmented outputs, or a playlist flag), the
// playlists over its segmented outputs: one per format, each over the
// outputs of the container that format takes.
func streamingRequests(reg *presets.Registry, o *transcodeOptions, input string) ([]jobs.OutputRequest, []jobs.PlaylistRequest, error) {
	formats, err := parsePlaylistFormats(o.playlistFormats)
	if err != nil {
		return nil, nil, err
	}
	explicit := o.playlist != "" || len(o.playlistFormats) > 0
	none := len(o.playlistFormats) > 0 && formats == nil
	opts := *o
	out, ladder, err := expandPresets(reg, &opts, input)
	if err != nil {
		return nil, nil, err
	}
	segmented := func(outs []jobs.OutputRequest) int {
		n := 0
		for _, r := range outs {
			if r.SegmentDuration != "" {
				n++
			}
		}
		return n
	}
	if none || !(ladder || explicit || segmented(out) >= 2) {
		return out, nil, nil
	}
	if !slices.ContainsFunc(out, func(r jobs.OutputRequest) bool {
		return slices.Contains(presets.SegmentedContainers, r.Preset.Container)
	}) {
		return nil, nil, fmt.Errorf("a playlist needs ts or fmp4 presets (HLS, DASH); none of the presets given is one")
	}
	if opts.segmentDuration == "" {
		// A playlist needs segments: cut the streaming presets.
		opts.segmentDuration = defaultSegmentDuration
		if out, _, err = expandPresets(reg, &opts, input); err != nil {
			return nil, nil, err
		}
	}
	byContainer := map[string][]string{}
	for _, r := range out {
		if r.SegmentDuration != "" {
			byContainer[r.Preset.Container] = append(byContainer[r.Preset.Container], r.Key)
		}
	}
	pls, err := buildPlaylists(formats, o.playlist, input, byContainer)
	if err != nil {
		return nil, nil, err
	}
	// Refuse a bad combination here, with Elastic Transcoder's message,
	// rather than after the input has been fetched.
	if err := jobs.ValidatePlaylists(out, pls); err != nil {
		return nil, nil, err
	}
	return out, pls, nil
}

// buildPlaylists makes one playlist per format over the segmented outputs
// of the container the format takes (byContainer: container → output
// keys); no formats means every format the outputs allow.
func buildPlaylists(formats []string, name, input string, byContainer map[string][]string) ([]jobs.PlaylistRequest, error) {
	if formats == nil {
		if len(byContainer["ts"]) > 0 {
			formats = append(formats, jobs.FormatHLSv3)
		}
		if len(byContainer["fmp4"]) > 0 {
			formats = append(formats, jobs.FormatHLSv7, jobs.FormatDASH)
		}
	}
	var pls []jobs.PlaylistRequest
	for _, f := range formats {
		container := "ts"
		if f == jobs.FormatHLSv7 || f == jobs.FormatDASH {
			container = "fmp4"
		}
		keys := byContainer[container]
		if len(keys) == 0 {
			return nil, fmt.Errorf("--playlist-format %s needs %s presets; none of the presets given is one", f, container)
		}
		n, err := playlistName(name, input, keys)
		if err != nil {
			return nil, err
		}
		pls = append(pls, jobs.PlaylistRequest{Name: n, Format: f, OutputKeys: keys})
	}
	return pls, nil
}

// parsePlaylistFormats reads --playlist-format values: our short names or
// Elastic Transcoder's, in any case; "none" alone means no playlist (nil).
func parsePlaylistFormats(values []string) ([]string, error) {
	names := map[string]string{
		"hlsv3": jobs.FormatHLSv3, "hlsv4": jobs.FormatHLSv4, "hlsv7": jobs.FormatHLSv7, "dash": jobs.FormatDASH,
		"mpeg-dash": jobs.FormatDASH,
	}
	var out []string
	for _, v := range values {
		l := strings.ToLower(strings.TrimSpace(v))
		if l == "none" {
			if len(values) > 1 {
				return nil, fmt.Errorf("--playlist-format none cannot be combined with other formats")
			}
			return nil, nil
		}
		f, ok := names[l]
		if !ok {
			return nil, fmt.Errorf("--playlist-format %q: allowed: hlsv3, hlsv4, hlsv7, dash, none", v)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// playlistName expands --playlist, or names the playlist after the input
// in the deepest directory that holds all of its outputs, which Elastic
// Transcoder's prefix rule requires.
func playlistName(tmpl, input string, keys []string) (string, error) {
	d := jobs.NewKeyData(inputKey(input), &presets.Preset{}, true)
	if tmpl != "" {
		return jobs.ExpandKey(tmpl, d)
	}
	dir := path.Dir(keys[0])
	for _, k := range keys[1:] {
		for dir != "." && !strings.HasPrefix(k, dir+"/") {
			dir = path.Dir(dir)
		}
	}
	if dir == "." {
		return d.Base, nil
	}
	return dir + "/" + d.Base, nil
}

// expandPresets expands ladders and names every output; it also says
// whether a ladder was among the presets.
func expandPresets(reg *presets.Registry, o *transcodeOptions, input string) ([]jobs.OutputRequest, bool, error) {
	var out []jobs.OutputRequest
	ladder := false
	for _, ref := range o.presets {
		p, err := reg.Lookup(ref)
		if err != nil {
			return nil, false, err
		}
		rungs, err := reg.Rungs(p)
		if err != nil {
			return nil, false, err
		}
		ladder = ladder || p.IsLadder()
		for _, r := range rungs {
			segmented := o.segmentDuration != "" && (r.Container == "ts" || r.Container == "fmp4")
			d := jobs.NewKeyData(inputKey(input), r, segmented)
			d.Index = len(out) + 1
			key, err := jobs.ExpandKey(o.keyTemplate, d)
			if err != nil {
				return nil, false, err
			}
			req := jobs.OutputRequest{Key: key, Preset: r, Rotate: o.rotate, Rung: p.IsLadder()}
			if segmented {
				req.SegmentDuration = o.segmentDuration
			}
			if (o.thumbnails || o.thumbnailPattern != "") && r.Thumbnails != nil {
				tmpl := o.thumbnailPattern
				if tmpl == "" {
					tmpl = jobs.DefaultThumbnailTemplate
				}
				if req.ThumbnailPattern, err = jobs.ExpandKey(tmpl, d); err != nil {
					return nil, false, err
				}
			}
			out = append(out, req)
		}
	}
	if o.segmentDuration != "" && !slices.ContainsFunc(out, func(r jobs.OutputRequest) bool { return r.SegmentDuration != "" }) {
		return nil, false, fmt.Errorf("--segment-duration applies to ts and fmp4 presets (HLS); none of the presets given is one")
	}
	return out, ladder, nil
}

// inputKey is the input's key for key templates: the path of a local file,
// the key inside the bucket of a URL.
func inputKey(input string) string {
	if strings.Contains(input, "://") {
		if loc, err := storage.ParseURL(input); err == nil && loc.Store != storage.StoreFile {
			return loc.Prefix
		}
	}
	return filepath.ToSlash(input)
}

// parseClip reads Elastic Transcoder's TimeSpan forms: seconds with up to
// three decimals, or HH:mm:ss.SSS.
func parseClip(start, duration string) (*jobs.Clip, error) {
	c, err := (&jobs.TimeSpan{StartTime: start, Duration: duration}).Clip()
	if err != nil {
		// The flags' names, not the API's.
		flags := strings.NewReplacer("timeSpan.startTime", "--start", "timeSpan.duration", "--duration")
		return nil, errors.New(flags.Replace(err.Error()))
	}
	return c, nil
}

func printOutputs(w io.Writer, dir string, job *jobs.Job) error {
	var rows [][]string
	v4 := map[string]bool{} // outputs written as KEY_v4.m3u8 + KEY.ts
	for _, p := range job.Playlists {
		for _, k := range p.OutputKeys {
			v4[k] = v4[k] || p.Format == jobs.FormatHLSv4
		}
	}
	for _, o := range job.Outputs {
		size := "-"
		if o.Width > 0 {
			size = fmt.Sprintf("%dx%d", o.Width, o.Height)
		}
		rate := "-"
		if o.DurationMillis > 0 && o.FileSize > 0 {
			rate = fmt.Sprintf("%d kbit/s", o.FileSize*8/o.DurationMillis)
		}
		key := o.Key
		switch {
		case v4[o.Key]:
			key += "_v4.m3u8"
		case o.SegmentDuration != "":
			key += ".m3u8"
		}
		rows = append(rows, []string{joinLocation(dir, key), size, fmt.Sprintf("%.3fs", float64(o.DurationMillis)/1000), humanBytes(o.FileSize), rate})
	}
	for _, p := range job.Playlists {
		file := jobs.PlaylistRequest{Name: p.Name, Format: p.Format}.File()
		rows = append(rows, []string{joinLocation(dir, file), p.Format, fmt.Sprintf("%d outputs", len(p.OutputKeys)), "-", "-"})
	}
	return writeTable(w, []string{"OUTPUT", "SIZE", "DURATION", "FILE SIZE", "BITRATE"}, rows)
}

func joinLocation(dir, key string) string {
	if strings.Contains(dir, "://") {
		return strings.TrimSuffix(dir, "/") + "/" + key
	}
	return filepath.Join(dir, key)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// shellQuote renders argv so that it can be pasted into a POSIX shell.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:+,@%") == "" {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// progressView draws a progress bar on a terminal, plain lines elsewhere,
// and nothing when the output is JSON for a program.
type progressView struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	quiet    bool
	lastLine time.Time
}

func newProgressView(w io.Writer, quiet bool) *progressView {
	v := &progressView{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !quiet {
		v.bar = progressbar.NewOptions(1000,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("transcoding"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	return v
}

func (v *progressView) update(p ffmpeg.Progress) {
	if v.quiet {
		return
	}
	eta := "?"
	if p.Done {
		eta = "0s"
	} else if p.ETA > 0 {
		eta = p.ETA.Round(time.Second).String()
	}
	if v.bar != nil {
		v.bar.Describe(fmt.Sprintf("transcoding %5.1fx  ETA %s", p.Speed, eta))
		_ = v.bar.Set(int(p.Percent * 10))
		return
	}
	if time.Since(v.lastLine) < 2*time.Second && !p.Done {
		return
	}
	v.lastLine = time.Now()
	fmt.Fprintf(v.w, "progress: %5.1f%%  speed %.2fx  ETA %s\n", p.Percent, p.Speed, eta)
}

func (v *progressView) finish(ok bool) {
	if v.bar != nil {
		if ok {
			_ = v.bar.Finish()
		} else {
			_ = v.bar.Exit()
		}
		fmt.Fprintln(v.w)
	}
}

func completePresets(g *globalOptions) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		r, err := g.registry()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var out []string
		for _, p := range r.List("") {
			out = append(out, p.Alias()+"\t"+p.Name)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}
