package ffmpeg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// liveProcesses returns the pids of processes whose command line contains marker,
// leaving out zombies: an orphan reparented to a PID 1 that does not reap stays a
// zombie, but it is dead.
func liveProcesses(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(marker)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat is "pid (comm) state ..."; comm may contain spaces, so look after ')'.
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// uniqueName returns a file name in dir that no other process has on its command line.
func uniqueName(dir, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("marker-%d-%d%s", os.Getpid(), time.Now().UnixNano(), ext))
}

// TestRunCancel cancels an encode midway: Run must return promptly with an error wrapping
// context.Canceled, ffmpeg must be gone, and, because it got SIGTERM rather than SIGKILL,
// it must have finalised a playable file.
func TestRunCancel(t *testing.T) {
	t.Parallel()
	out := uniqueName(t.TempDir(), ".mp4")
	args := concat([]string{"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "60"},
		[]string{"-c:v", "libx264", "-preset", "ultrafast", "-y", out})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		canceledAt atomic.Int64
		last       Progress // written by the callback goroutine, read after Run returns
	)
	err := tools.Run(ctx, args, RunOptions{
		// Duration unknown: a clean end would then be the only way to reach 100%.
		GracePeriod: 5 * time.Second,
		OnProgress: func(p Progress) {
			last = p
			if p.OutTime >= 500*time.Millisecond && canceledAt.Load() == 0 {
				canceledAt.Store(time.Now().UnixNano())
				cancel()
			}
		},
	})
	took := time.Since(time.Unix(0, canceledAt.Load()))
	if canceledAt.Load() == 0 {
		t.Fatalf("never canceled; Run = %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	t.Logf("error: %v; returned %v after cancel", err, took)
	// ffmpeg still writes progress=end after SIGTERM; that must not read as complete.
	if !last.Done || last.Percent != 0 {
		t.Errorf("last report = %+v, want Done without a percentage", last)
	}
	if took > 3*time.Second {
		t.Errorf("Run returned %v after cancel; SIGTERM should stop ffmpeg well within the grace period", took)
	}
	if pids := liveProcesses(t, filepath.Base(out)); len(pids) > 0 {
		t.Errorf("ffmpeg still running after Run returned: pids %v", pids)
	}
	res, err := tools.Probe(context.Background(), out)
	if err != nil {
		t.Fatalf("output of a canceled run is not playable (ffmpeg did not finalise it): %v", err)
	}
	if res.Duration <= 0 {
		t.Errorf("finalised output has duration %v", res.Duration)
	}
}

// TestRunStuck uses an ffmpeg blocked opening a FIFO that nobody writes to: it writes no
// progress and, blocked in open(2), ignores SIGTERM. The watchdog must kill it, and a
// cancel must escalate to SIGKILL after the grace period.
func TestRunStuck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		stall       time.Duration
		grace       time.Duration
		cancelAfter time.Duration // 0: never
		wantIs      error
		wantMsg     string
		maxTime     time.Duration
	}{
		{name: "watchdog", stall: 300 * time.Millisecond, wantIs: ErrStalled, wantMsg: "no progress for 300ms", maxTime: 2 * time.Second},
		{name: "grace period then SIGKILL", stall: -1, grace: 300 * time.Millisecond, cancelAfter: 200 * time.Millisecond,
			wantIs: context.Canceled, wantMsg: "ffmpeg stopped: context canceled", maxTime: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fifo := uniqueName(t.TempDir(), ".fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAfter > 0 {
				time.AfterFunc(tt.cancelAfter, cancel)
			}
			start := time.Now()
			err := tools.Run(ctx, concat(input(fifo), []string{"-f", "null", "-"}), RunOptions{
				StallTimeout: tt.stall,
				GracePeriod:  tt.grace,
			})
			took := time.Since(start)
			t.Logf("error: %v; after %v", err, took)
			if !errors.Is(err, tt.wantIs) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Run = %v, want an error wrapping %v saying %q", err, tt.wantIs, tt.wantMsg)
			}
			if took > tt.maxTime {
				t.Errorf("Run took %v, want under %v", took, tt.maxTime)
			}
			if pids := liveProcesses(t, filepath.Base(fifo)); len(pids) > 0 {
				t.Errorf("ffmpeg still running after Run returned: pids %v", pids)
			}
		})
	}
}

// TestChildDiesWithParent SIGKILLs a process that is running ffmpeg through Run, which
// gives Run no chance to clean up: Pdeathsig must take ffmpeg down with it.
func TestChildDiesWithParent(t *testing.T) {
	t.Parallel()
	marker := uniqueName("/nonexistent", ".null")
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), helperEnv+"="+marker)
	var helperOut bytes.Buffer
	helper.Stdout, helper.Stderr = &helperOut, &helperOut
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	defer helper.Process.Kill() // in case of failure before the deliberate kill

	if !waitFor(10*time.Second, func() bool { return len(liveProcesses(t, marker)) > 0 }) {
		t.Fatalf("helper's ffmpeg never appeared; helper output:\n%s", helperOut.String())
	}
	t.Logf("ffmpeg pids %v under helper %d", liveProcesses(t, marker), helper.Process.Pid)
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	if !waitFor(5*time.Second, func() bool { return len(liveProcesses(t, marker)) == 0 }) {
		pids := liveProcesses(t, marker)
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL) // do not leave it behind
		}
		t.Fatalf("ffmpeg (pids %v) survived its parent being SIGKILLed", pids)
	}
}
