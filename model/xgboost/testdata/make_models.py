#!/usr/bin/python3
"""Train the small XGBoost models the Go tests read, and record what XGBoost predicts.

Run with Debian's interpreter (python3-xgboost 1.7.4, python3-pandas, numpy):

    cd model/xgboost/testdata && /usr/bin/python3 make_models.py

For every model it writes <name>.json (Booster.save_model) and an entry in
expected.json: the input rows (null = missing), predict(output_margin=True)
and predict(), each a float32 value written as the float64 repr of that
float32 (round-trippable). It also saves one model in XGBoost's 1.7 binary
format and one as UBJSON, for the tests that refuse them. Everything is seeded:
running it again gives the same files.
"""
import json
import math

import numpy as np
import pandas as pd
import xgboost as xgb

RNG = np.random.default_rng(20240607)


def features(n, k, missing=0.0):
    x = RNG.normal(0.0, 1.5, size=(n, k))
    x[:, 0] = np.round(x[:, 0] * 3)  # a few repeated values: ties at split points
    if missing:
        x[RNG.random((n, k)) < missing] = np.nan
    return x


def split_points(bst):
    """Return (feature, condition) of every numerical split in the model."""
    model = json.loads(bst.save_raw("json"))
    out = []
    for tree in model["learner"]["gradient_booster"].get("model", model["learner"]["gradient_booster"].get("gbtree", {}).get("model"))["trees"]:
        types = tree.get("split_type") or [0] * len(tree["left_children"])
        for nid, left in enumerate(tree["left_children"]):
            if left != -1 and types[nid] == 0:
                out.append((tree["split_indices"][nid], tree["split_conditions"][nid]))
    return out


def probe_rows(bst, k, n, missing_every=5):
    """Rows whose values sit exactly on, just below and just above split conditions,
    plus rows with missing values, so `<` versus `<=` and default directions show."""
    points = split_points(bst)
    rows = RNG.normal(0.0, 1.5, size=(n, k))
    for r in range(n):
        f, cond = points[(r * 7) % len(points)]
        c32 = np.float32(cond)
        rows[r, f] = float([c32, np.nextafter(c32, np.float32(-np.inf)), np.nextafter(c32, np.float32(np.inf))][r % 3])
        if r % missing_every == 0:
            rows[r, (r // missing_every) % k] = np.nan
    return rows


def listify(a):
    return [[None if (isinstance(v, float) and math.isnan(v)) else float(v) for v in row] for row in a.tolist()]


def floats(a):
    return [float(np.float32(v)) for v in np.asarray(a, dtype=np.float32).ravel().tolist()]


def record(expected, name, bst, rows, feature_names=None, feature_types=None, note=""):
    bst.save_model(name + ".json")
    dm = xgb.DMatrix(rows, missing=np.nan, feature_names=feature_names, feature_types=feature_types,
                     enable_categorical=feature_types is not None)
    margin = bst.predict(dm, output_margin=True)
    pred = bst.predict(dm)
    expected[name] = {
        "model": name + ".json",
        "note": note,
        "rows": listify(rows),
        "margin_shape": list(np.shape(margin)),
        "margin": floats(margin),
        "predict_shape": list(np.shape(pred)),
        "predict": floats(pred),
    }


def main():
    expected = {"xgboost_version": xgb.__version__}

    # binary:logistic on unnamed features with missing values.
    x = features(400, 6, missing=0.15)
    y = (np.nan_to_num(x[:, 1]) + 0.5 * np.nan_to_num(x[:, 2]) ** 2 - np.isnan(x[:, 3]) > 0.7).astype(float)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 1},
                    xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=20)
    record(expected, "binary_logistic", bst, np.vstack([probe_rows(bst, 6, 40), features(20, 6, 0.3)]),
           note="unnamed features, NaN in training and scoring")

    # reg:squarederror with feature names.
    names = ["Term", "NoEmp", "GrAppv", "latitude"]
    x = features(300, 4)
    y = 2 * x[:, 0] - x[:, 1] * x[:, 2] + RNG.normal(0, 0.1, 300)
    bst = xgb.train({"objective": "reg:squarederror", "max_depth": 5, "eta": 0.2, "seed": 2},
                    xgb.DMatrix(x, label=y, feature_names=names), num_boost_round=30)
    record(expected, "regression_named", bst, np.vstack([probe_rows(bst, 4, 30), features(10, 4, 0.2)]),
           feature_names=names, note="feature names stored in the model")

    # multi:softprob, 3 classes.
    x = features(450, 5, missing=0.05)
    y = np.digitize(np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 4]), [-1.0, 1.5])
    bst = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3, "seed": 3},
                    xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=12)
    record(expected, "multi_softprob", bst, np.vstack([probe_rows(bst, 5, 30), features(10, 5, 0.2)]))

    # multi:softmax, 4 classes: predict() gives the class index.
    y = np.digitize(np.nan_to_num(x[:, 1]), [-1.0, 0.0, 1.0])
    bst = xgb.train({"objective": "multi:softmax", "num_class": 4, "max_depth": 3, "eta": 0.3, "seed": 4},
                    xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=6)
    record(expected, "multi_softmax", bst, np.vstack([probe_rows(bst, 5, 15), features(10, 5, 0.2)]))

    # count:poisson: base_score is stored on the mean scale, the margin is its log.
    x = features(300, 3)
    y = RNG.poisson(np.exp(0.4 * x[:, 0] - 0.3 * x[:, 2]))
    bst = xgb.train({"objective": "count:poisson", "max_depth": 3, "eta": 0.3, "seed": 5},
                    xgb.DMatrix(x, label=y), num_boost_round=15)
    record(expected, "count_poisson", bst, np.vstack([probe_rows(bst, 3, 20), features(10, 3, 0.2)]))

    # reg:gamma (log link) and reg:logistic (probability output, labels in [0, 1]).
    y = RNG.gamma(2.0, np.exp(0.3 * x[:, 1]))
    bst = xgb.train({"objective": "reg:gamma", "max_depth": 3, "eta": 0.3, "seed": 6},
                    xgb.DMatrix(x, label=y), num_boost_round=10)
    record(expected, "reg_gamma", bst, np.vstack([probe_rows(bst, 3, 10), features(5, 3, 0.2)]))
    y = 1 / (1 + np.exp(-x[:, 0]))
    bst = xgb.train({"objective": "reg:logistic", "max_depth": 3, "eta": 0.3, "seed": 7, "base_score": 0.3},
                    xgb.DMatrix(x, label=y), num_boost_round=10)
    record(expected, "reg_logistic", bst, np.vstack([probe_rows(bst, 3, 10), features(5, 3, 0.2)]),
           note="base_score 0.3 on the probability scale")

    # dart: tree weights (weight_drop) scale the leaves at prediction time.
    x = features(400, 6, missing=0.1)
    y = (np.nan_to_num(x[:, 1]) - np.nan_to_num(x[:, 5]) > 0.2).astype(float)
    bst = xgb.train({"objective": "binary:logistic", "booster": "dart", "max_depth": 3, "eta": 0.3,
                     "rate_drop": 0.3, "skip_drop": 0.0, "seed": 8},
                    xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=15)
    record(expected, "binary_dart", bst, np.vstack([probe_rows(bst, 6, 20), features(10, 6, 0.2)]))

    # Random forest layers: num_parallel_tree trees per round.
    x = features(300, 4)
    y = x[:, 0] * x[:, 1] + RNG.normal(0, 0.2, 300)
    bst = xgb.train({"objective": "reg:squarederror", "num_parallel_tree": 4, "subsample": 0.8,
                     "colsample_bynode": 0.8, "max_depth": 4, "eta": 1.0, "seed": 9},
                    xgb.DMatrix(x, label=y), num_boost_round=3)
    record(expected, "forest", bst, np.vstack([probe_rows(bst, 4, 15), features(5, 4, 0.2)]))

    # Categorical splits (hist, enable_categorical): feature 0 has 8 categories
    # (partition splits), feature 1 has 3 (one-hot splits), feature 2 is numeric.
    n = 600
    c0 = RNG.integers(0, 8, n)
    c1 = RNG.integers(0, 3, n)
    num = RNG.normal(0, 1, n)
    y = (np.isin(c0, [1, 4, 6]).astype(float) + (c1 == 2) + 0.5 * num + RNG.normal(0, 0.3, n) > 1.0).astype(float)
    frame = pd.DataFrame({"branch": pd.Categorical(c0, categories=range(8)),
                          "kind": pd.Categorical(c1, categories=range(3)),
                          "amount": num})
    bst = xgb.train({"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4, "eta": 0.3,
                     "max_cat_to_onehot": 4, "seed": 10},
                    xgb.DMatrix(frame, label=y, enable_categorical=True), num_boost_round=12)
    rows = np.column_stack([
        np.concatenate([np.arange(8), np.arange(8), [8, 11, np.nan, 3, np.nan]]).astype(float),
        np.concatenate([np.arange(8) % 3, (np.arange(8) + 1) % 3, [0, 2, 1, np.nan, np.nan]]).astype(float),
        RNG.normal(0, 1, 21),
    ])
    record(expected, "categorical", bst, rows, feature_names=["branch", "kind", "amount"], feature_types=["c", "c", "q"],
           note="category codes as numbers; codes 8 and 11 were never seen in training")

    # The same binary model in formats the tests must refuse.
    x = features(200, 3)
    y = (x[:, 0] > 0).astype(float)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 2, "seed": 11},
                    xgb.DMatrix(x, label=y), num_boost_round=3)
    bst.save_model("binary_1_7.model")  # XGBoost's own (deprecated) binary format
    bst.save_model("binary_1_7.ubj")    # UBJSON

    with open("expected.json", "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
