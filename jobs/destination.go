package jobs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/transcoder/transcoder/internal/storage"
)

// destination is where some of a job's files go: a local directory or a
// bucket.
type destination struct {
	dir    string         // a local directory, or
	bucket storage.Bucket // a bucket location
}

func openDestination(stores BucketOpener, raw string) (destination, error) {
	if isLocal(raw) {
		return destination{dir: strings.TrimPrefix(raw, "file://")}, nil
	}
	b, err := stores.OpenURL(raw)
	if err != nil {
		return destination{}, fmt.Errorf("%s: %w", raw, err)
	}
	return destination{bucket: b}, nil
}

func (d destination) String() string {
	if d.bucket != nil {
		return d.bucket.String()
	}
	return d.dir
}

// checkFree returns ErrOutputExists (3002) when a file matching any of
// the glob patterns exists already.
func (d destination) checkFree(ctx context.Context, patterns []string) error {
	for _, pattern := range patterns {
		if d.bucket == nil {
			m, err := fs.Glob(os.DirFS(d.dir), pattern)
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			if len(m) > 0 {
				return fmt.Errorf("%w: %s", ErrOutputExists, filepath.Join(d.dir, filepath.FromSlash(m[0])))
			}
			continue
		}
		for info, err := range d.bucket.List(ctx, literalPrefix(pattern)) {
			if err != nil {
				return fmt.Errorf("check outputs in %s: %w", d.bucket, err)
			}
			if ok, _ := path.Match(pattern, info.Key); ok {
				return fmt.Errorf("%w: %s/%s", ErrOutputExists, strings.TrimSuffix(d.bucket.String(), "/"), info.Key)
			}
		}
	}
	return nil
}

// put publishes files from staging.
func (d destination) put(ctx context.Context, staging string, files []string) error {
	if len(files) == 0 {
		return nil
	}
	if d.bucket != nil {
		return upload(ctx, d.bucket, staging, files)
	}
	return PublishLocal(staging, d.dir, files)
}

// remove deletes published files, best effort (a cleanup after a failure).
func (d destination) remove(ctx context.Context, files []string) {
	for _, f := range files {
		if d.bucket != nil {
			_ = d.bucket.Delete(ctx, f)
		} else {
			_ = os.Remove(filepath.Join(d.dir, filepath.FromSlash(f)))
		}
	}
}

// transcodeSplit runs a job whose thumbnails go to a location of their
// own (Elastic Transcoder's ThumbnailConfig beside ContentConfig): every
// output is staged locally, then its thumbnails are published to one
// location and everything else to the other.
func transcodeSplit(ctx context.Context, tools Tools, stores BucketOpener, req TranscodeRequest, lr LocalRequest, tmp string) (*Job, error) {
	out, err := openDestination(stores, req.OutputURL)
	if err != nil {
		return inputFailed(req, fmt.Errorf("output %w", err))
	}
	thumbs, err := openDestination(stores, req.ThumbnailURL)
	if err != nil {
		return inputFailed(req, fmt.Errorf("thumbnails %w", err))
	}
	lr.OutputDir = filepath.Join(tmp, "out") // holds only the staging directory
	overwrite := lr.Overwrite
	lr.Overwrite = true // the local directory is new; the destinations are checked below
	var plan *Plan
	var checkErr error
	onPlan := lr.OnPlan
	lr.OnPlan = func(p *Plan) bool {
		plan = p
		if !overwrite {
			var media, pics []string
			for _, o := range p.Outputs {
				for _, f := range o.Files() {
					if f == o.ThumbnailGlob {
						pics = append(pics, f)
					} else {
						media = append(media, f)
					}
				}
			}
			for _, pl := range p.Playlists {
				media = append(media, globEscape(pl.File))
			}
			if checkErr = out.checkFree(ctx, media); checkErr == nil {
				checkErr = thumbs.checkFree(ctx, pics)
			}
			if checkErr != nil {
				return false
			}
		}
		return onPlan == nil || onPlan(p)
	}
	lr.Publish = func(ctx context.Context, staging string, files []string) error {
		var media, pics []string
		for _, f := range files {
			if isThumbnail(plan, f) {
				pics = append(pics, f)
			} else {
				media = append(media, f)
			}
		}
		if err := thumbs.put(ctx, staging, pics); err != nil {
			return err
		}
		if err := out.put(ctx, staging, media); err != nil {
			// The output failed: its thumbnails must not stay behind.
			thumbs.remove(context.WithoutCancel(ctx), pics)
			return err
		}
		return nil
	}
	job, err := TranscodeLocal(ctx, tools, lr)
	if job != nil && job.Input != nil {
		job.Input.Key = req.InputURL
	}
	if checkErr != nil {
		return failJob(job, checkErr)
	}
	return job, err
}

// isThumbnail reports whether a staged file is one of a plan's thumbnails.
func isThumbnail(p *Plan, file string) bool {
	if p == nil {
		return false
	}
	for _, o := range p.Outputs {
		if o.ThumbnailGlob != "" {
			if ok, _ := path.Match(o.ThumbnailGlob, file); ok {
				return true
			}
		}
	}
	return false
}
