package cbjson_test

import (
	"fmt"
	"os"

	"github.com/loan-scorer/loan-scorer/model/catboost"
	"github.com/loan-scorer/loan-scorer/model/catboost/cbjson"
)

// A Definition built in code (as a trainer would) and written as CatBoost's
// JSON export: Splits is the bin-feature list the features define.
func ExampleWrite() {
	d := &catboost.Definition{
		FloatFeatures: []catboost.FloatFeature{{Index: 0, FlatIndex: 0, Name: "Term", Borders: []float32{60.5, 84.5}}},
		CatFeatures:   []catboost.CatFeature{{Index: 0, FlatIndex: 1, Name: "State", Used: true}},
		OneHotFeatures: []catboost.OneHotFeature{
			{CatIndex: 0, Values: []int32{int32(catboost.CatHash("NC"))}, StringValues: []string{"NC"}},
		},
		ApproxDimension: 1,
		Scale:           1,
		Bias:            []float64{-1.5},
		Info:            map[string]string{"params": `{"loss_function":{"type":"Logloss"}}`},
	}
	d.Splits = d.BinFeatures() // Term > 60.5, Term > 84.5, State == "NC"
	d.Oblivious = []catboost.ObliviousTree{
		{Splits: []int{1, 2}, LeafValues: []float64{0.1, -0.2, 0.30000000000000004, 4e-7}},
	}
	if err := cbjson.Write(os.Stdout, d); err != nil {
		fmt.Println(err)
	}
	// Output:
	// {
	//   "features_info": {
	//     "categorical_features": [
	//       {"feature_id": "State", "feature_index": 0, "flat_feature_index": 1, "string_values": ["NC"], "values": [469035356]}
	//     ],
	//     "float_features": [
	//       {"borders": [60.5, 84.5], "feature_id": "Term", "feature_index": 0, "flat_feature_index": 0, "has_nans": false, "nan_value_treatment": "AsIs"}
	//     ]
	//   },
	//   "model_info": {
	//     "params": {"loss_function":{"type":"Logloss"}}
	//   },
	//   "oblivious_trees": [
	//     {"leaf_values": [0.1, -0.2, 0.30000000000000004, 4e-7], "splits": [{"border": 84.5, "float_feature_index": 0, "split_index": 1, "split_type": "FloatFeature"}, {"cat_feature_index": 0, "split_index": 2, "split_type": "OneHotFeature", "value": 469035356}]}
	//   ],
	//   "scale_and_bias": [1, [-1.5]]
	// }
}
