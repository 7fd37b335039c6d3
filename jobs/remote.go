package jobs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/transcoder/transcoder/internal/storage"
)

// BucketOpener opens storage locations by URL; *storage.Stores satisfies
// it.
type BucketOpener interface {
	OpenURL(raw string) (storage.Bucket, error)
}

// TranscodeRequest is a transcode whose input and output may be local
// paths or bucket URLs (s3://bucket/key, NAME://bucket/key, file:///dir).
type TranscodeRequest struct {
	LocalRequest
	// InputURL is the input object; Input in LocalRequest is ignored.
	InputURL string
	// OutputURL is where outputs go; OutputDir in LocalRequest is ignored.
	OutputURL string
	// WorkDir holds the downloaded input and the staging of bucket
	// outputs; empty means the system's temporary directory.
	WorkDir string
	// ThumbnailURL, when set and not OutputURL, is where thumbnails go
	// (Elastic Transcoder's ThumbnailConfig); everything else goes to
	// OutputURL.
	ThumbnailURL string
}

// isLocal reports whether a location names this machine's file system.
func isLocal(raw string) bool {
	return !strings.Contains(raw, "://") || strings.HasPrefix(raw, "file://")
}

// Transcode runs a job between buckets. A remote input is downloaded
// into a temporary file first (streamed, so memory stays flat): for a
// whole-file transcode on a local network this measured faster than
// letting ffmpeg read it over HTTP (docs/benchmarks.md), and ffmpeg keeps
// reading only local files. Remote outputs are encoded into a local
// staging directory, checked, and uploaded as each is finished, media
// first and playlists last.
func Transcode(ctx context.Context, tools Tools, stores BucketOpener, req TranscodeRequest) (*Job, error) {
	lr := req.LocalRequest
	tmp, err := os.MkdirTemp(req.WorkDir, "transcoder-job-")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	inputName := req.InputURL
	if isLocal(req.InputURL) {
		lr.Input = strings.TrimPrefix(req.InputURL, "file://")
	} else {
		lr.Input, err = download(ctx, stores, req.InputURL, filepath.Join(tmp, "input"))
		if err != nil {
			return inputFailed(req, err)
		}
	}

	if req.ThumbnailURL != "" && req.ThumbnailURL != req.OutputURL {
		job, err := transcodeSplit(ctx, tools, stores, req, lr, tmp)
		if job != nil && job.Input != nil {
			job.Input.Key = inputName
		}
		return job, err
	}
	if isLocal(req.OutputURL) {
		lr.OutputDir = strings.TrimPrefix(req.OutputURL, "file://")
		job, err := TranscodeLocal(ctx, tools, lr)
		if job != nil && job.Input != nil {
			job.Input.Key = inputName
		}
		return job, err
	}

	out, err := stores.OpenURL(req.OutputURL)
	if err != nil {
		return inputFailed(req, fmt.Errorf("output %s: %w", req.OutputURL, err))
	}
	lr.OutputDir = filepath.Join(tmp, "out") // holds only the staging directory
	overwrite := lr.Overwrite
	lr.Overwrite = true // the local directory is new; the bucket is checked below
	var checkErr error
	onPlan := lr.OnPlan
	lr.OnPlan = func(p *Plan) bool {
		if !overwrite {
			checkErr = checkBucketFree(ctx, out, p)
			if checkErr != nil {
				return false
			}
		}
		return onPlan == nil || onPlan(p)
	}
	lr.Publish = func(ctx context.Context, staging string, files []string) error {
		return upload(ctx, out, staging, files)
	}
	job, err := TranscodeLocal(ctx, tools, lr)
	if job != nil && job.Input != nil {
		job.Input.Key = inputName
	}
	if checkErr != nil {
		return failJob(job, checkErr)
	}
	return job, err
}

// download copies an object to a local file and returns the file's path,
// named after the object so that ffmpeg and key templates see its name.
func download(ctx context.Context, stores BucketOpener, raw, dir string) (string, error) {
	loc, err := storage.ParseURL(raw)
	if err != nil {
		return "", err
	}
	key := path.Base(loc.Prefix)
	if loc.Prefix == "" || strings.HasSuffix(loc.Prefix, "/") {
		return "", fmt.Errorf("input %s names a prefix, not an object", raw)
	}
	dirURL := strings.TrimSuffix(raw, key)
	b, err := stores.OpenURL(dirURL)
	if err != nil {
		return "", fmt.Errorf("input %s: %w", raw, err)
	}
	rc, err := b.Open(ctx, key, 0, -1)
	if err != nil {
		return "", fmt.Errorf("input: %w", err)
	}
	defer rc.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	local := filepath.Join(dir, filepath.Base(key))
	f, err := os.Create(local)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return "", fmt.Errorf("download %s: %w", raw, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("download %s: %w", raw, err)
	}
	return local, nil
}

// checkBucketFree returns ErrOutputExists (3002) when any object an output
// would write is already in the bucket.
func checkBucketFree(ctx context.Context, b storage.Bucket, p *Plan) error {
	outs := slices.Clone(p.Outputs)
	for _, pl := range p.Playlists {
		// A playlist is one more file, escaped like a key by Files.
		outs = append(outs, PlannedOutput{Main: pl.File})
	}
	for _, o := range outs {
		for _, pattern := range o.Files() {
			for info, err := range b.List(ctx, literalPrefix(pattern)) {
				if err != nil {
					return fmt.Errorf("check outputs in %s: %w", b, err)
				}
				if ok, _ := path.Match(pattern, info.Key); ok {
					return fmt.Errorf("%w: %s/%s (use --overwrite to replace it)", ErrOutputExists, strings.TrimSuffix(b.String(), "/"), info.Key)
				}
			}
		}
	}
	return nil
}

// upload puts one output's files into the bucket, playlists last, so that
// a visible playlist never names a missing segment. If an upload fails,
// the files of this output already uploaded are deleted again, so that no
// partial output looks complete.
func upload(ctx context.Context, b storage.Bucket, dir string, files []string) error {
	files = slices.Clone(files)
	isPlaylist := func(f string) bool { return strings.HasSuffix(f, ".m3u8") || strings.HasSuffix(f, ".mpd") }
	slices.SortStableFunc(files, func(a, b string) int {
		switch pa, pb := isPlaylist(a), isPlaylist(b); {
		case pa == pb:
			return 0
		case pa:
			return 1
		default:
			return -1
		}
	})
	var done []string
	for _, f := range files {
		if err := uploadFile(ctx, b, filepath.Join(dir, filepath.FromSlash(f)), f); err != nil {
			cleanup := context.WithoutCancel(ctx)
			for _, k := range done {
				_ = b.Delete(cleanup, k)
			}
			return err
		}
		done = append(done, f)
	}
	return nil
}

func uploadFile(ctx context.Context, b storage.Bucket, file, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := b.Put(ctx, key, f, st.Size()); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

func inputFailed(req TranscodeRequest, err error) (*Job, error) {
	return failJob(newJob(req.InputURL, req.Outputs), err)
}
