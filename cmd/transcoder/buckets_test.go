package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/internal/storage/miniotest"
	"github.com/transcoder/transcoder/internal/testmedia"
)

// TestTranscodeS3 runs the binary between MinIO buckets twice: as the
// default store from the AWS_* variables (s3://), and as a store named in
// a config file whose secrets come from ${VARS} (minio://).
func TestTranscodeS3(t *testing.T) {
	srv := miniotest.Start(t)
	in, out := srv.NewBucket(t), srv.NewBucket(t)
	stores, err := storage.NewStores(map[string]storage.StoreConfig{
		"m": {Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := stores.OpenURL("m://" + in + "/")
	f, err := os.Open(testmedia.Path(t, testmedia.Tiny))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(context.Background(), "uploads/clip one.mp4", f, -1); err != nil {
		t.Fatal(err)
	}
	f.Close()

	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3="+srv.Endpoint)
	cmd := exec.Command(buildBinary(t), "transcode", "s3://"+in+"/uploads/clip one.mp4", "-p", "audio-mp3-128k", "-o", "s3://"+out+"/a/")
	cmd.Env = env
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("s3:// transcode: %v\n%s", err, outb)
	} else if !strings.Contains(string(outb), "s3://"+out+"/a/clip one-audio-mp3-128k.mp3") {
		t.Errorf("output table does not name the object:\n%s", outb)
	}

	cfg := filepath.Join(t.TempDir(), "transcoder.yaml")
	os.WriteFile(cfg, []byte("stores:\n  lab:\n    endpoint: "+srv.Endpoint+"\n    region: us-east-1\n    access_key: ${LAB_KEY}\n    secret_key: ${LAB_SECRET}\n"), 0o600)
	cmd = exec.Command(buildBinary(t), "--config", cfg, "transcode", "lab://"+in+"/uploads/clip one.mp4", "-p", "audio-aac-64k", "-o", "lab://"+out+"/b/")
	cmd.Env = append(os.Environ(), "LAB_KEY="+srv.AccessKey, "LAB_SECRET="+srv.SecretKey)
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lab:// transcode: %v\n%s", err, outb)
	} else if strings.Contains(string(outb), srv.SecretKey) {
		t.Errorf("the secret reached the output:\n%s", outb)
	}
	for _, key := range []string{"a/clip one-audio-mp3-128k.mp3", "b/clip one-audio-aac-64k.mp4"} {
		ob, _ := stores.OpenURL("m://" + out + "/")
		if _, err := ob.Stat(context.Background(), key); err != nil {
			t.Errorf("object %s: %v", key, err)
		}
	}

	// Wrong credentials: one clear error naming the endpoint and bucket, no secret.
	cmd = exec.Command(buildBinary(t), "transcode", "s3://"+in+"/uploads/clip one.mp4", "-p", "audio-mp3-128k", "-o", t.TempDir())
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY=wrong-secret-123",
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3="+srv.Endpoint)
	outb, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(outb), srv.Endpoint) || !strings.Contains(string(outb), in) ||
		!strings.Contains(string(outb), "access denied") || strings.Contains(string(outb), "wrong-secret-123") {
		t.Errorf("wrong credentials: %v\n%s", err, outb)
	}

	// An unset ${VAR} names the line.
	os.WriteFile(cfg, []byte("stores:\n  lab:\n    endpoint: "+srv.Endpoint+"\n    secret_key: ${NOT_SET_ANYWHERE}\n"), 0o600)
	cmd = exec.Command(buildBinary(t), "--config", cfg, "transcode", "x.mp4", "-p", "audio-mp3-128k", "-o", t.TempDir())
	if outb, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(outb), "line 4: ${NOT_SET_ANYWHERE} is not set") {
		t.Errorf("unset variable: %v\n%s", err, outb)
	}
}
