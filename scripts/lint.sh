#!/usr/bin/env bash
# lint.sh — `make lint`: gofmt (fails on any unformatted file), go vet, staticcheck
# (installed with `go install` into GOBIN when missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Tracked and new files; ignored ones (.data/, bin/) are left out.
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.go')
if ((${#files[@]})); then
	unformatted=$(gofmt -l "${files[@]}")
	if [[ -n $unformatted ]]; then
		printf 'lint: gofmt would change these files (run gofmt -w):\n%s\n' "$unformatted" >&2
		exit 1
	fi
fi

go vet ./...

staticcheck=$(command -v staticcheck || true)
if [[ -z $staticcheck ]]; then
	gobin=$(go env GOBIN)
	if [[ -z $gobin ]]; then
		gopath=$(go env GOPATH)
		gobin=${gopath%%:*}/bin
	fi
	staticcheck=$gobin/staticcheck
	if [[ ! -x $staticcheck ]]; then
		echo "lint: installing staticcheck into $gobin"
		go install honnef.co/go/tools/cmd/staticcheck@latest
	fi
fi
"$staticcheck" ./...
