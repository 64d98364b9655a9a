"""Train the side-by-side XGBoost model on generated loan applications.

Usage: /usr/bin/python3 train_xgb.py TRAIN.jsonl MODEL.json

TRAIN.jsonl is `scorer gen --labels` output. The model sees only the fields
both servers can read from the same JSON application as numbers: the nine
numeric fields, plus FranchiseCode and naics_first_two, which are strings of
digits ("0", "1", a 5-digit franchise code; a 2-digit NAICS sector) that the
scorer accepts for a numeric feature ("a string holding a finite decimal
literal", DESIGN.md) and that pandas converts with astype(float). The other
categories (City, State, Bank, BankState, RevLineCr) and the booleans are left
out: an XGBoost JSON model has only numeric features, and the scorer maps JSON
fields to them by name, so a one-hot or label encoding would need a
preprocessing step that the scorer does not have. Missing NoEmp, longitude and
latitude (JSON null) are NaN on both sides: XGBoost's missing value.
"""
import json
import sys

import pandas as pd
import xgboost as xgb

FEATURES = ["Term", "NoEmp", "CreateJob", "RetainedJob", "longitude", "latitude",
            "GrAppv", "SBA_Appv", "UrbanRural", "FranchiseCode", "naics_first_two"]


def frame(rows):
    """The model's input frame: FEATURES in order, as float64 (None -> NaN)."""
    return pd.DataFrame(rows, columns=FEATURES).astype(float)


def main(train_path, model_path):
    with open(train_path) as f:
        rows = [json.loads(line) for line in f]
    x = frame(rows)
    y = [r["default"] for r in rows]
    # The native API: Debian's python3-xgboost has no scikit-learn wrapper
    # without python3-sklearn, and the booster is the same model.
    dtrain = xgb.DMatrix(x, label=y, feature_names=FEATURES)
    params = {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": 6, "eta": 0.1,
              "subsample": 0.8, "colsample_bytree": 0.8, "tree_method": "hist", "nthread": 2, "seed": 7}
    booster = xgb.train(params, dtrain, num_boost_round=200)
    booster.save_model(model_path)
    print(f"trained on {len(rows)} applications, {len(FEATURES)} features, "
          f"xgboost {xgb.__version__}; wrote {model_path}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
