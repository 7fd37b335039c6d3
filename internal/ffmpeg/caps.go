package ffmpeg

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// GlobalArgs returns the options Run puts before every command, so that a
// command shown to a user (a dry run) is the one that runs.
func GlobalArgs() []string { return slices.Clone(globalArgs) }

// Capabilities lists the encoders this ffmpeg was built with, by name
// (libx264, libsvtav1, libfdk_aac, …), from `ffmpeg -encoders`. The list
// is cached in the user's cache directory, keyed by the binary's path,
// size and modification time: starting ffmpeg only to list its encoders
// costs about 70 ms, a noticeable share of a short job.
func (t Tools) Capabilities(ctx context.Context) (map[string]bool, error) {
	cache := capsCacheFile(t.FFmpeg)
	if cache != "" {
		if data, err := os.ReadFile(cache); err == nil {
			var enc map[string]bool
			if json.Unmarshal(data, &enc) == nil && len(enc) > 0 {
				return enc, nil
			}
		}
	}
	out, err := exec.CommandContext(ctx, t.FFmpeg, "-hide_banner", "-nostdin", "-encoders").Output()
	if err != nil {
		return nil, fmt.Errorf("list ffmpeg encoders (%s -encoders): %w", t.FFmpeg, err)
	}
	enc := parseEncoders(out)
	if cache != "" && len(enc) > 0 {
		// Best effort: a cache that cannot be written only costs time.
		if data, err := json.Marshal(enc); err == nil && os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
			tmp := cache + ".tmp-" + fmt.Sprint(os.Getpid())
			if os.WriteFile(tmp, data, 0o644) == nil {
				_ = os.Rename(tmp, cache)
			}
		}
	}
	return enc, nil
}

// capsCacheFile names the cache of one ffmpeg binary's encoders, or ""
// when there is no cache directory or the binary cannot be examined.
func capsCacheFile(ffmpeg string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	st, err := os.Stat(ffmpeg)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", ffmpeg, st.Size(), st.ModTime().UnixNano())))
	return filepath.Join(dir, "transcoder", "encoders-"+hex.EncodeToString(sum[:8])+".json")
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
