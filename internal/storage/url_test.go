package storage_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/storage"
)

func TestParseURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		raw  string
		want storage.Location
		url  string // String(), when it differs from raw
	}{
		{raw: "file:///srv/inbox/", want: storage.Location{Store: "file", Prefix: "/srv/inbox"}, url: "file:///srv/inbox"},
		{raw: "file:///srv/a b/../c", want: storage.Location{Store: "file", Prefix: "/srv/c"}, url: "file:///srv/c"},
		{raw: "file://localhost/srv", want: storage.Location{Store: "file", Prefix: "/srv"}, url: "file:///srv"},
		{raw: "FILE:///x", want: storage.Location{Store: "file", Prefix: "/x"}, url: "file:///x"},
		{raw: "file:///", want: storage.Location{Store: "file", Prefix: "/"}},
		{raw: "demo/out", want: storage.Location{Store: "file", Prefix: filepath.Join(wd, "demo/out")}, url: "file://" + filepath.Join(wd, "demo/out")},
		{raw: "/abs/dir", want: storage.Location{Store: "file", Prefix: "/abs/dir"}, url: "file:///abs/dir"},
		{raw: "./a:b", want: storage.Location{Store: "file", Prefix: filepath.Join(wd, "a:b")}, url: "file://" + filepath.Join(wd, "a:b")},
		{raw: "s3://media", want: storage.Location{Store: "s3", Bucket: "media"}, url: "s3://media/"},
		{raw: "s3://media/", want: storage.Location{Store: "s3", Bucket: "media"}},
		{raw: "s3://media/incoming/", want: storage.Location{Store: "s3", Bucket: "media", Prefix: "incoming/"}},
		{raw: "s3://media/in/movie.mov", want: storage.Location{Store: "s3", Bucket: "media", Prefix: "in/movie.mov"}},
		{raw: "s3://media/a b/%20+/日本/", want: storage.Location{Store: "s3", Bucket: "media", Prefix: "a b/%20+/日本/"}},
		{raw: "S3://media/x", want: storage.Location{Store: "s3", Bucket: "media", Prefix: "x"}, url: "s3://media/x"},
		{raw: "minio://renditions/", want: storage.Location{Store: "minio", Bucket: "renditions"}},
		{raw: "my-r2://bucket.with.dots/p?q#f", want: storage.Location{Store: "my-r2", Bucket: "bucket.with.dots", Prefix: "p?q#f"}},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := storage.ParseURL(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ParseURL = %+v; want %+v", got, tt.want)
			}
			url := tt.url
			if url == "" {
				url = tt.raw
			}
			if s := got.String(); s != url {
				t.Errorf("String() = %q; want %q", s, url)
			}
			again, err := storage.ParseURL(got.String())
			if err != nil || again != got {
				t.Errorf("ParseURL(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tt := range []struct{ raw, want string }{
		{"", "empty"},
		{"s3://", "no bucket"},
		{"s3:///key", "no bucket"},
		{"s3:/bucket/key", "needs s3://"},
		{"minio:bucket", "needs minio://"},
		{"s3://UPPER_and_under__/x", "bucket"},
		{"s3://ab/x", "bucket"},
		{"s3://bucket/nul\x00", "NUL"},
		{"s3://bucket/bad\xff", "UTF-8"},
		{"file://host/dir", "file:///absolute/path"},
		{"file://relative", "file:///absolute/path"},
		{"file://localhost", "file:///absolute/path"},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			loc, err := storage.ParseURL(tt.raw)
			if err == nil {
				t.Fatalf("ParseURL = %+v; want an error", loc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"a/b/index.m3u8":   "application/vnd.apple.mpegurl",
		"manifest.mpd":     "application/dash+xml",
		"init.m4s":         "video/iso.segment",
		"seg00001.ts":      "video/mp2t",
		"out.mp4":          "video/mp4",
		"OUT.MP4":          "video/mp4",
		"a.m4a":            "audio/mp4",
		"a.webm":           "video/webm",
		"a.mp3":            "audio/mpeg",
		"t.jpg":            "image/jpeg",
		"t.JPEG":           "image/jpeg",
		"t.png":            "image/png",
		"s.vtt":            "text/vtt",
		"a.gif":            "image/gif",
		"a.webp":           "image/webp",
		"a.flac":           "audio/flac",
		"a.ogg":            "audio/ogg",
		"a.oga":            "audio/ogg",
		"a.wav":            "audio/wav",
		"a.mxf":            "application/mxf",
		"a.mpg":            "video/mpeg",
		"a.flv":            "video/x-flv",
		"a.mkv":            "video/x-matroska",
		"a.mov":            "video/quicktime",
		"noext":            "application/octet-stream",
		"dir.m3u8/segment": "application/octet-stream",
		"weird.":           "application/octet-stream",
		"archive.tar.gz":   "application/octet-stream",
	} {
		if got := storage.ContentType(key); got != want {
			t.Errorf("ContentType(%q) = %q; want %q", key, got, want)
		}
	}
}
