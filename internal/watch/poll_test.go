package watch_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/watch"
)

func TestPollerS3(t *testing.T) {
	t.Parallel()
	name := shared.NewBucket(t)
	b := s3Bucket(t, shared, name, "in/")
	outside := s3Bucket(t, shared, name, "")
	put(t, b, "existing.mp4", []byte("old"))

	c := start(t, watch.NewPoller(b, watch.PollOptions{
		Interval: 50 * time.Millisecond,
		Match:    func(k string) bool { return !strings.HasSuffix(k, ".txt") },
	}))
	c.await(10*time.Second, "existing.mp4")

	first := put(t, b, "Café del Mar +1 100%.mp4", []byte("v1"))
	for _, k := range []string{".hidden.mp4", "x.mp4.part", "notes.txt", ".transcoder-tmp-1/y.mp4"} {
		put(t, b, k, []byte("ignored"))
	}
	put(t, outside, "elsewhere.mp4", []byte("outside the location"))
	got := c.await(10*time.Second, "Café del Mar +1 100%.mp4")
	if o := got["Café del Mar +1 100%.mp4"]; o.ETag != first.ETag || o.Size != 2 {
		t.Errorf("reported %+v; want ETag %s, size 2", o, first.ETag)
	}

	second := put(t, b, "Café del Mar +1 100%.mp4", []byte("version 2"))
	if second.ETag == first.ETag {
		t.Fatal("rewriting did not change the ETag")
	}
	got = c.await(10*time.Second, "Café del Mar +1 100%.mp4")
	if o := got["Café del Mar +1 100%.mp4"]; o.ETag != second.ETag {
		t.Errorf("rewrite reported with ETag %s; want %s", o.ETag, second.ETag)
	}
	if extra := c.quiet(300 * time.Millisecond); len(extra) > 0 {
		t.Errorf("reported unchanged or ignored objects: %+v", extra)
	}
}

// TestPollerLocalSlowWrite copies a file into a directory in chunks over longer than
// the settle time: the poller must report it once, complete, and never half done.
func TestPollerLocalSlowWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := storage.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ready.mp4"), []byte("already here"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "ready.mp4"), old, old); err != nil {
		t.Fatal(err)
	}

	const settle = 400 * time.Millisecond
	c := start(t, watch.NewPoller(b, watch.PollOptions{Interval: 50 * time.Millisecond, Settle: settle}))
	got := c.await(5*time.Second, "ready.mp4")
	if got["ready.mp4"].Size != int64(len("already here")) {
		t.Errorf("ready.mp4 reported as %+v", got["ready.mp4"])
	}

	// Six chunks, 150 ms apart: 750 ms of writing, each pause shorter than settle.
	const chunks, chunk = 6, 1000
	f, err := os.Create(filepath.Join(dir, "slow.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	part, err := os.Create(filepath.Join(dir, "other.mp4.part"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range chunks {
		if i > 0 {
			time.Sleep(150 * time.Millisecond)
		}
		if _, err := f.Write(bytes.Repeat([]byte{byte('a' + i)}, chunk)); err != nil {
			t.Fatal(err)
		}
		part.Write([]byte("partial"))
		if early := c.quiet(0); len(early) > 0 {
			t.Fatalf("reported while being written: %+v", early)
		}
	}
	f.Close()
	part.Close()
	fi, err := os.Stat(filepath.Join(dir, "slow.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	finished := fi.ModTime() // the last write

	got = c.await(5*time.Second, "slow.mp4")
	reported := time.Now()
	if o := got["slow.mp4"]; o.Size != chunks*chunk {
		t.Errorf("slow.mp4 reported with size %d; want %d (half done)", o.Size, chunks*chunk)
	}
	if d := reported.Sub(finished); d < settle {
		t.Errorf("slow.mp4 reported %s after the last write; want at least the settle time %s", d, settle)
	}
	if extra := c.quiet(2 * settle); len(extra) > 0 {
		t.Errorf("reported again or reported a .part file: %+v", extra)
	}

	// A rewrite (a new file renamed over the old one, as storage.Local.Put does) has
	// a new ETag and is reported again once settled.
	before := got["slow.mp4"].ETag
	put(t, b, "slow.mp4", []byte("rewritten"))
	got = c.await(5*time.Second, "slow.mp4")
	if o := got["slow.mp4"]; o.ETag == before || o.Size != int64(len("rewritten")) {
		t.Errorf("rewrite reported as %+v; want a new ETag (old %s) and size %d", o, before, len("rewritten"))
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("S3", func(t *testing.T) {
		t.Parallel()
		b := s3Bucket(t, shared, shared.NewBucket(t), "in/")
		for _, k := range []string{"a.mp4", "sub/b b.mov", ".hidden", "c.mp4.part", "d.txt"} {
			put(t, b, k, []byte(k))
		}
		var got []string
		for o, err := range watch.List(ctx, b, func(k string) bool { return !strings.HasSuffix(k, ".txt") }, 0) {
			if err != nil {
				t.Fatal(err)
			}
			if o.ETag == "" || o.Size == 0 || o.ModTime.IsZero() {
				t.Errorf("incomplete object %+v", o)
			}
			got = append(got, o.Key)
		}
		if want := []string{"a.mp4", "sub/b b.mov"}; !slices.Equal(got, want) {
			t.Errorf("List = %q; want %q", got, want)
		}
	})

	t.Run("local", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		b, err := storage.NewLocal(dir)
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Minute)
		for _, k := range []string{"settled.mp4", "sub/settled too.mp4", ".hidden.mp4"} {
			p := filepath.Join(dir, filepath.FromSlash(k))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(k), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, old, old)
		}
		// growing.mp4 is being written throughout the listing.
		f, err := os.Create(filepath.Join(dir, "growing.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					f.Write([]byte("more"))
				}
			}
		}()
		// fresh.mp4 is complete but was written just now.
		if err := os.WriteFile(filepath.Join(dir, "fresh.mp4"), []byte("fresh"), 0o644); err != nil {
			t.Fatal(err)
		}

		began := time.Now()
		var got []string
		for o, err := range watch.List(ctx, b, nil, 200*time.Millisecond) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, o.Key)
		}
		if took := time.Since(began); took < 200*time.Millisecond {
			t.Errorf("List of a directory took %s; want two listings settle apart", took)
		}
		// fresh.mp4 was written less than settle before the first listing, and the
		// second listing started settle after the first: whether it passes depends on
		// its exact age, so only what must and must never be there is checked.
		got = slices.DeleteFunc(got, func(k string) bool { return k == "fresh.mp4" })
		if want := []string{"settled.mp4", "sub/settled too.mp4"}; !slices.Equal(got, want) {
			t.Errorf("List = %q; want %q (growing.mp4 must never be there)", got, want)
		}

		// A negative settle takes everything at once, even the file being written.
		got = got[:0]
		for o, err := range watch.List(ctx, b, nil, -1) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, o.Key)
		}
		if !slices.Contains(got, "growing.mp4") {
			t.Errorf("List with no settle = %q; want growing.mp4 too", got)
		}
	})
}
