// Package storage is where Transcoder keeps objects: S3-compatible buckets (through
// minio-go v7) and local directories, behind one [Bucket] interface.
//
// Locations are URLs whose scheme names the store ([ParseURL]): file:///srv/inbox/ is a
// local directory, s3://bucket/prefix/ is the default S3 store, and NAME://bucket/prefix/
// is the configured store NAME ([Stores]). A Bucket is rooted at its location: keys are
// relative to the location's prefix or directory.
//
// Every implementation passes the same conformance suite (package storagetest). Errors
// are [*Error] values that name the operation, the endpoint, the bucket and the key (never
// a credential) and match the sentinels [ErrNotFound], [ErrAccessDenied],
// [ErrNoSuchBucket], [ErrUnavailable] and [ErrInvalidKey] with errors.Is.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key relative to the bucket's location.
	Key string
	// Size is the object's length in bytes.
	Size int64
	// ETag changes when the object is rewritten with different content. On S3 it is the
	// server's ETag without quotes; on local directories it is derived from the file's
	// identity, modification time and size, and is not an MD5.
	ETag string
	// ContentType is the stored media type. Listings leave it empty.
	ContentType string
	// ModTime is when the object was last written.
	ModTime time.Time
}

// Bucket is a flat namespace of objects under one location. Implementations are safe
// for concurrent use.
type Bucket interface {
	// Stat describes the object at key; a missing object is an [ErrNotFound] error.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// Open streams length bytes of the object at key from offset, or everything from
	// offset to the end when length is negative. A range that starts at or beyond the
	// end yields an empty stream. A missing object is an [ErrNotFound] error, reported
	// by Open itself rather than by the first Read. The caller must Close the reader.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)

	// Put stores everything r yields at key, replacing any object there, and sets the
	// content type from the key's extension ([ContentType]). size is the length when
	// known, or -1; a reader that yields a different number of bytes than a
	// non-negative size is an error and nothing is stored. Memory use is bounded
	// whatever the length. Readers never see a partly written object.
	Put(ctx context.Context, key string, r io.Reader, size int64) (ObjectInfo, error)

	// List yields every object whose key starts with prefix (an empty prefix lists the
	// whole location), in lexicographic byte order of the keys, fetching the listing
	// a page at a time. It stops at the first error, which it yields with a zero
	// ObjectInfo. Listings have no ContentType.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]

	// Delete removes the object at key. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error

	// String returns the location's URL, for messages. It never contains credentials.
	String() string
}

// Presigner is implemented by buckets that can hand out URLs through which other
// programs (ffmpeg) read an object directly, without credentials.
type Presigner interface {
	// PresignGet returns an HTTP(S) URL that allows GET (including ranged GET) of the
	// object at key for ttl. It does not check that the object exists.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// LocalPather is implemented by buckets whose objects are files on this machine.
type LocalPather interface {
	// LocalPath returns the absolute path of the file holding the object at key, after
	// checking that the key and any symbolic links stay inside the bucket's directory.
	LocalPath(key string) (string, error)
}

// Sentinel errors matched with errors.Is against errors from this package.
var (
	// ErrNotFound means the object does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied means the store refused the credentials or the permission.
	ErrAccessDenied = errors.New("access denied")
	// ErrNoSuchBucket means the bucket (or local root directory) does not exist.
	ErrNoSuchBucket = errors.New("no such bucket")
	// ErrUnavailable means the store could not be reached, or kept failing with
	// transient errors (network errors, 5xx, throttling), for the whole retry window.
	// Callers may retry the whole operation later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrInvalidKey means the key is not acceptable to the bucket: empty, not UTF-8,
	// containing NUL, too long, or, for local directories, one that would leave the
	// root (".." elements, absolute paths, symbolic links that point out).
	ErrInvalidKey = errors.New("invalid key")
)

// Error is a failed storage operation. Its message names the operation, the endpoint,
// the bucket and the key, and never a credential.
type Error struct {
	Op       string // "stat", "open", "read", "put", "list", "delete", "presign", "path"
	Endpoint string // the S3 endpoint URL; empty for local directories
	Bucket   string // the S3 bucket, or the local root directory
	Key      string // the full key inside the bucket (location prefix included); for list, the prefix
	Kind     error  // one of the sentinel errors, or nil when none applies
	Err      error  // the cause
}

// Error formats the failure as
// storage: OP "KEY" in bucket "BUCKET" at ENDPOINT: KIND: CAUSE
// (or "in directory ROOT" for local directories).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("storage: ")
	b.WriteString(e.Op)
	if e.Key != "" || e.Op != "list" {
		fmt.Fprintf(&b, " %q", e.Key)
	}
	if e.Endpoint != "" {
		fmt.Fprintf(&b, " in bucket %q at %s", e.Bucket, e.Endpoint)
	} else {
		fmt.Fprintf(&b, " in directory %s", e.Bucket)
	}
	if e.Kind != nil {
		b.WriteString(": ")
		b.WriteString(e.Kind.Error())
	}
	if e.Err != nil && e.Err != e.Kind {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// readCloser joins a reader with the Close of something else.
type readCloser struct {
	io.Reader
	io.Closer
}

// emptyReader is an empty stream.
func emptyReader() io.ReadCloser { return io.NopCloser(strings.NewReader("")) }

// checkRange validates Open's range arguments.
func checkRange(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("negative offset %d", offset)
	}
	return nil
}

// ctxReader fails reads once its context is done, so that a Put of an endless reader
// stops when it is canceled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
