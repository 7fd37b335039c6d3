package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/transcoder/transcoder/jobs"
)

// createJobRequest is CreateJob's body. Members we do not support are
// kept raw so that a request using them is refused by name rather than
// run without them.
type createJobRequest struct {
	PipelineID      *string               `json:"PipelineId"`
	Input           *jobInputRequest      `json:"Input"`
	Inputs          []*jobInputRequest    `json:"Inputs"`
	Output          *jobOutputRequest     `json:"Output"`
	Outputs         []*jobOutputRequest   `json:"Outputs"`
	OutputKeyPrefix *string               `json:"OutputKeyPrefix"`
	Playlists       []*jobPlaylistRequest `json:"Playlists"`
	UserMetadata    map[string]string     `json:"UserMetadata"`
}

type jobInputRequest struct {
	Key                *string         `json:"Key"`
	FrameRate          string          `json:"FrameRate"`
	Resolution         string          `json:"Resolution"`
	AspectRatio        string          `json:"AspectRatio"`
	Interlaced         string          `json:"Interlaced"`
	Container          string          `json:"Container"`
	TimeSpan           *jobs.TimeSpan  `json:"TimeSpan"`
	Encryption         json.RawMessage `json:"Encryption"`
	InputCaptions      json.RawMessage `json:"InputCaptions"`
	DetectedProperties json.RawMessage `json:"DetectedProperties"`
}

type jobOutputRequest struct {
	Key                 *string         `json:"Key"`
	PresetID            string          `json:"PresetId"`
	ThumbnailPattern    string          `json:"ThumbnailPattern"`
	Rotate              string          `json:"Rotate"`
	SegmentDuration     string          `json:"SegmentDuration"`
	ThumbnailEncryption json.RawMessage `json:"ThumbnailEncryption"`
	Watermarks          json.RawMessage `json:"Watermarks"`
	AlbumArt            json.RawMessage `json:"AlbumArt"`
	Composition         json.RawMessage `json:"Composition"`
	Captions            json.RawMessage `json:"Captions"`
	Encryption          json.RawMessage `json:"Encryption"`
}

type jobPlaylistRequest struct {
	Name                 string          `json:"Name"`
	Format               string          `json:"Format"`
	OutputKeys           []string        `json:"OutputKeys"`
	HlsContentProtection json.RawMessage `json:"HlsContentProtection"`
	PlayReadyDrm         json.RawMessage `json:"PlayReadyDrm"`
}

// ET's limits on a CreateJob that the job engine does not check itself.
const (
	maxInputs         = 200
	maxInputKeyLength = 1024
)

// used reports whether a raw member carries anything: absent, null and
// empty lists or objects do not count.
func used(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !slices.Contains([]string{"null", "[]", "{}"}, string(t))
}

// unsupported refuses a member we cannot honour.
func unsupported(field, why string) *Error {
	return validation("%s is not supported by this server%s", field, why)
}

// jobView is a job as ET's API shows it: the engine's job, with its ARN
// and Output, ET's copy of the first output.
func (s *server) jobView(j *jobs.Job) *jobs.Job {
	v := *j
	v.Arn = s.arn("job", j.ID)
	if len(j.Outputs) > 0 {
		v.Output = j.Outputs[0]
	}
	if v.Outputs == nil {
		v.Outputs = []*jobs.JobOutput{}
	}
	return &v
}

func (s *server) createJob(w http.ResponseWriter, r *http.Request) error {
	var req createJobRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	creq, err := s.jobRequest(&req)
	if err != nil {
		return err
	}
	job, err := s.opts.Jobs.Create(r.Context(), *creq)
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, map[string]any{"Job": s.jobView(job)})
}

// jobRequest turns ET's CreateJob into the engine's request: the
// pipeline's input location plus Input.Key is the input, its output
// location the output; the engine checks outputs, presets, keys,
// playlists, clips and metadata with ET's rules.
func (s *server) jobRequest(req *createJobRequest) (*jobs.CreateRequest, error) {
	var c constraints
	if req.PipelineID == nil {
		c.null("pipelineId")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := checkID("pipelineId", *req.PipelineID); err != nil {
		return nil, err
	}
	in := req.Input
	switch {
	case in != nil && len(req.Inputs) > 0:
		return nil, validation("[Input and Inputs are mutually exclusive.]")
	case in == nil && len(req.Inputs) == 0:
		return nil, validation("1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null")
	case len(req.Inputs) > maxInputs:
		return nil, validation("1 validation error detected: Value at 'inputs' failed to satisfy constraint: Member must have length less than or equal to %d", maxInputs)
	case len(req.Inputs) > 1:
		return nil, validation("Inputs: %d inputs; stitching more than one input is not supported", len(req.Inputs))
	case in == nil:
		in = req.Inputs[0]
	}
	if in == nil {
		return nil, validation("1 validation error detected: Value null at 'inputs.1.member' failed to satisfy constraint: Member must not be null")
	}
	if err := checkInput(in); err != nil {
		return nil, err
	}
	outs := req.Outputs
	if req.Output != nil {
		if len(outs) > 0 {
			return nil, validation("[Output and Outputs are mutually exclusive.]")
		}
		outs = []*jobOutputRequest{req.Output}
	}
	if len(outs) > jobs.MaxOutputs {
		return nil, validation("1 validation error detected: Value at 'outputs' failed to satisfy constraint: Member must have length less than or equal to %d", jobs.MaxOutputs)
	}
	if len(req.Playlists) > jobs.MaxPlaylists {
		return nil, validation("1 validation error detected: Value at 'playlists' failed to satisfy constraint: Member must have length less than or equal to %d", jobs.MaxPlaylists)
	}
	if len(req.UserMetadata) > jobs.MaxUserMetadata {
		return nil, validation("userMetadata: %d pairs; allowed: at most %d", len(req.UserMetadata), jobs.MaxUserMetadata)
	}
	specs := make([]jobs.OutputSpec, 0, len(outs))
	for i, o := range outs {
		if o == nil {
			return nil, validation("1 validation error detected: Value null at 'outputs.%d.member' failed to satisfy constraint: Member must not be null", i+1)
		}
		if err := checkOutput(i, o); err != nil {
			return nil, err
		}
		spec := jobs.OutputSpec{PresetID: o.PresetID, ThumbnailPattern: o.ThumbnailPattern,
			Rotate: o.Rotate, SegmentDuration: o.SegmentDuration}
		if o.Key != nil {
			spec.Key = *o.Key
		}
		specs = append(specs, spec)
	}
	var pls []*jobs.Playlist
	for i, p := range req.Playlists {
		if p == nil {
			continue
		}
		if used(p.HlsContentProtection) {
			return nil, unsupported(fmt.Sprintf("Playlists[%d].HlsContentProtection", i), " (no HLS encryption yet)")
		}
		if used(p.PlayReadyDrm) {
			return nil, unsupported(fmt.Sprintf("Playlists[%d].PlayReadyDrm", i), "")
		}
		if p.Name == "" {
			return nil, validation("1 validation error detected: Value null at 'playlists.%d.member.name' failed to satisfy constraint: Member must not be null", i+1)
		}
		pls = append(pls, &jobs.Playlist{Name: p.Name, Format: p.Format, OutputKeys: p.OutputKeys})
	}

	p, err := s.opts.Catalog.GetPipeline(*req.PipelineID)
	if err != nil {
		return nil, s.notFound("pipeline", *req.PipelineID)
	}
	key := *in.Key
	creq := &jobs.CreateRequest{
		PipelineID: p.ID, Input: joinLocation(p.Input, key), InputKey: key, Output: p.Output, Thumbnails: p.Thumbnails,
		Outputs: specs, Playlists: pls, UserMetadata: req.UserMetadata,
	}
	if req.OutputKeyPrefix != nil {
		creq.OutputKeyPrefix = *req.OutputKeyPrefix
	}
	if ts := in.TimeSpan; ts != nil && (ts.StartTime != "" || ts.Duration != "") {
		creq.TimeSpan = ts
	}
	return creq, nil
}

// checkInput refuses an input this server cannot read as asked.
func checkInput(in *jobInputRequest) error {
	var c constraints
	if in.Key == nil {
		c.null("input.key")
	} else {
		c.length("input.key", *in.Key, 1, maxInputKeyLength)
	}
	if err := c.err(); err != nil {
		return err
	}
	key := *in.Key
	if strings.ContainsRune(key, 0) || strings.HasPrefix(key, "/") || slices.Contains(strings.Split(key, "/"), "..") {
		return validation("Input.Key %q must be a key in the pipeline's input bucket: relative, without '..' elements or NUL", key)
	}
	// Container only names what the input is: ffmpeg finds that out
	// itself. The others changed how ET read the input; only their
	// default, auto, is supported.
	for _, f := range []struct{ name, v string }{
		{"FrameRate", in.FrameRate}, {"Resolution", in.Resolution}, {"AspectRatio", in.AspectRatio}, {"Interlaced", in.Interlaced},
	} {
		if f.v != "" && f.v != "auto" {
			return unsupported(fmt.Sprintf("Input.%s %q", f.name, f.v), "; use auto (the input is probed)")
		}
	}
	switch {
	case used(in.Encryption):
		return unsupported("Input.Encryption", " (inputs are read as stored)")
	case used(in.InputCaptions):
		return unsupported("Input.InputCaptions", "")
	}
	return nil
}

// checkOutput refuses output features this server does not have.
func checkOutput(i int, o *jobOutputRequest) error {
	field := func(name string) string { return fmt.Sprintf("Outputs[%d].%s", i, name) }
	switch {
	case used(o.Watermarks):
		return unsupported(field("Watermarks"), "")
	case used(o.AlbumArt):
		return unsupported(field("AlbumArt"), "")
	case used(o.Captions):
		return unsupported(field("Captions"), "")
	case used(o.Composition):
		return unsupported(field("Composition"), " (clip the input with Input.TimeSpan)")
	case used(o.Encryption):
		return unsupported(field("Encryption"), " (use the store's own encryption at rest)")
	case used(o.ThumbnailEncryption):
		return unsupported(field("ThumbnailEncryption"), "")
	}
	return nil
}

// joinLocation puts a key under a location URL.
func joinLocation(loc, key string) string {
	if strings.HasSuffix(loc, "/") {
		return loc + key
	}
	return loc + "/" + key
}

func (s *server) readJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("Id")
	if err := checkID("id", id); err != nil {
		return err
	}
	job, err := s.opts.Jobs.Get(r.Context(), id)
	if errors.Is(err, jobs.ErrNotFound) {
		return s.notFound("job", id)
	}
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"Job": s.jobView(job)})
}

// cancelJob cancels a Submitted job, as ET did, and also a Progressing
// one, which ET could not (its worker stops and cleans up).
func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("Id")
	if err := checkID("id", id); err != nil {
		return err
	}
	job, err := s.opts.Jobs.Cancel(r.Context(), id)
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return s.notFound("job", id)
	case errors.Is(err, jobs.ErrNotCancelable):
		return &Error{Status: http.StatusConflict, Type: TypeInUse,
			Message: fmt.Sprintf("The job %s cannot be canceled: it has finished.", id)}
	case err != nil:
		return err
	}
	s.log.Info("job canceled", "job", id, "status", job.Status)
	return reply(w, http.StatusAccepted, struct{}{})
}

func (s *server) listJobsByPipeline(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("PipelineId")
	if err := checkID("pipelineId", id); err != nil {
		return err
	}
	if _, err := s.opts.Catalog.GetPipeline(id); err != nil {
		return s.notFound("pipeline", id)
	}
	return s.listJobs(w, r, jobs.ListRequest{PipelineID: id})
}

func (s *server) listJobsByStatus(w http.ResponseWriter, r *http.Request) error {
	st := r.PathValue("Status")
	var c constraints
	c.enum("status", st, jobs.StatusSubmitted, jobs.StatusProgressing, jobs.StatusComplete, jobs.StatusCanceled, jobs.StatusError)
	if err := c.err(); err != nil {
		return err
	}
	return s.listJobs(w, r, jobs.ListRequest{Status: st})
}

// listJobs answers one page of a listing: newest first unless Ascending,
// as ET did.
func (s *server) listJobs(w http.ResponseWriter, r *http.Request, req jobs.ListRequest) error {
	asc, token, err := listParams(r)
	if err != nil {
		return err
	}
	req.Ascending = asc != nil && *asc
	req.PageToken = token
	req.Limit = pageSize
	pg, err := s.opts.Jobs.List(r.Context(), req)
	if err != nil {
		return err
	}
	views := make([]*jobs.Job, len(pg.Jobs))
	for i, j := range pg.Jobs {
		views[i] = s.jobView(j)
	}
	var next *string
	if pg.NextPageToken != "" {
		next = &pg.NextPageToken
	}
	return reply(w, http.StatusOK, map[string]any{"Jobs": views, "NextPageToken": next})
}
