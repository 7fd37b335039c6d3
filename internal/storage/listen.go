package storage

import (
	"context"

	"github.com/minio/minio-go/v7/pkg/notification"
)

// BucketName returns the S3 bucket the location is in.
func (b *S3) BucketName() string { return b.bucket }

// Prefix returns the location's key prefix inside the bucket ("" or ending in "/").
// Keys of this bucket are relative to it; keys in event notifications are not.
func (b *S3) Prefix() string { return b.prefix }

// Listen subscribes to MinIO's listen API (a MinIO extension of S3, not offered by
// AWS, Ceph or Garage) for the given event names, such as "s3:ObjectCreated:*", on the
// objects under the location's prefix.
//
// The channel yields batches of event records until ctx ends or the subscription
// fails; a failure is delivered first as a batch whose Err is an [*Error] naming the
// location, and then the channel is closed. The caller must read the channel until it
// is closed, or cancel ctx. Object keys in the records are full keys (the location
// prefix included) exactly as the server sent them: decoding them is the caller's
// business, because servers differ.
//
// Unlike other requests, a subscription is not retried here: minio-go gives up on the
// first failed request, and resubscribing (with backoff) belongs to the caller, which
// also knows what it may have missed meanwhile.
func (b *S3) Listen(ctx context.Context, events ...string) <-chan notification.Info {
	in := b.c.core.ListenBucketNotification(ctx, b.bucket, b.prefix, "", events)
	out := make(chan notification.Info)
	go func() {
		defer close(out)
		for info := range in {
			if info.Err != nil {
				info.Err = b.failed("listen", b.prefix, info.Err)
			}
			select {
			case out <- info:
			case <-ctx.Done():
				// minio-go stops sending once ctx is done; drain so that it can exit.
				for range in {
				}
				return
			}
		}
	}()
	return out
}
