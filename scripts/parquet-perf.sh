#!/usr/bin/env bash
# Measures `scorer score` for docs/PERFORMANCE.md ("Bulk files"), side by
# side in one run on the same generated files: `scorer score` (demo model),
# `scorer score --copy-through` (the same reading and writing, scoring
# replaced by a constant), DuckDB's COPY (SELECT * FROM read_parquet(...)) TO
# ... (FORMAT parquet, COMPRESSION zstd), and a baseline binary's score
# when given; rows/s, peak RSS and CPU seconds, for each core count, in interleaved
# rounds with the load average beside them. Then CSV and JSON lines (score
# only, this binary and the baseline).
#
# It runs from prebuilt static binaries, so it can be carried as it is to
# another (many-core) machine:
#   scripts/parquet-perf.sh build DIR [BASE_COMMIT]   # DIR/scorer (this tree), DIR/scorer-base
#   scripts/parquet-perf.sh run DIR [ROUNDS]          # needs DIR/scorer; DIR/scorer-base optional
# Environment: ROWS (default "1000000 10000000"), CORES (default "1 N" for
# N cores; "1 2 4 8 16" on a large machine), TEXT_ROWS (CSV and JSON lines,
# default 1000000; 0 skips them), WORK (scratch folder, default a mktemp
# under /tmp: the files take about 0.7 GB for 10M rows).
#
# DuckDB comes from npm (@duckdb/node-api), installed by `run` into
# DIR/duckdb unless there already; without node and npm its rows are
# skipped. Each tool is held to the core count by taskset (where there is
# one) and by its own setting (GOMAXPROCS, DuckDB's threads). Rows/s: the
# summary line of `scorer score` (from opening the input to the renamed,
# fsynced output; the model is loaded before), DuckDB's own COPY statement
# (no fsync). Peak RSS: GNU time's maximum resident set size (DuckDB's
# includes node's own, about 50 MB). CPU: GNU time's user plus system
# seconds of the whole process (model loading and node included), which
# other load on a shared machine disturbs less than rows/s.
set -euo pipefail

usage() {
	sed -n '/^# It runs from/,/^#   scripts.*run/p' "$0" >&2
	exit 2
}

build() {
	local dir=$1 base=${2:-}
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	cd "$(dirname "$0")/.."
	CGO_ENABLED=0 go build -trimpath -o "$dir/scorer" ./cmd/scorer
	if [[ -n $base ]]; then
		local src
		src=$(mktemp -d)
		git archive "$base" | tar -x -C "$src"
		(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$dir/scorer-base" ./cmd/scorer)
		rm -rf "$src"
		echo "built $dir/scorer ($(git rev-parse --short HEAD)) and $dir/scorer-base ($base)"
	else
		echo "built $dir/scorer ($(git rev-parse --short HEAD))"
	fi
}

# duckdb_setup DIR: the node script that runs one COPY, or nothing.
duckdb_setup() {
	local dir=$1
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "no node and npm: DuckDB rows skipped" >&2
		return 0
	fi
	if [[ ! -d $dir/duckdb/node_modules/@duckdb/node-api ]]; then
		mkdir -p "$dir/duckdb"
		(cd "$dir/duckdb" && npm install --no-audit --no-fund --silent @duckdb/node-api >/dev/null)
	fi
	cat >"$dir/duckdb/copy.mjs" <<'EOF'
// node copy.mjs IN OUT THREADS [csv]: DuckDB's COPY of a Parquet file to
// zstd Parquet (or to CSV, to make the CSV input); prints rows/s.
import { DuckDBInstance } from '@duckdb/node-api';
const [inp, out, threads, fmt] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const c = await db.connect();
const to = fmt === 'csv' ? '(FORMAT csv, HEADER)' : '(FORMAT parquet, COMPRESSION zstd)';
const t0 = performance.now();
await c.run(`COPY (SELECT * FROM read_parquet('${inp}')) TO '${out}' ${to}`);
const s = (performance.now() - t0) / 1000;
const n = Number((await c.runAndReadAll(`SELECT count(*) FROM read_parquet('${inp}')`)).getRows()[0][0]);
console.log(`duckdb copied ${n} rows in ${s.toFixed(2)}s: ${Math.round(n / s)} rows/s`);
EOF
	echo "$dir/duckdb/copy.mjs"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# measure LABEL CORES CMD...: one run; prints LABEL, cores, rows/s, peak RSS.
measure() {
	local label=$1 cores=$2
	shift 2
	local pin=()
	if command -v taskset >/dev/null; then
		pin=(taskset -c "0-$((cores - 1))")
	fi
	local log
	log=$(mktemp)
	if ! GOMAXPROCS=$cores /usr/bin/time -v "${pin[@]}" "$@" >"$log" 2>&1; then
		echo "$label cores=$cores FAILED:" >&2
		cat "$log" >&2
		rm -f "$log"
		return 1
	fi
	local rps rss cpu
	rps=$(grep -oE '[0-9]+ rows/s' "$log" | head -1 | cut -d' ' -f1)
	rss=$(awk '/Maximum resident set size/ {printf "%.1f", $6/1024}' "$log")
	cpu=$(awk '/User time \(seconds\)|System time \(seconds\)/ {s += $NF} END {printf "%.2f", s}' "$log")
	printf '%-22s cores=%-3s %10s rows/s  peak RSS %7s MB  cpu %6s s  load %s\n' "$label" "$cores" "$rps" "$rss" "$cpu" "$(load)"
	rm -f "$log"
}

run() {
	local dir rounds=${2:-3}
	dir=$(cd "$1" && pwd)
	[[ -x $dir/scorer ]] || usage
	work=${WORK:-}
	if [[ -z $work ]]; then
		work=$(mktemp -d)
		trap 'rm -rf "$work"' EXIT
	fi
	local n_cpu
	n_cpu=$(nproc)
	local rows=${ROWS:-1000000 10000000} cores=${CORES:-1 $n_cpu} text_rows=${TEXT_ROWS:-1000000}
	local copy
	copy=$(duckdb_setup "$dir")
	echo "machine: $n_cpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')), $(uname -sr)"
	echo "binaries: $(ls -l --time-style=+%FT%T "$dir"/scorer* | awk '{print $NF, $6}' | tr '\n' ' ')"
	echo "start: $(date -u +%FT%TZ), load $(load)"
	for n in $rows; do
		local in=$work/in-$n.parquet out=$work/out.parquet
		"$dir/scorer" gen --n "$n" -o "$in" 2>/dev/null
		echo "== $n rows ($(du -h "$in" | cut -f1) Parquet, scorer gen)"
		for c in $cores; do
			for r in $(seq "$rounds"); do
				echo "-- round $r"
				if [[ -x $dir/scorer-base ]]; then
					rm -f "$out"
					measure "baseline score" "$c" "$dir/scorer-base" score "$in" -o "$out"
				fi
				rm -f "$out"
				measure "score" "$c" "$dir/scorer" score "$in" -o "$out"
				rm -f "$out"
				measure "score --copy-through" "$c" "$dir/scorer" score --copy-through "$in" -o "$out"
				if [[ -n $copy ]]; then
					rm -f "$out"
					measure "duckdb copy" "$c" node "$copy" "$in" "$out" "$c"
				fi
			done
		done
		rm -f "$in" "$out"
	done
	if [[ $text_rows -gt 0 ]]; then
		local pq=$work/text.parquet
		"$dir/scorer" gen --n "$text_rows" -o "$pq" 2>/dev/null
		"$dir/scorer" gen --n "$text_rows" -o "$work/in.jsonl" 2>/dev/null
		if [[ -n $copy ]]; then
			node "$copy" "$pq" "$work/in.csv" "$n_cpu" csv >/dev/null
		fi
		for ext in csv jsonl; do
			[[ -f $work/in.$ext ]] || continue
			echo "== $text_rows rows, $ext ($(du -h "$work/in.$ext" | cut -f1))"
			for c in $cores; do
				for r in $(seq "$rounds"); do
					echo "-- round $r"
					if [[ -x $dir/scorer-base ]]; then
						rm -f "$work/out.$ext"
						measure "baseline score $ext" "$c" "$dir/scorer-base" score "$work/in.$ext" -o "$work/out.$ext"
					fi
					rm -f "$work/out.$ext"
					measure "score $ext" "$c" "$dir/scorer" score "$work/in.$ext" -o "$work/out.$ext"
				done
			done
		done
	fi
	echo "end: $(date -u +%FT%TZ), load $(load)"
}

case ${1:-} in
build) [[ $# -ge 2 ]] || usage; build "$2" "${3:-}" ;;
run) [[ $# -ge 2 ]] || usage; run "$2" "${3:-3}" ;;
*) usage ;;
esac
