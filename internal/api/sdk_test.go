package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	et "github.com/aws/aws-sdk-go-v2/service/elastictranscoder"
	"github.com/aws/aws-sdk-go-v2/service/elastictranscoder/types"

	"github.com/transcoder/transcoder/internal/testmedia"
)

const (
	role       = "arn:aws:iam::123456789012:role/Elastic_Transcoder_Default_Role"
	topic      = "arn:aws:sns:us-east-1:123456789012:transcode-done"
	preset320  = "1351620000001-000061" // System preset: Generic 320x240
	presetHLS4 = "1351620000001-200050" // System preset: HLS 400k
	presetHLS6 = "1351620000001-200040" // System preset: HLS 600k
)

var idShape = regexp.MustCompile(`^\d{13}-\w{6}$`)

// TestSDK drives every operation through the real ET client: pipelines,
// presets, a job with three outputs and a playlist run by a real worker
// and awaited with the JobComplete waiter, and the typed errors.
func TestSDK(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, worker: true})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := e.client
	e.put(t, "inbox", "clips/tiny.mp4", testmedia.Path(t, testmedia.Tiny))

	// Pipelines.
	cp, err := c.CreatePipeline(ctx, &et.CreatePipelineInput{
		Name: aws.String("sdk"), InputBucket: aws.String("inbox"), OutputBucket: aws.String("outbox"),
		Role: aws.String(role), Notifications: &types.Notifications{Completed: aws.String(topic)},
	})
	if err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
	pl := cp.Pipeline
	if !idShape.MatchString(aws.ToString(pl.Id)) || aws.ToString(pl.Status) != "Active" ||
		aws.ToString(pl.Arn) != "arn:aws:elastictranscoder:us-east-1:000000000000:pipeline/"+aws.ToString(pl.Id) ||
		aws.ToString(pl.Notifications.Completed) != topic || aws.ToString(pl.ContentConfig.Bucket) != "outbox" {
		t.Fatalf("CreatePipeline: %+v", pl)
	}
	pid := pl.Id
	rp, err := c.ReadPipeline(ctx, &et.ReadPipelineInput{Id: pid})
	if err != nil || aws.ToString(rp.Pipeline.Name) != "sdk" || aws.ToString(rp.Pipeline.InputBucket) != "inbox" {
		t.Fatalf("ReadPipeline: %v %+v", err, rp)
	}
	up, err := c.UpdatePipeline(ctx, &et.UpdatePipelineInput{Id: pid, Name: aws.String("sdk renamed")})
	if err != nil || aws.ToString(up.Pipeline.Name) != "sdk renamed" || aws.ToString(up.Pipeline.InputBucket) != "inbox" {
		t.Fatalf("UpdatePipeline: %v %+v", err, up)
	}
	un, err := c.UpdatePipelineNotifications(ctx, &et.UpdatePipelineNotificationsInput{Id: pid,
		Notifications: &types.Notifications{Completed: aws.String(topic), Error: aws.String(topic),
			Progressing: aws.String(""), Warning: aws.String("")}})
	if err != nil || aws.ToString(un.Pipeline.Notifications.Error) != topic {
		t.Fatalf("UpdatePipelineNotifications: %v %+v", err, un)
	}
	for _, st := range []string{"Paused", "Active"} {
		us, err := c.UpdatePipelineStatus(ctx, &et.UpdatePipelineStatusInput{Id: pid, Status: aws.String(st)})
		if err != nil || aws.ToString(us.Pipeline.Status) != st {
			t.Fatalf("UpdatePipelineStatus(%s): %v %+v", st, err, us)
		}
		if rp, _ := c.ReadPipeline(ctx, &et.ReadPipelineInput{Id: pid}); aws.ToString(rp.Pipeline.Status) != st {
			t.Fatalf("ReadPipeline after UpdatePipelineStatus(%s): %s", st, aws.ToString(rp.Pipeline.Status))
		}
	}
	var names []string
	for pg := et.NewListPipelinesPaginator(c, &et.ListPipelinesInput{}); pg.HasMorePages(); {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListPipelines: %v", err)
		}
		for _, p := range out.Pipelines {
			names = append(names, aws.ToString(p.Name))
		}
	}
	if !slices.Equal(names, []string{"configured", "sdk renamed"}) {
		t.Fatalf("ListPipelines: %q", names)
	}
	tr, err := c.TestRole(ctx, &et.TestRoleInput{Role: aws.String(role), InputBucket: aws.String("inbox"),
		OutputBucket: aws.String("outbox"), Topics: []string{topic}})
	if err != nil || aws.ToString(tr.Success) != "true" {
		t.Fatalf("TestRole: %v %+v", err, tr)
	}

	// Presets: a custom one made from a system preset's settings.
	sys, err := c.ReadPreset(ctx, &et.ReadPresetInput{Id: aws.String(presetHLS4)})
	if err != nil || aws.ToString(sys.Preset.Type) != "System" || aws.ToString(sys.Preset.Container) != "ts" {
		t.Fatalf("ReadPreset: %v %+v", err, sys)
	}
	created, err := c.CreatePreset(ctx, &et.CreatePresetInput{
		Name: aws.String("API HLS 400k"), Description: aws.String("made through the API"),
		Container: sys.Preset.Container, Video: sys.Preset.Video, Audio: sys.Preset.Audio, Thumbnails: sys.Preset.Thumbnails,
	})
	if err != nil {
		t.Fatalf("CreatePreset: %v", err)
	}
	custom := created.Preset.Id
	if !idShape.MatchString(aws.ToString(custom)) || aws.ToString(created.Preset.Type) != "Custom" ||
		aws.ToString(created.Warning) != "" || aws.ToString(created.Preset.Video.BitRate) != aws.ToString(sys.Preset.Video.BitRate) {
		t.Fatalf("CreatePreset: %+v", created)
	}
	if rp, err := c.ReadPreset(ctx, &et.ReadPresetInput{Id: custom}); err != nil || aws.ToString(rp.Preset.Name) != "API HLS 400k" {
		t.Fatalf("ReadPreset(custom): %v %+v", err, rp)
	}
	var presetIDs []string
	pages := 0
	for pg := et.NewListPresetsPaginator(c, &et.ListPresetsInput{}); pg.HasMorePages(); pages++ {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListPresets: %v", err)
		}
		for _, p := range out.Presets {
			presetIDs = append(presetIDs, aws.ToString(p.Id))
		}
	}
	if pages < 2 || !slices.Contains(presetIDs, aws.ToString(custom)) || !slices.Contains(presetIDs, preset320) ||
		!slices.IsSorted(presetIDs) || len(slices.Compact(slices.Clone(presetIDs))) != len(presetIDs) {
		t.Fatalf("ListPresets: %d pages, %d presets, sorted %v", pages, len(presetIDs), slices.IsSorted(presetIDs))
	}

	// A job with three outputs (one on the API-made preset) and an HLS
	// playlist, run by the worker.
	cj, err := c.CreateJob(ctx, &et.CreateJobInput{
		PipelineId:      pid,
		Input:           &types.JobInput{Key: aws.String("clips/tiny.mp4"), FrameRate: aws.String("auto"), Container: aws.String("auto")},
		OutputKeyPrefix: aws.String("run1/"),
		Outputs: []types.CreateJobOutput{
			{Key: aws.String("mp4/small.mp4"), PresetId: aws.String(preset320), ThumbnailPattern: aws.String("mp4/small-{count}")},
			{Key: aws.String("hls/a"), PresetId: custom, SegmentDuration: aws.String("2")},
			{Key: aws.String("hls/b"), PresetId: aws.String(presetHLS6), SegmentDuration: aws.String("2")},
		},
		Playlists: []types.CreateJobPlaylist{{Name: aws.String("hls/index"), Format: aws.String("HLSv3"),
			OutputKeys: []string{"hls/a", "hls/b"}}},
		UserMetadata: map[string]string{"customer": "acme", "ref": "42"},
	})
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	job := cj.Job
	if !idShape.MatchString(aws.ToString(job.Id)) || aws.ToString(job.Status) != "Submitted" || len(job.Outputs) != 3 ||
		aws.ToString(job.Output.Key) != "mp4/small.mp4" || aws.ToString(job.Input.Key) != "clips/tiny.mp4" ||
		job.UserMetadata["customer"] != "acme" || len(job.Playlists) != 1 ||
		aws.ToString(job.Arn) != "arn:aws:elastictranscoder:us-east-1:000000000000:job/"+aws.ToString(job.Id) {
		t.Fatalf("CreateJob: %+v", job)
	}
	waiter := et.NewJobCompleteWaiter(c, func(o *et.JobCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, time.Second
	})
	done, err := waiter.WaitForOutput(ctx, &et.ReadJobInput{Id: job.Id}, 3*time.Minute)
	if err != nil {
		j, _ := c.ReadJob(ctx, &et.ReadJobInput{Id: job.Id})
		b, _ := json.Marshal(j)
		t.Fatalf("JobComplete waiter: %v; job: %s", err, b)
	}
	j := done.Job
	if aws.ToString(j.Status) != "Complete" || aws.ToString(j.Playlists[0].Status) != "Complete" ||
		j.Timing == nil || aws.ToInt64(j.Timing.FinishTimeMillis) == 0 || j.Input.DetectedProperties == nil {
		t.Fatalf("job after waiting: %+v", j)
	}
	for _, o := range j.Outputs {
		if aws.ToString(o.Status) != "Complete" || aws.ToInt32(o.Width) == 0 || aws.ToInt64(o.DurationMillis) == 0 {
			t.Fatalf("output %s: status %s, width %d", aws.ToString(o.Key), aws.ToString(o.Status), aws.ToInt32(o.Width))
		}
	}
	for _, k := range []string{"run1/mp4/small.mp4", "run1/mp4/small-00001.png", "run1/hls/a.m3u8", "run1/hls/a00000.ts",
		"run1/hls/b.m3u8", "run1/hls/index.m3u8"} {
		if !e.exists(t, "outbox", k) {
			t.Errorf("output %s is not in bucket outbox", k)
		}
	}

	// Errors.
	var nf *types.ResourceNotFoundException
	var ve *types.ValidationException
	var ad *types.AccessDeniedException
	var inUse *types.ResourceInUseException
	_, err = c.ReadJob(ctx, &et.ReadJobInput{Id: aws.String("1351620000001-zzzzzz")})
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "The specified job was not found: account=000000000000, jobId=1351620000001-zzzzzz.") {
		t.Errorf("ReadJob(unknown) = %v, want ResourceNotFoundException", err)
	}
	_, err = c.ReadJob(ctx, &et.ReadJobInput{Id: aws.String("not-an-id")})
	if !errors.As(err, &ve) || ve.ErrorMessage() != `1 validation error detected: Value 'not-an-id' at 'id' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\d{13}-\w{6}$` {
		t.Errorf("ReadJob(bad id) = %v, want ValidationException with ET's message", err)
	}
	_, err = c.DeletePreset(ctx, &et.DeletePresetInput{Id: aws.String(preset320)})
	if !errors.As(err, &ad) {
		t.Errorf("DeletePreset(system) = %v, want AccessDeniedException", err)
	}
	_, err = c.UpdatePipeline(ctx, &et.UpdatePipelineInput{Id: aws.String(configID), Name: aws.String("x")})
	if !errors.As(err, &ad) {
		t.Errorf("UpdatePipeline(configured) = %v, want AccessDeniedException", err)
	}
	_, err = c.DeletePipeline(ctx, &et.DeletePipelineInput{Id: aws.String(configID)})
	if !errors.As(err, &ad) {
		t.Errorf("DeletePipeline(configured) = %v, want AccessDeniedException", err)
	}
	_, err = c.CancelJob(ctx, &et.CancelJobInput{Id: job.Id})
	if !errors.As(err, &inUse) {
		t.Errorf("CancelJob(Complete) = %v, want ResourceInUseException", err)
	}
	_, err = c.CreateJob(ctx, &et.CreateJobInput{PipelineId: aws.String("1351620000001-nopipe"),
		Input: &types.JobInput{Key: aws.String("a.mp4")}, Outputs: []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String(preset320)}}})
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "pipeline") {
		t.Errorf("CreateJob(unknown pipeline) = %v, want ResourceNotFoundException", err)
	}
	badJobs := []struct {
		name string
		in   et.CreateJobInput
		want string
	}{
		{"two inputs", et.CreateJobInput{PipelineId: pid, Inputs: []types.JobInput{{Key: aws.String("a")}, {Key: aws.String("b")}},
			Outputs: []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String(preset320)}}}, "stitching more than one input is not supported"},
		{"unknown preset", et.CreateJobInput{PipelineId: pid, Input: &types.JobInput{Key: aws.String("a.mp4")},
			Outputs: []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String("1351620000001-999999")}}}, "unknown preset"},
		{"output and outputs", et.CreateJobInput{PipelineId: pid, Input: &types.JobInput{Key: aws.String("a.mp4")},
			Output:  &types.CreateJobOutput{Key: aws.String("p.mp4"), PresetId: aws.String(preset320)},
			Outputs: []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String(preset320)}}}, "mutually exclusive"},
		{"eleven metadata pairs", et.CreateJobInput{PipelineId: pid, Input: &types.JobInput{Key: aws.String("a.mp4")},
			Outputs:      []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String(preset320)}},
			UserMetadata: map[string]string{"a": "1", "b": "1", "c": "1", "d": "1", "e": "1", "f": "1", "g": "1", "h": "1", "i": "1", "j": "1", "k": "1"}}, "at most 10"},
		{"watermarks", et.CreateJobInput{PipelineId: pid, Input: &types.JobInput{Key: aws.String("a.mp4")},
			Outputs: []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String(preset320),
				Watermarks: []types.JobWatermark{{InputKey: aws.String("logo.png"), PresetWatermarkId: aws.String("TopLeft")}}}}}, "Watermarks is not supported"},
		{"playlist prefix", et.CreateJobInput{PipelineId: pid, Input: &types.JobInput{Key: aws.String("a.mp4")},
			Outputs:   []types.CreateJobOutput{{Key: aws.String("x/a"), PresetId: aws.String(presetHLS4), SegmentDuration: aws.String("2")}},
			Playlists: []types.CreateJobPlaylist{{Name: aws.String("y/index"), Format: aws.String("HLSv3"), OutputKeys: []string{"x/a"}}}},
			"must begin identically to the playlist name"},
	}
	for _, tc := range badJobs {
		_, err := c.CreateJob(ctx, &tc.in)
		if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), tc.want) {
			t.Errorf("CreateJob(%s) = %v, want ValidationException containing %q", tc.name, err, tc.want)
		}
	}
	badPipelines := []struct {
		name string
		in   et.CreatePipelineInput
		want string
	}{
		{"bad role", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("inbox"), OutputBucket: aws.String("outbox"),
			Role: aws.String("admin")}, "Value 'admin' at 'role' failed to satisfy constraint"},
		{"local directory", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("File/localhost"), OutputBucket: aws.String("outbox"),
			Role: aws.String(role)}, `local directories cannot be named through the API`},
		{"local thumbnails", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("inbox"), Role: aws.String(role),
			ContentConfig:   &types.PipelineOutputConfig{Bucket: aws.String("outbox")},
			ThumbnailConfig: &types.PipelineOutputConfig{Bucket: aws.String("FILE/localhost")}}, `local directories cannot be named through the API`},
		{"unknown store", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("nosuch/inbox"), OutputBucket: aws.String("outbox"),
			Role: aws.String(role)}, `no store named "nosuch"`},
		{"bad topic", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("inbox"), OutputBucket: aws.String("outbox"),
			Role: aws.String(role), Notifications: &types.Notifications{Error: aws.String("https://hook")}}, "at 'notifications.error'"},
		{"no output", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("inbox"), Role: aws.String(role)},
			"[OutputBucket and ContentConfig:Bucket are not allowed to both be null.]"},
		{"content without thumbnails", et.CreatePipelineInput{Name: aws.String("x"), InputBucket: aws.String("inbox"), Role: aws.String(role),
			ContentConfig: &types.PipelineOutputConfig{Bucket: aws.String("outbox")}}, "[ThumbnailConfig:Bucket is not allowed to be null if ContentConfig is specified.]"},
		{"long name", et.CreatePipelineInput{Name: aws.String(strings.Repeat("n", 41)), InputBucket: aws.String("inbox"), OutputBucket: aws.String("outbox"),
			Role: aws.String(role)}, "Member must have length less than or equal to 40"},
	}
	for _, tc := range badPipelines {
		_, err := c.CreatePipeline(ctx, &tc.in)
		if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), tc.want) {
			t.Errorf("CreatePipeline(%s) = %v, want ValidationException containing %q", tc.name, err, tc.want)
		}
	}
	_, err = c.CreatePreset(ctx, &et.CreatePresetInput{Name: aws.String("bad"), Container: aws.String("mp4"),
		Video: &types.VideoParameters{Codec: aws.String("H.264"), FrameRate: aws.String("31")}})
	if !errors.As(err, &ve) || !strings.Contains(ve.ErrorMessage(), "Video.FrameRate") {
		t.Errorf("CreatePreset(bad) = %v, want ValidationException naming Video.FrameRate", err)
	}

	// A second pipeline on a named store with ContentConfig/ThumbnailConfig.
	cp2, err := c.CreatePipeline(ctx, &et.CreatePipelineInput{
		Name: aws.String("other"), InputBucket: aws.String("other/inbox"), Role: aws.String(role),
		ContentConfig:   &types.PipelineOutputConfig{Bucket: aws.String("other/other-out"), StorageClass: aws.String("Standard")},
		ThumbnailConfig: &types.PipelineOutputConfig{Bucket: aws.String("other/other-out")},
	})
	if err != nil || aws.ToString(cp2.Pipeline.ContentConfig.Bucket) != "other/other-out" {
		t.Fatalf("CreatePipeline(other store): %v %+v", err, cp2)
	}
	// Deleting a pipeline with unfinished jobs is ResourceInUse.
	if _, err := c.UpdatePipelineStatus(ctx, &et.UpdatePipelineStatusInput{Id: cp2.Pipeline.Id, Status: aws.String("Paused")}); err != nil {
		t.Fatal(err)
	}
	held, err := c.CreateJob(ctx, &et.CreateJobInput{PipelineId: cp2.Pipeline.Id, Input: &types.JobInput{Key: aws.String("later.mp4")},
		Outputs: []types.CreateJobOutput{{Key: aws.String("o.mp4"), PresetId: aws.String(preset320)}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeletePipeline(ctx, &et.DeletePipelineInput{Id: cp2.Pipeline.Id})
	if !errors.As(err, &inUse) {
		t.Errorf("DeletePipeline(with a Submitted job) = %v, want ResourceInUseException", err)
	}
	if _, err := c.CancelJob(ctx, &et.CancelJobInput{Id: held.Job.Id}); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	if rj, err := c.ReadJob(ctx, &et.ReadJobInput{Id: held.Job.Id}); err != nil || aws.ToString(rj.Job.Status) != "Canceled" {
		t.Fatalf("ReadJob after CancelJob: %v %+v", err, rj)
	}
	for _, id := range []*string{cp2.Pipeline.Id, pid} {
		if _, err := c.DeletePipeline(ctx, &et.DeletePipelineInput{Id: id}); err != nil {
			t.Fatalf("DeletePipeline: %v", err)
		}
		if _, err := c.ReadPipeline(ctx, &et.ReadPipelineInput{Id: id}); !errors.As(err, &nf) {
			t.Errorf("ReadPipeline(deleted) = %v, want ResourceNotFoundException", err)
		}
	}
	if _, err := c.DeletePreset(ctx, &et.DeletePresetInput{Id: custom}); err != nil {
		t.Fatalf("DeletePreset(custom): %v", err)
	}
	if _, err := c.ReadPreset(ctx, &et.ReadPresetInput{Id: custom}); !errors.As(err, &nf) {
		t.Errorf("ReadPreset(deleted) = %v, want ResourceNotFoundException", err)
	}
	// The job of a deleted pipeline can still be read.
	if _, err := c.ReadJob(ctx, &et.ReadJobInput{Id: job.Id}); err != nil {
		t.Errorf("ReadJob of a deleted pipeline's job: %v", err)
	}
}

// TestSDKListing lists 120 jobs by pipeline and by status across pages,
// both ways, through the SDK's paginators.
func TestSDKListing(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client
	// The configured pipeline needs no store to take jobs: paused, none
	// of them runs.
	if _, err := c.UpdatePipelineStatus(ctx, &et.UpdatePipelineStatusInput{Id: aws.String(configID), Status: aws.String("Paused")}); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 120 {
		out, err := c.CreateJob(ctx, &et.CreateJobInput{PipelineId: aws.String(configID),
			Input:   &types.JobInput{Key: aws.String("in.mp4")},
			Outputs: []types.CreateJobOutput{{Key: aws.String("out-" + strings.Repeat("x", i%3) + ".mp4"), PresetId: aws.String(preset320)}}})
		if err != nil {
			t.Fatalf("CreateJob %d: %v", i, err)
		}
		want = append(want, aws.ToString(out.Job.Id))
	}
	list := func(asc *string, byStatus bool) (ids []string, pages int) {
		t.Helper()
		if byStatus {
			for pg := et.NewListJobsByStatusPaginator(c, &et.ListJobsByStatusInput{Status: aws.String("Submitted"), Ascending: asc}); pg.HasMorePages(); pages++ {
				out, err := pg.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListJobsByStatus: %v", err)
				}
				for _, j := range out.Jobs {
					ids = append(ids, aws.ToString(j.Id))
				}
			}
			return ids, pages
		}
		for pg := et.NewListJobsByPipelinePaginator(c, &et.ListJobsByPipelineInput{PipelineId: aws.String(configID), Ascending: asc}); pg.HasMorePages(); pages++ {
			out, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListJobsByPipeline: %v", err)
			}
			for _, j := range out.Jobs {
				ids = append(ids, aws.ToString(j.Id))
			}
		}
		return ids, pages
	}
	newest := slices.Clone(want)
	slices.Reverse(newest)
	for _, tc := range []struct {
		name     string
		asc      *string
		byStatus bool
		want     []string
	}{
		{"by pipeline, default order (newest first)", nil, false, newest},
		{"by pipeline, ascending", aws.String("true"), false, want},
		{"by pipeline, descending", aws.String("false"), false, newest},
		{"by status, default order", nil, true, newest},
		{"by status, ascending", aws.String("true"), true, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := list(tc.asc, tc.byStatus)
			if pages != 3 || !slices.Equal(got, tc.want) {
				t.Errorf("%d pages, %d jobs; want 3 pages and the %d jobs in order", pages, len(got), len(tc.want))
			}
		})
	}
	// Cancel one: it moves from Submitted to Canceled in the listings.
	if _, err := c.CancelJob(ctx, &et.CancelJobInput{Id: aws.String(want[7])}); err != nil {
		t.Fatal(err)
	}
	got, _ := list(nil, true)
	canceled, err := c.ListJobsByStatus(ctx, &et.ListJobsByStatusInput{Status: aws.String("Canceled")})
	if err != nil || len(got) != 119 || len(canceled.Jobs) != 1 || aws.ToString(canceled.Jobs[0].Id) != want[7] || canceled.NextPageToken != nil {
		t.Errorf("after CancelJob: %d Submitted, Canceled: %v %+v", len(got), err, canceled)
	}
	var ve *types.ValidationException
	if _, err := c.ListJobsByStatus(ctx, &et.ListJobsByStatusInput{Status: aws.String("Done")}); !errors.As(err, &ve) {
		t.Errorf("ListJobsByStatus(Done) = %v, want ValidationException", err)
	}
	if _, err := c.ListJobsByPipeline(ctx, &et.ListJobsByPipelineInput{PipelineId: aws.String(configID), PageToken: aws.String("x")}); !errors.As(err, &ve) {
		t.Errorf("ListJobsByPipeline(bad token) = %v, want ValidationException", err)
	}
	var nf *types.ResourceNotFoundException
	if _, err := c.ListJobsByPipeline(ctx, &et.ListJobsByPipelineInput{PipelineId: aws.String("1351620000001-nopipe")}); !errors.As(err, &nf) {
		t.Errorf("ListJobsByPipeline(unknown) = %v, want ResourceNotFoundException", err)
	}
}

// TestRawErrors checks the wire format of errors that SDKs never provoke:
// unknown paths, wrong methods, bodies that are not JSON.
func TestRawErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		method, path, body string
		status             int
		errType            string
	}{
		{"GET", "/2012-09-25/nothing", "", 404, "UnknownOperationException"},
		{"GET", "/", "", 404, "UnknownOperationException"},
		{"PATCH", "/2012-09-25/pipelines", "", 405, "UnknownOperationException"},
		{"POST", "/2012-09-25/jobs/1351620000001-000001", "", 405, "UnknownOperationException"},
		{"POST", "/2012-09-25/jobs", "{not json", 400, "ValidationException"},
		{"POST", "/2012-09-25/jobs", "", 400, "ValidationException"},
		{"POST", "/2012-09-25/presets", `{"Name":"x","Container":"mp4","Video":{"Codec":"H.264","Bitrat":"100"}}`, 400, "ValidationException"},
		{"GET", "/2012-09-25/pipelines?Ascending=maybe", "", 400, "ValidationException"},
		{"GET", "/2012-09-25/jobs/1351620000001-000001/events", "", 404, "ResourceNotFoundException"},
	} {
		resp, body := e.do(t, tc.method, tc.path, tc.body)
		var msg struct{ Message *string }
		if resp.StatusCode != tc.status || resp.Header.Get("x-amzn-ErrorType") != tc.errType ||
			resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("x-amzn-RequestId") == "" ||
			json.Unmarshal(body, &msg) != nil || msg.Message == nil {
			t.Errorf("%s %s: %d %s %q %s", tc.method, tc.path, resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), resp.Header.Get("Content-Type"), body)
		}
	}
}

// TestEvents follows a job's live events: it is created on a paused
// pipeline, the stream is opened, the pipeline resumed, and the stream
// must show Progressing, progress and Complete, then end.
func TestEvents(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, worker: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.client
	e.put(t, "inbox", "seven.mp4", testmedia.Path(t, testmedia.Seven))
	if _, err := c.UpdatePipelineStatus(ctx, &et.UpdatePipelineStatusInput{Id: aws.String(configID), Status: aws.String("Paused")}); err != nil {
		t.Fatal(err)
	}
	cj, err := c.CreateJob(ctx, &et.CreateJobInput{PipelineId: aws.String(configID), Input: &types.JobInput{Key: aws.String("seven.mp4")},
		Outputs: []types.CreateJobOutput{{Key: aws.String("events/seven.mp4"), PresetId: aws.String(preset320)}}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/2012-09-25/jobs/"+aws.ToString(cj.Job.Id)+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := c.UpdatePipelineStatus(ctx, &et.UpdatePipelineStatusInput{Id: aws.String(configID), Status: aws.String("Active")}); err != nil {
		t.Fatal(err)
	}
	var states []string
	progress := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	kind := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := []byte(strings.TrimPrefix(line, "data: "))
			switch kind {
			case "state":
				var j struct{ Id, Status string }
				if err := json.Unmarshal(data, &j); err != nil || j.Id != aws.ToString(cj.Job.Id) {
					t.Fatalf("state event %s: %v", data, err)
				}
				states = append(states, j.Status)
			case "progress":
				var p struct {
					JobId   string
					Percent float64
				}
				if err := json.Unmarshal(data, &p); err != nil || p.Percent < 0 || p.Percent > 100 {
					t.Fatalf("progress event %s: %v", data, err)
				}
				progress++
			}
		}
	}
	if len(states) < 3 || states[0] != "Submitted" || !slices.Contains(states, "Progressing") || states[len(states)-1] != "Complete" {
		t.Errorf("state events %q (and %d progress events); want Submitted, Progressing, Complete", states, progress)
	}
	t.Logf("state events %q, %d progress events", states, progress)
}
