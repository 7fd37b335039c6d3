// Package miniotest runs real MinIO servers for tests: each on a free loopback port,
// with random credentials and a temporary data directory (restic's habit).
//
// The server binary ([BinaryName]) is looked up on PATH, then in $(go env GOBIN)
// and $(go env GOPATH)/bin. When it is missing the tests fail, never skip: `make
// test` builds the pinned version with the listen fix (see [InstallHint]).
package miniotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the MinIO server the tests are known to work with.
const Version = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// BinaryName is the MinIO server the tests use: Version built by `make
// minio` with the fix of minio/minio#21651 (the listen API flushes its
// events), under a name of its own so that an unpatched minio on PATH is
// never taken for it.
const BinaryName = "minio-transcoder-test"

// InstallHint says how to get the binary.
const InstallHint = "`make test` (or `make minio`) builds it from " + Version + " with the listen fix in testdata/minio, about four minutes on two cores"

// startTimeout bounds how long a server may take to become ready.
const startTimeout = 60 * time.Second

// Server is a running MinIO server.
type Server struct {
	// Endpoint is the server's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Addr is host:port, what minio-go's New takes.
	Addr string
	// AccessKey and SecretKey are the root credentials, random for each server.
	AccessKey, SecretKey string
	// Dir is the data directory.
	Dir string

	bin string
	log string // the server's output, appended across restarts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Binary returns the path of the test MinIO (BinaryName), or an error that says how to
// build it.
func Binary() (string, error) {
	if p, err := exec.LookPath(BinaryName); err == nil {
		return p, nil
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n") // GOBIN may be empty
		if len(lines) == 2 {
			if gobin := strings.TrimSpace(lines[0]); gobin != "" {
				dirs = append(dirs, gobin)
			}
			for p := range strings.SplitSeq(strings.TrimSpace(lines[1]), string(os.PathListSeparator)) {
				if p != "" {
					dirs = append(dirs, filepath.Join(p, "bin"))
				}
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		if d := filepath.Join(home, "go", "bin"); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, BinaryName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("miniotest: the test MinIO server (%s) is not on PATH nor in %s; %s", BinaryName,
		strings.Join(dirs, ", "), InstallHint)
}

// Start starts a server for the test, stopped when the test ends. It fails the test
// when minio is missing or does not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := Launch(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("miniotest: stopping the server: %v", err)
		}
	})
	return s
}

// Launch starts a server whose data and log live under dir, for callers without a
// testing.TB (TestMain). The caller must Stop it.
func Launch(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	s := &Server{
		AccessKey: "test-" + randomHex(8),
		SecretKey: randomHex(20),
		Dir:       filepath.Join(dir, "data"),
		bin:       bin,
		log:       filepath.Join(dir, "minio.log"),
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("miniotest: %w", err)
	}
	// A free port can be taken between our probe and minio's listen: try again then.
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s.Addr, s.Endpoint = addr, "http://"+addr
		err = s.start()
		if err == nil || attempt == 3 {
			return s, err
		}
	}
}

// Restart starts the server again on the same port and data directory after Stop.
func (s *Server) Restart() error { return s.start() }

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("miniotest: server already running")
	}
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("miniotest: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Addr,
		"--certs-dir", filepath.Join(filepath.Dir(s.Dir), "certs"), s.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	setProcAttr(cmd)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("miniotest: starting %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	if err := waitReady(s.Endpoint, done); err != nil {
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("miniotest: minio at %s did not start in %s: %w\n%s", s.Endpoint,
			time.Since(started).Round(time.Millisecond), err, s.logTail())
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitReady polls the readiness probe until it answers 200 or the process exits.
func waitReady(endpoint string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		resp, err := client.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out")
}

// Stop stops the server (SIGTERM, then SIGKILL after five seconds) and keeps its data.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	return nil
}

// logTail returns the end of the server's output, for failure messages.
func (s *Server) logTail() string {
	data, _ := os.ReadFile(s.log)
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return string(bytes.TrimSpace(data))
}

// Client returns a minio-go client with the root credentials.
func (s *Server) Client() (*minio.Client, error) {
	return minio.New(s.Addr, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1",
	})
}

// CreateBucket creates the bucket name, failing the test if it cannot.
func (s *Server) CreateBucket(tb testing.TB, name string) {
	tb.Helper()
	if err := s.MakeBucket(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
}

// MakeBucket creates the bucket name.
func (s *Server) MakeBucket(ctx context.Context, name string) error {
	c, err := s.Client()
	if err != nil {
		return fmt.Errorf("miniotest: %w", err)
	}
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("miniotest: creating bucket %q: %w", name, err)
	}
	return nil
}

// NewBucket creates a bucket with a fresh random name and returns the name.
func (s *Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := "test-" + randomHex(6)
	s.CreateBucket(tb, name)
	return name
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("miniotest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// FreeAddr returns a loopback address where nothing listens: an endpoint that is down.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := freeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
