package presets

import (
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed system/*.yaml
var systemFS embed.FS

// ErrNotFound is wrapped by the error Lookup returns for an unknown reference.
var ErrNotFound = errors.New("preset not found")

// ErrAmbiguous is wrapped by the error Lookup returns when a reference
// names more than one preset.
var ErrAmbiguous = errors.New("preset reference is ambiguous")

// LookupError explains a failed Lookup: the reference and the presets it
// might have meant (the nearest names for ErrNotFound, every match for
// ErrAmbiguous).
type LookupError struct {
	Ref        string
	Candidates []string // "ID (alias, name)" of each candidate
	Err        error    // ErrNotFound or ErrAmbiguous
}

// Error says what was looked up and lists the candidates.
func (e *LookupError) Error() string {
	switch {
	case errors.Is(e.Err, ErrAmbiguous):
		return fmt.Sprintf("preset %q is ambiguous; it matches: %s; use an ID", e.Ref, strings.Join(e.Candidates, "; "))
	case len(e.Candidates) > 0:
		return fmt.Sprintf("unknown preset %q; closest: %s", e.Ref, strings.Join(e.Candidates, "; "))
	default:
		return fmt.Sprintf("unknown preset %q; see 'transcoder presets list'", e.Ref)
	}
}

// Unwrap returns ErrNotFound or ErrAmbiguous.
func (e *LookupError) Unwrap() error { return e.Err }

// Registry holds presets and finds them by ID, alias or name. A new
// registry holds the system presets; user presets are added with Add or
// Load. A Registry is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	presets []*Preset
	byID    map[string]*Preset
	byAlias map[string]*Preset // lower-cased alias
	source  map[*Preset]string // where a user preset came from, for errors
}

var systemPresets = sync.OnceValues(func() ([]*Preset, error) {
	var all []*Preset
	for _, name := range []string{"system/elastic-transcoder.yaml", "system/modern.yaml"} {
		data, err := systemFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ps, err := parse(name, data, true)
		if err != nil {
			return nil, fmt.Errorf("built-in presets are invalid:\n%w", err)
		}
		all = append(all, ps...)
	}
	return all, nil
})

// NewRegistry returns a registry holding every system preset: Elastic
// Transcoder's under their IDs, and our modern ones.
func NewRegistry() *Registry {
	sys, err := systemPresets()
	if err != nil {
		// The embedded files are checked by the tests; reaching this is a
		// build that skipped them.
		panic(err)
	}
	r := &Registry{byID: map[string]*Preset{}, byAlias: map[string]*Preset{}, source: map[*Preset]string{}}
	for _, p := range sys {
		if err := r.add(p.Clone(), "built-in"); err != nil {
			panic(err)
		}
	}
	if errs := r.checkLadders(); errs != nil {
		panic(errs)
	}
	return r
}

// Load adds the presets in each path: a YAML file, or a directory whose
// *.yaml and *.yml files are read in name order (not recursively). Every
// error of every file is reported together; on error nothing is added.
func (r *Registry) Load(paths ...string) error {
	files, errs := expandPaths(paths)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return r.loadFiles(files)
}

// Files lists the preset files that Load would read for these paths:
// files as given, and the *.yaml and *.yml files of directories.
func Files(paths ...string) ([]string, error) {
	files, errs := expandPaths(paths)
	return files, errors.Join(errs...)
}

func expandPaths(paths []string) (files []string, errs []error) {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("presets path: %w", err))
			continue
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("presets directory: %w", err))
			continue
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	return files, errs
}

func (r *Registry) loadFiles(files []string) error {
	var errs []error
	type loaded struct {
		file  string
		ps    []*Preset
		nodes []*yaml.Node
	}
	var all []loaded
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("read presets: %w", err))
			continue
		}
		ps, nodes, err := parseNodes(f, data, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, loaded{f, ps, nodes})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Add into a copy so that a failure leaves the registry as it was.
	trial := r.clone()
	nodeOf := map[*Preset]*yaml.Node{} // registered preset → where it was written
	var fieldErrs Errors
	for _, l := range all {
		for i, p := range l.ps {
			err := trial.Add(p, l.file)
			var fe *FieldError
			switch {
			case errors.As(err, &fe):
				fe.Line, fe.Column = locate(l.nodes[i], fe.Path)
				fieldErrs = append(fieldErrs, fe)
			case err != nil:
				errs = append(errs, err)
			default:
				nodeOf[trial.presets[len(trial.presets)-1]] = l.nodes[i]
			}
		}
	}
	for _, fe := range trial.checkLadders() {
		for p, n := range nodeOf {
			if p.ID == fe.presetID {
				fe.Line, fe.Column = locate(n, fe.Path)
			}
		}
		fieldErrs = append(fieldErrs, fe)
	}
	if len(fieldErrs) > 0 {
		errs = append(errs, fieldErrs)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presets, r.byID, r.byAlias, r.source = trial.presets, trial.byID, trial.byAlias, trial.source
	return nil
}

func (r *Registry) clone() *Registry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c := &Registry{
		presets: slices.Clone(r.presets),
		byID:    make(map[string]*Preset, len(r.byID)),
		byAlias: make(map[string]*Preset, len(r.byAlias)),
		source:  make(map[*Preset]string, len(r.source)),
	}
	for k, v := range r.byID {
		c.byID[k] = v
	}
	for k, v := range r.byAlias {
		c.byAlias[k] = v
	}
	for k, v := range r.source {
		c.source[k] = v
	}
	return c
}

// Add validates a user preset and adds it. It must not reuse an ID or
// alias already held; without an ID it gets one derived from its name, so
// the ID stays the same across restarts. source names where it came from.
func (r *Registry) Add(p *Preset, source string) error {
	p = p.Clone()
	if p.Type == "" {
		p.Type = TypeCustom
	}
	if errs := p.Validate(); errs != nil {
		for _, e := range errs {
			if e.File == "" {
				e.File, e.Preset = source, p.Name
			}
		}
		return errs
	}
	if p.ID == "" {
		p.ID = DeriveID(p.Name)
	}
	return r.add(p, source)
}

func (r *Registry) add(p *Preset, source string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	clash := func(path Path, format string, args ...any) error {
		return &FieldError{File: source, Preset: p.Name, Path: path, Msg: fmt.Sprintf(format, args...), presetID: p.ID}
	}
	if old, ok := r.byID[p.ID]; ok {
		return clash(Path{"id"}, "%s is already used by %q (%s); choose another id", p.ID, old.Name, r.source[old])
	}
	for i, a := range p.Aliases {
		if old, ok := r.byAlias[strings.ToLower(a)]; ok {
			return clash(Path{"aliases", i}, "%q is already used by %s preset %q (%s)", a, strings.ToLower(old.Type), old.Name, r.source[old])
		}
		if old, ok := r.byID[a]; ok {
			return clash(Path{"aliases", i}, "%q is the id of %q", a, old.Name)
		}
	}
	r.presets = append(r.presets, p)
	r.byID[p.ID] = p
	for _, a := range p.Aliases {
		r.byAlias[strings.ToLower(a)] = p
	}
	r.source[p] = source
	return nil
}

// checkLadders makes sure every ladder's rungs exist, are not ladders, and
// share the ladder's container.
func (r *Registry) checkLadders() Errors {
	var errs Errors
	for _, p := range r.presets {
		for i, ref := range p.Ladder {
			bad := func(format string, args ...any) {
				errs = append(errs, &FieldError{File: r.source[p], Preset: p.Name, Path: Path{"ladder", i},
					Msg: fmt.Sprintf(format, args...), presetID: p.ID})
			}
			rung, err := r.lookup(ref)
			switch {
			case err != nil:
				bad("%v", err)
			case rung.IsLadder():
				bad("%q is itself a ladder; rungs must be single renditions", ref)
			case rung.Container != p.Container:
				bad("%q has container %s; every rung must be %s like the ladder", ref, rung.Container, p.Container)
			}
		}
	}
	return errs
}

// Lookup finds a preset by ID, alias or name (for system presets also the
// name without "System preset: "), ignoring case, and returns a copy. An unknown or ambiguous reference gives a *LookupError that lists
// the closest or the matching presets.
func (r *Registry) Lookup(ref string) (*Preset, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, err := r.lookup(ref)
	if err != nil {
		return nil, err
	}
	return p.Clone(), nil
}

func (r *Registry) lookup(ref string) (*Preset, error) {
	key := strings.TrimSpace(ref)
	if p, ok := r.byID[key]; ok {
		return p, nil
	}
	var matches []*Preset
	if p, ok := r.byAlias[strings.ToLower(key)]; ok {
		matches = append(matches, p)
	}
	for _, p := range r.presets {
		// IDs ignore case too; names match in full or, for system presets,
		// without ET's "System preset: " prefix (as the list shows them).
		if (strings.EqualFold(p.ID, key) || strings.EqualFold(p.Name, key) ||
			(p.Type == TypeSystem && strings.EqualFold(strings.TrimPrefix(p.Name, "System preset: "), key))) &&
			!slices.Contains(matches, p) {
			matches = append(matches, p)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, &LookupError{Ref: ref, Candidates: r.nearest(key), Err: ErrNotFound}
	default:
		var c []string
		for _, p := range matches {
			c = append(c, describe(p))
		}
		return nil, &LookupError{Ref: ref, Candidates: c, Err: ErrAmbiguous}
	}
}

func (r *Registry) nearest(key string) []string {
	var names []string
	owner := map[string]*Preset{}
	for _, p := range r.presets {
		for _, n := range append([]string{p.ID, p.Name, strings.TrimPrefix(p.Name, "System preset: ")}, p.Aliases...) {
			names = append(names, n)
			owner[n] = p
		}
	}
	var out []string
	var seen []*Preset
	for _, n := range closest(key, names, 10) {
		if p := owner[n]; !slices.Contains(seen, p) && len(out) < 3 {
			seen = append(seen, p)
			out = append(out, describe(p))
		}
	}
	return out
}

func describe(p *Preset) string {
	if len(p.Aliases) > 0 {
		return fmt.Sprintf("%s (%s, %q)", p.ID, p.Aliases[0], p.Name)
	}
	return fmt.Sprintf("%s (%q)", p.ID, p.Name)
}

// Rungs returns the presets a ladder names, in order, as copies; for a
// preset that is not a ladder it returns the preset itself.
func (r *Registry) Rungs(p *Preset) ([]*Preset, error) {
	if !p.IsLadder() {
		return []*Preset{p.Clone()}, nil
	}
	out := make([]*Preset, 0, len(p.Ladder))
	for i, ref := range p.Ladder {
		rung, err := r.Lookup(ref)
		if err != nil {
			return nil, fmt.Errorf("preset %q: ladder[%d]: %w", p.Name, i, err)
		}
		out = append(out, rung)
	}
	return out, nil
}

// List returns copies of the presets of the given type (TypeSystem,
// TypeCustom, or "" for all), system presets first in Elastic
// Transcoder's order, then user presets in the order they were loaded.
func (r *Registry) List(typ string) []*Preset {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*Preset
	for _, p := range r.presets {
		if typ == "" || strings.EqualFold(p.Type, typ) {
			out = append(out, p.Clone())
		}
	}
	return out
}

// DeriveID returns the ID a user preset without one gets: a hash of its
// name in Elastic Transcoder's ID shape, the same on every run.
func DeriveID(name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	sum := h.Sum64()
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	suffix := make([]byte, 6)
	rest := sum >> 20
	for i := range suffix {
		suffix[i] = alphabet[rest%36]
		rest /= 36
	}
	// 9 as the first digit keeps derived IDs apart from ET's 1351620000001-…
	return fmt.Sprintf("9%012d-%s", sum%1_000_000_000_000, suffix)
}
