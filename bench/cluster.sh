#!/usr/bin/env bash
# Cluster benchmark: three `coffer serve` nodes on one PostgreSQL database and one S3
# server (versitygw), behind HAProxy (TCP, PROXY protocol v2, health checks), on
# loopback. Measures, in one run:
#   1. SIZE_MB through Coffer on S3 vs the S3 server directly with minio-go, vs Coffer on
#      local disk (bench/s3cmp: medians of RUNS, ratios);
#   2. aggregate throughput of CLIENTS concurrent clients (FILES files of FILE_MB) through
#      the balancer to 1 node and to 3 nodes, uploads and downloads (bench/putmany);
#   3. failover: time from SIGKILL of a node to the next successful request through the
#      balancer (bench/failover).
#
#   bash bench/cluster.sh
#   SIZE_MB=256 RUNS=5 CLIENTS=48 bash bench/cluster.sh
#
# Needs: PostgreSQL (COFFER_BENCH_PG, a DSN of a role that may create databases; default
# the local coffer role), versitygw, haproxy, openssl, curl.
set -euo pipefail
export COFFER_ALLOW_ROOT=true # coffer serve refuses root without it; benchmarks run in a root sandbox
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-48}
FILES=${FILES:-192}
FILE_MB=${FILE_MB:-4}
PG=${COFFER_BENCH_PG:-postgres://coffer:coffer@127.0.0.1:5432/postgres?sslmode=disable}
PATH="$(go env GOPATH)/bin:$PATH"
for tool in versitygw haproxy openssl curl createdb; do
  command -v $tool >/dev/null || { echo "bench: $tool is needed"; exit 2; }
done
work=$(mktemp -d /tmp/coffer-cluster-bench.XXXXXX)
pids=() db=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$db" ]; then dropdb --force --maintenance-db="$PG" "$db" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitfor() { for _ in $(seq 200); do curl -sk -o /dev/null "$1" && return 0; sleep 0.1; done; echo "bench: $1 does not answer"; exit 1; }

echo "== building"
go build -o "$work/coffer" ./cmd/coffer
for t in s3cmp putmany failover; do go build -o "$work/$t" ./bench/$t; done

echo "== PostgreSQL, S3, shared configuration"
db=coffer_bench_$$
createdb --maintenance-db="$PG" "$db"
dsn=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$PG" "$db")
s3port=$(freeport)
mkdir -p "$work/s3/coffer" "$work/s3/direct"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-$$
unset AWS_CA_BUNDLE || true
ROOT_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
  versitygw --port "127.0.0.1:$s3port" posix "$work/s3" > "$work/versitygw.log" 2>&1 &
vgwpid=$!; pids+=($vgwpid)
waitfor "http://127.0.0.1:$s3port/"
blobs="s3://coffer/blobs?endpoint=http://127.0.0.1:$s3port&path-style=true"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
export COFFER_ADMIN_PASSWORD=bench-admin-password-$$

# start_node NAME: a node of the cluster, on ports written to $work/NAME.{https,sftp}
start_node() {
  local name=$1 hp sp
  hp=$(freeport); sp=$(freeport)
  "$work/coffer" serve --data "$work/$name" --db "$dsn" --blobs "$blobs" --kek-file "$work/coffer.kek" \
    --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --sftp-host-keys "$work/ssh" \
    --http "127.0.0.1:$hp" --sftp "127.0.0.1:$sp" --node "$name" --proxy-protocol 127.0.0.2 \
    --log-level warn > "$work/$name.log" 2>&1 &
  pids+=($!); echo $! > "$work/$name.pid"
  echo "$hp" > "$work/$name.https"; echo "$sp" > "$work/$name.sftp"
  waitfor "https://127.0.0.1:$hp/"
}
start_node n1 # it makes the key file and the host keys the others share
start_node n2
start_node n3
tok() { curl -sk -u "admin:$COFFER_ADMIN_PASSWORD" -X POST "$1/api/v1/tokens" | sed -n 's/.*"token": "\([^"]*\)".*/\1/p'; }
# One node on local disk and SQLite, for comparison.
lp=$(freeport)
"$work/coffer" serve --data "$work/local" --http "127.0.0.1:$lp" --sftp off --log-level warn > "$work/local.log" 2>&1 &
localpid=$!; pids+=($localpid)
waitfor "https://127.0.0.1:$lp/"

echo "== HAProxy"
lb_all=$(freeport) lb_one=$(freeport) lb_sftp=$(freeport)
servers() { # servers KIND NODES...
  local kind=$1; shift
  for n in "$@"; do
    echo "  server $n 127.0.0.1:$(cat "$work/$n.$kind") send-proxy-v2 check inter 1s fall 2 rise 2 $( [ "$kind" = https ] && echo check-ssl verify none check-send-proxy || echo check-send-proxy)"
  done
}
cat > "$work/haproxy.cfg" <<CONF
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  retries 2
  option redispatch
frontend https_all
  bind 127.0.0.1:$lb_all
  default_backend https_all
frontend https_one
  bind 127.0.0.1:$lb_one
  default_backend https_one
frontend sftp_all
  bind 127.0.0.1:$lb_sftp
  default_backend sftp_all
backend https_all
  balance leastconn
  source 127.0.0.2
  option httpchk GET /healthz
$(servers https n1 n2 n3)
backend https_one
  source 127.0.0.2
  option httpchk GET /healthz
$(servers https n1)
backend sftp_all
  balance leastconn
  source 127.0.0.2
$(servers sftp n1 n2 n3)
CONF
haproxy -c -q -f "$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" > "$work/haproxy.log" 2>&1 &
pids+=($!)
waitfor "https://127.0.0.1:$lb_all/"
TOKEN=$(tok "https://127.0.0.1:$lb_all")
[ -n "$TOKEN" ] || { echo "bench: cannot get a token through the balancer"; cat "$work"/n1.log; exit 1; }

echo
echo "== 1. $SIZE_MB MiB: Coffer on S3 (node n1) vs minio-go directly vs Coffer on local disk"
head -c $((SIZE_MB << 20)) /dev/urandom > "$work/file.bin"
COFFER_TOKEN_S3=$(tok "https://127.0.0.1:$(cat "$work/n1.https")") COFFER_TOKEN_LOCAL=$(tok "https://127.0.0.1:$lp") \
  "$work/s3cmp" -file "$work/file.bin" -s3 "http://127.0.0.1:$s3port" -bucket direct \
  -coffer-s3 "https://127.0.0.1:$(cat "$work/n1.https")" -coffer-local "https://127.0.0.1:$lp" -runs "$RUNS" \
  -cpu "coffer-s3=$(cat "$work/n1.pid"),coffer-local=$localpid,versitygw=$vgwpid"
rm -f "$work/file.bin"

echo
echo "== 2. $CLIENTS clients, $FILES files of $FILE_MB MiB, through HAProxy"
for target in "1 node:$lb_one" "3 nodes:$lb_all"; do
  name=${target%%:*} port=${target##*:}
  dir="load$port"
  printf '  %-8s ' "$name"; "$work/putmany" -url "https://127.0.0.1:$port" -token "$TOKEN" -c "$CLIENTS" -n "$FILES" -size $((FILE_MB << 20)) -dir "$dir" -op put
  printf '  %-8s ' "$name"; "$work/putmany" -url "https://127.0.0.1:$port" -token "$TOKEN" -c "$CLIENTS" -n "$FILES" -size $((FILE_MB << 20)) -dir "$dir" -op get
done
echo "  (cores: $(nproc); every node, PostgreSQL, versitygw, HAProxy and the clients share them)"

echo
echo "== 3. failover: SIGKILL of n2 while requests run through HAProxy (health checks every 1 s)"
"$work/failover" -url "https://127.0.0.1:$lb_all" -token "$TOKEN" -kill "$(cat "$work/n2.pid")" -after 3s -for 8s
