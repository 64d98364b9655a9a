package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/loan-scorer/loan-scorer/model/catboost"
)

// Definition returns the model as CatBoost would store it (spec §1, §5.4):
// float features with the borders the trees use, HasNans and AsFalse for
// features trained with missing values (nan_mode Min); one-hot features with
// the category hashes the trees use; one Borders CTR per high-cardinality
// feature with its prior, scale 1, shift 0 and used borders, and a table of
// [label 0, label 1] counts over all training rows keyed by projection hash;
// the bin-feature list in CatBoost's order; scale 1 and the base logit as
// bias; model_info with the Logloss params and class names 0 and 1.
func (m *Model) Definition() (*catboost.Definition, error) {
	d := &catboost.Definition{ApproxDimension: 1, Scale: 1, Bias: []float64{m.bias}}
	nf, nc := 0, 0
	for flat, f := range m.dataset {
		if f.Categorical {
			d.CatFeatures = append(d.CatFeatures, catboost.CatFeature{Index: nc, FlatIndex: flat, Name: f.Name, Used: true})
			nc++
		} else {
			d.FloatFeatures = append(d.FloatFeatures, catboost.FloatFeature{Index: nf, FlatIndex: flat, Name: f.Name})
			nf++
		}
	}

	// Which cuts of which feature the trees use, ascending.
	used := make([][]int, len(m.features))
	for _, t := range m.trees {
		for _, s := range t.Splits {
			if !slices.Contains(used[s.Feature], s.Cut) {
				used[s.Feature] = append(used[s.Feature], s.Cut)
			}
		}
	}
	// splitIndex[feature][cut] is the cut's position in d.Splits.
	splitIndex := make([]map[int]int, len(m.features))
	for fi, f := range m.features {
		cuts := used[fi]
		slices.Sort(cuts)
		splitIndex[fi] = make(map[int]int, len(cuts))
		switch f.Kind {
		case kindFloat:
			ff := &d.FloatFeatures[f.Index]
			ff.HasNans = f.HasNans
			if f.HasNans {
				ff.NanTreatment = catboost.NanAsFalse
			}
			for _, c := range cuts {
				splitIndex[fi][c] = len(d.Splits)
				ff.Borders = append(ff.Borders, f.Borders[c])
				d.Splits = append(d.Splits, catboost.Split{Kind: catboost.SplitFloat, Feature: f.Index, Border: f.Borders[c]})
			}
		}
	}
	for fi, f := range m.features {
		if f.Kind != kindOneHot || len(used[fi]) == 0 {
			continue
		}
		oh := catboost.OneHotFeature{CatIndex: f.Index}
		for _, c := range used[fi] {
			v := int32(f.Cats.Hashes[c])
			splitIndex[fi][c] = len(d.Splits)
			oh.Values = append(oh.Values, v)
			oh.StringValues = append(oh.StringValues, f.Cats.Strings[c])
			d.Splits = append(d.Splits, catboost.Split{Kind: catboost.SplitOneHot, Feature: f.Index, Value: v})
		}
		d.OneHotFeatures = append(d.OneHotFeatures, oh)
	}
	for fi, f := range m.features {
		if f.Kind != kindCtr || len(used[fi]) == 0 {
			continue
		}
		base := catboost.CtrBase{
			Projection: catboost.Projection{CatFeatures: []int{f.Index}},
			Type:       catboost.CtrBorders,
		}
		ctr := catboost.Ctr{Base: base, PriorNum: f.Ctr.PriorNum, PriorDenom: f.Ctr.PriorDenom,
			Shift: f.Ctr.Shift, Scale: f.Ctr.Scale}
		ci := len(d.Ctrs)
		for _, c := range used[fi] {
			splitIndex[fi][c] = len(d.Splits)
			ctr.Borders = append(ctr.Borders, f.Borders[c])
			d.Splits = append(d.Splits, catboost.Split{Kind: catboost.SplitCtr, Feature: ci, Border: f.Borders[c]})
		}
		d.Ctrs = append(d.Ctrs, ctr)
		table := catboost.CtrTable{Base: base, Index: make(map[uint64]uint32, len(f.Cats.Hashes)), TargetClassesCount: 2}
		for i, h := range f.Cats.Hashes {
			table.Index[projectionHash(h)] = uint32(i)
			table.Counters = append(table.Counters, f.CtrTotal[i]-f.CtrGood[i], f.CtrGood[i])
		}
		if len(table.Index) != len(f.Cats.Hashes) {
			return nil, fmt.Errorf("feature %q: projection hashes collide", m.dataset[flatOfCat(m.dataset, f.Index)].Name)
		}
		d.CtrTables = append(d.CtrTables, table)
	}

	for _, t := range m.trees {
		ot := catboost.ObliviousTree{LeafValues: slices.Clone(t.Leaves), LeafWeights: slices.Clone(t.Weights)}
		for _, s := range t.Splits {
			ot.Splits = append(ot.Splits, splitIndex[s.Feature][s.Cut])
		}
		d.Oblivious = append(d.Oblivious, ot)
	}
	info, err := m.info()
	if err != nil {
		return nil, err
	}
	d.Info = info
	return d, nil
}

// flatOfCat returns the flat index of categorical feature index ci.
func flatOfCat(fs []Feature, ci int) int {
	n := 0
	for flat, f := range fs {
		if f.Categorical {
			if n == ci {
				return flat
			}
			n++
		}
	}
	return -1
}

// info builds model_info: CatBoost's keys for the loss and the class
// labels, the training parameters, and Config.Info.
func (m *Model) info() (map[string]string, error) {
	c := m.cfg
	params := map[string]any{
		"loss_function": map[string]any{"type": "Logloss", "params": map[string]any{}},
		"boosting_options": map[string]any{
			"iterations":         c.Iterations,
			"learning_rate":      c.LearningRate,
			"boosting_type":      "Plain",
			"boost_from_average": true,
		},
		"tree_learner_options": map[string]any{
			"depth":                  c.Depth,
			"l2_leaf_reg":            c.L2LeafReg,
			"grow_policy":            "SymmetricTree",
			"leaf_estimation_method": "Newton",
		},
		"data_processing_options": map[string]any{
			"class_names": []int{0, 1},
			"float_features_binarization": map[string]any{
				"border_count": c.BorderCount,
				"border_type":  "Median",
				"nan_mode":     "Min",
			},
		},
		"cat_feature_params": map[string]any{
			"one_hot_max_size":   c.OneHotMaxSize,
			"max_ctr_complexity": 1,
			"simple_ctrs": []any{map[string]any{
				"ctr_type":         "Borders",
				"ctr_binarization": map[string]any{"border_count": c.CtrBorderCount, "border_type": "Median"},
				"priors":           [][]float64{{shortest(m.prior.PriorNum), shortest(m.prior.PriorDenom)}},
			}},
			"counter_calc_method": "Full",
		},
		"random_seed": strconv.FormatUint(c.Seed, 10),
	}
	classParams := map[string]any{
		"class_label_type": "Integer",
		"class_names":      []int{0, 1},
		"class_to_label":   []int{0, 1},
		"classes_count":    0,
	}
	out := map[string]string{
		"training_library":      "loan-scorer internal/train",
		"ctr_target_statistics": fmt.Sprintf("out of fold, %d folds; stored counts over all rows", c.CtrFolds),
	}
	for k, v := range map[string]any{"params": params, "class_params": classParams} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("model_info %s: %w", k, err)
		}
		out[k] = string(b)
	}
	maps.Copy(out, c.Info)
	return out, nil
}

// shortest returns the float64 with the shortest decimal form of f, so that
// 0.713 reads as 0.713 in model_info, not as float32(0.713)'s expansion.
func shortest(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}
