//go:build !linux

package miniotest

import "os/exec"

// setProcAttr does nothing outside Linux, where Pdeathsig does not exist.
func setProcAttr(cmd *exec.Cmd) {}
