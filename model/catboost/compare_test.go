package catboost

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
)

// definitionCompare says which differences compareDefinitions tolerates.
type definitionCompare struct {
	// crossFormat ignores what a .cbm and a JSON export of the same model
	// legitimately differ in: TargetBorderClassifierIdx (JSON has none),
	// CTR table order and counter indexes (tables are compared hash by hash),
	// Info keys model_guid and train_finish_time and the text of Info values
	// (the gocb twins come from separate, otherwise identical training runs).
	crossFormat bool
	// nodeLayout compares non-symmetric trees by evaluation (every path
	// reaches the same leaf values) rather than node by node.
	nodeLayout bool
}

// compareDefinitions lists the differences between a and b.
func compareDefinitions(a, b *Definition, opt definitionCompare) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	eq := func(what string, x, y any) {
		if !reflect.DeepEqual(x, y) {
			add("%s differ:\n  %v\n  %v", what, trimmed(x), trimmed(y))
		}
	}
	eq("float features", a.FloatFeatures, b.FloatFeatures)
	eq("categorical features", a.CatFeatures, b.CatFeatures)
	eq("one-hot features", a.OneHotFeatures, b.OneHotFeatures)
	ctrsA, ctrsB := a.Ctrs, b.Ctrs
	if opt.crossFormat {
		ctrsA, ctrsB = withoutClassifierIdx(ctrsA), withoutClassifierIdx(ctrsB)
	}
	eq("ctrs", ctrsA, ctrsB)
	eq("splits", a.Splits, b.Splits)
	eq("approx dimension", a.ApproxDimension, b.ApproxDimension)
	eq("scale", a.Scale, b.Scale)
	eq("bias", a.Bias, b.Bias)
	eq("oblivious trees", a.Oblivious, b.Oblivious)
	if opt.crossFormat || opt.nodeLayout {
		if len(a.Trees) != len(b.Trees) {
			add("%d vs %d non-symmetric trees", len(a.Trees), len(b.Trees))
		} else {
			for i := range a.Trees {
				if msg := sameTreeFunction(a, b, i); msg != "" {
					add("tree %d: %s", i, msg)
				}
			}
		}
	} else {
		eq("non-symmetric trees", a.Trees, b.Trees)
	}
	if opt.crossFormat {
		diffs = append(diffs, compareTables(a, b)...)
		for k, v := range a.Info {
			if _, ok := b.Info[k]; !ok && k != "model_guid" && k != "train_finish_time" {
				add("info key %q only in the first (%.60q)", k, v)
			}
		}
		for k := range b.Info {
			if _, ok := a.Info[k]; !ok {
				add("info key %q only in the second", k)
			}
		}
	} else {
		eq("ctr tables", a.CtrTables, b.CtrTables)
		eq("info", a.Info, b.Info)
	}
	return diffs
}

func trimmed(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func withoutClassifierIdx(ctrs []Ctr) []Ctr {
	out := slices.Clone(ctrs)
	for i := range out {
		out[i].Base.TargetBorderClassifierIdx = 0
	}
	return out
}

// compareTables compares CTR tables by base and hash: the counters a hash
// finds must be the same whatever index they are stored at.
func compareTables(a, b *Definition) []string {
	var diffs []string
	byKey := make(map[string]*CtrTable)
	for i := range b.CtrTables {
		byKey[ctrBaseKey(&b.CtrTables[i].Base)] = &b.CtrTables[i]
	}
	if len(a.CtrTables) != len(b.CtrTables) {
		diffs = append(diffs, fmt.Sprintf("%d vs %d ctr tables", len(a.CtrTables), len(b.CtrTables)))
	}
	for i := range a.CtrTables {
		ta := &a.CtrTables[i]
		key := ctrBaseKey(&ta.Base)
		tb, ok := byKey[key]
		if !ok {
			diffs = append(diffs, "table "+key+" only in the first")
			continue
		}
		if ta.CounterDenominator != tb.CounterDenominator || ta.TargetClassesCount != tb.TargetClassesCount {
			diffs = append(diffs, fmt.Sprintf("table %s: denominator %d/%d, classes %d/%d", key,
				ta.CounterDenominator, tb.CounterDenominator, ta.TargetClassesCount, tb.TargetClassesCount))
		}
		if len(ta.Index) != len(tb.Index) {
			diffs = append(diffs, fmt.Sprintf("table %s: %d vs %d hashes", key, len(ta.Index), len(tb.Index)))
		}
		for h, ia := range ta.Index {
			ib, ok := tb.Index[h]
			if !ok {
				diffs = append(diffs, fmt.Sprintf("table %s: hash %d only in the first", key, h))
				continue
			}
			if ca, cb := tableCounters(ta, ia), tableCounters(tb, ib); !reflect.DeepEqual(ca, cb) {
				diffs = append(diffs, fmt.Sprintf("table %s hash %d: counters %v vs %v", key, h, ca, cb))
			}
		}
	}
	return diffs
}

// tableCounters returns what a lookup that found index idx reads.
func tableCounters(t *CtrTable, idx uint32) any {
	switch t.Base.Type {
	case CtrBinarizedTargetMeanValue, CtrFloatTargetMeanValue:
		m := t.Means[idx]
		return [2]any{math.Float32bits(m.Sum), m.Count}
	case CtrCounter, CtrFeatureFreq:
		return t.Counters[idx]
	}
	k := t.TargetClassesCount
	return t.Counters[int(idx)*k : int(idx)*k+k]
}

// sameTreeFunction checks that non-symmetric tree i of a and b, which may
// lay their nodes out differently, reach the same leaf values for many
// random assignments of split outcomes (a split's outcome depends only on
// its bin feature, shared by both definitions).
func sameTreeFunction(a, b *Definition, i int) string {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	outcome := make([]bool, max(len(a.Splits), len(b.Splits)))
	for trial := range 64 {
		for k := range outcome {
			outcome[k] = rng.IntN(2) == 0
		}
		la, lb := walkTree(a, &a.Trees[i], outcome), walkTree(b, &b.Trees[i], outcome)
		if !reflect.DeepEqual(la, lb) {
			return fmt.Sprintf("trial %d: leaf %v vs %v", trial, la, lb)
		}
	}
	return ""
}

// walkTree evaluates a non-symmetric tree per spec §5.5, given the outcome
// of every split, and returns the leaf's values.
func walkTree(d *Definition, t *Tree, outcome []bool) []float64 {
	n := 0
	for {
		nd := t.Nodes[n]
		diff := nd.Left
		if outcome[nd.Split] {
			diff = nd.Right
		}
		if diff == 0 {
			return t.LeafValues[nd.LeafOffset : int(nd.LeafOffset)+d.ApproxDimension]
		}
		n += int(diff)
	}
}
