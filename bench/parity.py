"""Check that two /predict servers return the same probabilities.

Usage: /usr/bin/python3 parity.py URL_A URL_B APPS.jsonl [TOLERANCE]

Posts every application of APPS.jsonl (scorer gen output) to both URLs, one
request each, and compares default_proba. XGBoost sums its trees in float32
and the scorer reproduces that sum, so the probabilities agree to float32
rounding of the final sigmoid (default tolerance 1e-6, absolute). Exits 1 on
any difference above the tolerance or any failed request.
"""
import json
import sys
import urllib.request


def post(url, body):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["default_proba"]


def main(url_a, url_b, path, tol=1e-6):
    worst, n = 0.0, 0
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            a, b = post(url_a, line), post(url_b, line)
            worst = max(worst, abs(a - b))
            n += 1
            if abs(a - b) > tol:
                print(f"application {n}: {a} vs {b} (|diff| {abs(a - b):.3g} > {tol})")
    print(f"parity: {n} applications, max |diff| {worst:.3g} (tolerance {tol})")
    return 0 if worst <= tol and n > 0 else 1


if __name__ == "__main__":
    tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-6
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], tol))
