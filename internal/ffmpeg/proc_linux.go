package ffmpeg

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group, so that a terminal's Ctrl-C
// reaches only us (we then stop ffmpeg gracefully) and so that signals reach anything
// ffmpeg itself starts. Pdeathsig makes the kernel SIGKILL the child when we die, even by
// SIGKILL, so a crashed worker never leaves an orphan encoding a job that has already gone
// back to the queue. Pdeathsig is tied to the thread that forked the child; see start.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// terminate asks the process group to stop; ffmpeg then finalises its outputs.
func terminate(p *os.Process) error { return signalGroup(p, syscall.SIGTERM) }

// kill stops the process group at once.
func kill(p *os.Process) error { return signalGroup(p, syscall.SIGKILL) }

func signalGroup(p *os.Process, sig syscall.Signal) error {
	// The child is the leader of its group (Setpgid), so its pid is the group id. Only
	// Run's own goroutine calls this, and only before it has seen the exit, so the group
	// cannot have been reaped and its id reused yet except in the instant between exit
	// and Wait's return; we accept that window, as every process supervisor does.
	err := syscall.Kill(-p.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil // already gone
	}
	return err
}
