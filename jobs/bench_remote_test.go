//go:build unix

package jobs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

// BenchmarkBuckets compares a MinIO→MinIO transcode (download, encode,
// upload) with the same file→file transcode (goal: within 10%).
func BenchmarkBuckets(b *testing.B) {
	tools, caps := benchTools(b)
	input := testmedia.Path(b, overheadClip)
	stores, inURL, outURL := minioStores(b, input)
	outputs := outputsFor(b, "generic-720p")
	localDir := filepath.Join(b.TempDir(), "out")
	run := func(in, out string) func(*testing.B) {
		return func(b *testing.B) {
			job, err := jobs.Transcode(context.Background(), tools, stores, jobs.TranscodeRequest{
				LocalRequest: jobs.LocalRequest{Outputs: outputs, Caps: caps, Overwrite: true}, InputURL: in, OutputURL: out,
			})
			if err != nil || job.Status != jobs.StatusComplete {
				b.Fatalf("transcode %s → %s: %v", in, out, err)
			}
		}
	}
	buckets := &side{name: "buckets", reset: func(*testing.B) {}, run: run(inURL, outURL)}
	local := &side{name: "local", reset: removeAll(localDir, false), run: run(input, localDir)}
	b.Run("interleaved", func(b *testing.B) {
		buckets, local, n := interleave(b, buckets, local)
		b.ReportMetric(100*(float64(buckets.wall)/float64(local.wall)-1), "overhead-%")
		b.ReportMetric(100*(medianRatio(buckets, local)-1), "median-overhead-%")
		b.ReportMetric(float64(buckets.wall-local.wall)/float64(time.Millisecond)/float64(n), "overhead-ms/op")
	})
}

// BenchmarkInputMode measures the two ways a bucket input can reach
// ffmpeg, on the same argv: download the object to a local file first, or
// let ffmpeg (and ffprobe) read it over HTTP through a presigned URL with
// ranged reads. Transcoder downloads; this benchmark is why.
func BenchmarkInputMode(b *testing.B) {
	tools, caps := benchTools(b)
	input := testmedia.Path(b, overheadClip)
	stores, inURL, _ := minioStores(b, input)
	outputs := outputsFor(b, "generic-720p")
	dlDir, stDir := filepath.Join(b.TempDir(), "download"), filepath.Join(b.TempDir(), "stream")
	argvFor := func(dir string) []string { return barePlan(b, tools, caps, input, dir, outputs) }

	dirURL := strings.TrimSuffix(inURL, "in.mp4")
	bucket, err := stores.OpenURL(dirURL)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	url, err := bucket.(storage.Presigner).PresignGet(ctx, "in.mp4", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	// Streaming: the same argv reading the URL, with the network protocols
	// ffmpeg needs added to the whitelist.
	streamArgv := argvFor(stDir)
	for i, a := range streamArgv {
		switch {
		case a == input:
			streamArgv[i] = url
		case a == "file,pipe":
			streamArgv[i] = "file,pipe,http,https,tcp,tls"
		}
	}
	localCopy := filepath.Join(b.TempDir(), "in.mp4")
	dlArgv := argvFor(dlDir)
	for i, a := range dlArgv {
		if a == input {
			dlArgv[i] = localCopy
		}
	}
	probe := func(b *testing.B, target string, extra ...string) {
		args := append([]string{"-v", "error", "-show_format", "-show_streams", "-of", "json"}, extra...)
		bareRun(b, tools.FFprobe, append(args, target))
	}
	download := &side{name: "download", reset: removeAll(dlDir, true), run: func(b *testing.B) {
		rc, err := bucket.Open(ctx, "in.mp4", 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(localCopy)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.ReadFrom(rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		f.Close()
		probe(b, localCopy)
		bareRun(b, tools.FFmpeg, dlArgv)
	}}
	stream := &side{name: "stream", reset: removeAll(stDir, true), run: func(b *testing.B) {
		probe(b, url, "-protocol_whitelist", "http,https,tcp,tls")
		bareRun(b, tools.FFmpeg, streamArgv)
	}}
	b.Run("interleaved", func(b *testing.B) {
		stream, download, _ := interleave(b, stream, download)
		b.ReportMetric(100*(float64(stream.wall)/float64(download.wall)-1), "stream-vs-download-%")
		b.ReportMetric(100*(medianRatio(stream, download)-1), "median-stream-vs-download-%")
	})
}
