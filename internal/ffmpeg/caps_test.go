package ffmpeg

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestCapabilities(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	first, err := tools.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"libx264", "aac", "libmp3lame", "png", "mjpeg"} {
		if !first[enc] {
			t.Errorf("encoder %s missing from %d encoders", enc, len(first))
		}
	}
	cache := capsCacheFile(tools.FFmpeg)
	if _, err := os.Stat(cache); err != nil {
		t.Fatalf("encoder list not cached: %v", err)
	}
	// A second call answers from the cache, which is what it wrote.
	if err := os.WriteFile(cache, []byte(`{"only-from-cache":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := tools.Capabilities(context.Background())
	if err != nil || !second["only-from-cache"] || len(second) != 1 {
		t.Fatalf("second call = %v, %v; want the cached list", second, err)
	}
}

func TestParseEncoders(t *testing.T) {
	out := []byte(`Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
`)
	got := parseEncoders(out)
	if len(got) != 2 || !got["libx264"] || !got["aac"] {
		t.Fatalf("parseEncoders = %v", got)
	}
}

func TestChildEnvHasNoCredentials(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
	t.Setenv("MINIO_ROOT_PASSWORD", "s3cr3t")
	for _, kv := range childEnv() {
		if strings.Contains(kv, "s3cr3t") {
			t.Fatalf("ffmpeg would see %q", kv)
		}
	}
}
