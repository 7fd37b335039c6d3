package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/presets"
)

// presetRequest is CreatePreset's body: ET's members only. Unknown
// members, at any depth, are refused (a misspelt setting must not be
// dropped silently).
type presetRequest struct {
	Name        string              `json:"Name"`
	Description string              `json:"Description"`
	Container   string              `json:"Container"`
	Video       *presets.Video      `json:"Video"`
	Audio       *presets.Audio      `json:"Audio"`
	Thumbnails  *presets.Thumbnails `json:"Thumbnails"`
}

// presetView is a preset with its ARN, which depends on the API's region
// and account.
func (s *server) presetView(p *presets.Preset) *presets.Preset {
	p.Arn = s.arn("preset", p.ID)
	return p
}

func (s *server) createPreset(w http.ResponseWriter, r *http.Request) error {
	var req presetRequest
	if err := decodeBody(w, r, &req, true); err != nil {
		return err
	}
	p := &presets.Preset{Name: req.Name, Description: req.Description, Container: req.Container,
		Video: req.Video, Audio: req.Audio, Thumbnails: req.Thumbnails, Type: presets.TypeCustom}
	created, err := s.opts.Catalog.CreatePreset(r.Context(), p)
	var errs presets.Errors
	switch {
	case errors.As(err, &errs):
		return presetValidation(errs)
	case err != nil:
		return err
	}
	s.log.Info("preset created", "preset", created.ID, "name", created.Name)
	// ET's Warning said when a preset was not H.264-compliant; ours are
	// checked to be valid, so there is nothing to warn about.
	return reply(w, http.StatusCreated, map[string]any{"Preset": s.presetView(created), "Warning": ""})
}

// presetValidation turns the preset checker's findings into one
// ValidationException in ET's style, fields named as in ET's JSON.
func presetValidation(errs presets.Errors) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		if len(e.Path) > 0 {
			msgs[i] = e.Path.ETString() + ": " + e.Msg
		} else {
			msgs[i] = e.Msg
		}
	}
	noun := "error"
	if len(msgs) > 1 {
		noun = "errors"
	}
	return validation("%d validation %s detected: %s", len(msgs), noun, strings.Join(msgs, "; "))
}

func (s *server) readPreset(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("Id")
	if err := checkID("id", id); err != nil {
		return err
	}
	p, err := s.opts.Catalog.GetPreset(id)
	if err != nil {
		return s.notFound("preset", id)
	}
	return reply(w, http.StatusOK, map[string]any{"Preset": s.presetView(p)})
}

func (s *server) listPresets(w http.ResponseWriter, r *http.Request) error {
	asc, token, err := listParams(r)
	if err != nil {
		return err
	}
	all := s.opts.Catalog.ListPresets()
	items, next := page(all, func(p *presets.Preset) string { return p.ID }, asc == nil || *asc, token)
	for _, p := range items {
		s.presetView(p)
	}
	if items == nil {
		items = []*presets.Preset{}
	}
	return reply(w, http.StatusOK, map[string]any{"Presets": items, "NextPageToken": next})
}

// deletePreset removes an API-made preset. System presets, and presets of
// the configuration's preset files, are AccessDeniedException as ET's
// system presets were.
func (s *server) deletePreset(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("Id")
	if err := checkID("id", id); err != nil {
		return err
	}
	err := s.opts.Catalog.DeletePreset(r.Context(), id)
	switch {
	case errors.Is(err, catalog.ErrReadOnly):
		return &Error{Status: http.StatusForbidden, Type: TypeAccessDenied,
			Message: fmt.Sprintf("The preset %s is a system preset or comes from a preset file; it cannot be deleted through the API.", id)}
	case errors.Is(err, catalog.ErrNotFound):
		return s.notFound("preset", id)
	case err != nil:
		return err
	}
	s.log.Info("preset deleted", "preset", id)
	return reply(w, http.StatusAccepted, struct{}{})
}
