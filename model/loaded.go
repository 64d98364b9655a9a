package model

import (
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
)

// Loaded is a model loaded for serving, with its identity. A *Loaded is
// immutable once published through a Holder; a reload builds a new one and
// swaps it in. Every path scores a job with the *Loaded it was decoded
// against, so a reload never mixes two models in one answer.
type Loaded struct {
	Model
	// Version names the model in results: "<name>@<first 12 hex of the model
	// file's sha256>", e.g. "loan-demo@0123456789ab" (see Version).
	Version string
	// Prediction is what results carry, normally Output().Serving().
	Prediction PredictionType
	// Demo is true for the illustrative demo model embedded in the binary;
	// GET / then says that its scores mean nothing.
	Demo bool

	// output caches the backend's Output (set by NewLoaded): hot paths ask
	// for it per batch and per result, and backends may allocate in it.
	output *Output
}

// NewLoaded wraps a backend with its version (Version, or
// modelfile.File.Version) and the serving prediction type of its output.
// Prefer it to a struct literal: it also caches the backend's Output.
func NewLoaded(m Model, version string, demo bool) *Loaded {
	out := m.Output()
	return &Loaded{Model: m, Version: version, Prediction: out.Serving(), Demo: demo, output: &out}
}

// Output returns the backend's output description, cached when the Loaded
// was built by NewLoaded. The caller must not modify it.
func (m *Loaded) Output() Output {
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
func (m *Loaded) Width() int { return m.Output().Width(m.Prediction) }

// Holder holds the current Loaded model; it is safe for concurrent use.
// Readers call Load once per message or request and keep that *Loaded for
// the whole job, so a reload never mixes two models in one answer.
type Holder struct {
	cur atomic.Pointer[Loaded]
}

// NewHolder returns a Holder holding m.
func NewHolder(m *Loaded) *Holder {
	h := &Holder{}
	h.cur.Store(m)
	return h
}

// Load returns the current model.
func (h *Holder) Load() *Loaded { return h.cur.Load() }

// Swap makes m current and returns the previous model.
func (h *Holder) Swap(m *Loaded) (old *Loaded) { return h.cur.Swap(m) }
