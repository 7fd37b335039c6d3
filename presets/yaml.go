package presets

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadFile reads the presets in a YAML file: one preset (a mapping), a list
// of presets, or several YAML documents of either kind. Every problem in
// the file is reported together, as Errors whose entries carry
// file:line:column.
func LoadFile(path string) ([]*Preset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read presets: %w", err)
	}
	return Parse(path, data)
}

// Parse reads presets from YAML as LoadFile does; name is used in errors.
// The presets are checked with Validate as user (Custom) presets.
func Parse(name string, data []byte) ([]*Preset, error) {
	return parse(name, data, false)
}

func parse(name string, data []byte, system bool) ([]*Preset, error) {
	ps, _, err := parseNodes(name, data, system)
	return ps, err
}

// parseNodes is parse that also returns each preset's YAML node, so that
// later errors about a preset (a clashing ID, a missing ladder rung) can
// name its line and column.
func parseNodes(name string, data []byte, system bool) ([]*Preset, []*yaml.Node, error) {
	var (
		out   []*Preset
		nodes []*yaml.Node
		errs  Errors
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, syntaxError(name, err))
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := resolve(doc.Content[0])
		var items []*yaml.Node
		switch root.Kind {
		case yaml.MappingNode:
			items = []*yaml.Node{root}
		case yaml.SequenceNode:
			items = root.Content
		default:
			if isNull(root) {
				continue
			}
			errs = append(errs, &FieldError{File: name, Line: root.Line, Column: root.Column,
				Msg: "expected a preset (a mapping of fields) or a list of presets, got " + kindName(root)})
			continue
		}
		for _, item := range items {
			p, perrs := parseOne(name, resolve(item), system)
			errs = append(errs, perrs...)
			if p != nil {
				out = append(out, p)
				nodes = append(nodes, resolve(item))
			}
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, &FieldError{File: name, Msg: "holds no presets"})
	}
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *FieldError) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
		return nil, nil, errs
	}
	return out, nodes, nil
}

// decodeNode is n.Decode, with the panics yaml.v3 raises on some
// malformed merge keys (a mapping used as a key after <<, found by
// FuzzParse) turned into errors.
func decodeNode(n *yaml.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML: %v", r)
		}
	}()
	return n.Decode(v)
}

func parseOne(file string, n *yaml.Node, system bool) (*Preset, Errors) {
	var s shapeChecker
	s.check(n, reflect.TypeFor[Preset](), nil)
	errs := s.errs
	p := new(Preset)
	// Decode even after shape errors: yaml.v3 skips unknown keys, so a
	// misspelt key does not hide the other problems of the preset. Values
	// of the wrong kind make Decode fail; then the shape errors say it all.
	if err := decodeNode(n, p); err != nil {
		if len(errs) == 0 {
			errs = Errors{&FieldError{Line: n.Line, Column: n.Column, Msg: err.Error()}}
		}
	} else {
		for _, e := range validate(p, system) {
			e.Line, e.Column = locate(n, e.Path)
			if !slices.ContainsFunc(errs, func(x *FieldError) bool { return x.Path.String() == e.Path.String() }) {
				errs = append(errs, e)
			}
		}
	}
	for _, e := range errs {
		e.File = file
	}
	if len(s.errs) > 0 {
		return nil, errs
	}
	return p, errs
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func syntaxError(file string, err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &FieldError{File: file, Msg: "invalid YAML: " + msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		e.Msg = "invalid YAML: " + strings.TrimSpace(strings.TrimPrefix(msg, m[0]+":"))
		// yaml.v3 reports parser (not scanner) errors with a zero-based
		// line; they are the "did not find expected <token>" family.
		for _, p := range parserProblems {
			if strings.HasPrefix(e.Msg, "invalid YAML: did not find expected "+p) {
				e.Line++
				break
			}
		}
	}
	return e
}

var parserProblems = []string{"<", "node content", "key", "'-'", "','"}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("the value %q", n.Value)
	}
}

// shapeChecker compares a YAML tree with the Go type it will be decoded
// into, so that unknown keys, duplicates and lists-where-values-belong are
// reported with their positions (yaml.v3 alone reports only the first, or
// silently ignores them).
type shapeChecker struct {
	errs Errors
	// aliased holds the anchored nodes already checked through an alias,
	// so that a self-referencing anchor or a "billion laughs" file cannot
	// send the check round forever.
	aliased map[*yaml.Node]bool
}

func (s *shapeChecker) add(n *yaml.Node, path Path, format string, args ...any) {
	s.errs = append(s.errs, &FieldError{Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (s *shapeChecker) check(n *yaml.Node, t reflect.Type, path Path) {
	if n != nil && n.Kind == yaml.AliasNode {
		if s.aliased[n.Alias] {
			return
		}
		if s.aliased == nil {
			s.aliased = map[*yaml.Node]bool{}
		}
		s.aliased[n.Alias] = true
	}
	n = resolve(n)
	if n == nil || isNull(n) {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			s.add(n, path, "must be a mapping of fields, got %s", kindName(n))
			return
		}
		fields := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				s.add(k, path, "a key must be a plain name, got %s", kindName(k))
				continue
			}
			if k.Value == "<<" { // merge key: yaml.v3 merges it when decoding
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				s.add(k, path.with(k.Value), "unknown field; allowed: %s%s", strings.Join(sortedKeys(fields), ", "), suggest(k.Value, sortedKeys(fields)))
				continue
			}
			if line, dup := seen[k.Value]; dup {
				s.add(k, path.with(k.Value), "is set twice (first on line %d)", line)
				continue
			}
			seen[k.Value] = k.Line
			s.check(val, f.Type, path.with(k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			s.add(n, path, "must be a list, got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			s.check(item, t.Elem(), path.with(i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			s.add(n, path, "must be a single value, got %s", kindName(n))
		}
	}
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			out[name] = f
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// locate finds the line and column of the node a path names, or of the
// nearest enclosing node when the field is absent.
func locate(n *yaml.Node, path Path) (line, col int) {
	n = resolve(n)
	line, col = n.Line, n.Column
	for _, e := range path {
		var next *yaml.Node
		switch e := e.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == e {
						next = n.Content[i+1]
						if isNull(next) || next.Kind != yaml.ScalarNode {
							// Point at the key: an empty value has no position of its own.
							line, col = n.Content[i].Line, n.Content[i].Column
						}
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && e < len(n.Content) {
				next = n.Content[e]
			}
		}
		if next == nil {
			return line, col
		}
		n = resolve(next)
		if n.Kind == yaml.ScalarNode && !isNull(n) {
			line, col = n.Line, n.Column
		}
	}
	return line, col
}

// MarshalYAML renders presets (a *Preset or a []*Preset) as YAML with
// two-space indentation. Numbers and booleans, which the model keeps as
// strings, are written plainly (bit_rate: 2400, not "2400"); reading them
// back yields the same strings.
func MarshalYAML(v any) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, fmt.Errorf("encode presets as YAML: %w", err)
	}
	unquote(&n)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode presets as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode presets as YAML: %w", err)
	}
	return b.Bytes(), nil
}

var plainScalar = regexp.MustCompile(`^(-?\d+(\.\d+)?|true|false)$`)

// unquote drops the quotes yaml.v3 puts on strings that look like numbers
// or booleans, for values only: map keys keep whatever they need.
func unquote(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" && plainScalar.MatchString(n.Value) && !leadingZero(n.Value) {
			n.Tag = ""
			n.Style = 0
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			unquote(n.Content[i])
		}
	default:
		for _, c := range n.Content {
			unquote(c)
		}
	}
}

// leadingZero reports numbers like "0755" that YAML 1.1 readers would
// take as octal; they stay quoted.
func leadingZero(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return len(s) > 1 && s[0] == '0' && s[1] != '.'
}
