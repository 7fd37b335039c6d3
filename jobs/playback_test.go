package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

// playerDir holds the browser harness: the player page, the script that
// drives Chromium, and (after make test's npm ci) hls.js, dash.js and
// playwright-core pinned by its package-lock.json.
const playerDir = "../testdata/player"

// playerTools returns Node.js and Chromium, failing (never skipping) with
// what to run when one is missing.
func playerTools(t *testing.T) (node, chromium string) {
	t.Helper()
	const hint = "; run `make test` (it installs chromium with apt-get and the npm packages with npm ci in testdata/player), " +
		"or by hand: apt-get install chromium nodejs npm && (cd testdata/player && npm ci)"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the playback test needs Node.js: %v%s", err, hint)
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the playback test needs Chromium (%s): %v%s", chromium, err, hint)
	}
	for _, f := range []string{"hls.js/dist/hls.min.js", "dashjs/dist/dash.all.min.js", "playwright-core/package.json"} {
		if _, err := os.Stat(filepath.Join(playerDir, "node_modules", f)); err != nil {
			t.Fatalf("the playback test needs the npm packages of testdata/player: %v%s", err, hint)
		}
	}
	return node, chromium
}

// playResult is what the player page reports (testdata/player/player.js).
type playResult struct {
	URL          string
	Engine       string
	Levels       int
	Played       float64
	SwitchFrom   int
	SwitchTo     int
	TargetHeight int
	Switched     bool
	Heights      []int
	Stalls       int // stalls and gaps hls.js recovered from by itself, not errors
	Errors       []string
	Console      []string
	TimedOut     bool
}

// TestPlayback serves a job's playlists over HTTP on loopback and plays
// each in headless Chromium with the players sites use, hls.js and
// dash.js: every stream loads from its master playlist or MPD, plays five
// seconds and more, and shows another rendition when asked, with no
// player error. The streams play at the same time, in one browser.
func TestPlayback(t *testing.T) {
	t.Parallel()
	node, chromium := playerTools(t)
	src := testmedia.Path(t, testmedia.Playback)
	reg := presets.NewRegistry()

	var outs []jobs.OutputRequest
	add := func(key, ref string, rung bool) string {
		outs = append(outs, jobs.OutputRequest{Key: key, Preset: lookup(t, ref), SegmentDuration: "2", Rung: rung})
		return key
	}
	v3 := []string{add("v3/1m", "hls-1m", false), add("v3/400k", "hls-400k", false)}
	v4 := []string{add("v4/1m", "hls-video-1m", false), add("v4/400k", "hls-video-400k", false), add("v4/audio", "hls-audio-64k", false)}
	rungs, err := reg.Rungs(lookup(t, "hls-1080p-ladder"))
	if err != nil {
		t.Fatal(err)
	}
	var cmaf []string
	for _, r := range rungs {
		cmaf = append(cmaf, add("cmaf/"+r.Alias(), r.Alias(), true))
	}
	pls := []jobs.PlaylistRequest{
		{Name: "v3/index", Format: jobs.FormatHLSv3, OutputKeys: v3},
		{Name: "v4/index", Format: jobs.FormatHLSv4, OutputKeys: v4},
		{Name: "cmaf/index", Format: jobs.FormatHLSv7, OutputKeys: cmaf},
		{Name: "cmaf/index", Format: jobs.FormatDASH, OutputKeys: cmaf},
	}
	start := time.Now()
	_, dir := transcode(t, src, jobs.LocalRequest{Outputs: outs, Playlists: pls})
	t.Logf("encoded in %s", time.Since(start).Round(time.Millisecond))

	mux := http.NewServeMux()
	mux.Handle("/media/", http.StripPrefix("/media/", http.FileServer(http.Dir(dir))))
	for _, f := range []string{"player.html", "player.js"} {
		mux.HandleFunc("/"+f, func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, filepath.Join(playerDir, f)) })
	}
	for name, file := range map[string]string{"hls.min.js": "hls.js/dist/hls.min.js", "dash.all.min.js": "dashjs/dist/dash.all.min.js"} {
		mux.HandleFunc("/lib/"+name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join(playerDir, "node_modules", file))
		})
	}
	srv := httptest.NewServer(mux) // 127.0.0.1
	defer srv.Close()

	streams := []struct{ engine, src string }{
		{"hls", "/media/v3/index.m3u8"},
		{"hls", "/media/v4/index.m3u8"},
		{"hls", "/media/cmaf/index.m3u8"},
		{"dash", "/media/cmaf/index.mpd"},
	}
	var urls []string
	for _, s := range streams {
		urls = append(urls, fmt.Sprintf("%s/player.html?engine=%s&src=%s", srv.URL, s.engine, s.src))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"play.mjs"}, urls...)...)
	cmd.Dir = playerDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start = time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node play.mjs: %v\n%s", err, stderr.String())
	}
	t.Logf("played in %s", time.Since(start).Round(time.Millisecond))
	var results []playResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		t.Fatalf("player output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if len(results) != len(streams) {
		t.Fatalf("%d results for %d streams", len(results), len(streams))
	}
	for i, r := range results {
		t.Run(strings.TrimPrefix(streams[i].src, "/media/"), func(t *testing.T) {
			t.Logf("%s: played %.1f s, %d renditions, switched %d → %d, heights %v, %d stalls", r.Engine, r.Played, r.Levels, r.SwitchFrom, r.SwitchTo, r.Heights, r.Stalls)
			if len(r.Errors) > 0 || len(r.Console) > 0 || r.TimedOut {
				t.Errorf("player errors: %q; console: %q", r.Errors, r.Console)
			}
			if r.Levels < 2 {
				t.Errorf("%d video renditions, want at least 2", r.Levels)
			}
			if r.Played < 5 {
				t.Errorf("played %.2f s, want at least 5", r.Played)
			}
			if !r.Switched || r.SwitchFrom == r.SwitchTo || r.SwitchTo < 0 {
				t.Errorf("asked to switch from rendition %d to %d (height %d): switched=%v, heights shown %v",
					r.SwitchFrom, r.SwitchTo, r.TargetHeight, r.Switched, r.Heights)
			}
		})
	}
}
