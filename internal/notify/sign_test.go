package notify_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/notify"
)

// TestSignKnownAnswer pins the scheme to a value computed independently
// (openssl dgst -sha256 -hmac s3cret over "1700000000.{}").
func TestSignKnownAnswer(t *testing.T) {
	h := hmac.New(sha256.New, []byte("s3cret"))
	h.Write([]byte("1700000000.{}"))
	want := "sha256=" + hex.EncodeToString(h.Sum(nil))
	if got := notify.Sign("s3cret", time.Unix(1700000000, 0), []byte("{}")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"state":"COMPLETED"}`)
	now := time.Now()
	signed := func(secret string, ts time.Time, body []byte) http.Header {
		h := http.Header{}
		h.Set(notify.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(notify.HeaderSignature, notify.Sign(secret, ts, body))
		return h
	}
	tests := []struct {
		name   string
		secret string
		header http.Header
		body   []byte
		maxAge time.Duration
		want   error // nil, or what errors.Is must match
		text   string
	}{
		{"valid", "k", signed("k", now, body), body, 5 * time.Minute, nil, ""},
		{"valid, no age check", "k", signed("k", now.Add(-48*time.Hour), body), body, 0, nil, ""},
		{"rotation list", "new", func() http.Header {
			h := signed("old", now, body)
			h.Set(notify.HeaderSignature, h.Get(notify.HeaderSignature)+", "+notify.Sign("new", now, body))
			return h
		}(), body, time.Minute, nil, ""},
		{"wrong secret", "other", signed("k", now, body), body, time.Minute, notify.ErrBadSignature, ""},
		{"tampered body", "k", signed("k", now, body), []byte(`{"state":"ERROR"}`), time.Minute, notify.ErrBadSignature, ""},
		{"tampered timestamp", "k", func() http.Header {
			h := signed("k", now, body)
			h.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return h
		}(), body, time.Minute, notify.ErrBadSignature, ""},
		{"stale", "k", signed("k", now.Add(-10*time.Minute), body), body, 5 * time.Minute, notify.ErrStale, "from now, allowed 5m0s"},
		{"future", "k", signed("k", now.Add(10*time.Minute), body), body, 5 * time.Minute, notify.ErrStale, ""},
		{"unsigned", "k", http.Header{}, body, time.Minute, notify.ErrNoSignature, ""},
		{"bad timestamp", "k", func() http.Header {
			h := signed("k", now, body)
			h.Set(notify.HeaderTimestamp, "yesterday")
			return h
		}(), body, time.Minute, notify.ErrBadSignature, `"yesterday" is not Unix seconds`},
		{"not hex", "k", func() http.Header {
			h := signed("k", now, body)
			h.Set(notify.HeaderSignature, "sha256=zz")
			return h
		}(), body, time.Minute, notify.ErrBadSignature, ""},
		{"other algorithm", "k", func() http.Header {
			h := signed("k", now, body)
			h.Set(notify.HeaderSignature, strings.Replace(h.Get(notify.HeaderSignature), "sha256=", "sha1=", 1))
			return h
		}(), body, time.Minute, notify.ErrBadSignature, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := notify.Verify(tc.secret, tc.header, tc.body, tc.maxAge)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
	if err := notify.Verify("", signed("", now, body), body, 0); err == nil {
		t.Error("an empty secret verified a signature")
	}
}
