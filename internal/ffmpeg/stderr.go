package ffmpeg

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// stderrTailSize is how much of ffmpeg's stderr is kept for error messages. ffmpeg can
// log without bound over a long encode, but the lines that explain a failure come last.
const stderrTailSize = 8 << 10

// tailBuffer is an io.Writer that keeps only the last max bytes written to it.
// It is safe for concurrent use.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

func newTailBuffer(max int) *tailBuffer {
	return &tailBuffer{max: max}
}

// Write implements io.Writer; it never fails, so a copy into it never stops early.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	// Compact only when twice the limit is reached, so appends stay amortised O(1).
	if len(t.buf) > 2*t.max {
		n := copy(t.buf, t.buf[len(t.buf)-t.max:])
		t.buf = t.buf[:n]
		t.truncated = true
	}
	return len(p), nil
}

// String returns the kept tail, trimmed of surrounding white space. When older output
// was dropped, the partial first line is dropped too, so every line is whole.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	cut := t.truncated
	if len(b) > t.max {
		b = b[len(b)-t.max:]
		cut = true
	}
	s := string(b)
	if cut {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return strings.TrimSpace(s)
}

// contextAddrRE matches the object address in ffmpeg's log prefix ("[libx264 @ 0x55e2]"),
// which changes on every run and means nothing to a reader.
var contextAddrRE = regexp.MustCompile(` @ 0x[0-9a-fA-F]+\]`)

// whitelistListRE matches the allow-list that libavformat quotes when it refuses a
// format; it is long, and we know what it says.
var whitelistListRE = regexp.MustCompile(`(Format not on whitelist) '[^']*'`)

// noiseLines are stderr lines that ffmpeg prints after the real error and that would
// otherwise crowd it out of a summary.
var noiseLines = []string{
	"Conversion failed!",
	"frames left in the queue on closing",
	"Exiting normally, received signal",
}

// summarizeStderr returns the last few meaningful lines of ffmpeg's stderr, joined into
// one line, for use in error messages.
func summarizeStderr(stderr string) string {
	const maxLines = 3
	var picked []string
	lines := strings.Split(stderr, "\n")
	for i := len(lines) - 1; i >= 0 && len(picked) < maxLines; i-- {
		line := contextAddrRE.ReplaceAllString(lines[i], "]")
		line = whitelistListRE.ReplaceAllString(line, "$1")
		// Go error style: the pieces are joined into one sentence-less line.
		line = strings.TrimSuffix(strings.TrimSpace(line), ".")
		if line == "" || isNoise(line) || (len(picked) > 0 && picked[len(picked)-1] == line) {
			continue
		}
		picked = append(picked, line)
	}
	slices.Reverse(picked)
	return strings.Join(picked, "; ")
}

func isNoise(line string) bool {
	for _, n := range noiseLines {
		if strings.Contains(line, n) {
			return true
		}
	}
	return false
}
