package catboost

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
)

// expectedAfterJSON returns what decoding WriteJSON(d) must give: d without
// what the JSON format cannot carry (TargetBorderClassifierIdx; UsedInModel
// of categorical features, which DecodeJSON derives from the splits and
// CTRs), with *params Info objects in canonical form and with CTR tables in DecodeJSON's order (first use by a CTR, then
// by identifier).
func expectedAfterJSON(d *Definition) *Definition {
	e := *d
	e.Ctrs = withoutClassifierIdx(d.Ctrs)
	e.CatFeatures = slices.Clone(d.CatFeatures)
	for i := range e.CatFeatures {
		e.CatFeatures[i].Used = false
	}
	e.CtrTables = slices.Clone(d.CtrTables)
	for i := range e.CtrTables {
		e.CtrTables[i].Base.TargetBorderClassifierIdx = 0
	}
	first := func(t *CtrTable) int {
		for i := range e.Ctrs {
			if ctrBaseKey(&e.Ctrs[i].Base) == ctrBaseKey(&t.Base) {
				return i
			}
		}
		return len(e.Ctrs)
	}
	sort.SliceStable(e.CtrTables, func(i, j int) bool {
		fi, fj := first(&e.CtrTables[i]), first(&e.CtrTables[j])
		if fi != fj {
			return fi < fj
		}
		return ctrBaseKey(&e.CtrTables[i].Base) < ctrBaseKey(&e.CtrTables[j].Base)
	})
	markUsedCats(&e)
	if d.Info != nil {
		e.Info = make(map[string]string, len(d.Info))
		for k, v := range d.Info {
			// The writer writes the values of keys ending in "params"
			// that hold a JSON object as objects (spec §1.5), which come
			// back in canonical form.
			if strings.HasSuffix(k, "params") && strings.HasPrefix(strings.TrimLeft(v, " \t\r\n"), "{") {
				if obj, err := CanonicalJSON([]byte(v)); err == nil {
					v = obj
				}
			}
			e.Info[k] = v
		}
	}
	return &e
}

// hasOneChildNodes reports whether d has non-symmetric nodes with a single
// child, which the JSON format writes as full binary trees (another layout).
func hasOneChildNodes(d *Definition) bool {
	for _, t := range d.Trees {
		for _, n := range t.Nodes {
			if (n.Left == 0) != (n.Right == 0) {
				return true
			}
		}
	}
	return false
}

// roundTrip writes d as JSON, decodes it, checks the result against d and
// that writing it again gives the same bytes.
func roundTrip(t *testing.T, d *Definition) {
	t.Helper()
	var buf bytes.Buffer
	if err := writeJSON(d, &buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	if got := DetectFormat(buf.Bytes()); got != FormatJSON {
		t.Errorf("DetectFormat(WriteJSON output) = %v", got)
	}
	back, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatalf("Decode(WriteJSON): %v\n%.2000s", err, buf.String())
	}
	opt := definitionCompare{nodeLayout: hasOneChildNodes(d)}
	for _, diff := range compareDefinitions(expectedAfterJSON(d), back, opt) {
		t.Error(diff)
	}
	var again bytes.Buffer
	if err := writeJSON(back, &again); err != nil {
		t.Fatalf("WriteJSON of the decoded copy: %v", err)
	}
	if !opt.nodeLayout && !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("writing the decoded copy gives other bytes (%d vs %d)", buf.Len(), again.Len())
	}
}

func TestWriteJSONRoundTripFixtures(t *testing.T) {
	for name, path := range fixtureModels(t) {
		t.Run(name, func(t *testing.T) { roundTrip(t, readDefinition(t, path)) })
	}
}

func TestWriteJSONRoundTripRandom(t *testing.T) {
	base := DefaultRandomConfig()
	configs := map[string]RandomConfig{"default": base}
	for _, ct := range []CtrType{CtrBorders, CtrBuckets, CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue, CtrCounter, CtrFeatureFreq} {
		c := base
		c.CtrTypes = []CtrType{ct}
		c.TargetClasses = 2 + int(ct)%3
		configs[ctrTypeName(ct)] = c
	}
	for dim := 1; dim <= 3; dim++ {
		c := base
		c.Symmetric = false
		c.Dimension = dim
		c.Depth = 6
		configs[fmt.Sprintf("nonsym-dim%d", dim)] = c
	}
	c := base
	c.BordersPerFeature = 300
	c.Dimension = 4
	configs["many-borders-dim4"] = c
	for name, cfg := range configs {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("%s/seed%d", name, seed), func(t *testing.T) {
				d := Random(rand.New(rand.NewPCG(seed, 99)), cfg)
				if err := d.Validate(); err != nil {
					t.Fatalf("Random gave an invalid definition: %v", err)
				}
				roundTrip(t, d)
			})
		}
	}
}

// TestWriteJSONMatchesCatBoost compares our JSON of every JSON fixture with
// the file CatBoost wrote, value by value: same keys (apart from the few
// CatBoost writes that carry nothing: feature_id may be absent there), same
// numbers (float32 values compared as float32), ctr_data with the same keys
// and the same hash groups (less CatBoost's empty-bucket artefact), and keys
// sorted at every level of our output.
func TestWriteJSONMatchesCatBoost(t *testing.T) {
	for name, path := range fixtureModels(t) {
		if strings.HasSuffix(name, ".cbm") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			orig := readJSONText(t, path)
			d, err := Decode(orig)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := writeJSON(d, &buf); err != nil {
				t.Fatal(err)
			}
			checkSortedKeys(t, buf.Bytes())
			var a, b map[string]any
			if err := json.Unmarshal(orig, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(buf.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"features_info", "oblivious_trees", "trees", "scale_and_bias"} {
				if _, ok := a[k]; !ok && k == "scale_and_bias" {
					continue // old layout: we write [1, [0...]]
				}
				for _, diff := range jsonDiff(k, a[k], b[k]) {
					t.Error(diff)
				}
			}
			for _, diff := range ctrDataDiff(a["ctr_data"], b["ctr_data"]) {
				t.Error(diff)
			}
		})
	}
}

func readJSONText(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// jsonDiff compares CatBoost's value a with ours b.
func jsonDiff(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: object vs %T", path, b)}
		}
		var diffs []string
		for k, x := range av {
			if k == "feature_name" {
				continue // informational, not in Definition
			}
			y, ok := bv[k]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("%s.%s missing from ours", path, k))
				continue
			}
			diffs = append(diffs, jsonDiff(path+"."+k, x, y)...)
		}
		for k, y := range bv {
			if _, ok := av[k]; !ok && !(k == "feature_id" && y == "") && k != "leaf_weights" && k != "borders" {
				diffs = append(diffs, fmt.Sprintf("%s.%s only in ours", path, k))
			}
		}
		return diffs
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return []string{fmt.Sprintf("%s: array of %d vs %v", path, len(av), trimmed(b))}
		}
		var diffs []string
		for i := range av {
			diffs = append(diffs, jsonDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
			if len(diffs) > 5 {
				break
			}
		}
		return diffs
	case float64:
		bv, ok := b.(float64)
		if !ok || (av != bv && float32(av) != float32(bv)) {
			return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
		}
		return nil
	case nil:
		if bv, ok := b.([]any); ok && len(bv) == 0 {
			return nil // null borders are []
		}
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
	}
	return nil
}

// ctrDataDiff compares ctr_data: same keys, same hash groups ignoring order
// and CatBoost's empty-bucket entry.
func ctrDataDiff(a, b any) []string {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	if len(am) != len(bm) {
		return []string{fmt.Sprintf("ctr_data: %d vs %d tables", len(am), len(bm))}
	}
	var diffs []string
	for k, x := range am {
		y, ok := bm[k]
		if !ok {
			diffs = append(diffs, "ctr_data key "+k+" missing from ours")
			continue
		}
		xt, yt := x.(map[string]any), y.(map[string]any)
		for _, f := range []string{"counter_denominator", "hash_stride"} {
			if xt[f] != yt[f] {
				diffs = append(diffs, fmt.Sprintf("ctr_data %s %s: %v vs %v", k, f, xt[f], yt[f]))
			}
		}
		stride := int(xt["hash_stride"].(float64))
		groups := func(hm []any) []string {
			var out []string
			for i := 0; i+stride <= len(hm); i += stride {
				if hm[i] == "18446744073709551615" {
					continue
				}
				out = append(out, fmt.Sprint(hm[i:i+stride]))
			}
			sort.Strings(out)
			return out
		}
		if !slices.Equal(groups(xt["hash_map"].([]any)), groups(yt["hash_map"].([]any))) {
			diffs = append(diffs, "ctr_data "+k+": hash groups differ")
		}
	}
	return diffs
}

// checkSortedKeys walks the JSON tokens and checks every object's keys are
// in increasing order, as CatBoost's writer sorts them.
func checkSortedKeys(t *testing.T, data []byte) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object  bool
		lastKey string
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("token: %v", err)
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				continue
			}
			k := tok.(string)
			if k < stack[n-1].lastKey {
				t.Errorf("key %q after %q", k, stack[n-1].lastKey)
			}
			stack[n-1].lastKey, stack[n-1].wantKey = k, false
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}
