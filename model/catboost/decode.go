package catboost

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// Format is a CatBoost model file format.
type Format uint8

const (
	// FormatUnknown is content that is not recognisably a CatBoost model.
	FormatUnknown Format = iota
	// FormatCBM is CatBoost's binary format (magic "CBM1").
	FormatCBM
	// FormatJSON is CatBoost's JSON export.
	FormatJSON
	// FormatJSONGzip is a gzip-compressed JSON export.
	FormatJSONGzip
)

// String returns "cbm", "json", "json.gz" or "unknown".
func (f Format) String() string {
	switch f {
	case FormatCBM:
		return "cbm"
	case FormatJSON:
		return "json"
	case FormatJSONGzip:
		return "json.gz"
	case FormatUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

const (
	// maxGunzipSize bounds the decompressed size of a gzipped JSON model.
	maxGunzipSize = 1 << 30
	// minGunzipAllowance is what any gzip input may expand to, whatever its
	// ratio; beyond it, the expansion may be at most maxGunzipRatio times the
	// compressed size. Real CatBoost JSON compresses 2–10×; gzip's own
	// maximum is about 1032×, which only crafted input reaches.
	minGunzipAllowance = 16 << 20
	maxGunzipRatio     = 200
)

var (
	cbmMagic  = []byte("CBM1")
	gzipMagic = []byte{0x1f, 0x8b}
	utf8BOM   = []byte{0xef, 0xbb, 0xbf}
)

// catboostJSONKeys are top-level keys only a CatBoost JSON export has
// (XGBoost and LightGBM JSON have neither).
var catboostJSONKeys = [][]byte{[]byte(`"features_info"`), []byte(`"oblivious_trees"`)}

// DetectFormat tells from content alone which CatBoost format data holds:
// FormatCBM for the "CBM1" magic; FormatJSONGzip for gzip whose decompressed
// text (read up to the size bounds Decode applies) is a CatBoost JSON export;
// FormatJSON for a JSON object (after an optional BOM and whitespace) that
// has a "features_info" or "oblivious_trees" key; FormatUnknown otherwise,
// including other gzip content and other JSON documents such as XGBoost's.
func DetectFormat(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, cbmMagic):
		return FormatCBM
	case bytes.HasPrefix(data, gzipMagic):
		if gzipHasCatboostJSON(data) {
			return FormatJSONGzip
		}
		return FormatUnknown
	case looksLikeCatboostJSON(data):
		return FormatJSON
	}
	return FormatUnknown
}

func looksLikeCatboostJSON(data []byte) bool {
	data = trimJSONStart(data)
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	for _, k := range catboostJSONKeys {
		if bytes.Contains(data, k) {
			return true
		}
	}
	return false
}

// gzipHasCatboostJSON streams the decompressed text looking for a CatBoost
// JSON key, keeping only a small overlap between chunks.
func gzipHasCatboostJSON(data []byte) bool {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return false
	}
	defer zr.Close()
	r := io.LimitReader(zr, gunzipLimit(len(data)))
	const overlap = 32
	buf := make([]byte, 64<<10)
	n, start := 0, true
	for {
		m, err := io.ReadFull(r, buf[n:])
		chunk := buf[:n+m]
		if start {
			t := trimJSONStart(chunk)
			if len(t) == 0 && err == nil {
				n = 0
				continue
			}
			if len(t) == 0 || t[0] != '{' {
				return false
			}
			start = false
		}
		for _, k := range catboostJSONKeys {
			if bytes.Contains(chunk, k) {
				return true
			}
		}
		if err != nil {
			return false
		}
		n = copy(buf, chunk[len(chunk)-overlap:])
	}
}

// trimJSONStart drops a UTF-8 byte order mark and leading JSON whitespace.
func trimJSONStart(data []byte) []byte {
	data = bytes.TrimPrefix(data, utf8BOM)
	return bytes.TrimLeft(data, " \t\r\n")
}

// gunzipLimit is the most a gzip input of n bytes may decompress to.
func gunzipLimit(n int) int64 {
	limit := int64(n) * maxGunzipRatio
	if limit < minGunzipAllowance {
		limit = minGunzipAllowance
	}
	if limit > maxGunzipSize {
		limit = maxGunzipSize
	}
	return limit
}

// Decode decodes a CatBoost model in any supported format, chosen from
// content: the "CBM1" magic (or "CBM" and another byte) means .cbm, the gzip
// magic means gzipped JSON
// (decompressed under a size bound), anything else is decoded as JSON. The
// result has passed Validate. Errors are *FormatError (undecodable input,
// possibly wrapping ErrTruncated or ErrUnsupported) or *ValidationError
// (decoded but inconsistent, wrapping ErrInvalid).
func Decode(data []byte) (*Definition, error) {
	switch {
	case bytes.HasPrefix(data, cbmMagic[:3]) || len(data) > 0 && len(data) < len(cbmMagic) && bytes.HasPrefix(cbmMagic, data):
		// "CBM" with another version byte, or a file cut inside the magic:
		// the .cbm decoder says what is wrong better than a JSON error.
		return DecodeCBM(data)
	}
	return DecodeJSON(data)
}

// gunzip decompresses data, refusing output beyond gunzipLimit.
func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, &FormatError{Format: FormatJSONGzip, Offset: -1, Reason: "bad gzip header", Err: err}
	}
	defer zr.Close()
	limit := gunzipLimit(len(data))
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, limit+1))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &FormatError{Format: FormatJSONGzip, Offset: -1, Reason: "gzip stream ends early", Err: ErrTruncated}
	case err != nil:
		return nil, &FormatError{Format: FormatJSONGzip, Offset: -1, Reason: "bad gzip stream", Err: err}
	case n > limit:
		return nil, &FormatError{Format: FormatJSONGzip, Offset: -1,
			Reason: fmt.Sprintf("decompresses to more than %d bytes (limit for %d compressed bytes)", limit, len(data))}
	}
	return out.Bytes(), nil
}
