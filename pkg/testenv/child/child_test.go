package child_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/pickmyclass/pickmyclass/pkg/testenv/child"
)

func TestStopAndKill(t *testing.T) {
	t.Parallel()
	p, err := child.Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Alive() {
		t.Fatal("sleep exited at once")
	}
	start := time.Now()
	p.Stop(time.Minute)
	if p.Alive() || time.Since(start) > 10*time.Second {
		t.Fatalf("SIGTERM did not end sleep promptly (alive %t after %s)", p.Alive(), time.Since(start))
	}
	if p.Err() == nil {
		t.Error("a process ended by a signal reports no error")
	}
	p.Stop(time.Minute) // stopping an exited process does nothing

	// A process that ignores SIGTERM is killed once the grace is over.
	stubborn, err := child.Start(exec.Command("sh", "-c", `trap "" TERM; exec sleep 60`))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	stubborn.Stop(200 * time.Millisecond)
	if stubborn.Alive() || time.Since(start) > 10*time.Second {
		t.Fatalf("a process ignoring SIGTERM outlived the grace (alive %t after %s)", stubborn.Alive(), time.Since(start))
	}

	crashed, err := child.Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	crashed.Kill()
	select {
	case <-crashed.Done():
	default:
		t.Fatal("Kill returned before the process exited")
	}
}
