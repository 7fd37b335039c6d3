package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// GlobalArgs returns the options Run puts before every command, so that a
// command shown to a user (a dry run) is the one that runs.
func GlobalArgs() []string { return slices.Clone(globalArgs) }

// Capabilities lists the encoders this ffmpeg was built with, by name
// (libx264, libsvtav1, libfdk_aac, …), from `ffmpeg -encoders`.
func (t Tools) Capabilities(ctx context.Context) (map[string]bool, error) {
	out, err := exec.CommandContext(ctx, t.FFmpeg, "-hide_banner", "-nostdin", "-encoders").Output()
	if err != nil {
		return nil, fmt.Errorf("list ffmpeg encoders (%s -encoders): %w", t.FFmpeg, err)
	}
	return parseEncoders(out), nil
}

// parseEncoders reads the table ffmpeg prints: a legend, a "------" line,
// then one " FLAGS name  description" line per encoder.
func parseEncoders(out []byte) map[string]bool {
	enc := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	table := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "---") {
			table = true
			continue
		}
		if f := strings.Fields(line); table && len(f) >= 2 {
			enc[f[1]] = true
		}
	}
	return enc
}
