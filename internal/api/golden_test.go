package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden pins the exact answers (status, the headers clients look at,
// and the JSON) of a few operations. IDs and times that change on every
// run are replaced by placeholders. Refresh with go test -update and
// review the diff.
func TestGolden(t *testing.T) {
	e := newEnv(t, envOptions{})
	timing := regexp.MustCompile(`"(SubmitTimeMillis|StartTimeMillis|FinishTimeMillis)": \d+`)
	for _, tc := range []struct {
		name, method, path, body string
	}{
		{"read-system-preset", "GET", "/2012-09-25/presets/1351620000001-000010", ""},
		{"read-configured-pipeline", "GET", "/2012-09-25/pipelines/" + configID, ""},
		{"create-job", "POST", "/2012-09-25/jobs", `{"PipelineId":"` + configID + `","Input":{"Key":"movies/a.mov","TimeSpan":{"StartTime":"1.5","Duration":"00:00:10.000"}},
			"OutputKeyPrefix":"a/","Outputs":[{"Key":"720p.mp4","PresetId":"1351620000001-000010","ThumbnailPattern":"720p-{count}"},
			{"Key":"hls/400k","PresetId":"1351620000001-200050","SegmentDuration":"4"},{"Key":"hls/600k","PresetId":"1351620000001-200040","SegmentDuration":"4"}],
			"Playlists":[{"Name":"hls/index","Format":"HLSv3","OutputKeys":["hls/400k","hls/600k"]}],"UserMetadata":{"customer":"acme"}}`},
		{"error-job-not-found", "GET", "/2012-09-25/jobs/1351620000001-zzzzzz", ""},
		{"error-bad-id", "GET", "/2012-09-25/pipelines/42", ""},
		{"error-create-pipeline", "POST", "/2012-09-25/pipelines", `{"Name":"","InputBucket":"in put","Role":"admin","Notifications":{"Completed":"https://x"}}`},
		{"error-delete-system-preset", "DELETE", "/2012-09-25/presets/1351620000001-000010", ""},
		{"error-cancel-finished", "DELETE", "/2012-09-25/jobs/JOB", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if strings.HasSuffix(path, "/JOB") {
				// A job that has finished: created, then canceled.
				_, body := e.do(t, "POST", "/2012-09-25/jobs", `{"PipelineId":"`+configID+`","Input":{"Key":"x.mp4"},"Outputs":[{"Key":"x.mp4","PresetId":"1351620000001-000061"}]}`)
				var out struct{ Job struct{ Id string } }
				_ = json.Unmarshal(body, &out)
				e.do(t, "DELETE", "/2012-09-25/jobs/"+out.Job.Id, "")
				path = strings.TrimSuffix(path, "JOB") + out.Job.Id
			}
			resp, body := e.do(t, tc.method, path, tc.body)
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatalf("answer is not JSON: %s", body)
			}
			got := fmt.Sprintf("HTTP %d\nContent-Type: %s\nX-Amzn-ErrorType: %s\n\n%s\n", resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("X-Amzn-ErrorType"), pretty.String())
			var job struct{ Job struct{ Id string } }
			if json.Unmarshal(body, &job) == nil && job.Job.Id != "" {
				got = strings.ReplaceAll(got, job.Job.Id, "JOB-ID")
			}
			if id := strings.TrimPrefix(path, "/2012-09-25/jobs/"); id != path {
				got = strings.ReplaceAll(got, id, "JOB-ID")
			}
			got = timing.ReplaceAllString(got, `"$1": 0`)
			file := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("answer differs from %s:\n--- got\n%s\n--- want\n%s", file, got, want)
			}
		})
	}
}
