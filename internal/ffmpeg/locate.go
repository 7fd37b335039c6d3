package ffmpeg

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotFound is wrapped by the error [Locate] returns when ffmpeg or ffprobe cannot be found.
var ErrNotFound = errors.New("ffmpeg/ffprobe not found")

// installHint tells a user who has no ffmpeg what to do about it; it is part of every
// [ErrNotFound] error because that error is usually the first thing a new user sees.
const installHint = `install FFmpeg (Debian/Ubuntu: "apt-get install ffmpeg", ` +
	`Fedora: "dnf install ffmpeg", macOS: "brew install ffmpeg") ` +
	`or pass --ffmpeg and --ffprobe with the paths of the binaries`

// Tools holds the paths of the ffmpeg and ffprobe binaries. Use [Locate] to fill it in.
type Tools struct {
	FFmpeg  string // path of the ffmpeg binary
	FFprobe string // path of the ffprobe binary
}

// Locate finds the ffmpeg and ffprobe binaries. A non-empty argument is used as given
// (a path, or a bare name looked up in $PATH); an empty one means "ffmpeg" or "ffprobe"
// in $PATH. The returned paths are absolute, so a later change of working directory does
// not matter. When a binary is missing the error says how to install it and wraps
// [ErrNotFound]. Locate does not start any process.
func Locate(ffmpegPath, ffprobePath string) (Tools, error) {
	var problems []string
	ffmpeg, err := locateOne("ffmpeg", ffmpegPath)
	if err != nil {
		problems = append(problems, err.Error())
	}
	ffprobe, err := locateOne("ffprobe", ffprobePath)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return Tools{}, fmt.Errorf("%w: %s; %s", ErrNotFound, strings.Join(problems, "; "), installHint)
	}
	return Tools{FFmpeg: ffmpeg, FFprobe: ffprobe}, nil
}

// locateOne resolves one binary; name is the program's usual name, explicit the
// user's choice (possibly empty).
func locateOne(name, explicit string) (string, error) {
	target := explicit
	if target == "" {
		target = name
	}
	path, err := exec.LookPath(target)
	if err != nil {
		if explicit == "" {
			return "", fmt.Errorf("%s is not in $PATH", name)
		}
		return "", fmt.Errorf("%s %q is not an executable file (%v)", name, explicit, unwrapExecError(err))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%s: make %q absolute: %v", name, path, err)
	}
	return abs, nil
}

// unwrapExecError drops exec.Error's own `exec: "name":` prefix, which would repeat
// the name we already print.
func unwrapExecError(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}
