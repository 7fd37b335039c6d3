package presets

import (
	"fmt"
	"strconv"
	"strings"
)

// Path names a field inside a preset as a list of keys and list indexes,
// e.g. {"video", "watermarks", 1, "id"}. Keys are the YAML names.
type Path []any

// String renders the path with YAML names: video.watermarks[1].id.
func (p Path) String() string { return p.render(func(k string) string { return k }) }

// ETString renders the path with Elastic Transcoder's JSON names:
// Video.Watermarks[1].Id.
func (p Path) ETString() string { return p.render(etName) }

func (p Path) render(name func(string) string) string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(e) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(name(e))
		}
	}
	return b.String()
}

func (p Path) with(e ...any) Path {
	q := make(Path, 0, len(p)+len(e))
	return append(append(q, p...), e...)
}

// FieldError is one thing wrong with a preset: where it is, which field,
// and what is allowed instead.
type FieldError struct {
	File   string // the file the preset came from, if any
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Preset string // the preset's name or ID, when known, for errors outside files
	Path   Path   // the field; empty for the preset as a whole
	Msg    string // what is wrong and what is allowed

	presetID string // for registry errors: which preset, to find its position
}

// Error formats the error as file:line:column: field: message.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
		b.WriteString(": ")
	} else if e.Preset != "" {
		fmt.Fprintf(&b, "preset %q: ", e.Preset)
	}
	if len(e.Path) > 0 {
		b.WriteString(e.Path.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one file or preset, in file order.
type Errors []*FieldError

// Error joins the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find an individual *FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// etNames maps a YAML key to Elastic Transcoder's JSON key, for keys that
// are not simply the PascalCase of their snake_case form.
var etNames = map[string]string{
	"id":        "Id",
	"fixed_gop": "FixedGOP",
}

func etName(k string) string {
	if n, ok := etNames[k]; ok {
		return n
	}
	parts := strings.Split(k, "_")
	for i, s := range parts {
		if s != "" {
			parts[i] = strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return strings.Join(parts, "")
}
