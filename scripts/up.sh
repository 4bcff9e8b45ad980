#!/usr/bin/env bash
# Installs what DevMesh needs and is missing, builds the devmesh binary and
# starts it on embedded defaults: SQLite, local blob files and the
# bubblewrap sandbox, all under ./devmesh-data. Extra arguments are passed
# to 'devmesh up' (for example --addr 127.0.0.1:9443).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { printf '==> %s\n' "$*" >&2; }

if ! command -v bwrap >/dev/null; then
	log "installing bubblewrap (the local sandbox)"
	sudo_cmd=""
	[ "$(id -u)" = 0 ] || sudo_cmd=sudo
	$sudo_cmd apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq bubblewrap >/dev/null
fi
if ! command -v python3 >/dev/null; then
	log "python3 is missing: the sample task runs Python; install it with apt-get install python3"
fi

log "downloading Go modules"
go mod download
log "building bin/devmesh"
mkdir -p bin
go build -o bin/devmesh ./cmd/devmesh
# The sandbox's small helper: devmesh uses it when it sits beside it.
go build -o bin/devmesh-sandbox-helper ./cmd/devmesh-sandbox-helper
exec bin/devmesh up "$@"
