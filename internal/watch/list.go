package watch

import (
	"context"
	"iter"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
)

// isLocal reports whether the bucket's objects are files on this machine, which other
// programs may still be writing when a listing sees them. Objects in S3 stores appear
// whole (a PUT or CompleteMultipartUpload is atomic), so they need no settling.
func isLocal(b storage.Bucket) bool {
	_, ok := b.(storage.LocalPather)
	return ok
}

// state is what the settle rule compares between listings. For local files the ETag
// already combines the inode, the modification time and the size; size and mtime are
// kept for the age check and for clarity.
type state struct {
	etag  string
	size  int64
	mtime time.Time
}

func stateOf(oi storage.ObjectInfo) state {
	return state{etag: oi.ETag, size: oi.Size, mtime: oi.ModTime}
}

func (s state) same(o state) bool {
	return s.etag == o.etag && s.size == o.size && s.mtime.Equal(o.mtime)
}

// settled is the settle rule every source and List share for local files: an object
// first seen in its current state at since (taken after the file was stat'ed), and seen
// again in the same state by a listing that started at now, is settled when
// (1) at least settle passed between the two observations, and (2) its modification
// time is at least settle before now.
//
// (1) is what protects against clocks that disagree (a network file system whose server
// runs behind would make a file being written look old); (2) keeps a file that was
// just touched from being taken by two quick listings. A writer that stalls for longer
// than settle is indistinguishable from one that finished: writers that can stall
// should write under an ignored name (see [Ignored]) and rename when done.
func settled(mtime, since, now time.Time, settle time.Duration) bool {
	return now.Sub(since) >= settle && now.Sub(mtime) >= settle
}

func toObject(oi storage.ObjectInfo) Object {
	return Object{Key: oi.Key, ETag: oi.ETag, Size: oi.Size, ModTime: oi.ModTime}
}

// List is the reconcile listing: it yields every object in bucket (keys relative to
// the bucket's location) that match accepts (nil accepts all) and [Ignored] does not
// reject, and that has settled. It stops at the first listing error, which it yields
// with a zero Object; the error names the location.
//
// Objects in S3 stores are always settled. For local directories (buckets that
// implement [storage.LocalPather]) List lists twice, settle apart, and yields only the
// files whose ETag, size and modification time were the same both times and whose
// modification time is at least settle old (the rule of [Poller] too); a file still
// being written is left for a later listing or event. settle zero means
// [DefaultSettle] and a negative settle none.
//
// It yields as it lists rather than returning a slice, so that a reconcile of a bucket
// of millions of objects needs no memory for them (a local directory needs a map of
// its files for the duration of the call).
func List(ctx context.Context, bucket storage.Bucket, match func(key string) bool, settle time.Duration) iter.Seq2[Object, error] {
	settle = resolveSettle(settle)
	return func(yield func(Object, error) bool) {
		if !isLocal(bucket) || settle == 0 {
			for oi, err := range bucket.List(ctx, "") {
				if err != nil {
					yield(Object{}, err)
					return
				}
				if wanted(oi.Key, match) && !yield(toObject(oi), nil) {
					return
				}
			}
			return
		}

		type first struct {
			state
			since time.Time
		}
		seen := map[string]first{}
		for oi, err := range bucket.List(ctx, "") {
			if err != nil {
				yield(Object{}, err)
				return
			}
			if wanted(oi.Key, match) {
				seen[oi.Key] = first{stateOf(oi), time.Now()}
			}
		}
		if len(seen) == 0 {
			return
		}
		if !sleep(ctx, settle) {
			yield(Object{}, ctx.Err())
			return
		}
		now := time.Now()
		for oi, err := range bucket.List(ctx, "") {
			if err != nil {
				yield(Object{}, err)
				return
			}
			f, ok := seen[oi.Key]
			if !ok || !f.same(stateOf(oi)) || !settled(oi.ModTime, f.since, now, settle) {
				continue
			}
			if !yield(toObject(oi), nil) {
				return
			}
		}
	}
}
