"""Turn a bench/run.sh output directory into the Markdown tables of
docs/BENCHMARKS.md.

Usage: /usr/bin/python3 summarize.py OUT_DIR > tables.md
"""
import glob
import json
import os
import re
import sys

SERVERS = [
    ("flask-xgb", "Flask + gunicorn + XGBoost"),
    ("scorer-xgb", "scorer + XGBoost JSON"),
    ("scorer-catboost", "scorer + CatBoost demo"),
]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cpu_per_request(out, fname, requests):
    """Server CPU milliseconds per request of a run (servercpu-*.txt)."""
    try:
        secs = float(open(os.path.join(out, fname)).read())
    except (OSError, ValueError):
        return "?"
    return f"{1000 * secs / requests:.2f} ms" if requests else "?"


def breaking(s):
    """The breaking point, or a lower bound with the reason it is one."""
    if s.get("break_users"):
        if s["generator_bound"]:
            return f"> {s['last_good_users']} users ({s['last_good_rps']:.0f} rps), generator-bound"
        return (f"{s['break_users']} users, {s['break_rps']:.0f} rps ({s['break_reason']}); "
                f"last good {s['last_good_users']} users, {s['last_good_rps']:.0f} rps")
    if s["generator_bound"]:
        return f"> {s['max_users']} users, generator-bound"
    return f"> {s['max_users']} users (not broken within the run)"


def latency_table(out):
    rows = ["| server | path | median | p95 | p99 | max |", "|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(out, "latency-*.txt"))):
        name = os.path.basename(path)[len("latency-"):-len(".txt")]
        text = open(path).read()
        vals = dict(re.findall(r"^(median|p95|p99|max):\s+([0-9.]+) ms", text, re.M))
        if not vals:
            continue
        server, via = name, "http"
        for key, label in SERVERS:
            if name.startswith(key):
                server, via = label, name[len(key) + 1:] or "http"
        rows.append(f"| {server} | {via} | {vals['median']} ms | {vals['p95']} ms | {vals['p99']} ms | {vals['max']} ms |")
    return "\n".join(rows)


def load_table(out):
    rows = ["| server | path | load generator | median @ 100 users | p95 @ 100 users | max rps | breaking point | generator CPU (max, % of a core) | server CPU per request |",
            "|---|---|---|---|---|---|---|---|---|"]
    for key, label in SERVERS:
        runs = [("http", "Locust", f"locust-{key}.json")]
        if key == "flask-xgb":
            runs.append(("http", "scorer bench load", f"bench-{key}.json"))
        else:
            runs += [("http", "scorer bench load", f"bench-{key}-http.json"),
                     ("nats", "scorer bench load", f"bench-{key}-nats.json")]
        for via, gen, fname in runs:
            s = load(os.path.join(out, fname))
            if s is None:
                rows.append(f"| {label} | {via} | {gen} | (no result) | | | | | |")
                continue
            cpu = cpu_per_request(out, "servercpu-" + fname.replace(".json", ".txt"), s["requests"])
            if s["steady_requests"]:
                steady = f"{s['steady_p50_ms']:.1f} ms | {s['steady_p95_ms']:.1f} ms"
            else:
                steady = f"broke before {s['users']} users | –"
            rows.append(f"| {label} | {via} | {gen} | {steady} | "
                        f"{s['max_rps']:.0f} | {breaking(s)} | {s['max_generator_cpu_pct']:.0f} | {cpu} |")
    return "\n".join(rows)


def fast_table(out):
    rows = ["| server | path | rps | p50 | p95 | p99 | failures | generator CPU (max, % of a core) | server CPU per request |",
            "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(glob.glob(os.path.join(out, "fast-*.json"))):
        s = load(path)
        if s is None:
            continue
        name = os.path.basename(path)[len("fast-"):-len(".json")]
        server, via = name, "http"
        for key, label in SERVERS:
            if name.startswith(key):
                server, via = label, name[len(key) + 1:] or "http"
        rows.append(f"| {server} | {via} | {s['steady_rps']:.0f} | {s['steady_p50_ms']:.2f} ms | {s['steady_p95_ms']:.2f} ms | "
                    f"{s['steady_p99_ms']:.2f} ms | {s['failures']} | {s['max_generator_cpu_pct']:.0f} | "
                    f"{cpu_per_request(out, 'servercpu-fast-' + name + '.txt', s['requests'])} |")
    return "\n".join(rows)


def main(out):
    print("### Machine\n\n```")
    print(open(os.path.join(out, "machine.txt")).read().rstrip())
    print("```\n")
    print("### Sequential latency (the seed's script: 1000 requests, one at a time, the seed's two examples)\n")
    print(latency_table(out) + "\n")
    print("### Load (the shape above: 1 request/s per user, ramping until it breaks)\n")
    print(load_table(out) + "\n")
    print("### Throughput with as many requests as answers allow (`scorer bench load --max`)\n")
    print(fast_table(out) + "\n")
    for name, title in (("parity.txt", "Parity (`bench/parity.py`, 1000 applications)"),
                        ("async-scorer-catboost.txt", "Async (`scorer bench async --n 20000`, CatBoost demo)")):
        p = os.path.join(out, name)
        if os.path.exists(p):
            print(f"### {title}\n\n```\n" + "".join(open(p).readlines()[-3:]).rstrip() + "\n```\n")


if __name__ == "__main__":
    main(sys.argv[1])
