package catboost

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/loan-scorer/loan-scorer/model"
)

// This file maps the splits of a model to the features SHAP values credit,
// as CatBoost does (MapBinFeaturesToClasses in
// catboost/libs/fstr/shap_prepared_trees.cpp). TreeSHAP runs over "feature
// classes": a float split's class is its float feature, a one-hot split's
// class is its categorical feature, and a CTR split's class is the list of
// categorical features of the CTR's projection (its float and one-hot parts
// are ignored). Splits whose lists are equal share one class, so every CTR
// type over feature A and the one-hot splits of A all credit A. A class of
// several features (a CTR over a combination) has its value split equally
// among them when the values are unpacked to flat features.

// featureClasses is the class structure of one model.
type featureClasses struct {
	ofSplit []int32   // by Definition.Splits index: the split's class
	flats   [][]int32 // by class: the flat features it credits, in projection order
}

// buildFeatureClasses assigns every split of d its class.
func buildFeatureClasses(d *Definition) (featureClasses, error) {
	floatFlat := map[int]int32{}
	for _, f := range d.FloatFeatures {
		floatFlat[f.Index] = int32(f.FlatIndex)
	}
	catFlat := map[int]int32{}
	for _, c := range d.CatFeatures {
		catFlat[c.Index] = int32(c.FlatIndex)
	}
	fc := featureClasses{ofSplit: make([]int32, len(d.Splits))}
	byKey := map[string]int32{}
	for s, sp := range d.Splits {
		var flats []int32
		switch sp.Kind {
		case SplitFloat:
			flat, ok := floatFlat[sp.Feature]
			if !ok {
				return fc, fmt.Errorf("split %d: no float feature %d", s, sp.Feature)
			}
			flats = []int32{flat}
		case SplitOneHot:
			flat, ok := catFlat[sp.Feature]
			if !ok {
				return fc, fmt.Errorf("split %d: no categorical feature %d", s, sp.Feature)
			}
			flats = []int32{flat}
		case SplitCtr:
			if sp.Feature < 0 || sp.Feature >= len(d.Ctrs) {
				return fc, fmt.Errorf("split %d: no CTR %d", s, sp.Feature)
			}
			for _, j := range d.Ctrs[sp.Feature].Base.Projection.CatFeatures {
				flat, ok := catFlat[j]
				if !ok {
					return fc, fmt.Errorf("split %d: CTR over missing categorical feature %d", s, j)
				}
				flats = append(flats, flat)
			}
			if len(flats) == 0 {
				return fc, fmt.Errorf("split %d: CTR %d over no categorical feature", s, sp.Feature)
			}
		default:
			return fc, fmt.Errorf("split %d: kind %d", s, sp.Kind)
		}
		key := classKey(flats)
		c, ok := byKey[key]
		if !ok {
			c = int32(len(fc.flats))
			byKey[key] = c
			fc.flats = append(fc.flats, flats)
		}
		fc.ofSplit[s] = c
	}
	return fc, nil
}

func classKey(flats []int32) string {
	parts := make([]string, len(flats))
	for i, f := range flats {
		parts[i] = strconv.Itoa(int(f))
	}
	return strings.Join(parts, ",")
}

// treeClasses is the part of the class structure one tree uses: its classes
// renumbered 0..n-1 (the TreeSHAP feature ids) and the flat features they
// credit.
type treeClasses struct {
	global []int32 // by local class: the model-wide class
	// feats lists the flat features the tree credits, ascending; pos[c]
	// gives, for local class c, the positions in feats of its features, and
	// count[c] their number: each receives the class's value / count[c].
	feats []int32
	pos   [][]int32
	count []float64
}

// local returns the local id of model-wide class c, adding it if new.
func (tc *treeClasses) local(c int32) int32 {
	for i, g := range tc.global {
		if g == c {
			return int32(i)
		}
	}
	tc.global = append(tc.global, c)
	return int32(len(tc.global) - 1)
}

// finish lays out feats, pos and count once every class is known.
func (tc *treeClasses) finish(fc *featureClasses) {
	seen := map[int32]bool{}
	for _, c := range tc.global {
		for _, f := range fc.flats[c] {
			if !seen[f] {
				seen[f] = true
				tc.feats = append(tc.feats, f)
			}
		}
	}
	slices.Sort(tc.feats)
	tc.pos = make([][]int32, len(tc.global))
	tc.count = make([]float64, len(tc.global))
	for i, c := range tc.global {
		for _, f := range fc.flats[c] {
			for j, g := range tc.feats {
				if g == f {
					tc.pos[i] = append(tc.pos[i], int32(j))
				}
			}
		}
		tc.count[i] = float64(len(fc.flats[c]))
	}
}

// isMultiClass tells whether CatBoost treats the model as MultiClass for SHAP
// (IsMultiClassification in shap_prepared_trees.cpp): more than one
// dimension and a MultiClass loss, or no loss recorded at all.
func isMultiClass(o model.Output) bool {
	return o.Dimension > 1 && (o.Loss == "" || o.Loss == "MultiClass")
}
