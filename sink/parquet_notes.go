package sink

import (
	"encoding/json"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
)

// A result that carries notes (note.go: "reasons", "reasons_error",
// "unseen") is written to a file with three more columns after the
// seed's, so that what was asked for is kept:
//
//	reasons               list<string>  the reasons in order: a reason code, or the feature
//	reason_contributions  list<double>  their contributions, in the same order (NaN for null)
//	unseen                list<string>  the features whose value the model never saw
//
// A file has one schema, so the sink starts a new file at the first result
// with notes, and every file after it in the same run has these columns
// (empty lists for a result without notes), rather than a file per change.

// noteCols are the note columns, embedded in a row type (parquet-go
// inlines an embedded struct's fields).
type noteCols struct {
	Reasons       []string  `parquet:"reasons,list"`
	Contributions []float64 `parquet:"reason_contributions,list"`
	Unseen        []string  `parquet:"unseen,list"`
}

type (
	probaNotedRow struct {
		probaRow
		noteCols
	}
	predictionNotedRow struct {
		predictionRow
		noteCols
	}
	predictionListNotedRow struct {
		predictionListRow
		noteCols
	}
	probabilitiesNotedRow struct {
		probabilitiesRow
		noteCols
	}
)

// noteBody is the part of a result body parseNotes reads.
type noteBody struct {
	Reasons []struct {
		Code         string   `json:"code"`
		Feature      string   `json:"feature"`
		Contribution *float64 `json:"contribution"`
	} `json:"reasons"`
	ReasonsError json.RawMessage `json:"reasons_error"`
	Unseen       []string        `json:"unseen"`
}

// parseNotes fills r's notes from a result body that has any (b is the
// body as parsed by parseRecord, which saw a note field).
func (r *record) parseNotes(body []byte) {
	var b noteBody
	if err := json.Unmarshal(body, &b); err != nil {
		return // parseRecord read it: only a mistyped note field fails
	}
	r.noted = b.Reasons != nil || b.ReasonsError != nil || b.Unseen != nil
	for _, rs := range b.Reasons {
		name := rs.Code
		if name == "" {
			name = rs.Feature
		}
		c := math.NaN()
		if rs.Contribution != nil {
			c = *rs.Contribution
		}
		r.reasons = append(r.reasons, name)
		r.contributions = append(r.contributions, c)
	}
	r.unseen = b.Unseen
}

func (r *record) notes() noteCols {
	return noteCols{Reasons: r.reasons, Contributions: r.contributions, Unseen: r.unseen}
}

// newNotedRowWriter returns the writer of kind k's rows with the note
// columns into w.
func newNotedRowWriter(w io.Writer, k valueKind, opts []parquet.WriterOption) rowWriter {
	switch k {
	case kindPrediction:
		return newTyped(w, opts, func(r *record) predictionNotedRow {
			return predictionNotedRow{predictionRow{ID: r.id, Prediction: optFloat(r), Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}, r.notes()}
		})
	case kindPredictionList:
		return newTyped(w, opts, func(r *record) predictionListNotedRow {
			return predictionListNotedRow{predictionListRow{ID: r.id, Prediction: r.list, Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}, r.notes()}
		})
	case kindProbabilities:
		return newTyped(w, opts, func(r *record) probabilitiesNotedRow {
			return probabilitiesNotedRow{probabilitiesRow{ID: r.id, Probabilities: r.list, Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}, r.notes()}
		})
	}
	return newTyped(w, opts, func(r *record) probaNotedRow {
		return probaNotedRow{probaRow{ID: r.id, DefaultProba: optFloat(r), Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}, r.notes()}
	})
}
