package jobs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/ffmpeg"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// Environment of the worker child process (TestHelperWorkerProcess).
const (
	envChild   = "TRANSCODER_TEST_CHILD"   // "client" or "embedded"
	envNATS    = "TRANSCODER_TEST_NATS"    // client: the server to use
	envData    = "TRANSCODER_TEST_DATA"    // embedded: the data directory
	envWorkDir = "TRANSCODER_TEST_WORKDIR" // the worker's work directory
)

// TestHelperWorkerProcess is not a test: it is the body of the worker
// child process that the crash tests kill.
func TestHelperWorkerProcess(t *testing.T) {
	mode := os.Getenv(envChild)
	if mode == "" {
		t.Skip("runs only as the crash tests' child process")
	}
	ctx := context.Background()
	cfg := engine.Config{URL: os.Getenv(envNATS)}
	if mode == "embedded" {
		cfg = engine.Config{DataDir: os.Getenv(envData), Listen: "127.0.0.1:0"}
	}
	eng, err := engine.Start(ctx, cfg)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	reg := presets.NewRegistry()
	svc, err := jobs.Open(ctx, eng.JS, testServiceOptions(reg))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	env := e2eTools(t)
	stores, _ := storage.NewStores(nil)
	fmt.Printf("NATS_URL=%s\n", eng.ClientURL())
	w := svc.NewWorker(jobs.WorkerOptions{Name: "child", WorkDir: os.Getenv(envWorkDir), Tools: env.tools,
		Stores: stores, Presets: reg, Caps: env.caps})
	_ = w.Run(ctx) // until killed
}

// child starts the worker child process and returns it and the NATS URL
// it printed.
func startChild(t *testing.T, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWorkerProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "NATS_URL="); ok {
				urls <- u
			}
		}
	}()
	select {
	case u := <-urls:
		return cmd, u
	case <-time.After(30 * time.Second):
		t.Fatal("worker child did not start")
	}
	return nil, ""
}

// waitRunning waits until the job's encode has made progress.
func waitRunning(t *testing.T, svc *jobs.Service, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, err := svc.Watch(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for ev := range events {
		if ev.Kind == jobs.EventProgress && ev.Progress.Percent > 0 {
			return
		}
		if ev.Kind == jobs.EventState && jobs.Terminal(ev.Status) {
			t.Fatalf("job finished before it could be interrupted: %+v", ev.Job)
		}
	}
	t.Fatal("job made no progress")
}

// stateHistory returns the state events a job has had, in order.
func stateHistory(t *testing.T, js jetstream.JetStream, id string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, "TRANSCODER_EVENTS", jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"transcoder.events.*." + id + ".state"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev jobs.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				t.Fatal(err)
			}
			states = append(states, ev.Status)
		}
		if n == 0 {
			return states
		}
	}
}

// ffmpegsOf returns the ffmpeg processes whose command line mentions s.
func ffmpegsOf(s string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if strings.HasSuffix(args[0], "ffmpeg") && strings.Contains(string(b), s) {
			found = append(found, f)
		}
	}
	return found
}

// TestEngineWorkerCrash kills a worker process with SIGKILL in the middle
// of an encode; another worker must finish the job exactly once, with a
// valid output and nothing left in temporary directories. In the
// "embedded server" case the killed process also held the engine, which
// then starts again from its data directory.
func TestEngineWorkerCrash(t *testing.T) {
	for _, mode := range []string{"client", "embedded"} {
		t.Run(mode, func(t *testing.T) {
			in := testmedia.Path(t, testmedia.Landscape1080)
			out, work, data := t.TempDir(), t.TempDir(), t.TempDir()
			var e *engineEnv
			var child *exec.Cmd
			var remote *engine.Engine
			var svc *jobs.Service
			if mode == "client" {
				// The child needs a port to reach the engine.
				e = startEngineConfig(t, engine.Config{Listen: "127.0.0.1:0"})
				child, _ = startChild(t, envChild+"=client", envNATS+"="+e.eng.ClientURL(), envWorkDir+"="+work)
				svc = e.svc
			} else {
				var url string
				child, url = startChild(t, envChild+"=embedded", envData+"="+data, envWorkDir+"="+work)
				var err error
				if remote, err = engine.Start(context.Background(), engine.Config{URL: url}); err != nil {
					t.Fatal(err)
				}
				if svc, err = jobs.Open(context.Background(), remote.JS, testServiceOptions(presets.NewRegistry())); err != nil {
					t.Fatal(err)
				}
			}

			job, err := svc.Create(context.Background(), jobs.CreateRequest{
				Input: in, Output: "file://" + out,
				Outputs: []jobs.OutputSpec{{Key: "big.mp4", PresetID: preset1080}},
			})
			if err != nil {
				t.Fatal(err)
			}
			waitRunning(t, svc, job.ID)
			if err := child.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = child.Wait()
			// The kill is real: the attempt's work directory is left behind.
			if _, err := os.Stat(filepath.Join(work, job.ID)); err != nil {
				t.Fatalf("the killed worker left no work directory: %v", err)
			}
			// Its ffmpeg died with it (Pdeathsig), rather than encoding on.
			deadline := time.Now().Add(5 * time.Second)
			for len(ffmpegsOf(job.ID)) > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if p := ffmpegsOf(job.ID); len(p) > 0 {
				t.Errorf("ffmpeg outlived its worker: %v", p)
			}

			if mode == "embedded" {
				svc.Close()
				remote.Close()
				e = startEngine(t, data) // the engine starts again from disk
			}
			e.startWorker(t, "second", 1, work)
			got := waitFinal(t, e.svc, job.ID, 2*time.Minute)
			if got.Status != jobs.StatusComplete {
				t.Fatalf("job %s: %+v", got.Status, got.Outputs[0])
			}
			if n := e.tools.count(in); n != 1 {
				t.Errorf("the second worker ran ffmpeg %d times", n)
			}
			if h := stateHistory(t, e.eng.JS, job.ID); strings.Count(strings.Join(h, ","), jobs.StatusComplete) != 1 {
				t.Errorf("state events %v: want Complete exactly once", h)
			}
			m := probe(t, filepath.Join(out, "big.mp4"))
			if v := m.video(t); v.Width != 1920 || v.Height != 1080 || !within(m.duration(), 3, 0.2) {
				t.Errorf("output %dx%d %.2fs", v.Width, v.Height, m.duration())
			}
			if left := files(t, out); len(left) != 1 {
				t.Errorf("output directory holds %v", left)
			}
			if left, _ := os.ReadDir(work); len(left) != 0 {
				t.Errorf("work directory holds %d entries: %v", len(left), left[0].Name())
			}
		})
	}
}

var _ = ffmpeg.ErrStalled
