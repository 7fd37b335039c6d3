package jobs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/transcoder/transcoder/internal/ffmpeg"
)

// ErrOutputExists is wrapped when an output is already there and may not
// be overwritten: Elastic Transcoder's error 3002.
var ErrOutputExists = errors.New("output already exists")

// Runner runs ffmpeg; *ffmpeg.Tools satisfies it.
type Runner interface {
	Run(ctx context.Context, args []string, opts ffmpeg.RunOptions) error
}

// ExecOptions tune how a plan runs.
type ExecOptions struct {
	StallTimeout time.Duration
	GracePeriod  time.Duration
	// OnProgress receives progress over the whole plan (all commands).
	OnProgress func(ffmpeg.Progress)
	// AfterCommand, when set, runs after each command has succeeded, with
	// the outputs it wrote, so that they can be checked and published
	// while the next command runs; an error stops the plan.
	AfterCommand func(ctx context.Context, c Command) error
}

// Execute runs every command of the plan in turn. The outputs are written
// under the plan's Dir; on error nothing there should be trusted.
func Execute(ctx context.Context, r Runner, plan *Plan, opts ExecOptions) error {
	for _, o := range plan.Outputs {
		// ffmpeg creates no directories. Files() are patterns; the part
		// before the first pattern character is a literal path.
		for _, f := range o.Files() {
			if err := os.MkdirAll(filepath.Join(planDir(plan), filepath.FromSlash(path.Dir(literalPrefix(f)))), 0o755); err != nil {
				return fmt.Errorf("prepare output directory: %w", err)
			}
		}
	}
	n := len(plan.Commands)
	for i, c := range plan.Commands {
		runOpts := ffmpeg.RunOptions{
			Duration:     plan.Duration,
			StallTimeout: opts.StallTimeout,
			GracePeriod:  opts.GracePeriod,
		}
		if opts.OnProgress != nil {
			runOpts.OnProgress = func(p ffmpeg.Progress) {
				// Scale each command's share into the whole.
				p.Percent = (float64(i)*100 + p.Percent) / float64(n)
				if p.ETA > 0 {
					p.ETA += time.Duration(n-1-i) * plan.Duration
				}
				p.Done = p.Done && i == n-1
				opts.OnProgress(p)
			}
		}
		if err := r.Run(ctx, c.Args, runOpts); err != nil {
			return err
		}
		if opts.AfterCommand != nil {
			if err := opts.AfterCommand(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

func planDir(p *Plan) string { return p.Dir }

// Collect returns the files one output wrote under dir, relative to it:
// segments and init segments first, then thumbnails, then the main file
// (the playlist of a segmented output) last, the order in which they can
// be published so that nothing visible points at a missing file.
func (o *PlannedOutput) Collect(dir string) (media []string, thumbs []string, err error) {
	glob := func(pattern string) ([]string, error) {
		// Relative to dir, so that the directory's own name is never read
		// as a pattern.
		m, err := fs.Glob(os.DirFS(dir), pattern)
		slices.Sort(m)
		return m, err
	}
	if o.InitSegment != "" {
		media = append(media, o.InitSegment)
	}
	if o.SegmentPattern != "" {
		segs, err := glob(o.SegmentPattern)
		if err != nil {
			return nil, nil, err
		}
		if len(segs) == 0 {
			return nil, nil, fmt.Errorf("output %s: ffmpeg wrote no segments", o.Main)
		}
		media = append(media, segs...)
	}
	if o.MediaFile != "" {
		media = append(media, o.MediaFile)
	}
	if o.IFramePlaylist != "" {
		media = append(media, o.IFramePlaylist)
	}
	media = append(media, o.Main)
	for _, f := range media {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
			return nil, nil, fmt.Errorf("output %s: %w", o.Main, err)
		}
	}
	if o.ThumbnailGlob != "" {
		thumbs, err = glob(o.ThumbnailGlob)
		if err != nil {
			return nil, nil, err
		}
	}
	return media, thumbs, nil
}

// CheckNotExists returns ErrOutputExists (3002) when any file an output
// would write is already in dir.
func (o *PlannedOutput) CheckNotExists(dir string) error {
	for _, pattern := range o.Files() {
		m, err := fs.Glob(os.DirFS(dir), pattern)
		if err != nil {
			return err
		}
		if len(m) > 0 {
			return fmt.Errorf("%w: %s (use --overwrite to replace it)", ErrOutputExists, filepath.Join(dir, filepath.FromSlash(m[0])))
		}
	}
	return nil
}

// PublishLocal moves an output's files from the staging directory into
// dest, thumbnails and segments before the file players open, each by an
// atomic rename, so that a reader never sees a half-written file.
func PublishLocal(staging, dest string, files []string) error {
	for _, f := range files {
		from := filepath.Join(staging, filepath.FromSlash(f))
		to := filepath.Join(dest, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("publish %s: %w", f, err)
		}
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("publish %s: %w", f, err)
		}
	}
	return nil
}
