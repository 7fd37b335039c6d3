package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"
)

// run executes the CLI in process and returns what it printed.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func TestPresetsListJSON(t *testing.T) {
	out, _, err := run(t, "presets", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("not a JSON array: %v", err)
	}
	et := 0
	for _, p := range list {
		id, _ := p["Id"].(string)
		name, _ := p["Name"].(string)
		if strings.HasPrefix(id, "1351620000001-") && strings.HasPrefix(name, "System preset: ") && p["Type"] == "System" {
			et++
		}
	}
	if et < 60 {
		t.Fatalf("%d Elastic Transcoder system presets in the list, want at least 60", et)
	}
}

func TestPresetsListTypes(t *testing.T) {
	out, _, err := run(t, "presets", "list", "--type", "custom", "--presets", "../../testdata/presets/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(out, "web-720p-small") || strings.Contains(out, "generic-720p") {
		t.Fatalf("custom list:\n%s", out)
	}
	if _, _, err := run(t, "presets", "list", "--type", "mine"); err == nil || !strings.Contains(err.Error(), "allowed: system, custom") {
		t.Fatalf("bad --type error = %v", err)
	}
	if _, _, err := run(t, "presets", "list", "-o", "xml"); err == nil || !strings.Contains(err.Error(), `unknown output format "xml"; allowed: table, json, yaml`) {
		t.Fatalf("bad -o error = %v", err)
	}
}

func TestPresetsShow(t *testing.T) {
	byID, _, err := run(t, "presets", "show", "1351620000001-000010", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Id, Name, Container, Type string
		Video                     struct{ BitRate, MaxWidth string }
	}
	if err := json.Unmarshal([]byte(byID), &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "System preset: Generic 720p" || p.Container != "mp4" || p.Type != "System" || p.Video.BitRate != "2400" || p.Video.MaxWidth != "1280" {
		t.Fatalf("show by ID: %+v", p)
	}
	byAlias, _, err := run(t, "presets", "show", "generic-720p", "-o", "json")
	if err != nil || byAlias != byID {
		t.Fatalf("show by alias differs from show by ID (err %v)", err)
	}
	y, _, err := run(t, "presets", "show", "generic-720p")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil || m["id"] != "1351620000001-000010" {
		t.Fatalf("show -o yaml: %v\n%s", err, y)
	}
	_, _, err = run(t, "presets", "show", "generic-702p")
	if err == nil || !strings.Contains(err.Error(), "closest: 1351620000001-000010 (generic-720p") {
		t.Fatalf("unknown preset error = %v", err)
	}
}

func TestPresetsValidate(t *testing.T) {
	out, _, err := run(t, "presets", "validate", "../../testdata/presets/custom.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "../../testdata/presets/custom.yaml: valid (3 presets)" {
		t.Fatalf("validate output = %q", out)
	}

	_, stderr, err := run(t, "presets", "validate", "../../testdata/presets/three-mistakes.yaml")
	var ex *exitError
	if !errors.As(err, &ex) || ex.code != 1 {
		t.Fatalf("validate of a bad file: err = %v, want exit status 1", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	want := []string{
		"three-mistakes.yaml:7:14: video.codec_options.profile:",
		"three-mistakes.yaml:8:15: video.frame_rate:",
		"three-mistakes.yaml:13:13: audio.bit_rate:",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d error lines, want %d:\n%s", len(lines), len(want), stderr)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version == "" || v.GoVersion == "" {
		t.Fatalf("version -o json = %q (%v)", out, err)
	}
}

func TestCompletion(t *testing.T) {
	out, _, err := run(t, "completion", "bash")
	if err != nil || !strings.Contains(out, "bash completion") {
		t.Fatalf("completion bash: %v", err)
	}
	out, _, err = run(t, "__complete", "presets", "show", "generic-7")
	if err != nil || !strings.Contains(out, "generic-720p") {
		t.Fatalf("completing a preset: %v\n%s", err, out)
	}
}

// TestBinaryExitStatus runs the built binary: a file with mistakes must
// end the process with status 1, a good one with 0.
func TestBinaryExitStatus(t *testing.T) {
	bin := buildBinary(t)
	for _, tt := range []struct {
		file string
		code int
	}{
		{"../../testdata/presets/custom.yaml", 0},
		{"../../testdata/presets/three-mistakes.yaml", 1},
	} {
		err := exec.Command(bin, "presets", "validate", tt.file).Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code {
			t.Errorf("validate %s: exit status %d, want %d", tt.file, code, tt.code)
		}
	}
}

// buildBinary builds transcoder once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "transcoder-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "transcoder")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// A file named by --presets can still be validated: it is not checked
// against itself.
func TestPresetsValidateLoadedFile(t *testing.T) {
	const f = "../../testdata/presets/custom.yaml"
	if _, stderr, err := run(t, "--presets", f, "presets", "validate", f); err != nil {
		t.Fatalf("validate of a --presets file: %v\n%s", err, stderr)
	}
}
