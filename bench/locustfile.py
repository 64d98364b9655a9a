"""Our Locust file for the side-by-side (Debian's python3-locust, headless).

    locust -f locustfile.py --headless --host http://127.0.0.1:5000 --only-summary

Each user posts the seed's two example applications in turn to /predict at one
request per second (constant_throughput(1), as `scorer bench load
--rate-per-user 1`). The shape spawns USERS users (default 100) at SPAWN/s
(default 5), holds them for HOLD seconds (the "at 100 users" numbers), then
adds RAMP users per second until the server breaks or MAX_SECONDS pass.

Breaking, as in `scorer bench load --until-break`: BREAK_SECONDS (3) seconds
in a row with a p95 above BREAK_P95_MS (1000) or any failure. Every second a
row (users, rps, p50/p95/p99/max, failures, and this process's own CPU in
percent of one core, from os.times) goes to OUT.csv, and the summary to
OUT.json with the fields of `scorer bench load --json` (OUT from the
environment, default locust-run). A breaking point found while this generator
used 80% of a core or more is reported as generator-bound.
"""
import csv
import json
import math
import os
import time

import gevent
from locust import HttpUser, LoadTestShape, constant_throughput, events, task

USERS = int(os.environ.get("USERS", "100"))
SPAWN = float(os.environ.get("SPAWN", "5"))
HOLD = float(os.environ.get("HOLD", "15"))
RAMP = float(os.environ.get("RAMP", "25"))
MAX_SECONDS = float(os.environ.get("MAX_SECONDS", "120"))
BREAK_P95_MS = float(os.environ.get("BREAK_P95_MS", "1000"))
BREAK_SECONDS = int(os.environ.get("BREAK_SECONDS", "3"))
CPU_BOUND = float(os.environ.get("CPU_BOUND", "80"))
OUT = os.environ.get("OUT", "locust-run")

EXAMPLES = [
    {"Term": 84, "NoEmp": 5, "CreateJob": 0, "RetainedJob": 5, "longitude": -77.9221, "latitude": 35.3664,
     "GrAppv": 1500000.0, "SBA_Appv": 1275000.0, "is_new": True, "FranchiseCode": "0", "UrbanRural": 1,
     "City": "Other", "State": "NC", "Bank": "BBCN BANK", "BankState": "CA", "RevLineCr": "N",
     "naics_first_two": "45", "same_state": False},
    {"Term": 19, "NoEmp": 10, "CreateJob": 0, "RetainedJob": 10, "longitude": -85.0117, "latitude": 41.0699,
     "GrAppv": 3500000.0, "SBA_Appv": 1750000.0, "is_new": False, "FranchiseCode": "1", "UrbanRural": 2,
     "City": "Other", "State": "IN", "Bank": "WELLS FARGO BANK NATL ASSOC", "BankState": "SD", "RevLineCr": "Y",
     "naics_first_two": "81", "same_state": False},
]


class Applicant(HttpUser):
    wait_time = constant_throughput(1)

    n = 0

    @task
    def predict(self):
        # One request per task: the two examples in turn.
        self.client.post("/predict", json=EXAMPLES[self.n % 2])
        self.n += 1


class Monitor:
    """Per-second statistics, the breaking point and the steady window."""

    def __init__(self):
        self.cur, self.cur_fail = [], 0
        self.steady, self.steady_fail, self.steady_start, self.steady_end = [], 0, None, None
        self.total, self.total_fail = 0, 0
        self.rows, self.bad, self.first_bad, self.prev, self.brk = [], 0, None, None, None
        self.max_cpu = 0.0
        self.first_error = ""
        self.phase = "ramp"

    def on_request(self, response_time, exception):
        if exception is not None:
            self.cur_fail += 1
            self.total_fail += 1
            if self.phase == "steady":
                self.steady_fail += 1
            if not self.first_error:
                self.first_error = repr(exception)[:300]
            return
        self.cur.append(response_time)
        self.total += 1
        if self.phase == "steady":
            self.steady.append(response_time)


MON = Monitor()


def rank(sorted_ms, q):
    if not sorted_ms:
        return 0.0
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)]


@events.request.add_listener
def _on_request(response_time=0, exception=None, **_):
    MON.on_request(response_time, exception)


def monitor(environment, start):
    f = open(OUT + ".csv", "w", newline="")
    w = csv.writer(f)
    w.writerow(["elapsed_s", "users", "requests", "failures", "rps", "failures_per_s",
                "p50_ms", "p95_ms", "p99_ms", "max_ms", "generator_cpu_pct"])
    last, last_cpu = time.monotonic(), sum(os.times()[:2])
    while True:
        gevent.sleep(1 - (time.monotonic() - last) % 1)
        now, cpu = time.monotonic(), sum(os.times()[:2])
        lat, fails = sorted(MON.cur), MON.cur_fail
        MON.cur, MON.cur_fail = [], 0
        secs = now - last
        users = environment.runner.user_count if environment.runner else 0
        row = {"elapsed": now - start, "users": users, "requests": len(lat) + fails, "failures": fails,
               "rps": (len(lat) + fails) / secs, "p50": rank(lat, .5), "p95": rank(lat, .95),
               "p99": rank(lat, .99), "max": lat[-1] if lat else 0.0, "cpu": 100 * (cpu - last_cpu) / secs}
        last, last_cpu = now, cpu
        MON.rows.append(row)
        if MON.brk is None:
            MON.max_cpu = max(MON.max_cpu, row["cpu"])
        w.writerow([f"{row['elapsed']:.3f}", users, row["requests"], fails, f"{row['rps']:.2f}",
                    f"{fails / secs:.2f}", f"{row['p50']:.3f}", f"{row['p95']:.3f}", f"{row['p99']:.3f}",
                    f"{row['max']:.3f}", f"{row['cpu']:.1f}"])
        f.flush()
        judge(row)


def judge(row):
    reason = ""
    if row["failures"] > 0:
        reason = f"{row['failures']} failures"
    elif row["requests"] == 0 and row["users"] > 0 and row["elapsed"] > 10:
        reason = "no request completed"
    elif row["requests"] > 0 and row["p95"] > BREAK_P95_MS:
        reason = f"p95 {row['p95']:.0f}ms > {BREAK_P95_MS:.0f}ms"
    if not reason:
        MON.prev, MON.first_bad, MON.bad = row, None, 0
        return
    if MON.first_bad is None:
        MON.first_bad = dict(row, reason=reason)
    MON.bad += 1
    if MON.bad >= BREAK_SECONDS and MON.brk is None:
        MON.brk = {"at": MON.first_bad, "last_good": MON.prev or {"users": 0, "rps": 0.0}}


class RampUntilBreak(LoadTestShape):
    """USERS at SPAWN/s, HOLD seconds, then RAMP users/s until a break."""

    def tick(self):
        t = self.get_run_time()
        ramp_done = USERS / SPAWN
        if MON.brk is not None or t > MAX_SECONDS:
            if MON.steady_end is None:
                MON.steady_end = time.monotonic()
            return None
        if t < ramp_done:
            return USERS, SPAWN
        if t < ramp_done + HOLD:
            if MON.phase == "ramp" and self.runner.user_count >= USERS:
                MON.phase, MON.steady_start = "steady", time.monotonic()
            return USERS, SPAWN
        if MON.phase != "beyond":
            MON.phase, MON.steady_end = "beyond", time.monotonic()
        return int(USERS + RAMP * (t - ramp_done - HOLD)) + 1, RAMP


@events.test_start.add_listener
def _on_start(environment, **_):
    gevent.spawn(monitor, environment, time.monotonic())


@events.quitting.add_listener
def _on_quit(environment, **_):
    steady = sorted(MON.steady)
    wall = (MON.steady_end or time.monotonic()) - (MON.steady_start or time.monotonic())
    n_steady = len(steady) + MON.steady_fail
    s = {
        "target": "locust " + (environment.host or ""), "users": USERS, "spawn_rate": SPAWN, "rate_per_user": 1,
        "requests": MON.total + MON.total_fail, "failures": MON.total_fail,
        "steady_requests": n_steady, "steady_rps": n_steady / wall if wall > 0 else 0.0,
        "steady_p50_ms": rank(steady, .5), "steady_p95_ms": rank(steady, .95), "steady_p99_ms": rank(steady, .99),
        "max_rps": max((r["rps"] for r in MON.rows), default=0.0),
        "max_users": max((r["users"] for r in MON.rows), default=0),
        "max_generator_cpu_pct": MON.max_cpu, "generator_bound": MON.max_cpu >= CPU_BOUND,
    }
    if MON.brk:
        s.update(break_users=MON.brk["at"]["users"], break_rps=MON.brk["at"]["rps"],
                 break_reason=MON.brk["at"]["reason"], last_good_users=MON.brk["last_good"]["users"],
                 last_good_rps=MON.brk["last_good"]["rps"])
    if MON.first_error:
        s["first_error"] = MON.first_error
    with open(OUT + ".json", "w") as f:
        json.dump(s, f, indent=2)
