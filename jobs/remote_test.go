package jobs_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
)

// minioStores starts a MinIO for the test and returns stores that know it
// as "minio", with an input bucket holding the clip at clips/in.mp4 and an
// empty output bucket.
func minioStores(t testing.TB, clip string) (stores *storage.Stores, in, out string) {
	t.Helper()
	srv := miniotest.Start(t)
	stores, err := storage.NewStores(map[string]storage.StoreConfig{
		"minio": {Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	inBucket, outBucket := srv.NewBucket(t), srv.NewBucket(t)
	b, err := stores.OpenURL("minio://" + inBucket + "/clips/")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := b.Put(context.Background(), "in.mp4", f, -1); err != nil {
		t.Fatal(err)
	}
	return stores, "minio://" + inBucket + "/clips/in.mp4", "minio://" + outBucket + "/renditions/"
}

// TestTranscodeBetweenBuckets runs the same job MinIO→MinIO and
// file→file and compares the renditions with ffprobe, and checks the
// Content-Type of every object.
func TestTranscodeBetweenBuckets(t *testing.T) {
	env := e2eTools(t)
	clip := testmedia.Path(t, testmedia.Spec{Width: 640, Height: 360, Rate: 30, Seconds: 4, Audio: true})
	stores, inURL, outURL := minioStores(t, clip)
	outputs := func() []jobs.OutputRequest {
		return []jobs.OutputRequest{
			{Key: "in/360p.mp4", Preset: lookup(t, "generic-360p-16-9"), ThumbnailPattern: "in/thumbs/360p-{count}"},
			{Key: "in/hls/400k", Preset: lookup(t, "hls-400k"), SegmentDuration: "2"},
			{Key: "in/audio.mp3", Preset: lookup(t, "audio-mp3-128k")},
		}
	}
	ctx := context.Background()
	remote, err := jobs.Transcode(ctx, env.tools, stores, jobs.TranscodeRequest{
		LocalRequest: jobs.LocalRequest{Outputs: outputs(), Caps: env.caps}, InputURL: inURL, OutputURL: outURL,
	})
	if err != nil {
		t.Fatalf("bucket to bucket: %v", err)
	}
	if remote.Status != jobs.StatusComplete || remote.Input.Key != inURL {
		t.Fatalf("job = %+v", remote)
	}
	_, localDir := transcode(t, clip, jobs.LocalRequest{Outputs: outputs()})

	out, err := stores.OpenURL(outURL)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for info, err := range out.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	local := files(t, localDir)
	local = slices.DeleteFunc(local, func(f string) bool { st, _ := os.Stat(filepath.Join(localDir, f)); return st.IsDir() })
	if !slices.Equal(keys, local) {
		t.Fatalf("objects %v\nwant the local run's files %v", keys, local)
	}
	wantTypes := map[string]string{".mp4": "video/mp4", ".ts": "video/mp2t", ".m3u8": "application/vnd.apple.mpegurl", ".mp3": "audio/mpeg", ".png": "image/png"}
	dl := t.TempDir()
	for _, k := range keys {
		info, err := out.Stat(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if want := wantTypes[filepath.Ext(k)]; info.ContentType != want {
			t.Errorf("%s: Content-Type %q, want %q", k, info.ContentType, want)
		}
		if filepath.Ext(k) == ".m3u8" {
			continue
		}
		// Same rendition as the local run, by ffprobe.
		got := download(t, out, k, dl)
		a, b := probe(t, got), probe(t, filepath.Join(localDir, k))
		if len(a.Streams) != len(b.Streams) {
			t.Errorf("%s: %d streams, local run has %d", k, len(a.Streams), len(b.Streams))
			continue
		}
		for i := range a.Streams {
			sa, sb := a.Streams[i], b.Streams[i]
			if sa.CodecName != sb.CodecName || sa.Width != sb.Width || sa.Height != sb.Height || sa.Profile != sb.Profile || sa.SampleRate != sb.SampleRate {
				t.Errorf("%s stream %d: %+v\nlocal run: %+v", k, i, sa, sb)
			}
		}
		if filepath.Ext(k) != ".png" && !within(a.duration(), b.duration(), 0.05) {
			t.Errorf("%s: duration %.3f, local run %.3f", k, a.duration(), b.duration())
		}
	}

	// Again without overwrite: Elastic Transcoder's 3002, nothing changed.
	before := len(keys)
	again, err := jobs.Transcode(ctx, env.tools, stores, jobs.TranscodeRequest{
		LocalRequest: jobs.LocalRequest{Outputs: outputs(), Caps: env.caps}, InputURL: inURL, OutputURL: outURL,
	})
	if !errors.Is(err, jobs.ErrOutputExists) || again.Status != jobs.StatusError || !strings.HasPrefix(again.Outputs[0].StatusDetail, "3002 ") {
		t.Fatalf("second run: err %v, job %+v", err, again)
	}
	n := 0
	for range out.List(ctx, "") {
		n++
	}
	if n != before {
		t.Errorf("the refused run changed the bucket: %d objects, was %d", n, before)
	}
}

func TestTranscodeBucketErrors(t *testing.T) {
	env := e2eTools(t)
	clip := testmedia.Path(t, testmedia.Tiny)
	stores, inURL, outURL := minioStores(t, clip)
	outputs := []jobs.OutputRequest{{Key: "a.mp3", Preset: lookup(t, "audio-mp3-128k")}}
	tests := []struct {
		name, in, out string
		detail        string
		want          []string
	}{
		{"missing input", strings.Replace(inURL, "in.mp4", "nope.mp4", 1), outURL, "3001 ", []string{"nope.mp4", "not found"}},
		{"missing output bucket", inURL, "minio://no-such-bucket-here/x/", "3005 ", []string{"no-such-bucket-here", "no such bucket"}},
		{"unknown store", inURL, "elsewhere://bucket/x/", "", []string{`"elsewhere"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job, err := jobs.Transcode(context.Background(), env.tools, stores, jobs.TranscodeRequest{
				LocalRequest: jobs.LocalRequest{Outputs: outputs, Caps: env.caps}, InputURL: tt.in, OutputURL: tt.out,
			})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.detail != "" && (job == nil || !strings.HasPrefix(job.Outputs[0].StatusDetail, tt.detail)) {
				t.Errorf("job = %+v, want StatusDetail %q…", job, tt.detail)
			}
		})
	}
}

func download(t *testing.T, b storage.Bucket, key, dir string) string {
	t.Helper()
	rc, err := b.Open(context.Background(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	p := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, rc); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTranscodeThumbnailBucket sends thumbnails to a bucket of their own
// and the rest to the output bucket.
func TestTranscodeThumbnailBucket(t *testing.T) {
	env := e2eTools(t)
	stores, inURL, outURL := minioStores(t, testmedia.Path(t, testmedia.Tiny))
	thumbURL := strings.Replace(outURL, "/renditions/", "/thumbs/", 1)
	ctx := context.Background()
	job, err := jobs.Transcode(ctx, env.tools, stores, jobs.TranscodeRequest{
		LocalRequest: jobs.LocalRequest{Caps: env.caps, Outputs: []jobs.OutputRequest{
			{Key: "a/320.mp4", Preset: lookup(t, "generic-320x240"), ThumbnailPattern: "a/t-{count}"},
		}},
		InputURL: inURL, OutputURL: outURL, ThumbnailURL: thumbURL,
	})
	if err != nil || job.Status != jobs.StatusComplete {
		t.Fatalf("job %v: %v", job, err)
	}
	list := func(u string) []string {
		b, err := stores.OpenURL(u)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for info, err := range b.List(ctx, "") {
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, info.Key)
		}
		return keys
	}
	if got := list(outURL); strings.Join(got, ",") != "a/320.mp4" {
		t.Errorf("output bucket: %v", got)
	}
	if got := list(thumbURL); len(got) != 1 || !strings.HasPrefix(got[0], "a/t-00001.") {
		t.Errorf("thumbnail bucket: %v", got)
	}
}
