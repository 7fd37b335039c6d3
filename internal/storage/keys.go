package storage

import (
	"errors"
	"io/fs"
	"strings"
	"unicode/utf8"
)

// maxKeyLen is S3's limit on the length of a key in bytes (location prefix included).
const maxKeyLen = 1024

// checkKey applies the rules every bucket shares: a key is non-empty UTF-8 without NUL,
// at most maxKeyLen bytes once joined to the location prefix.
func checkKey(prefix, key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	return checkPrefix(prefix, key)
}

// checkPrefix is checkKey for listing prefixes, which may be empty.
func checkPrefix(prefix, p string) error {
	switch {
	case !utf8.ValidString(p):
		return errors.New("key is not valid UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("key contains NUL")
	case len(prefix)+len(p) > maxKeyLen:
		return errors.New("key is longer than 1024 bytes")
	}
	return nil
}

// checkLocalKey adds the rules of local directories: the key must be a clean relative
// slash-separated path with no "." or ".." elements, no empty elements, no leading or
// trailing slash, and must not look like one of our temporary files.
func checkLocalKey(key string) error {
	if err := checkKey("", key); err != nil {
		return err
	}
	if !fs.ValidPath(key) || key == "." {
		return errors.New(`key must be a relative path without "." or ".." elements, empty elements or a leading or trailing "/"`)
	}
	for elem := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(elem, tempPrefix) {
			return errors.New("key element starts with " + tempPrefix + ", which is reserved for temporary files")
		}
	}
	return nil
}
