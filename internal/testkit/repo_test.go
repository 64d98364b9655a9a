package testkit

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindRepoRootFindsGoMod(t *testing.T) {
	root, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// This file lives two levels below the root, in internal/testkit.
	if _, err := os.Stat(filepath.Join(root, "internal", "testkit", "repo.go")); err != nil {
		t.Errorf("FindRepoRoot() = %s, which does not hold internal/testkit/repo.go: %v", root, err)
	}
}

func TestFindRepoRootOutsideARepository(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := FindRepoRoot(); !errors.Is(err, ErrNoRoot) {
		t.Errorf("FindRepoRoot() outside a repository: %v, want ErrNoRoot", err)
	}
}
