package jobs_test

// The engine on a three-node NATS cluster, all in this process: the queue
// survives the loss of the server that leads it.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/transcoder/transcoder/internal/engine"
	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/testmedia"
	"github.com/transcoder/transcoder/jobs"
	"github.com/transcoder/transcoder/presets"
)

const preset720 = "1351620000001-000010" // generic-720p: a few seconds on Landscape720

// TestEngineClusterLeaderLoss runs jobs on a three-node cluster (R3
// streams, bucket and consumer) and stops the server that leads the
// TRANSCODER_QUEUE stream while the jobs are encoding.
//
// The nodes are chosen so that the test means the same on every run,
// whichever server the cluster elects: once the streams exist, the
// server L that leads the queue stream is made the leader of everything
// else too (the "workers" consumer, the jobs bucket, the events stream;
// by leader step-down with L preferred), worker A connects to L, worker B
// to a second node, and the API Service (creates, reads) to the third.
// When both workers are encoding, L is shut down. That checks at once
// that:
//
//   - the queue stream, its consumer, the jobs bucket and the events
//     stream all fail over together to the two survivors without losing
//     or duplicating a job: every job ends Complete and ffmpeg ran
//     exactly once per input, counted across both workers;
//   - worker A, whose server is gone mid-encode, reconnects to a survivor
//     (the client knows the cluster's URLs from the server's INFO) and
//     records the result of the job it was running: that job is not run
//     again by B;
//   - the outputs are valid media (ffprobe);
//   - the two-node cluster that remains takes and runs a new job.
//
// AckWait is 30 s here, not the tests' usual 2 s: a failover may take up
// to a Raft election timeout (4-9 s in nats-server; 0.05-5 s seen here),
// heartbeats sent meanwhile reach no consumer leader, and the new leader
// times a job from its last replicated heartbeat; a short AckWait would
// legitimately redeliver running jobs (at-least-once), and this test is
// about failover without a second run.
func TestEngineClusterLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster and encodes 720p")
	}
	started := time.Now()
	ctx := context.Background()
	engines := startCluster(t, 3)

	reg := presets.NewRegistry()
	opts := testServiceOptions(reg)
	opts.Replicas = 3
	opts.AckWait = 30 * time.Second
	svcs := make([]*jobs.Service, len(engines))
	for i, eng := range engines {
		svc, err := jobs.Open(ctx, eng.JS, opts)
		if err != nil {
			t.Fatalf("open service on %s: %v", eng.Server().Name(), err)
		}
		t.Cleanup(svc.Close)
		svcs[i] = svc
	}
	if got := queueInfo(t, engines[0].JS).Config.Replicas; got != 3 {
		t.Fatalf("queue stream has %d replicas, want 3", got)
	}
	leader := queueLeader(t, engines[0].JS, "")
	gatherLeaders(t, engines[0], leader)
	iA := nodeIndex(t, engines, leader)
	iAPI, iB := (iA+1)%3, (iA+2)%3
	api := svcs[iAPI]
	t.Logf("queue leader %s: worker A on %s, worker B on %s, API on %s (cluster up in %v)",
		leader, engines[iA].Server().Name(), engines[iB].Server().Name(), engines[iAPI].Server().Name(),
		time.Since(started).Round(time.Millisecond))

	env := e2eTools(t)
	stores, err := storage.NewStores(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each worker counts its own ffmpeg runs, so the test knows that both
	// are encoding before it stops L, and which worker ran what.
	type clusterWorker struct {
		env     *engineEnv
		running chan struct{}
	}
	workers := map[string]*clusterWorker{}
	for name, i := range map[string]int{"A": iA, "B": iB} {
		w := &clusterWorker{running: make(chan struct{})}
		var once sync.Once
		tools := &countingTools{Tools: env.tools, onRun: func([]string) { once.Do(func() { close(w.running) }) }}
		w.env = &engineEnv{eng: engines[i], svc: svcs[i], presets: reg, stores: stores, tools: tools, caps: env.caps}
		workers[name] = w
	}

	media := testmedia.Path(t, testmedia.Landscape720)
	in, out := t.TempDir(), t.TempDir()
	const n = 4
	ids := make([]string, n)
	inputs := make([]string, n)
	for i := range n {
		inputs[i] = linkInput(t, media, filepath.Join(in, fmt.Sprintf("cluster%d.mp4", i)))
		job, err := api.Create(ctx, jobs.CreateRequest{
			PipelineID: "1700000000000-clustr", Input: inputs[i], Output: "file://" + out,
			Outputs: []jobs.OutputSpec{{Key: fmt.Sprintf("cluster%d-720p.mp4", i), PresetID: preset720}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = job.ID
	}
	// The jobs are queued before the workers start, so that neither
	// worker can take all of them before the other is up.
	for name, w := range workers {
		w.env.startWorkerWith(t, jobs.WorkerOptions{Name: "cluster-" + name, Concurrency: 1, WorkDir: t.TempDir(),
			StallTimeout: 30 * time.Second})
	}
	for name, w := range workers {
		select {
		case <-w.running:
		case <-time.After(time.Minute):
			t.Fatalf("worker %s started no ffmpeg", name)
		}
	}

	// The leader may in principle have moved since it was looked up; stop
	// whichever server leads the queue now (worker A's in all but freak
	// runs, which the log shows).
	js := engines[iAPI].JS
	leader = queueLeader(t, js, "")
	victim := engines[nodeIndex(t, engines, leader)]
	led := ledBy(t, js, leader)
	killed := time.Now()
	victim.Server().Shutdown()
	t.Logf("stopped %s, which led %v, %v after start", leader, led, time.Since(started).Round(time.Millisecond))
	t.Logf("new leaders after: %v", failover(t, js, leader, killed))

	// A new job after the failover: the remaining two nodes still take
	// and run work. It is created once everything the stopped server led
	// has a new leader, so that one Create suffices (a Create that fails
	// halfway may leave a stored job for Reconcile to queue, and a retry
	// would make a second one).
	extra := linkInput(t, testmedia.Path(t, testmedia.Tiny), filepath.Join(in, "after-failover.mp4"))
	ctxCreate, cancelCreate := context.WithTimeout(ctx, 30*time.Second)
	job, err := api.Create(ctxCreate, jobs.CreateRequest{
		PipelineID: "1700000000000-clustr", Input: extra, Output: "file://" + out,
		Outputs: []jobs.OutputSpec{{Key: "after-failover.mp4", PresetID: preset320}},
	})
	cancelCreate()
	if err != nil {
		t.Fatalf("create after failover: %v", err)
	}
	ids = append(ids, job.ID)
	inputs = append(inputs, extra)

	for i, id := range ids {
		got := pollFinal(t, api, id, 2*time.Minute)
		if got.Status != jobs.StatusComplete {
			t.Errorf("job %d (%s) is %s: %+v", i, id, got.Status, got.Outputs[0])
			continue
		}
		a, b := workers["A"].env.tools.count(inputs[i]), workers["B"].env.tools.count(inputs[i])
		if a+b != 1 {
			t.Errorf("job %d (%s): ffmpeg ran %d times on worker A and %d on worker B, want once in all", i, id, a, b)
		}
		file := filepath.Join(out, got.Outputs[0].Key)
		m := probe(t, file)
		v := m.video(t)
		want := [2]int{1280, 720}
		if i == n {
			want = [2]int{320, 240}
		}
		if v.CodecName != "h264" || [2]int{v.Width, v.Height} != want || m.audio(t).CodecName != "aac" {
			t.Errorf("job %d output %s: video %+v", i, filepath.Base(file), v)
		}
		if d := m.duration(); (i < n && !within(d, 3, 0.2)) || d <= 0 {
			t.Errorf("job %d output %s: duration %.3f s", i, filepath.Base(file), d)
		}
	}
	// Worker A's client has moved to a survivor: the results it recorded
	// went through it.
	if conn := victim.Conn; !conn.IsConnected() || conn.ConnectedServerName() == leader {
		t.Errorf("the stopped server's client: connected %v to %q", conn.IsConnected(), conn.ConnectedServerName())
	}
	t.Logf("all %d jobs Complete %v after start", len(ids), time.Since(started).Round(time.Millisecond))
}

// startCluster starts n embedded servers that form one cluster. They start
// concurrently: each Start waits until JetStream answers, which needs a
// meta leader, which needs a quorum of members up. Route ports are picked
// free just before; if another process takes one meanwhile, the whole
// cluster is started again.
func startCluster(t *testing.T, n int) []*engine.Engine {
	t.Helper()
	var lastErr error
	for range 3 {
		addrs := make([]string, n)
		dirs := make([]string, n)
		for i := range n {
			addrs[i] = freeAddr(t)
			dirs[i] = t.TempDir()
		}
		engines := make([]*engine.Engine, n)
		errs := make([]error, n)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var wg sync.WaitGroup
		for i := range n {
			var routes []string
			for j, a := range addrs {
				if j != i {
					routes = append(routes, a)
				}
			}
			wg.Go(func() {
				engines[i], errs[i] = engine.Start(ctx, engine.Config{
					DataDir: dirs[i], Listen: "127.0.0.1:0", Name: fmt.Sprintf("n%d", i+1), Replicas: 3,
					Cluster: &engine.ClusterConfig{Name: "transcoder-test", Listen: addrs[i], Routes: routes},
					Options: []nats.Option{nats.SetCustomDialer(&jetStreamGate{})},
				})
			})
		}
		wg.Wait()
		cancel()
		if lastErr = errors.Join(errs...); lastErr == nil {
			for _, e := range engines {
				t.Cleanup(func() { _ = e.Close() })
			}
			waitPeers(t, engines)
			return engines
		}
		for _, e := range engines {
			if e != nil {
				_ = e.Close()
			}
		}
		t.Logf("cluster did not start, trying again: %v", lastErr)
	}
	t.Fatalf("cluster did not start: %v", lastErr)
	return nil
}

// waitPeers waits until the cluster's meta leader counts every member as
// a JetStream peer. JetStream answers before that, but an R3 stream
// created then fails with "no suitable peers for placement" (10005).
func waitPeers(t *testing.T, engines []*engine.Engine) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, e := range engines {
			if s := e.Server(); s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(engines) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the cluster's meta leader does not see %d JetStream peers after a minute", len(engines))
}

// startWorkerWith is startWorker with all of the worker's options: the
// 720p encodes here need a longer stall timeout than startWorker's 3 s on
// a loaded machine, where x264's lookahead can keep ffmpeg's reported
// position still for seconds.
func (e *engineEnv) startWorkerWith(t testing.TB, opts jobs.WorkerOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Tools, opts.Stores, opts.Presets, opts.Caps = e.tools, e.stores, e.presets, e.caps
	w := e.svc.NewWorker(opts)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker %s: %v", opts.Name, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// jetStreamGate works around engine.Start's readiness check on a new
// cluster: Start asks JetStream for its account info once, with all of its
// 30 s as the request's timeout, and a request sent before the cluster has
// elected its meta leader gets no answer at all, so Start fails after 30 s
// on every member (see the report with this test). The gate holds the
// engine's first connection until JetStream answers on a probe
// connection; reconnections pass straight through.
type jetStreamGate struct {
	net.Dialer
	once sync.Once
}

func (g *jetStreamGate) Dial(network, addr string) (net.Conn, error) {
	g.once.Do(func() {
		nc, err := nats.Connect("nats://"+addr, nats.Timeout(5*time.Second))
		if err != nil {
			return // the real dial reports it
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := js.AccountInfo(ctx)
			cancel()
			if err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return g.Dialer.Dial(network, addr)
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func queueInfo(t *testing.T, js jetstream.JetStream) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "TRANSCODER_QUEUE")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// queueLeader returns the name of the server leading the queue stream,
// waiting (through an election) for one other than not.
func queueLeader(t *testing.T, js jetstream.JetStream, not string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := js.Stream(ctx, "TRANSCODER_QUEUE")
		var info *jetstream.StreamInfo
		if err == nil {
			info, err = st.Info(ctx)
		}
		cancel()
		if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != not {
			return info.Cluster.Leader
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no queue leader other than %q: %v", not, last)
	return ""
}

// ledBy lists what the server leads of the engine's streams, bucket and
// consumer. What cannot be asked (during an election) is left out.
func ledBy(t *testing.T, js jetstream.JetStream, server string) []string {
	t.Helper()
	var led []string
	for name, leader := range leaders(js) {
		if leader == server {
			led = append(led, name)
		}
	}
	slices.Sort(led)
	return led
}

func nodeIndex(t *testing.T, engines []*engine.Engine, name string) int {
	t.Helper()
	for i, e := range engines {
		if e.Server().Name() == name {
			return i
		}
	}
	t.Fatalf("no node named %q", name)
	return -1
}

// linkInput makes dst a hard link of src (a copy where links are not
// possible), so that each job has an input of its own name.
func linkInput(t testing.TB, src, dst string) string {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return dst
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// gatherLeaders makes server the leader of the engine's streams, bucket
// and consumer, so that stopping it fails all of them over at once. A
// group that will not move in 30 s is left where it is (the log says so).
func gatherLeaders(t *testing.T, eng *engine.Engine, server string) {
	t.Helper()
	want := []string{"TRANSCODER_QUEUE", "consumer workers", "TRANSCODER_EVENTS", "KV_transcoder_jobs"}
	req := []byte(`{"placement":{"preferred":"` + server + `"}}`)
	subjects := map[string]string{
		"TRANSCODER_QUEUE":   "$JS.API.STREAM.LEADER.STEPDOWN.TRANSCODER_QUEUE",
		"consumer workers":   "$JS.API.CONSUMER.LEADER.STEPDOWN.TRANSCODER_QUEUE.workers",
		"TRANSCODER_EVENTS":  "$JS.API.STREAM.LEADER.STEPDOWN.TRANSCODER_EVENTS",
		"KV_transcoder_jobs": "$JS.API.STREAM.LEADER.STEPDOWN.KV_transcoder_jobs",
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		led := ledBy(t, eng.JS, server)
		var missing []string
		for _, w := range want {
			if !slices.Contains(led, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("%s does not lead %v; going on without", server, missing)
			return
		}
		for _, m := range missing {
			if _, err := eng.Conn.Request(subjects[m], req, 5*time.Second); err != nil {
				t.Logf("step down %s: %v", m, err)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// failover waits until the engine's streams, bucket and consumer all
// have a leader other than the stopped server, and returns how long after
// the stop each one was first seen with its new leader.
func failover(t *testing.T, js jetstream.JetStream, stopped string, at time.Time) map[string]time.Duration {
	t.Helper()
	took := map[string]time.Duration{}
	deadline := time.Now().Add(time.Minute)
	for len(took) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("no new leaders after a minute; seen: %v", took)
		}
		for name, leader := range leaders(js) {
			if _, ok := took[name]; !ok && leader != "" && leader != stopped {
				took[name] = time.Since(at).Round(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return took
}

// leaders returns the leaders of the engine's streams, bucket and
// consumer that can be asked now.
func leaders(js jetstream.JetStream) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	out := map[string]string{}
	for _, name := range []string{"TRANSCODER_QUEUE", "TRANSCODER_EVENTS", "KV_transcoder_jobs"} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			continue
		}
		if info, err := st.Info(ctx); err == nil && info.Cluster != nil {
			out[name] = info.Cluster.Leader
		}
		if name == "TRANSCODER_QUEUE" {
			if c, err := st.Consumer(ctx, "workers"); err == nil {
				if info, err := c.Info(ctx); err == nil && info.Cluster != nil {
					out["consumer workers"] = info.Cluster.Leader
				}
			}
		}
	}
	return out
}

// pollFinal reads a job until it is final. It polls Get rather than
// watching events, and tolerates errors, because reads may fail while
// the cluster elects new leaders.
func pollFinal(t testing.TB, svc *jobs.Service, id string, timeout time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	var job *jobs.Job
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		j, err := svc.Get(ctx, id)
		cancel()
		if err == nil && jobs.Terminal(j.Status) {
			return j
		}
		if err == nil {
			job = j
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("job %s not final after %v: %+v (last error %v)", id, timeout, job, last)
	return nil
}

// TestEngineClusterKeepsReplicas: a process that joins a cluster by URL
// (replicas not set) must not scale the cluster's streams and buckets
// down.
func TestEngineClusterKeepsReplicas(t *testing.T) {
	ctx := context.Background()
	engines := startCluster(t, 3)
	opts := testServiceOptions(presets.NewRegistry())
	opts.Replicas = 3
	svc, err := jobs.Open(ctx, engines[0].JS, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	opts.Replicas = 0 // what a `nats: nats://…` process has
	svc2, err := jobs.Open(ctx, engines[1].JS, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	for _, name := range []string{"TRANSCODER_QUEUE", "TRANSCODER_EVENTS", "KV_transcoder_jobs", "KV_transcoder_paused"} {
		st, err := engines[0].JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.CachedInfo().Config.Replicas; n != 3 {
			t.Errorf("%s: %d replicas after a process joined, want 3", name, n)
		}
	}
}
