// Package repo locates the source repository that tests and tools run in.
package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoRoot is returned when no directory above the working directory holds
// go.mod.
var ErrNoRoot = errors.New("no go.mod above the working directory")

// Root walks up from the working directory (the package directory under go
// test) to the directory holding go.mod.
func Root() (string, error) {
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
