"""The seed's architecture, for the side-by-side: a Flask /predict app that
builds a pandas DataFrame per request and asks the model, run under gunicorn.

    XGB_MODEL=model.json gunicorn --workers 2 --bind 127.0.0.1:5000 flask_app:app

POST /predict takes one application (a JSON object, the seed's shape) or an
array of them and answers {"default_proba": p} (an array for an array), as the
seed did and as the scorer's HTTP endpoint does. The model is an XGBoost
booster (bench/train_xgb.py) over FEATURES; other fields are ignored.
"""
import os

import pandas as pd
import xgboost as xgb
from flask import Flask, jsonify, request

from train_xgb import FEATURES

app = Flask(__name__)
booster = xgb.Booster()
booster.load_model(os.environ["XGB_MODEL"])
# One thread per prediction: gunicorn's workers are the parallelism.
booster.set_param({"nthread": 1})


@app.route("/predict", methods=["POST"])
def predict():
    data = request.get_json(force=True)
    rows = data if isinstance(data, list) else [data]
    try:
        df = pd.DataFrame(rows, columns=FEATURES).astype(float)
    except (TypeError, ValueError) as e:
        return jsonify({"error": str(e)}), 400
    proba = booster.predict(xgb.DMatrix(df, feature_names=FEATURES))
    if isinstance(data, list):
        return jsonify([{"default_proba": float(p)} for p in proba])
    return jsonify({"default_proba": float(proba[0])})


@app.route("/healthz")
def healthz():
    return "ok"
