#!/usr/bin/env bash
# Starts a real control plane on loopback: etcd, kube-apiserver and
# kube-controller-manager, as local processes, on free ports.
#
#   up.sh [DIR]     DIR holds data, certificates, kubeconfigs and logs
#                   (default: a new temporary directory)
#
# With WSOP_OWNER_PID set, the control plane is stopped when that process
# ends (watchdog.sh), however it ends.
#
# Writes DIR/env (source it: KUBECONFIG, WSOP_CLUSTER_DIR, WSOP_BIN_DIR, PATH)
# and prints DIR as its last line on stdout. Stop with down.sh DIR.
# Two copies run side by side: every port is chosen free at start.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[up %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

BIN_DIR="$("$HERE/build.sh")"
DIR="${1:-$(mktemp -d "${TMPDIR:-/tmp}/wsop-cluster.XXXXXX")}"
mkdir -p "$DIR"/{pki,users,logs,pids,etcd,cmds}
DIR="$(cd "$DIR" && pwd)"
if compgen -G "$DIR/pids/*.pid" >/dev/null; then
  log "$DIR already has running components; stop them first: $HERE/down.sh $DIR"
  exit 1
fi
# Tied to an owner (WSOP_OWNER_PID: the test run or benchmark asking): a
# watchdog stops this control plane once that process is gone, even when it
# was killed and could not clean up. sweep.sh removes such leftovers later.
if [[ -n "${WSOP_OWNER_PID:-}" ]]; then
  # shellcheck source=owner.sh
  source "$HERE/owner.sh"
  owner_start="$(proc_start "$WSOP_OWNER_PID")"
  if [[ -z "$owner_start" ]]; then
    log "WSOP_OWNER_PID=$WSOP_OWNER_PID: no such process"
    exit 1
  fi
  printf '%s %s\n' "$WSOP_OWNER_PID" "$owner_start" >"$DIR/owner"
  setsid "$HERE/watchdog.sh" "$DIR" >>"$DIR/logs/watchdog.log" 2>&1 </dev/null &
fi
# Whatever happens below, a failed start leaves no process behind.
trap 'rc=$?; if [[ $rc -ne 0 ]]; then log "start failed; logs in $DIR/logs"; "$HERE/down.sh" "$DIR" >&2 || true; fi' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

pki="$DIR/pki"
# --- certificates: one CA signs the serving cert and the client certs ---------
ossl() { openssl "$@" 2>>"$DIR/logs/openssl.log"; }
ossl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=wsop-test-ca" \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
client_cert() { # <name> <subject>
  ossl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -out "$pki/$1.crt" -extfile <(printf 'extendedKeyUsage=clientAuth\n')
}
ossl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
  -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr"
ossl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 30 -out "$pki/apiserver.crt" -extfile <(printf '%s\n' \
    'extendedKeyUsage=serverAuth' \
    'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc')
# The admin's name, wsop-admin, is exempt from the admission policies
# (admission-policies.sh): tests edit generated children by hand as the admin.
client_cert admin "/O=system:masters/CN=wsop-admin"
client_cert kube-controller-manager "/CN=system:kube-controller-manager"
# The operator runs as its own user, with only the RBAC of deploy/operator-rbac.yaml
# (admission-policies.sh bounds this name's writes).
client_cert workspace-operator "/CN=workspace-operator"
# One RSA key both signs and verifies service-account tokens.
ossl genrsa -out "$pki/sa.key" 2048
ossl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

# --- test users: static tokens, one kubeconfig each ---------------------------
: >"$pki/tokens.csv"
users=()
while read -r name groups; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  token="$(openssl rand -hex 24)"
  printf '%s,%s,%s,"%s"\n' "$token" "$name" "uid-$name" "$groups" >>"$pki/tokens.csv"
  users+=("$name:$token")
done <"$HERE/users.txt"

ETCD_PORT="$(free_port)"; ETCD_PEER_PORT="$(free_port)"; API_PORT="$(free_port)"; KCM_PORT="$(free_port)"
SERVER="https://127.0.0.1:$API_PORT"

kubeconfig() { # <file> <user entry yaml>
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: wsop
  cluster:
    server: $SERVER
    certificate-authority: $pki/ca.crt
contexts:
- name: wsop
  context: {cluster: wsop, user: user}
current-context: wsop
users:
- name: user
  user:
$2
EOF
}
kubeconfig "$DIR/admin.kubeconfig" "    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key"
kubeconfig "$DIR/operator.kubeconfig" "    client-certificate: $pki/workspace-operator.crt
    client-key: $pki/workspace-operator.key"
kubeconfig "$DIR/kube-controller-manager.kubeconfig" "    client-certificate: $pki/kube-controller-manager.crt
    client-key: $pki/kube-controller-manager.key"
for entry in "${users[@]}"; do
  kubeconfig "$DIR/users/${entry%%:*}.kubeconfig" "    token: ${entry#*:}"
done

start() { # <name> <command...>: runs in its own process group, logs kept
  local name="$1"; shift
  # The exact command line, one NUL-terminated argument after another, so
  # the tests can start the component again (tests/integration/support/plane.rs).
  printf '%s\0' "$@" >"$DIR/cmds/$name"
  setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/pids/$name.pid"
}
wait_for() { # <what> <seconds> <command...>
  local what="$1" limit="$2" t0=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - t0 >= limit )); then
      log "$what not ready after ${limit}s; last log lines:"
      tail -n 30 "$DIR/logs/${what%% *}.log" >&2 || true
      return 1
    fi
    sleep 0.3
  done
  log "$what ready in $((SECONDS - t0))s"
}

log "etcd on 127.0.0.1:$ETCD_PORT"
start etcd "$BIN_DIR/etcd" --name default --data-dir "$DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync --quota-backend-bytes=8589934592 --log-level=warn
wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

# Audit log of every write (reads are left out): tests count the operator's
# mutating requests from what the API server itself recorded.
printf '%s\n' 'apiVersion: audit.k8s.io/v1' 'kind: Policy' 'omitStages: [RequestReceived]' \
  'rules:' '- level: None' '  verbs: [get, list, watch]' '- level: Metadata' >"$pki/audit-policy.yaml"

log "kube-apiserver on $SERVER"
start kube-apiserver "$BIN_DIR/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --allow-privileged=true \
  --disable-admission-plugins=ServiceAccount \
  --endpoint-reconciler-type=none \
  --max-requests-inflight=800 --max-mutating-requests-inflight=400 \
  --audit-policy-file="$pki/audit-policy.yaml" --audit-log-path="$DIR/logs/audit.log" \
  --audit-log-maxsize=1024 --audit-log-maxbackup=1 \
  --profiling=true
readyz() {
  curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$SERVER/readyz"
}
wait_for "kube-apiserver" 120 readyz

# Deployments, ReplicaSets and PodDisruptionBudgets work as in a cluster (the
# chart tests drain an operator pod); no scheduler or kubelet, so pods stay
# Pending unless a test marks them Running.
log "kube-controller-manager"
start kube-controller-manager "$BIN_DIR/kube-controller-manager" \
  --kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig="$DIR/kube-controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
  --leader-elect=false --use-service-account-credentials=true \
  --controllers=namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller,resourcequota-controller,deployment-controller,replicaset-controller,disruption-controller \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --concurrent-namespace-syncs=10 --concurrent-gc-syncs=20
# The serviceaccount controller creating "default" shows the controllers run.
KUBECTL=("$BIN_DIR/kubectl" --kubeconfig "$DIR/admin.kubeconfig")
wait_for "kube-controller-manager" 120 "${KUBECTL[@]}" get serviceaccount default -n default

cat >"$DIR/env" <<EOF
export WSOP_CLUSTER_DIR='$DIR'
export WSOP_BIN_DIR='$BIN_DIR'
export KUBECONFIG='$DIR/admin.kubeconfig'
export PATH='$BIN_DIR':"\$PATH"
EOF
log "control plane up: source $DIR/env   (stop: $HERE/down.sh $DIR)"
echo "$DIR"
