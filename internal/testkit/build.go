package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildScorer compiles ./cmd/scorer into dir and returns the binary's
// path. It is built as the container builds it (CGO disabled) and without
// the race detector: the binary is the product, the tests are the checks.
func BuildScorer(dir string) (string, error) {
	return build(dir, "scorer", "./cmd/scorer")
}

// BuildNATSServer compiles the nats-server version go.mod pins into dir
// and returns the binary's path.
func BuildNATSServer(dir string) (string, error) {
	return build(dir, "nats-server", "github.com/nats-io/nats-server/v2")
}

func build(dir, name, pkg string) (string, error) {
	root, err := FindRepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	// -buildvcs=auto: stamp the revision when the repository allows it
	// (`scorer version` reports it), whatever GOFLAGS says.
	cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}
