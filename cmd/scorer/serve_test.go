package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/internal/service"
	"github.com/loan-scorer/loan-scorer/internal/testkit"
	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/modelfile"
)

func TestModelLoaderDemoAndFile(t *testing.T) {
	t.Parallel()
	demoModel, err := modelLoader(service.ModelConfig{})()
	if err != nil {
		t.Fatal(err)
	}
	if !demoModel.Demo || !strings.HasPrefix(demoModel.Version, "loan-demo@") || len(demoModel.Version) != len("loan-demo@")+12 {
		t.Errorf("demo model: demo=%v version %q", demoModel.Demo, demoModel.Version)
	}
	if demoModel.Output().Task != model.BinaryClassification || demoModel.Prediction != model.Probability {
		t.Errorf("demo model output %+v prediction %v", demoModel.Output(), demoModel.Prediction)
	}
	for _, name := range []string{"Term", "NoEmp", "State", "Bank", "same_state"} {
		if _, ok := demoModel.Schema().Lookup(name); !ok {
			t.Errorf("demo model lacks the seed feature %s", name)
		}
	}
	if err := service.SelfCheck(demoModel); err != nil {
		t.Errorf("demo model self-check: %v", err)
	}

	path := filepath.Join(testkit.RepoRoot(t), "model", "xgboost", "testdata", "binary_logistic.json")
	m, err := modelLoader(service.ModelConfig{Path: path, Features: []string{"a", "b", "c", "d", "e", "f"}})()
	if err != nil {
		t.Fatal(err)
	}
	if m.Demo || !strings.HasPrefix(m.Version, "binary_logistic@") {
		t.Errorf("file model: demo=%v version %q", m.Demo, m.Version)
	}
	if f, ok := m.Schema().Lookup("c"); !ok || f.FlatIndex != 2 {
		t.Errorf("model.features did not rename: %+v", m.Schema().Features)
	}

	if _, err := modelLoader(service.ModelConfig{Path: filepath.Join(t.TempDir(), "missing.cbm")})(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := modelLoader(service.ModelConfig{Format: "onnx"})(); !errors.Is(err, modelfile.ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	clearEnv(t)
	path := writeFile(t, "batch:\n  max_sise: 3\n")
	root := newRootCmd()
	root.SetArgs([]string{"serve", "--config", path})
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "batch.max_sise") {
		t.Fatalf("serve with an unknown key: %v", err)
	}
}
