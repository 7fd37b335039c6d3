package storage_test

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
)

// BenchmarkPutMinIO uploads 1 GiB of unknown length (a stream, as a
// transcoder output is) to MinIO on loopback, and reports the throughput
// (MB/s, from SetBytes) and the process's peak resident memory and heap
// during the upload: memory must not grow with the object (goal: under
// 64 MB). Run it with `make bench` or
//
//	go test -run '^$' -bench PutMinIO -benchtime 2x ./internal/storage
func BenchmarkPutMinIO(b *testing.B) {
	const size = 1 << 30
	srv := miniotest.Start(b)
	stores, err := storage.NewStores(map[string]storage.StoreConfig{
		"m": {Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"},
	})
	if err != nil {
		b.Fatal(err)
	}
	bucket, err := stores.OpenURL("m://" + srv.NewBucket(b) + "/bench/")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	var peakRSS, peakHeap atomic.Int64
	for b.Loop() {
		runtime.GC()
		stop := sampleMemory(&peakRSS, &peakHeap)
		src := io.LimitReader(rand.NewChaCha8([32]byte{7}), size)
		info, err := bucket.Put(context.Background(), "big.bin", src, -1)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		if info.Size != size {
			b.Fatalf("stored %d bytes, want %d", info.Size, size)
		}
	}
	b.ReportMetric(float64(peakRSS.Load())/1e6, "peak-rss-MB")
	b.ReportMetric(float64(peakHeap.Load())/1e6, "peak-heap-MB")
}

// sampleMemory records the highest resident set size and heap in use
// every 10 ms until the returned function is called.
func sampleMemory(rss, heap *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			if r := residentBytes(); r > rss.Load() {
				rss.Store(r)
			}
			runtime.ReadMemStats(&ms)
			if h := int64(ms.HeapInuse); h > heap.Load() {
				heap.Store(h)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// residentBytes reads VmRSS from /proc/self/status (Linux); 0 elsewhere.
func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
