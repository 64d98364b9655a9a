package main

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
)

// TestReadmeDocumentsEveryKey keeps the README's configuration table true to
// the code: every key the configuration struct has must appear there as a
// `key` table cell, and the table must name no key the code lacks.
func TestReadmeDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	keys := map[string]any{}
	flattenDefaults(reflect.ValueOf(service.DefaultConfig()), "", keys)
	readme, err := os.ReadFile(filepath.Join(testkit.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The table is the run of "| `key` | default | meaning |" rows in the
	// "## Configuration" section.
	section := string(readme)
	if _, after, ok := strings.Cut(section, "\n## Configuration\n"); ok {
		section, _, _ = strings.Cut(after, "\n## ")
	} else {
		t.Fatal("README has no \"## Configuration\" section")
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if cell, ok := strings.CutPrefix(line, "| `"); ok {
			if key, _, ok := strings.Cut(cell, "`"); ok {
				documented[key] = true
			}
		}
	}
	var missing, unknown []string
	for k := range keys {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if _, ok := keys[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(unknown)
	if len(missing) > 0 {
		t.Errorf("README configuration table lacks %d keys: %v", len(missing), missing)
	}
	if len(unknown) > 0 {
		t.Errorf("README configuration table names keys the code does not have: %v", unknown)
	}
}
