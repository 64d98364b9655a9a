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
// writable /data and a health check through `scorer health` that follows
// the configured address; and that the defects found by running it stay
// fixed: no syntax directive (BuildKit would fetch a frontend image, which
// fails offline), no VOLUME (an anonymous volume behind every container),
// no configuration file shipped that nothing reads. scripts/container-test.sh
// builds and runs the image for real.
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
		"a health check via scorer health": `HEALTHCHECK .*\n.*CMD \["/usr/local/bin/scorer", "health"\]`,
		"HTTP on all interfaces":           `SCORER_HTTP_ADDR=0\.0\.0\.0:8989`,
		"--stop-timeout in docker run":     `docker run [^\n]*--stop-timeout 40`,
	} {
		if !regexp.MustCompile(re).Match(b) {
			t.Errorf("Dockerfile lacks %s (%s)", what, re)
		}
	}
	for what, re := range map[string]string{
		"a syntax directive":                  `(?mi)^#\s*syntax\s*=`,
		"a VOLUME":                            `(?m)^VOLUME`,
		"a configuration file copied in":      `(?m)^COPY .*scorer\.yaml`,
		"a health check with a fixed address": `"health", "http`,
	} {
		if regexp.MustCompile(re).Match(b) {
			t.Errorf("Dockerfile has %s (%s)", what, re)
		}
	}
}

// TestComposeFile resolves docker-compose.yml with Debian's docker-compose
// 1.29 (which validates it against the Compose Specification) and checks
// what it resolves to: both workers, the host ports at their defaults and
// moved by the LOAN_SCORER_* variables, the sink built like the workers
// and without the image's HTTP health check, workers and sink read-only
// with no capabilities. Outside CI it skips when
// docker-compose is not installed; in CI (CI=true) it is required:
// apt-get install -y docker-compose. scripts/container-test.sh runs the
// stack for real.
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
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^version:`).Match(raw) {
		t.Error("docker-compose.yml has a top-level version key (obsolete under Compose v2)")
	}
	config := func(t *testing.T, env []string, profile string) string {
		t.Helper()
		args := []string{"-f", filepath.Join(root, "docker-compose.yml")}
		if profile != "" {
			args = append(args, "--profile", profile)
		}
		cmd := exec.Command(bin, append(args, "config")...)
		cmd.Dir = t.TempDir() // no .env or override file from the tree
		cmd.Env = append(composeEnv(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose config (profile %q, %v): %v\n%s", profile, env, err, out)
		}
		return string(out)
	}
	for _, profile := range []string{"", "parquet"} {
		out := config(t, nil, profile)
		for _, want := range []string{"scorer-1", "scorer-2", "SCORER_HTTP_ADDR: 0.0.0.0:8989", "nats-data",
			"image: loan-scorer:local", "127.0.0.1:4222:4222/tcp", "127.0.0.1:8989:8989/tcp", "127.0.0.1:8990:8989/tcp"} {
			if !strings.Contains(out, want) {
				t.Errorf("profile %q: resolved config lacks %q", profile, want)
			}
		}
	}
	moved := config(t, []string{"LOAN_SCORER_NATS_PORT=14222", "LOAN_SCORER_HTTP_PORT_1=18989",
		"LOAN_SCORER_HTTP_PORT_2=18990", "LOAN_SCORER_IMAGE=loan-scorer:other"}, "parquet")
	for svc, want := range map[string]string{
		"nats":         "127.0.0.1:14222:4222/tcp",
		"scorer-1":     "127.0.0.1:18989:8989/tcp",
		"scorer-2":     "127.0.0.1:18990:8989/tcp",
		"parquet-sink": "image: loan-scorer:other",
	} {
		if !strings.Contains(service(moved, svc), want) {
			t.Errorf("with the LOAN_SCORER_* variables set, %s lacks %q:\n%s", svc, want, service(moved, svc))
		}
	}
	full := config(t, nil, "parquet")
	sink := service(full, "parquet-sink")
	for _, want := range []string{"build:", "http://127.0.0.1:8988/readyz", "condition: service_healthy", "profiles:\n    - parquet"} {
		if !strings.Contains(sink, want) {
			t.Errorf("parquet-sink lacks %q:\n%s", want, sink)
		}
	}
	for _, svc := range []string{"scorer-1", "scorer-2", "parquet-sink"} {
		for _, want := range []string{"read_only: true", "cap_drop:\n    - ALL", "no-new-privileges:true"} {
			if !strings.Contains(service(full, svc), want) {
				t.Errorf("%s lacks %q", svc, want)
			}
		}
	}
}

// composeEnv is the environment without LOAN_SCORER_* variables, so that
// a developer's settings do not change what the test resolves.
func composeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LOAN_SCORER_") {
			env = append(env, kv)
		}
	}
	return env
}

// service returns the block of one service in `docker-compose config`
// output (two-space indented under services:), or "" when it is absent.
func service(config, name string) string {
	_, after, ok := strings.Cut(config, "\n  "+name+":\n")
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(after, "\n") {
		if !strings.HasPrefix(line, "    ") {
			break
		}
		b.WriteString(line + "\n")
	}
	return b.String()
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

// TestComposeVariablesDocumented keeps docs/OPERATIONS.md true to
// docker-compose.yml: every ${LOAN_SCORER_...:-default} the file reads is
// named there with its default.
func TestComposeVariablesDocumented(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile(filepath.Join(root, "docs", "OPERATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`\$\{(LOAN_SCORER_[A-Z0-9_]+):-([^}]*)\}`).FindAllStringSubmatch(string(compose), -1)
	if len(vars) < 4 {
		t.Fatalf("docker-compose.yml reads %d LOAN_SCORER_* variables, want at least the image and three ports", len(vars))
	}
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v[1]] {
			continue
		}
		seen[v[1]] = true
		if want := "`" + v[1] + "` (`" + v[2] + "`)"; !strings.Contains(string(ops), want) {
			t.Errorf("docs/OPERATIONS.md does not name %s", want)
		}
	}
}
