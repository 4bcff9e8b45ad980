#!/usr/bin/env bash
# Runs every Go benchmark against the same real servers the tests use.
# Extra arguments go to 'go test' (for example -bench=Ingest -benchtime=5s).
# Results print to standard output; docs/benchmarks.md records them.
set -euo pipefail
. "$(dirname "$0")/lib/services.sh"

log "go test -bench (2 cores: benchmarks share the machine with the servers)"
go test -run '^$' -bench . -benchmem -count=1 -timeout 60m "$@" ./...
