package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/leaves"
	"github.com/loan-scorer/loan-scorer/model/xgboost"
)

// Format names a model file format.
type Format string

// The supported formats.
const (
	// CatBoostCBM is CatBoost's binary format (save_model default).
	CatBoostCBM Format = "catboost-cbm"
	// CatBoostJSON is CatBoost's JSON export, plain or gzipped.
	CatBoostJSON Format = "catboost-json"
	// LightGBM is LightGBM's text model format (v2, v3, v4).
	LightGBM Format = "lightgbm"
	// XGBoostJSON is XGBoost's JSON model format (1.0 and later).
	XGBoostJSON Format = "xgboost-json"
	// XGBoostBinary is XGBoost's old binary format (0.90 and earlier load;
	// newer files are refused with a hint to save as JSON).
	XGBoostBinary Format = "xgboost-binary"
)

// Formats lists every supported format.
func Formats() []Format {
	return []Format{CatBoostCBM, CatBoostJSON, LightGBM, XGBoostJSON, XGBoostBinary}
}

// ParseFormat checks a format name as configured (model.format); "" means
// detect from content.
func ParseFormat(s string) (Format, error) {
	if s == "" {
		return "", nil
	}
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w: %q (want one of catboost-cbm, catboost-json, lightgbm, xgboost-json, xgboost-binary)", ErrUnknownFormat, s)
}

// DefaultMaxSize is the largest model file Open reads unless Options say
// otherwise.
const DefaultMaxSize = 1 << 30

// Options tune how a model file is read.
type Options struct {
	// Format forces the format; "" detects it from the content.
	Format Format
	// FeatureNames renames the features in flat order; its length must
	// match the model's feature count. Empty keeps the model's names.
	FeatureNames []string
	// MaxSize bounds the file size Open reads; 0 means DefaultMaxSize.
	MaxSize int64
}

// File is a loaded model and what identifies it.
type File struct {
	Model  model.Model
	Format Format
	// Name is the file's base name without its model extensions
	// ("loan_catboost_model" for loan_catboost_model.cbm).
	Name string
	// SHA256 is the digest of the file's bytes.
	SHA256 [32]byte
}

// Version returns Name + "@" + the first 12 hex digits of SHA256: how results
// name the model.
func (f *File) Version() string {
	return f.Name + "@" + hex.EncodeToString(f.SHA256[:6])
}

// Open reads and loads the model file at path.
func Open(path string, opts Options) (*File, error) {
	data, err := readLimited(path, opts.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", path, err)
	}
	f, err := Parse(baseName(path), data, opts)
	if err != nil {
		return nil, fmt.Errorf("open model %s: %w", path, err)
	}
	return f, nil
}

// readLimited reads the file at path, refusing one larger than max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxSize
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, st.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, max)
	}
	return data, nil
}

// baseName returns path's file name without its model extensions
// ("m.json.gz" → "m").
func baseName(path string) string {
	name := filepath.Base(path)
	for {
		ext := strings.ToLower(filepath.Ext(name))
		if ext == "" || ext == name || !isModelExtension(ext) {
			return name
		}
		name = name[:len(name)-len(ext)]
	}
}

// isModelExtension reports whether ext (lower case, with the dot) is one
// baseName strips.
func isModelExtension(ext string) bool {
	switch ext {
	case ".gz", ".cbm", ".json", ".txt", ".model", ".bin", ".ubj", ".lgb", ".xgb":
		return true
	}
	return false
}

// Parse loads a model from data; name names it in File.Version.
func Parse(name string, data []byte, opts Options) (*File, error) {
	format := opts.Format
	if format == "" {
		var err error
		if format, err = Detect(data); err != nil {
			return nil, err
		}
	}
	m, err := load(format, data)
	if err != nil {
		return nil, fmt.Errorf("load %s model: %w", format, err)
	}
	if len(opts.FeatureNames) > 0 {
		if m, err = Rename(m, opts.FeatureNames); err != nil {
			return nil, err
		}
	}
	return &File{Model: m, Format: format, Name: name, SHA256: sha256.Sum256(data)}, nil
}

// load runs the loader of format on data.
func load(format Format, data []byte) (model.Model, error) {
	switch format {
	case CatBoostCBM, CatBoostJSON:
		return catboost.Load(data)
	case XGBoostJSON:
		return xgboost.Load(data)
	case LightGBM:
		return leaves.LoadLightGBM(data)
	case XGBoostBinary:
		return leaves.LoadXGBoostBinary(data)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownFormat, format)
}

// Detect tells the format of a model from its content alone.
func Detect(data []byte) (Format, error) {
	switch catboost.DetectFormat(data) {
	case catboost.FormatCBM:
		return CatBoostCBM, nil
	case catboost.FormatJSON, catboost.FormatJSONGzip:
		return CatBoostJSON, nil
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(data, []byte{0xef, 0xbb, 0xbf}), " \t\r\n")
	if len(text) > 0 && text[0] == '{' {
		rest := bytes.TrimLeft(text[1:], " \t\r\n")
		if len(rest) > 0 && rest[0] != '"' && rest[0] != '}' {
			// UBJSON: '{' followed by a type marker, not a quoted key.
			if bytes.Contains(data[:min(len(data), 64)], []byte("learner")) {
				return "", ErrXGBoostUBJSON
			}
			return "", fmt.Errorf("%w: binary content starting with '{'", ErrUnknownFormat)
		}
		if bytes.Contains(text, []byte(`"learner"`)) {
			return XGBoostJSON, nil
		}
		return "", fmt.Errorf("%w: a JSON document that is neither a CatBoost export nor an XGBoost model", ErrUnknownFormat)
	}
	if leaves.IsLightGBM(data) {
		return LightGBM, nil
	}
	if leaves.IsXGBoostBinary(data) {
		return XGBoostBinary, nil
	}
	if bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
		return "", fmt.Errorf("%w: gzip content that is not a CatBoost JSON export", ErrUnknownFormat)
	}
	return "", ErrUnknownFormat
}
