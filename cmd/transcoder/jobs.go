package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"
	"github.com/spf13/cobra"

	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

func newJobsCmd(g *globalOptions) *cobra.Command {
	co := &clientOptions{}
	cmd := &cobra.Command{
		Use:     "jobs",
		Aliases: []string{"job"},
		Short:   "Create, list, show, cancel and wait for jobs on a running transcoder",
		Long: `Talk to a running transcoder ('transcoder run') through its Elastic
Transcoder-compatible API, as the AWS SDK does: requests are signed with
AWS Signature Version 4 (service elastictranscoder).

The server is --server (env TRANSCODER_SERVER, default ` + defaultServer + `).
Credentials are --access-key and --secret-key (env TRANSCODER_ACCESS_KEY,
TRANSCODER_SECRET_KEY), else the AWS SDK's chain (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws); without any, requests go
unsigned, which a server with api.auth: false accepts.`,
	}
	addClientFlags(cmd.PersistentFlags(), co)
	cmd.AddCommand(newJobsCreateCmd(g, co), newJobsListCmd(co), newJobsShowCmd(co), newJobsCancelCmd(co), newJobsWaitCmd(co))
	return cmd
}

// jobsCreateOptions are the flags of 'jobs create'.
type jobsCreateOptions struct {
	pipeline         string
	input            string
	presets          []string
	keyTemplate      string
	outputKeyPrefix  string
	thumbnailPattern string
	segmentDuration  string
	rotate           string
	playlist         string
	playlistFormats  []string
	metadata         []string
	wait             bool
	output           string
}

func newJobsCreateCmd(g *globalOptions, co *clientOptions) *cobra.Command {
	o := &jobsCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create --pipeline ID|NAME --input KEY -p PRESET[:KEY]...",
		Short: "Create a job: one input, one output per preset",
		Long: `Create a job in a pipeline (CreateJob): the object KEY of the pipeline's input
bucket becomes one output per -p, written to its output bucket.

-p takes a preset ID, name or alias (generic-720p, resolved to the server's
preset ID), optionally followed by :KEY, the output's key. Outputs without a
key are named by --key, a template as in 'transcoder transcode' (.Base,
.Dir, .InputExt, .Ext, .Alias, .PresetID, .Index); --thumbnail-pattern
(with {count}) is expanded the same way. --segment-duration cuts the ts and
fmp4 outputs into HLS segments; --playlist and --playlist-format add a
master playlist or manifest over them (segments of 6 seconds unless
--segment-duration says otherwise).

The created job is printed; with --wait the command follows it to its end,
showing progress, and exits 1 unless it is Complete.`,
		Example: `  transcoder jobs create --pipeline uploads --input movie.mov -p generic-720p -p generic-480p-16-9
  transcoder jobs create --pipeline uploads --input movie.mov -p generic-720p:movie/720p.mp4 \
      -p audio-mp3-128k:movie/audio.mp3 --thumbnail-pattern 'movie/thumb-{count}' --wait
  transcoder jobs create --pipeline 1700000000000-abcdef --input movie.mov -p hls-2m -p hls-1m \
      --key '{{.Base}}/{{.Alias}}' --segment-duration 6 --playlist '{{.Base}}/index' --metadata customer=acme -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runJobsCreate(cmd, g, co, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.pipeline, "pipeline", "", "pipeline ID or name (required)")
	f.StringVar(&o.input, "input", "", "key of the input object in the pipeline's input bucket (required)")
	f.StringArrayVarP(&o.presets, "preset", "p", nil, "PRESET or PRESET:KEY: one output (repeatable, 1-30)")
	f.StringVar(&o.keyTemplate, "key", jobs.DefaultKeyTemplate, "key template of outputs given without :KEY")
	f.StringVar(&o.outputKeyPrefix, "output-key-prefix", "", "prefix the server puts before every output key and playlist name")
	f.StringVar(&o.thumbnailPattern, "thumbnail-pattern", "", "thumbnail key template with {count} (and optionally {resolution}) for outputs whose preset has thumbnails; none when empty")
	f.StringVar(&o.segmentDuration, "segment-duration", "", "cut ts/fmp4 outputs into HLS segments of this many seconds (1-60)")
	f.StringVar(&o.rotate, "rotate", "", "auto, 0, 90, 180 or 270 (default: the server's, auto)")
	f.StringVar(&o.playlist, "playlist", "", "playlist name template, without extension (default: the input's name beside the outputs)")
	f.StringSliceVar(&o.playlistFormats, "playlist-format", nil, "playlist formats: hlsv3, hlsv4, hlsv7, dash, or none (default: hlsv3 for ts, hlsv7 and dash for fmp4)")
	f.StringArrayVar(&o.metadata, "metadata", nil, "KEY=VALUE user metadata (repeatable, at most 10)")
	f.BoolVar(&o.wait, "wait", false, "follow the job to its end; exit status 1 unless it is Complete")
	addOutputFlag(cmd, &o.output, formatTable)
	_ = cmd.MarkFlagRequired("pipeline")
	_ = cmd.MarkFlagRequired("input")
	_ = cmd.MarkFlagRequired("preset")
	_ = cmd.RegisterFlagCompletionFunc("preset", completePresets(g))
	return cmd
}

func runJobsCreate(cmd *cobra.Command, g *globalOptions, co *clientOptions, o *jobsCreateOptions) error {
	if err := checkFormat(o.output); err != nil {
		return err
	}
	local, err := g.registry()
	if err != nil {
		return err
	}
	ctx := cmdContext(cmd)
	c, err := co.connect(ctx)
	if err != nil {
		return err
	}
	pipelineID, err := c.pipelineID(ctx, o.pipeline)
	if err != nil {
		return c.fail(err)
	}
	idx, err := c.presetIndex(ctx, local)
	if err != nil {
		return c.fail(err)
	}
	in, err := buildCreateJob(o, idx)
	if err != nil {
		return err
	}
	in.PipelineId = aws.String(pipelineID)
	out, err := c.et.CreateJob(ctx, in)
	if err != nil {
		return c.fail(err)
	}
	if !o.wait {
		return printJob(cmd.OutOrStdout(), o.output, out.Job)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "job %s created\n", aws.ToString(out.Job.Id))
	return followAndPrint(cmd, c, aws.ToString(out.Job.Id), o.output)
}

// followAndPrint follows a job with a progress view on stderr, prints it
// as it ended, and fails with status 1 unless it is Complete.
func followAndPrint(cmd *cobra.Command, c *apiClient, id, format string) error {
	stderr := cmd.ErrOrStderr()
	view := newProgressView(stderr, false)
	job, err := c.follow(cmdContext(cmd), id, followOptions{
		onState: func(j *types.Job) {
			if view.bar == nil {
				fmt.Fprintf(stderr, "job %s: %s\n", aws.ToString(j.Id), aws.ToString(j.Status))
			}
		},
		onProgress: view.update,
	})
	status := ""
	if job != nil {
		status = aws.ToString(job.Status)
	}
	view.finish(status == jobs.StatusComplete)
	if err != nil {
		return c.fail(err)
	}
	if err := printJob(cmd.OutOrStdout(), format, job); err != nil {
		return err
	}
	if status != jobs.StatusComplete {
		return &exitError{code: 1, msg: fmt.Sprintf("job %s: %s%s", id, status, detailSuffix(job))}
	}
	return nil
}

// buildCreateJob turns the flags into a CreateJob request (without the
// pipeline), resolving presets with idx and expanding key templates here
// so that the command says what it asks for.
func buildCreateJob(o *jobsCreateOptions, idx *serverPresets) (*elastictranscoder.CreateJobInput, error) {
	if len(o.presets) == 0 {
		return nil, errors.New("give at least one output: -p PRESET[:KEY]")
	}
	if len(o.presets) > 30 {
		return nil, fmt.Errorf("%d outputs: a job has at most 30", len(o.presets))
	}
	formats, err := parsePlaylistFormats(o.playlistFormats)
	if err != nil {
		return nil, err
	}
	none := len(o.playlistFormats) > 0 && formats == nil // --playlist-format none
	wantPlaylist := (o.playlist != "" || len(o.playlistFormats) > 0) && !none
	segment := o.segmentDuration
	if segment == "" && wantPlaylist {
		segment = defaultSegmentDuration
	}
	in := &elastictranscoder.CreateJobInput{Input: &types.JobInput{Key: aws.String(o.input)}}
	if o.outputKeyPrefix != "" {
		in.OutputKeyPrefix = aws.String(o.outputKeyPrefix)
	}
	byContainer := map[string][]string{}
	for i, ref := range o.presets {
		p, key, err := idx.splitRef(ref)
		if err != nil {
			return nil, err
		}
		segmented := segment != "" && slices.Contains(presets.SegmentedContainers, p.Container)
		d := jobs.NewKeyData(o.input, p, segmented)
		d.Index = i + 1
		if key == "" {
			if key, err = jobs.ExpandKey(o.keyTemplate, d); err != nil {
				return nil, err
			}
		}
		out := types.CreateJobOutput{Key: aws.String(key), PresetId: aws.String(p.ID)}
		if segmented {
			out.SegmentDuration = aws.String(segment)
			byContainer[p.Container] = append(byContainer[p.Container], key)
		}
		if o.thumbnailPattern != "" && p.Thumbnails != nil {
			tp, err := jobs.ExpandKey(o.thumbnailPattern, d)
			if err != nil {
				return nil, err
			}
			out.ThumbnailPattern = aws.String(tp)
		}
		if o.rotate != "" {
			out.Rotate = aws.String(o.rotate)
		}
		in.Outputs = append(in.Outputs, out)
	}
	if segment != "" && len(byContainer) == 0 {
		return nil, errors.New("--segment-duration and playlists apply to ts and fmp4 presets (HLS, DASH); none of the presets given is one")
	}
	if wantPlaylist {
		pls, err := buildPlaylists(formats, o.playlist, o.input, byContainer)
		if err != nil {
			return nil, err
		}
		for _, pl := range pls {
			in.Playlists = append(in.Playlists, types.CreateJobPlaylist{Name: aws.String(pl.Name), Format: aws.String(pl.Format),
				OutputKeys: pl.OutputKeys})
		}
	}
	if len(o.metadata) > 0 {
		in.UserMetadata = map[string]string{}
		for _, kv := range o.metadata {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--metadata %q: want KEY=VALUE", kv)
			}
			in.UserMetadata[k] = v
		}
	}
	return in, nil
}

// serverPresets finds presets among the server's (ListPresets): by ID, by
// name, or by an alias the local registry knows for one of the server's
// IDs (the system presets have the same IDs everywhere; the Elastic
// Transcoder API carries no aliases).
type serverPresets struct {
	list  []*presets.Preset
	byID  map[string]*presets.Preset
	local *presets.Registry
}

// presetIndex lists the server's presets, each with the aliases the local
// registry gives its ID.
func (c *apiClient) presetIndex(ctx context.Context, local *presets.Registry) (*serverPresets, error) {
	list, err := c.listPresets(ctx, local)
	if err != nil {
		return nil, err
	}
	return newServerPresets(list, local), nil
}

func newServerPresets(list []*presets.Preset, local *presets.Registry) *serverPresets {
	x := &serverPresets{list: list, byID: map[string]*presets.Preset{}, local: local}
	for _, p := range list {
		x.byID[p.ID] = p
	}
	return x
}

// listPresets pages through ListPresets.
func (c *apiClient) listPresets(ctx context.Context, local *presets.Registry) ([]*presets.Preset, error) {
	var out []*presets.Preset
	p := elastictranscoder.NewListPresetsPaginator(c.et, &elastictranscoder.ListPresetsInput{Ascending: aws.String("true")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for i := range page.Presets {
			pr, err := fromSDKPreset(&page.Presets[i], local)
			if err != nil {
				return nil, err
			}
			out = append(out, pr)
		}
	}
	return out, nil
}

// fromSDKPreset converts the SDK's Preset into ours through Elastic
// Transcoder's JSON, which both speak, and adds the aliases the local
// registry knows for its ID.
func fromSDKPreset(sp *types.Preset, local *presets.Registry) (*presets.Preset, error) {
	b, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	var p presets.Preset
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("preset %s: %w", aws.ToString(sp.Id), err)
	}
	if local != nil {
		if lp, err := local.Lookup(p.ID); err == nil && lp.ID == p.ID {
			p.Aliases = lp.Aliases
		}
	}
	return &p, nil
}

// lookup finds one preset of the server.
func (x *serverPresets) lookup(ref string) (*presets.Preset, error) {
	if p, ok := x.byID[ref]; ok {
		return p, nil
	}
	var named []*presets.Preset
	for _, p := range x.list {
		if strings.EqualFold(p.Name, ref) || slices.ContainsFunc(p.Aliases, func(a string) bool { return strings.EqualFold(a, ref) }) {
			named = append(named, p)
		}
	}
	switch len(named) {
	case 1:
		return named[0], nil
	case 0:
	default:
		ids := make([]string, len(named))
		for i, p := range named {
			ids[i] = p.ID
		}
		return nil, fmt.Errorf("preset %q names %d presets on the server (%s): use an ID", ref, len(named), strings.Join(ids, ", "))
	}
	lp, err := x.local.Lookup(ref)
	if err != nil {
		return nil, fmt.Errorf("%w (on the server: 'transcoder presets list --server URL')", err)
	}
	if p, ok := x.byID[lp.ID]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("preset %q (%s) is not on the server; see 'transcoder presets list --server URL'", ref, lp.ID)
}

// splitRef reads PRESET or PRESET:KEY. Preset names may contain colons
// ("System preset: Generic 720p"), so the whole reference is tried first,
// then each colon from the left.
func (x *serverPresets) splitRef(ref string) (*presets.Preset, string, error) {
	p, firstErr := x.lookup(ref)
	if firstErr == nil {
		return p, "", nil
	}
	for i := 0; i < len(ref); i++ {
		if ref[i] != ':' {
			continue
		}
		if p, err := x.lookup(ref[:i]); err == nil {
			key := ref[i+1:]
			if key == "" {
				return nil, "", fmt.Errorf("-p %q: the key after ':' is empty", ref)
			}
			return p, key, nil
		}
	}
	return nil, "", firstErr
}

func newJobsListCmd(co *clientOptions) *cobra.Command {
	var (
		output, pipeline, status string
		ascending, all           bool
		limit                    int
	)
	cmd := &cobra.Command{
		Use:   "list [--pipeline ID|NAME | --status STATUS]",
		Short: "List jobs, newest first",
		Long: `List the jobs of one pipeline (ListJobsByPipeline), in one status
(ListJobsByStatus), or all jobs, newest first unless --ascending.
At most --limit jobs are shown (pages are fetched as needed); --all shows
every one.`,
		Example: `  transcoder jobs list
  transcoder jobs list --pipeline uploads --limit 10
  transcoder jobs list --status Error -o json
  transcoder jobs list --status progressing --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			if pipeline != "" && status != "" {
				return errors.New("--pipeline and --status cannot be combined (the API lists by one or the other)")
			}
			if limit <= 0 && !all {
				return fmt.Errorf("--limit %d: must be at least 1", limit)
			}
			if status != "" {
				s, err := canonicalStatus(status)
				if err != nil {
					return err
				}
				status = s
			}
			if all {
				limit = 0
			}
			ctx := cmdContext(cmd)
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			var list []types.Job
			var more bool
			switch {
			case status != "":
				list, more, err = c.listJobs(ctx, listByStatus(status), ascending, limit)
			case pipeline != "":
				id, perr := c.pipelineID(ctx, pipeline)
				if perr != nil {
					return c.fail(perr)
				}
				list, more, err = c.listJobs(ctx, listByPipeline(id), ascending, limit)
			default:
				list, more, err = c.listAllJobs(ctx, ascending, limit)
			}
			if err != nil {
				return c.fail(err)
			}
			var names map[string]string
			if output == formatTable {
				// People read pipelines by name; the names are a nicety,
				// so a failure to read them leaves the IDs.
				names, _ = c.pipelineNames(ctx)
			}
			if err := printJobs(cmd.OutOrStdout(), output, list, names); err != nil {
				return err
			}
			if more && output == formatTable {
				fmt.Fprintf(cmd.ErrOrStderr(), "(more jobs: raise --limit or give --all)\n")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pipeline, "pipeline", "", "only this pipeline's jobs (ID or name)")
	f.StringVar(&status, "status", "", "only jobs in this status: Submitted, Progressing, Complete, Canceled, Error")
	f.BoolVar(&ascending, "ascending", false, "oldest first")
	f.IntVar(&limit, "limit", 50, "show at most this many jobs")
	f.BoolVar(&all, "all", false, "show every job (page through all)")
	addOutputFlag(cmd, &output, formatTable)
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(jobStatuses, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

var jobStatuses = []string{jobs.StatusSubmitted, jobs.StatusProgressing, jobs.StatusComplete, jobs.StatusCanceled, jobs.StatusError}

// canonicalStatus accepts a status in any case.
func canonicalStatus(s string) (string, error) {
	for _, st := range jobStatuses {
		if strings.EqualFold(s, st) {
			return st, nil
		}
	}
	return "", fmt.Errorf("--status %q: allowed: %s", s, strings.Join(jobStatuses, ", "))
}

// jobPager fetches one page of a job listing.
type jobPager func(ctx context.Context, c *apiClient, ascending bool, token *string) ([]types.Job, *string, error)

func listByStatus(status string) jobPager {
	return func(ctx context.Context, c *apiClient, ascending bool, token *string) ([]types.Job, *string, error) {
		out, err := c.et.ListJobsByStatus(ctx, &elastictranscoder.ListJobsByStatusInput{
			Status: aws.String(status), Ascending: aws.String(strconv.FormatBool(ascending)), PageToken: token})
		if err != nil {
			return nil, nil, err
		}
		return out.Jobs, out.NextPageToken, nil
	}
}

func listByPipeline(id string) jobPager {
	return func(ctx context.Context, c *apiClient, ascending bool, token *string) ([]types.Job, *string, error) {
		out, err := c.et.ListJobsByPipeline(ctx, &elastictranscoder.ListJobsByPipelineInput{
			PipelineId: aws.String(id), Ascending: aws.String(strconv.FormatBool(ascending)), PageToken: token})
		if err != nil {
			return nil, nil, err
		}
		return out.Jobs, out.NextPageToken, nil
	}
}

// listJobs pages through a listing until limit jobs (0: all) and says
// whether more remain.
func (c *apiClient) listJobs(ctx context.Context, page jobPager, ascending bool, limit int) ([]types.Job, bool, error) {
	var out []types.Job
	var token *string
	for {
		list, next, err := page(ctx, c, ascending, token)
		if err != nil {
			return nil, false, err
		}
		out = append(out, list...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], len(out) > limit || aws.ToString(next) != "", nil
		}
		if aws.ToString(next) == "" {
			return out, false, nil
		}
		token = next
	}
}

// listAllJobs lists every job: the API has no such listing, so it merges
// the listings by status (which, unlike those by pipeline, include the
// jobs of deleted pipelines) in ID order, IDs beginning with their
// creation time. The first limit jobs overall are among the first limit
// of each status, so no listing is read further.
func (c *apiClient) listAllJobs(ctx context.Context, ascending bool, limit int) ([]types.Job, bool, error) {
	var out []types.Job
	more := false
	for _, status := range jobStatuses {
		list, m, err := c.listJobs(ctx, listByStatus(status), ascending, limit)
		if err != nil {
			return nil, false, err
		}
		out = append(out, list...)
		more = more || m
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := aws.ToString(out[i].Id), aws.ToString(out[j].Id)
		if ascending {
			return a < b
		}
		return a > b
	})
	if limit > 0 && len(out) > limit {
		return out[:limit], true, nil
	}
	return out, more, nil
}

func printJobs(w io.Writer, format string, list []types.Job, pipelineNames map[string]string) error {
	if format != formatTable {
		if list == nil {
			list = []types.Job{}
		}
		return writeDocument(w, format, list)
	}
	rows := make([][]string, 0, len(list))
	for i := range list {
		j := &list[i]
		pl := aws.ToString(j.PipelineId)
		if n := pipelineNames[pl]; n != "" {
			pl = n
		}
		input := "-"
		if j.Input != nil {
			input = aws.ToString(j.Input.Key)
		}
		submitted := "-"
		if j.Timing != nil && j.Timing.SubmitTimeMillis != nil {
			submitted = formatMillis(*j.Timing.SubmitTimeMillis)
		}
		rows = append(rows, []string{aws.ToString(j.Id), aws.ToString(j.Status), pl, input, strconv.Itoa(len(j.Outputs)), submitted})
	}
	return writeTable(w, []string{"ID", "STATUS", "PIPELINE", "INPUT", "OUTPUTS", "SUBMITTED"}, rows)
}

func formatMillis(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05")
}

// printJob prints one job: ET's Job JSON or YAML, or for people its
// fields and a table of its outputs and playlists.
func printJob(w io.Writer, format string, j *types.Job) error {
	if format != formatTable {
		return writeDocument(w, format, j)
	}
	fields := [][]string{
		{"Id:", aws.ToString(j.Id)},
		{"Pipeline:", aws.ToString(j.PipelineId)},
		{"Status:", aws.ToString(j.Status)},
	}
	if j.Input != nil {
		in := aws.ToString(j.Input.Key)
		if d := j.Input.DetectedProperties; d != nil && d.Width != nil && d.Height != nil {
			in += fmt.Sprintf(" (%dx%d, %.3fs, %s)", *d.Width, *d.Height, float64(aws.ToInt64(d.DurationMillis))/1000, humanBytes(aws.ToInt64(d.FileSize)))
		}
		fields = append(fields, []string{"Input:", in})
	}
	if p := aws.ToString(j.OutputKeyPrefix); p != "" {
		fields = append(fields, []string{"Output key prefix:", p})
	}
	if t := j.Timing; t != nil {
		for _, f := range []struct {
			name string
			ms   *int64
		}{{"Submitted:", t.SubmitTimeMillis}, {"Started:", t.StartTimeMillis}, {"Finished:", t.FinishTimeMillis}} {
			if aws.ToInt64(f.ms) > 0 {
				fields = append(fields, []string{f.name, formatMillis(*f.ms)})
			}
		}
	}
	if len(j.UserMetadata) > 0 {
		kv := make([]string, 0, len(j.UserMetadata))
		for k, v := range j.UserMetadata {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		fields = append(fields, []string{"Metadata:", strings.Join(kv, ", ")})
	}
	if err := writeFields(w, fields); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(j.Outputs))
	for _, o := range j.Outputs {
		size := "-"
		if aws.ToInt32(o.Width) > 0 {
			size = fmt.Sprintf("%dx%d", *o.Width, aws.ToInt32(o.Height))
		}
		dur, fsize := "-", "-"
		if aws.ToInt64(o.DurationMillis) > 0 {
			dur = fmt.Sprintf("%.3fs", float64(*o.DurationMillis)/1000)
		}
		if aws.ToInt64(o.FileSize) > 0 {
			fsize = humanBytes(*o.FileSize)
		}
		rows = append(rows, []string{aws.ToString(o.Id), aws.ToString(o.Key), aws.ToString(o.PresetId), aws.ToString(o.Status), size, dur, fsize, dash(aws.ToString(o.StatusDetail))})
	}
	if err := writeTable(w, []string{"OUTPUT", "KEY", "PRESET", "STATUS", "SIZE", "DURATION", "FILE SIZE", "DETAIL"}, rows); err != nil {
		return err
	}
	if len(j.Playlists) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	rows = rows[:0]
	for _, p := range j.Playlists {
		rows = append(rows, []string{aws.ToString(p.Name), aws.ToString(p.Format), strconv.Itoa(len(p.OutputKeys)), aws.ToString(p.Status), dash(aws.ToString(p.StatusDetail))})
	}
	return writeTable(w, []string{"PLAYLIST", "FORMAT", "OUTPUTS", "STATUS", "DETAIL"}, rows)
}

// writeFields writes "name: value" lines, values aligned.
func writeFields(w io.Writer, fields [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, f := range fields {
		fmt.Fprintln(tw, strings.Join(f, "\t"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// detailSuffix is ": DETAIL" of the first output or playlist that has one.
func detailSuffix(j *types.Job) string {
	if j == nil {
		return ""
	}
	for _, o := range j.Outputs {
		if d := aws.ToString(o.StatusDetail); d != "" {
			return ": " + d
		}
	}
	for _, p := range j.Playlists {
		if d := aws.ToString(p.StatusDetail); d != "" {
			return ": " + d
		}
	}
	return ""
}

func newJobsShowCmd(co *clientOptions) *cobra.Command {
	var (
		output string
		watch  bool
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one job; --watch follows it with a progress bar",
		Long: `Show one job (ReadJob). With --watch, follow it until it ends, drawing its
progress (percent, speed, ETA) from the server's live events, or reading the
job every 2 seconds when the server has none; then print it, and exit 1
unless it is Complete.`,
		Example: `  transcoder jobs show 1700000000000-abcdef
  transcoder jobs show 1700000000000-abcdef --watch
  transcoder jobs show 1700000000000-abcdef -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			if watch {
				return followAndPrint(cmd, c, args[0], output)
			}
			j, err := c.readJob(ctx, args[0])
			if err != nil {
				return c.fail(err)
			}
			return printJob(cmd.OutOrStdout(), output, j)
		},
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "follow the job to its end with a progress bar")
	addOutputFlag(cmd, &output, formatTable)
	return cmd
}

func newJobsCancelCmd(co *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID...",
		Short: "Cancel jobs",
		Long: `Cancel jobs (CancelJob). A Submitted job (a paused pipeline's, or one waiting
for a worker) is Canceled at once. A Progressing one, which Elastic Transcoder
could not cancel, is stopped by its worker, which removes what it had written
and marks it Canceled moments later ('jobs wait' tells when). A finished job
is refused with ResourceInUseException.`,
		Example: `  transcoder jobs cancel 1700000000000-abcdef`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmdContext(cmd)
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			// Every job is tried; one that cannot be canceled does not
			// keep the others running.
			failed := 0
			for _, id := range args {
				if _, err := c.et.CancelJob(ctx, &elastictranscoder.CancelJobInput{Id: aws.String(id)}); err != nil {
					failed++
					msg := err.Error()
					var ex *exitError
					if errors.As(c.fail(err), &ex) {
						msg = ex.msg
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "job %s: %s\n", id, msg)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job %s: cancel requested\n", id)
			}
			if failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d of %d %s not canceled", failed, len(args), plural(len(args), "job", "jobs"))}
			}
			return nil
		},
	}
}

func newJobsWaitCmd(co *clientOptions) *cobra.Command {
	var (
		output  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait ID...",
		Short: "Wait for jobs to end; exit 0 only if all are Complete",
		Long: `Wait until every job given has ended (Complete, Canceled or Error), from the
server's live events or by reading each job every 2 seconds, then print each
job's final status and detail. The exit status is 0 if all are Complete and
1 otherwise, including when --timeout runs out first.`,
		Example: `  transcoder jobs wait 1700000000000-abcdef 1700000000001-ghijkl --timeout 30m`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(output); err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			c, err := co.connect(ctx)
			if err != nil {
				return err
			}
			return runJobsWait(ctx, cmd, c, args, output, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit)")
	addOutputFlag(cmd, &output, formatTable)
	return cmd
}

func runJobsWait(ctx context.Context, cmd *cobra.Command, c *apiClient, ids []string, output string, timeout time.Duration) error {
	type result struct {
		job *types.Job
		err error
	}
	results := make([]result, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			j, err := c.follow(ctx, id, followOptions{})
			results[i] = result{j, err}
		})
	}
	wg.Wait()
	if errors.Is(cmdContext(cmd).Err(), context.Canceled) {
		return &exitError{code: 130, msg: "canceled"}
	}
	var final []*types.Job
	var rows [][]string
	notDone := 0
	for i, r := range results {
		switch {
		case r.err != nil && errors.Is(r.err, context.DeadlineExceeded):
			status := "?"
			if r.job != nil {
				status = aws.ToString(r.job.Status)
			}
			rows = append(rows, []string{ids[i], status, fmt.Sprintf("still %s after --timeout %s", status, timeout)})
			notDone++
			if r.job != nil {
				final = append(final, r.job)
			}
		case r.err != nil:
			return c.fail(r.err)
		default:
			status := aws.ToString(r.job.Status)
			if status != jobs.StatusComplete {
				notDone++
			}
			rows = append(rows, []string{ids[i], status, dash(strings.TrimPrefix(detailSuffix(r.job), ": "))})
			final = append(final, r.job)
		}
	}
	w := cmd.OutOrStdout()
	var err error
	if output == formatTable {
		err = writeTable(w, []string{"ID", "STATUS", "DETAIL"}, rows)
	} else {
		err = writeDocument(w, output, final)
	}
	if err != nil {
		return err
	}
	if notDone > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d %s not Complete", notDone, len(ids), plural(len(ids), "job", "jobs"))}
	}
	return nil
}

// cmdContext is the command's context, or Background when it has none.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
