package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/jobs"
)

// Patterns of Elastic Transcoder's model.
var (
	bucketPattern = regexp.MustCompile(`^(\w|\.|-){1,255}$`)
	rolePattern   = regexp.MustCompile(`^arn:aws:iam::\w{12}:role/.+$`)
)

// pipelineRequest is the body of CreatePipeline and UpdatePipeline;
// absent members are nil, so that an update changes only what it names.
type pipelineRequest struct {
	Name            *string                `json:"Name"`
	InputBucket     *string                `json:"InputBucket"`
	OutputBucket    *string                `json:"OutputBucket"`
	Role            *string                `json:"Role"`
	AwsKmsKeyArn    *string                `json:"AwsKmsKeyArn"`
	Notifications   *catalog.Notifications `json:"Notifications"`
	ContentConfig   *catalog.OutputConfig  `json:"ContentConfig"`
	ThumbnailConfig *catalog.OutputConfig  `json:"ThumbnailConfig"`
}

// pipelineView is a pipeline as ET's API shows it: its own fields only,
// with the status from the job engine.
type pipelineView struct {
	ID              string                 `json:"Id"`
	Arn             string                 `json:"Arn"`
	Name            string                 `json:"Name"`
	Status          string                 `json:"Status"`
	InputBucket     string                 `json:"InputBucket"`
	OutputBucket    string                 `json:"OutputBucket,omitempty"`
	Role            string                 `json:"Role,omitempty"`
	AwsKmsKeyArn    string                 `json:"AwsKmsKeyArn,omitempty"`
	Notifications   *catalog.Notifications `json:"Notifications"`
	ContentConfig   *catalog.OutputConfig  `json:"ContentConfig,omitempty"`
	ThumbnailConfig *catalog.OutputConfig  `json:"ThumbnailConfig,omitempty"`
}

// warning is ET's Warning: {Code, Message}. We never have any (they were
// about resources in other regions), but clients expect the list.
type warning struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

func (s *server) pipelineView(p *catalog.Pipeline) *pipelineView {
	v := &pipelineView{
		ID: p.ID, Arn: s.arn("pipeline", p.ID), Name: p.Name, Status: catalog.StatusActive,
		InputBucket: p.InputBucket, OutputBucket: p.OutputBucket, Role: p.Role, AwsKmsKeyArn: p.AwsKmsKeyArn,
		Notifications: p.Notifications, ContentConfig: p.ContentConfig, ThumbnailConfig: p.ThumbnailConfig,
	}
	if s.opts.Jobs.Paused(p.ID) {
		v.Status = catalog.StatusPaused
	}
	if v.Notifications == nil {
		v.Notifications = &catalog.Notifications{}
	}
	// ET showed the OutputBucket of a pipeline as its ContentConfig and
	// ThumbnailConfig buckets too.
	if p.OutputBucket != "" {
		if v.ContentConfig == nil {
			v.ContentConfig = &catalog.OutputConfig{Bucket: p.OutputBucket}
		}
		if v.ThumbnailConfig == nil {
			v.ThumbnailConfig = &catalog.OutputConfig{Bucket: p.OutputBucket}
		}
	}
	return v
}

// constraints collects ET's model-validation messages.
type constraints []string

func (c *constraints) null(field string) {
	*c = append(*c, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", field))
}

func (c *constraints) length(field, v string, lo, hi int) {
	switch {
	case len(v) < lo:
		*c = append(*c, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", v, field, lo))
	case len(v) > hi:
		*c = append(*c, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", v, field, hi))
	}
}

func (c *constraints) pattern(field, v string, re *regexp.Regexp, shown string) {
	if !re.MatchString(v) {
		*c = append(*c, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", v, field, shown))
	}
}

func (c *constraints) enum(field, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		alts := make([]string, len(allowed))
		for i, a := range allowed {
			alts[i] = "(^" + a + "$)"
		}
		*c = append(*c, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", v, field, strings.Join(alts, "|")))
	}
}

func (c *constraints) maxItems(field string, n, hi int) {
	if n > hi {
		*c = append(*c, fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, hi))
	}
}

// err is the ValidationException for the collected messages, or nil.
func (c constraints) err() error {
	switch len(c) {
	case 0:
		return nil
	case 1:
		return validation("1 validation error detected: %s", c[0])
	default:
		return validation("%d validation errors detected: %s", len(c), strings.Join(c, "; "))
	}
}

// bucketField checks a bucket name: ET's pattern, or STORE/BUCKET for a
// configured store (our extension).
func (c *constraints) bucket(field, v string) {
	name := v
	if store, b, ok := strings.Cut(v, "/"); ok && store != "" {
		name = b
	}
	c.pattern(field, name, bucketPattern, `^(\w|\.|-){1,255}$ (or STORE/BUCKET for a configured store)`)
}

func (c *constraints) notifications(field string, n *catalog.Notifications) {
	if n == nil {
		return
	}
	for _, t := range []struct{ name, v string }{
		{"progressing", n.Progressing}, {"completed", n.Completed}, {"warning", n.Warning}, {"error", n.Error},
	} {
		if !catalog.ValidTopic(t.v) {
			*c = append(*c, fmt.Sprintf("Value '%s' at '%s.%s' failed to satisfy constraint: Member must satisfy regular expression pattern: (^$)|(^arn:aws:sns:.*:\\w{12}:.+$)", t.v, field, t.name))
		}
	}
}

func (c *constraints) outputConfig(field string, o *catalog.OutputConfig) {
	if o == nil {
		return
	}
	if o.Bucket != "" {
		c.bucket(field+".bucket", o.Bucket)
	}
	if o.StorageClass != "" {
		c.enum(field+".storageClass", o.StorageClass, "Standard", "ReducedRedundancy")
	}
	c.maxItems(field+".permissions", len(o.Permissions), 30)
	for i, p := range o.Permissions {
		f := fmt.Sprintf("%s.permissions.%d.member", field, i+1)
		if p.GranteeType != "" {
			c.enum(f+".granteeType", p.GranteeType, "Canonical", "Email", "Group")
		}
		c.length(f+".grantee", p.Grantee, 1, 255)
		c.maxItems(f+".access", len(p.Access), 30)
		for _, a := range p.Access {
			c.enum(f+".access.member", a, "FullControl", "Read", "ReadAcp", "WriteAcp")
		}
	}
}

// checkPipeline validates a pipeline as it would be stored (after an
// update is merged), with ET's messages: the model's constraints first,
// then the rules between members.
func checkPipeline(p *catalog.Pipeline) error {
	var c constraints
	c.length("name", p.Name, 1, 40)
	if p.InputBucket == "" {
		c.null("inputBucket")
	} else {
		c.bucket("inputBucket", p.InputBucket)
	}
	if p.OutputBucket != "" {
		c.bucket("outputBucket", p.OutputBucket)
	}
	if p.Role == "" {
		c.null("role")
	} else {
		c.pattern("role", p.Role, rolePattern, `^arn:aws:iam::\w{12}:role/.+$`)
	}
	if len(p.AwsKmsKeyArn) > 255 {
		c.length("awsKmsKeyArn", p.AwsKmsKeyArn, 0, 255)
	}
	c.notifications("notifications", p.Notifications)
	c.outputConfig("contentConfig", p.ContentConfig)
	c.outputConfig("thumbnailConfig", p.ThumbnailConfig)
	if err := c.err(); err != nil {
		return err
	}
	content := p.ContentConfig != nil && p.ContentConfig.Bucket != ""
	thumbs := p.ThumbnailConfig != nil && p.ThumbnailConfig.Bucket != ""
	switch {
	case p.OutputBucket != "" && content:
		return validation("[OutputBucket and ContentConfig are mutually exclusive.]")
	case p.OutputBucket == "" && !content:
		return validation("[OutputBucket and ContentConfig:Bucket are not allowed to both be null.]")
	case content && !thumbs:
		return validation("[ThumbnailConfig:Bucket is not allowed to be null if ContentConfig is specified.]")
	}
	return nil
}

// resolve fills in the locations a pipeline's buckets name.
func (s *server) resolve(p *catalog.Pipeline) error {
	in, err := s.location("InputBucket", p.InputBucket)
	if err != nil {
		return err
	}
	outBucket := p.OutputBucket
	if outBucket == "" && p.ContentConfig != nil {
		outBucket = p.ContentConfig.Bucket
	}
	out, err := s.location("OutputBucket", outBucket)
	if err != nil {
		return err
	}
	p.Input, p.Output, p.Thumbnails = in, out, ""
	if t := p.ThumbnailConfig; t != nil && t.Bucket != "" && t.Bucket != outBucket {
		if p.Thumbnails, err = s.location("ThumbnailConfig.Bucket", t.Bucket); err != nil {
			return err
		}
	}
	return nil
}

// location turns an API bucket name into a location URL: "bucket" is on
// the default store (s3://bucket/: the store named default, else the AWS
// variables), "store/bucket" on the configured store of that name.
func (s *server) location(field, name string) (string, error) {
	store, bucket, ok := strings.Cut(name, "/")
	if !ok {
		store, bucket = storage.StoreS3, name
	}
	if store == storage.DefaultStore {
		store = storage.StoreS3
	}
	raw := store + "://" + bucket + "/"
	loc, err := storage.ParseURL(raw)
	if err == nil && loc.Store == storage.StoreFile {
		// Checked on the parsed location: scheme names are case-blind
		// ("File/localhost" would be the root directory).
		return "", validation("%s %q: local directories cannot be named through the API; configure a pipeline in transcoder.yaml for them", field, name)
	}
	if err == nil {
		_, err = s.opts.Stores.Open(loc) // checks that the store exists; makes no request
	}
	if err != nil {
		return "", validation("%s %q: %s", field, name, strings.TrimPrefix(err.Error(), "storage: "))
	}
	return loc.String(), nil
}

func (s *server) createPipeline(w http.ResponseWriter, r *http.Request) error {
	var req pipelineRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	p := &catalog.Pipeline{}
	if req.Name == nil {
		return validation("1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
	}
	mergePipeline(p, &req)
	if req.OutputBucket != nil {
		p.OutputBucket = *req.OutputBucket
	}
	if err := checkPipeline(p); err != nil {
		return err
	}
	if err := s.resolve(p); err != nil {
		return err
	}
	p, err := s.opts.Catalog.CreatePipeline(r.Context(), p)
	if err != nil {
		return err
	}
	s.log.Info("pipeline created", "pipeline", p.ID, "name", p.Name, "input", p.Input, "output", p.Output)
	return reply(w, http.StatusCreated, map[string]any{"Pipeline": s.pipelineView(p), "Warnings": []warning{}})
}

// mergePipeline applies the members a request names.
func mergePipeline(p *catalog.Pipeline, req *pipelineRequest) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&p.Name, req.Name)
	set(&p.InputBucket, req.InputBucket)
	set(&p.Role, req.Role)
	set(&p.AwsKmsKeyArn, req.AwsKmsKeyArn)
	if req.Notifications != nil {
		p.Notifications = req.Notifications
	}
	if req.ContentConfig != nil {
		p.ContentConfig = req.ContentConfig
		if req.ContentConfig.Bucket != "" {
			// ContentConfig replaces OutputBucket (UpdatePipeline has no
			// OutputBucket member to clear it with).
			p.OutputBucket = ""
		}
	}
	if req.ThumbnailConfig != nil {
		p.ThumbnailConfig = req.ThumbnailConfig
	}
}

// pipeline returns a pipeline by its path ID, or ET's error.
func (s *server) pipeline(id string) (*catalog.Pipeline, error) {
	if err := checkID("id", id); err != nil {
		return nil, err
	}
	p, err := s.opts.Catalog.GetPipeline(id)
	if err != nil {
		return nil, s.notFound("pipeline", id)
	}
	return p, nil
}

func (s *server) readPipeline(w http.ResponseWriter, r *http.Request) error {
	p, err := s.pipeline(r.PathValue("Id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"Pipeline": s.pipelineView(p), "Warnings": []warning{}})
}

func (s *server) listPipelines(w http.ResponseWriter, r *http.Request) error {
	asc, token, err := listParams(r)
	if err != nil {
		return err
	}
	all := s.opts.Catalog.ListPipelines()
	// Oldest first unless asked otherwise: ET documents no default, and
	// creation order is what its console showed.
	items, next := page(all, func(p *catalog.Pipeline) string { return p.ID }, asc == nil || *asc, token)
	views := make([]*pipelineView, len(items))
	for i, p := range items {
		views[i] = s.pipelineView(p)
	}
	return reply(w, http.StatusOK, map[string]any{"Pipelines": views, "NextPageToken": next})
}

// readOnly is the answer to changing a pipeline of the configuration file.
func readOnlyPipeline(id string) *Error {
	return &Error{Status: http.StatusForbidden, Type: TypeAccessDenied,
		Message: fmt.Sprintf("pipeline %s is defined in the configuration file and is read-only through the API (except its status); change it in transcoder.yaml", id)}
}

// update changes an API pipeline with fn under a revision check.
func (s *server) update(r *http.Request, id string, fn func(*catalog.Pipeline) error) (*catalog.Pipeline, error) {
	p, err := s.pipeline(id)
	if err != nil {
		return nil, err
	}
	if p.ReadOnly {
		return nil, readOnlyPipeline(id)
	}
	p, err = s.opts.Catalog.UpdatePipeline(r.Context(), id, fn)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, catalog.ErrNotFound):
		return nil, s.notFound("pipeline", id)
	case errors.Is(err, catalog.ErrReadOnly):
		return nil, readOnlyPipeline(id)
	}
	return nil, err
}

func (s *server) updatePipeline(w http.ResponseWriter, r *http.Request) error {
	var req pipelineRequest
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	id := r.PathValue("Id")
	p, err := s.update(r, id, func(p *catalog.Pipeline) error {
		mergePipeline(p, &req)
		if err := checkPipeline(p); err != nil {
			return err
		}
		return s.resolve(p)
	})
	if err != nil {
		return err
	}
	s.log.Info("pipeline updated", "pipeline", p.ID, "name", p.Name, "input", p.Input, "output", p.Output)
	return reply(w, http.StatusOK, map[string]any{"Pipeline": s.pipelineView(p), "Warnings": []warning{}})
}

func (s *server) updatePipelineNotifications(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Notifications *catalog.Notifications `json:"Notifications"`
	}
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	id := r.PathValue("Id")
	if err := checkID("id", id); err != nil {
		return err
	}
	var c constraints
	if req.Notifications == nil {
		c.null("notifications")
	}
	c.notifications("notifications", req.Notifications)
	if err := c.err(); err != nil {
		return err
	}
	p, err := s.update(r, id, func(p *catalog.Pipeline) error {
		p.Notifications = req.Notifications
		return nil
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"Pipeline": s.pipelineView(p)})
}

// updatePipelineStatus pauses or resumes a pipeline through the job
// engine, which holds the status of every pipeline, configured ones too.
func (s *server) updatePipelineStatus(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Status *string `json:"Status"`
	}
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	p, err := s.pipeline(r.PathValue("Id"))
	if err != nil {
		return err
	}
	var c constraints
	if req.Status == nil {
		c.null("status")
	} else {
		c.enum("status", *req.Status, catalog.StatusActive, catalog.StatusPaused)
	}
	if err := c.err(); err != nil {
		return err
	}
	if *req.Status == catalog.StatusPaused {
		err = s.opts.Jobs.Pause(r.Context(), p.ID)
	} else {
		err = s.opts.Jobs.Resume(r.Context(), p.ID)
	}
	if err != nil {
		return err
	}
	s.log.Info("pipeline status changed", "pipeline", p.ID, "status", *req.Status)
	return reply(w, http.StatusOK, map[string]any{"Pipeline": s.pipelineView(p)})
}

// deletePipeline removes an API pipeline without unfinished jobs, as ET
// did (ResourceInUseException otherwise).
func (s *server) deletePipeline(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("Id")
	p, err := s.pipeline(id)
	if err != nil {
		return err
	}
	if p.ReadOnly {
		return readOnlyPipeline(id)
	}
	for _, st := range []string{jobs.StatusSubmitted, jobs.StatusProgressing} {
		pg, err := s.opts.Jobs.List(r.Context(), jobs.ListRequest{PipelineID: id, Status: st, Limit: 1})
		if err != nil {
			return err
		}
		if len(pg.Jobs) > 0 {
			return &Error{Status: http.StatusConflict, Type: TypeInUse,
				Message: fmt.Sprintf("The pipeline %s cannot be deleted: it has jobs that are Submitted or Progressing (job %s is %s).", id, pg.Jobs[0].ID, st)}
		}
	}
	if err := s.opts.Catalog.DeletePipeline(r.Context(), id); err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return s.notFound("pipeline", id)
		}
		return err
	}
	// Forget its paused state: a pipeline ID is never reused.
	if s.opts.Jobs.Paused(id) {
		if err := s.opts.Jobs.Resume(r.Context(), id); err != nil {
			s.log.Warn("deleted pipeline: could not clear its paused state", "pipeline", id, "err", err)
		}
	}
	s.log.Info("pipeline deleted", "pipeline", id)
	return reply(w, http.StatusAccepted, struct{}{})
}

// testRole is ET's deprecated TestRole: there are no IAM roles here, so
// every role works.
func (s *server) testRole(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Role         *string  `json:"Role"`
		InputBucket  *string  `json:"InputBucket"`
		OutputBucket *string  `json:"OutputBucket"`
		Topics       []string `json:"Topics"`
	}
	if err := decodeBody(w, r, &req, false); err != nil {
		return err
	}
	var c constraints
	c.maxItems("topics", len(req.Topics), 30)
	if err := c.err(); err != nil {
		return err
	}
	return reply(w, http.StatusOK, map[string]any{"Success": "true", "Messages": []string{}})
}
