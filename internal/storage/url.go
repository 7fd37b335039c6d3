package storage

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Store names with a fixed meaning in location URLs.
const (
	// StoreFile is the scheme of local directories: file:///srv/inbox/.
	StoreFile = "file"
	// StoreS3 is the scheme of the default S3 store: s3://bucket/prefix/.
	StoreS3 = "s3"
	// DefaultStore is the configured store that s3:// URLs use, when there is one.
	DefaultStore = "default"
)

// Location is a parsed location URL.
type Location struct {
	// Store is the URL's scheme in lower case: StoreFile, StoreS3 (the default S3
	// store), or the name of a configured store.
	Store string
	// Bucket is the S3 bucket; empty for local directories.
	Bucket string
	// Prefix is the key prefix inside the bucket, taken literally (no percent-decoding)
	// and possibly empty. For local directories it is the absolute, cleaned directory.
	Prefix string
}

// schemeRE is what RFC 3986 allows in a scheme, which store names must follow.
var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*$`)

// ParseURL parses a location:
//
//   - file:///dir/ (or file://localhost/dir/) is the local directory /dir;
//   - a string without "://" is a local path, made absolute;
//   - s3://bucket/prefix/ is the prefix in bucket on the default S3 store;
//   - NAME://bucket/prefix/ is the prefix in bucket on the configured store NAME.
//
// Like the AWS CLI, it takes paths and prefixes literally: "%20" is three characters of
// a key, and spaces need no escaping. Whether a store NAME exists is checked when the
// location is opened ([Stores.Open]).
func ParseURL(raw string) (Location, error) {
	if raw == "" {
		return Location{}, fmt.Errorf("storage: empty location")
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return Location{}, fmt.Errorf("storage: location %q contains NUL", raw)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !schemeRE.MatchString(scheme) {
		if s, _, found := strings.Cut(raw, ":"); found && schemeRE.MatchString(s) && len(s) > 1 {
			return Location{}, fmt.Errorf("storage: location %q: a URL needs %s://; write ./%s for a local path", raw, s, raw)
		}
		dir, err := filepath.Abs(raw)
		if err != nil {
			return Location{}, fmt.Errorf("storage: location %q: %w", raw, err)
		}
		return Location{Store: StoreFile, Prefix: dir}, nil
	}
	scheme = strings.ToLower(scheme)
	if scheme == StoreFile {
		p, found := strings.CutPrefix(rest, "localhost")
		if !strings.HasPrefix(p, "/") || (found && p == "") {
			return Location{}, fmt.Errorf("storage: location %q: a file URL is file:///absolute/path", raw)
		}
		return Location{Store: StoreFile, Prefix: filepath.Clean(p)}, nil
	}
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("storage: location %q: no bucket (want %s://bucket/prefix/)", raw, scheme)
	}
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return Location{}, fmt.Errorf("storage: location %q: bucket %q: %w", raw, bucket, err)
	}
	if err := checkPrefix("", prefix); err != nil {
		return Location{}, fmt.Errorf("storage: location %q: %w", raw, err)
	}
	return Location{Store: scheme, Bucket: bucket, Prefix: prefix}, nil
}

// String returns the location as a URL that ParseURL accepts.
func (l Location) String() string {
	if l.Store == StoreFile {
		return "file://" + filepath.ToSlash(l.Prefix)
	}
	return l.Store + "://" + l.Bucket + "/" + l.Prefix
}

// dirPrefix makes a non-empty prefix end with "/", so that a location names a
// "directory" of keys whether or not its URL ended with a slash.
func dirPrefix(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		return p + "/"
	}
	return p
}
