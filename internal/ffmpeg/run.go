package ffmpeg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for [RunOptions].
const (
	// DefaultStallTimeout is long enough for slow presets at high resolutions, which
	// still report every half second, and short against a job's lease.
	DefaultStallTimeout = 2 * time.Minute
	// DefaultGracePeriod is ample for ffmpeg to flush encoders and write an MP4 index.
	DefaultGracePeriod = 5 * time.Second
)

// pipeDrainTimeout bounds how long Run waits, after ffmpeg has exited, for its stdout and
// stderr to reach EOF. They only stay open if something ffmpeg started still holds them.
const pipeDrainTimeout = 2 * time.Second

// globalArgs come before the caller's arguments on every run. -nostdin: ffmpeg must never
// wait for keyboard input (it would also eat a terminal's input); -nostats and -progress
// pipe:1 replace the human-readable status line with machine-readable blocks on stdout;
// -loglevel warning keeps stderr to what matters in an error message.
var globalArgs = []string{"-nostdin", "-hide_banner", "-nostats", "-loglevel", "warning", "-progress", "pipe:1"}

// ErrStalled is wrapped by the error [Tools.Run] returns when its watchdog killed an
// ffmpeg whose progress had stopped moving.
var ErrStalled = errors.New("ffmpeg stalled")

// RunOptions configure [Tools.Run]. The zero value is usable.
type RunOptions struct {
	// Duration is the expected duration of the output, used for Progress.Percent and
	// Progress.ETA; 0 means unknown.
	Duration time.Duration
	// OnProgress, if set, receives progress reports, at most as often as ffmpeg writes
	// them (about twice a second). It is called from a single goroutine, never after Run
	// returns. A slow callback does not hold ffmpeg up: reports that arrive meanwhile are
	// merged, keeping the latest, and the final (Done) report is always delivered.
	OnProgress func(Progress)
	// StallTimeout is how long the output position and frame count may stand still
	// (counting from the start, so "no progress at all" counts) before the watchdog kills
	// ffmpeg. 0 means DefaultStallTimeout; negative disables the watchdog.
	StallTimeout time.Duration
	// GracePeriod is how long ffmpeg gets to finalise its outputs after the context is
	// done and it has been sent SIGTERM, before it is killed. 0 means DefaultGracePeriod.
	GracePeriod time.Duration
	// Stderr, if set, receives a copy of ffmpeg's stderr. Write errors are ignored (and
	// end the copy): they must not stop ffmpeg.
	Stderr io.Writer
}

// ExitError reports an ffmpeg run that ended with a non-zero status.
//
// When ffmpeg refused an input's format (see [InputOptions]), errors.Is(err,
// [ErrFormatNotAllowed]) is true.
type ExitError struct {
	Code   int      // exit status; -1 if ffmpeg was killed by a signal
	Stderr string   // the last few KB of ffmpeg's stderr, trimmed
	Args   []string // the full command line, program first, to reproduce the run

	state string // e.g. "signal: killed", from os.ProcessState
}

// Error returns e.g. "ffmpeg exited with status 1: Unknown encoder 'foo'".
func (e *ExitError) Error() string {
	var b strings.Builder
	switch {
	case e.Code >= 0:
		fmt.Fprintf(&b, "ffmpeg exited with status %d", e.Code)
	case e.state != "":
		fmt.Fprintf(&b, "ffmpeg was terminated (%s)", e.state)
	default:
		b.WriteString("ffmpeg was killed by a signal")
	}
	if s := summarizeStderr(e.Stderr); s != "" {
		b.WriteString(": ")
		b.WriteString(s)
	}
	return b.String()
}

// Unwrap returns [ErrFormatNotAllowed] when ffmpeg failed because an input's format is
// not allowed, so callers can tell a bad upload from a failed encode.
func (e *ExitError) Unwrap() error {
	if _, ok := refusedFormat(e.Stderr); ok {
		return ErrFormatNotAllowed
	}
	return nil
}

// Run runs ffmpeg with args and blocks until it has exited.
//
// args is ffmpeg's argument list without the program name and without the global flags
// that Run adds itself (-nostdin -hide_banner -nostats -loglevel warning -progress
// pipe:1). Every input in args must be preceded by [InputOptions], and given as an
// absolute path: ffmpeg reads "a:b.mp4" as a URL of protocol "a". Since ffmpeg cannot
// ask questions (-nostdin), pass -y or -n to say what to do with existing outputs.
//
// When ctx is done Run sends ffmpeg SIGTERM, which makes it finalise its outputs, and
// SIGKILLs it after opts.GracePeriod; the error then wraps ctx.Err(). When progress stops
// moving for opts.StallTimeout, ffmpeg is killed and the error wraps [ErrStalled]. When
// ffmpeg exits with a non-zero status the error is an [*ExitError].
func (t Tools) Run(ctx context.Context, args []string, opts RunOptions) error {
	if t.FFmpeg == "" {
		return errors.New("run ffmpeg: no ffmpeg path in Tools (use ffmpeg.Locate)")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ffmpeg not started: %w", err)
	}
	stall := opts.StallTimeout
	if stall == 0 {
		stall = DefaultStallTimeout
	}
	grace := opts.GracePeriod
	if grace <= 0 {
		grace = DefaultGracePeriod
	}

	argv := append(append([]string(nil), globalArgs...), args...)
	cmd := exec.Command(t.FFmpeg, argv...)
	cmd.Env = childEnv()
	setProcAttr(cmd)

	// Our own pipes rather than cmd.StdoutPipe: Run decides when reading ends (see
	// pipeDrainTimeout) instead of exec.Cmd.Wait.
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("run ffmpeg: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return fmt.Errorf("run ffmpeg: %w", err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW

	waitc, err := start(cmd)
	// The child has its own copies of the write ends; ours must go, or reads never see EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return fmt.Errorf("start ffmpeg: %w", err)
	}

	r := &running{cmd: cmd, waitc: waitc, started: time.Now(), stderr: newTailBuffer(stderrTailSize)}
	finishReading := r.read(outR, errR, opts)
	how, waitErr := r.supervise(ctx, stall, grace)
	finishReading()

	tail := r.stderr.String()
	switch {
	case how == stalled:
		if s := summarizeStderr(tail); s != "" {
			return fmt.Errorf("%w: no progress for %s, killed it; its last output: %s", ErrStalled, stall, s)
		}
		return fmt.Errorf("%w: no progress for %s, killed it", ErrStalled, stall)
	case how == canceled:
		return ctxError("ffmpeg stopped", ctx)
	case waitErr == nil:
		return nil
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return &ExitError{
			Code:   ee.ExitCode(),
			Stderr: tail,
			Args:   append([]string{t.FFmpeg}, argv...),
			state:  ee.ProcessState.String(),
		}
	}
	return fmt.Errorf("wait for ffmpeg: %w", waitErr)
}

// running is the state of one started ffmpeg, shared by Run's goroutines.
type running struct {
	cmd         *exec.Cmd
	waitc       <-chan error // result of cmd.Wait
	started     time.Time
	stderr      *tailBuffer
	stopping    atomic.Bool  // set once Run has begun stopping ffmpeg
	lastAdvance atomic.Int64 // time.Since(started) when progress last moved
}

// outcome says how supervise ended a run.
type outcome int

const (
	exited   outcome = iota // ffmpeg exited on its own
	canceled                // the context ended it
	stalled                 // the watchdog killed it
)

// read starts the goroutines that drain ffmpeg's stdout (progress) and stderr and that
// call opts.OnProgress. The returned function, called once ffmpeg has exited, waits
// for them; after it returns no callback runs any more.
func (r *running) read(outR, errR *os.File, opts RunOptions) (finish func()) {
	var readers sync.WaitGroup
	callbackDone := make(chan struct{})

	readers.Go(func() {
		defer errR.Close()
		copyStderr(errR, r.stderr, opts.Stderr)
	})

	var mailbox chan Progress // latest undelivered report; nil without OnProgress
	if opts.OnProgress != nil {
		mailbox = make(chan Progress, 1)
		go func() {
			defer close(callbackDone)
			for p := range mailbox {
				opts.OnProgress(p)
			}
		}()
	} else {
		close(callbackDone)
	}

	readers.Go(func() {
		defer outR.Close()
		if mailbox != nil {
			defer close(mailbox)
		}
		pp := &progressParser{total: opts.Duration, stopped: r.stopping.Load}
		var maxOut time.Duration
		var maxFrame int64
		readProgress(outR, pp, func(p Progress) {
			if p.OutTime > maxOut || p.Frame > maxFrame {
				maxOut, maxFrame = max(maxOut, p.OutTime), max(maxFrame, p.Frame)
				r.lastAdvance.Store(int64(time.Since(r.started)))
			}
			if mailbox != nil {
				post(mailbox, p)
			}
		})
	})

	return func() {
		// Let the readers finish what ffmpeg wrote, but do not hang on a pipe that
		// something ffmpeg started keeps open: closing our read ends unblocks them.
		drained := make(chan struct{})
		go func() { readers.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(pipeDrainTimeout):
			outR.Close()
			errR.Close()
			<-drained
		}
		<-callbackDone
	}
}

// supervise waits for ffmpeg to exit, stopping it when ctx is done (SIGTERM, then
// SIGKILL after grace) or when progress has not moved for stall (if positive).
func (r *running) supervise(ctx context.Context, stall, grace time.Duration) (outcome, error) {
	how := exited
	var killc, tick <-chan time.Time
	done := ctx.Done()
	if stall > 0 {
		ticker := time.NewTicker(min(max(stall/4, 10*time.Millisecond), time.Second))
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case err := <-r.waitc:
			return how, err
		case <-done:
			done, tick = nil, nil
			how = canceled
			r.stopping.Store(true)
			// Signal errors are ignored here and below: the process may be exiting
			// already, and the grace timer escalates anyway.
			_ = terminate(r.cmd.Process)
			killc = time.After(grace)
		case <-killc:
			killc = nil
			_ = kill(r.cmd.Process)
		case <-tick:
			idle := time.Since(r.started) - time.Duration(r.lastAdvance.Load())
			if idle >= stall {
				// A hung ffmpeg may be blocked where SIGTERM cannot reach it (opening a
				// FIFO, a stuck device), and its output is discarded anyway: kill it.
				done, tick = nil, nil
				how = stalled
				r.stopping.Store(true)
				_ = kill(r.cmd.Process)
			}
		}
	}
}

// ctxError wraps ctx.Err(), and the context's cause when it was given one, so both
// errors.Is(err, context.Canceled) and errors.Is(err, cause) hold.
func ctxError(what string, ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%s: %w: %w", what, err, cause)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// start starts cmd and waits for it in a goroutine locked to its OS thread; the result
// of Wait arrives on the returned channel.
//
// Pdeathsig is sent when the *thread* that forked the child exits, not the process.
// Go normally keeps its threads, but it does end one when a goroutine that locked it
// exits without unlocking, and any goroutine could later run on our thread and do that.
// Holding the thread from fork until the child has been reaped rules this out, at the
// cost of one parked thread per running child.
func start(cmd *exec.Cmd) (<-chan error, error) {
	startErr := make(chan error, 1)
	waitErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		waitErr <- cmd.Wait()
	}()
	if err := <-startErr; err != nil {
		return nil, err
	}
	return waitErr, nil
}

// childEnv is the environment of ffmpeg and ffprobe: ours, without credentials (ffmpeg
// reads only local files and needs none; a crash dump or a debug log must not carry
// them), and with colour escapes in their logs turned off, since those logs end up in
// error messages.
func childEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return strings.HasPrefix(name, "AWS_") || strings.HasPrefix(name, "MINIO_")
	})
	return append(env, "AV_LOG_FORCE_NOCOLOR=1")
}

// copyStderr drains r into tail and, until it fails, extra. Draining must never stop
// early: ffmpeg blocks once a pipe it writes to is full.
func copyStderr(r io.Reader, tail *tailBuffer, extra io.Writer) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			tail.Write(buf[:n])
			if extra != nil {
				if _, werr := extra.Write(buf[:n]); werr != nil {
					extra = nil
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// readProgress parses progress blocks from r until EOF and hands each to emit.
func readProgress(r io.Reader, pp *progressParser, emit func(Progress)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p, ok := pp.feed(sc.Text()); ok {
			emit(p)
		}
	}
	// After a read error or an absurdly long line, keep draining so ffmpeg never blocks.
	_, _ = io.Copy(io.Discard, r)
}

// post puts p in a one-slot mailbox, replacing an undelivered older report. There is a
// single sender, so after emptying the slot the send cannot block.
func post(mailbox chan Progress, p Progress) {
	select {
	case mailbox <- p:
	default:
		select {
		case <-mailbox:
		default:
		}
		mailbox <- p
	}
}
