#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run runs exactly this).
# 1. vet and every test with the race detector;
# 2. every fuzz target (any `func FuzzXxx` in a _test.go file) for FUZZTIME each,
#    seeded from its corpus and testdata/fuzz, so decoders of outside bytes are
#    exercised on every run without an unbounded fuzzing session.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-15s}

go vet ./...
go test -race -timeout 45m ./...

grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | sort | while read -r file; do
	pkg="./$(dirname "${file#./}")"
	for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
		echo "fuzz $pkg $target for $FUZZTIME"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
	done
done
echo "all tests and fuzz targets passed"
