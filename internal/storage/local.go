package storage

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// tempPrefix starts the names of the temporary files that Put renames into place. Keys
// may not use it, and listings skip such files.
const tempPrefix = ".transcoder-tmp-"

// Local is a [Bucket] over a directory tree: a key a/b.mp4 is the file a/b.mp4 under
// the root.
//
// Every access goes through [os.Root], so keys can never reach outside the root: ".."
// elements, absolute paths and NUL are refused before any system call, and symbolic
// links are followed only while they stay inside the root. Put writes a temporary file
// in the destination directory, syncs it and renames it over the key, so readers see
// the old object or the new one, never a part. Parent directories are created as
// needed and left behind when their last object is deleted.
//
// Because keys are paths, a key cannot be both an object and a "directory" of other
// keys (a and a/b), which S3 allows. Only regular files are objects; listings do not
// descend into symbolic links to directories.
type Local struct {
	root string
}

var (
	_ Bucket      = (*Local)(nil)
	_ LocalPather = (*Local)(nil)
)

// NewLocal returns the bucket rooted at the directory root, which it makes absolute.
// The directory need not exist yet: Put creates it, and reads report [ErrNoSuchBucket]
// until then.
func NewLocal(root string) (*Local, error) {
	if root == "" {
		return nil, errors.New("storage: empty local directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("storage: local directory %q: %w", root, err)
	}
	return &Local{root: abs}, nil
}

// String returns the directory as a file URL.
func (l *Local) String() string { return Location{Store: StoreFile, Prefix: l.root}.String() }

func (l *Local) fail(op, key string, kind, err error) error {
	return &Error{Op: op, Bucket: l.root, Key: key, Kind: kind, Err: err}
}

// classify turns a file system error into an *Error with the right kind.
func (l *Local) classify(op, key string, err error) error {
	var kind error
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		kind = ErrNotFound
	case isEscape(err), errors.Is(err, syscall.ELOOP):
		kind = ErrInvalidKey
	case errors.Is(err, fs.ErrPermission):
		kind = ErrAccessDenied
	}
	return l.fail(op, key, kind, err)
}

// isEscape reports whether err is os.Root refusing a path that leads outside the root.
// The os package does not export that error, only its text.
func isEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

// openRoot opens the root directory for one operation, so that a root that is created,
// removed or replaced while the bucket lives is always seen as it is now.
func (l *Local) openRoot(op, key string) (*os.Root, error) {
	r, err := os.OpenRoot(l.root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, l.fail(op, key, ErrNoSuchBucket, err)
		}
		return nil, l.classify(op, key, err)
	}
	return r, nil
}

// fileInfo converts a regular file's FileInfo.
func fileInfo(key string, fi fs.FileInfo) ObjectInfo {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return ObjectInfo{
		Key:     key,
		Size:    fi.Size(),
		ETag:    fmt.Sprintf("%x-%x-%x", ino, fi.ModTime().UnixNano(), fi.Size()),
		ModTime: fi.ModTime(),
	}
}

// Stat implements [Bucket].
func (l *Local) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := checkLocalKey(key); err != nil {
		return ObjectInfo{}, l.fail("stat", key, ErrInvalidKey, err)
	}
	r, err := l.openRoot("stat", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer r.Close()
	fi, err := r.Stat(key)
	if err != nil {
		return ObjectInfo{}, l.classify("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, l.fail("stat", key, ErrNotFound, fmt.Errorf("%s is not a regular file", fi.Mode().Type()))
	}
	info := fileInfo(key, fi)
	info.ContentType = ContentType(key)
	return info, nil
}

// Open implements [Bucket].
func (l *Local) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkLocalKey(key); err != nil {
		return nil, l.fail("open", key, ErrInvalidKey, err)
	}
	if err := checkRange(offset); err != nil {
		return nil, l.fail("open", key, nil, err)
	}
	r, err := l.openRoot("open", key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// O_NONBLOCK so that a FIFO planted under the root cannot block the open; it has no
	// effect on regular files.
	f, err := r.OpenFile(key, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, l.classify("open", key, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = l.fail("open", key, ErrNotFound, fmt.Errorf("%s is not a regular file", fi.Mode().Type()))
	} else if err != nil {
		err = l.classify("open", key, err)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if offset >= fi.Size() || length == 0 {
		f.Close()
		return emptyReader(), nil
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, l.classify("open", key, err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return readCloser{io.LimitReader(f, length), f}, nil
}

// Put implements [Bucket].
func (l *Local) Put(ctx context.Context, key string, src io.Reader, size int64) (ObjectInfo, error) {
	if err := checkLocalKey(key); err != nil {
		return ObjectInfo{}, l.fail("put", key, ErrInvalidKey, err)
	}
	if err := os.MkdirAll(l.root, 0o755); err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	r, err := l.openRoot("put", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer r.Close()
	dir := path.Dir(key)
	if dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return ObjectInfo{}, l.classify("put", key, err)
		}
	}
	tmp, f, err := createTemp(r, dir, path.Base(key))
	if err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			r.Remove(tmp)
		}
	}()
	if err := copyExactly(f, ctxReader{ctx, src}, size); err != nil {
		return ObjectInfo{}, l.fail("put", key, nil, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	if err := f.Sync(); err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	if err := f.Close(); err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	if err := r.Rename(tmp, key); err != nil {
		return ObjectInfo{}, l.classify("put", key, err)
	}
	done = true
	info := fileInfo(key, fi)
	info.ContentType = ContentType(key)
	return info, nil
}

// createTemp creates a new temporary file in dir (inside r), named after base so that
// leftovers of a crash can be traced to their key.
func createTemp(r *os.Root, dir, base string) (string, *os.File, error) {
	// Keep the name under the usual 255-byte limit whatever the key's base name.
	if len(base) > 100 {
		base = base[:100]
	}
	for range 10 {
		var rnd [8]byte
		rand.Read(rnd[:])
		name := path.Join(dir, tempPrefix+hex.EncodeToString(rnd[:])+"-"+base)
		f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return name, f, err
	}
	return "", nil, errors.New("cannot create a unique temporary file")
}

// copyExactly copies src to dst and, when size is not negative, fails unless src
// yields exactly size bytes.
func copyExactly(dst io.Writer, src io.Reader, size int64) error {
	if size < 0 {
		_, err := io.Copy(dst, src)
		return err
	}
	n, err := io.Copy(dst, io.LimitReader(src, size+1))
	switch {
	case err != nil:
		return err
	case n < size:
		return fmt.Errorf("reader ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	case n > size:
		return fmt.Errorf("reader yields more than the %d bytes announced", size)
	}
	return nil
}

// Delete implements [Bucket].
func (l *Local) Delete(ctx context.Context, key string) error {
	if err := checkLocalKey(key); err != nil {
		return l.fail("delete", key, ErrInvalidKey, err)
	}
	r, err := l.openRoot("delete", key)
	if err != nil {
		return err
	}
	defer r.Close()
	fi, err := r.Lstat(key)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return l.classify("delete", key, err)
	}
	if fi.IsDir() {
		return l.fail("delete", key, ErrNotFound, errors.New("is a directory"))
	}
	if err := r.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return l.classify("delete", key, err)
	}
	return nil
}

// LocalPath implements [LocalPather].
func (l *Local) LocalPath(key string) (string, error) {
	if err := checkLocalKey(key); err != nil {
		return "", l.fail("path", key, ErrInvalidKey, err)
	}
	r, err := l.openRoot("path", key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	// Going through the Root refuses links that lead out of it.
	fi, err := r.Stat(key)
	if err != nil {
		return "", l.classify("path", key, err)
	}
	if !fi.Mode().IsRegular() {
		return "", l.fail("path", key, ErrNotFound, fmt.Errorf("%s is not a regular file", fi.Mode().Type()))
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// List implements [Bucket]. It walks one directory at a time, ordering each
// directory's entries as S3 orders keys (a directory sorts as its name followed by "/"),
// so the whole listing is in byte order of the keys.
func (l *Local) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return func(yield func(ObjectInfo, error) bool) {
		if err := checkPrefix("", prefix); err != nil {
			yield(ObjectInfo{}, l.fail("list", prefix, ErrInvalidKey, err))
			return
		}
		// The directory to walk is the prefix up to its last slash; the rest filters
		// the names in that directory.
		dir, namePrefix := "", prefix
		if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
			dir, namePrefix = prefix[:i], prefix[i+1:]
			if !fs.ValidPath(dir) {
				// No key can start with this prefix.
				if _, err := os.Stat(l.root); err != nil {
					yield(ObjectInfo{}, l.fail("list", prefix, ErrNoSuchBucket, err))
				}
				return
			}
		}
		r, err := l.openRoot("list", prefix)
		if err != nil {
			yield(ObjectInfo{}, err)
			return
		}
		defer r.Close()
		if dir == "" {
			dir = "."
		}
		l.walk(ctx, r, dir, namePrefix, yield)
	}
}

// walk yields the regular files under dir (relative to r) whose names in dir start
// with namePrefix, in key order. It returns false when the caller stopped or an error
// was yielded.
func (l *Local) walk(ctx context.Context, r *os.Root, dir, namePrefix string, yield func(ObjectInfo, error) bool) bool {
	if err := ctx.Err(); err != nil {
		yield(ObjectInfo{}, l.fail("list", dir, nil, err))
		return false
	}
	f, err := r.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return true // nothing there: an empty listing
		}
		if isEscape(err) {
			return true // a link out of the root: not ours to list
		}
		yield(ObjectInfo{}, l.classify("list", dir, err))
		return false
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return true
		}
		yield(ObjectInfo{}, l.classify("list", dir, err))
		return false
	}
	type item struct {
		sortKey string
		entry   fs.DirEntry
	}
	items := make([]item, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, namePrefix) || strings.HasPrefix(name, tempPrefix) {
			continue
		}
		if e.IsDir() {
			name += "/"
		}
		items = append(items, item{name, e})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.sortKey, b.sortKey) })
	for _, it := range items {
		rel := it.entry.Name()
		if dir != "." {
			rel = dir + "/" + rel
		}
		if it.entry.IsDir() {
			if !l.walk(ctx, r, rel, "", yield) {
				return false
			}
			continue
		}
		fi, err := r.Stat(rel) // follows links that stay inside the root
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || isEscape(err) || errors.Is(err, syscall.ELOOP) {
				continue // deleted meanwhile, dangling, or leading out of the root
			}
			yield(ObjectInfo{}, l.classify("list", rel, err))
			return false
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if !yield(fileInfo(rel, fi), nil) {
			return false
		}
	}
	return true
}
