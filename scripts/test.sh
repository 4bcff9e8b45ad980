#!/usr/bin/env bash
# Runs the whole DevMesh test suite on a fresh machine: installs what is
# missing, starts throwaway PostgreSQL, Azurite and versitygw servers on free
# loopback ports (scripts/lib/services.sh), runs gofmt, go vet and go test,
# and stops every server it started, whatever the outcome.
set -euo pipefail
. "$(dirname "$0")/lib/services.sh"

# --- checks ---------------------------------------------------------------

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	printf 'gofmt would change:\n%s\n' "$unformatted" >&2
	exit 1
fi

log "go build and go vet"
go build ./...
go vet ./...

# Packages whose tests exercise concurrency run under the race detector.
race_pkgs=$(go list ./... | grep -E '/(store|audit|ledger|relay|blob|server|auth|runner)(/|$)' || true)
other_pkgs=$(go list ./... | grep -vE '/(store|audit|ledger|relay|blob|server|auth|runner)(/|$)' || true)

log "go test"
status=0
if [ -n "$other_pkgs" ]; then
	go test -count=1 -timeout 20m $other_pkgs || status=1
fi
if [ -n "$race_pkgs" ]; then
	go test -race -count=1 -timeout 20m $race_pkgs || status=1
fi
exit $status
