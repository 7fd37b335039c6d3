package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// Put implements [Bucket]. The first part's worth of data is read before anything is
// sent: an object that fits goes up in a single PUT, a larger one as a multipart
// upload whose parts are read and sent two at a time. Every request carries the
// Content-MD5 of its body, which the store verifies, and the stored object's size is
// checked at the end. A failed multipart upload is aborted.
func (b *S3) Put(ctx context.Context, key string, src io.Reader, size int64) (ObjectInfo, error) {
	object, err := b.object("put", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if size > maxObjectSize {
		return ObjectInfo{}, b.fail("put", object, nil, fmt.Errorf("size %d exceeds the 5 TiB limit of S3 objects", size))
	}
	up := &upload{b: b, object: object, size: size, partSize: b.c.partSize,
		// The payload goes unsigned, as minio-go always does over TLS: the Content-MD5
		// that every request carries is signed, and the store checks the body against
		// it. (Over plain HTTP minio-go would otherwise sign every 64 KiB chunk, which
		// costs CPU and garbage for no added integrity.)
		opts: minio.PutObjectOptions{ContentType: ContentType(key), DisableContentSha256: true}}
	if size > 0 {
		// Enough for the whole object in maxParts parts, in whole MiB.
		need := (size + maxParts - 1) / maxParts
		up.partSize = max(up.partSize, (need+1<<20-1)&^(1<<20-1))
	}
	src = ctxReader{ctx, src}

	var buf []byte
	if size >= 0 && size < up.partSize {
		buf = make([]byte, size) // a small object of known size: no part buffer needed
	} else {
		buf = b.c.getBuf(up.partSize)
	}
	n, rerr := io.ReadFull(src, buf)
	if rerr == nil && int64(n) == size {
		// Exactly one full part was announced: make sure that is all there is.
		if err := expectEOF(src, size); err != nil {
			b.c.putBuf(buf)
			return ObjectInfo{}, b.fail("put", object, nil, err)
		}
		rerr = io.EOF
	}
	var etag string
	var replaced bool
	switch rerr {
	case io.EOF, io.ErrUnexpectedEOF:
		up.total = int64(n)
		if err := up.checkSize(true); err != nil {
			b.c.putBuf(buf)
			return ObjectInfo{}, err
		}
		etag, err = up.single(ctx, buf[:n])
		b.c.putBuf(buf)
	case nil:
		etag, replaced, err = up.multipart(ctx, src, buf, n)
	default:
		b.c.putBuf(buf)
		return ObjectInfo{}, b.fail("put", object, nil, readErr(ctx, rerr))
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	return up.verify(ctx, etag, replaced)
}

// upload is the state of one Put.
type upload struct {
	b        *S3
	object   string
	opts     minio.PutObjectOptions
	size     int64 // announced length, or -1
	partSize int64 // size of the first thousand parts
	total    int64 // bytes read so far
}

// readErr describes an error from the caller's reader.
func readErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("reading the data to upload: %w", err)
}

// expectEOF fails unless r is at its end.
func expectEOF(r io.Reader, size int64) error {
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	switch {
	case m > 0:
		return fmt.Errorf("reader yields more than the %d bytes announced", size)
	case err != io.EOF:
		return fmt.Errorf("reading the data to upload: %w", err)
	}
	return nil
}

// checkSize compares the bytes read with the announced size: more is always an error,
// fewer only at the end.
func (up *upload) checkSize(atEnd bool) error {
	switch {
	case up.size < 0:
		return nil
	case up.total > up.size:
		return up.b.fail("put", up.object, nil, fmt.Errorf("reader yields more than the %d bytes announced", up.size))
	case atEnd && up.total < up.size:
		return up.b.fail("put", up.object, nil,
			fmt.Errorf("reader ended after %d of %d bytes: %w", up.total, up.size, io.ErrUnexpectedEOF))
	}
	return nil
}

// sizeOfPart returns the size of part number n (from 1): the part size doubles every
// thousand parts, up to S3's maximum.
func (up *upload) sizeOfPart(n int) int64 {
	return min(up.partSize<<((n-1)/1000), maxPartSize)
}

func md5Base64(data []byte) string {
	sum := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// single stores data in one PUT and returns its ETag.
func (up *upload) single(ctx context.Context, data []byte) (string, error) {
	sum := md5Base64(data)
	var ui minio.UploadInfo
	err := up.b.call(ctx, "put", up.object, func(ctx context.Context) (err error) {
		ui, err = up.b.c.core.PutObject(ctx, up.b.bucket, up.object, bytes.NewReader(data), int64(len(data)), sum, "", up.opts)
		return err
	})
	return strings.Trim(ui.ETag, `"`), err
}

// multipart uploads first[:n] and the rest of src as a multipart upload, with at most
// uploadConcurrency part buffers. It returns the ETag, and replaced=true when a retry
// of the completion found the upload already completed (so the ETag is unknown).
func (up *upload) multipart(ctx context.Context, src io.Reader, first []byte, n int) (etag string, replaced bool, err error) {
	b := up.b
	var uploadID string
	err = b.call(ctx, "put", up.object, func(ctx context.Context) (err error) {
		uploadID, err = b.c.core.NewMultipartUpload(ctx, b.bucket, up.object, up.opts)
		return err
	})
	if err != nil {
		b.c.putBuf(first)
		return "", false, err
	}
	defer func() {
		if err != nil {
			up.abort(ctx, uploadID)
		}
	}()

	// free holds the buffers not in use; nil stands for one not allocated yet.
	free := make(chan []byte, uploadConcurrency)
	for range uploadConcurrency - 1 {
		free <- nil
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		parts   []minio.CompletePart
		partErr error
	)
	setErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if partErr == nil {
			partErr = err
			cancel()
		}
	}
	buf, data, num, last := first, first[:n], 1, false
	up.total = int64(n)
loop:
	for {
		pbuf, pdata, pnum := buf, data, num
		wg.Go(func() {
			defer func() { free <- pbuf }()
			part, err := up.part(gctx, uploadID, pnum, pdata)
			if err != nil {
				setErr(err)
				return
			}
			mu.Lock()
			parts = append(parts, part)
			mu.Unlock()
		})
		if last {
			break
		}
		select {
		case buf = <-free:
		case <-gctx.Done():
			break loop
		}
		if gctx.Err() != nil {
			free <- buf
			break
		}
		want := up.sizeOfPart(num + 1)
		if int64(cap(buf)) < want {
			b.c.putBuf(buf)
			buf = b.c.getBuf(want)
		}
		n, rerr := io.ReadFull(src, buf[:want])
		switch rerr {
		case nil:
		case io.ErrUnexpectedEOF:
			last = true
		case io.EOF:
			free <- buf
			break loop
		default:
			free <- buf
			setErr(b.fail("put", up.object, nil, readErr(ctx, rerr)))
			break loop
		}
		num++
		data = buf[:n]
		up.total += int64(n)
		if err := up.checkSize(false); err != nil {
			free <- buf
			setErr(err)
			break
		}
		if num > maxParts {
			free <- buf
			setErr(b.fail("put", up.object, nil, fmt.Errorf("more than %d parts", maxParts)))
			break
		}
	}
	wg.Wait()
	if partErr == nil && ctx.Err() != nil {
		partErr = b.fail("put", up.object, nil, ctx.Err())
	}
	for range uploadConcurrency {
		b.c.putBuf(<-free)
	}
	if partErr != nil {
		return "", false, partErr
	}
	if err := up.checkSize(true); err != nil {
		return "", false, err
	}
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return cmp.Compare(a.PartNumber, b.PartNumber) })

	attempt := 0
	var ui minio.UploadInfo
	err = b.call(ctx, "put", up.object, func(ctx context.Context) (err error) {
		attempt++
		ui, err = b.c.core.CompleteMultipartUpload(ctx, b.bucket, up.object, uploadID, parts, up.opts)
		var resp minio.ErrorResponse
		if err != nil && attempt > 1 && errors.As(err, &resp) && resp.Code == "NoSuchUpload" {
			// An earlier attempt completed the upload but its answer was lost.
			replaced = true
			return nil
		}
		return err
	})
	if err != nil {
		return "", false, err
	}
	return strings.Trim(ui.ETag, `"`), replaced, nil
}

// part uploads one part.
func (up *upload) part(ctx context.Context, uploadID string, num int, data []byte) (minio.CompletePart, error) {
	sum := md5Base64(data)
	var p minio.ObjectPart
	err := up.b.call(ctx, "put", up.object, func(ctx context.Context) (err error) {
		p, err = up.b.c.core.PutObjectPart(ctx, up.b.bucket, up.object, uploadID, num,
			bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{Md5Base64: sum, DisableContentSha256: true})
		return err
	})
	return minio.CompletePart{PartNumber: num, ETag: p.ETag}, err
}

// abort abandons a multipart upload, even when ctx is canceled.
func (up *upload) abort(ctx context.Context, uploadID string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := up.b.c.core.AbortMultipartUpload(actx, up.b.bucket, up.object, uploadID); err != nil {
		slog.Warn("storage: cannot abort a failed multipart upload; its parts stay until a lifecycle rule removes them",
			"endpoint", up.b.c.endpoint, "bucket", up.b.bucket, "key", up.object, "err", up.b.c.redact(err))
	}
}

// verify checks the stored object's size against the bytes sent and describes it. When
// another writer replaced the object in the meantime (a different ETag), there is
// nothing to compare, and the upload is described from what was sent.
func (up *upload) verify(ctx context.Context, etag string, replaced bool) (ObjectInfo, error) {
	b := up.b
	var oi minio.ObjectInfo
	err := b.call(ctx, "put", up.object, func(ctx context.Context) (err error) {
		oi, err = b.c.core.StatObject(ctx, b.bucket, up.object, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Err = fmt.Errorf("checking the uploaded object: %w", e.Err)
		}
		return ObjectInfo{}, err
	}
	oi.Key = up.object
	info := b.info(oi)
	if info.ETag != etag && !replaced {
		return ObjectInfo{Key: info.Key, Size: up.total, ETag: etag, ContentType: up.opts.ContentType, ModTime: time.Now()}, nil
	}
	if info.Size != up.total {
		return ObjectInfo{}, b.fail("put", up.object, nil,
			fmt.Errorf("the stored object has %d bytes but %d were sent", info.Size, up.total))
	}
	return info, nil
}

// getBuf returns a buffer of n bytes, from the pool when n is the store's part size.
func (c *s3Client) getBuf(n int64) []byte {
	if n == c.partSize {
		return *c.bufs.Get().(*[]byte)
	}
	return make([]byte, n)
}

// putBuf gives a buffer back to the pool if it has the store's part size.
func (c *s3Client) putBuf(b []byte) {
	if int64(cap(b)) == c.partSize {
		b = b[:cap(b)]
		c.bufs.Put(&b)
	}
}
