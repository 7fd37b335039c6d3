package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// StoreConfig is an S3-compatible store, as the stores section of transcoder.yaml
// describes it. Empty fields fall back to the standard AWS variables, as noted on each.
type StoreConfig struct {
	// Endpoint is the store's base URL, such as http://127.0.0.1:9000 or
	// https://s3.eu-west-1.amazonaws.com; https is assumed without a scheme. Empty:
	// AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else AWS S3.
	Endpoint string `yaml:"endpoint"`
	// Region is the signing region. Empty: AWS_REGION, else AWS_DEFAULT_REGION, else
	// asked of the store once per bucket.
	Region string `yaml:"region"`
	// AccessKey and SecretKey authenticate requests. Empty: AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, else the shared AWS credentials
	// files (AWS_PROFILE), else the EC2/ECS instance role.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// PathStyle forces path-style (true) or virtual-host-style (false) bucket
	// addressing; unset, it is path-style except on endpoints known to want
	// virtual hosts (AWS, Google Cloud Storage, Aliyun).
	PathStyle *bool `yaml:"path_style"`
	// InsecureSkipVerify accepts any TLS certificate. For tests and labs only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// CAFile is a PEM file of certificate authorities trusted besides the system's,
	// for stores with a private CA.
	CAFile string `yaml:"ca_file"`
	// RetryTimeout bounds how long a request keeps retrying network errors and 5xx
	// responses, with exponential backoff; 0 means DefaultRetryTimeout and a negative
	// value disables retries.
	RetryTimeout time.Duration `yaml:"retry_timeout"`
	// PartSize is the size of multipart upload parts in bytes (at least 5 MiB); 0
	// means DefaultPartSize. Each upload holds at most two parts in memory.
	PartSize int64 `yaml:"part_size"`
	// ListPageSize is how many keys a listing request asks for (1 to 1000); 0 means
	// 1000.
	ListPageSize int `yaml:"list_page_size"`
}

// String describes the store without its secret.
func (c StoreConfig) String() string {
	secret := ""
	if c.SecretKey != "" {
		secret = "REDACTED"
	}
	return fmt.Sprintf("{endpoint:%q region:%q access_key:%q secret_key:%q}", c.Endpoint, c.Region, c.AccessKey, secret)
}

// LogValue keeps the secret out of logs.
func (c StoreConfig) LogValue() slog.Value { return slog.StringValue(c.String()) }

// withEnv fills the empty fields from the AWS variables that getenv returns.
func (c StoreConfig) withEnv(getenv func(string) string) StoreConfig {
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	c.Endpoint = first(c.Endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"))
	c.Region = first(c.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	return c
}

// Stores opens locations on local directories, the default S3 store and the
// configured stores. It keeps one client (and its connection pool) per store.
type Stores struct {
	configs map[string]StoreConfig

	mu      sync.Mutex
	clients map[string]*s3Client
}

// NewStores checks the configured stores, keyed by name. A name is what location URLs
// use as their scheme, in lower case; "file", "s3", "http" and "https" are taken. The
// store named "default" is the one s3:// URLs use; without it they use the AWS
// variables alone.
func NewStores(configs map[string]StoreConfig) (*Stores, error) {
	s := &Stores{configs: make(map[string]StoreConfig, len(configs)), clients: map[string]*s3Client{}}
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		cfg := configs[name]
		switch {
		case !schemeRE.MatchString(name) || strings.ToLower(name) != name:
			return nil, fmt.Errorf("storage: store name %q: want lower-case letters, digits, '+', '-' or '.', starting with a letter", name)
		case name == StoreS3:
			return nil, fmt.Errorf(`storage: store name "s3" is taken by s3:// URLs; name the store "default" to make s3:// use it`)
		case name == StoreFile || name == "http" || name == "https":
			return nil, fmt.Errorf("storage: store name %q is taken", name)
		}
		if _, err := resolveS3Config(cfg, func(string) string { return "" }); err != nil {
			return nil, fmt.Errorf("storage: store %q: %w", name, err)
		}
		s.configs[name] = cfg
	}
	return s, nil
}

// Open returns the bucket at loc. It makes no request: a missing bucket or bad
// credentials show in the first operation.
func (s *Stores) Open(loc Location) (Bucket, error) {
	if loc.Store == StoreFile {
		return NewLocal(loc.Prefix)
	}
	c, err := s.client(loc.Store)
	if err != nil {
		return nil, err
	}
	return newS3Bucket(c, loc), nil
}

// OpenURL parses raw ([ParseURL]) and opens it.
func (s *Stores) OpenURL(raw string) (Bucket, error) {
	loc, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return s.Open(loc)
}

// client returns the shared client of a store, creating it on first use.
func (s *Stores) client(store string) (*s3Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[store]; ok {
		return c, nil
	}
	cfg, ok := s.configs[store]
	if !ok && store == StoreS3 {
		cfg, ok = s.configs[DefaultStore]
	}
	if !ok && store != StoreS3 {
		known := "none"
		if len(s.configs) > 0 {
			known = strings.Join(slices.Sorted(maps.Keys(s.configs)), ", ")
		}
		return nil, fmt.Errorf("storage: no store named %q (configured: %s; s3:// is the default store, file:// a local directory)",
			store, known)
	}
	c, err := newS3Client(cfg, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("storage: store %q: %w", store, err)
	}
	s.clients[store] = c
	return c, nil
}

// errNoSecret is returned for half-configured credentials.
var errNoSecret = errors.New("access_key and secret_key go together: set both or neither")
