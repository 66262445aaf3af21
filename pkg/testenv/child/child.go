// Package child runs service binaries as child processes, for the tests
// that kill workers and schedulers and for the benchmarks: start one, watch
// for its exit, stop it gracefully or kill it as a crash would. It depends
// on the standard library only, so the benchmark program can use it without
// the test harness.
package child

import (
	"os/exec"
	"syscall"
	"time"
)

// Process is a service binary running as a child process.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, once done is closed
}

// Start starts cmd and watches for its exit in the background.
func Start(cmd *exec.Cmd) (*Process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process exited; call it after Done is closed.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Kill ends the process at once, as a crash would, and waits for it.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to shut down (SIGTERM) and kills it if it has not
// exited after grace. Stopping an exited process does nothing.
func (p *Process) Stop(grace time.Duration) {
	if !p.Alive() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.Kill()
	}
}
