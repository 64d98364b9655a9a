package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// File names. Committed files are scores-<first>-<last>.parquet with both
// stream sequences zero-padded to 20 digits (the width of a uint64), so a
// plain sort of the names is their order in the stream. Files being written
// start with a dot and end in .tmp, so readers globbing *.parquet never see
// them; they are removed when a sink starts.
const (
	filePrefix = "scores-"
	fileSuffix = ".parquet"
	tmpPrefix  = ".scores-"
	tmpSuffix  = ".parquet.tmp"
	lockName   = ".scorer-sink.lock"
)

// FileName returns the committed file name for the sequence range first..last.
func FileName(first, last uint64) string {
	return fmt.Sprintf("%s%020d-%020d%s", filePrefix, first, last, fileSuffix)
}

// ParseFileName returns the sequence range of a committed file name.
func ParseFileName(name string) (first, last uint64, ok bool) {
	rest, found := strings.CutPrefix(name, filePrefix)
	if !found {
		return 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, fileSuffix)
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	first, err1 := strconv.ParseUint(a, 10, 64)
	last, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// scanDir removes stale temporary files and returns the highest stream
// sequence held by a committed file (0 when there is none).
func scanDir(dir string) (committed uint64, removed int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("read sink directory %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) && strings.HasSuffix(name, tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return 0, removed, fmt.Errorf("remove stale temporary file: %w", err)
			}
			removed++
			continue
		}
		if _, last, ok := ParseFileName(name); ok && last > committed {
			committed = last
		}
	}
	if removed > 0 {
		if err := syncDir(dir); err != nil {
			return 0, removed, err
		}
	}
	return committed, removed, nil
}

// syncDir fsyncs a directory so that renames and removals in it survive a
// machine crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// valueKind is which value column a file carries, taken from the result
// bodies: default_proba (binary classifiers), prediction (regressors, one
// value or a list), probabilities (multiclass, multi-label).
type valueKind uint8

const (
	kindProba valueKind = iota
	kindPrediction
	kindPredictionList
	kindProbabilities
)

// record is one result as the sink stores it.
type record struct {
	id        string
	model     string
	errorCode string
	scoredAt  time.Time
	kind      valueKind
	hasValue  bool
	scalar    float64
	list      []float64
	// noted is set when the body has note fields (parquet_notes.go):
	// reasons, contributions and unseen are then its notes.
	noted         bool
	reasons       []string
	contributions []float64
	unseen        []string
}

// resultBody is the subset of the JSON result and error bodies (body.go)
// the sink reads.
type resultBody struct {
	ID            string          `json:"id"`
	Model         string          `json:"model"`
	DefaultProba  *float64        `json:"default_proba"`
	Prediction    json.RawMessage `json:"prediction"`
	Probabilities []float64       `json:"probabilities"`
	Error         *struct {
		Code string `json:"code"`
	} `json:"error"`
	// Note fields are only looked at here (parseNotes reads them).
	Reasons      json.RawMessage `json:"reasons"`
	ReasonsError json.RawMessage `json:"reasons_error"`
	Unseen       json.RawMessage `json:"unseen"`
}

// codeInvalidResult marks a message of the results stream whose body is not
// a result: it still gets its row (every message exactly once), with no
// value and this error code.
const codeInvalidResult = "invalid_result"

// parseRecord reads one message of the results stream. Headers win over the
// body for id, model and error code (they are what the publisher set);
// Scored-At falls back to the stream's timestamp.
func parseRecord(body []byte, msgID, model, scoredAt, errorCode string, stored time.Time) record {
	r := record{id: msgID, model: model, errorCode: errorCode}
	if t, err := time.Parse(time.RFC3339Nano, scoredAt); err == nil {
		r.scoredAt = t.UTC()
	} else {
		r.scoredAt = stored.UTC()
	}
	var b resultBody
	if err := json.Unmarshal(body, &b); err != nil {
		if r.errorCode == "" {
			r.errorCode = codeInvalidResult
		}
		return r
	}
	if r.id == "" {
		r.id = b.ID
	}
	if r.model == "" {
		r.model = b.Model
	}
	if b.Error != nil && r.errorCode == "" {
		r.errorCode = b.Error.Code
		if r.errorCode == "" {
			r.errorCode = codeInvalidResult
		}
	}
	if b.Reasons != nil || b.ReasonsError != nil || b.Unseen != nil {
		r.parseNotes(body)
	}
	switch {
	case b.DefaultProba != nil:
		r.kind, r.hasValue, r.scalar = kindProba, true, *b.DefaultProba
	case len(b.Prediction) > 0 && b.Prediction[0] == '[':
		r.kind = kindPredictionList
		r.hasValue = json.Unmarshal(b.Prediction, &r.list) == nil
	case len(b.Prediction) > 0 && string(b.Prediction) != "null":
		r.kind = kindPrediction
		r.hasValue = json.Unmarshal(b.Prediction, &r.scalar) == nil
	case string(b.Prediction) == "null":
		r.kind = kindPrediction // a NaN prediction is written as null
	case b.Probabilities != nil:
		r.kind, r.hasValue, r.list = kindProbabilities, true, b.Probabilities
	}
	return r
}

// Row shapes of the files, one per value kind. Optional strings are null
// when empty (error_code of a scored result, model of an error result).
type (
	probaRow struct {
		ID           string    `parquet:"id"`
		DefaultProba *float64  `parquet:"default_proba,optional"`
		Model        string    `parquet:"model,optional,dict"`
		ScoredAt     time.Time `parquet:"scored_at,timestamp(millisecond:utc)"`
		ErrorCode    string    `parquet:"error_code,optional,dict"`
	}
	predictionRow struct {
		ID         string    `parquet:"id"`
		Prediction *float64  `parquet:"prediction,optional"`
		Model      string    `parquet:"model,optional,dict"`
		ScoredAt   time.Time `parquet:"scored_at,timestamp(millisecond:utc)"`
		ErrorCode  string    `parquet:"error_code,optional,dict"`
	}
	predictionListRow struct {
		ID         string    `parquet:"id"`
		Prediction []float64 `parquet:"prediction,list"`
		Model      string    `parquet:"model,optional,dict"`
		ScoredAt   time.Time `parquet:"scored_at,timestamp(millisecond:utc)"`
		ErrorCode  string    `parquet:"error_code,optional,dict"`
	}
	probabilitiesRow struct {
		ID            string    `parquet:"id"`
		Probabilities []float64 `parquet:"probabilities,list"`
		Model         string    `parquet:"model,optional,dict"`
		ScoredAt      time.Time `parquet:"scored_at,timestamp(millisecond:utc)"`
		ErrorCode     string    `parquet:"error_code,optional,dict"`
	}
)

// rowWriter writes records of one kind into one Parquet file.
type rowWriter interface {
	write(r *record) error
	close() error
}

// typedWriter buffers rows of type T and hands them to a parquet-go writer.
type typedWriter[T any] struct {
	w    *parquet.GenericWriter[T]
	buf  []T
	conv func(*record) T
}

// writeBuffer is how many rows a typedWriter buffers before writing.
const writeBuffer = 512

func (t *typedWriter[T]) write(r *record) error {
	t.buf = append(t.buf, t.conv(r))
	if len(t.buf) >= writeBuffer {
		return t.flush()
	}
	return nil
}

func (t *typedWriter[T]) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.w.Write(t.buf)
	clear(t.buf)
	t.buf = t.buf[:0]
	if err != nil {
		return fmt.Errorf("write parquet rows: %w", err)
	}
	return nil
}

func (t *typedWriter[T]) close() error {
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.w.Close(); err != nil {
		return fmt.Errorf("write parquet footer: %w", err)
	}
	return nil
}

func newTyped[T any](w io.Writer, opts []parquet.WriterOption, conv func(*record) T) rowWriter {
	return &typedWriter[T]{w: parquet.NewGenericWriter[T](w, opts...), buf: make([]T, 0, writeBuffer), conv: conv}
}

func optFloat(r *record) *float64 {
	if !r.hasValue {
		return nil
	}
	v := r.scalar
	return &v
}

// newRowWriter returns the writer of kind k's rows into w.
func newRowWriter(w io.Writer, k valueKind, opts []parquet.WriterOption) rowWriter {
	switch k {
	case kindPrediction:
		return newTyped(w, opts, func(r *record) predictionRow {
			return predictionRow{ID: r.id, Prediction: optFloat(r), Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}
		})
	case kindPredictionList:
		return newTyped(w, opts, func(r *record) predictionListRow {
			return predictionListRow{ID: r.id, Prediction: r.list, Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}
		})
	case kindProbabilities:
		return newTyped(w, opts, func(r *record) probabilitiesRow {
			return probabilitiesRow{ID: r.id, Probabilities: r.list, Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}
		})
	}
	return newTyped(w, opts, func(r *record) probaRow {
		return probaRow{ID: r.id, DefaultProba: optFloat(r), Model: r.model, ScoredAt: r.scoredAt, ErrorCode: r.errorCode}
	})
}

// openFile is the file being filled: a temporary name in the directory
// until commit renames it.
type openFile struct {
	f       *os.File
	w       rowWriter
	kind    valueKind
	noted   bool // with the note columns (parquet_notes.go)
	first   uint64
	last    uint64
	rows    int
	opened  time.Time
	tmpPath string
}

func createFile(dir string, first uint64, k valueKind, noted bool, opts []parquet.WriterOption, now time.Time) (*openFile, error) {
	f, err := os.CreateTemp(dir, fmt.Sprintf("%s%020d-*%s", tmpPrefix, first, tmpSuffix))
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	w := newRowWriter(f, k, opts)
	if noted {
		w = newNotedRowWriter(f, k, opts)
	}
	return &openFile{f: f, w: w, kind: k, noted: noted, first: first, opened: now, tmpPath: f.Name()}, nil
}

// abandon closes and removes the temporary file after a failure.
func (o *openFile) abandon() {
	_ = o.f.Close()
	_ = os.Remove(o.tmpPath)
}

// commit makes the file durable under its final name: footer, fsync,
// rename, directory fsync, calling crash (when set) with the crash point
// between the steps. It returns the final path.
func (o *openFile) commit(dir string, crash func(point string)) (string, error) {
	passed := func(point string) {
		if crash != nil {
			crash(point)
		}
	}
	if err := o.w.close(); err != nil {
		o.abandon()
		return "", err
	}
	passed(FailAfterWrite)
	if err := o.f.Sync(); err != nil {
		o.abandon()
		return "", fmt.Errorf("fsync %s: %w", o.tmpPath, err)
	}
	passed(FailAfterFsync)
	if err := o.f.Close(); err != nil {
		_ = os.Remove(o.tmpPath)
		return "", fmt.Errorf("close %s: %w", o.tmpPath, err)
	}
	if err := os.Chmod(o.tmpPath, 0o644); err != nil {
		_ = os.Remove(o.tmpPath)
		return "", fmt.Errorf("chmod %s: %w", o.tmpPath, err)
	}
	final := filepath.Join(dir, FileName(o.first, o.last))
	if err := os.Rename(o.tmpPath, final); err != nil {
		_ = os.Remove(o.tmpPath)
		return "", fmt.Errorf("rename to %s: %w", final, err)
	}
	if err := syncDir(dir); err != nil {
		return "", errors.Join(err, os.Remove(final))
	}
	passed(FailAfterRename)
	return final, nil
}
