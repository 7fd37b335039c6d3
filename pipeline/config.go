package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/watch"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// Config is transcoder.yaml: where the engine keeps its state, the HTTP
// listener, the stores, extra presets, the workers and the pipelines.
// docs/configuration.md documents every key.
type Config struct {
	// DataDir holds the embedded engine's storage and the workers' work
	// directory; relative to the config file. Default ./transcoder-data.
	DataDir string `yaml:"data_dir"`
	// NATS is empty for the embedded engine, or the URL of a NATS cluster
	// (or a mapping with more settings).
	NATS NATS `yaml:"nats"`
	// Listen is the HTTP address for health, metrics and event webhooks
	// (and the API). Default 127.0.0.1:8080; "off" opens none.
	Listen    string                         `yaml:"listen"`
	Stores    map[string]storage.StoreConfig `yaml:"stores"`
	Presets   []string                       `yaml:"presets"`
	Workers   Workers                        `yaml:"workers"`
	API       API                            `yaml:"api"`
	Pipelines []*Pipeline                    `yaml:"pipelines"`

	// File is the path the config was read from.
	File string `yaml:"-"`
	// Registry holds the system presets and those of Presets.
	Registry *presets.Registry `yaml:"-"`
	// Store opens the locations the pipelines name.
	Store *storage.Stores `yaml:"-"`
}

// NATS configures the engine. In YAML it is a URL string or a mapping.
type NATS struct {
	// URL of an external NATS server or cluster; empty: embedded.
	URL string `yaml:"url"`
	// Credentials is a NATS .creds file for URL.
	Credentials string `yaml:"credentials"`
	// Listen opens the embedded server's client port (host:port), so that
	// workers on other machines can use it.
	Listen string `yaml:"listen"`
	// Name of the embedded server; default the host name.
	Name string `yaml:"name"`
	// Cluster makes the embedded server a member of a cluster.
	Cluster *Cluster `yaml:"cluster"`
	// Replicas of streams and buckets; default 1, or 3 in a cluster.
	Replicas int `yaml:"replicas"`
}

// Cluster joins embedded servers into a NATS cluster.
type Cluster struct {
	Name   string   `yaml:"name"`
	Listen string   `yaml:"listen"`
	Routes []string `yaml:"routes"`
}

// UnmarshalYAML takes `nats: nats://host:4222` as well as a mapping.
func (n *NATS) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		n.URL = node.Value
		return nil
	}
	type plain NATS
	return node.Decode((*plain)(n))
}

// Workers configures the workers of this process.
type Workers struct {
	// Concurrency is how many jobs this process runs at once; default 1.
	Concurrency int `yaml:"concurrency"`
	// WorkDir holds running jobs' temporary files; default DataDir/work.
	WorkDir string `yaml:"work_dir"`
	// StallTimeout: ffmpeg making no progress this long is killed and the
	// job retried; default 2m.
	StallTimeout time.Duration `yaml:"stall_timeout"`
	// GracePeriod is how long running jobs may finish on shutdown before
	// they go back to the queue; default 30s.
	GracePeriod time.Duration `yaml:"grace_period"`
	// AckWait: a worker silent this long is taken for dead and its job
	// given to another; default 10s.
	AckWait time.Duration `yaml:"ack_wait"`
	// MaxAttempts bounds how often a job is started; default 5.
	MaxAttempts int `yaml:"max_attempts"`
}

// API configures the Elastic Transcoder-compatible HTTP API served on
// Listen.
type API struct {
	// Auth turns request authentication (AWS Signature Version 4, service
	// "elastictranscoder") on or off; default on. Off is for local use
	// only and is logged loudly at start.
	Auth *bool `yaml:"auth"`
	// Credentials are the access keys whose signatures are accepted.
	Credentials []Credential `yaml:"credentials"`
	// RateLimit, when above 0, is the requests per second each access key
	// may make (bursts of RateBurst); beyond it the API answers 429
	// ThrottlingException. Default: no limit.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// SNSTopics maps the SNS topic ARNs that Elastic Transcoder clients put
	// in a pipeline's Notifications to the webhook URLs that receive them.
	SNSTopics map[string]string `yaml:"sns_topics"`
	// Secret signs the notifications of pipelines created through the API.
	Secret string `yaml:"notification_secret"`
	// Region and Account appear in the ARNs the API answers with; default
	// us-east-1 and 000000000000.
	Region  string `yaml:"region"`
	Account string `yaml:"account"`
}

// Credential is one access key of the API.
type Credential struct {
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
}

// String keeps the secret out of logs.
func (c Credential) String() string { return c.AccessKey + ":REDACTED" }

// AuthEnabled reports whether requests must be signed.
func (a API) AuthEnabled() bool { return a.Auth == nil || *a.Auth }

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandEnv replaces ${NAME} with the environment variable NAME, so that
// secrets stay out of the file. Only the braced form is expanded: a bare $
// in a value (a password, say) is left alone. An unset variable is an
// error naming the line.
func ExpandEnv(data []byte) ([]byte, error) {
	var missing []string
	var out bytes.Buffer
	last := 0
	for _, m := range envRef.FindAllSubmatchIndex(data, -1) {
		out.Write(data[last:m[0]])
		last = m[1]
		if inComment(data, m[0]) {
			out.Write(data[m[0]:m[1]])
			continue
		}
		name := string(data[m[2]:m[3]])
		v, ok := os.LookupEnv(name)
		if !ok {
			line := bytes.Count(data[:m[0]], []byte("\n")) + 1
			missing = append(missing, fmt.Sprintf("line %d: ${%s} is not set in the environment", line, name))
		}
		if wholeValue(data, m[0], m[1]) {
			// Quoted, so that a value with " #", a leading * or & or a
			// line break stays the value it is.
			q, _ := json.Marshal(v)
			out.Write(q)
			continue
		}
		out.WriteString(v)
	}
	out.Write(data[last:])
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "; "))
	}
	return out.Bytes(), nil
}

// wholeValue reports whether data[start:end] is a whole plain scalar: a
// mapping value or sequence item with nothing else before the end of the
// line, a comment, or the end of a flow collection.
func wholeValue(data []byte, start, end int) bool {
	before := bytes.TrimRight(data[bytes.LastIndexByte(data[:start], '\n')+1:start], " \t")
	after := data[end:]
	if i := bytes.IndexByte(after, '\n'); i >= 0 {
		after = after[:i]
	}
	after = bytes.TrimLeft(after, " \t")
	okBefore := bytes.HasSuffix(before, []byte(":")) || bytes.HasSuffix(before, []byte("-")) ||
		bytes.HasSuffix(before, []byte("[")) || bytes.HasSuffix(before, []byte(","))
	okAfter := len(after) == 0 || after[0] == '#' || after[0] == ',' || after[0] == '}' || after[0] == ']'
	return okBefore && okAfter
}

// inComment reports whether offset at of a YAML text is inside a comment:
// after a # that starts the line or follows a space, outside quotes.
func inComment(data []byte, at int) bool {
	start := bytes.LastIndexByte(data[:at], '\n') + 1
	var quote byte
	for i := start; i < at; i++ {
		c := data[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == start || data[i-1] == ' ' || data[i-1] == '\t'):
			return true
		}
	}
	return false
}

// LoadConfig reads and checks a config file: every pipeline's presets,
// stores, templates and patterns are checked now, not at the first
// upload. Errors name the file and line.
func LoadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(file, data)
}

// ParseConfig is LoadConfig for data already read; file names it in
// errors and anchors relative paths. extraPresets are preset files or
// directories loaded beside the file's (the --presets flag), before the
// pipelines are checked.
func ParseConfig(file string, data []byte, extraPresets ...string) (*Config, error) {
	data, err := ExpandEnv(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	cfg := &Config{File: file}
	if err := decodeStrict(data, cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", file, yamlError(err))
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	c := checker{file: file, root: &root}
	cfg.check(&c, extraPresets)
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return cfg, nil
}

// decodeStrict decodes YAML refusing unknown keys, with the panics
// yaml.v3 raises on some malformed merge keys turned into errors.
func decodeStrict(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// yamlError rewords yaml.v3's messages for people who never saw Go types.
func yamlError(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n  ")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	s = regexp.MustCompile(`field (\S+) not found in type \S+`).ReplaceAllString(s, "unknown setting $1")
	s = strings.ReplaceAll(s, "yaml: ", "")
	return s
}

// checker collects errors, each with the line of the setting it is about.
type checker struct {
	file string
	root *yaml.Node
	errs []error
}

// at reports a problem with the setting at a path of mapping keys and
// sequence indexes, such as "pipelines", 0, "outputs", 1, "preset".
func (c *checker) at(where []any, format string, args ...any) {
	line := c.line(where)
	var name strings.Builder
	for i, p := range where {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&name, "[%d]", p)
		default:
			if i > 0 {
				name.WriteByte('.')
			}
			fmt.Fprint(&name, p)
		}
	}
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		c.errs = append(c.errs, fmt.Errorf("%s:%d: %s: %s", c.file, line, name.String(), msg))
	} else {
		c.errs = append(c.errs, fmt.Errorf("%s: %s: %s", c.file, name.String(), msg))
	}
}

// has reports whether the file sets the setting at a path.
func (c *checker) has(where ...any) bool {
	n := c.find(where)
	return n != nil
}

// find returns the node at a path, or nil.
func (c *checker) find(where []any) *yaml.Node {
	if c.root == nil || len(c.root.Content) == 0 {
		return nil
	}
	n := c.root.Content[0]
	for _, p := range where {
		switch p := p.(type) {
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return nil
			}
			n = n.Content[p]
		case string:
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		}
	}
	return n
}

// line finds the line of the deepest node of where that exists.
func (c *checker) line(where []any) int {
	n := c.root
	if n == nil || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0]
	line := n.Line
	for _, p := range where {
		switch p := p.(type) {
		case int:
			if n.Kind != yaml.SequenceNode || p >= len(n.Content) {
				return line
			}
			n = n.Content[p]
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
			continue
		}
		line = n.Line
	}
	return line
}

// rel resolves a path relative to the config file's directory.
func (cfg *Config) rel(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(cfg.File), p)
}

// location turns a plain path into a file:// URL relative to the config
// file; URLs stay as they are.
func (cfg *Config) location(s string) string {
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	abs, err := filepath.Abs(cfg.rel(s))
	if err != nil {
		return s
	}
	if strings.HasSuffix(s, "/") {
		abs += "/"
	}
	return "file://" + abs
}

func (cfg *Config) check(c *checker, extraPresets []string) {
	if cfg.DataDir == "" {
		cfg.DataDir = "transcoder-data"
	}
	cfg.DataDir = cfg.rel(cfg.DataDir)
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	w := &cfg.Workers
	if w.Concurrency < 0 {
		c.at([]any{"workers", "concurrency"}, "%d; allowed: 1 or more (0: the default, 1)", w.Concurrency)
	}
	w.Concurrency = max(w.Concurrency, 1)
	if w.WorkDir == "" {
		w.WorkDir = filepath.Join(cfg.DataDir, "work")
	} else {
		w.WorkDir = cfg.rel(w.WorkDir)
	}
	if w.StallTimeout == 0 {
		w.StallTimeout = 2 * time.Minute
	}
	if w.GracePeriod == 0 && !c.has("workers", "grace_period") {
		w.GracePeriod = 30 * time.Second // "0s" given means none
	}
	if w.AckWait == 0 {
		w.AckWait = 10 * time.Second
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 5
	}
	if w.AckWait < time.Second {
		c.at([]any{"workers", "ack_wait"}, "%v; allowed: 1s or more", w.AckWait)
	}
	if cfg.NATS.Credentials != "" {
		cfg.NATS.Credentials = cfg.rel(cfg.NATS.Credentials)
	}

	keys := map[string]int{}
	for i, cr := range cfg.API.Credentials {
		if cr.AccessKey == "" || cr.SecretKey == "" {
			c.at([]any{"api", "credentials", i}, "needs access_key and secret_key")
		}
		if j, dup := keys[cr.AccessKey]; dup {
			c.at([]any{"api", "credentials", i, "access_key"}, "%q is also the access key of credentials[%d]", cr.AccessKey, j)
		}
		keys[cr.AccessKey] = i
	}
	if cfg.API.AuthEnabled() && len(cfg.API.Credentials) == 0 && c.has("api") {
		c.at([]any{"api"}, "authentication is on and no credentials are given: add api.credentials, or set api.auth: false for local use")
	}
	if cfg.API.RateLimit < 0 || cfg.API.RateBurst < 0 {
		c.at([]any{"api", "rate_limit"}, "must not be negative")
	}
	for arn, u := range cfg.API.SNSTopics {
		if !strings.HasPrefix(arn, "arn:aws:sns:") {
			c.at([]any{"api", "sns_topics"}, "%q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", arn)
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			c.at([]any{"api", "sns_topics", arn}, "%q: a webhook URL must be http or https", u)
		}
	}

	stores, err := storage.NewStores(cfg.Stores)
	if err != nil {
		c.at([]any{"stores"}, "%v", err)
		stores, _ = storage.NewStores(nil)
	}
	cfg.Store = stores

	cfg.Registry = presets.NewRegistry()
	paths := make([]string, len(cfg.Presets))
	for i, p := range cfg.Presets {
		paths[i] = cfg.rel(p)
	}
	if err := cfg.Registry.Load(append(paths, extraPresets...)...); err != nil {
		c.errs = append(c.errs, fmt.Errorf("%s: presets: %w", cfg.File, err))
	}

	names, ids := map[string]int{}, map[string]int{}
	for i, p := range cfg.Pipelines {
		if p == nil {
			c.at([]any{"pipelines", i}, "empty pipeline")
			cfg.Pipelines[i] = &Pipeline{}
			continue
		}
		cfg.checkPipeline(c, i, p)
		if j, dup := names[p.Name]; dup && p.Name != "" {
			c.at([]any{"pipelines", i, "name"}, "%q is also the name of pipelines[%d]", p.Name, j)
		}
		names[p.Name] = i
		if j, dup := ids[p.ID]; dup && p.ID != "" {
			c.at([]any{"pipelines", i, "id"}, "%q is also the ID of pipelines[%d]", p.ID, j)
		}
		ids[p.ID] = i
	}
}

var sampleKeyData = jobs.KeyData{Base: "movie", Dir: "incoming", InputExt: ".mov", Ext: ".mp4",
	Alias: "generic-720p", PresetID: "1351620000001-000010", JobID: "1700000000000-abcdef", Index: 1}

func (cfg *Config) checkPipeline(c *checker, i int, p *Pipeline) {
	at := func(path ...any) []any { return append([]any{"pipelines", i}, path...) }
	switch n := len(p.Name); {
	case n == 0:
		c.at(at("name"), "missing; every pipeline needs a name (1 to 40 characters)")
	case n > 40:
		c.at(at("name"), "%d characters; allowed: 1 to 40", n)
	}
	if p.ID == "" {
		p.ID = presets.DeriveID("pipeline:" + p.Name)
	} else if err := jobs.CheckID("id", p.ID); err != nil {
		c.at(at("id"), "%q; allowed: 13 digits, a dash and 6 letters or digits, like 1700000000000-abc123", p.ID)
	}
	switch p.Status {
	case "":
		p.Status = StatusActive
	case StatusActive, StatusPaused:
	default:
		c.at(at("status"), "%q; allowed: Active, Paused", p.Status)
	}
	for _, f := range []struct {
		name     string
		val      *string
		required bool
	}{{"input", &p.Input, true}, {"output", &p.Output, true}, {"thumbnails", &p.Thumbnails, false}} {
		if *f.val == "" {
			if f.required {
				c.at(at(f.name), "missing; a location such as s3://bucket/prefix/, NAME://bucket/ or file:///dir/")
			}
			continue
		}
		*f.val = cfg.location(*f.val)
		if _, err := cfg.Store.OpenURL(*f.val); err != nil {
			c.at(at(f.name), "%v", err)
		}
	}
	for j, m := range p.Match {
		if _, err := path.Match(m, "x"); err != nil || m == "" {
			c.at(at("match", j), "%q is not a valid pattern (use *, ?, [abc])", m)
		}
	}
	if p.OutputKeyPrefix != "" {
		if _, err := renderKey(p.OutputKeyPrefix, sampleKeyData); err != nil {
			c.at(at("output_key_prefix"), "%v", err)
		}
	}
	switch n := len(p.Outputs); {
	case n == 0:
		c.at(at("outputs"), "missing; a pipeline needs at least one output")
	case n > jobs.MaxOutputs:
		c.at(at("outputs"), "%d outputs; allowed: at most %d", n, jobs.MaxOutputs)
	}
	for j, o := range p.Outputs {
		pr, err := cfg.Registry.Lookup(o.Preset)
		if err != nil {
			c.at(at("outputs", j, "preset"), "%v", err)
			continue
		}
		if o.Key == "" {
			c.at(at("outputs", j, "key"), "missing; a key template such as \"{{.Base}}/720p.mp4\"")
			continue
		}
		d := sampleKeyData
		d.Alias, d.PresetID = pr.Alias(), pr.ID
		if _, err := renderKey(o.Key, d); err != nil {
			c.at(at("outputs", j, "key"), "%v", err)
		}
		if o.ThumbnailPattern != "" {
			tp, err := renderKey(o.ThumbnailPattern, d)
			if err != nil {
				c.at(at("outputs", j, "thumbnail_pattern"), "%v", err)
			} else if !strings.Contains(tp, "{count}") {
				c.at(at("outputs", j, "thumbnail_pattern"), "%q must contain {count}", o.ThumbnailPattern)
			}
		}
		if pr.IsLadder() && !strings.Contains(o.Key, "{{.Alias}}") && !strings.Contains(o.Key, "{{.PresetID}}") && !strings.Contains(o.Key, "{{.Index}}") {
			c.at(at("outputs", j, "key"), "%s is a ladder: the key must tell its rungs apart with {{.Alias}}, {{.PresetID}} or {{.Index}}", o.Preset)
		}
		if o.SegmentDuration != "" {
			if v, err := strconv.ParseFloat(o.SegmentDuration, 64); err != nil || v < 1 || v > 60 {
				c.at(at("outputs", j, "segment_duration"), "%q; allowed: 1 to 60 seconds", o.SegmentDuration)
			}
		}
		switch o.Rotate {
		case "", "auto", "0", "90", "180", "270":
		default:
			c.at(at("outputs", j, "rotate"), "%q; allowed: auto, 0, 90, 180, 270", o.Rotate)
		}
	}
	keys := map[string]bool{}
	for _, o := range p.Outputs {
		keys[o.Key] = true
	}
	for j, pl := range p.Playlists {
		if pl.Name == "" {
			c.at(at("playlists", j, "name"), "missing")
		}
		switch pl.Format {
		case jobs.FormatHLSv3, jobs.FormatHLSv4, jobs.FormatHLSv7, jobs.FormatDASH:
		default:
			c.at(at("playlists", j, "format"), "%q; allowed: HLSv3, HLSv4, HLSv7 (fMP4), MPEG-DASH", pl.Format)
		}
		for k, key := range pl.Outputs {
			if !keys[key] {
				c.at(at("playlists", j, "outputs", k), "%q is not the key of any of this pipeline's outputs", key)
			}
		}
	}
	if err := p.Notifications.Validate(); err != nil {
		c.at(at("notifications"), "%v", err)
	}
	if p.Concurrency < 0 {
		c.at(at("concurrency"), "%d; allowed: 0 (no limit) or more", p.Concurrency)
	}
	ev := &p.Events
	switch ev.Source {
	case "", "poll", "listen", "webhook":
	default:
		c.at(at("events", "source"), "%q; allowed: poll, listen, webhook", ev.Source)
	}
	if ev.Source == "" {
		ev.Source = "poll"
	}
	if (ev.Source == "listen" || ev.Source == "webhook") && strings.HasPrefix(p.Input, "file://") {
		c.at(at("events", "source"), "%s needs an S3 store; a directory is polled", ev.Source)
	}
	if ev.Source == "webhook" && ev.WebhookToken == "" {
		c.at(at("events", "webhook_token"), "missing; the webhook source needs a shared token")
	}
	if _, err := watch.ParseKeyEncoding(ev.KeyEncoding); err != nil {
		c.at(at("events", "key_encoding"), "%q; allowed: form, raw", ev.KeyEncoding)
	}
	if ev.PollInterval == 0 {
		ev.PollInterval = 5 * time.Second
	}
	if ev.ReconcileInterval == 0 {
		ev.ReconcileInterval = 5 * time.Minute
	}
	if ev.Settle == 0 {
		ev.Settle = 2 * time.Second
	}
	if ev.PollInterval < 0 || ev.ReconcileInterval < 0 || ev.Settle < 0 {
		c.at(at("events"), "durations must not be negative")
	}
}

// renderKey renders a key template.
func renderKey(tmpl string, d jobs.KeyData) (string, error) {
	t, err := template.New("key").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("template %q: %w", tmpl, err)
	}
	return b.String(), nil
}

// Pipeline returns the pipeline with an ID or name.
func (cfg *Config) Pipeline(ref string) *Pipeline {
	for _, p := range cfg.Pipelines {
		if p.ID == ref || strings.EqualFold(p.Name, ref) {
			return p
		}
	}
	return nil
}
