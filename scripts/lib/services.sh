# Sourced by scripts/test.sh and scripts/bench.sh: installs what the tests
# need and is missing (bubblewrap, Azurite, versitygw), then starts
# throwaway PostgreSQL 15, Azurite and versitygw servers on free loopback
# ports, exports DEVMESH_TEST_* for internal/testenv, and stops them all on
# exit. Slow builds are cached under ${DEVMESH_CACHE:-$HOME/.cache/devmesh},
# keyed by version.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
cache=${DEVMESH_CACHE:-$HOME/.cache/devmesh}
mkdir -p "$cache/bin"
work=$(mktemp -d /tmp/devmesh-test.XXXXXX)
chmod 755 "$work"
pids=()
pgdata=""

log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
	local rc=$?
	for p in "${pids[@]:-}"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null || true
	done
	if [ -n "$pgdata" ] && [ -d "$pgdata" ]; then
		as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -m fast stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port name
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	log "$2 did not start listening on port $1"
	return 1
}

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# --- installs -------------------------------------------------------------

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
	log "installing ${need_apt[*]} (apt)"
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
	else
		sudo apt-get update -qq >/dev/null
		sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
	fi
fi

azurite_dir="$cache/azurite-3.35.0"
if [ ! -x "$azurite_dir/node_modules/.bin/azurite-blob" ]; then
	log "installing azurite@3.35.0 (npm) into $azurite_dir"
	mkdir -p "$azurite_dir"
	npm install --prefix "$azurite_dir" --no-audit --no-fund --silent azurite@3.35.0 >/dev/null
fi

versitygw="$cache/bin/versitygw-v1.8.0"
if [ ! -x "$versitygw" ]; then
	log "building versitygw v1.8.0 (about 70 s the first time)"
	GOBIN="$work/gobin" go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
	mv "$work/gobin/versitygw" "$versitygw"
fi

log "downloading Go modules"
go mod download

# --- servers --------------------------------------------------------------

pg_bin=/usr/lib/postgresql/15/bin
pg_port=$(free_port)
pgdata="$work/pg"
mkdir -p "$pgdata"
[ "$(id -u)" = 0 ] && chown postgres "$pgdata"
log "starting PostgreSQL 15 on 127.0.0.1:$pg_port"
as_postgres "$pg_bin/initdb" -D "$pgdata" -U postgres --auth=trust >/dev/null
as_postgres "$pg_bin/pg_ctl" -D "$pgdata" -l "$pgdata/server.log" \
	-o "-p $pg_port -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300" \
	-w start >/dev/null
export DEVMESH_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"

az_port=$(free_port)
log "starting Azurite on 127.0.0.1:$az_port"
mkdir -p "$work/azurite"
"$azurite_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 \
	--blobPort "$az_port" --location "$work/azurite" --disableTelemetry \
	--silent >"$work/azurite.log" 2>&1 &
pids+=($!)
wait_port "$az_port" Azurite
export DEVMESH_TEST_AZURITE_URL="http://127.0.0.1:$az_port/devstoreaccount1"

s3_port=$(free_port)
log "starting versitygw on 127.0.0.1:$s3_port"
mkdir -p "$work/s3"
export DEVMESH_TEST_S3_ACCESS_KEY=devmeshtest
export DEVMESH_TEST_S3_SECRET_KEY=devmeshtestsecret
ROOT_ACCESS_KEY= "$versitygw" --access "$DEVMESH_TEST_S3_ACCESS_KEY" \
	--secret "$DEVMESH_TEST_S3_SECRET_KEY" --port "127.0.0.1:$s3_port" \
	--quiet posix "$work/s3" >"$work/versitygw.log" 2>&1 &
pids+=($!)
wait_port "$s3_port" versitygw
export DEVMESH_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"

# A real Kubernetes control plane (no kubelet) for the Kubernetes driver.
. "$root/scripts/lib/kube.sh"

