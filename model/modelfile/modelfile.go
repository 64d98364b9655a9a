package modelfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

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
	return "", fmt.Errorf("%w: %q (want empty to detect, or one of %s)", ErrUnknownFormat, s, FormatList())
}

// FormatList names every supported format for messages and help texts:
// "catboost-cbm, catboost-json, lightgbm, xgboost-json, xgboost-binary".
func FormatList() string {
	names := make([]string, 0, len(Formats()))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// DefaultMaxSize is the largest model file Open reads unless Options say
// otherwise (1 GiB: the largest CatBoost models seen are a few hundred MB).
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

// Open reads and loads the model file at path. Only a regular file (or a
// symbolic link to one) is read, and only when its size is within
// opts.MaxSize: a FIFO, a device such as /dev/zero, a directory or a file
// over the limit is refused with ErrNotRegular or ErrTooLarge before a
// byte is read. The file is opened without blocking, so a FIFO without a
// writer is refused at once instead of hanging the open. A read that blocks
// inside the kernel (a hung network mount) still blocks Open: run it where
// a caller can walk away from it (internal/service does).
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

// readLimited reads the regular file at path, refusing anything else and
// a file larger than max bytes (checked before reading, and again while
// reading in case the file grows).
func readLimited(path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxSize
	}
	// O_NONBLOCK makes opening a FIFO return at once instead of waiting
	// for a writer; it changes nothing for a regular file, the only kind
	// read below.
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s", ErrNotRegular, describeMode(st.Mode()))
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, st.Size(), max)
	}
	data := make([]byte, 0, st.Size()+1)
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(io.LimitReader(fh, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, fmt.Errorf("%w: grew past %d bytes while read", ErrTooLarge, max)
	}
	return buf.Bytes(), nil
}

// describeMode names a file type that is not a regular file.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "not a regular file (mode " + m.String() + ")"
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
