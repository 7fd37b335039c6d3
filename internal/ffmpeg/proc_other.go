//go:build !linux

package ffmpeg

import (
	"os"
	"os/exec"
)

// setProcAttr does nothing outside Linux: process groups and Pdeathsig are Linux
// features here, and Transcoder's workers run on Linux. This file keeps the package
// building (and usable for development) elsewhere.
func setProcAttr(cmd *exec.Cmd) {}

// terminate asks ffmpeg to stop and finalise its outputs. ffmpeg treats SIGINT like
// SIGTERM; where interrupts cannot be sent (Windows) it is killed instead.
func terminate(p *os.Process) error {
	if err := p.Signal(os.Interrupt); err != nil {
		return p.Kill()
	}
	return nil
}

// kill stops ffmpeg at once.
func kill(p *os.Process) error { return p.Kill() }
