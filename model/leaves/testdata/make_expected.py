#!/usr/bin/python3
"""Record what XGBoost itself predicts for leaves' old binary test models on
rows that sit exactly on split thresholds (where leaves' `<=` and XGBoost's
float32 `<` disagree unless the adapter corrects for it).

Run with Debian's interpreter (python3-xgboost 1.7.4, which still reads the
pre-1.0 binary format):

    cd model/leaves/testdata && /usr/bin/python3 make_expected.py "$(go list -m -f '{{.Dir}}' github.com/dmitryikh/leaves)/testdata"

The models stay in the module cache; expected.json holds the rows and
predict(output_margin=True) for each, floats as the float64 repr of
XGBoost's float32 results.
"""
import json
import math
import os
import sys

import numpy as np
import xgboost as xgb


def splits(bst):
    out = []
    for tree in json.loads(bst.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]:
        for nid, left in enumerate(tree["left_children"]):
            if left != -1:
                out.append((tree["split_indices"][nid], tree["split_conditions"][nid]))
    return out


def main(src):
    rng = np.random.default_rng(7)
    expected = {"xgboost_version": xgb.__version__}
    for name in ["xgagaricus.model", "xgdermatology.model"]:
        bst = xgb.Booster(model_file=os.path.join(src, name))
        nfeat = bst.num_features()
        points = splits(bst)
        rows = []
        for r in range(60):
            row = np.where(rng.random(nfeat) < 0.5, np.nan, rng.integers(0, 4, nfeat).astype(float))
            for k in range(3):
                f, cond = points[(r * 3 + k) % len(points)]
                c32 = np.float32(cond)
                row[f] = float([c32, np.nextafter(c32, np.float32(-np.inf)), np.nextafter(c32, np.float32(np.inf))][(r + k) % 3])
            rows.append(row)
        x = np.array(rows)
        margin = bst.predict(xgb.DMatrix(x, missing=np.nan), output_margin=True)
        expected[name] = {
            "rows": [[None if math.isnan(v) else float(v) for v in row] for row in x.tolist()],
            "margin": [float(v) for v in np.asarray(margin, dtype=np.float32).ravel().tolist()],
        }
    with open("expected.json", "w") as f:
        json.dump(expected, f)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
