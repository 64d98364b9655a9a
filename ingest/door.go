package ingest

import (
	"log/slog"

	"github.com/loan-scorer/loan-scorer/internal/metrics"
	"github.com/loan-scorer/loan-scorer/model"
)

// FrontDoor is what the sync and HTTP front doors work with, wired by the
// service: each request is decoded against the current model, handed to
// the scorer, and answered with the bodies of package sink.
type FrontDoor struct {
	// Models holds the current model; a request is decoded and scored
	// against the one loaded when it arrives.
	Models *model.Holder
	// Decoders returns the decoder of a model (DecoderCache.Get).
	Decoders func(*model.Loaded) *Decoder
	// Scorer takes the requests' jobs (worker.Batcher).
	Scorer Scorer
	// Bodies writes the answers (sink.Bodies).
	Bodies Bodies
	// Metrics receives requests by outcome and their latency; nil records
	// into unregistered collectors.
	Metrics *metrics.Metrics
	// Log receives what the doors log (rate limited); nil logs nothing.
	Log *slog.Logger
}

// withDefaults fills Metrics and Log when unset.
func (d FrontDoor) withDefaults() FrontDoor {
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return d
}

// Bodies writes the JSON bodies the front doors answer with (package
// sink's Bodies): the one encoding of results and errors on every path.
// Each method appends to dst and returns the extended slice, allocating
// nothing beyond its growth.
type Bodies interface {
	// AppendResult appends {"id":...,<value field>,"model":...} for one
	// scored row whose values (m.Width() of them) are out.
	AppendResult(dst []byte, id string, m *model.Loaded, out []float64) []byte
	// AppendPrediction appends the seed's HTTP body of one scored row:
	// {<value field>} without id and model.
	AppendPrediction(dst []byte, m *model.Loaded, out []float64) []byte
	// AppendError appends {"id":...,"error":{"code","message","fields"}};
	// id is left out when empty, fields when empty.
	AppendError(dst []byte, id, code, message string, fields map[string]string) []byte
	// ValueField returns the name of the field that carries m's values
	// ("default_proba", "prediction", "probabilities") and whether it is
	// an array.
	ValueField(m *model.Loaded) (name string, array bool)
}
