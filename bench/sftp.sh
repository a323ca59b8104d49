#!/usr/bin/env bash
# SFTP benchmark: Coffer (encryption at rest on) against OpenSSH's own sshd (internal-sftp,
# plain files) on loopback, in one run, with the same client (OpenSSH sftp in batch mode)
# and the same cipher. Prints medians of RUNS runs and the ratios coffer/openssh (above 1
# means Coffer is faster), Coffer's server CPU seconds per GiB and peak RSS; then 1,000
# files of 4 KiB; 50 concurrent clients x 20 MiB; and the memory of 500 idle sessions.
#
#   bash bench/sftp.sh                         # 1 GiB, 4 runs
#   SIZE_MB=256 RUNS=1 SKIP_SMALL=1 SKIP_CONC=1 SKIP_IDLE=1 bash bench/sftp.sh
#   KEEP_WORK=1 ...                            # keep the logs (coffer.out, sshd.log)
#   PIN=1 ...                                  # servers on CPU 0, clients on CPU 1
#   WARM_MB=0 ...                              # no scratch file (see "Memory")
#
# By default client and server share both cores, as the issue's targets are stated. PIN=1
# gives each side one core of its own, as on two machines: then the ratio measures the
# servers alone. (Sharing, a server that answers faster than the client consumes fills
# the client's SSH buffers, and the OpenSSH client spends more CPU on a long backlog:
# docs/performance.md, "SFTP download: the client's share".)
#
# Memory: on this machine (a VM) the first touch of memory the guest has not used for a
# while costs far more than reusing memory freed a moment ago: writing 1 GiB into a new
# file takes 0.3 s into just-freed pages and 4.3-5.5 s into the others (dd, 2026-11-28).
# A download written to a file right after the two uploads (Coffer's, in the old order)
# took up to twice as long as the same download a moment later. So downloads go to
# /dev/null (the client still receives, decrypts and handles every byte; the first is
# checked against the upload, untimed); a scratch file of WARM_MB (default SIZE_MB + 64) is deleted just
# before each timed upload, so that the server writes into just-freed memory, and
# written again after it, untimed; every timed transfer starts after a sync, so none
# pays for writing back what the one before left dirty (sshd syncs nothing); and which
# server goes first alternates from run to run (RUNS is even).
#
# Coffer allows 20 sessions per user and 500 in all (internal/sftpd defaults), and a key
# signs in one user only: the concurrent and idle phases use 50 users u01..u50, each with
# its own key. Against OpenSSH every client signs in as root (authorized_keys holds all keys).
set -euo pipefail
export COFFER_ALLOW_ROOT=true # coffer serve refuses root without it; benchmarks run in a root sandbox
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-1024}
SRV=(); CLI=()
if [ -n "${PIN:-}" ]; then
  [ "$(nproc)" -ge 2 ] || { echo "bench: PIN=1 needs 2 CPUs" >&2; exit 1; }
  SRV=(taskset -c 0); CLI=(taskset -c 1)
fi
RUNS=${RUNS:-4}   # even, so that each server goes first in half the runs
CONC=${CONC:-50}            # concurrent clients
CONC_MB=${CONC_MB:-20}      # MiB each
IDLE=${IDLE:-500}           # idle sessions
CIPHERS=${CIPHERS:-"aes128-gcm@openssh.com chacha20-poly1305@openssh.com"}
NUSERS=50
work=$(mktemp -d /tmp/coffer-sftp-bench.XXXXXX)
pids=()
cleanup() {
  exec 7>&- 2>/dev/null || true
  for p in "${pids[@]}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "bench: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
die() { echo "bench: $*" >&2; exit 1; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b/1e6/s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }   # time_openssh / time_coffer
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b-a}'; }
tck=$(getconf CLK_TCK)
cpu_own() { awk -v t="$tck" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }           # utime+stime
cpu_tree() { awk -v t="$tck" '{printf "%.2f", ($14+$15+$16+$17)/t}' "/proc/$1/stat"; }  # + reaped children
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }

# sftp_run PORT USER KEY CIPHER BATCHFILE: one sftp session in batch mode; dies on failure.
SSHOPTS=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR)
sftp_run() {
  local port=$1 user=$2 key=$3 cipher=$4 batch=$5
  "${CLI[@]}" sftp -q -b "$batch" -c "$cipher" -P "$port" "${SSHOPTS[@]}" -o IdentityFile="$key" "$user@127.0.0.1" \
    >"$work/sftp.out" 2>&1 || { cat "$work/sftp.out" >&2; die "sftp failed: port $port user $user batch $batch: $(head -c 300 "$batch")"; }
}
any_alive() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
size_of() { stat -c %s "$1"; }
check_size() { [ "$(size_of "$1")" = "$2" ] || die "$1 has $(size_of "$1") bytes, want $2"; }
# remote_size PORT USER KEY PATH: size of a remote file through sftp ls -ln
remote_size() {
  printf 'ls -ln %s\n' "$4" > "$work/ls.batch"
  sftp_run "$1" "$2" "$3" aes128-gcm@openssh.com "$work/ls.batch"
  awk -v p="$4" '$1 ~ /^[-d]/ && ($NF == p || $NF ~ ("/" p "$")) {print $5}' "$work/sftp.out" | head -1
}

command -v sftp >/dev/null || { apt-get update -qq; apt-get install -y -qq openssh-client >/dev/null; }
if [ ! -x /usr/sbin/sshd ]; then
  echo "bench: installing openssh-server" >&2
  apt-get update -qq; apt-get install -y -qq openssh-server >/dev/null
fi
go build -o "$work/coffer" ./cmd/coffer
go build -o "$work/sftpload" ./bench/sftpload
bytes=$((SIZE_MB << 20))
head -c "$bytes" /dev/urandom > "$work/file.bin"
# settle: no dirty pages left by the transfer before (sshd's uploads are not synced, the
# scratch file is not) to be written back during the next timed one. warm_up / warm_done:
# free the scratch file just before a timed upload, write it again after (untimed). See
# "Memory" above.
settle() { sync; }
warm_mb=${WARM_MB:-$((SIZE_MB + 64))}
warm_done() { [ "$warm_mb" = 0 ] || dd if=/dev/zero of="$work/warm" bs=1M count="$warm_mb" status=none; }
warm_up() { settle; rm -f "$work/warm"; }
warm_done

# Keys: "bench" for the transfers, u01..u50 for the concurrent and idle sessions.
mkdir -p "$work/keys"
users=()
for u in bench $(seq -f 'u%02g' 1 "$NUSERS"); do
  ssh-keygen -q -t ed25519 -N '' -C "$u" -f "$work/keys/$u"
  [ "$u" = bench ] || users+=("$u")
done
KEY=$work/keys/bench

# --- OpenSSH: a private sshd on a free loopback port, files under $work/ossh.
oport=$(freeport)
mkdir -p "$work/sshd" "$work/ossh" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$work/sshd/host_ed25519_key"
cat "$work"/keys/*.pub > "$work/sshd/authorized_keys"
cat > "$work/sshd/sshd_config" <<CONF
Port $oport
ListenAddress 127.0.0.1
HostKey $work/sshd/host_ed25519_key
PidFile $work/sshd/sshd.pid
AuthorizedKeysFile $work/sshd/authorized_keys
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
Subsystem sftp internal-sftp
MaxStartups 1000
MaxSessions 1000
LogLevel ERROR
CONF
"${SRV[@]}" /usr/sbin/sshd -D -f "$work/sshd/sshd_config" -E "$work/sshd.log" &
SSHD=$!; pids+=("$SSHD")

# --- Coffer: the first start sets the data directory up (only serve does); the users and
# their keys are added beside the running server (the CLI works on the data directory).
export COFFER_ADMIN_PASSWORD=bench-admin-password
DATA=$work/data
cport=$(freeport)
# start_coffer [new]: (re)starts the server on the same data directory and ports -> CPID;
# it waits for the bench user's SFTP sign-in, or with "new" (no users yet) for HTTPS.
start_coffer() {
  local hport; hport=$(freeport)
  "${SRV[@]}" "$work/coffer" serve --data "$DATA" --http "127.0.0.1:$hport" --sftp "127.0.0.1:$cport" --log-level warn >> "$work/coffer.out" 2>&1 &
  CPID=$!; pids+=("$CPID")
  echo pwd > "$work/pwd.batch"
  for _ in $(seq 100); do
    if [ "${1:-}" = new ]; then
      curl -sk -o /dev/null "https://127.0.0.1:$hport/api/v1/openapi.json" && return 0
    else
      sftp -q -b "$work/pwd.batch" -P "$cport" "${SSHOPTS[@]}" -o IdentityFile="$KEY" bench@127.0.0.1 >/dev/null 2>&1 && return 0
    fi
    kill -0 "$CPID" 2>/dev/null || { cat "$work/coffer.out"; die "coffer serve exited"; }
    sleep 0.1
  done
  cat "$work/coffer.out"; die "coffer does not answer"
}
start_coffer new
for u in bench "${users[@]}"; do
  "$work/coffer" user add "$u" --data "$DATA" >/dev/null 2>&1 || die "coffer user add $u failed"
  "$work/coffer" user key add "$u" --file "$work/keys/$u.pub" --data "$DATA" >/dev/null || die "coffer user key add $u failed"
done
stop_coffer() {
  kill "$CPID"; wait "$CPID" 2>/dev/null || true
  grep -iE 'panic|fatal|goroutine [0-9]+ \[' "$work/coffer.out" && die "coffer crashed, see above" || true
}
echo pwd > "$work/pwd.batch"
for _ in $(seq 50); do
  sftp -q -b "$work/pwd.batch" -P "$oport" "${SSHOPTS[@]}" -o IdentityFile="$KEY" root@127.0.0.1 >/dev/null 2>&1 && break
  kill -0 "$SSHD" 2>/dev/null || { cat "$work/sshd.log"; die "sshd exited"; }
  sleep 0.1
done
sftp_run "$oport" root "$KEY" aes128-gcm@openssh.com "$work/pwd.batch"

echo "SFTP transfer of $SIZE_MB MiB, OpenSSH sftp client on loopback, median of $RUNS runs ($(date -u +%FT%TZ), $(nproc) cores, $(ssh -V 2>&1))${PIN:+, servers pinned to CPU 0 and clients to CPU 1}"
echo "  ratio = coffer MB/s / openssh MB/s (OpenSSH sshd + internal-sftp writing plain files; Coffer encrypts at rest)"
gib=$(awk -v b="$bytes" 'BEGIN {print b/1073741824}')
# One timed transfer each, with the cipher of the loop below: ${side}_up I / ${side}_down I
# append the seconds and add the server's CPU seconds. Downloads go to /dev/null (see
# "Memory" above); the first run's Coffer download is compared with the upload, untimed.
coffer_up() {
  printf 'put %s /f%s.bin\n' "$work/file.bin" "$1" > "$work/b.batch"
  warm_up; local c0 t0; c0=$(cpu_own "$CPID"); t0=$(now)
  sftp_run "$cport" bench "$KEY" "$cipher" "$work/b.batch"
  cup+=("$(since "$t0")"); ccpu_up=$(awk -v a="$ccpu_up" -v b="$c0" -v c="$(cpu_own "$CPID")" 'BEGIN {print a+c-b}')
  warm_done
  [ "$(remote_size "$cport" bench "$KEY" "f$1.bin")" = "$bytes" ] || die "coffer: /f$1.bin has the wrong size after upload"
}
openssh_up() {
  printf 'put %s %s/f%s.bin\n' "$work/file.bin" "$work/ossh" "$1" > "$work/b.batch"
  warm_up; local c0 t0; c0=$(cpu_tree "$SSHD"); t0=$(now)
  sftp_run "$oport" root "$KEY" "$cipher" "$work/b.batch"
  oup+=("$(since "$t0")"); sleep 0.2; ocpu_up=$(awk -v a="$ocpu_up" -v b="$c0" -v c="$(cpu_tree "$SSHD")" 'BEGIN {print a+c-b}')
  warm_done
  check_size "$work/ossh/f$1.bin" "$bytes"
}
coffer_down() {
  printf 'get /f%s.bin /dev/null\n' "$1" > "$work/b.batch"
  settle; local c0 t0; c0=$(cpu_own "$CPID"); t0=$(now)
  sftp_run "$cport" bench "$KEY" "$cipher" "$work/b.batch"
  cdown+=("$(since "$t0")"); ccpu_down=$(awk -v a="$ccpu_down" -v b="$c0" -v c="$(cpu_own "$CPID")" 'BEGIN {print a+c-b}')
}
openssh_down() {
  printf 'get %s/f%s.bin /dev/null\n' "$work/ossh" "$1" > "$work/b.batch"
  settle; local c0 t0; c0=$(cpu_tree "$SSHD"); t0=$(now)
  sftp_run "$oport" root "$KEY" "$cipher" "$work/b.batch"
  odown+=("$(since "$t0")"); sleep 0.2; ocpu_down=$(awk -v a="$ocpu_down" -v b="$c0" -v c="$(cpu_tree "$SSHD")" 'BEGIN {print a+c-b}')
}
for cipher in $CIPHERS; do
  cup=(); cdown=(); oup=(); odown=()
  ccpu_up=0; ccpu_down=0; ocpu_up=0; ocpu_down=0
  for i in $(seq "$RUNS"); do
    # Who goes first alternates from run to run, so that neither server always meets
    # the machine in the state the other left it in.
    if [ $((i % 2)) = 1 ]; then first=coffer second=openssh; else first=openssh second=coffer; fi
    ${first}_up "$i"; ${second}_up "$i"
    if [ "$i" = 1 ]; then
      printf 'get /f1.bin %s/dl.bin\n' "$work" > "$work/b.batch"
      sftp_run "$cport" bench "$KEY" "$cipher" "$work/b.batch"
      cmp -s "$work/dl.bin" "$work/file.bin" || die "coffer: downloaded file differs from the upload"
      rm -f "$work/dl.bin"
    fi
    ${first}_down "$i"; ${second}_down "$i"
    rm -f "$work/ossh/f$i.bin"
    printf 'rm /f%s.bin\n' "$i" > "$work/b.batch"
    sftp_run "$cport" bench "$KEY" "$cipher" "$work/b.batch"
  done
  cu=$(printf '%s\n' "${cup[@]}" | median); cd_=$(printf '%s\n' "${cdown[@]}" | median)
  ou=$(printf '%s\n' "${oup[@]}" | median); od=$(printf '%s\n' "${odown[@]}" | median)
  echo " $cipher"
  printf '  %-10s coffer %5s MB/s   openssh %5s MB/s   ratio %s\n' upload "$(mbps "$bytes" "$cu")" "$(mbps "$bytes" "$ou")" "$(ratio "$ou" "$cu")"
  printf '  %-10s coffer %5s MB/s   openssh %5s MB/s   ratio %s\n' download "$(mbps "$bytes" "$cd_")" "$(mbps "$bytes" "$od")" "$(ratio "$od" "$cd_")"
  n=$(awk -v g="$gib" -v r="$RUNS" 'BEGIN {print g*r}')
  printf '  server CPU s/GiB up/down: coffer %.1f / %.1f   openssh (sshd tree) %.1f / %.1f\n' \
    "$(awk -v c="$ccpu_up" -v n="$n" 'BEGIN {print c/n}')" "$(awk -v c="$ccpu_down" -v n="$n" 'BEGIN {print c/n}')" \
    "$(awk -v c="$ocpu_up" -v n="$n" 'BEGIN {print c/n}')" "$(awk -v c="$ocpu_down" -v n="$n" 'BEGIN {print c/n}')"
  echo "  runs (s): coffer up ${cup[*]} | down ${cdown[*]} | openssh up ${oup[*]} | down ${odown[*]}"
done
rm -f "$work/warm"
echo "  peak RSS (VmHWM) of coffer over all the transfers above: $(hwm_mib "$CPID") MiB"

# --- 1,000 files of 4 KiB, one sftp session with 1,000 put lines, then one with 1,000 get lines.
if [ "${SKIP_SMALL:-}" = "" ]; then
echo "1,000 files of 4 KiB, one sftp session each way (aes128-gcm), median of $RUNS runs:"
mkdir -p "$work/small"
for j in $(seq -w 1 1000); do head -c 4096 /dev/urandom > "$work/small/s$j"; done
small_round() {  # small_round PORT USER REMOTE_DIR -> sets SUP SDOWN (seconds)
  local port=$1 user=$2 rdir=$3 t0
  { echo "mkdir $rdir"; for j in $(seq -w 1 1000); do echo "put $work/small/s$j $rdir/s$j"; done; } > "$work/sup.batch"
  rm -rf "$work/smalldl"; mkdir -p "$work/smalldl"
  { for j in $(seq -w 1 1000); do echo "get $rdir/s$j $work/smalldl/s$j"; done; } > "$work/sdown.batch"
  t0=$(now); sftp_run "$port" "$user" "$KEY" aes128-gcm@openssh.com "$work/sup.batch"; SUP=$(since "$t0")
  t0=$(now); sftp_run "$port" "$user" "$KEY" aes128-gcm@openssh.com "$work/sdown.batch"; SDOWN=$(since "$t0")
  [ "$(ls "$work/smalldl" | wc -l)" = 1000 ] || die "small files: $(ls "$work/smalldl" | wc -l) of 1000 downloaded from port $port"
  diff -rq "$work/small" "$work/smalldl" >/dev/null || die "small files: downloads from port $port differ from the uploads"
}
csu=(); csd=(); osu=(); osd=()
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then
    small_round "$cport" bench "/small$i"; csu+=("$SUP"); csd+=("$SDOWN")
    small_round "$oport" root "$work/ossh/small$i"; osu+=("$SUP"); osd+=("$SDOWN")
  else
    small_round "$oport" root "$work/ossh/small$i"; osu+=("$SUP"); osd+=("$SDOWN")
    small_round "$cport" bench "/small$i"; csu+=("$SUP"); csd+=("$SDOWN")
  fi
done
fps() { awk -v s="$1" 'BEGIN {printf "%.0f", 1000/s}'; }
a=$(printf '%s\n' "${csu[@]}" | median); b=$(printf '%s\n' "${osu[@]}" | median)
printf '  %-10s coffer %5s files/s   openssh %5s files/s   ratio %s\n' upload "$(fps "$a")" "$(fps "$b")" "$(ratio "$b" "$a")"
a=$(printf '%s\n' "${csd[@]}" | median); b=$(printf '%s\n' "${osd[@]}" | median)
printf '  %-10s coffer %5s files/s   openssh %5s files/s   ratio %s\n' download "$(fps "$a")" "$(fps "$b")" "$(ratio "$b" "$a")"
echo "  runs (s): coffer up ${csu[*]} | down ${csd[*]} | openssh up ${osu[*]} | down ${osd[*]}"
fi

# --- CONC clients in parallel, each its own user and file, CONC_MB MiB each.
if [ "${SKIP_CONC:-}" = "" ]; then
  stop_coffer; start_coffer   # fresh process: its VmHWM is this phase's peak
  cbytes=$((CONC_MB << 20))
  head -c "$cbytes" /dev/urandom > "$work/conc.bin"
  # conc_round PORT REMOTE_PREFIX LOGIN -> sets CT (seconds); LOGIN "each" = user u01.. with its key, else that user
  conc_round() {
    local port=$1 prefix=$2 login=$3 t0 k u cp=() fail=0 peak=0 r
    for k in $(seq "$CONC"); do
      u=${users[$(( (k - 1) % NUSERS ))]}
      printf 'put %s %s%s.bin\n' "$work/conc.bin" "$prefix" "$k" > "$work/conc$k.batch"
    done
    t0=$(now)
    for k in $(seq "$CONC"); do
      u=${users[$(( (k - 1) % NUSERS ))]}
      "${CLI[@]}" sftp -q -b "$work/conc$k.batch" -c aes128-gcm@openssh.com -P "$port" "${SSHOPTS[@]}" -o IdentityFile="$work/keys/$u" \
        "$([ "$login" = each ] && echo "$u" || echo "$login")@127.0.0.1" > "$work/conc$k.out" 2>&1 &
      cp+=("$!"); pids+=("$!")
    done
    if [ "$port" = "$cport" ]; then   # sample coffer's RSS while the uploads run
      while any_alive "${cp[@]}"; do r=$(rss_kib "$CPID"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.05; done
    fi
    for k in $(seq "$CONC"); do
      wait "${cp[$((k - 1))]}" || { fail=$((fail + 1)); echo "  client $k failed: $(tr '\n' ' ' < "$work/conc$k.out" | head -c 300)" >&2; }
    done
    CT=$(since "$t0"); CFAIL=$fail; CPEAK=$peak
  }
  conc_round "$cport" / each
  ct=$CT; cfail=$CFAIL; cpeak=$CPEAK; chwm=$(hwm_mib "$CPID")
  bad=0
  for k in $(seq "$CONC"); do
    u=${users[$(( (k - 1) % NUSERS ))]}
    s=$(remote_size "$cport" "$u" "$work/keys/$u" "$k.bin" 2>/dev/null || true)
    [ "$s" = "$cbytes" ] || { bad=$((bad + 1)); echo "  coffer: $u /$k.bin has size '${s}', want $cbytes" >&2; }
  done
  conc_round "$oport" "$work/ossh/c" root
  ot=$CT; ofail=$CFAIL; obad=0
  for k in $(seq "$CONC"); do [ "$(size_of "$work/ossh/c$k.bin" 2>/dev/null || echo 0)" = "$cbytes" ] || obad=$((obad + 1)); done
  rm -f "$work"/ossh/c*.bin
  tot=$((CONC * cbytes))
  echo "$CONC concurrent clients x $CONC_MB MiB upload (aes128-gcm), one run:"
  printf '  coffer  %5s MB/s aggregate, %d/%d clients failed, %d files wrong size; peak RSS %s MiB (VmHWM), %s MiB (sampled VmRSS)\n' \
    "$(mbps "$tot" "$ct")" "$cfail" "$CONC" "$bad" "$chwm" "$((cpeak / 1024))"
  printf '  openssh %5s MB/s aggregate, %d/%d clients failed, %d files wrong size   ratio %s\n' \
    "$(mbps "$tot" "$ot")" "$ofail" "$CONC" "$obad" "$(ratio "$ot" "$ct")"
  [ "$cfail" = 0 ] && [ "$bad" = 0 ] || die "coffer: concurrent uploads failed"
  [ "$ofail" = 0 ] && [ "$obad" = 0 ] || die "openssh: concurrent uploads failed"
fi

# --- IDLE authenticated, idle sessions held open by bench/sftpload (10 per user u01..u50).
if [ "${SKIP_IDLE:-}" = "" ]; then
  stop_coffer; start_coffer
  sleep 1
  rss0=$(rss_kib "$CPID"); fd0=$(fds "$CPID"); th0=$(threads "$CPID")
  mkfifo "$work/idle.fifo"
  "$work/sftpload" --addr "127.0.0.1:$cport" --key "$work/keys/{user}" --users "$(IFS=,; echo "${users[*]}")" --n "$IDLE" \
    < "$work/idle.fifo" > "$work/idle.out" 2>&1 &
  LPID=$!; pids+=("$LPID")
  exec 7> "$work/idle.fifo"
  for _ in $(seq 600); do
    grep -q '^ready' "$work/idle.out" && break
    kill -0 "$LPID" 2>/dev/null || { cat "$work/idle.out"; die "sftpload failed to open $IDLE sessions"; }
    sleep 0.1
  done
  grep -q '^ready' "$work/idle.out" || die "sftpload: $IDLE sessions not open after 60 s"
  sleep 2
  rss1=$(rss_kib "$CPID"); fd1=$(fds "$CPID"); th1=$(threads "$CPID")
  exec 7>&-
  wait "$LPID" || { cat "$work/idle.out"; die "sftpload failed while closing"; }
  sleep 2
  rss2=$(rss_kib "$CPID"); fd2=$(fds "$CPID"); th2=$(threads "$CPID")
  echo "$IDLE idle authenticated SFTP sessions on coffer ($(awk '/^ready/ {print $3}' "$work/idle.out") to open):"
  printf '  RSS %s MiB before, %s MiB with them: %s KiB per session; %s MiB after closing them\n' \
    "$((rss0 / 1024))" "$((rss1 / 1024))" "$(( (rss1 - rss0) / IDLE ))" "$((rss2 / 1024))"
  printf '  open fds %s / %s / %s, threads %s / %s / %s (before / with / after)\n' "$fd0" "$fd1" "$fd2" "$th0" "$th1" "$th2"
fi
stop_coffer
if grep -qiE 'level=(ERROR|WARN)' "$work/coffer.out"; then
  echo "coffer log warnings/errors (first 10):"; grep -iE 'level=(ERROR|WARN)' "$work/coffer.out" | head -10 | sed 's/^/  /'
fi
