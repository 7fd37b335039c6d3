package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
)

// maxResumes bounds how many times in a row a download is resumed without receiving a
// byte in between.
const maxResumes = 5

// s3Reader streams a range of an object, reopening the range where it stopped when
// the connection breaks, pinned by If-Match to the version it started on.
type s3Reader struct {
	b      *S3
	ctx    context.Context
	object string
	pos    int64 // next byte to read
	end    int64 // one past the last byte wanted, or -1 until known
	etag   string
	body   io.ReadCloser
	fails  int // resumes since the last byte received
	err    error
	closed bool
}

// open issues a GET for [pos, end) and records the object's version and length.
func (r *s3Reader) open(ctx context.Context) error {
	var opts minio.GetObjectOptions
	if r.etag != "" {
		if err := opts.SetMatchETag(r.etag); err != nil {
			return err
		}
	}
	var err error
	switch {
	case r.end >= 0:
		err = opts.SetRange(r.pos, r.end-1)
	case r.pos > 0:
		err = opts.SetRange(r.pos, 0)
	}
	if err != nil {
		return err
	}
	body, oi, header, err := r.b.c.core.GetObject(ctx, r.b.bucket, r.object, opts)
	if err != nil {
		return err
	}
	// The object's total length bounds the range: from Content-Range when there is
	// one, else the response is the whole object.
	total := oi.Size
	if cr := header.Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, perr := strconv.ParseInt(cr[i+1:], 10, 64); perr == nil {
				total = n
			}
		}
	}
	if r.end < 0 || r.end > total {
		r.end = total
	}
	if r.etag == "" {
		r.etag = strings.Trim(oi.ETag, `"`)
	}
	r.body = body
	return nil
}

// Read implements io.Reader.
func (r *s3Reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, r.b.fail("read", r.object, nil, errors.New("read after close"))
	}
	if r.err != nil {
		return 0, r.err
	}
	for {
		if r.pos >= r.end {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.resume(); err != nil {
				r.err = err
				return 0, err
			}
		}
		if rest := r.end - r.pos; int64(len(p)) > rest {
			p = p[:rest]
		}
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if n > 0 {
			r.fails = 0
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && r.pos >= r.end:
			return n, io.EOF
		case err == io.EOF:
			err = fmt.Errorf("connection ended at byte %d of %d: %w", r.pos, r.end, io.ErrUnexpectedEOF)
		}
		r.body.Close()
		r.body = nil
		if !retryable(r.ctx, err) {
			if r.ctx.Err() != nil {
				err = r.ctx.Err()
			}
			r.err = r.b.fail("read", r.object, nil, err)
			return n, r.err
		}
		slog.Warn("storage: download broke off, resuming", "endpoint", r.b.c.endpoint, "bucket", r.b.bucket,
			"key", r.object, "offset", r.pos, "err", r.b.c.redact(err))
		if n > 0 {
			return n, nil
		}
	}
}

// resume reopens the range from the current position, with backoff, unless it has
// already done so too often without getting anywhere.
func (r *s3Reader) resume() error {
	r.fails++
	if r.fails > maxResumes {
		return r.b.fail("read", r.object, ErrUnavailable,
			fmt.Errorf("download resumed %d times at byte %d without progress", maxResumes, r.pos))
	}
	if err := sleep(r.ctx, r.b.c.retry.base<<r.fails); err != nil {
		return r.b.fail("read", r.object, nil, err)
	}
	err := r.b.call(r.ctx, "read", r.object, r.open)
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && resp.Code == "PreconditionFailed" {
		return r.b.fail("read", r.object, nil, fmt.Errorf("object changed while being read (ETag was %s)", r.etag))
	}
	return err
}

// Close implements io.Closer.
func (r *s3Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}
