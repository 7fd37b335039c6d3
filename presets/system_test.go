package presets

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// TestSystemPresetsMatchReference checks every embedded Elastic Transcoder
// preset against the reference it was converted from (ET's own PascalCase
// shape, every value a string), field by field, and that none is missing.
func TestSystemPresetsMatchReference(t *testing.T) {
	data, err := os.ReadFile("testdata/et-system-presets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ref []map[string]any
	if err := yaml.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry()
	if len(ref) < 60 {
		t.Fatalf("reference holds %d presets, want at least 60", len(ref))
	}
	for _, m := range ref {
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ParseJSON(js)
		if err != nil {
			t.Fatalf("reference preset %v: %v", m["Id"], err)
		}
		got, err := r.Lookup(want.ID)
		if err != nil {
			t.Errorf("reference preset %s: %v", want.ID, err)
			continue
		}
		got.Aliases = nil // ours, not ET's
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			t.Errorf("preset %s differs from the reference:\n got %s\nwant %s", want.ID, gj, js)
		}
	}
}

func TestSystemPresets(t *testing.T) {
	r := NewRegistry()
	all := r.List(TypeSystem)
	et := 0
	aliases := map[string]string{}
	for _, p := range all {
		if p.Type != TypeSystem {
			t.Errorf("%s: type %q, want System", p.ID, p.Type)
		}
		if strings.HasPrefix(p.ID, "1351620000001-") {
			et++
			if !strings.HasPrefix(p.Name, "System preset: ") {
				t.Errorf("%s: name %q lacks ET's prefix", p.ID, p.Name)
			}
		}
		if len(p.Aliases) == 0 {
			t.Errorf("%s: no alias", p.ID)
		}
		for _, a := range p.Aliases {
			if other, dup := aliases[a]; dup {
				t.Errorf("alias %q on both %s and %s", a, other, p.ID)
			}
			aliases[a] = p.ID
		}
		// Every way of naming the preset finds it.
		for _, ref := range append([]string{p.ID, p.Name, strings.ToUpper(p.Name)}, p.Aliases...) {
			got, err := r.Lookup(ref)
			if err != nil || got.ID != p.ID {
				t.Errorf("Lookup(%q) = %v, %v; want %s", ref, got, err, p.ID)
			}
		}
	}
	if et < 60 {
		t.Errorf("%d Elastic Transcoder system presets, want at least 60", et)
	}
	// The modern presets the project promises.
	for _, alias := range []string{"hls-1080p-ladder", "cmaf-h264-1080p", "cmaf-h264-720p", "cmaf-h264-480p", "cmaf-h264-360p", "cmaf-aac-128k",
		"hevc-1080p", "hevc-720p", "av1-1080p", "av1-720p", "webm-vp9-opus-1080p", "audio-opus-128k", "audio-aac-192k", "preview-webp", "preview-gif"} {
		if _, err := r.Lookup(alias); err != nil {
			t.Errorf("modern preset: %v", err)
		}
	}
}

// TestSystemExemptions pins the rules Elastic Transcoder's own presets
// break: each is excused only because the preset is a system preset, and
// the same preset as a user's is refused.
func TestSystemExemptions(t *testing.T) {
	want := map[string]string{
		"1351620000001-000001": "video.aspect_ratio: cannot be combined",
		"1351620000001-100220": "name: is 41 characters long",
		"1351620000001-100230": "name: is 41 characters long",
		"1351620000001-300300": "name: is 54 characters long",
	}
	for _, p := range NewRegistry().List(TypeSystem) {
		if errs := validate(p, true); errs != nil {
			t.Errorf("system preset %s is invalid: %v", p.ID, errs)
		}
		p.Type = TypeCustom
		errs := p.Validate()
		w, exempt := want[p.ID]
		switch {
		case exempt && (len(errs) != 1 || !strings.Contains(errs[0].Error(), w)):
			t.Errorf("%s as a custom preset: got %v, want one error containing %q", p.ID, errs, w)
		case !exempt && errs != nil:
			t.Errorf("%s as a custom preset: %v", p.ID, errs)
		}
	}
}

// TestRoundTrip writes every system preset as YAML and as ET JSON and
// reads it back, in both directions and across forms.
func TestRoundTrip(t *testing.T) {
	for _, p := range NewRegistry().List("") {
		y, err := MarshalYAML(p)
		if err != nil {
			t.Fatal(err)
		}
		fromYAML, err := parse("rt.yaml", y, true)
		if err != nil {
			t.Fatalf("%s: YAML does not read back: %v\n%s", p.ID, err, y)
		}
		if !reflect.DeepEqual(fromYAML[0], p) {
			t.Errorf("%s: YAML round trip changed the preset:\n%s", p.ID, y)
		}
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := ParseJSON(j)
		if err != nil {
			t.Fatalf("%s: JSON does not read back: %v", p.ID, err)
		}
		if !reflect.DeepEqual(fromJSON, p) {
			t.Errorf("%s: JSON round trip changed the preset:\n%s", p.ID, j)
		}
		y2, _ := MarshalYAML(fromJSON)
		if string(y2) != string(y) {
			t.Errorf("%s: YAML via JSON differs", p.ID)
		}
	}
}

// TestGolden pins the YAML and ET JSON of a few presets.
func TestGolden(t *testing.T) {
	r := NewRegistry()
	for _, ref := range []string{"generic-720p", "generic-1080p", "hls-1080p-ladder", "webm-vp9-opus-1080p", "audio-wav-8bit", "full-hd-1080i60-xdcam422"} {
		p, err := r.Lookup(ref)
		if err != nil {
			t.Fatal(err)
		}
		y, err := MarshalYAML(p)
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.MarshalIndent(p, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "golden", ref+".yaml"), y)
		golden(t, filepath.Join("testdata", "golden", ref+".json"), append(j, '\n'))
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run go test -update if the change is intended):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestETNames checks that Path.ETString names every field exactly as the
// JSON encoding does.
func TestETNames(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			y, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if got := etName(y); got != j {
				t.Errorf("%s.%s: etName(%q) = %q, want %q", typ.Name(), f.Name, y, got, j)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Preset]())
	if got := (Path{"video", "watermarks", 2, "id"}).ETString(); got != "Video.Watermarks[2].Id" {
		t.Errorf("ETString = %q", got)
	}
}

func TestExtensionsListed(t *testing.T) {
	for _, c := range ExtensionContainers {
		if !slices.Contains(Containers, c) {
			t.Errorf("extension container %q missing from Containers", c)
		}
	}
}
