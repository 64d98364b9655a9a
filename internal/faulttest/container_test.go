package faulttest

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStaticBinary checks what the Dockerfile relies on: built with
// CGO_ENABLED=0 (as Build and the Dockerfile do), the scorer has no
// program interpreter and no shared-library dependencies, so it runs on
// distroless/static with no libc.
func TestStaticBinary(t *testing.T) {
	f, err := elf.Open(bins.Scorer)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the scorer binary has a program interpreter: dynamically linked")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) != 0 {
		t.Errorf("the scorer binary needs shared libraries %v", libs)
	}
}

// TestDockerfile checks the Dockerfile's promises that a reader can miss:
// a Go toolchain stage, a CGO-free build, a non-root final user, a
// writable /data and a health check through `scorer health`.
func TestDockerfile(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for what, re := range map[string]string{
		"a golang:1.26 build stage":        `(?m)^FROM golang:1\.26 AS build$`,
		"CGO disabled":                     `CGO_ENABLED=0 GOOS=linux go build`,
		"a non-root user":                  `(?m)^USER 65532:65532$`,
		"/data owned by that user":         `--chown=65532:65532 /out/data /data`,
		"a health check via scorer health": `HEALTHCHECK .*\n.*"/usr/local/bin/scorer", "health", "http://127\.0\.0\.1:8989/readyz"`,
		"HTTP on all interfaces":           `SCORER_HTTP_ADDR=0\.0\.0\.0:8989`,
	} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("Dockerfile lacks %s (%s)", what, re)
		}
	}
}

// TestComposeFile parses docker-compose.yml with Debian's docker-compose
// (v1, which validates against the file's 3.8 schema). Outside CI it
// skips when docker-compose is not installed; in CI (CI=true) it is
// required: apt-get install -y docker-compose.
func TestComposeFile(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker-compose is not installed (apt-get install -y docker-compose)")
		}
		t.Skip("docker-compose not installed; apt-get install -y docker-compose")
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, profile := range []string{"", "parquet"} {
		args := []string{"-f", filepath.Join(root, "docker-compose.yml")}
		if profile != "" {
			args = append(args, "--profile", profile)
		}
		cmd := exec.Command(bin, append(args, "config")...)
		cmd.Dir = t.TempDir() // no .env or override file from the tree
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose config (profile %q): %v\n%s", profile, err, out)
		}
		for _, want := range []string{"scorer-1", "scorer-2", "SCORER_HTTP_ADDR: 0.0.0.0:8989", "nats-data"} {
			if !regexp.MustCompile(regexp.QuoteMeta(want)).Match(out) {
				t.Errorf("profile %q: resolved config lacks %q", profile, want)
			}
		}
	}
}

// TestDockerignoreKeepsTheBuild checks that .dockerignore leaves every
// file `go build ./cmd/scorer` reads (Go sources and embedded files of the
// module's packages, go.mod, go.sum) in the build context. Patterns are
// matched as Docker does for these simple forms: relative to the context
// root, against the path and each of its parent directories, with "**/"
// matching any depth.
func TestDockerignoreKeepsTheBuild(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(raw), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}
{{end}}{{end}}{{end}}`, "./cmd/scorer")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	for _, f := range files {
		for _, p := range patterns {
			if ignored(p, f) {
				t.Errorf(".dockerignore pattern %q drops %s, which the build needs", p, f)
			}
		}
	}
	t.Logf("%d build inputs, none ignored by %d patterns", len(files), len(patterns))
}

func ignored(pattern, path string) bool {
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		if ok, _ := filepath.Match(pattern, prefix); ok {
			return true
		}
		if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
			for j := 0; j < i; j++ {
				if m, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); m {
					return true
				}
			}
		}
	}
	return false
}
