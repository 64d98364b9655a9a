#!/usr/bin/env bash
# Measures `scorer score` for docs/PERFORMANCE.md ("Parquet"): rows/s on a
# generated 1,000,000-row file next to the copy-through baseline (same
# reader, writer and zstd, scoring replaced by a constant), interleaved
# rounds; the evaluator's own rows/s; peak RSS on 1M and 10M rows.
# Usage: scripts/parquet-perf.sh [rounds] (from the repository root).
set -euo pipefail
rounds=${1:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/scorer" ./cmd/scorer
echo "machine: $(nproc) CPUs, $(uptime)"
"$work/scorer" gen --n 1000000 -o "$work/1m.parquet"
for r in $(seq "$rounds"); do
	"$work/scorer" score "$work/1m.parquet" -o "$work/out.parquet" 2>&1 | sed "s/^/round $r score:        /"
	"$work/scorer" score "$work/1m.parquet" -o "$work/out.parquet" --copy-through 2>&1 | sed "s/^/round $r copy-through: /"
done
go test -run '^$' -bench 'Evaluator' -benchtime 200x ./internal/bulk/ | grep Benchmark
"$work/scorer" gen --n 10000000 -o "$work/10m.parquet"
for n in 1m 10m; do
	/usr/bin/time -v "$work/scorer" score "$work/$n.parquet" -o "$work/out.parquet" 2>&1 |
		grep -E 'scored|Maximum resident' | sed "s/^/$n: /"
done
echo "after: $(uptime)"
