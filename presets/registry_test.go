package presets

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookup(t *testing.T) {
	r := NewRegistry()
	tests := []struct {
		ref     string
		wantID  string
		wantErr error
		errText string
	}{
		{ref: "1351620000001-000010", wantID: "1351620000001-000010"},
		{ref: "generic-720p", wantID: "1351620000001-000010"},
		{ref: "GENERIC-720P", wantID: "1351620000001-000010"},
		{ref: "System preset: Generic 720p", wantID: "1351620000001-000010"},
		{ref: "system preset: generic 720p", wantID: "1351620000001-000010"},
		{ref: " hls-2m ", wantID: "1351620000001-200010"},
		{ref: "hls-1080p-ladder", wantID: "1762992000000-cmlad1"},
		{ref: "generic-702p", wantErr: ErrNotFound, errText: `unknown preset "generic-702p"; closest: 1351620000001-000010 (generic-720p`},
		{ref: "Generic 720p", wantID: "1351620000001-000010"},
		{ref: "1762992000000-CM1080", wantID: "1762992000000-cm1080"},
		{ref: "Generik 720p", wantErr: ErrNotFound, errText: `closest: 1351620000001-000010 (generic-720p, "System preset: Generic 720p")`},
		{ref: "zzzzzzzzzzzzzzzz", wantErr: ErrNotFound, errText: "see 'transcoder presets list'"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			p, err := r.Lookup(tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Lookup(%q) error = %v, want %v containing %q", tt.ref, err, tt.wantErr, tt.errText)
				}
				return
			}
			if err != nil || p.ID != tt.wantID {
				t.Fatalf("Lookup(%q) = %v, %v; want %s", tt.ref, p, err, tt.wantID)
			}
		})
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	r := NewRegistry()
	p, _ := r.Lookup("generic-720p")
	p.Video.BitRate = "1"
	p.Video.CodecOptions.Profile = "high"
	again, _ := r.Lookup("generic-720p")
	if again.Video.BitRate != "2400" || again.Video.CodecOptions.Profile != "baseline" {
		t.Fatal("changing a looked-up preset changed the registry")
	}
}

func TestUserPresets(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "one.yaml", "name: Mine 720p\naliases: [mine-720p]\ncontainer: mp4\nvideo: {codec: H.264, max_width: 1280, max_height: 720}\n")
	writeFile(t, dir, "list.yml", "- {name: Same Name, container: mp3, audio: {codec: mp3}}\n- {name: Same Name, id: 1700000000000-xyz123, container: mp3, audio: {codec: mp3, bit_rate: 128}}\n")
	writeFile(t, dir, "notes.txt", "not a preset")
	r := NewRegistry()
	if err := r.Load(dir); err != nil {
		t.Fatal(err)
	}
	custom := r.List(TypeCustom)
	if len(custom) != 3 {
		t.Fatalf("got %d custom presets, want 3", len(custom))
	}
	p, err := r.Lookup("mine-720p")
	if err != nil || p.Type != TypeCustom || p.ID != DeriveID("Mine 720p") {
		t.Fatalf("Lookup(mine-720p) = %+v, %v", p, err)
	}
	if DeriveID("Mine 720p") != DeriveID("Mine 720p") || !idPattern.MatchString(DeriveID("x")) {
		t.Fatal("derived IDs must be stable and ET-shaped")
	}
	// Two presets share a name: the name is ambiguous, the IDs are not.
	_, err = r.Lookup("same name")
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "1700000000000-xyz123") {
		t.Fatalf("Lookup(same name) error = %v, want ambiguous listing both", err)
	}
	if got := len(r.List(TypeSystem)); got < 60 {
		t.Fatalf("system presets lost: %d", got)
	}
}

func TestUserPresetConflicts(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"system id", "id: 1351620000001-000010\nname: x\ncontainer: mp3\naudio: {codec: mp3}\n", `bad.yaml:1:5: id: 1351620000001-000010 is already used by "System preset: Generic 720p" (built-in)`},
		{"system alias", "name: x\naliases: [generic-720p]\ncontainer: mp3\naudio: {codec: mp3}\n", `bad.yaml:2:11: aliases[0]: "generic-720p" is already used by system preset "System preset: Generic 720p"`},
		{"unknown rung", "name: x\ncontainer: fmp4\nladder: [cmaf-h264-720p, cmaf-h264-72p]\n", `bad.yaml:3:26: ladder[1]: unknown preset "cmaf-h264-72p"`},
		{"rung container", "name: x\ncontainer: ts\nladder: [cmaf-h264-720p]\n", `"cmaf-h264-720p" has container fmp4; every rung must be ts`},
		{"rung ladder", "name: x\ncontainer: fmp4\nladder: [hls-1080p-ladder]\n", "is itself a ladder"},
		{"invalid file", "name: x\ncontainer: mp4\nvideo: {codec: H.264, frame_rate: 31}\n", `bad.yaml:3:35: video.frame_rate: "31" is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, t.TempDir(), "bad.yaml", tt.body)
			r := NewRegistry()
			before := len(r.List(""))
			err := r.Load(f)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v\nwant it to contain %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "bad.yaml") {
				t.Errorf("error does not name the file: %v", err)
			}
			if got := len(r.List("")); got != before {
				t.Errorf("a failed Load added presets: %d, was %d", got, before)
			}
		})
	}
}

func TestLoadMissingPath(t *testing.T) {
	err := NewRegistry().Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("error = %v", err)
	}
}

func TestRungs(t *testing.T) {
	r := NewRegistry()
	ladder, _ := r.Lookup("hls-1080p-ladder")
	rungs, err := r.Rungs(ladder)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range rungs {
		got = append(got, p.Alias())
	}
	if strings.Join(got, ",") != "cmaf-h264-1080p,cmaf-h264-720p,cmaf-h264-480p,cmaf-h264-360p,cmaf-aac-128k" {
		t.Fatalf("rungs = %v", got)
	}
	single, _ := r.Lookup("generic-720p")
	if rs, _ := r.Rungs(single); len(rs) != 1 || rs[0].ID != single.ID {
		t.Fatalf("Rungs of a single preset = %v", rs)
	}
}
