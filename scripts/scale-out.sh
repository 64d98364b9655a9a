#!/usr/bin/env bash
# Measures scale-out for docs/OPERATIONS.md ("Measured throughput on this
# machine"): `scorer bench async --n N` against one nats-server (file
# storage) with one and with two `scorer serve` worker processes, then
# against a three-node cluster with stream.replicas 3, again with one and
# two workers. Every setup starts from empty stores. All processes share
# this machine's cores.
# Usage: scripts/scale-out.sh [N] [rounds] (from the repository root; N
# defaults to 100000, rounds to 1). Needs the loopback ports 14221-14223,
# 16221-16223 and 18981-18982 free.
set -euo pipefail
n=${1:-100000}
rounds=${2:-1}
work=$(mktemp -d)
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

go build -o "$work/scorer" ./cmd/scorer
go build -o "$work/nats-server" github.com/nats-io/nats-server/v2
echo "machine: $(nproc) CPUs, $(uptime)"

# wait_for FILE PATTERN: until FILE contains PATTERN (60 s at most).
wait_for() {
	for _ in $(seq 600); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for '$2' in $1" >&2
	tail -20 "$1" >&2
	return 1
}

# start_servers COUNT: COUNT nats-servers (a cluster when COUNT > 1).
start_servers() {
	local count=$1 i j
	for i in $(seq "$count"); do
		local conf="$work/n$i.conf"
		{
			echo "server_name: n$i"
			echo "listen: \"127.0.0.1:1422$i\""
			echo "jetstream { store_dir: \"$work/store-n$i\" }"
			if [ "$count" -gt 1 ]; then
				echo "cluster { name: scale-out, listen: \"127.0.0.1:1622$i\", routes: ["
				for j in $(seq "$count"); do
					[ "$j" = "$i" ] || echo "  \"nats-route://127.0.0.1:1622$j\""
				done
				echo "] }"
			fi
		} >"$conf"
		rm -rf "$work/store-n$i"
		"$work/nats-server" -c "$conf" >"$work/n$i.log" 2>&1 &
		pids+=($!)
	done
	for i in $(seq "$count"); do wait_for "$work/n$i.log" "Server is ready"; done
	if [ "$count" -gt 1 ]; then
		for _ in $(seq 600); do
			cat "$work"/n*.log | grep -q "metadata leader" && return 0
			sleep 0.1
		done
		echo "no JetStream meta leader" >&2
		return 1
	fi
}

# run LABEL SERVERS WORKERS REPLICAS
run() {
	local label=$1 servers=$2 workers=$3 replicas=$4 urls="" i
	for i in $(seq "$servers"); do urls="$urls${urls:+,}nats://127.0.0.1:1422$i"; done
	start_servers "$servers"
	for i in $(seq "$workers"); do
		SCORER_NATS_URL=$urls SCORER_HTTP_ADDR=127.0.0.1:1898$i SCORER_STREAM_REPLICAS=$replicas \
			SCORER_LOG_LEVEL=warn "$work/scorer" serve >"$work/worker$i.log" 2>&1 &
		pids+=($!)
	done
	for i in $(seq "$workers"); do
		for _ in $(seq 600); do
			"$work/scorer" health --timeout 1s "http://127.0.0.1:1898$i/readyz" >/dev/null 2>&1 && break
			sleep 0.1
		done
	done
	echo "== $label: $servers server(s), stream.replicas $replicas, $workers worker(s), $n applications"
	"$work/scorer" bench async --nats-url "$urls" --n "$n"
	echo "load: $(uptime | sed 's/.*load average: //')"
	stop_all
}

for r in $(seq "$rounds"); do
	echo "### round $r"
	run "one nats-server" 1 1 1
	run "one nats-server" 1 2 1
	run "three-node cluster" 3 1 3
	run "three-node cluster" 3 2 3
done
