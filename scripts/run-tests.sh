#!/usr/bin/env sh
# Runs the doctest binary (optionally through a runner such as qemu) and ends with one plain
# summary line, "tests: N passed, N failed", that CI systems read. Exit status is doctest's.
# usage: scripts/run-tests.sh [RUNNER] TEST_BINARY [doctest options]
set -u
if [ $# -ge 2 ] && [ ! -x "$1" ]; then runner=$1; shift; else runner=""; fi
binary=$1; shift
log=$(mktemp "${TMPDIR:-/tmp}/pocket-tests.XXXXXX")
# shellcheck disable=SC2086
$runner "$binary" "$@" 2>&1 | tee "$log"
status=$(tail -n 1 "$log" | sed -n 's/.*Status: \(SUCCESS\|FAILURE\).*/\1/p')
line=$(grep -a '\[doctest\] test cases:' "$log" | tail -n 1)
passed=$(echo "$line" | sed -n 's/.*| *\([0-9]*\) passed.*/\1/p')
failed=$(echo "$line" | sed -n 's/.*| *\([0-9]*\) failed.*/\1/p')
rm -f "$log"
echo "tests: ${passed:-0} passed, ${failed:-1} failed"
[ "$status" = "SUCCESS" ]
