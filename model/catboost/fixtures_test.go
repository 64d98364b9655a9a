package catboost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// fixtureDir returns the directory of the real CatBoost fixture models:
// $CATBOOST_FIXTURES if set, else ../shared/fixtures/catboost relative to the
// repository root (the directory holding go.mod, found by walking up from the
// package directory, which is the test's working directory). Without
// fixtures the test fails in CI (CI set) and is skipped elsewhere.
func fixtureDir(t testing.TB) string {
	t.Helper()
	dir, why := findFixtureDir()
	if why != "" {
		return missingFixtures(t, why)
	}
	return dir
}

// findFixtureDir locates the fixture directory as fixtureDir does; why says
// what is missing when it is not found.
func findFixtureDir() (dir, why string) {
	if dir := os.Getenv("CATBOOST_FIXTURES"); dir != "" {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir, ""
		}
		return "", "$CATBOOST_FIXTURES=" + dir + " is not a directory"
	}
	root, err := testkit.FindRepoRoot()
	if err != nil {
		return "", err.Error()
	}
	fix := filepath.Join(root, "..", "shared", "fixtures", "catboost")
	if st, err := os.Stat(fix); err == nil && st.IsDir() {
		return fix, ""
	}
	return "", "no fixture directory at " + fix
}

func missingFixtures(t testing.TB, why string) string {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CatBoost fixtures missing in CI: %s", why)
	}
	t.Skipf("CatBoost fixtures missing: %s (set CATBOOST_FIXTURES)", why)
	return ""
}

// fixtureModels lists every model file under the fixture directory
// (model.cbm, model.json, model.json.gz), keyed by "folder/file".
func fixtureModels(t testing.TB) map[string]string {
	t.Helper()
	dir := fixtureDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read fixture dir: %v", err)
	}
	out := make(map[string]string)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, name := range []string{"model.cbm", "model.json", "model.json.gz"} {
			p := filepath.Join(dir, e.Name(), name)
			if _, err := os.Stat(p); err == nil {
				out[e.Name()+"/"+name] = p
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no model files under %s", dir)
	}
	return out
}
