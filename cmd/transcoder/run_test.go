package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/testmedia"
)

// TestRunSIGTERM runs the daemon binary on the example config's shape,
// sends SIGTERM while it encodes, and expects exit status 0 with the job
// released; a second run finishes it, once.
func TestRunSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "transcoder.yaml")
	err := os.WriteFile(cfg, []byte(`data_dir: ./data
listen: 127.0.0.1:0
workers: {grace_period: 0s, ack_wait: 2s}
pipelines:
  - name: local
    input: ./inbox/
    match: ["*.mp4"]
    output: ./outbox/
    outputs:
      - {preset: generic-1080p, key: "{{.Base}}/1080p.mp4"}
    events: {source: poll, poll_interval: 200ms, settle: 300ms}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	run := func(until string) (*exec.Cmd, <-chan string, *strings.Builder) {
		cmd := exec.Command(bin, "run", "-c", cfg)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		seen := make(chan string, 1)
		var log strings.Builder
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), until) {
					select {
					case seen <- sc.Text():
					default:
					}
				}
			}
			_, _ = io.Copy(io.Discard, stderr)
		}()
		return cmd, seen, &log
	}
	wait := func(seen <-chan string, what string) {
		t.Helper()
		select {
		case <-seen:
		case <-time.After(90 * time.Second):
			t.Fatalf("no %q in the daemon's log", what)
		}
	}

	cmd, seen, _ := run("job started")
	if err := os.MkdirAll(filepath.Join(dir, "inbox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(testmedia.Path(t, testmedia.Landscape1080), filepath.Join(dir, "inbox", "movie.mp4")); err != nil {
		t.Fatal(err)
	}
	wait(seen, "job started")
	time.Sleep(300 * time.Millisecond) // into the encode
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("SIGTERM: exit status %d, want 0", ee.ExitCode())
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox", "movie", "1080p.mp4")); err == nil {
		t.Fatal("the stopped encode published its output")
	}

	cmd, seen, log := run("job finished")
	wait(seen, "job finished")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("second run: %v\n%s", err, log)
	}
	if n := strings.Count(log.String(), "job created"); n != 0 {
		t.Errorf("the second run created %d jobs for an object that had one", n)
	}
	if !strings.Contains(log.String(), "status=Complete") {
		t.Errorf("job not complete:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox", "movie", "1080p.mp4")); err != nil {
		t.Errorf("output: %v", err)
	}
}

// TestRunConfigErrors checks that a bad config is refused with file:line.
func TestRunConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	err := os.WriteFile(cfg, []byte(`pipelines:
  - name: p
    input: ./in/
    output: ./out/
    outputs:
      - {preset: no-such-preset, key: "{{.Base}}.mp4"}
      - {preset: generic-720p, key: "{{.Nope}}.mp4"}
    events: {source: sometimes}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := run(t, "run", "-c", cfg, "--check")
	var ex *exitError
	if !errors.As(err, &ex) || ex.code != 1 {
		t.Fatalf("bad config: %v", err)
	}
	stderr += ex.msg
	for _, want := range []string{
		cfg + `:6: pipelines[0].outputs[0].preset: `,
		cfg + `:7: pipelines[0].outputs[1].key: template "{{.Nope}}.mp4"`,
		cfg + `:8: pipelines[0].events.source: "sometimes"; allowed: poll, listen, webhook`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s%v", want, stderr, err)
		}
	}
}
