package jobs

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"text/template"

	"github.com/transcoder/transcoder/presets"
)

// DefaultKeyTemplate names an output after its input and preset:
// movie.mov with generic-720p becomes movie-generic-720p.mp4.
const DefaultKeyTemplate = "{{.Base}}-{{.Alias}}{{.Ext}}"

// DefaultThumbnailTemplate is the thumbnail pattern used when thumbnails
// are asked for without a pattern of their own.
const DefaultThumbnailTemplate = "{{.Base}}-{{.Alias}}-{count}"

// KeyData is what key templates see.
type KeyData struct {
	Base     string // input file name without directory and extension
	Dir      string // input key's directory, "" at the top
	InputExt string // input extension with the dot
	Ext      string // the output's extension with the dot ("" for segmented outputs, which get .m3u8)
	Alias    string // the preset's first alias, or its ID
	PresetID string
	JobID    string
	Index    int // 1-based output number
}

// NewKeyData fills KeyData for an input key and a preset.
func NewKeyData(inputKey string, p *presets.Preset, segmented bool) KeyData {
	base := path.Base(inputKey)
	ext := path.Ext(base)
	dir := path.Dir(inputKey)
	if dir == "." || dir == "/" {
		dir = ""
	}
	d := KeyData{Base: strings.TrimSuffix(base, ext), Dir: dir, InputExt: ext, Alias: p.Alias(), PresetID: p.ID}
	if !segmented {
		d.Ext = Extension(p.Container)
	}
	return d
}

// ExpandKey renders a key template such as DefaultKeyTemplate.
func ExpandKey(tmpl string, d KeyData) (string, error) {
	t, err := template.New("key").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("key template %q: %w", tmpl, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("key template %q: %w", tmpl, err)
	}
	key := b.String()
	if key == "" {
		return "", fmt.Errorf("key template %q gives an empty key", tmpl)
	}
	return key, validKey(key)
}
