// Package watch tells a watcher which objects appeared in a pipeline's input location.
//
// Three event sources implement [Source]:
//
//   - [Poller] lists the location every interval; it works with any S3 store and with
//     local directories, where it takes a file only once it has settled.
//   - [Listener] subscribes to MinIO's listen API (MinIO only) and resubscribes with
//     backoff whenever the subscription ends.
//   - [Webhook] receives S3 event notifications POSTed by MinIO or Ceph webhook
//     targets; it is also an [net/http.Handler].
//
// Every source can lose events (a restart, a dropped connection, a full queue), so the
// caller also runs a reconcile listing ([List]) at start and at an interval. Sources
// may report an object more than once; the caller creates at most one job per
// (bucket, key, ETag). What no source does is report a local file that is still being
// written: see [List] for the settle rule they share.
//
// Event keys arrive encoded differently per server; [DecodeKey] is the one place they
// are decoded.
package watch

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Object is an object that appeared (or changed) in the watched location.
type Object struct {
	// Key is the object's key, decoded, relative to the watched location (bucket and
	// prefix, or directory).
	Key string
	// ETag identifies the object's content as the store reports it (without quotes).
	// A rewritten object has a new ETag.
	ETag string
	// Size is the object's length in bytes.
	Size int64
	// ModTime is when the object was written, when the source knows it (events carry
	// the event's time); it may be zero.
	ModTime time.Time
}

// Source reports objects that appear in a location.
type Source interface {
	// Run calls found for objects as they appear, until ctx ends; found is called from
	// one goroutine at a time and should return quickly. Run returns nil when ctx
	// ends, and an error only when it cannot go on at all (a store that does not offer
	// the source's API, for example). An object may be reported more than once.
	Run(ctx context.Context, found func(Object)) error
}

// DefaultSettle is how long a local file must stay unchanged before it is taken, when
// the options leave Settle zero.
const DefaultSettle = 2 * time.Second

// resolveSettle applies the convention of every Settle option: zero means
// DefaultSettle and a negative value none.
func resolveSettle(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultSettle
	case d < 0:
		return 0
	}
	return d
}

// Ignored reports whether key names a temporary or partial file that no source ever
// reports: a path element starting with "." (hidden files, rsync's .name.XXXXXX
// temporaries, and the .transcoder-* staging files and directories of storage), or a
// name ending in .part, .partial, .tmp or .crdownload (browsers, curl scripts and
// copy tools that rename when done). Folder markers (keys ending in "/") are ignored
// too.
func Ignored(key string) bool {
	if key == "" || strings.HasSuffix(key, "/") {
		return true
	}
	for elem := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(elem, ".") {
			return true
		}
	}
	switch path.Ext(key) {
	case ".part", ".partial", ".tmp", ".crdownload":
		return true
	}
	return false
}

// wanted applies Ignored and then the caller's match function (nil matches all).
func wanted(key string, match func(string) bool) bool {
	return !Ignored(key) && (match == nil || match(key))
}

// KeyEncoding says how a server encodes object keys in event notifications.
type KeyEncoding string

// Key encodings. See docs/events.md for which server sends which.
const (
	// KeyDefault means the source's documented default.
	KeyDefault KeyEncoding = ""
	// KeyForm is application/x-www-form-urlencoded, what the S3 event format
	// specifies: "+" is a space, "%2B" a plus, "%2F" a slash, other bytes %XX (UTF-8).
	// AWS and MinIO webhook (and other notification) targets send it; AWS leaves "/"
	// unescaped, MinIO escapes it, and both decode the same way.
	KeyForm KeyEncoding = "form"
	// KeyRaw is the key itself, unencoded. MinIO's listen API (since 2020) and Ceph
	// RGW's notifications send it.
	KeyRaw KeyEncoding = "raw"
)

// ParseKeyEncoding parses a configured encoding: "form", "raw" or "" (the default).
func ParseKeyEncoding(s string) (KeyEncoding, error) {
	switch e := KeyEncoding(strings.ToLower(strings.TrimSpace(s))); e {
	case KeyDefault, KeyForm, KeyRaw:
		return e, nil
	}
	return "", fmt.Errorf("watch: key encoding %q: want %q or %q", s, KeyForm, KeyRaw)
}

// or returns e, or def when e is KeyDefault.
func (e KeyEncoding) or(def KeyEncoding) KeyEncoding {
	if e == KeyDefault {
		return def
	}
	return e
}

// errBadKey is wrapped by DecodeKey's errors.
var errBadKey = errors.New("bad event key")

// DecodeKey decodes a key as a server sent it in an event, under enc (KeyDefault is
// KeyForm, the S3 event format's). The result must be a non-empty UTF-8 key without
// NUL: a server that sends something else, or a source configured with the wrong
// encoding (a raw "100%.mp4" read as form-encoded), is an error rather than a wrong key.
func DecodeKey(key string, enc KeyEncoding) (string, error) {
	var k string
	switch enc.or(KeyForm) {
	case KeyForm:
		var err error
		if k, err = url.QueryUnescape(key); err != nil {
			return "", fmt.Errorf("%w %q (form-encoded): %w", errBadKey, key, err)
		}
	case KeyRaw:
		k = key
	default:
		return "", fmt.Errorf("%w %q: unknown key encoding %q", errBadKey, key, enc)
	}
	switch {
	case k == "":
		return "", fmt.Errorf("%w: empty key", errBadKey)
	case !utf8.ValidString(k):
		return "", fmt.Errorf("%w %q: not UTF-8 once decoded as %s", errBadKey, key, enc.or(KeyForm))
	case strings.IndexByte(k, 0) >= 0:
		return "", fmt.Errorf("%w %q: contains NUL", errBadKey, key)
	}
	return k, nil
}

// relative turns a full decoded key into one relative to prefix, reporting false for
// keys outside the prefix.
func relative(full, prefix string) (string, bool) {
	if !strings.HasPrefix(full, prefix) || len(full) == len(prefix) {
		return "", false
	}
	return full[len(prefix):], true
}

// sleep waits for d or until ctx ends, reporting whether it waited the whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
