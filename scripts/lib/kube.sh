# Sourced by scripts/lib/services.sh after it defines cache, work, pids,
# log, free_port and wait_port. Builds (once per version, into
# ${cache}/bin) and starts a real Kubernetes control plane on loopback
# for the Kubernetes sandbox driver's tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, and kwok faking one node.
# There is no kubelet: kwok marks pods running and then complete without
# running any container. Exports DEVMESH_TEST_KUBECONFIG.
#
# Cold build on 2 cores: about 10 minutes (kube-apiserver alone ~5);
# warm start: a few seconds.

kube_version=v1.37.2
etcd_version=v3.7.0
kwok_version=v0.8.0
kube_module="$root/internal/testservers/kube"

kube_bin() { printf '%s/bin/%s-%s' "$cache" "$1" "$2"; }

# kube_build NAME VERSION PACKAGE: builds a tool of the wrapper module.
# One package at a time: kube-apiserver peaks near 3 GB while linking.
kube_build() {
	local out
	out=$(kube_bin "$1" "$2")
	[ -x "$out" ] && return 0
	log "building $1 $2 (several minutes the first time)"
	(cd "$kube_module" && go build -trimpath -o "$out.tmp" \
		-ldflags "-X k8s.io/component-base/version.gitVersion=$kube_version" "$3")
	mv "$out.tmp" "$out"
}

kube_build etcd "$etcd_version" go.etcd.io/etcd/server/v3
kube_build kube-apiserver "$kube_version" k8s.io/kubernetes/cmd/kube-apiserver
kube_build kube-controller-manager "$kube_version" k8s.io/kubernetes/cmd/kube-controller-manager
kube_build kube-scheduler "$kube_version" k8s.io/kubernetes/cmd/kube-scheduler
if [ ! -x "$(kube_bin kwok "$kwok_version")" ]; then
	log "building kwok $kwok_version"
	GOBIN="$work/gobin" go install "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
	mv "$work/gobin/kwok" "$(kube_bin kwok "$kwok_version")"
fi

# --- credentials ----------------------------------------------------------

kube_dir="$work/kube"
mkdir -p "$kube_dir"
(
	cd "$kube_dir"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=devmesh-test-ca" \
		-keyout ca.key -out ca.crt 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
		-keyout serving.key -out serving.csr 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >serving.ext
	openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
		-days 2 -extfile serving.ext -out serving.crt 2>/dev/null
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
kube_token=$(openssl rand -hex 24)
printf '%s,admin,1000,"system:masters"\n' "$kube_token" >"$kube_dir/tokens.csv"

# --- etcd and the API server ---------------------------------------------

etcd_port=$(free_port)
etcd_peer=$(free_port)
log "starting etcd $etcd_version on 127.0.0.1:$etcd_port"
"$(kube_bin etcd "$etcd_version")" --name devmesh-test --data-dir "$kube_dir/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" \
	--advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-cluster "devmesh-test=http://127.0.0.1:$etcd_peer" \
	--unsafe-no-fsync >"$kube_dir/etcd.log" 2>&1 &
etcd_pid=$!
pids+=("$etcd_pid")
wait_port "$etcd_port" etcd

api_port=$(free_port)
log "starting kube-apiserver $kube_version on 127.0.0.1:$api_port"
# The API server drains for a minute or more on SIGTERM, retrying etcd
# if it is already gone; this one holds nothing worth draining, so a
# small supervisor, whose pid is the one recorded, kills it outright.
kube_apiserver() {
	"$(kube_bin kube-apiserver "$kube_version")" "$@" &
	local child=$!
	trap 'kill -9 $child 2>/dev/null; exit 0' TERM
	wait "$child"
}
kube_apiserver \
	--etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
	--secure-port "$api_port" \
	--tls-cert-file "$kube_dir/serving.crt" --tls-private-key-file "$kube_dir/serving.key" \
	--client-ca-file "$kube_dir/ca.crt" \
	--token-auth-file "$kube_dir/tokens.csv" \
	--authorization-mode RBAC \
	--service-account-issuer https://127.0.0.1 \
	--service-account-key-file "$kube_dir/sa.pub" \
	--service-account-signing-key-file "$kube_dir/sa.key" \
	--service-cluster-ip-range 10.96.0.0/24 \
	--endpoint-reconciler-type none \
	--kubelet-preferred-address-types InternalIP \
	>"$kube_dir/apiserver.log" 2>&1 &
pids+=($!)
wait_port "$api_port" kube-apiserver

# kube_wait WHAT PATH PATTERN: polls the API server until the body at
# PATH contains PATTERN, for at most 30 s.
kube_wait() {
	local body
	for _ in $(seq 1 300); do
		body=$(curl -fsk -H "Authorization: Bearer $kube_token" \
			"https://127.0.0.1:$api_port$2" 2>/dev/null || true)
		case $body in *"$3"*) return 0 ;; esac
		sleep 0.1
	done
	log "$1 not ready after 30 s; logs in $kube_dir"
	return 1
}
kube_wait kube-apiserver /readyz ok

export DEVMESH_TEST_KUBECONFIG="$kube_dir/kubeconfig"
cat >"$DEVMESH_TEST_KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: devmesh-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $kube_dir/ca.crt
users:
- name: admin
  user:
    token: $kube_token
contexts:
- name: devmesh-test
  context: {cluster: devmesh-test, user: admin}
current-context: devmesh-test
EOF
chmod 600 "$DEVMESH_TEST_KUBECONFIG"

# --- controllers, scheduler and the fake node ----------------------------

log "starting kube-controller-manager, kube-scheduler and kwok"
"$(kube_bin kube-controller-manager "$kube_version")" \
	--kubeconfig "$DEVMESH_TEST_KUBECONFIG" --leader-elect=false \
	--controllers job-controller,ttl-after-finished-controller,serviceaccount-controller,garbage-collector-controller,node-lifecycle-controller,namespace-controller \
	--service-account-private-key-file "$kube_dir/sa.key" \
	--root-ca-file "$kube_dir/ca.crt" \
	--bind-address 127.0.0.1 --secure-port "$(free_port)" \
	>"$kube_dir/controller-manager.log" 2>&1 &
pids+=($!)
"$(kube_bin kube-scheduler "$kube_version")" \
	--kubeconfig "$DEVMESH_TEST_KUBECONFIG" --leader-elect=false \
	--bind-address 127.0.0.1 --secure-port "$(free_port)" \
	>"$kube_dir/scheduler.log" 2>&1 &
pids+=($!)

# kwok's own stage files: initialize and heartbeat the node, mark pods
# ready, complete pods owned by Jobs, and remove deleted pods.
kwok_src=$(cd "$kube_module" && go mod download -json "sigs.k8s.io/kwok@$kwok_version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
	cat "$kwok_src/kustomize/stage/$f"
	printf -- '---\n'
done >"$kube_dir/kwok.yaml"
# kwok also answers the kubelet's log endpoint, through which the API
# server proxies pod logs. With no container behind it, it serves one
# fixed file, in the CRI log format, for every container.
printf '%s stdout F %s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)" \
	"simulated log served by kwok: no container ran" >"$kube_dir/simulated.log"
cat >>"$kube_dir/kwok.yaml" <<EOF
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: simulated
spec:
  logs:
  - logsFile: $kube_dir/simulated.log
EOF
kwok_port=$(free_port)
"$(kube_bin kwok "$kwok_version")" --kubeconfig "$DEVMESH_TEST_KUBECONFIG" \
	-c "$kube_dir/kwok.yaml" \
	--manage-all-nodes=false \
	--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
	--node-ip 127.0.0.1 --node-port "$kwok_port" --cidr 10.244.0.0/16 \
	--server-address "127.0.0.1:$kwok_port" \
	--tls-cert-file "$kube_dir/serving.crt" --tls-private-key-file "$kube_dir/serving.key" \
	>"$kube_dir/kwok.log" 2>&1 &
pids+=($!)
wait_port "$kwok_port" kwok

# The fake node: generous capacity, ephemeral storage included, since
# sandbox pods request it.
curl -fsk -H "Authorization: Bearer $kube_token" -H 'Content-Type: application/json' \
	-X POST "https://127.0.0.1:$api_port/api/v1/nodes" -d '{
  "apiVersion": "v1", "kind": "Node",
  "metadata": {"name": "kwok-node-0",
    "annotations": {"kwok.x-k8s.io/node": "fake"},
    "labels": {"kubernetes.io/hostname": "kwok-node-0", "type": "kwok"}},
  "status": {
    "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"},
    "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"}}
}' >/dev/null
kube_wait "kwok's node" /api/v1/nodes/kwok-node-0 '"type": "Ready"'

# Stop etcd last, after its clients.
kube_pids=()
for p in "${pids[@]}"; do
	[ "$p" = "$etcd_pid" ] || kube_pids+=("$p")
done
pids=("${kube_pids[@]}" "$etcd_pid")
log "Kubernetes test control plane ready (kubeconfig $DEVMESH_TEST_KUBECONFIG)"
