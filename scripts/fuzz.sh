#!/usr/bin/env bash
# fuzz.sh — `make fuzz`: runs every fuzz target of every package for FUZZTIME (default
# 10s) with `go test -fuzz`, one after the other. A failing input is written by Go under
# the package's testdata/fuzz/ (commit it: it becomes a regression test). Exits non-zero
# when any target fails, after running them all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-10s}
failed=()
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
		if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"; then
			failed+=("$pkg $name")
		fi
	done
done

if ((${#failed[@]})); then
	printf 'fuzz.sh: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz.sh: $count targets ran for $fuzztime each, no failure"
