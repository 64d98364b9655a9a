// Package layers_test checks the direction data flows in, which the
// folders show (docs/ARCHITECTURE.md): ingest → worker → sink, with model
// underneath, and test support never in production code.
package layers_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/loan-scorer/loan-scorer/"

// forbidden lists, for the packages under a folder, the folders none of
// their production dependencies (direct or not) may be under.
var forbidden = []struct {
	under   string
	imports []string
	why     string
}{
	{"ingest", []string{"worker", "sink"}, "applications come in before they are scored and stored: a front door takes the small interface it calls (ingest.Scorer, ingest.Bodies)"},
	{"sink", []string{"worker", "ingest"}, "results go out last: sink knows results and the model (model.Loaded), not who made them"},
	{"worker", []string{"internal/service", "cmd"}, "the wiring happens in one place, above the layers"},
	{"model", []string{"ingest", "worker", "sink", "internal/service"}, "models sit underneath every path"},
}

// testOnly are folders of test support that production code never imports
// (internal/containercheck is the host-side check scripts/container-test.sh
// runs against the containers).
var testOnly = []string{"internal/testkit", "model/modeltest", "internal/faulttest", "internal/containercheck"}

func isTestOnly(p string) bool {
	for _, dir := range testOnly {
		if under(p, dir) {
			return true
		}
	}
	return false
}

// under reports whether the import path p is the folder dir or below it.
func under(p, dir string) bool {
	rel, ok := strings.CutPrefix(p, module)
	return ok && (rel == dir || strings.HasPrefix(rel, dir+"/"))
}

// packages returns every package of the module with its production
// dependencies (go list's Deps: what its non-test files import, direct or
// not).
func packages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			pkgs[fields[0]] = fields[1:]
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	return pkgs
}

// TestLayers fails on a dependency against the flow of data.
func TestLayers(t *testing.T) {
	pkgs := packages(t)
	for pkg, deps := range pkgs {
		for _, rule := range forbidden {
			if !under(pkg, rule.under) {
				continue
			}
			for _, dep := range deps {
				for _, bad := range rule.imports {
					if under(dep, bad) {
						t.Errorf("%s depends on %s: nothing under %s/ may depend on %s/ (%s)", pkg, dep, rule.under, bad, rule.why)
					}
				}
			}
		}
		if isTestOnly(pkg) {
			continue
		}
		for _, dep := range deps {
			if isTestOnly(dep) {
				t.Errorf("%s (production code) depends on %s, which is test support", pkg, dep)
			}
		}
	}
	for _, dir := range []string{"ingest", "worker", "sink", "model"} {
		if _, ok := pkgs[module+dir]; !ok {
			t.Errorf("no package %s: the layers moved; update this test and docs/ARCHITECTURE.md", dir)
		}
	}
}
