package storage_test

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/transcoder/transcoder/internal/storage/miniotest"
)

// shared is the MinIO server of this test binary, started by the first test that needs
// it and stopped by TestMain, so that the S3 tests share one server.
var shared struct {
	once    sync.Once
	dir     string
	srv     *miniotest.Server
	err     error
	startup time.Duration
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// minioServer returns the shared server, starting it on first use. It fails the test
// (never skips it) when MinIO is missing.
func minioServer(t *testing.T) *miniotest.Server {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "storage-test-minio-")
		if shared.err != nil {
			return
		}
		start := time.Now()
		shared.srv, shared.err = miniotest.Launch(shared.dir)
		shared.startup = time.Since(start)
		if shared.err == nil {
			fmt.Fprintf(os.Stderr, "storage tests: MinIO ready at %s in %s\n", shared.srv.Endpoint, shared.startup.Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}
