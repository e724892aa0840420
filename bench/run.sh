#!/usr/bin/env bash
# hopgate vs a stock OpenSSH sshd as the jump host, side by side in one run,
# with the same client, the same target sshd and the same keys, all on
# 127.0.0.1. Prints, for each gateway:
#   - throughput of a 1 GiB download through `ssh -J` (MB/s),
#   - the gateway's CPU seconds (user+sys) per GB relayed,
#   - the median wall time of `ssh -J gate target true` over N runs,
#   - the gateway's memory with M idle `ssh -J` connections open,
# and the ratio hopgate/OpenSSH for each (lower is better for all but MB/s).
#
# Usage: bench/run.sh [--size-mib 1024] [--connects 20] [--idle 200]
# Not part of the test suite. Run as root on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=1024
CONNECTS=20
IDLE=200
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --connects) CONNECTS=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mib N] [--connects N] [--idle N]" >&2; exit 2 ;;
  esac
done

deploy/install-deps.sh
bazel build //proxy:hopgate >&2
HOPGATE="$(bazel info bazel-bin 2>/dev/null)/proxy/hopgate"
mkdir -p /run/sshd && chmod 0755 /run/sshd

W=$(mktemp -d /tmp/hopgate-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "$W/" 2>/dev/null || true
  sleep 0.5
  rm -rf "$W"
}
trap cleanup EXIT

free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
TARGET_PORT=$(free_port 32201)
JUMP_PORT=$(free_port $((TARGET_PORT + 1)))
GATE_PORT=$(free_port $((JUMP_PORT + 1)))

ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/client"
for k in target jump; do ssh-keygen -q -t ed25519 -N '' -f "$W/${k}_host"; done
cp "$W/client.pub" "$W/authorized_keys"

sshd_config() {  # port hostkey
  cat <<CFG
Port $1
ListenAddress 127.0.0.1
HostKey $2
AuthorizedKeysFile $W/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 1000:30:2000
MaxSessions 1000
LogLevel ERROR
CFG
}
sshd_config "$TARGET_PORT" "$W/target_host" > "$W/target_sshd_config"
sshd_config "$JUMP_PORT" "$W/jump_host" > "$W/jump_sshd_config"
/usr/sbin/sshd -D -f "$W/target_sshd_config" -E "$W/target.log" & PIDS+=($!)
/usr/sbin/sshd -D -f "$W/jump_sshd_config" -E "$W/jump.log" & JUMP_PID=$!; PIDS+=($JUMP_PID)

cat > "$W/policy.yaml" <<POLICY
version: 1
users:
  root:
    keys: ["$(cat "$W/client.pub")"]
rules:
  - name: bench
    users: [root]
    permit_open: ["127.0.0.1:$TARGET_PORT"]
POLICY
cat > "$W/hopgate.yaml" <<CONFIG
version: 1
listen: ["127.0.0.1:$GATE_PORT"]
host_keys: [$W/gate_host]
policy: $W/policy.yaml
audit: {log: $W/audit.jsonl}
limits: {max_startups: 1000, max_connections: 100000}
log_level: warning
CONFIG
"$HOPGATE" --config "$W/hopgate.yaml" 2>"$W/hopgate.log" & GATE_PID=$!; PIDS+=($GATE_PID)

cat > "$W/ssh_config" <<SSHCFG
Host *
  IdentityFile $W/client
  IdentitiesOnly yes
  IdentityAgent none
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
SSHCFG
sleep 1

# CPU ticks (user+sys, including reaped children) of a process.
cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

sshj() {  # gateport cmd...
  local gp=$1; shift
  ssh -F "$W/ssh_config" -J "root@127.0.0.1:$gp" -p "$TARGET_PORT" root@127.0.0.1 "$@"
}

# Sum of RSS and PSS (kB) of a process and all its descendant processes
# (threads share their process's memory and are not counted again).
descendants() {
  local all; all=$(ps -e -o pid=,ppid=)
  local queue=("$1") out=("$1") p c
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for c in $(awk -v p="$p" '$2 == p {print $1}' <<<"$all"); do
      out+=("$c"); queue+=("$c")
    done
  done
  echo "${out[@]}"
}
mem_kb() {
  local pid rss=0 pss=0
  for pid in $(descendants "$1"); do
    [ -r "/proc/$pid/smaps_rollup" ] || continue
    rss=$((rss + $(awk '/^Rss:/{print $2}' "/proc/$pid/smaps_rollup")))
    pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")))
  done
  echo "$rss $pss"
}

declare -A R
measure() {  # name gateport gatepid
  local name=$1 gp=$2 pid=$3
  echo "bench: $name: warm-up" >&2
  sshj "$gp" true
  echo "bench: $name: ${SIZE_MIB} MiB download through -J" >&2
  local c0 t0 t1 c1
  c0=$(cpu_ticks "$pid")
  t0=$(date +%s.%N)
  sshj "$gp" "head -c $((SIZE_MIB * 1048576)) /dev/zero" | wc -c > "$W/$name.bytes"
  t1=$(date +%s.%N)
  sleep 1  # let sshd reap the session process so its CPU is counted
  c1=$(cpu_ticks "$pid")
  local bytes; bytes=$(cat "$W/$name.bytes")
  [ "$bytes" -eq $((SIZE_MIB * 1048576)) ] || { echo "bench: $name: short transfer ($bytes bytes)" >&2; exit 1; }
  R[$name.mbps]=$(echo "$bytes / ($t1 - $t0) / 1000000" | bc -l)
  R[$name.cpu]=$(echo "($c1 - $c0) / $HZ / ($bytes / 1000000000)" | bc -l)

  echo "bench: $name: $CONNECTS x ssh -J ... true" >&2
  : > "$W/$name.times"
  for _ in $(seq "$CONNECTS"); do
    t0=$(date +%s.%N); sshj "$gp" true; t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l >> "$W/$name.times"
  done
  R[$name.connect]=$(sort -n "$W/$name.times" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')

  echo "bench: $name: $IDLE idle -J connections" >&2
  local before; before=$(mem_kb "$pid")
  local i
  for i in $(seq "$IDLE"); do
    sshj "$gp" "sleep 3600" > /dev/null 2>&1 &
    echo $! >> "$W/$name.idle"
    [ $((i % 25)) -eq 0 ] && sleep 1
  done
  # Wait until every connection has its session up on the target.
  local deadline=$((SECONDS + 120))
  while [ "$(pgrep -fc "sleep 3600" || true)" -lt $((IDLE * 2)) ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
  sleep 2
  local after; after=$(mem_kb "$pid")
  R[$name.rss]=$(echo "${after% *} / 1024" | bc -l)
  R[$name.pss]=$(echo "${after#* } / 1024" | bc -l)
  R[$name.rss_idle]=$(echo "${before% *} / 1024" | bc -l)
  xargs kill < "$W/$name.idle" 2>/dev/null || true
  sleep 2
  pkill -f "sleep 3600" 2>/dev/null || true
  sleep 1
}

measure hopgate "$GATE_PORT" "$GATE_PID"
measure openssh "$JUMP_PORT" "$JUMP_PID"

ratio() { echo "${R[hopgate.$1]} / ${R[openssh.$1]}" | bc -l; }
printf '\nhopgate vs OpenSSH sshd as the ssh -J jump host (127.0.0.1, %s MiB, %s connects, %s idle)\n' \
  "$SIZE_MIB" "$CONNECTS" "$IDLE"
printf '%-44s %12s %12s %10s\n' metric hopgate openssh ratio
printf '%-44s %12.1f %12.1f %10.2f\n' "throughput through -J (MB/s, higher=better)" "${R[hopgate.mbps]}" "${R[openssh.mbps]}" "$(ratio mbps)"
printf '%-44s %12.3f %12.3f %10.2f\n' "gateway CPU per GB relayed (s)" "${R[hopgate.cpu]}" "${R[openssh.cpu]}" "$(ratio cpu)"
printf '%-44s %12.3f %12.3f %10.2f\n' "ssh -J gate target true, median (s)" "${R[hopgate.connect]}" "${R[openssh.connect]}" "$(ratio connect)"
printf '%-44s %12.1f %12.1f %10.2f\n' "gateway RSS, $IDLE idle -J connections (MB)" "${R[hopgate.rss]}" "${R[openssh.rss]}" "$(ratio rss)"
printf '%-44s %12.1f %12.1f %10.2f\n' "gateway PSS, $IDLE idle -J connections (MB)" "${R[hopgate.pss]}" "${R[openssh.pss]}" "$(ratio pss)"
