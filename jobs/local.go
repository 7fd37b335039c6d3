package jobs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
)

// Prober reads an input's properties; ffmpeg.Tools satisfies it.
type Prober interface {
	Probe(ctx context.Context, input string) (*ffmpeg.ProbeResult, error)
}

// Tools is what a local transcode needs from ffmpeg.
type Tools interface {
	Runner
	Prober
}

// LocalRequest is a transcode from a local file into a local directory:
// the terminal's one-off job.
type LocalRequest struct {
	Input     string // path of the input file
	OutputDir string
	Outputs   []OutputRequest
	// Playlists over the outputs (master playlists, DASH manifests); they
	// are checked before anything else and written after every output.
	Playlists []PlaylistRequest
	Clip      *Clip
	Overwrite bool
	Isolate   bool
	Caps      Capabilities
	Exec      ExecOptions
	// OnPlan, when set, sees the plan before anything runs; returning
	// false stops there (a dry run).
	OnPlan func(*Plan) bool
	// Publish, when set, delivers one checked output's files (relative to
	// staging, media first, playlists last) instead of moving them into
	// OutputDir: Transcode uploads them to a bucket.
	Publish func(ctx context.Context, staging string, files []string) error
	// JobID, when set, is the job's ID (a queued job's); else a new one.
	// It names the staging directory, so a retry can find and remove
	// what a crashed attempt left.
	JobID string
	// OnPublished, when set, is told each output's files (relative to the
	// output directory or bucket) once they are published, so that a
	// cancelled job can remove what it had already delivered.
	OnPublished func(files []string)
	// BeforeRun, when set, is called once the outputs are known to be free
	// (or Overwrite is set) and before ffmpeg starts; an error fails the
	// job. A queued job records there that its outputs were checked, so a
	// retry after a crash may overwrite what its own first attempt wrote.
	BeforeRun func(ctx context.Context) error
}

// TranscodeLocal probes the input, plans, runs ffmpeg into a staging
// directory beside the outputs, and moves finished files into place, so
// that an interrupted or failed job leaves nothing behind that looks
// complete. It returns the job in Elastic Transcoder's shape; on error the
// job (when not nil) says which output failed and why.
func TranscodeLocal(ctx context.Context, tools Tools, req LocalRequest) (*Job, error) {
	job := newJob(req.Input, req.Outputs)
	if req.JobID != "" {
		job.ID = req.JobID
	}
	if req.Clip != nil {
		job.Input.TimeSpan = &TimeSpan{StartTime: seconds(req.Clip.Start)}
		if req.Clip.Duration > 0 {
			job.Input.TimeSpan.Duration = seconds(req.Clip.Duration)
		}
	}
	job.Playlists = jobPlaylists(req.Playlists)
	fail := func(err error) (*Job, error) {
		failPlaylists(job, err)
		return failJob(job, err)
	}

	// Elastic Transcoder refused a bad playlist when the job was created,
	// so this comes before anything that takes time.
	if err := ValidatePlaylists(req.Outputs, req.Playlists); err != nil {
		return fail(err)
	}
	if err := checkTools(tools); err != nil {
		return fail(err)
	}
	if _, err := os.Stat(req.Input); err != nil {
		// Name the file once: "input x.mp4: no such file or directory".
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fail(fmt.Errorf("input %s: %w", req.Input, err))
	}
	probe, err := tools.Probe(ctx, req.Input)
	if err != nil {
		return fail(err)
	}
	job.Input.DetectedProperties = Detected(probe)
	if kept := DropRungsAboveSource(req.Outputs, probe); len(kept) < len(req.Outputs) {
		req.Outputs = kept
		job.Outputs = jobOutputs(kept)
		if req.Playlists, err = PrunePlaylists(req.Playlists, kept); err != nil {
			return fail(err)
		}
		job.Playlists = jobPlaylists(req.Playlists)
	}

	// A job that fails, is cancelled or is a dry run leaves nothing
	// behind, not even the directories it made to write into (Remove
	// keeps one if anything else has been put there meanwhile). This runs
	// after the staging directory's removal below.
	var made []string // what MkdirAll is about to create, deepest first
	for d := filepath.Clean(req.OutputDir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) || filepath.Dir(d) == d {
			break
		}
		made = append(made, d)
	}
	defer func() {
		for _, d := range made {
			if job.Status == StatusComplete || os.Remove(d) != nil {
				break
			}
		}
	}()
	if err := os.MkdirAll(req.OutputDir, 0o755); err != nil {
		return fail(fmt.Errorf("output directory: %w", err))
	}
	staging, err := os.MkdirTemp(req.OutputDir, ".transcoder-"+job.ID+"-")
	if err != nil {
		return fail(fmt.Errorf("output directory: %w", err))
	}
	defer os.RemoveAll(staging)

	plan, err := BuildPlan(PlanRequest{
		Input: req.Input, Probe: probe, Clip: req.Clip, Outputs: req.Outputs, Dir: staging,
		Isolate: req.Isolate, Caps: req.Caps, Playlists: req.Playlists,
	})
	if err != nil {
		return fail(err)
	}
	for i := range plan.Outputs {
		job.Outputs[i].Warnings = plan.Outputs[i].Warnings
	}
	if req.OnPlan != nil && !req.OnPlan(plan) {
		return job, nil
	}
	if !req.Overwrite {
		for i := range plan.Outputs {
			if err := plan.Outputs[i].CheckNotExists(req.OutputDir); err != nil {
				return fail(err)
			}
		}
		if err := checkPlaylistsFree(req.OutputDir, plan); err != nil {
			return fail(err)
		}
	}

	if req.BeforeRun != nil {
		if err := req.BeforeRun(ctx); err != nil {
			return fail(err)
		}
	}
	job.Status = StatusProgressing
	job.Timing.StartTimeMillis = Millis(time.Now())
	for _, o := range job.Outputs {
		o.Status = StatusProgressing
	}
	for _, p := range job.Playlists {
		p.Status = StatusProgressing
	}
	// Each command's outputs are checked and published as soon as it has
	// finished (with --isolate, while the next output encodes).
	publish := req.Publish
	if publish == nil {
		publish = func(_ context.Context, staging string, files []string) error {
			return PublishLocal(staging, req.OutputDir, files)
		}
	}
	execOpts := req.Exec
	rends := make([]*rendition, len(plan.Outputs))
	execOpts.AfterCommand = func(ctx context.Context, c Command) error {
		return finishOutputs(ctx, tools, req.Input, plan, staging, c.Outputs, job, rends, publish, req.OnPublished)
	}
	if err := Execute(ctx, tools, plan, execOpts); err != nil {
		return fail(err)
	}
	// Playlists last, when everything they name has been published.
	if err := publishPlaylists(ctx, staging, plan, rends, job, publish, req.OnPublished); err != nil {
		return fail(err)
	}
	job.Status = StatusComplete
	job.Timing.FinishTimeMillis = Millis(time.Now())
	return job, nil
}

// finishOutputs checks the given outputs of a plan, all of them before
// any is published, then publishes each (media before playlists) and marks
// it Complete.
func finishOutputs(ctx context.Context, tools Tools, input string, plan *Plan, staging string, idx []int, job *Job,
	rends []*rendition, publish func(ctx context.Context, staging string, files []string) error, onPublished func([]string)) error {
	listed := listedOutputs(plan)
	files := make([][]string, len(idx))
	errs := make([]error, len(idx))
	// The outputs are read back at the same time: each check is an ffprobe
	// process whose start-up, not its work, is most of its cost.
	var wg sync.WaitGroup
	for k, i := range idx {
		wg.Go(func() {
			po := &plan.Outputs[i]
			var iframes []segment
			var err error
			if po.IFramePlaylist != "" {
				iframes, err = writeIFramePlaylist(staging, po)
			}
			var media, thumbs []string
			if err == nil {
				media, thumbs, err = po.Collect(staging)
			}
			var pr *ffmpeg.ProbeResult
			if err == nil {
				pr, err = describeOutput(ctx, tools, staging, po, media, job.Outputs[i])
			}
			if err == nil {
				err = checkDuration(input, po, job.Outputs[i], plan.Duration)
			}
			if err == nil && listed[i] {
				// Read while the files are still in staging: published
				// files may be in a bucket by the time playlists are made.
				rends[i], err = analyzeOutput(staging, po, job.Outputs[i], pr)
				if err == nil {
					rends[i].iframes = iframes
				}
			}
			files[k], errs[k] = append(thumbs, media...), err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for k, i := range idx {
		if err := publish(ctx, staging, files[k]); err != nil {
			return err
		}
		if onPublished != nil {
			onPublished(files[k])
		}
		job.Outputs[i].Status = StatusComplete
	}
	return nil
}

// checkTools fails early, with ffmpeg.Locate's install hint, when the
// binaries of an ffmpeg.Tools are not there. Without it the first probe
// fails with a bare "no such file or directory", which reads, and is
// coded (3001), as if the input were missing.
func checkTools(tools Tools) error {
	var t ffmpeg.Tools
	switch v := tools.(type) {
	case ffmpeg.Tools:
		t = v
	case *ffmpeg.Tools:
		t = *v
	default:
		return nil // another implementation (a test double) checks itself
	}
	if t.FFmpeg == "" || t.FFprobe == "" {
		return fmt.Errorf("%w: no ffmpeg or ffprobe path given (use ffmpeg.Locate)", ffmpeg.ErrNotFound)
	}
	_, err := ffmpeg.Locate(t.FFmpeg, t.FFprobe)
	return err
}

// describeOutput fills an output's measured properties: from ffprobe for
// a single file; for a segmented output from its playlist (duration), its
// files (size) and its first segment, behind its init segment for fmp4
// (picture). It returns the probe, which playlists read codecs from.
func describeOutput(ctx context.Context, p Prober, dir string, po *PlannedOutput, media []string, out *JobOutput) (*ffmpeg.ProbeResult, error) {
	abs := func(f string) string { return filepath.Join(dir, filepath.FromSlash(f)) }
	if po.Request.Preset != nil && po.Request.Preset.Container == "webp" {
		// ffprobe cannot read it back: ffmpeg 5.1 has no decoder for
		// animated WebP (and webp is not an allowed input format).
		return &ffmpeg.ProbeResult{}, describeWebP(abs(po.Main), out)
	}
	target := po.Main
	if po.Segmented {
		d, err := playlistDuration(abs(po.Main))
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", po.Main, err)
		}
		out.DurationMillis = d.Milliseconds()
		out.Duration = int64(d.Round(time.Second) / time.Second)
		for _, f := range media {
			if st, err := os.Stat(abs(f)); err == nil {
				out.FileSize += st.Size()
			}
		}
		target = media[0] // the first segment, or the single byte-ranged file
		if po.InitSegment != "" && len(media) > 1 {
			// An init segment alone has no frame rate (ffprobe reports its
			// timescale); with its first segment it is a playable file.
			joined, err := joinInit(dir, abs(media[0]), abs(media[1]))
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", po.Main, err)
			}
			defer os.Remove(joined)
			target = filepath.Base(joined)
		}
	}
	pr, err := p.Probe(ctx, abs(target))
	if err != nil {
		return nil, fmt.Errorf("output %s was written but cannot be read back: %w", po.Main, err)
	}
	if !po.Segmented {
		out.DurationMillis = pr.Duration.Milliseconds()
		out.Duration = int64(pr.Duration.Round(time.Second) / time.Second)
		out.FileSize = pr.Size
	}
	out.Width, out.Height, out.FrameRate = picture(pr)
	return pr, nil
}

// joinInit writes an init segment followed by a media segment into a
// hidden file in dir (which no output pattern matches) and returns its
// path.
func joinInit(dir, init, seg string) (string, error) {
	f, err := os.CreateTemp(dir, ".probe-*.mp4")
	if err != nil {
		return "", err
	}
	for _, part := range []string{init, seg} {
		data, err := os.ReadFile(part)
		if err == nil {
			_, err = f.Write(data)
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return "", err
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// picture is the displayed size and frame rate of a probed file's video,
// zero values without video.
func picture(pr *ffmpeg.ProbeResult) (w, h int64, rate string) {
	v := pr.Video()
	if v == nil {
		return 0, 0, ""
	}
	dw, dh := v.DisplaySize()
	if v.FrameRate > 0 {
		rate = strconv.FormatFloat(v.FrameRate, 'f', 3, 64)
	}
	return int64(dw), int64(dh), rate
}

// describeWebP reads an animated WebP's canvas size, frame durations and
// file size from its RIFF chunks (VP8X, then one ANMF per frame).
func describeWebP(file string, out *JobOutput) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return errors.New("not a WebP file")
	}
	u24 := func(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }
	var total time.Duration
	frames := 0
	for b := data[12:]; len(b) >= 8; {
		id, n := string(b[0:4]), int(binary.LittleEndian.Uint32(b[4:8]))
		if n > len(b)-8 {
			return fmt.Errorf("WebP chunk %q is cut short", id)
		}
		body := b[8 : 8+n]
		switch {
		case id == "VP8X" && n >= 10:
			out.Width, out.Height = int64(u24(body[4:])+1), int64(u24(body[7:])+1)
		case id == "ANMF" && n >= 16:
			total += time.Duration(u24(body[12:])) * time.Millisecond
			frames++
		}
		b = b[8+n+n%2:] // chunks are padded to even sizes
	}
	if out.Width == 0 || frames == 0 {
		return errors.New("not an animated WebP (no VP8X or ANMF chunk)")
	}
	out.FileSize = int64(len(data))
	out.DurationMillis = total.Milliseconds()
	out.Duration = int64(total.Round(time.Second) / time.Second)
	if total > 0 {
		out.FrameRate = strconv.FormatFloat(float64(frames)/total.Seconds(), 'f', 3, 64)
	}
	return nil
}

// playlistDuration adds up the #EXTINF durations of an HLS media playlist.
func playlistDuration(path string) (time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "#EXTINF:"); ok {
			v, _, _ = strings.Cut(v, ",")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("bad #EXTINF line %q", line)
			}
			total += f
		}
	}
	return time.Duration(total * float64(time.Second)), nil
}

// checkDuration refuses an output much shorter than the input promised:
// ffmpeg ends without an error when a file is cut short (a truncated
// upload), and such an output must not be published as complete.
func checkDuration(input string, po *PlannedOutput, out *JobOutput, want time.Duration) error {
	if want <= 0 || (!po.HasVideo && !po.HasAudio) {
		return nil
	}
	got := time.Duration(out.DurationMillis) * time.Millisecond
	// Streams of one file rarely end together, and encoders add or drop a
	// few frames; a truncated file loses far more than this.
	slack := max(want/10, 500*time.Millisecond)
	if got+slack < want {
		return badRequest("input %s ends early: output %s lasts %s where %s was expected; the input is probably truncated or damaged",
			input, po.Main, got.Round(time.Millisecond), want.Round(time.Millisecond))
	}
	return nil
}

// Detected converts a probe into Elastic Transcoder's DetectedProperties.
func Detected(p *ffmpeg.ProbeResult) *DetectedProperties {
	d := &DetectedProperties{FileSize: p.Size, DurationMillis: p.Duration.Milliseconds()}
	d.Width, d.Height, d.FrameRate = picture(p)
	return d
}

// StatusDetail renders an error as Elastic Transcoder's StatusDetail:
// "CODE MESSAGE", with its numeric codes (3001 input missing, 3002 output
// exists, 3003 access denied, 3005 no such bucket, 3000 other storage
// trouble, 4000 bad input, 9000 internal).
func StatusDetail(err error) string {
	code := 9000
	switch {
	case errors.Is(err, ErrOutputExists):
		code = 3002
	case errors.Is(err, os.ErrNotExist), errors.Is(err, storage.ErrNotFound):
		code = 3001
	case errors.Is(err, storage.ErrAccessDenied):
		code = 3003
	case errors.Is(err, storage.ErrNoSuchBucket):
		code = 3005
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, storage.ErrInvalidKey):
		code = 3000
	case errors.Is(err, ErrBadRequest), errors.Is(err, ffmpeg.ErrInvalidMedia), errors.Is(err, ffmpeg.ErrFormatNotAllowed):
		code = 4000
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	return fmt.Sprintf("%d %s", code, err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
