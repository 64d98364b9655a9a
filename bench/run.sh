#!/usr/bin/env bash
# The side-by-side of docs/BENCHMARKS.md, reproduced on this machine:
#   the seed's stack (Flask under gunicorn, a pandas DataFrame per request,
#   Debian's python3-xgboost 1.7.4 via /usr/bin/python3) serving an XGBoost
#   model trained on generated applications, against `scorer serve` serving the
#   same model (XGBoost JSON) and the demo CatBoost model, driven by the same
#   load from our Locust file and from `scorer bench load`.
#
# Usage: bench/run.sh [OUT_DIR]      (default $TMPDIR/loan-scorer-bench/<UTC time>)
# Knobs (environment): USERS=100 SPAWN=5 HOLD=15 RAMP=25 MAX_SECONDS=90
#   BREAK_P95_MS=1000 MAX_USERS_FAST=64 FAST_SECONDS=15 LATENCY_N=1000
#   WORKERS=$(nproc) (gunicorn workers) INSTALL=1 (apt-get install what is missing)
# Every run is bounded (MAX_SECONDS, FAST_SECONDS, LATENCY_N); everything listens
# on 127.0.0.1 only, on ports 15000 (Flask), 18989 (scorer HTTP), 14222 (NATS).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-${TMPDIR:-/tmp}/loan-scorer-bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

USERS=${USERS:-100} SPAWN=${SPAWN:-5} HOLD=${HOLD:-15} RAMP=${RAMP:-25}
MAX_SECONDS=${MAX_SECONDS:-90} BREAK_P95_MS=${BREAK_P95_MS:-1000}
MAX_USERS_FAST=${MAX_USERS_FAST:-64} FAST_SECONDS=${FAST_SECONDS:-15} LATENCY_N=${LATENCY_N:-1000}
WORKERS=${WORKERS:-$(nproc)}
export USERS SPAWN HOLD RAMP MAX_SECONDS BREAK_P95_MS

PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
FLASK_PORT=15000 HTTP_PORT=18989 NATS_PORT=14222

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$out/run.log" >&2; }

# --- tools --------------------------------------------------------------------
pkgs="python3-flask gunicorn python3-locust python3-pandas python3-xgboost"
if ! $PY -c 'import flask, pandas, xgboost, locust, gunicorn' 2>/dev/null; then
	if [[ ${INSTALL:-0} == 1 ]]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs
	else
		echo "missing Debian packages: apt-get install -y $pkgs (or run with INSTALL=1)" >&2
		exit 1
	fi
fi
xgb_version=$($PY -c 'import xgboost; print(xgboost.__version__)')
log "python $($PY --version 2>&1 | cut -d' ' -f2); Debian packages: $(dpkg-query -W -f='${Package} ${Version}, ' $pkgs 2>/dev/null)"

scorer=$out/scorer
(cd "$root" && go build -o "$scorer" ./cmd/scorer)

# --- processes ----------------------------------------------------------------
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

wait_http() { # url, seconds
	local deadline=$((SECONDS + $2))
	until curl -fsS -o /dev/null "$1" 2>/dev/null; do
		((SECONDS < deadline)) || { log "not up within $2 s: $1"; return 1; }
		sleep 0.2
	done
}

# server_cpu PID: CPU seconds used so far by PID and its descendants (gunicorn's
# master and workers), from /proc/<pid>/stat (utime + stime, in clock ticks).
server_cpu() {
	local total=0 p f todo=("$1") c
	while ((${#todo[@]})); do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do todo+=("$c"); done
		f=$(cut -d')' -f2- "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		total=$((total + ${12} + ${13}))
	done
	awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f\n", t / hz }'
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start_flask() {
	XGB_MODEL="$out/xgb.json" OMP_NUM_THREADS=1 $PY /usr/bin/gunicorn --chdir "$here" \
		--workers "$WORKERS" --bind 127.0.0.1:$FLASK_PORT --log-level warning flask_app:app \
		>"$out/gunicorn.log" 2>&1 &
	flask_pid=$!
	server_pid=$flask_pid
	pids+=("$flask_pid")
	wait_http "http://127.0.0.1:$FLASK_PORT/healthz" 60
}

start_scorer() { # extra serve args...
	rm -rf "$out/nats-data"
	SCORER_NATS_EMBEDDED_PORT=$NATS_PORT SCORER_NATS_EMBEDDED_STORE_DIR="$out/nats-data" \
		"$scorer" serve --http-addr 127.0.0.1:$HTTP_PORT --log-level warn "$@" >>"$out/serve.log" 2>&1 &
	scorer_pid=$!
	server_pid=$scorer_pid
	pids+=("$scorer_pid")
	wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 60
	# The sync subject answers once the micro service is registered.
	"$scorer" bench latency --target nats --nats-url nats://127.0.0.1:$NATS_PORT --n 50 --bodies seed >/dev/null 2>&1 ||
		"$scorer" bench latency --target nats --nats-url nats://127.0.0.1:$NATS_PORT --n 50 --bodies seed >/dev/null
}

# A server left on one of the ports would be measured instead of ours.
for port in $FLASK_PORT $HTTP_PORT $NATS_PORT; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "127.0.0.1:$port is already in use: stop what listens there first" >&2
		exit 1
	fi
done

# --- runs -----------------------------------------------------------------------
note() { echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average $(cut -d' ' -f1-3 /proc/loadavg)"; }

latency() { # name, target, url-or-nats
	local name=$1 target=$2
	log "latency $name ($target), load $(cut -d' ' -f1-3 /proc/loadavg)"
	"$scorer" bench latency --target "$target" --url "$3" --nats-url "nats://127.0.0.1:$NATS_PORT" \
		--n "$LATENCY_N" --bodies seed >"$out/latency-$name.txt"
	cat "$out/latency-$name.txt" >>"$out/run.log"
}

locust_run() { # name, host
	local name=$1 cpu0
	log "locust $name, load $(cut -d' ' -f1-3 /proc/loadavg)"
	cpu0=$(server_cpu "$server_pid")
	(cd "$here" && OUT="$out/locust-$name" timeout $((MAX_SECONDS + 60)) $PY /usr/bin/locust -f locustfile.py \
		--headless --host "$2" --only-summary --loglevel WARNING) >"$out/locust-$name.txt" 2>&1 || true
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/locust-$name.txt"
	awk -v a="$(server_cpu "$server_pid")" -v b="$cpu0" 'BEGIN { printf "%.2f\n", a - b }' >"$out/servercpu-locust-$name.txt"
}

bench_run() { # name, target, url
	local name=$1 target=$2 cpu0
	log "scorer bench load $name ($target), load $(cut -d' ' -f1-3 /proc/loadavg)"
	cpu0=$(server_cpu "$server_pid")
	"$scorer" bench load --target "$target" --url "$3" --nats-url "nats://127.0.0.1:$NATS_PORT" --bodies seed \
		--users "$USERS" --spawn-rate "$SPAWN" --rate-per-user 1 --until-break --hold "${HOLD}s" --ramp-rate "$RAMP" \
		--duration "${MAX_SECONDS}s" --break-p95 "${BREAK_P95_MS}ms" --timeout 10s \
		--csv "$out/bench-$name.csv" --html "$out/bench-$name.html" --json "$out/bench-$name.json" \
		--note "$(note)" >"$out/bench-$name.txt" 2>&1 || true
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/bench-$name.txt"
	awk -v a="$(server_cpu "$server_pid")" -v b="$cpu0" 'BEGIN { printf "%.2f\n", a - b }' >"$out/servercpu-bench-$name.txt"
	log "scorer bench load $name ($target) --max, $MAX_USERS_FAST users"
	cpu0=$(server_cpu "$server_pid")
	"$scorer" bench load --target "$target" --url "$3" --nats-url "nats://127.0.0.1:$NATS_PORT" --bodies seed \
		--users "$MAX_USERS_FAST" --spawn-rate 1000 --max --duration "${FAST_SECONDS}s" --timeout 10s \
		--json "$out/fast-$name.json" -q >"$out/fast-$name.txt" 2>&1 || true
	awk -v a="$(server_cpu "$server_pid")" -v b="$cpu0" 'BEGIN { printf "%.2f\n", a - b }' >"$out/servercpu-fast-$name.txt"
}

{
	echo "date: $(date -u +%FT%TZ)"
	echo "machine: $(note)"
	echo "kernel: $(uname -sr)"
	echo "go: $(cd "$root" && go version)"
	echo "scorer: $(cd "$root" && git rev-parse --short HEAD)"
	echo "packages: $(dpkg-query -W -f='${Package} ${Version}, ' $pkgs 2>/dev/null)"
	echo "xgboost: $xgb_version; gunicorn workers: $WORKERS (sync), OMP_NUM_THREADS=1"
	echo "shape: $USERS users at $SPAWN/s, hold ${HOLD}s, then +$RAMP users/s, at most ${MAX_SECONDS}s; break: p95 > ${BREAK_P95_MS}ms or failures, 3 s in a row"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

log "training the XGBoost model on 50,000 generated applications"
"$scorer" gen --n 50000 --labels --seed 11 -o "$out/train.jsonl" >/dev/null
(cd "$here" && $PY train_xgb.py "$out/train.jsonl" "$out/xgb.json") | tee -a "$out/run.log"

start_flask
start_scorer --model "$out/xgb.json"
log "parity: the same XGBoost model behind Flask and behind scorer serve"
"$scorer" gen --n 1000 --seed 5 -o "$out/parity.jsonl" >/dev/null
$PY "$here/parity.py" "http://127.0.0.1:$FLASK_PORT/predict" "http://127.0.0.1:$HTTP_PORT/predict" "$out/parity.jsonl" |
	tee "$out/parity.txt" | tail -1 | tee -a "$out/run.log"

# Flask alone on the machine (the scorer idles meanwhile).
server_pid=$flask_pid
latency flask-xgb http "http://127.0.0.1:$FLASK_PORT/predict"
locust_run flask-xgb "http://127.0.0.1:$FLASK_PORT"
bench_run flask-xgb http "http://127.0.0.1:$FLASK_PORT/predict"
stop_pid "$flask_pid"

server_pid=$scorer_pid
latency scorer-xgb-http http "http://127.0.0.1:$HTTP_PORT/predict"
latency scorer-xgb-nats nats "http://127.0.0.1:$HTTP_PORT/predict"
locust_run scorer-xgb "http://127.0.0.1:$HTTP_PORT"
bench_run scorer-xgb-http http "http://127.0.0.1:$HTTP_PORT/predict"
bench_run scorer-xgb-nats nats "http://127.0.0.1:$HTTP_PORT/predict"
stop_pid "$scorer_pid"

start_scorer
latency scorer-catboost-http http "http://127.0.0.1:$HTTP_PORT/predict"
latency scorer-catboost-nats nats "http://127.0.0.1:$HTTP_PORT/predict"
locust_run scorer-catboost "http://127.0.0.1:$HTTP_PORT"
bench_run scorer-catboost-http http "http://127.0.0.1:$HTTP_PORT/predict"
bench_run scorer-catboost-nats nats "http://127.0.0.1:$HTTP_PORT/predict"
log "async: 20,000 applications through loans.score"
"$scorer" bench async --n 20000 --nats-url "nats://127.0.0.1:$NATS_PORT" >"$out/async-scorer-catboost.txt" 2>&1 || true
cat "$out/async-scorer-catboost.txt" >>"$out/run.log"
stop_pid "$scorer_pid"

$PY "$here/summarize.py" "$out" | tee "$out/tables.md"
log "done: $out (tables.md, *.html reports, *.csv rows)"
