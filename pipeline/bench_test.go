package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/notification"
	"github.com/nats-io/nats.go"

	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/pipeline"
)

// BenchmarkUploadToProgressing measures, with a real MinIO, the time from
// the start of an object's upload to its job's Progressing
// state event, for each event source. The worker is idle at each upload
// (the previous job has finished). Reported: p50 and p99 in ms; goals
// (issue 6): under 300 ms for MinIO's listen API and pushed events, under
// the poll interval plus 300 ms for polling.
func BenchmarkUploadToProgressing(b *testing.B) {
	for _, src := range []string{"listen", "webhook", "poll"} {
		b.Run(src, func(b *testing.B) {
			const token = "bench-token"
			addr := miniotest.FreeAddr(b)
			b.Setenv("MINIO_NOTIFY_WEBHOOK_ENABLE_BENCH", "on")
			b.Setenv("MINIO_NOTIFY_WEBHOOK_ENDPOINT_BENCH", "http://"+addr+"/events/s3/bench")
			b.Setenv("MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_BENCH", token)
			srv := miniotest.Start(b)
			in, out := srv.NewBucket(b), srv.NewBucket(b)
			client, err := srv.Client()
			if err != nil {
				b.Fatal(err)
			}
			events := "{source: poll, poll_interval: 1s}"
			if src == "webhook" {
				q := notification.NewConfig(notification.Arn{Partition: "minio", Service: "sqs", AccountID: "BENCH", Resource: "webhook"})
				q.AddEvents(notification.ObjectCreatedAll)
				var nc notification.Configuration
				nc.AddQueue(q)
				if err := client.SetBucketNotification(context.Background(), in, nc); err != nil {
					b.Fatal(err)
				}
				events = "{source: webhook, webhook_token: " + token + "}"
			}
			if src == "listen" {
				events = "{source: listen}"
			}
			dir := b.TempDir()
			yml := fmt.Sprintf(`data_dir: %s/data
listen: %s
stores:
  minio: {endpoint: %s, access_key: %s, secret_key: %s, region: us-east-1}
pipelines:
  - name: bench
    input: minio://%s/
    output: minio://%s/
    outputs:
      - {preset: audio-mp3-128k, key: "{{.Base}}.mp3"}
    events: %s
`, dir, addr, srv.Endpoint, srv.AccessKey, srv.SecretKey, in, out, events)
			cfg, err := pipeline.ParseConfig(filepath.Join(dir, "transcoder.yaml"), []byte(yml))
			if err != nil {
				b.Fatal(err)
			}
			dm := startDaemonTB(b, cfg)
			states := make(chan jobs.Event, 64)
			sub, err := dm.d.Engine.Conn.Subscribe("transcoder.events."+cfg.Pipelines[0].ID+".*.state", func(m *nats.Msg) {
				var ev jobs.Event
				if json.Unmarshal(m.Data, &ev) == nil {
					states <- ev
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Unsubscribe()
			clip, err := os.ReadFile(testmedia.Path(b, testmedia.AudioBlip))
			if err != nil {
				b.Fatal(err)
			}
			var lat []time.Duration
			b.ResetTimer()
			for i := range b.N {
				key := fmt.Sprintf("clip-%04d.m4a", i)
				put := time.Now()
				if _, err := client.PutObject(context.Background(), in, key, bytes.NewReader(clip), int64(len(clip)),
					minio.PutObjectOptions{}); err != nil {
					b.Fatal(err)
				}
				started := false
				for !started {
					select {
					case ev := <-states:
						if ev.Job.Input.Key != key {
							continue
						}
						if ev.Status == jobs.StatusProgressing {
							lat = append(lat, time.Since(put))
						}
						started = jobs.Terminal(ev.Status)
					case <-time.After(30 * time.Second):
						b.Fatalf("no job for %s", key)
					}
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.5), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
