package worker

import (
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"

	"github.com/loan-scorer/loan-scorer/model"
)

// Model is a loaded model with its identity. A *Model is immutable once
// published through a Holder; a reload builds a new one and swaps it in.
type Model struct {
	model.Model
	// Version names the model in results: "<name>@<first 12 hex of the model
	// file's sha256>", e.g. "loan-demo@0123456789ab" (see Version).
	Version string
	// Prediction is what results carry, normally Output().Serving().
	Prediction model.PredictionType
	// Demo is true for the illustrative demo model embedded in the binary;
	// GET / then says that its scores mean nothing.
	Demo bool

	// output caches the backend's Output (set by NewModel): hot paths ask
	// for it per batch and per result, and backends may allocate in it.
	output *model.Output
}

// NewModel wraps a backend with the version derived from its file name and
// content and the serving prediction type of its output. Prefer it to a
// struct literal: it also caches the backend's Output.
func NewModel(m model.Model, name string, content []byte, demo bool) *Model {
	return NewVersionedModel(m, Version(name, content), demo)
}

// NewVersionedModel is NewModel for a caller that already knows the version
// (modelfile.File.Version), so the file need not be hashed again.
func NewVersionedModel(m model.Model, version string, demo bool) *Model {
	out := m.Output()
	return &Model{Model: m, Version: version, Prediction: out.Serving(), Demo: demo, output: &out}
}

// Output returns the backend's output description, cached when the Model
// was built by NewModel. The caller must not modify it.
func (m *Model) Output() model.Output {
	if m.output != nil {
		return *m.output
	}
	return m.Model.Output()
}

// Version returns "<name>@<first 12 hex digits of sha256(content)>".
func Version(name string, content []byte) string {
	sum := sha256.Sum256(content)
	return name + "@" + hex.EncodeToString(sum[:6])
}

// Width returns the number of output values per row for the model's
// prediction type.
func (m *Model) Width() int { return m.Output().Width(m.Prediction) }

// Holder holds the current Model; it is safe for concurrent use. Readers call
// Load once per message or request and keep that *Model for the whole job, so
// a reload never mixes two models in one answer.
type Holder struct {
	cur atomic.Pointer[Model]
}

// NewHolder returns a Holder holding m.
func NewHolder(m *Model) *Holder {
	h := &Holder{}
	h.cur.Store(m)
	return h
}

// Load returns the current model.
func (h *Holder) Load() *Model { return h.cur.Load() }

// Swap makes m current and returns the previous model.
func (h *Holder) Swap(m *Model) (old *Model) { return h.cur.Swap(m) }
