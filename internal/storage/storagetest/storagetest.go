// Package storagetest is the conformance suite that every storage.Bucket
// implementation passes (rclone's habit): one set of expectations, run against local
// directories and against a real S3 server alike.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
)

// PageSize is the listing page size that newBucket should give its buckets where the
// implementation has one, so that listings of the suite span several pages.
const PageSize = 7

// BigSize is the length of the object the suite streams through Put and Open with
// bounded memory, and MaxHeapGrowth the bound.
const (
	BigSize       = 64 << 20
	MaxHeapGrowth = 32 << 20
)

// Run runs the suite. newBucket must return an empty bucket of its own on every call,
// and should list with PageSize keys per page.
func Run(t *testing.T, newBucket func(t *testing.T) storage.Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Bucket)
	}{
		// First, while the heap is quiet.
		{"BigStreamingObject", testBig},
		{"PutStatOpenDelete", testBasic},
		{"UnknownSize", testUnknownSize},
		{"EmptyObject", testEmpty},
		{"Overwrite", testOverwrite},
		{"ContentTypes", testContentTypes},
		{"Keys", testKeys},
		{"NestedPrefixes", testNestedPrefixes},
		{"Pagination", testPagination},
		{"Missing", testMissing},
		{"Ranges", testRanges},
		{"ConcurrentWriters", testConcurrentWriters},
		{"FailedPutStoresNothing", testFailedPut},
		{"Canceled", testCanceled},
		{"InvalidKeys", testInvalidKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBucket(t)) })
	}
}

// ctx returns a context for one test, with a deadline so that a hung store fails it.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, b storage.Bucket, key string, data []byte) storage.ObjectInfo {
	t.Helper()
	info, err := b.Put(ctx(t), key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func read(t *testing.T, b storage.Bucket, key string, offset, length int64) []byte {
	t.Helper()
	r, err := b.Open(ctx(t), key, offset, length)
	if err != nil {
		t.Fatalf("Open(%q, %d, %d): %v", key, offset, length, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q [%d, %d): %v", key, offset, length, err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close(%q): %v", key, err)
	}
	return data
}

func list(t *testing.T, b storage.Bucket, prefix string) []storage.ObjectInfo {
	t.Helper()
	var out []storage.ObjectInfo
	for info, err := range b.List(ctx(t), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		out = append(out, info)
	}
	return out
}

func keys(infos []storage.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Key
	}
	return out
}

// payload returns n deterministic pseudo-random bytes.
func payload(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func testBasic(t *testing.T, b storage.Bucket) {
	data := payload(1, 100_000)
	before := time.Now()
	info := put(t, b, "dir/video.mp4", data)
	if info.Key != "dir/video.mp4" || info.Size != int64(len(data)) || info.ETag == "" {
		t.Errorf("Put returned %+v; want key dir/video.mp4, size %d and an ETag", info, len(data))
	}
	st, err := b.Stat(ctx(t), "dir/video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if st.Key != info.Key || st.Size != info.Size || st.ETag != info.ETag {
		t.Errorf("Stat = %+v; Put returned %+v", st, info)
	}
	if st.ContentType != "video/mp4" {
		t.Errorf("ContentType = %q; want video/mp4", st.ContentType)
	}
	// S3 keeps whole seconds; allow for that and a little clock skew.
	if st.ModTime.Before(before.Add(-2*time.Second)) || st.ModTime.After(time.Now().Add(2*time.Second)) {
		t.Errorf("ModTime = %v; want about %v", st.ModTime, before)
	}
	if got := read(t, b, "dir/video.mp4", 0, -1); !bytes.Equal(got, data) {
		t.Errorf("Open read %d bytes that differ from the %d written", len(got), len(data))
	}
	got := list(t, b, "")
	if len(got) != 1 || got[0].Key != "dir/video.mp4" || got[0].Size != int64(len(data)) || got[0].ETag != info.ETag {
		t.Errorf("List = %+v; want the one object %+v", got, info)
	}
	if err := b.Delete(ctx(t), "dir/video.mp4"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx(t), "dir/video.mp4"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Delete: %v; want ErrNotFound", err)
	}
	if err := b.Delete(ctx(t), "dir/video.mp4"); err != nil {
		t.Errorf("deleting a missing object: %v; want no error", err)
	}
	if got := list(t, b, ""); len(got) != 0 {
		t.Errorf("List after Delete = %v; want nothing", keys(got))
	}
	if s := b.String(); s == "" {
		t.Error("String() is empty")
	}
}

func testUnknownSize(t *testing.T, b storage.Bucket) {
	data := payload(2, 12345)
	// A reader that hides its length (bytes.Reader has Len, which an implementation
	// might peek at).
	info, err := b.Put(ctx(t), "unknown.bin", struct{ io.Reader }{bytes.NewReader(data)}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("Size = %d; want %d", info.Size, len(data))
	}
	if got := read(t, b, "unknown.bin", 0, -1); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
}

func testEmpty(t *testing.T, b storage.Bucket) {
	for _, size := range []int64{0, -1} {
		key := fmt.Sprintf("empty%d.txt", size)
		info, err := b.Put(ctx(t), key, strings.NewReader(""), size)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != 0 {
			t.Errorf("%s: Size = %d", key, info.Size)
		}
		if got := read(t, b, key, 0, -1); len(got) != 0 {
			t.Errorf("%s: read %d bytes", key, len(got))
		}
		if got := read(t, b, key, 10, 5); len(got) != 0 {
			t.Errorf("%s: ranged read gave %d bytes", key, len(got))
		}
	}
}

func testOverwrite(t *testing.T, b storage.Bucket) {
	first := put(t, b, "k.ts", []byte("first version"))
	second := put(t, b, "k.ts", []byte("second, longer version"))
	if first.ETag == second.ETag {
		t.Errorf("ETag %q unchanged by a new content", first.ETag)
	}
	if got := read(t, b, "k.ts", 0, -1); string(got) != "second, longer version" {
		t.Errorf("read %q", got)
	}
	st, err := b.Stat(ctx(t), "k.ts")
	if err != nil {
		t.Fatal(err)
	}
	if st.ETag != second.ETag || st.Size != second.Size {
		t.Errorf("Stat = %+v; want %+v", st, second)
	}
}

func testContentTypes(t *testing.T, b storage.Bucket) {
	for key, want := range map[string]string{
		"hls/index.m3u8":   "application/vnd.apple.mpegurl",
		"dash/stream.mpd":  "application/dash+xml",
		"dash/seg-1.m4s":   "video/iso.segment",
		"hls/seg-1.ts":     "video/mp2t",
		"out/720p.MP4":     "video/mp4",
		"out/audio.m4a":    "audio/mp4",
		"out/v.webm":       "video/webm",
		"out/a.mp3":        "audio/mpeg",
		"thumbs/00001.jpg": "image/jpeg",
		"thumbs/00001.png": "image/png",
		"subs/en.vtt":      "text/vtt",
		"anim.gif":         "image/gif",
		"noext":            "application/octet-stream",
	} {
		put(t, b, key, []byte("x"))
		st, err := b.Stat(ctx(t), key)
		if err != nil {
			t.Fatal(err)
		}
		if st.ContentType != want {
			t.Errorf("%s: ContentType = %q; want %q", key, st.ContentType, want)
		}
	}
}

// oddKeys are keys that URL encoding, signing and file systems tend to get wrong.
var oddKeys = []string{
	"with space/file name.mp4",
	"plus+sign/a+b.ts",
	"percent%20/100%.m3u8",
	"percent%2Fslash.jpg",
	"unicode/日本語/ファイル.mp4",
	"unicode/Ünïcödé ☃.png",
	"emoji/🎬.mov",
	"query?x=1&y=2#frag.vtt",
	"tilde~/semi;colon,comma=eq@at$dollar!.txt",
	"quote'and\"double.txt",
	"brackets[1](2){3}.txt",
	"star*caret^pipe|.txt",
	"tab\tand newline\n.txt",
	".hidden/.dotfile",
	"deep/a/b/c/d/e/f/g/h/i/j/k.mp4",
}

func testKeys(t *testing.T, b storage.Bucket) {
	for i, key := range oddKeys {
		data := []byte(fmt.Sprintf("object %d: %s", i, key))
		info := put(t, b, key, data)
		if info.Key != key {
			t.Errorf("Put(%q) returned key %q", key, info.Key)
		}
		if got := read(t, b, key, 0, -1); !bytes.Equal(got, data) {
			t.Errorf("%q: read %q", key, got)
		}
		if st, err := b.Stat(ctx(t), key); err != nil || st.Key != key || st.Size != int64(len(data)) {
			t.Errorf("Stat(%q) = %+v, %v", key, st, err)
		}
	}
	want := slices.Clone(oddKeys)
	slices.Sort(want)
	if got := keys(list(t, b, "")); !slices.Equal(got, want) {
		t.Errorf("List:\n got %q\nwant %q", got, want)
	}
	for _, key := range oddKeys {
		if got := keys(list(t, b, key)); !slices.Equal(got, []string{key}) {
			t.Errorf("List(%q) = %q", key, got)
		}
		if err := b.Delete(ctx(t), key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	if got := list(t, b, ""); len(got) != 0 {
		t.Errorf("left after deleting all: %q", keys(got))
	}
}

func testNestedPrefixes(t *testing.T, b storage.Bucket) {
	all := []string{
		"p.txt",
		"p/x-y/3.ts", // "-" sorts before "/": a walk that visits p/x/ first gets this wrong
		"p/x/1.ts",
		"p/x/2.ts",
		"p/x/sub/9.ts",
		"p/xa.ts",
		"p/y/z/4.ts",
		"q/5.ts",
	}
	for _, k := range all {
		put(t, b, k, []byte(k))
	}
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"p", all[:7]},
		{"p/", all[1:7]},
		{"p/x", all[1:6]},
		{"p/x/", all[2:5]},
		{"p/x/s", all[4:5]},
		{"p/y/z/4.ts", all[6:7]},
		{"p/y/z/4.ts.more", nil},
		{"nope/", nil},
		{"p/nope/deeper/", nil},
		{"r", nil},
	} {
		if got := keys(list(t, b, tt.prefix)); !slices.Equal(got, tt.want) {
			t.Errorf("List(%q):\n got %q\nwant %q", tt.prefix, got, tt.want)
		}
	}
	// Stopping early is allowed.
	n := 0
	for _, err := range b.List(ctx(t), "") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
}

func testPagination(t *testing.T, b storage.Bucket) {
	var want []string
	for i := range 3*PageSize + 2 {
		k := fmt.Sprintf("page/%03d.ts", i)
		want = append(want, k)
		put(t, b, k, []byte(k))
	}
	put(t, b, "other/1.ts", []byte("x"))
	got := list(t, b, "page/")
	if !slices.Equal(keys(got), want) {
		t.Errorf("List:\n got %q\nwant %q", keys(got), want)
	}
	for _, info := range got {
		if info.Size != int64(len(info.Key)) || info.ETag == "" || info.ModTime.IsZero() {
			t.Errorf("listed %+v; want size %d, an ETag and a time", info, len(info.Key))
		}
	}
	// Stop in the middle of the second page.
	n := 0
	for info, err := range b.List(ctx(t), "page/") {
		if err != nil {
			t.Fatal(err)
		}
		if info.Key != want[n] {
			t.Errorf("item %d = %q; want %q", n, info.Key, want[n])
		}
		if n++; n == PageSize+2 {
			break
		}
	}
}

func testMissing(t *testing.T, b storage.Bucket) {
	put(t, b, "present/x.mp4", []byte("x"))
	for _, key := range []string{"absent.mp4", "present/y.mp4", "present", "present/x.mp4/deeper"} {
		_, err := b.Stat(ctx(t), key)
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%q): %v; want ErrNotFound", key, err)
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("Stat(%q): %q does not name the key", key, err)
		}
		for _, rng := range [][2]int64{{0, -1}, {1, 5}, {0, 0}} {
			r, err := b.Open(ctx(t), key, rng[0], rng[1])
			if err == nil {
				r.Close()
			}
			if !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Open(%q, %d, %d): %v; want ErrNotFound", key, rng[0], rng[1], err)
			}
		}
	}
}

func testRanges(t *testing.T, b storage.Bucket) {
	data := payload(3, 1000)
	put(t, b, "r.bin", data)
	for _, tt := range []struct {
		offset, length int64
		want           []byte
	}{
		{0, -1, data},
		{0, 10, data[:10]},
		{10, 10, data[10:20]},
		{990, -1, data[990:]},
		{990, 100, data[990:]},
		{999, 1, data[999:]},
		{0, 1000, data},
		{0, 5000, data},
		{5, 0, nil},
		{1000, -1, nil},
		{1000, 10, nil},
		{2000, 5, nil},
	} {
		if got := read(t, b, "r.bin", tt.offset, tt.length); !bytes.Equal(got, tt.want) {
			t.Errorf("Open(%d, %d): %d bytes, want %d", tt.offset, tt.length, len(got), len(tt.want))
		}
	}
	if r, err := b.Open(ctx(t), "r.bin", -1, 5); err == nil {
		r.Close()
		t.Error("negative offset accepted")
	}
	// Reading in small pieces gives the same bytes.
	r, err := b.Open(ctx(t), "r.bin", 100, 500)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []byte
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data[100:600]) {
		t.Errorf("piecewise read of [100, 600) gave %d bytes that differ", len(got))
	}
}

func testConcurrentWriters(t *testing.T, b storage.Bucket) {
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	contents := make([][]byte, writers)
	for i := range writers {
		contents[i] = payload(byte(10+i), 50_000+i)
	}
	for i := range writers {
		wg.Go(func() {
			key := fmt.Sprintf("own/%d.ts", i)
			if _, err := b.Put(ctx(t), key, bytes.NewReader(contents[i]), -1); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := b.Put(ctx(t), "shared/same.ts", bytes.NewReader(contents[i]), int64(len(contents[i]))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range writers {
		if got := read(t, b, fmt.Sprintf("own/%d.ts", i), 0, -1); !bytes.Equal(got, contents[i]) {
			t.Errorf("own/%d.ts: content differs", i)
		}
	}
	got := read(t, b, "shared/same.ts", 0, -1)
	if !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }) {
		t.Errorf("shared/same.ts holds %d bytes that are none of the versions written", len(got))
	}
	if n := len(list(t, b, "")); n != writers+1 {
		t.Errorf("listed %d objects; want %d", n, writers+1)
	}
}

// failingReader yields n bytes, then fails.
type failingReader struct{ n int }

var errBroken = errors.New("source broke")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBroken
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func testFailedPut(t *testing.T, b storage.Bucket) {
	old := put(t, b, "keep.mp4", []byte("the old version"))
	for _, tt := range []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"reader fails early", &failingReader{n: 1000}, -1},
		{"reader fails after several parts", &failingReader{n: 20 << 20}, -1},
		{"shorter than announced", strings.NewReader("short"), 100},
		{"longer than announced", strings.NewReader("this is longer than five"), 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := b.Put(ctx(t), "keep.mp4", tt.r, tt.size); err == nil {
				t.Fatal("Put succeeded")
			}
			if _, err := b.Put(ctx(t), "new.mp4", tt.r, tt.size); err == nil {
				t.Fatal("Put of a new key succeeded")
			}
			st, err := b.Stat(ctx(t), "keep.mp4")
			if err != nil || st.ETag != old.ETag {
				t.Errorf("after a failed Put, Stat = %+v, %v; want the old version %+v", st, err, old)
			}
			if got := read(t, b, "keep.mp4", 0, -1); string(got) != "the old version" {
				t.Errorf("after a failed Put, read %q", got)
			}
			if _, err := b.Stat(ctx(t), "new.mp4"); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("a failed Put left something: %v", err)
			}
			if got := keys(list(t, b, "")); !slices.Equal(got, []string{"keep.mp4"}) {
				t.Errorf("listed %q after failed Puts", got)
			}
		})
	}
	// The reader's error is in the chain.
	_, err := b.Put(ctx(t), "x.bin", &failingReader{n: 10}, -1)
	if !errors.Is(err, errBroken) {
		t.Errorf("Put's error %v does not wrap the reader's", err)
	}
}

// endless yields zeros forever, about 32 MB/s.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	n := min(len(p), 32<<10)
	clear(p[:n])
	return n, nil
}

func testCanceled(t *testing.T, b storage.Bucket) {
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := b.Put(c, "c.bin", strings.NewReader("data"), 4); err == nil {
		t.Error("Put with a canceled context succeeded")
	}
	// An endless upload stops when its context is canceled.
	c, cancel = context.WithTimeout(ctx(t), 300*time.Millisecond)
	defer cancel()
	_, err := b.Put(c, "endless.bin", endless{}, -1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("endless Put: %v; want context.DeadlineExceeded", err)
	}
	if _, err := b.Stat(ctx(t), "endless.bin"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a canceled Put left something: %v", err)
	}
}

func testInvalidKeys(t *testing.T, b storage.Bucket) {
	for _, key := range []string{"", "nul\x00byte", "bad\xffutf8", strings.Repeat("k", 1100)} {
		if _, err := b.Put(ctx(t), key, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Put(%q): %v; want ErrInvalidKey", key, err)
		}
		if _, err := b.Stat(ctx(t), key); !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v; want ErrInvalidKey", key, err)
		}
	}
}

// testBig streams BigSize bytes of unknown length through Put and back through Open,
// and checks that the heap in use grows by less than MaxHeapGrowth meanwhile.
func testBig(t *testing.T, b storage.Bucket) {
	src := sha256.New()
	gen := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{42}), BigSize), src)
	var info storage.ObjectInfo
	growth := heapGrowth(t, func() {
		var err error
		info, err = b.Put(ctx(t), "big/object.mp4", gen, -1)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("Put of %d MiB of unknown length: heap in use grew by %.1f MiB at most", BigSize>>20, float64(growth)/(1<<20))
	if growth > MaxHeapGrowth {
		t.Errorf("heap in use grew by %d MiB during Put; want under %d MiB", growth>>20, MaxHeapGrowth>>20)
	}
	if info.Size != BigSize {
		t.Errorf("Put returned size %d; want %d", info.Size, BigSize)
	}
	if st, err := b.Stat(ctx(t), "big/object.mp4"); err != nil || st.Size != BigSize {
		t.Errorf("Stat = %+v, %v; want size %d", st, err, BigSize)
	}

	dst := sha256.New()
	growth = heapGrowth(t, func() {
		r, err := b.Open(ctx(t), "big/object.mp4", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		n, err := io.Copy(dst, r)
		if err != nil || n != BigSize {
			t.Fatalf("read back %d bytes, %v", n, err)
		}
	})
	t.Logf("Open of %d MiB: heap in use grew by %.1f MiB at most", BigSize>>20, float64(growth)/(1<<20))
	if growth > MaxHeapGrowth {
		t.Errorf("heap in use grew by %d MiB during Open; want under %d MiB", growth>>20, MaxHeapGrowth>>20)
	}
	if !bytes.Equal(src.Sum(nil), dst.Sum(nil)) {
		t.Error("the content read back differs from the content written")
	}
	// A range deep inside the object.
	r, err := b.Open(ctx(t), "big/object.mp4", BigSize-1000, 500)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 500)
	regen := rand.NewChaCha8([32]byte{42})
	if _, err := io.CopyN(io.Discard, regen, BigSize-1000); err != nil {
		t.Fatal(err)
	}
	regen.Read(want)
	if !bytes.Equal(got, want) {
		t.Error("the range near the end differs")
	}
}

// heapGrowth runs fn while sampling runtime.MemStats.HeapInuse every few milliseconds,
// and returns the largest growth over the value before fn (after a GC).
func heapGrowth(t *testing.T, fn func()) uint64 {
	t.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	func() {
		defer func() { close(stop); <-done }()
		fn()
	}()
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	return peak - base
}
