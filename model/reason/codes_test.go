package reason_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loan-scorer/loan-scorer/model/reason"
)

// TestParseCodesRefuses: every way a mapping can be unusable is an error
// wrapping ErrCodes that says where.
func TestParseCodesRefuses(t *testing.T) {
	long := strings.Repeat("x", reason.MaxTextLen+1)
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "codes:\n- {code: A, text: T, features: [x], weight: 2}\n", "weight"},
		{"unknown top key", "reasons: []\n", "reasons"},
		{"no code", "codes:\n- {text: T, features: [x]}\n", "codes[0]: code"},
		{"code with spaces around", "codes:\n- {code: ' A', text: T, features: [x]}\n", "codes[0]"},
		{"control character", "codes:\n- {code: \"A\\u0007\", text: T, features: [x]}\n", "printable"},
		{"no text", "codes:\n- {code: A, features: [x]}\n", `codes[0] ("A"): text`},
		{"long text", "codes:\n- {code: A, text: " + long + ", features: [x]}\n", "more than 256"},
		{"no features", "codes:\n- {code: A, text: T}\n", "no features"},
		{"empty feature", "codes:\n- {code: A, text: T, features: ['']}\n", "empty feature"},
		{"code twice", "codes:\n- {code: A, text: T, features: [x]}\n- {code: A, text: U, features: [y]}\n", `codes[1] ("A"): the code of codes[0] again`},
		{"feature twice", "codes:\n- {code: A, text: T, features: [x]}\n- {code: B, text: U, features: [y, x]}\n", `feature "x" is already under code "A"`},
		{"not a list", "codes: {A: x}\n", "cannot unmarshal"},
		{"two documents", "codes: []\n---\ncodes: []\n", "more than one YAML document"},
		{"too large", strings.Repeat("#", reason.MaxCodesBytes+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reason.ParseCodes([]byte(tc.yaml))
			if !errors.Is(err, reason.ErrCodes) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseCodes: %v, want ErrCodes mentioning %q", err, tc.want)
			}
		})
	}
}

// TestParseCodesAccepts: an empty mapping and the demo's.
func TestParseCodesAccepts(t *testing.T) {
	for _, y := range []string{"", "codes: []\n", "# nothing\n"} {
		c, err := reason.ParseCodes([]byte(y))
		if err != nil || len(c.Codes) != 0 {
			t.Fatalf("ParseCodes(%q): %v %v", y, c, err)
		}
	}
	c, err := reason.ParseCodes([]byte("codes:\n  - code: L01\n    text: Amount of the loan\n    features: [GrAppv, SBA_Appv]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Codes) != 1 || c.Codes[0].Code != "L01" || c.Codes[0].Text != "Amount of the loan" || strings.Join(c.Codes[0].Features, ",") != "GrAppv,SBA_Appv" {
		t.Fatalf("got %+v", c)
	}
}

// TestLoadCodes: the file in configs/ loads; a directory and a missing
// file are refused with the path named.
func TestLoadCodes(t *testing.T) {
	path := filepath.Join(repoRoot(t), "configs", "reason-codes.yaml")
	c, err := reason.LoadCodes(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Codes) < 5 {
		t.Fatalf("%d codes in %s", len(c.Codes), path)
	}
	dir := t.TempDir()
	if _, err := reason.LoadCodes(dir); !errors.Is(err, reason.ErrCodes) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a directory: %v", err)
	}
	if _, err := reason.LoadCodes(filepath.Join(dir, "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a missing file: %v", err)
	}
}

// FuzzParseCodes: whatever the bytes, ParseCodes returns a valid mapping
// or an error wrapping ErrCodes, and never panics.
func FuzzParseCodes(f *testing.F) {
	f.Add([]byte("codes:\n  - code: L01\n    text: Amount\n    features: [GrAppv, SBA_Appv]\n"))
	f.Add([]byte("codes:\n- {code: A, text: T, features: [x]}\n- {code: A, text: U, features: [y]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("codes: [&x {code: A, text: T, features: [x]}, *x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := reason.ParseCodes(data)
		if err != nil {
			if !errors.Is(err, reason.ErrCodes) {
				t.Fatalf("error %v does not wrap ErrCodes", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseCodes returned a mapping that does not validate: %v", err)
		}
	})
}
