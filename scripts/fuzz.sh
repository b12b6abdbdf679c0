#!/usr/bin/env bash
# fuzz.sh — `make fuzz`: runs every fuzz target of every package for FUZZTIME (default
# 10s) with `go test -fuzz`, one after the other. A failing input is written by Go under
# the package's testdata/fuzz/ (commit it: it becomes a regression test). Exits non-zero
# when any target fails, after running them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-10s}
failed=()

# fuzz_one runs one target. Go's fuzzer sometimes ends a run with only
# "context deadline exceeded" when -fuzztime expires while a worker is busy,
# with no failing input: that run is tried once more. A real failure writes
# its input under testdata/fuzz and says so ("Failing input written to").
fuzz_one() {
	local pkg=$1 name=$2 out attempt
	for attempt in 1 2; do
		if out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1); then
			printf '%s\n' "$out"
			return 0
		fi
		printf '%s\n' "$out"
		if grep -q 'Failing input written to' <<<"$out" || ! grep -q 'context deadline exceeded' <<<"$out"; then
			return 1
		fi
		echo "fuzz.sh: $name ended on the fuzzer's own deadline without a failing input (attempt $attempt)"
	done
	return 1
}
count=0
# Only the packages whose tests declare a fuzz target: listing every package
# compiles every test binary, which took longer than the fuzzing itself.
mapfile -t dirs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -r -n1 dirname | sort -u)
pkgs=()
((${#dirs[@]} == 0)) || mapfile -t pkgs < <(go list "${dirs[@]}")
for pkg in "${pkgs[@]}"; do
	if ! listing=$(go test -run '^$' -list '^Fuzz' "$pkg" 2>&1); then
		printf '%s\n' "$listing" >&2
		failed+=("$pkg (listing)")
		continue
	fi
	mapfile -t names < <(grep -E '^Fuzz[[:alnum:]_]*$' <<<"$listing" || true)
	for name in "${names[@]}"; do
		count=$((count + 1))
		echo "fuzz.sh: $pkg $name ($fuzztime)"
		if ! fuzz_one "$pkg" "$name"; then
			failed+=("$pkg $name")
		fi
	done
done

if ((${#failed[@]})); then
	printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz.sh: $count targets ran for $fuzztime each, no failure"
