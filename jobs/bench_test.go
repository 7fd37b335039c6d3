//go:build unix

// Benchmarks against bare ffmpeg doing the same work (make bench). See
// docs/benchmarks.md for what they measure and the figures on our machine.
//
// Each benchmark has three sub-benchmarks: the two sides on their own (plain
// ns/op, for benchstat across commits) and "interleaved", which runs both
// sides once per iteration, alternating which goes first, and reports each
// side's mean time and their ratio. The ratio comes from the interleaved run
// only: on a shared machine the load drifts over minutes, and alternating
// the two sides makes the drift hit both about equally.
//
// One iteration takes seconds, so run them with a fixed count:
//
//	go test -run '^$' -bench . -benchtime 3x ./jobs
package jobs_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

var (
	// overheadClip is long enough that the encode, not the fixed costs, is
	// most of a run (about 3.5 s of x264 on two idle cores), yet short enough
	// for a few iterations in a minute.
	overheadClip = testmedia.Spec{Width: 1280, Height: 720, Rate: 30, Seconds: 10, Audio: true}
	// ladderClip is the source of the four-rung ladder.
	ladderClip = testmedia.Spec{Width: 1920, Height: 1080, Rate: 30, Seconds: 4, Audio: true}
)

// benchTools locates ffmpeg and lists its encoders (untimed setup).
func benchTools(b *testing.B) (ffmpeg.Tools, jobs.Capabilities) {
	b.Helper()
	tools, err := ffmpeg.Locate("", "")
	if err != nil {
		b.Fatal(err)
	}
	enc, err := tools.Capabilities(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return tools, jobs.Capabilities{Encoders: enc}
}

func outputsFor(b *testing.B, refs ...string) []jobs.OutputRequest {
	b.Helper()
	reg := presets.NewRegistry()
	var outs []jobs.OutputRequest
	for _, ref := range refs {
		p, err := reg.Lookup(ref)
		if err != nil {
			b.Fatal(err)
		}
		outs = append(outs, jobs.OutputRequest{Key: ref + jobs.Extension(p.Container), Preset: p})
	}
	return outs
}

// transcodeRun is one `transcoder transcode`: it lists the encoders (as the
// command does on every run), then TranscodeLocal probes, plans, runs
// ffmpeg with progress, publishes and probes each output. out must not
// hold the outputs yet.
func transcodeRun(b *testing.B, tools ffmpeg.Tools, input, out string, outputs []jobs.OutputRequest, isolate bool) {
	ctx := context.Background()
	enc, err := tools.Capabilities(ctx)
	if err != nil {
		b.Fatal(err)
	}
	reports := 0
	job, err := jobs.TranscodeLocal(ctx, tools, jobs.LocalRequest{
		Input: input, OutputDir: out, Outputs: outputs, Isolate: isolate,
		Caps: jobs.Capabilities{Encoders: enc},
		Exec: jobs.ExecOptions{OnProgress: func(ffmpeg.Progress) { reports++ }},
	})
	if err != nil {
		b.Fatal(err)
	}
	if job.Status != jobs.StatusComplete || reports == 0 {
		b.Fatalf("job status %s after %d progress reports", job.Status, reports)
	}
}

// barePlan returns the argv that TranscodeLocal runs for these outputs,
// taken from its plan (a dry run), with the staging directory replaced by
// dir, preceded by ffmpeg's global flags as Tools.Run passes them, minus
// "-progress pipe:1": bare ffmpeg reports no progress.
func barePlan(b *testing.B, tools ffmpeg.Tools, caps jobs.Capabilities, input, dir string, outputs []jobs.OutputRequest) []string {
	b.Helper()
	var plan *jobs.Plan
	_, err := jobs.TranscodeLocal(context.Background(), tools, jobs.LocalRequest{
		Input: input, OutputDir: b.TempDir(), Outputs: outputs, Caps: caps,
		OnPlan: func(p *jobs.Plan) bool { plan = p; return false },
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(plan.Commands) != 1 {
		b.Fatalf("plan has %d commands, want 1", len(plan.Commands))
	}
	var argv []string
	for g := ffmpeg.GlobalArgs(); len(g) > 0; g = g[1:] {
		if g[0] == "-progress" {
			g = g[1:]
			continue
		}
		argv = append(argv, g[0])
	}
	moved := 0
	for _, a := range plan.Commands[0].Args {
		if rest, ok := strings.CutPrefix(a, plan.Dir+"/"); ok {
			a = filepath.Join(dir, rest)
			moved++
		}
		argv = append(argv, a)
	}
	if moved != len(outputs) {
		b.Fatalf("found %d output paths under %s in %q, want %d", moved, plan.Dir, plan.Commands[0].Args, len(outputs))
	}
	return argv
}

// bareRun runs ffmpeg with argv, as a user would from a shell.
func bareRun(b *testing.B, ffmpegPath string, argv []string) {
	var stderr bytes.Buffer
	cmd := exec.Command(ffmpegPath, argv...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v: %v\n%s", cmd, err, stderr.Bytes())
	}
}

// childCPU is the user+system CPU time of every child process waited for
// so far (ffmpeg and ffprobe).
func childCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// side is one of the two things a benchmark compares.
type side struct {
	name  string
	reset func(*testing.B) // untimed: remove the previous run's outputs
	run   func(*testing.B)
	wall  time.Duration
	cpu   time.Duration
	runs  []time.Duration // wall time of each run, in order
}

func (s *side) measure(b *testing.B) {
	s.reset(b)
	cpu0, t0 := childCPU(b), time.Now()
	s.run(b)
	d := time.Since(t0)
	s.wall += d
	s.cpu += childCPU(b) - cpu0
	s.runs = append(s.runs, d)
}

// medianRatio is the median over iterations of x's time ÷ y's time in the
// same iteration: pairs run back to back, so a slow spell of the machine
// mostly hits both halves of a pair, and the median drops the pairs it
// did not.
func medianRatio(x, y *side) float64 {
	r := make([]float64, len(x.runs))
	for i := range r {
		r[i] = float64(x.runs[i]) / float64(y.runs[i])
	}
	slices.Sort(r)
	if n := len(r); n%2 == 0 {
		return (r[n/2-1] + r[n/2]) / 2
	}
	return r[len(r)/2]
}

// alone benchmarks one side by itself.
func alone(b *testing.B, s *side) {
	for b.Loop() {
		b.StopTimer()
		s.reset(b)
		b.StartTimer()
		s.run(b)
	}
}

// interleave runs both sides once per iteration, alternating which goes
// first, and reports each side's mean wall and CPU time per run. It
// returns the sides with their measurements.
func interleave(b *testing.B, xs, ys *side) (x, y *side, n int) {
	x = &side{name: xs.name, reset: xs.reset, run: xs.run}
	y = &side{name: ys.name, reset: ys.reset, run: ys.run}
	for b.Loop() {
		if n%2 == 0 {
			x.measure(b)
			y.measure(b)
		} else {
			y.measure(b)
			x.measure(b)
		}
		n++
	}
	for _, s := range []*side{x, y} {
		b.ReportMetric(float64(s.wall.Nanoseconds())/float64(n), s.name+"-ns/op")
		b.ReportMetric(float64(s.cpu.Nanoseconds())/float64(n), s.name+"-cpu-ns/op")
	}
	return x, y, n
}

// removeAll returns a reset that removes dir, and creates it again when
// mkdir is set.
func removeAll(dir string, mkdir bool) func(*testing.B) {
	return func(b *testing.B) {
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		if mkdir {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkOverhead compares `transcoder transcode -p generic-720p` on a
// 10 s 720p clip with bare ffmpeg running the argv of the same plan.
//
// Metrics of the interleaved run: transcoder-ns/op and ffmpeg-ns/op (mean
// wall time of each side), their -cpu-ns/op (CPU time of the child
// processes), overhead-% (100 × (transcoder/ffmpeg − 1) over the means),
// median-overhead-% (the same from the median of the per-iteration ratios,
// less sensitive to other load on the machine), overhead-ms/op (the
// difference of the means) and cpu-overhead-% (the extra CPU time of the
// child processes, which other load disturbs far less than wall time).
func BenchmarkOverhead(b *testing.B) {
	tools, caps := benchTools(b)
	input := testmedia.Path(b, overheadClip)
	outputs := outputsFor(b, "generic-720p")
	tcDir, ffDir := filepath.Join(b.TempDir(), "transcoder"), filepath.Join(b.TempDir(), "ffmpeg")
	argv := barePlan(b, tools, caps, input, ffDir, outputs)

	tc := &side{name: "transcoder", reset: removeAll(tcDir, false),
		run: func(b *testing.B) { transcodeRun(b, tools, input, tcDir, outputs, false) }}
	ff := &side{name: "ffmpeg", reset: removeAll(ffDir, true),
		run: func(b *testing.B) { bareRun(b, tools.FFmpeg, argv) }}

	b.Run("transcoder", func(b *testing.B) { alone(b, tc) })
	b.Run("ffmpeg", func(b *testing.B) { alone(b, ff) })
	b.Run("interleaved", func(b *testing.B) {
		tc, ff, n := interleave(b, tc, ff)
		b.ReportMetric(100*(float64(tc.wall)/float64(ff.wall)-1), "overhead-%")
		b.ReportMetric(100*(medianRatio(tc, ff)-1), "median-overhead-%")
		b.ReportMetric(100*(float64(tc.cpu)/float64(ff.cpu)-1), "cpu-overhead-%")
		b.ReportMetric(float64(tc.wall-ff.wall)/float64(time.Millisecond)/float64(n), "overhead-ms/op")
	})
}

// BenchmarkLadder compares a four-rung H.264 ladder (cmaf-h264-1080p, 720p,
// 480p, 360p) from a 4 s 1080p clip made by one ffmpeg process (decode
// once, split to four encoders) with one process per rung (--isolate: four
// decodes), both through TranscodeLocal.
//
// Metrics of the interleaved run: one-process-ns/op and per-rung-ns/op
// (mean wall time), their -cpu-ns/op (CPU time of the child processes),
// speedup-x (per-rung ÷ one-process wall time over the means; above 1
// means one process is faster), median-speedup-x (the median of the
// per-iteration ratios) and cpu-saved-% (CPU time one process saves).
func BenchmarkLadder(b *testing.B) {
	tools, _ := benchTools(b)
	input := testmedia.Path(b, ladderClip)
	outputs := outputsFor(b, "cmaf-h264-1080p", "cmaf-h264-720p", "cmaf-h264-480p", "cmaf-h264-360p")
	oneDir, perDir := filepath.Join(b.TempDir(), "one"), filepath.Join(b.TempDir(), "per-rung")

	one := &side{name: "one-process", reset: removeAll(oneDir, false),
		run: func(b *testing.B) { transcodeRun(b, tools, input, oneDir, outputs, false) }}
	per := &side{name: "per-rung", reset: removeAll(perDir, false),
		run: func(b *testing.B) { transcodeRun(b, tools, input, perDir, outputs, true) }}

	b.Run("one-process", func(b *testing.B) { alone(b, one) })
	b.Run("per-rung", func(b *testing.B) { alone(b, per) })
	b.Run("interleaved", func(b *testing.B) {
		one, per, _ := interleave(b, one, per)
		b.ReportMetric(float64(per.wall)/float64(one.wall), "speedup-x")
		b.ReportMetric(medianRatio(per, one), "median-speedup-x")
		b.ReportMetric(100*(1-float64(one.cpu)/float64(per.cpu)), "cpu-saved-%")
	})
}
