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
#   scripts/parquet-perf.sh pack DIR OUT.tar.xz       # DIR, node and GNU time in one archive
# pack is for a machine without Go, npm or GNU time (and without the
# network): the archive holds DIR/scorer (and DIR/scorer-base unless
# NO_BASE=1), DuckDB's node modules, this machine's node and GNU time
# (dynamically linked against glibc and libstdc++ only) and this script,
# about 60 MB (50 MB with NO_BASE=1), under a device machine's 64 MiB
# carry. There:
#   tar -xJf OUT.tar.xz -C /tmp && CORES="1 2 4 8 16" ROWS="3000000 10000000" TEXT_ROWS=0 /tmp/perf/parquet-perf.sh run /tmp/perf 1
# (by run 6's rates in docs/PERFORMANCE.md, the 1- and 2-core part of that
# takes about 3 minutes; the bundle was tried here with npm, node and
# /usr/bin/time off the PATH).
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
	sed -n '/^# It runs from/,/^#   scripts.*pack/p' "$0" >&2
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
	if ! command -v node >/dev/null; then
		echo "no node: DuckDB rows skipped" >&2
		return 0
	fi
	if [[ ! -d $dir/duckdb/node_modules/@duckdb/node-api ]]; then
		if ! command -v npm >/dev/null; then
			echo "no npm to install DuckDB with: DuckDB rows skipped" >&2
			return 0
		fi
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
	if ! GOMAXPROCS=$cores "$gnu_time" -v "${pin[@]}" "$@" >"$log" 2>&1; then
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
	if [[ -d $dir/bin ]]; then
		PATH=$dir/bin:$PATH # what pack carried: node, GNU time
	fi
	gnu_time=/usr/bin/time
	if [[ -x $dir/bin/time ]]; then
		gnu_time=$dir/bin/time
	fi
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

# pack DIR OUT: the archive described at the top.
pack() {
	local dir out=$2
	dir=$(cd "$1" && pwd)
	[[ -x $dir/scorer ]] || usage
	command -v node >/dev/null || { echo "pack needs node (and npm, once) here" >&2; exit 1; }
	[[ -x /usr/bin/time ]] || { echo "pack needs GNU time (/usr/bin/time) here" >&2; exit 1; }
	duckdb_setup "$dir" >/dev/null
	local stage
	stage=$(mktemp -d)
	mkdir -p "$stage/perf/bin"
	# Stripped (no symbol table or DWARF; the same code), 48 MB becomes
	# 33 MB and compresses to 10 MB instead of 20.
	local bin
	for bin in scorer scorer-base; do
		[[ -x $dir/$bin ]] || continue
		[[ $bin == scorer-base && ${NO_BASE:-0} == 1 ]] && continue
		cp "$dir/$bin" "$stage/perf/"
		if command -v strip >/dev/null; then
			strip "$stage/perf/$bin"
		fi
	done
	cp -r "$dir/duckdb" "$stage/perf/"
	cp "$(readlink -f "$(command -v node)")" "$stage/perf/bin/node"
	cp "$(readlink -f /usr/bin/time)" "$stage/perf/bin/time"
	cp "$0" "$stage/perf/parquet-perf.sh"
	tar -C "$stage" -cf - perf | xz -T0 -6 >"$out"
	rm -rf "$stage"
	echo "packed $out ($(du -h "$out" | cut -f1)): $(tar -tJf "$out" | grep -c .) entries"
}

case ${1:-} in
build) [[ $# -ge 2 ]] || usage; build "$2" "${3:-}" ;;
run) [[ $# -ge 2 ]] || usage; run "$2" "${3:-3}" ;;
pack) [[ $# -ge 3 ]] || usage; pack "$2" "$3" ;;
*) usage ;;
esac
