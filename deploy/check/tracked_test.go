package check

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// script is deploy/check-tracked.sh, run on scratch repositories below.
var script = filepath.Join(root, "deploy", "check-tracked.sh")

// scratchRepo makes a git repository in a temporary directory holding a
// README and a Go source file, both tracked.
func scratchRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is not installed: %v", err)
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	write(t, dir, "README.md", []byte("# scratch\n"), 0o644)
	write(t, dir, "main.go", []byte("package main\n\nfunc main() {}\n"), 0o644)
	write(t, dir, "run.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	git(t, dir, "add", ".")
	return dir
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func write(t *testing.T, dir, name string, data []byte, perm os.FileMode) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// runCheck runs the script on dir and returns its stderr and error.
func runCheck(t *testing.T, dir string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(script)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(abs, dir)
	cmd.Stderr = &stderr
	err = cmd.Run()
	return stderr.String(), err
}

func TestCheckTrackedAcceptsSources(t *testing.T) {
	t.Parallel()
	dir := scratchRepo(t)
	// An untracked binary is no concern of the check: .gitignore keeps it out.
	write(t, dir, "bin/app", append([]byte{0x7f, 'E', 'L', 'F'}, make([]byte, 64)...), 0o755)
	if stderr, err := runCheck(t, dir); err != nil {
		t.Fatalf("clean scratch repository rejected: %v\n%s", err, stderr)
	}
}

func TestCheckTrackedRejectsPlantedFiles(t *testing.T) {
	t.Parallel()
	zeros := make([]byte, 256)
	tests := []struct {
		name string
		path string
		data []byte
		perm os.FileMode
		want string
	}{
		{"ELF binary", "scheduler", append([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1}, zeros...), 0o755, "ELF executable"},
		{"ELF without exec bit", "services/ops/ops", append([]byte{0x7f, 'E', 'L', 'F'}, zeros...), 0o644, "ELF executable"},
		{"Mach-O binary", "bench/bench", append([]byte{0xcf, 0xfa, 0xed, 0xfe}, zeros...), 0o755, "Mach-O executable"},
		{"PE binary", "tool.exe", append([]byte{'M', 'Z', 0x90, 0}, zeros...), 0o644, "PE (Windows) executable"},
		{"executable data", "blob", append([]byte{1, 2, 3}, zeros...), 0o755, "non-text file with the executable bit"},
		{"large text file", "docs/huge.txt", bytes.Repeat([]byte("0123456789abcdef\n"), 70_000), 0o644, "over the 1 MB limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := scratchRepo(t)
			write(t, dir, tc.path, tc.data, tc.perm)
			git(t, dir, "add", tc.path)
			stderr, err := runCheck(t, dir)
			if err == nil {
				t.Fatalf("check passed a repository tracking %s (%s)", tc.path, tc.name)
			}
			if !strings.Contains(stderr, tc.path+": ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr = %q, want it to name %s as %q", stderr, tc.path, tc.want)
			}
		})
	}
}

// TestRepositoryTracksNoBinaries runs the check on this repository.
func TestRepositoryTracksNoBinaries(t *testing.T) {
	t.Parallel()
	if stderr, err := runCheck(t, root); err != nil {
		t.Fatalf("the repository tracks build output: %v\n%s", err, stderr)
	}
}
