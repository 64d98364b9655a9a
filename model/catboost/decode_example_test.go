package catboost_test

import (
	"fmt"

	"github.com/loan-scorer/loan-scorer/model/catboost"
)

// Decode takes .cbm, JSON and gzipped JSON alike.
func ExampleDecode() {
	d, err := catboost.Decode([]byte(`{"features_info": {"float_features": [
		{"borders": [0.5], "feature_index": 0, "flat_feature_index": 0, "has_nans": false, "nan_value_treatment": "AsIs"}]},
	 "oblivious_trees": [{"leaf_values": [-1, 1], "splits": [{"split_index": 0}]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(d.Oblivious), "tree, split", d.Splits[0].Kind == catboost.SplitFloat, d.Splits[0].Border, "scale", d.Scale, "bias", d.Bias)

	_, err = catboost.Decode([]byte("CBM1\x10\x00\x00\x00"))
	fmt.Println(err)
	// Output:
	// 1 tree, split true 0.5 scale 1 bias [0]
	// catboost cbm model: core size: declares 16 bytes, only 0 left (at byte 8): truncated model file
}
