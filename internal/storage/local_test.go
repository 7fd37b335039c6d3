package storage_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/storagetest"
)

func newLocal(t *testing.T) *storage.Local {
	t.Helper()
	b, err := storage.NewLocal(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLocalConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return newLocal(t) })
}

func rootOf(t *testing.T, b *storage.Local) string {
	t.Helper()
	return strings.TrimPrefix(b.String(), "file://")
}

func TestLocalRefusesKeysOutsideRoot(t *testing.T) {
	ctx := t.Context()
	b := newLocal(t)
	root := rootOf(t, b)
	if _, err := b.Put(ctx, "inside.txt", strings.NewReader("in"), -1); err != nil {
		t.Fatal(err)
	}
	// A directory beside the root with a secret the bucket must never reach.
	outside := filepath.Join(filepath.Dir(root), "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{
		"../outside/secret.txt",
		"a/../../outside/secret.txt",
		"a/../inside.txt",
		"./inside.txt",
		"/etc/passwd",
		"a//b",
		"dir/",
		".",
		"..",
		"nul\x00.txt",
		".transcoder-tmp-123-x.mp4",
	} {
		t.Run(key, func(t *testing.T) {
			if _, err := b.Stat(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Stat: %v; want ErrInvalidKey", err)
			}
			if r, err := b.Open(ctx, key, 0, -1); !errors.Is(err, storage.ErrInvalidKey) {
				if err == nil {
					r.Close()
				}
				t.Errorf("Open: %v; want ErrInvalidKey", err)
			}
			if _, err := b.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Put: %v; want ErrInvalidKey", err)
			}
			if err := b.Delete(ctx, key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Delete: %v; want ErrInvalidKey", err)
			}
			if _, err := b.LocalPath(key); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("LocalPath: %v; want ErrInvalidKey", err)
			}
		})
	}
	if data, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(data) != "secret" {
		t.Errorf("the file outside the root was changed: %q", data)
	}
	// Listing prefixes that climb out find nothing.
	for _, prefix := range []string{"../", "../outside/", "/etc/", "a/../../"} {
		for info, err := range b.List(ctx, prefix) {
			t.Errorf("List(%q) yielded %+v, %v", prefix, info, err)
		}
	}
}

func TestLocalSymlinks(t *testing.T) {
	ctx := t.Context()
	b := newLocal(t)
	if _, err := b.Put(ctx, "real/file.mp4", strings.NewReader("inside"), -1); err != nil {
		t.Fatal(err)
	}
	root := rootOf(t, b)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"out-dir":         outside,                                 // absolute, out
		"out-file.txt":    filepath.Join(outside, "secret.txt"),    // absolute, out
		"rel-out.txt":     "../../" + filepath.Base(outside),       // relative, climbing out
		"real/up-dir":     "../..",                                 // relative, to the root's parent
		"in-file.mp4":     "real/file.mp4",                         // relative, inside: allowed
		"in-dir":          "real",                                  // relative, inside: allowed
		"dangling.mp4":    "real/none.mp4",                         // nowhere
		"real/loop":       "../real/loop",                          // itself
		"abs-in-file.mp4": filepath.Join(root, "real", "file.mp4"), // absolute, inside: refused by os.Root
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{
		"out-dir/secret.txt", "out-file.txt", "real/up-dir/" + filepath.Base(outside) + "/secret.txt",
		"abs-in-file.mp4",
	} {
		if _, err := b.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) went through a link out of the root", key)
		}
		if r, err := b.Open(ctx, key, 0, -1); err == nil {
			data, _ := io.ReadAll(r)
			r.Close()
			t.Errorf("Open(%q) read %q through a link out of the root", key, data)
		} else if !errors.Is(err, storage.ErrInvalidKey) && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q): %v; want ErrInvalidKey", key, err)
		}
		if _, err := b.LocalPath(key); err == nil {
			t.Errorf("LocalPath(%q) succeeded", key)
		}
	}
	if _, err := b.Put(ctx, "out-dir/planted.txt", strings.NewReader("x"), -1); err == nil {
		t.Error("Put wrote through a link out of the root")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.txt")); err == nil {
		t.Error("a file was planted outside the root")
	}
	// Links that stay inside work.
	if got := readAll(t, b, "in-file.mp4"); got != "inside" {
		t.Errorf("in-file.mp4: %q", got)
	}
	if got := readAll(t, b, "in-dir/file.mp4"); got != "inside" {
		t.Errorf("in-dir/file.mp4: %q", got)
	}
	// Listing shows regular files and links to them, not links out, dangling links,
	// loops or links to directories.
	var got []string
	for info, err := range b.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if want := []string{"in-file.mp4", "real/file.mp4"}; !slices.Equal(got, want) {
		t.Errorf("List = %q; want %q", got, want)
	}
}

func readAll(t *testing.T, b storage.Bucket, key string) string {
	t.Helper()
	r, err := b.Open(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// gatedReader yields its data, then blocks until gate is closed, then fails or ends.
type gatedReader struct {
	data    []byte
	reached chan struct{}
	gate    chan struct{}
	fail    bool
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if len(g.data) > 0 {
		n := copy(p, g.data)
		g.data = g.data[n:]
		return n, nil
	}
	close(g.reached)
	<-g.gate
	if g.fail {
		return 0, errors.New("source broke")
	}
	return 0, io.EOF
}

func TestLocalPutIsAtomic(t *testing.T) {
	ctx := t.Context()
	b := newLocal(t)
	root := rootOf(t, b)
	if _, err := b.Put(ctx, "dir/obj.mp4", strings.NewReader("old"), -1); err != nil {
		t.Fatal(err)
	}
	current := "old"
	for _, fail := range []bool{false, true} {
		g := &gatedReader{data: bytes.Repeat([]byte("n"), 100_000), reached: make(chan struct{}), gate: make(chan struct{}), fail: fail}
		errc := make(chan error, 1)
		go func() {
			_, err := b.Put(ctx, "dir/obj.mp4", g, -1)
			errc <- err
		}()
		<-g.reached
		// Mid-write: readers see the current object, the listing shows only it, and
		// the data sits in a temporary file in the same directory.
		if got := readAll(t, b, "dir/obj.mp4"); got != current {
			t.Errorf("fail=%v: mid-write read %d bytes; want %d", fail, len(got), len(current))
		}
		var listed []string
		for info, err := range b.List(ctx, "") {
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, info.Key)
		}
		if !slices.Equal(listed, []string{"dir/obj.mp4"}) {
			t.Errorf("mid-write listing = %q", listed)
		}
		entries, err := os.ReadDir(filepath.Join(root, "dir"))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || !strings.HasPrefix(entries[0].Name(), ".transcoder-tmp-") {
			t.Errorf("mid-write directory holds %v; want obj.mp4 and a temporary file", entries)
		}
		close(g.gate)
		err = <-errc
		if fail != (err != nil) {
			t.Fatalf("fail=%v: Put returned %v", fail, err)
		}
		if !fail {
			current = strings.Repeat("n", 100_000)
		}
		if entries, _ = os.ReadDir(filepath.Join(root, "dir")); len(entries) != 1 {
			t.Errorf("fail=%v: after Put, the directory holds %v; want only obj.mp4", fail, entries)
		}
		if got := readAll(t, b, "dir/obj.mp4"); got != current {
			t.Errorf("fail=%v: after Put, read %d bytes; want %d", fail, len(got), len(current))
		}
		fi, err := os.Stat(filepath.Join(root, "dir", "obj.mp4"))
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
		}
	}
}

func TestLocalMissingRoot(t *testing.T) {
	ctx := t.Context()
	root := filepath.Join(t.TempDir(), "not", "yet")
	b, err := storage.NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "a.mp4"); !errors.Is(err, storage.ErrNoSuchBucket) || !strings.Contains(err.Error(), root) {
		t.Errorf("Stat: %v; want ErrNoSuchBucket naming %s", err, root)
	}
	for _, err := range b.List(ctx, "") {
		if !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Errorf("List: %v; want ErrNoSuchBucket", err)
		}
	}
	// Put creates the root.
	if _, err := b.Put(ctx, "a.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "a.mp4"); err != nil {
		t.Error(err)
	}
}

func TestLocalSpecialFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	b := newLocal(t)
	if _, err := b.Put(ctx, "x.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	root := rootOf(t, b)
	if err := syscall.Mkfifo(filepath.Join(root, "fifo.mp4"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A FIFO is not an object: opening it must neither block nor succeed.
	if r, err := b.Open(ctx, "fifo.mp4", 0, -1); !errors.Is(err, storage.ErrNotFound) {
		if err == nil {
			r.Close()
		}
		t.Errorf("Open(fifo): %v; want ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, "fifo.mp4"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(fifo): %v; want ErrNotFound", err)
	}
	var got []string
	for info, err := range b.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	if !slices.Equal(got, []string{"x.mp4"}) {
		t.Errorf("List = %q", got)
	}
	// A directory is not an object, and cannot be replaced by one.
	if _, err := b.Put(ctx, "d/x.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "d", strings.NewReader("x"), 1); err == nil {
		t.Error("Put over a directory succeeded")
	}
	if err := b.Delete(ctx, "d"); err == nil {
		t.Error("Delete of a directory succeeded")
	}
}

func TestLocalPath(t *testing.T) {
	b := newLocal(t)
	if _, err := b.Put(t.Context(), "a b/c.mp4", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	p, err := b.LocalPath("a b/c.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(rootOf(t, b), "a b", "c.mp4"); p != want {
		t.Errorf("LocalPath = %q; want %q", p, want)
	}
	if _, err := b.LocalPath("missing.mp4"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("LocalPath(missing): %v; want ErrNotFound", err)
	}
}
