// Package api serves the Elastic Transcoder-compatible HTTP API (version
// 2012-09-25): the 17 operations of AWS Elastic Transcoder with its paths,
// methods, status codes, JSON and errors, so that ET clients (the AWS SDKs,
// the AWS CLI) work against transcoder with only their endpoint changed;
// and, beyond ET, live job events as server-sent events.
//
// Authentication (SigV4) and rate limiting are not done here: they wrap
// this handler. docs/api.md describes every operation and decision.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/transcoder/transcoder/internal/catalog"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/jobs"
)

// Prefix is the path every operation lives under, as in Elastic
// Transcoder.
const Prefix = "/2012-09-25/"

// Defaults of Options.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "000000000000"
)

// pageSize is Elastic Transcoder's page size for every listing.
const pageSize = 50

// maxBody bounds a request body: ET's largest request, a CreateJob with
// 30 outputs and 30 playlists, is far below it.
const maxBody = 1 << 20

// Options are what the API serves from.
type Options struct {
	// Jobs is the job engine; pipeline status (Active/Paused) is its
	// paused set.
	Jobs *jobs.Service
	// Catalog holds the pipelines and presets, configured and API-made.
	Catalog *catalog.Catalog
	// Stores resolves bucket names: "bucket" is on the default store
	// (s3://), "store/bucket" on the configured store of that name. Nil
	// means no configured stores.
	Stores *storage.Stores
	// Region and Account go into ARNs and messages; default us-east-1 and
	// 000000000000.
	Region, Account string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// server holds nothing but its Options: any number of API processes may
// serve the same engine.
type server struct {
	opts Options
	log  *slog.Logger
}

// handler is an operation: it writes a success itself and returns any
// failure, which serve turns into Elastic Transcoder's error answer.
type handler func(w http.ResponseWriter, r *http.Request) error

// New returns the API's handler, serving every operation under Prefix.
// Paths outside the API answer 404 UnknownOperationException.
func New(opts Options) http.Handler {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.Stores == nil {
		opts.Stores, _ = storage.NewStores(nil) // no stores: cannot fail
	}
	s := &server{opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	mux := http.NewServeMux()
	routes := []struct {
		method, path string
		h            handler
	}{
		{"POST", "pipelines", s.createPipeline},
		{"GET", "pipelines", s.listPipelines},
		{"GET", "pipelines/{Id}", s.readPipeline},
		{"PUT", "pipelines/{Id}", s.updatePipeline},
		{"DELETE", "pipelines/{Id}", s.deletePipeline},
		{"POST", "pipelines/{Id}/status", s.updatePipelineStatus},
		{"POST", "pipelines/{Id}/notifications", s.updatePipelineNotifications},
		{"POST", "roleTests", s.testRole},
		{"POST", "presets", s.createPreset},
		{"GET", "presets", s.listPresets},
		{"GET", "presets/{Id}", s.readPreset},
		{"DELETE", "presets/{Id}", s.deletePreset},
		{"POST", "jobs", s.createJob},
		{"GET", "jobs/{Id}", s.readJob},
		{"DELETE", "jobs/{Id}", s.cancelJob},
		{"GET", "jobs/{Id}/events", s.jobEvents},
		{"GET", "jobsByPipeline/{PipelineId}", s.listJobsByPipeline},
		{"GET", "jobsByStatus/{Status}", s.listJobsByStatus},
	}
	allowed := map[string][]string{}
	for _, rt := range routes {
		mux.Handle(rt.method+" "+Prefix+rt.path, s.serve(rt.h))
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	// A known path with another method: 405, in ET's error shape, so
	// that SDKs report it as an API error rather than a parse failure.
	for path, methods := range allowed {
		list := strings.Join(methods, ", ")
		mux.Handle(Prefix+path, s.serve(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Allow", list)
			return &Error{Status: http.StatusMethodNotAllowed, Type: "UnknownOperationException",
				Message: fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, list)}
		}))
	}
	mux.Handle("/", s.serve(func(w http.ResponseWriter, r *http.Request) error {
		return &Error{Status: http.StatusNotFound, Type: "UnknownOperationException",
			Message: fmt.Sprintf("no operation at %s %s", r.Method, r.URL.Path)}
	}))
	return mux
}

// serve runs an operation with a request ID and turns its failure into
// an error answer.
func (s *server) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The auth layer may have given the request its ID already.
		if w.Header().Get("X-Amzn-Requestid") == "" {
			w.Header().Set("X-Amzn-Requestid", newRequestID())
		}
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

// newRequestID returns a random UUID, the shape of AWS request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// reply writes a success answer.
func reply(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode answer: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
	return nil
}

// Error is an error answer in Elastic Transcoder's shape: the
// x-amzn-ErrorType header names Type, the body is {"message": Message}.
type Error struct {
	Status  int
	Type    string
	Message string
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Error types of Elastic Transcoder's model, and their HTTP statuses.
const (
	TypeValidation     = "ValidationException"       // 400
	TypeAccessDenied   = "AccessDeniedException"     // 403
	TypeNotFound       = "ResourceNotFoundException" // 404
	TypeInUse          = "ResourceInUseException"    // 409
	TypeLimitExceeded  = "LimitExceededException"    // 429
	TypeInternal       = "InternalServiceException"  // 500
	TypeIncompatibleV  = "IncompatibleVersionException"
	typeUnknownOpError = "UnknownOperationException"
)

// WriteError writes an error answer in Elastic Transcoder's shape
// (x-amzn-ErrorType, x-amzn-RequestId, {"message": …}), for layers around
// the API (authentication, rate limiting) to answer like it. For
// throttling ET sent the type "ThrottlingException:" with a colon, which
// SDKs cut off.
func WriteError(w http.ResponseWriter, status int, errType, message string) {
	h := w.Header()
	if h.Get("X-Amzn-Requestid") == "" {
		h.Set("X-Amzn-Requestid", newRequestID())
	}
	h.Set("X-Amzn-Errortype", errType)
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	data, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	_, _ = w.Write(data)
}

// fail answers an operation's error: *Error as it is, the job engine's
// and catalog's errors as ET's exceptions, anything else as
// InternalServiceException (logged: it is ours, not the client's).
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, jobs.ErrBadRequest):
		e = &Error{Status: http.StatusBadRequest, Type: TypeValidation, Message: oneLine(err.Error())}
	case errors.Is(err, jobs.ErrNotFound), errors.Is(err, catalog.ErrNotFound):
		e = &Error{Status: http.StatusNotFound, Type: TypeNotFound, Message: err.Error()}
	case errors.Is(err, jobs.ErrNotCancelable):
		e = &Error{Status: http.StatusConflict, Type: TypeInUse, Message: err.Error()}
	case errors.Is(err, catalog.ErrReadOnly):
		e = &Error{Status: http.StatusForbidden, Type: TypeAccessDenied, Message: err.Error()}
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		e = &Error{Status: 499, Type: TypeInternal, Message: "request canceled"}
	default:
		id := w.Header().Get("X-Amzn-Requestid")
		s.log.Error("API request failed", "method", r.Method, "path", r.URL.Path, "request_id", id, "err", err)
		e = &Error{Status: http.StatusInternalServerError, Type: TypeInternal,
			Message: "internal error (request " + id + "); the server log has the cause"}
	}
	WriteError(w, e.Status, e.Type, e.Message)
}

// oneLine joins a multi-line message (several validation errors) with
// "; ", as one header-safe line.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' }), "; ")
}

// decodeBody reads a JSON request body into v. An empty body is an empty
// object, so that missing members are reported as ET reports them.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, strict bool) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeValidation,
				Message: fmt.Sprintf("request body is larger than %d bytes", maxBody)}
		}
		return validation("request body is not valid JSON for this operation: %v", err)
	}
	return nil
}

// validation is a 400 ValidationException.
func validation(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeValidation, Message: fmt.Sprintf(format, args...)}
}

// arn returns an ET ARN: arn:aws:elastictranscoder:REGION:ACCOUNT:KIND/ID.
func (s *server) arn(kind, id string) string {
	return "arn:aws:elastictranscoder:" + s.opts.Region + ":" + s.opts.Account + ":" + kind + "/" + id
}

// notFound is ET's ResourceNotFoundException for a pipeline, preset or
// job: "The specified job was not found: account=…, jobId=…."
func (s *server) notFound(kind, id string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeNotFound,
		Message: fmt.Sprintf("The specified %s was not found: account=%s, %sId=%s.", kind, s.opts.Account, kind, id)}
}

// checkID answers a malformed ID with ET's message.
func checkID(field, id string) error {
	if err := jobs.CheckID(field, id); err != nil {
		return validation("%s", err.Error())
	}
	return nil
}

// listParams reads the Ascending and PageToken query parameters.
func listParams(r *http.Request) (ascending *bool, token string, err error) {
	q := r.URL.Query()
	switch a := q.Get("Ascending"); a {
	case "":
	case "true", "false":
		v := a == "true"
		ascending = &v
	default:
		return nil, "", validation("1 validation error detected: Value '%s' at 'ascending' failed to satisfy constraint: Member must satisfy regular expression pattern: (^true$)|(^false$)", a)
	}
	token = q.Get("PageToken")
	if token != "" {
		if err := checkID("pageToken", token); err != nil {
			return nil, "", err
		}
	}
	return ascending, token, nil
}

// page cuts one page out of items sorted by ID: after token when
// ascending, before it when not. It returns the token of the next page,
// nil on the last (ET sent null).
func page[T any](items []T, id func(T) string, ascending bool, token string) ([]T, *string) {
	var ordered []T
	if ascending {
		i := 0
		if token != "" {
			for i < len(items) && id(items[i]) <= token {
				i++
			}
		}
		ordered = items[i:]
	} else {
		j := len(items)
		if token != "" {
			for j > 0 && id(items[j-1]) >= token {
				j--
			}
		}
		for k := j - 1; k >= 0; k-- {
			ordered = append(ordered, items[k])
		}
	}
	if len(ordered) <= pageSize {
		return ordered, nil
	}
	next := id(ordered[pageSize-1])
	return ordered[:pageSize], &next
}
