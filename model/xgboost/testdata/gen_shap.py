#!/usr/bin/python3
"""Record XGBoost's own SHAP values (pred_contribs) for the test models.

Run with Debian's interpreter (python3-xgboost 1.7.4, numpy, pandas), after
make_models.py:

    cd model/xgboost/testdata && /usr/bin/python3 gen_shap.py

For every model in expected.json it loads <name>.json, scores the rows
recorded there with Booster.predict(pred_contribs=True) and writes
shap_expected.json: per model the shape and the values (float32 values
written as the float64 repr of the float32), one value per feature then the
bias, per output group for multi-class models. Nothing is random: running it
again gives the same file.
"""
import json

import numpy as np
import pandas as pd
import xgboost as xgb


def main():
    with open("expected.json") as f:
        expected = json.load(f)
    out = {"xgboost_version": xgb.__version__}
    for name, case in sorted(expected.items()):
        if not isinstance(case, dict):
            continue
        bst = xgb.Booster(model_file=case["model"])
        rows = np.array([[np.nan if v is None else v for v in row] for row in case["rows"]], dtype=float)
        names = bst.feature_names
        types = bst.feature_types
        if types is not None and "c" in types:
            frame = pd.DataFrame(rows, columns=names)
            for col, kind in zip(names, types):
                if kind == "c":
                    frame[col] = pd.Categorical(frame[col], categories=range(64))
            dm = xgb.DMatrix(frame, enable_categorical=True)
        else:
            dm = xgb.DMatrix(rows, missing=np.nan, feature_names=names)
        contribs = bst.predict(dm, pred_contribs=True)
        out[name] = {
            "model": case["model"],
            "shape": list(np.shape(contribs)),
            "contribs": [float(np.float32(v)) for v in np.asarray(contribs, dtype=np.float32).ravel().tolist()],
        }
    with open("shap_expected.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
