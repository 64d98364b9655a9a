package faulttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/loan-scorer/loan-scorer/internal/repo"
)

// Binaries are the executables the tests run.
type Binaries struct {
	// Scorer is `go build ./cmd/scorer`.
	Scorer string
	// NATSServer is `go build github.com/nats-io/nats-server/v2`, the
	// version go.mod pins.
	NATSServer string
}

// RepoRoot walks up from the working directory to the directory holding
// go.mod (go test runs in the package directory).
func RepoRoot() (string, error) {
	dir, err := repo.Root()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrSetup, err)
	}
	return dir, nil
}

// Build compiles both binaries into dir. The scorer is built without the
// race detector (the binaries are the product, the tests are the checks)
// and with CGO disabled, as the container builds it.
func Build(dir string) (Binaries, error) {
	root, err := RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{Scorer: filepath.Join(dir, "scorer"), NATSServer: filepath.Join(dir, "nats-server")}
	for _, step := range []struct{ out, pkg string }{
		{b.Scorer, "./cmd/scorer"},
		{b.NATSServer, "github.com/nats-io/nats-server/v2"},
	} {
		cmd := exec.Command("go", "build", "-o", step.out, step.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", step.pkg, err, out)
		}
	}
	return b, nil
}
