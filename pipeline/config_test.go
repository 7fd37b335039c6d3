package pipeline_test

import (
	"strings"
	"testing"

	"github.com/transcoder/transcoder/pipeline"
)

// TestParseConfigErrors checks that a bad file is refused with the line
// and setting of each mistake, all at once.
func TestParseConfigErrors(t *testing.T) {
	t.Setenv("TC_SECRET", "s")
	const ok = `pipelines:
  - name: p
    input: ./in/
    output: ./out/
    outputs: [{preset: generic-720p, key: "{{.Base}}.mp4"}]
`
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown setting", "datadir: x\n", []string{"line 1: unknown setting datadir"}},
		{"unset variable", "data_dir: ${TC_NOT_SET}\n", []string{"line 1: ${TC_NOT_SET} is not set in the environment"}},
		{"variable in a comment", "# ${TC_NOT_SET}\n" + ok, nil},
		{"malformed merge key", "pipelines: [{<<, {0000000000}}]\n", []string{"malformed YAML"}},
		{"missing name and outputs", "pipelines:\n  - input: ./in/\n    output: ./out/\n", []string{
			"t.yaml:2: pipelines[0].name: missing", "t.yaml:2: pipelines[0].outputs: missing"}},
		{"bad values", `pipelines:
  - name: p
    status: Sleeping
    input: ./in/
    output: ./out/
    match: ["[x"]
    outputs:
      - {preset: no-such-preset, key: "{{.Base}}.mp4"}
      - {preset: hls-1080p-ladder, key: "{{.Base}}/hls"}
      - {preset: generic-720p, key: "{{.Base}}.mp4", thumbnail_pattern: "{{.Base}}-thumb", rotate: "45"}
    playlists: [{name: x, format: Smooth, outputs: ["nope"]}]
    events: {source: webhook}
    notifications: {completed: ["ftp://x"]}
`, []string{
			`t.yaml:3: pipelines[0].status: "Sleeping"; allowed: Active, Paused`,
			`t.yaml:6: pipelines[0].match[0]: "[x" is not a valid pattern`,
			`t.yaml:8: pipelines[0].outputs[0].preset: `,
			`t.yaml:9: pipelines[0].outputs[1].key: hls-1080p-ladder is a ladder`,
			`t.yaml:10: pipelines[0].outputs[2].thumbnail_pattern: "{{.Base}}-thumb" must contain {count}`,
			`t.yaml:10: pipelines[0].outputs[2].rotate: "45"; allowed: auto, 0, 90, 180, 270`,
			`t.yaml:11: pipelines[0].playlists[0].format: "Smooth"`,
			`t.yaml:11: pipelines[0].playlists[0].outputs[0]: "nope" is not the key of any of this pipeline's outputs`,
			`t.yaml:12: pipelines[0].events.webhook_token: missing`,
			`t.yaml:13: pipelines[0].notifications: `,
		}},
		{"duplicate names", ok + "  - name: p\n    input: ./in2/\n    output: ./out2/\n    outputs: [{preset: generic-720p, key: a.mp4}]\n",
			[]string{`t.yaml:6: pipelines[1].name: "p" is also the name of pipelines[0]`}},
		{"api credentials", "api:\n  credentials: [{access_key: a, secret_key: ${TC_SECRET}}, {access_key: a, secret_key: b}]\n",
			[]string{`t.yaml:2: api.credentials[1].access_key: "a" is also the access key of credentials[0]`}},
		{"api without credentials", "api: {rate_limit: 5}\n", []string{"t.yaml:1: api: authentication is on and no credentials are given"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipeline.ParseConfig("t.yaml", []byte(tc.yaml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

// TestParseConfigDefaults pins the defaults a minimal file gets.
func TestParseConfigDefaults(t *testing.T) {
	cfg, err := pipeline.ParseConfig("/etc/transcoder/transcoder.yaml", []byte(`pipelines:
  - name: p
    input: ./in/
    output: /srv/out/
    outputs: [{preset: generic-720p, key: "{{.Base}}.mp4"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pipelines[0]
	checks := map[string][2]string{
		"data_dir":    {cfg.DataDir, "/etc/transcoder/transcoder-data"},
		"work_dir":    {cfg.Workers.WorkDir, "/etc/transcoder/transcoder-data/work"},
		"listen":      {cfg.Listen, "127.0.0.1:8080"},
		"input":       {p.Input, "file:///etc/transcoder/in/"},
		"output":      {p.Output, "file:///srv/out/"},
		"status":      {p.Status, "Active"},
		"source":      {p.Events.Source, "poll"},
		"id is ET's":  {map[bool]string{true: "yes"}[len(p.ID) == 20 && p.ID[13] == '-'], "yes"},
		"grace":       {cfg.Workers.GracePeriod.String(), "30s"},
		"ack wait":    {cfg.Workers.AckWait.String(), "10s"},
		"concurrency": {map[bool]string{true: "1"}[cfg.Workers.Concurrency == 1], "1"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
}

// TestExpandEnvQuotes: a secret with YAML's special characters stays the
// value it is.
func TestExpandEnvQuotes(t *testing.T) {
	for _, v := range []string{"a #b", "*star", "&amp", "two\nlines", `q"uote`, "plain"} {
		t.Setenv("TC_VALUE", v)
		cfg, err := pipeline.ParseConfig("t.yaml", []byte(`api:
  credentials:
    - access_key: a
      secret_key: ${TC_VALUE}   # a comment
    - {access_key: b, secret_key: ${TC_VALUE}}
`))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		for _, c := range cfg.API.Credentials {
			if c.SecretKey != v {
				t.Errorf("%q read as %q", v, c.SecretKey)
			}
		}
	}
	t.Setenv("TC_HOST", "minio.local")
	cfg, err := pipeline.ParseConfig("t.yaml", []byte("stores:\n  m: {endpoint: http://${TC_HOST}:9000}\n"))
	if err != nil || cfg.Stores["m"].Endpoint != "http://minio.local:9000" {
		t.Errorf("inside a value: %v %+v", err, cfg)
	}
}
