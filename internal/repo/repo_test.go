package repo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRootFindsGoMod(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	// This file lives two levels below the root, in internal/repo.
	if _, err := os.Stat(filepath.Join(root, "internal", "repo", "repo.go")); err != nil {
		t.Errorf("Root() = %s, which does not hold internal/repo/repo.go: %v", root, err)
	}
}

func TestRootOutsideARepository(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := Root(); !errors.Is(err, ErrNoRoot) {
		t.Errorf("Root() outside a repository: %v, want ErrNoRoot", err)
	}
}
