#!/usr/bin/env bash
# Measures the resource bounds of issue 11 (items 6 and 7) for
# docs/OPERATIONS.md, against a scorer binary (to compare builds, pass an
# older one):
#   1. model.path turned into /dev/zero (through a symbolic link), SIGHUP:
#      the peak RSS (VmHWM) after the reload is refused;
#   2. model.path turned into a FIFO, SIGHUP, SIGTERM: whether the process
#      exits, with which code, and whether it still answers /readyz;
#   3. under `ulimit -n 256`, 400 HTTP clients that send a request and keep
#      the connection: the descriptors the scorer holds and whether a NATS
#      client still gets the embedded server's INFO line.
# Usage: scripts/bounds.sh [BIN] (from the repository root; BIN defaults
# to a fresh `go build ./cmd/scorer`). Needs bash (for /dev/tcp) and the
# loopback ports 14231 and 18991 free. Every process it starts is stopped
# by its pid.
set -euo pipefail
work=$(mktemp -d)
pid=
stop() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	pid=
}
trap 'stop; rm -rf "$work"' EXIT

bin=${1:-}
if [[ -z $bin ]]; then
	bin=$work/scorer
	go build -o "$bin" ./cmd/scorer
fi
nats_port=14231 http_port=18991
echo "machine: $(nproc) CPUs, $(uptime)"
echo "binary: $bin"

# config MODEL [HTTP_LINE]: a configuration with the embedded server and
# its own store, and HTTP_LINE (indented) under http.
config() {
	rm -rf "$work/data"
	cat >"$work/scorer.yaml" <<EOF
model:
  path: "$1"
  features: [a, b, c, d, e, f]
nats:
  embedded:
    port: $nats_port
    store_dir: "$work/data"
http:
  addr: 127.0.0.1:$http_port
${2:-}
shutdown:
  timeout: 10s
EOF
}

# start [ulimit]: runs serve in the background and waits for /readyz.
start() {
	local limit=${1:-}
	: >"$work/log"
	if [[ -n $limit ]]; then
		bash -c "ulimit -n $limit && exec \"\$0\" serve --config \"\$1\"" "$bin" "$work/scorer.yaml" >"$work/log" 2>&1 &
	else
		"$bin" serve --config "$work/scorer.yaml" >"$work/log" 2>&1 &
	fi
	pid=$!
	for _ in $(seq 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "scorer did not start:" && cat "$work/log" && exit 1
}

# wait_log PATTERN: until the log holds PATTERN (60 s at most).
wait_log() {
	for _ in $(seq 600); do
		grep -q "$1" "$work/log" && return 0
		sleep 0.1
	done
	return 1
}

# exit_within SECONDS: waits for the scorer to exit; prints its code, or
# "still running" (and kills it).
exit_within() {
	for _ in $(seq $(($1 * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			local code=0
			wait "$pid" || code=$?
			pid=
			echo "exited with code $code"
			return
		fi
		sleep 0.1
	done
	local ready
	ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/readyz" || true)
	echo "still running after ${1}s, /readyz $ready"
	stop
}

model=$work/risk.json
echo
echo "== 1. reload of /dev/zero"
cp model/xgboost/testdata/binary_logistic.json "$model"
config "$model"
start
ln -sf /dev/zero "$model"
kill -HUP "$pid"
wait_log "reload failed" || echo "no reload failure logged within 60 s"
grep -o 'error="[^"]*"' "$work/log" | tail -1
grep -E 'VmHWM' "/proc/$pid/status"
kill -TERM "$pid"
exit_within 40

echo
echo "== 2. reload of a FIFO, then SIGTERM"
rm -f "$model"
cp model/xgboost/testdata/binary_logistic.json "$model"
config "$model"
start
rm -f "$model"
mkfifo "$model"
kill -HUP "$pid"
sleep 1
kill -TERM "$pid"
exit_within 35

echo
echo "== 3. 400 keep-alive HTTP clients under ulimit -n 256"
rm -f "$model"
cp model/xgboost/testdata/binary_logistic.json "$model"
probe=$(SCORER_HTTP_MAX_CONNS=64 "$bin" serve --log-level bad 2>&1 || true)
if [[ $probe != *"match no configuration key"* ]]; then
	config "$model" "  max_conns: 64"
	echo "(http.max_conns 64)"
else
	config "$model"
	echo "(this binary has no http.max_conns)"
fi
start 256
clients=()
for _ in $(seq 400); do
	if exec {fd}<>"/dev/tcp/127.0.0.1/$http_port" 2>/dev/null; then
		printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd" 2>/dev/null || true
		clients+=("$fd")
	fi
done
sleep 1
echo "clients connected: ${#clients[@]}; descriptors the scorer holds: $(ls "/proc/$pid/fd" | wc -l) (limit 256)"
if exec {nats}<>"/dev/tcp/127.0.0.1/$nats_port" 2>/dev/null && read -r -t 5 line <&"$nats"; then
	echo "NATS client: got ${line:0:4}"
else
	echo "NATS client: no INFO within 5 s"
fi
echo "'too many open files' log lines: $(grep -c 'too many open files' "$work/log" || true)"
for fd in "${clients[@]}"; do exec {fd}>&-; done
kill -TERM "$pid"
exit_within 40
