package reason

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Codes is a reason-code mapping: which features a reason code stands for.
// The SHAP contributions of a code's features are summed into one reason;
// a feature no code names is a reason of its own. Read it with ParseCodes
// or LoadCodes, which validate it; NewRanker then checks it against a
// model's features.
//
// The YAML form (configs/reason-codes.yaml has the demo model's):
//
//	codes:
//	  - code: L01
//	    text: Amount of the loan
//	    features: [GrAppv, SBA_Appv]
//	  - code: T01
//	    text: Term of the loan
//	    features: [Term]
type Codes struct {
	Codes []Code `yaml:"codes"`
}

// Code is one reason code.
type Code struct {
	// Code is the short code written into results ("L01").
	Code string `yaml:"code"`
	// Text is the reason as a person reads it ("Amount of the loan").
	Text string `yaml:"text"`
	// Features are the model features whose contributions the code sums,
	// by the names in the model.
	Features []string `yaml:"features"`
}

// Bounds of a mapping: it is configuration, but a file named by a key may
// come from anywhere, so what reading it costs stays bounded.
const (
	// MaxCodesBytes is the largest mapping file read.
	MaxCodesBytes = 1 << 20
	// MaxCodeLen and MaxTextLen bound a code and its text in bytes: they
	// are written into every result that names them.
	MaxCodeLen = 64
	MaxTextLen = 256
)

// ErrCodes marks a reason-code mapping that cannot be used; the message
// says which entry and why.
var ErrCodes = errors.New("invalid reason-code mapping")

// LoadCodes reads and validates the mapping in the YAML file at path.
func LoadCodes(path string) (*Codes, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reason codes: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reason codes %s: %w: not a regular file", path, ErrCodes)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxCodesBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reason codes %s: %w", path, err)
	}
	c, err := ParseCodes(data)
	if err != nil {
		return nil, fmt.Errorf("reason codes %s: %w", path, err)
	}
	return c, nil
}

// ParseCodes reads and validates a mapping in its YAML form. Unknown keys,
// an empty code, text or feature list, a code or text over its bound, a
// code given twice and a feature named by two codes are errors wrapping
// ErrCodes that name the entry.
func ParseCodes(data []byte) (*Codes, error) {
	if len(data) > MaxCodesBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrCodes, len(data), MaxCodesBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Codes
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrCodes, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrCodes)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the mapping on its own (NewRanker checks it against a
// model); errors wrap ErrCodes and name the entry.
func (c *Codes) Validate() error {
	codes := make(map[string]int, len(c.Codes))
	owner := map[string]string{}
	for i, e := range c.Codes {
		at := fmt.Sprintf("codes[%d]", i)
		if e.Code != "" {
			at += fmt.Sprintf(" (%q)", clip(e.Code))
		}
		switch {
		case !printable(e.Code):
			return fmt.Errorf("%w: %s: code must be printable text without leading or trailing spaces", ErrCodes, at)
		case len(e.Code) > MaxCodeLen:
			return fmt.Errorf("%w: %s: code of %d bytes, more than %d", ErrCodes, at, len(e.Code), MaxCodeLen)
		case !printable(e.Text):
			return fmt.Errorf("%w: %s: text must be printable text without leading or trailing spaces", ErrCodes, at)
		case len(e.Text) > MaxTextLen:
			return fmt.Errorf("%w: %s: text of %d bytes, more than %d", ErrCodes, at, len(e.Text), MaxTextLen)
		case len(e.Features) == 0:
			return fmt.Errorf("%w: %s: no features", ErrCodes, at)
		}
		if j, dup := codes[e.Code]; dup {
			return fmt.Errorf("%w: %s: the code of codes[%d] again", ErrCodes, at, j)
		}
		codes[e.Code] = i
		for _, f := range e.Features {
			if f == "" {
				return fmt.Errorf("%w: %s: an empty feature name", ErrCodes, at)
			}
			if prev, taken := owner[f]; taken {
				return fmt.Errorf("%w: %s: feature %q is already under code %q (a feature has one code)", ErrCodes, at, clip(f), clip(prev))
			}
			owner[f] = e.Code
		}
	}
	return nil
}

// printable reports whether s is non-empty valid UTF-8 of printable
// characters, without leading or trailing space.
func printable(s string) bool {
	if s == "" || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		return strings.ToValidUTF8(s[:maxLen], "") + "..."
	}
	return s
}
