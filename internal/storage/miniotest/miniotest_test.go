package miniotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBinaryMissingSaysHowToInstall(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("PATH", empty) // neither minio nor go
	t.Setenv("HOME", empty)
	_, err := Binary()
	if err == nil {
		t.Fatal("found a minio binary in an empty PATH and HOME")
	}
	for _, want := range []string{"make test", Version, filepath.Join(empty, "go", "bin")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestBinaryFoundInGOPATH(t *testing.T) {
	home := t.TempDir()
	bin := filepath.Join(home, "go", "bin", BinaryName)
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", home)
	got, err := Binary()
	if err != nil || got != bin {
		t.Errorf("Binary() = %q, %v; want %q", got, err, bin)
	}
}
