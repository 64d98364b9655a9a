package testkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// ErrNoRoot is returned when no directory above the working directory holds
// go.mod.
var ErrNoRoot = errors.New("no go.mod above the working directory")

// FindRepoRoot walks up from the working directory (the package directory
// under go test) to the directory holding go.mod. It is RepoRoot for code
// without a test at hand (TestMain, sync.OnceValues).
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoRoot
		}
		dir = parent
	}
}

// RepoRoot returns the repository root (the directory holding go.mod),
// failing the test when there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
