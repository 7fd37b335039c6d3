package watch_test

import (
	"net/url"
	"testing"

	"github.com/transcoder/transcoder/internal/watch"
)

// trickyKeys are keys whose encodings differ between servers.
var trickyKeys = []string{
	"plain.mp4",
	"in/Café del Mar +1 100%.mp4",
	"in/a+b=c&d?e#f.mp4",
	"in/literal %2F and %25 and %2B.mp4",
	"in/日本語/ファイル 名.mov",
	"in/emoji 🎬.mkv",
	"in/semi;colon,comma'quote\"(paren).mp4",
}

func TestDecodeKey(t *testing.T) {
	tests := []struct {
		name, in string
		enc      watch.KeyEncoding
		want     string
		wantErr  bool
	}{
		{"form: plus is a space", "red+flower.jpg", watch.KeyForm, "red flower.jpg", false},
		{"form: %2B is a plus", "a%2Bb.mp4", watch.KeyForm, "a+b.mp4", false},
		{"form: MinIO escapes slashes", "in%2Fsub%2Fa.mp4", watch.KeyForm, "in/sub/a.mp4", false},
		{"form: AWS leaves slashes", "in/sub/a+b.mp4", watch.KeyForm, "in/sub/a b.mp4", false},
		{"form: UTF-8 bytes", "Caf%C3%A9+del+Mar+%2B1+100%25.mp4", watch.KeyForm, "Café del Mar +1 100%.mp4", false},
		{"form: lower-case hex", "caf%c3%a9.mp4", watch.KeyForm, "café.mp4", false},
		{"default is form", "a+b.mp4", watch.KeyDefault, "a b.mp4", false},
		{"form: a raw percent is refused", "100%.mp4", watch.KeyForm, "", true},
		{"form: bytes that are not UTF-8", "a%FF.mp4", watch.KeyForm, "", true},
		{"form: NUL", "a%00.mp4", watch.KeyForm, "", true},
		{"form: empty", "", watch.KeyForm, "", true},
		{"raw: as is", "in/Café del Mar +1 100%.mp4", watch.KeyRaw, "in/Café del Mar +1 100%.mp4", false},
		{"raw: percent signs stay", "in/a%2Fb.mp4", watch.KeyRaw, "in/a%2Fb.mp4", false},
		{"raw: not UTF-8", "a\xff.mp4", watch.KeyRaw, "", true},
		{"unknown encoding", "a.mp4", watch.KeyEncoding("base64"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := watch.DecodeKey(tt.in, tt.enc)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("DecodeKey(%q, %q) = %q, %v; want %q, error %v", tt.in, tt.enc, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestDecodeKeyInvertsQueryEscape checks form decoding against the encoder MinIO uses
// for its notification targets (url.QueryEscape, in cmd/event-notification.go).
func TestDecodeKeyInvertsQueryEscape(t *testing.T) {
	for _, k := range trickyKeys {
		got, err := watch.DecodeKey(url.QueryEscape(k), watch.KeyForm)
		if err != nil || got != k {
			t.Errorf("DecodeKey(QueryEscape(%q)) = %q, %v", k, got, err)
		}
	}
}

func TestParseKeyEncoding(t *testing.T) {
	for in, want := range map[string]watch.KeyEncoding{"": watch.KeyDefault, "form": watch.KeyForm, " RAW ": watch.KeyRaw} {
		if got, err := watch.ParseKeyEncoding(in); err != nil || got != want {
			t.Errorf("ParseKeyEncoding(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := watch.ParseKeyEncoding("url"); err == nil {
		t.Error(`ParseKeyEncoding("url") succeeded`)
	}
}

func TestIgnored(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"movie.mp4", false},
		{"in/sub/movie.mov", false},
		{"in/movie.part.mp4", false},
		{"in/tmp/movie.mp4", false},
		{".hidden.mp4", true},
		{"in/.movie.mp4.Ab12Cd", true}, // rsync's temporary
		{".transcoder-tmp-123/movie.mp4", true},
		{"in/.transcoder-stage/x.mp4", true},
		{"movie.mp4.part", true},
		{"movie.mp4.partial", true},
		{"movie.tmp", true},
		{"movie.mp4.crdownload", true},
		{"folder/", true},
		{"", true},
	}
	for _, tt := range tests {
		if got := watch.Ignored(tt.key); got != tt.want {
			t.Errorf("Ignored(%q) = %v; want %v", tt.key, got, tt.want)
		}
	}
}
