#!/usr/bin/env bash
# fuzz.sh — run every `go test -fuzz` target of the module in turn.
#
#   scripts/fuzz.sh [FUZZTIME] [TARGET_REGEX]
#
# FUZZTIME (default 10m) is how long each target runs; TARGET_REGEX
# (default: all) picks targets by name. Each target runs with one worker
# (-parallel=1) so a run's cost is predictable on a small machine. New
# interesting inputs stay in Go's fuzz cache ($(go env GOCACHE)/fuzz); a
# crasher is written to the package's testdata/fuzz/<Target>/ by go test
# and becomes a regression test in the default test run once committed.
# The script ends with one line per target and exits non-zero if any
# target failed.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10m}
pick=${2:-.}
results=()
fail=0
while IFS=: read -r file _ decl; do
	name=${decl#func }
	name=${name%%(*}
	[[ $name =~ $pick ]] || continue
	pkg=./$(dirname "$file")
	echo "== $name ($pkg) for $fuzztime"
	start=$(date +%s)
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" -parallel=1 "$pkg"; then
		results+=("ok   $name $pkg $(( $(date +%s) - start ))s")
	else
		results+=("FAIL $name $pkg $(( $(date +%s) - start ))s")
		fail=1
	fi
done < <(git grep -n '^func Fuzz' -- '*_test.go')
printf '%s\n' "${results[@]}"
exit $fail
