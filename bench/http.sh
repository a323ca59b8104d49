#!/usr/bin/env bash
# HTTPS transfer benchmark: Coffer (encryption at rest on) against nginx serving the same
# file over TLS on loopback, in one run, with the same client (curl). Prints medians of
# RUNS runs and the ratios; then peak RSS of the Coffer server for a SIZE_MB and a
# LARGE_MB transfer; then many small uploads (files/s) on SQLite and, when
# COFFER_BENCH_PG is a PostgreSQL DSN, on PostgreSQL.
#
#   bash bench/http.sh                 # 1 GiB, 4 runs
#   SIZE_MB=256 RUNS=5 bash bench/http.sh
#   WARM_MB=0 ...                      # no scratch file (see "Memory" below)
set -euo pipefail
export COFFER_ALLOW_ROOT=true # coffer serve refuses root without it; benchmarks run in a root sandbox
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-4}   # even, so that each server goes first in half the runs
LARGE_MB=${LARGE_MB:-4096}
work=$(mktemp -d /tmp/coffer-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b/1e6/s}'; }

command -v nginx >/dev/null || { echo "bench: nginx is needed (apt-get install nginx)"; exit 2; }
go build -o "$work/coffer" ./cmd/coffer
go build -o "$work/putmany" ./bench/putmany
head -c $((SIZE_MB << 20)) /dev/urandom > "$work/file.bin"
bytes=$((SIZE_MB << 20))
export COFFER_ADMIN_PASSWORD=bench-admin-password

# start_coffer DATA_DIR [extra flags] -> sets CPID, CURL_BASE, TOKEN
start_coffer() {
  local data=$1; shift
  local port; port=$(freeport)
  "$work/coffer" serve --data "$data" --http "127.0.0.1:$port" --sftp off --log-level warn "$@" > "$data.out" 2>&1 &
  CPID=$!; pids+=("$CPID")
  CURL_BASE="https://127.0.0.1:$port"
  for _ in $(seq 100); do curl -sk "$CURL_BASE/" >/dev/null 2>&1 && break; sleep 0.1; done
  TOKEN=$(curl -sk -u "admin:$COFFER_ADMIN_PASSWORD" -X POST "$CURL_BASE/api/v1/tokens" | sed -n 's/.*"token": "\([^"]*\)".*/\1/p')
  [ -n "$TOKEN" ] || { echo "bench: cannot get a token"; cat "$data.out"; exit 1; }
}
stop_coffer() { kill "$CPID"; wait "$CPID" 2>/dev/null || true; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
timed() {
  local t0 t1; t0=$(date +%s.%N)
  "$@" >/dev/null || { echo "bench: failed: $*" >&2; kill $$; exit 1; }
  t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN {print b-a}'
}

# nginx: TLS with the same kind of certificate, WebDAV PUT for uploads.
nport=$(freeport)
mkdir -p "$work/nginx/www/up" "$work/nginx/tmp"
# nginx's workers run as an unprivileged user: let them in.
chmod 755 "$work" "$work/nginx" "$work/nginx/www"
chmod 777 "$work/nginx/www/up" "$work/nginx/tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/nginx/key.pem" -out "$work/nginx/cert.pem" 2>/dev/null
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp; fastcgi_temp_path $work/nginx/tmp; uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nport ssl;
    ssl_certificate $work/nginx/cert.pem;
    ssl_certificate_key $work/nginx/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $work/nginx/www;
    client_max_body_size 0;
    location /up/ { dav_methods PUT; create_full_put_path on; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
pids+=("$(cat "$work/nginx/nginx.pid" 2>/dev/null || true)")
NGINX="https://127.0.0.1:$nport"

echo "HTTPS transfer of $SIZE_MB MiB, curl on loopback, median of $RUNS runs ($(date -u +%FT%TZ), $(nproc) cores)"
start_coffer "$work/data1"
cup=(); cdown=(); nup=(); ndown=()
# Memory: writing into memory this VM's guest has not used lately costs far more than
# reusing memory freed a moment ago (docs/performance.md, "The bench measured the VM's
# memory"). So a scratch file is freed just before each timed upload and written again
# after it, untimed; each run deletes its uploads; every timed transfer starts after a
# sync, so none pays for writing back what the one before left dirty (nginx syncs
# nothing); and who goes first alternates.
settle() { sync; }
warm_mb=${WARM_MB:-$((SIZE_MB + 64))}
warm_done() { [ "$warm_mb" = 0 ] || dd if=/dev/zero of="$work/warm" bs=1M count="$warm_mb" status=none; }
warm_up() { settle; rm -f "$work/warm"; }
coffer_up() { warm_up; cup+=("$(timed curl -sk --fail -H "Authorization: Bearer $TOKEN" -T "$work/file.bin" "$CURL_BASE/api/v1/files/bench/f$1.bin")"); warm_done; }
nginx_up() { warm_up; nup+=("$(timed curl -sk --fail -T "$work/file.bin" "$NGINX/up/f$1.bin")"); warm_done; }
coffer_down() { settle; cdown+=("$(timed curl -sk --fail -H "Authorization: Bearer $TOKEN" -o /dev/null "$CURL_BASE/api/v1/files/bench/f$1.bin")"); }
nginx_down() { settle; ndown+=("$(timed curl -sk --fail -o /dev/null "$NGINX/up/f$1.bin")"); }
warm_done
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then first=coffer second=nginx; else first=nginx second=coffer; fi
  ${first}_up "$i"; ${second}_up "$i"
  ${first}_down "$i"; ${second}_down "$i"
  rm -f "$work/nginx/www/up/f$i.bin"
  curl -sk --fail -H "Authorization: Bearer $TOKEN" -X DELETE "$CURL_BASE/api/v1/files/bench/f$i.bin" >/dev/null
done
rm -f "$work/warm"
rss_small=$(peak_rss_mib "$CPID")
stop_coffer
cu=$(printf '%s\n' "${cup[@]}" | median); cd_=$(printf '%s\n' "${cdown[@]}" | median)
nu=$(printf '%s\n' "${nup[@]}" | median); nd=$(printf '%s\n' "${ndown[@]}" | median)
printf '  %-28s %8s MB/s   nginx %8s MB/s   ratio %s\n' "download (GET)" "$(mbps $bytes $cd_)" "$(mbps $bytes $nd)" "$(awk -v a="$nd" -v b="$cd_" 'BEGIN {printf "%.2f", a/b}')"
printf '  %-28s %8s MB/s   nginx %8s MB/s   ratio %s\n' "upload (PUT)" "$(mbps $bytes $cu)" "$(mbps $bytes $nu)" "$(awk -v a="$nu" -v b="$cu" 'BEGIN {printf "%.2f", a/b}')"
echo "  runs (s): coffer up ${cup[*]} | down ${cdown[*]} | nginx up ${nup[*]} | down ${ndown[*]}"
echo "  peak RSS of coffer over $RUNS uploads + downloads of $SIZE_MB MiB: $rss_small MiB"

if [ "${SKIP_LARGE:-}" = "" ]; then
  head -c $((LARGE_MB << 20)) /dev/urandom > "$work/large.bin"
  start_coffer "$work/data2"
  curl -sk --fail -H "Authorization: Bearer $TOKEN" -T "$work/large.bin" "$CURL_BASE/api/v1/files/large.bin" >/dev/null
  curl -sk --fail -H "Authorization: Bearer $TOKEN" -o /dev/null "$CURL_BASE/api/v1/files/large.bin"
  rss_large=$(peak_rss_mib "$CPID")
  stop_coffer
  rm -f "$work/large.bin"
  echo "  peak RSS of coffer for one upload + download of $LARGE_MB MiB: $rss_large MiB (vs $rss_small MiB for $SIZE_MB MiB)"
fi

echo "1,000 uploads of 4 KiB by 8 concurrent clients:"
start_coffer "$work/data3"
printf '  sqlite:     '; "$work/putmany" --url "$CURL_BASE" --token "$TOKEN"
stop_coffer
if [ -n "${COFFER_BENCH_PG:-}" ]; then
  start_coffer "$work/data4" --db "$COFFER_BENCH_PG"
  printf '  postgresql: '; "$work/putmany" --url "$CURL_BASE" --token "$TOKEN"
  stop_coffer
else
  echo "  postgresql: skipped (set COFFER_BENCH_PG to an empty database's DSN)"
fi
