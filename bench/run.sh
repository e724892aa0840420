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
# Then the same download and connect figures through a two-hop chain of
# stock sshd jump hosts (jump1 -> jump2 -> target):
#   (a) hopgate crosses the chain server-side: `ssh -J alice@gate root@target`,
#       the policy routes target `via: [jump2]`, jump2 `via: [jump1]`, and
#       hopgate logs in to jump1 and jump2 with its own key over one shared
#       upstream connection per hop;
#   (b) the client crosses it itself: `ssh -J root@jump1,root@jump2 target`.
# CPU is that of the whole middle: hopgate + jump1 + jump2 sshd for (a),
# jump1 + jump2 sshd for (b) (whole process trees, reaped children
# included); the target sshd is never counted.
#
# Then a recorded session: hopgate terminates the inner SSH of
# `ssh -J alice@gate root@db1` (db1 is `record: true`), logs in to the target
# with a certificate it mints from an upstream CA the target trusts
# (TrustedUserCAKeys), and writes an asciicast of the session, vs the same
# stock sshd as a plain passthrough -J jump host. Both download the same
# printable text (`yes ... | head -c`), not /dev/zero: zero bytes are the
# worst case for the recording's JSON escaping (6 bytes each). Prints
# throughput, gateway CPU per GB (the hopgate process alone vs the jump
# sshd's tree), the median connect time and the size of the recording
# relative to the bytes transferred, then the same download of random bytes
# by sftp (a recorded SFTP channel: file operations audited, no cast), each
# judged against issue 13's goals: CPU per GB at most 2.0x sshd's (sftp:
# 1.6x), throughput at least 0.9x, connect time at most sshd's, at most 1.1
# bytes of recording per byte of output.
#
# Then idle connections at scale, hopgate alone: one asyncssh client
# process (bench/idle_clients.py) opens as many idle authenticated
# connections as the open-files hard limit allows at 2 descriptors each,
# min(10000, (hard limit - 2000) / 2) (9,000 where the hard limit is
# 20,000; --idle-conns N for fewer), each with a direct-tcpip channel open
# to a TCP sink (one asyncio process, the same script), and holds them.
# Prints how many opened and failed, the gateway's RSS growth per
# connection (goal <= 64 kB), its descriptors per connection (2) and
# threads, the median wall time of an `ssh -J` by another user before and
# with all of them open (goal: at most 1.2x), the gateway's CPU while they
# sit idle (goal < 2% of one core), and the rate at which they opened, with
# the client's own CPU meanwhile (one Python process: at ~100% of a core,
# the client is the bottleneck, not the gateway).
#
# Usage: bench/run.sh [--size-mib 1024] [--connects 20] [--idle 200] [--idle-conns N] [--idle-alive 15s]
#                     [--only-chain | --no-chain] [--only-recorded | --no-recorded]
#                     [--only-idle | --no-idle] [--no-sftp]
#                     [--only-audit | --no-audit] [--audit-mib 1024] [--keep]
# The audit section (last) runs bench/audit_verify.sh (hopctl audit verify's
# MB/s, goal >= 200) and bench/audit_search.sh (hopctl sessions --grep over
# --audit-mib MiB of recordings, goal < 1 s); see those scripts. The fleet
# section runs bench/fleet.sh (a PostgreSQL of its own: the login latency
# fleet.database adds, goal < 5 ms, and lock propagation to a live session).
# --idle N is the side-by-side memory row's idle `ssh -J` processes;
# --idle-conns N the idle connections at scale, --idle-alive their gateway's
# limits.client_alive_interval (15s, the default: every silent client is
# probed; 0s: the idle floor, judged against < 2% of a core). --keep keeps the work
# directory (configurations, daemon logs) and prints its path.
# HOPGATE_BIN and HOPCTL_BIN, if both set, are the hopgate and hopctl to run
# (no bazel build); either alone replaces the one built.
# Not part of the test suite. Run as root on an otherwise idle machine.
set -euo pipefail
# HOPGATE_BIN and HOPCTL_BIN relative to the directory the script started in.
for v in HOPGATE_BIN HOPCTL_BIN; do
  case "${!v:-}" in "" | /*) ;; *) printf -v "$v" '%s' "$PWD/${!v}" ;; esac
done
cd "$(dirname "$0")/.."

SIZE_MIB=1024
CONNECTS=20
IDLE=200
SINGLE=1    # hopgate vs sshd as the one -J jump host
CHAIN=1     # the two-hop chain
RECORDED=1  # a recorded session vs sshd as a passthrough jump host
IDLECONN=1  # idle connections at scale (hopgate alone)
SFTP=1      # the recorded section's sftp download (--no-sftp leaves it out)
AUDIT=1     # the auditor's tools: verify throughput, search latency
FLEET=1     # a fleet database: added login latency, lock propagation
AUDIT_MIB=1024
IDLE_CONNS=""  # how many; default: what the open-files hard limit allows
IDLE_ALIVE=15s  # their gateway's limits.client_alive_interval (15s: the default; 0s: none)
KEEP=0
usage() {
  echo "usage: $0 [--size-mib N] [--connects N] [--idle N] [--idle-conns N] [--idle-alive Ns]" \
    "[--only-chain | --no-chain] [--only-recorded | --no-recorded] [--only-idle | --no-idle]" \
    "[--no-sftp] [--only-audit | --no-audit] [--audit-mib N] [--only-fleet | --no-fleet] [--keep]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) [ $# -ge 2 ] || usage; SIZE_MIB=$2; shift 2 ;;
    --connects) [ $# -ge 2 ] || usage; CONNECTS=$2; shift 2 ;;
    --idle) [ $# -ge 2 ] || usage; IDLE=$2; shift 2 ;;
    --idle-conns) [ $# -ge 2 ] || usage; IDLE_CONNS=$2; shift 2 ;;
    --idle-alive) [[ $# -ge 2 && $2 =~ ^[0-9]+s$ ]] || usage; IDLE_ALIVE=$2; shift 2 ;;
    --only-chain) SINGLE=0; RECORDED=0; IDLECONN=0; AUDIT=0; FLEET=0; shift ;;
    --no-chain) CHAIN=0; shift ;;
    --only-recorded) SINGLE=0; CHAIN=0; IDLECONN=0; AUDIT=0; FLEET=0; shift ;;
    --no-recorded) RECORDED=0; shift ;;
    --only-idle) SINGLE=0; CHAIN=0; RECORDED=0; AUDIT=0; FLEET=0; shift ;;
    --only-audit) SINGLE=0; CHAIN=0; RECORDED=0; IDLECONN=0; FLEET=0; shift ;;
    --no-audit) AUDIT=0; shift ;;
    --only-fleet) SINGLE=0; CHAIN=0; RECORDED=0; IDLECONN=0; AUDIT=0; shift ;;
    --no-fleet) FLEET=0; shift ;;
    --audit-mib) [ $# -ge 2 ] || usage; AUDIT_MIB=$2; shift 2 ;;
    --no-idle) IDLECONN=0; shift ;;
    --no-sftp) SFTP=0; shift ;;
    --keep) KEEP=1; shift ;;
    *) usage ;;
  esac
done
bounded() {  # name value min max
  [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
    { echo "bench: $1 must be an integer in [$3, $4]" >&2; exit 2; }
}
bounded --size-mib "$SIZE_MIB" 1 65536
bounded --connects "$CONNECTS" 1 1000
bounded --idle "$IDLE" 0 5000
SIZE_MIB=$((10#$SIZE_MIB)) CONNECTS=$((10#$CONNECTS)) IDLE=$((10#$IDLE))
# Idle connections at scale: 2 descriptors each in the gateway, within its
# open-files hard limit (which it raises its soft limit to) less 2,000 for
# everything else; at most 10,000 (9,000 where the hard limit is 20,000).
NOFILE_HARD=$(ulimit -Hn)
[ "$NOFILE_HARD" != unlimited ] || NOFILE_HARD=1048576
IDLE_HEADROOM=2000
IDLE_GOAL=$(((NOFILE_HARD - IDLE_HEADROOM) / 2))
[ "$IDLE_GOAL" -le 10000 ] || IDLE_GOAL=10000
if [ $IDLECONN -eq 1 ]; then
  [ "$IDLE_GOAL" -ge 1 ] ||
    { echo "bench: open-files hard limit $NOFILE_HARD leaves no room for idle connections" >&2; exit 1; }
  IDLE_CONNS=${IDLE_CONNS:-$IDLE_GOAL}
  bounded --idle-conns "$IDLE_CONNS" 1 "$IDLE_GOAL"
  IDLE_CONNS=$((10#$IDLE_CONNS))
elif [ -n "$IDLE_CONNS" ]; then
  bounded --idle-conns "$IDLE_CONNS" 1 10000
fi
bounded --audit-mib "$AUDIT_MIB" 1 65536
[ $SINGLE -eq 1 ] || [ $CHAIN -eq 1 ] || [ $RECORDED -eq 1 ] || [ $IDLECONN -eq 1 ] || [ $AUDIT -eq 1 ] || [ $FLEET -eq 1 ] ||
  { echo "bench: the --only-* and --no-* options given leave nothing to run" >&2; exit 2; }

deploy/install-deps.sh
if [ -n "${HOPGATE_BIN:-}" ] && [ -n "${HOPCTL_BIN:-}" ]; then
  HOPGATE=$HOPGATE_BIN HOPCTL=$HOPCTL_BIN
  echo "bench: running $HOPGATE and $HOPCTL (HOPGATE_BIN, HOPCTL_BIN; no bazel build)" >&2
else
  bazel build //proxy/daemon:hopgate //hopctl:hopctl >&2
  BIN="$(bazel info bazel-bin 2>/dev/null)"
  HOPGATE=${HOPGATE_BIN:-$BIN/proxy/daemon/hopgate} HOPCTL=${HOPCTL_BIN:-$BIN/hopctl/hopctl}
fi
for b in "$HOPGATE" "$HOPCTL"; do
  [ -x "$b" ] || { echo "bench: $b is not an executable file" >&2; exit 1; }
done
mkdir -p /run/sshd && chmod 0755 /run/sshd

# Process ids of ROOT... and of all their descendants (with -c COMM: only
# the processes whose command name is COMM).
tree_pids() {  # [-c COMM] ROOT...
  local comm=""
  if [ "$1" = -c ]; then comm=$2; shift 2; fi
  ps -e -o pid=,ppid=,comm= | awk -v roots="$*" -v comm="$comm" '
    { pp[$1] = $2; cm[$1] = $3 }
    END {
      n = split(roots, r, " ")
      for (i = 1; i <= n; i++) if (r[i] in pp) keep[r[i]] = 1
      do {
        added = 0
        for (p in pp) if (!(p in keep) && (pp[p] in keep)) { keep[p] = 1; added = 1 }
      } while (added)
      for (p in keep) if (comm == "" || cm[p] == comm) print p
    }'
}

W=$(mktemp -d /tmp/hopgate-bench.XXXXXX)
PIDS=()
# Everything this script started descends from it (the daemons run in the
# foreground); the trees are listed before anything is signalled, while
# the sshd session processes still hang under their listeners.
cleanup() {
  set +e
  local all; all=$(tree_pids $$ | grep -vx "$$")
  kill "${PIDS[@]}" $all 2>/dev/null
  sleep 0.5
  if [ $KEEP -eq 1 ]; then echo "bench: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
# Waits until PID (a daemon named NAME, logging to $W/NAME.log) listens.
wait_listen() {  # name pid port
  local i
  for i in $(seq 100); do
    kill -0 "$2" 2>/dev/null || { echo "bench: $1 exited:" >&2; cat "$W/$1.log" >&2; exit 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: $1 does not listen on 127.0.0.1:$3" >&2; exit 1
}
# Waits until PID (NAME) has written a line to FILE; if it exits or SECONDS
# pass first, shows the tail of each LOG and fails.
wait_line() {  # name pid file seconds log...
  local name=$1 pid=$2 file=$3 deadline=$((SECONDS + $4)) why="" l; shift 4
  until [ -s "$file" ] && [ "$(wc -l < "$file")" -ge 1 ]; do
    if ! kill -0 "$pid" 2>/dev/null; then why="exited"
    elif [ $SECONDS -ge $deadline ]; then why="printed nothing in time"; fi
    if [ -n "$why" ]; then
      echo "bench: $name $why" >&2
      for l in "$@"; do echo "bench: --- tail of $l" >&2; tail -n 20 "$l" >&2; done
      exit 1
    fi
    sleep 0.2
  done
}
# Fields of the JSON line in FILE (idle_clients.py's output), space-separated.
json_fields() {  # file key...
  /usr/bin/python3 -c 'import json, sys
d = json.loads(open(sys.argv[1]).readline())
print(*(d[k] for k in sys.argv[2:]))' "$@"
}
TARGET_PORT=$(free_port 32201)
JUMP_PORT=$(free_port $((TARGET_PORT + 1)))
GATE_PORT=$(free_port $((JUMP_PORT + 1)))
J1_PORT=$(free_port $((GATE_PORT + 1)))
J2_PORT=$(free_port $((J1_PORT + 1)))
CGATE_PORT=$(free_port $((J2_PORT + 1)))
RGATE_PORT=$(free_port $((CGATE_PORT + 1)))
IGATE_PORT=$(free_port $((RGATE_PORT + 1)))

ssh-keygen -q -t ed25519 -N '' -C bench -f "$W/client"
# hopgate's own key for logging in to the chain's jump hosts.
ssh-keygen -q -t ed25519 -N '' -C hopgate-hop -f "$W/hop_identity"
cp "$W/client.pub" "$W/authorized_keys"
cat "$W/client.pub" "$W/hop_identity.pub" > "$W/jump_authorized_keys"
# The CA whose certificates hopgate mints to log in to a recorded target;
# the target trusts it (the certificate's principal is the login, root).
TARGET_EXTRA=""
if [ $RECORDED -eq 1 ]; then
  ssh-keygen -q -t ed25519 -N '' -C bench-upstream-ca -f "$W/upstream_ca"
  TARGET_EXTRA="TrustedUserCAKeys $W/upstream_ca.pub"
fi

sshd_config() {  # port hostkey authorized_keys [extra-lines]
  cat <<CFG
Port $1
ListenAddress 127.0.0.1
HostKey $2
AuthorizedKeysFile $3
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
Subsystem sftp internal-sftp
CFG
  [ -z "${4:-}" ] || printf '%s\n' "$4"
}
start_sshd() {  # name port authorized_keys [extra-config-lines]; sets SSHD_PID
  ssh-keygen -q -t ed25519 -N '' -f "$W/$1_host"
  sshd_config "$2" "$W/$1_host" "$3" "${4:-}" > "$W/$1_sshd_config"
  # The sessions must not run root's dotfiles (they can do anything: pyenv's
  # rehash waits on a lock); sshd runs in a mount namespace where they are
  # empty, as in the tests (tests/support/harness.cc, Sshd).
  local masks="" f
  for f in "$HOME/.bashrc" "$HOME/.profile" "$HOME/.bash_profile" "$HOME/.bash_login"; do
    [ -e "$f" ] && masks+="mount --bind /dev/null '$f' && "
  done
  if [ "$(id -u)" = 0 ] && [ -n "$masks" ]; then
    unshare --mount --propagation private -- sh -c \
      "${masks}exec /usr/sbin/sshd -D -f '$W/$1_sshd_config' -E '$W/$1.log'" &
  else
    /usr/sbin/sshd -D -f "$W/$1_sshd_config" -E "$W/$1.log" &
  fi
  SSHD_PID=$!; PIDS+=("$SSHD_PID")
}
# Each gateway keeps its host key in a directory of its own: hopgate
# generates its interception key for recorded sessions
# (recording_host_ed25519) next to it, and two gateways must not write the
# same file.
start_hopgate() {  # name port policy extra-config; sets GATE_PID
  mkdir -p "$W/$1.d"
  cat > "$W/$1.yaml" <<CONFIG
version: 1
listen: ["127.0.0.1:$2"]
host_keys: [$W/$1.d/host_ed25519]
policy: $3
audit: {log: $W/$1_audit.jsonl, recordings: $W/$1.d/recordings}
# One client machine opens every connection: the per-source start-up limit
# and penalties (meant for attackers) would refuse a load test from it.
limits:
  max_startups: 1000
  max_connections: 100000
  per_source_max_startups: 1000
  per_source_penalty: "off"
${LIMITS_EXTRA:-}
log_level: warning
$4
CONFIG
  "$HOPGATE" --config "$W/$1.yaml" --check >&2
  "$HOPGATE" --config "$W/$1.yaml" 2>"$W/$1.log" &
  GATE_PID=$!; PIDS+=("$GATE_PID")
}

start_sshd target "$TARGET_PORT" "$W/authorized_keys" "$TARGET_EXTRA"; TARGET_PID=$SSHD_PID
wait_listen target "$TARGET_PID" "$TARGET_PORT"

# The stock sshd jump host: the single-hop comparison and the passthrough
# side of the recorded session.
if [ $SINGLE -eq 1 ] || [ $RECORDED -eq 1 ]; then
  start_sshd jump "$JUMP_PORT" "$W/authorized_keys"; JUMP_PID=$SSHD_PID
  wait_listen jump "$JUMP_PID" "$JUMP_PORT"
fi

if [ $SINGLE -eq 1 ]; then
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
  start_hopgate hopgate "$GATE_PORT" "$W/policy.yaml" ""; HOPGATE_PID=$GATE_PID
  wait_listen hopgate "$HOPGATE_PID" "$GATE_PORT"
fi

if [ $CHAIN -eq 1 ]; then
  start_sshd jump1 "$J1_PORT" "$W/jump_authorized_keys"; J1_PID=$SSHD_PID
  start_sshd jump2 "$J2_PORT" "$W/jump_authorized_keys"; J2_PID=$SSHD_PID
  cat > "$W/chain_policy.yaml" <<POLICY
version: 1
users:
  alice:
    keys: ["$(cat "$W/client.pub")"]
hosts:
  jump1:
    address: "127.0.0.1:$J1_PORT"
    login: root
    identity: $W/hop_identity
    host_key: "$(cat "$W/jump1_host.pub")"
  jump2:
    address: "127.0.0.1:$J2_PORT"
    login: root
    identity: $W/hop_identity
    host_key: "$(cat "$W/jump2_host.pub")"
    via: [jump1]
  target:
    address: "127.0.0.1:$TARGET_PORT"
    via: [jump2]
rules:
  - name: bench
    users: [alice]
    permit_open: ["target:22"]
POLICY
  # idle_close well above any gap between two client channels, so every
  # channel after the first reuses the one upstream connection per hop.
  start_hopgate chain_hopgate "$CGATE_PORT" "$W/chain_policy.yaml" "upstream: {idle_close: 10m}"
  CHAIN_GATE_PID=$GATE_PID
  wait_listen jump1 "$J1_PID" "$J1_PORT"
  wait_listen jump2 "$J2_PID" "$J2_PORT"
  wait_listen chain_hopgate "$CHAIN_GATE_PID" "$CGATE_PORT"
fi

if [ $RECORDED -eq 1 ]; then
  cat > "$W/rec_policy.yaml" <<POLICY
version: 1
users:
  alice:
    keys: ["$(cat "$W/client.pub")"]
hosts:
  db1:
    address: "127.0.0.1:$TARGET_PORT"
    record: true
    host_key: "$(cut -d' ' -f1,2 "$W/target_host.pub")"
rules:
  - name: bench
    users: [alice]
    permit_open: ["db1:22"]
    logins: [root]
POLICY
  # recording.min_free_bytes: 0 where this hopgate takes a recording:
  # section (else its default floor applies: checked below).
  REC_EXTRA="upstream: {user_ca_key: $W/upstream_ca}"
  printf 'version: 1\nrecording: {min_free_bytes: 0}\n' > "$W/probe.yaml"
  probe=$("$HOPGATE" --config "$W/probe.yaml" --check 2>&1 || true)
  if [[ $probe == *'unknown key "recording"'* ]]; then
    echo "bench: this hopgate does not take recording: in its config; default recording.min_free_bytes" >&2
  else
    REC_EXTRA+=$'\n'"recording: {min_free_bytes: 0}"
  fi
  start_hopgate rec_hopgate "$RGATE_PORT" "$W/rec_policy.yaml" "$REC_EXTRA"
  REC_GATE_PID=$GATE_PID
  wait_listen rec_hopgate "$REC_GATE_PID" "$RGATE_PORT"
  # The recording is about as large as the download; leave room for it and
  # for hopgate's default floor of 100 MiB.
  # The sftp download's random file takes as much again.
  free_kb=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
  [ "$free_kb" -ge $((SIZE_MIB * 1024 * (11 + 10 * SFTP) / 10 + 200 * 1024)) ] ||
    { echo "bench: $W has ${free_kb} kB free, too little to record ${SIZE_MIB} MiB" >&2; exit 1; }
  # The client trusts the gateway's interception key for db1 (hopgate
  # generated it at its start).
  "$HOPCTL" known-hosts --config "$W/rec_hopgate.yaml" > "$W/db1_known_hosts"
fi

# db1 is the recorded target behind rec_hopgate: its host key is checked
# (the gateway's interception key); the jump hosts' are not.
cat > "$W/ssh_config" <<SSHCFG
Host db1
  UserKnownHostsFile $W/db1_known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
Host *
  IdentityFile $W/client
  IdentitiesOnly yes
  IdentityAgent none
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
  BatchMode yes
SSHCFG

# CPU ticks (user+sys) of the process trees of ROOT..., including children
# that exited and were reaped (the cutime and cstime of their parents), so
# that sshd's per-connection processes count whether or not they are gone.
tree_cpu_ticks() {  # ROOT...
  local p
  for p in $(tree_pids "$@"); do cat "/proc/$p/stat" 2>/dev/null || true; done |
    awk '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
HZ=$(getconf CLK_TCK)

sshj() {  # gateport cmd...
  local gp=$1; shift
  ssh -F "$W/ssh_config" -J "root@127.0.0.1:$gp" -p "$TARGET_PORT" root@127.0.0.1 "$@"
}
# The recorded session: hopgate terminates the inner SSH to db1 and logs in
# to the target as root with a certificate it mints.
sshr() {  # cmd...
  ssh -F "$W/ssh_config" -J "alice@127.0.0.1:$RGATE_PORT" root@db1 "$@"
}
# ssh -J through the idle connections' hopgate as its other user, and the
# same login to the target without a jump host (a control: how much the
# machine itself slowed down).
sshi() {  # cmd...
  ssh -F "$W/ssh_config" -J "other@127.0.0.1:$IGATE_PORT" -p "$TARGET_PORT" root@127.0.0.1 "$@"
}
sshd_direct() {  # cmd...
  ssh -F "$W/ssh_config" -p "$TARGET_PORT" root@127.0.0.1 "$@"
}
# The two-hop chain: hopgate crosses jump1 and jump2 itself, or the client
# crosses them with a two-hop -J.
sshc() {  # hopgate|openssh cmd...
  local how=$1; shift
  if [ "$how" = hopgate ]; then
    ssh -F "$W/ssh_config" -J "alice@127.0.0.1:$CGATE_PORT" -p 22 root@target "$@"
  else
    ssh -F "$W/ssh_config" -J "root@127.0.0.1:$J1_PORT,root@127.0.0.1:$J2_PORT" \
      -p "$TARGET_PORT" root@127.0.0.1 "$@"
  fi
}

# Sum of RSS and PSS (kB) of a process and all its descendant processes
# (threads share their process's memory and are not counted again).
mem_kb() {
  local pid rss=0 pss=0
  for pid in $(tree_pids "$1"); do
    [ -r "/proc/$pid/smaps_rollup" ] || continue
    rss=$((rss + $(awk '/^Rss:/{print $2}' "/proc/$pid/smaps_rollup")))
    pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")))
  done
  echo "$rss $pss"
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A R
BYTES=$((SIZE_MIB * 1048576))
# What the target prints for a download: zero bytes, or printable text (the
# recorded session, where zero bytes would be the worst case of the
# recording's JSON escaping).
ZERO_SOURCE="head -c $BYTES /dev/zero"
TEXT_SOURCE="yes 'the quick brown fox jumps over the lazy dog 0123456789' | head -c $BYTES"
SOURCE=$ZERO_SOURCE
# Downloads SIZE_MIB MiB of $SOURCE with CMD... (which takes the remote
# command last), sets R[MBPS_KEY] to its throughput and, for each
# KEY=ROOT[,ROOT...] in GROUPS, R[KEY] to the CPU seconds per GB of those
# process trees.
download() {  # label mbps-key groups cmd...
  local label=$1 mkey=$2 groups=$3; shift 3
  local g roots t0 t1
  local -A c0 c1
  sleep 1  # let earlier connections' processes exit and be reaped
  for g in $groups; do roots=${g#*=}; c0[$g]=$(tree_cpu_ticks ${roots//,/ }); done
  echo "bench: $label: ${SIZE_MIB} MiB download" >&2
  t0=$(date +%s.%N)
  "$@" "$SOURCE" | wc -c > "$W/$label.bytes"
  t1=$(date +%s.%N)
  sleep 1  # let sshd reap the session processes so their CPU is counted
  for g in $groups; do roots=${g#*=}; c1[$g]=$(tree_cpu_ticks ${roots//,/ }); done
  local bytes; bytes=$(cat "$W/$label.bytes")
  [ "$bytes" -eq "$BYTES" ] || { echo "bench: $label: short transfer ($bytes bytes)" >&2; exit 1; }
  R[$mkey]=$(echo "$bytes / ($t1 - $t0) / 1000000" | bc -l)
  for g in $groups; do
    R[${g%%=*}]=$(echo "(${c1[$g]} - ${c0[$g]}) / $HZ / ($bytes / 1000000000)" | bc -l)
  done
}
# Sets R[KEY] to the median wall time of CMD... true over CONNECTS runs.
connects() {  # label key cmd...
  local label=$1 key=$2 t0 t1; shift 2
  echo "bench: $label: $CONNECTS x ... true" >&2
  : > "$W/$label.times"
  for _ in $(seq "$CONNECTS"); do
    t0=$(date +%s.%N); "$@" true; t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l >> "$W/$label.times"
  done
  R[$key]=$(median "$W/$label.times")
}

measure() {  # name gateport gatepid
  local name=$1 gp=$2 pid=$3
  echo "bench: $name: warm-up" >&2
  sshj "$gp" true
  download "$name" "$name.mbps" "$name.cpu=$pid" sshj "$gp"
  connects "$name" "$name.connect" sshj "$gp"

  echo "bench: $name: $IDLE idle -J connections" >&2
  local before; before=$(mem_kb "$pid")
  local i
  : > "$W/$name.idle"
  for i in $(seq "$IDLE"); do
    sshj "$gp" "sleep 3600" > /dev/null 2>&1 &
    echo $! >> "$W/$name.idle"
    [ $((i % 25)) -eq 0 ] && sleep 1
  done
  # Wait until every connection has its session up on the target.
  local deadline=$((SECONDS + 120))
  while [ "$(tree_pids -c sleep "$TARGET_PID" | wc -l)" -lt "$IDLE" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
  sleep 2
  local after; after=$(mem_kb "$pid")
  R[$name.rss]=$(echo "${after% *} / 1024" | bc -l)
  R[$name.pss]=$(echo "${after#* } / 1024" | bc -l)
  R[$name.rss_idle]=$(echo "${before% *} / 1024" | bc -l)
  # End the remote sleeps (by process id: their sessions and the clients
  # then close), then whatever is left of the clients.
  kill $(tree_pids -c sleep "$TARGET_PID") 2>/dev/null || true
  sleep 2
  kill $(tree_pids $(cat "$W/$name.idle")) 2>/dev/null || true
  sleep 1
}

# The two-hop chain. The middle is hopgate + jump1 + jump2 for hopgate and
# jump1 + jump2 for OpenSSH; the target sshd is in neither.
measure_chain() {  # hopgate|openssh
  local how=$1 middle
  if [ "$how" = hopgate ]; then middle="$CHAIN_GATE_PID,$J1_PID,$J2_PID"; else middle="$J1_PID,$J2_PID"; fi
  echo "bench: chain $how: warm-up" >&2
  sshc "$how" true
  local before; before=$(tree_pids "$J1_PID" "$J2_PID" | sort -n | tr '\n' ' ')
  download "chain $how" "$how.chain_mbps" \
    "$how.chain_cpu=$middle $how.chain_jump_cpu=$J1_PID,$J2_PID" sshc "$how"
  connects "chain $how" "$how.chain_connect" sshc "$how"
  if [ "$how" = hopgate ]; then
    # hopgate stays logged in to jump1 and jump2 (sshd processes beyond
    # the two listeners), on the same processes since the warm-up: one
    # shared upstream connection per hop carried every channel.
    local after; after=$(tree_pids "$J1_PID" "$J2_PID" | sort -n | tr '\n' ' ')
    if [ "$(wc -w <<<"$after")" -gt 2 ] && [ "$after" = "$before" ]; then
      echo "bench: chain hopgate: one shared upstream connection per jump host throughout" >&2
    else
      echo "bench: chain hopgate: WARNING: jump host sshd processes changed ($before -> $after)" >&2
    fi
  fi
}

# The number of session_close events in an audit log.
audited_closes() { cat "$1" 2>/dev/null | grep -c '"type":"session_close"' || true; }
# The recorded session through rec_hopgate (CPU: the hopgate process
# alone) vs the jump sshd as a plain passthrough (CPU: its whole tree), both
# downloading the same printable text. The passthrough connect time is the
# single-hop one, measured here if that section did not run.
measure_recorded() {
  local SOURCE=$TEXT_SOURCE  # what download() sends, here and in what it calls
  echo "bench: recorded hopgate: check (echo ok)" >&2
  local ok; ok=$(sshr echo ok) || true
  [ "$ok" = ok ] || {
    echo "bench: recorded hopgate: ssh -J ... root@db1 echo ok printed '$ok'" >&2
    cat "$W/rec_hopgate.log" >&2; exit 1
  }
  local audit="$W/rec_hopgate_audit.jsonl" rec="$W/rec_hopgate.d/recordings"
  local closes; closes=$(audited_closes "$audit")
  find "$rec" -name '*.cast' | sort > "$W/casts.before"
  download "recorded hopgate" hopgate.rec_mbps "hopgate.rec_cpu=$REC_GATE_PID" sshr
  # The recording is complete once hopgate audits the session's close.
  local deadline=$((SECONDS + 30))
  while [ "$(audited_closes "$audit")" -le "$closes" ]; do
    [ $SECONDS -lt $deadline ] || { echo "bench: recorded hopgate: no session_close audited" >&2; exit 1; }
    sleep 0.2
  done
  find "$rec" -name '*.cast' | sort > "$W/casts.after"
  local new; new=$(comm -13 "$W/casts.before" "$W/casts.after")
  [ -n "$new" ] || { echo "bench: recorded hopgate: no new recording under $rec" >&2; exit 1; }
  R[hopgate.rec_cast_files]=$(wc -l <<<"$new")
  R[hopgate.rec_cast_bytes]=$(xargs stat -c %s <<<"$new" | awk '{ s += $1 } END { print s + 0 }')
  connects "recorded hopgate" hopgate.rec_connect sshr

  echo "bench: passthrough openssh: warm-up" >&2
  sshj "$JUMP_PORT" true
  download "passthrough openssh" openssh.rec_mbps "openssh.rec_cpu=$JUMP_PID" sshj "$JUMP_PORT"
  [ -n "${R[openssh.connect]:-}" ] || connects openssh openssh.connect sshj "$JUMP_PORT"
  R[openssh.rec_connect]=${R[openssh.connect]}
}

# sftp of $W/random.bin (SIZE_MIB MiB of random bytes) to /dev/null, through
# the recorded gateway or the passthrough sshd; like download(), sets
# R[MBPS_KEY] and R[CPU_KEY] (CPU seconds per GB of process tree ROOT).
sftp_download() {  # label mbps-key cpu-key root hopgate|openssh
  local label=$1 mkey=$2 ckey=$3 root=$4 how=$5 t0 t1 c0 c1
  local -a via
  if [ "$how" = hopgate ]; then
    via=(-J "alice@127.0.0.1:$RGATE_PORT" "root@db1:$W/random.bin")
  else
    via=(-J "root@127.0.0.1:$JUMP_PORT" -P "$TARGET_PORT" "root@127.0.0.1:$W/random.bin")
  fi
  sleep 1
  c0=$(tree_cpu_ticks "$root")
  echo "bench: $label: ${SIZE_MIB} MiB of random bytes by sftp" >&2
  t0=$(date +%s.%N)
  sftp -q -F "$W/ssh_config" "${via[@]}" /dev/null > "$W/$label.out" 2>&1 ||
    { echo "bench: $label: sftp failed:" >&2; cat "$W/$label.out" >&2; exit 1; }
  t1=$(date +%s.%N)
  sleep 1
  c1=$(tree_cpu_ticks "$root")
  R[$mkey]=$(echo "$BYTES / ($t1 - $t0) / 1000000" | bc -l)
  R[$ckey]=$(echo "($c1 - $c0) / $HZ / ($BYTES / 1000000000)" | bc -l)
}
measure_sftp() {
  head -c "$BYTES" /dev/urandom > "$W/random.bin"
  sftp_download "recorded sftp hopgate" hopgate.sftp_mbps hopgate.sftp_cpu "$REC_GATE_PID" hopgate
  sftp_download "passthrough sftp openssh" openssh.sftp_mbps openssh.sftp_cpu "$JUMP_PID" openssh
  rm -f "$W/random.bin"
}

# One process's own figures, from /proc (all its threads).
proc_rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"; }
proc_threads() { awk '$1 == "Threads:" { print $2 }' "/proc/$1/status"; }
proc_fds() { ls "/proc/$1/fd" | wc -l; }
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
IDLE_CPU_SECONDS=10
# Idle connections at scale: one hopgate of their own, started when the
# section runs, where user idle (a key of its own) may open channels only to
# the sink and user other (the bench client's key) only to the target, for
# the `ssh -J` timed beside them. The sink and the idle clients hold until
# $W/idle.hold, a FIFO this script keeps open for writing, closes (at the
# latest when the script exits), or until their --hold runs out.
start_idle() {
  IDLE_PY=(/usr/bin/python3 bench/idle_clients.py)
  # Bounds on opening them all (at least 20 a second) and on holding them.
  IDLE_OPEN_SECONDS=$((120 + IDLE_CONNS / 20))
  IDLE_HOLD_SECONDS=$((IDLE_OPEN_SECONDS + 300))
  ssh-keygen -q -t ed25519 -N '' -C bench-idle -f "$W/idle_client"
  mkfifo "$W/idle.hold"
  "${IDLE_PY[@]}" sink --port 0 --hold "$IDLE_HOLD_SECONDS" < "$W/idle.hold" \
    > "$W/idle_sink.out" 2> "$W/idle_sink.log" &
  SINK_PID=$!; PIDS+=("$SINK_PID")
  exec {IDLE_HOLD}> "$W/idle.hold"
  wait_line idle_sink "$SINK_PID" "$W/idle_sink.out" 30 "$W/idle_sink.log"
  SINK_PORT=$(json_fields "$W/idle_sink.out" listening)
  cat > "$W/idle_policy.yaml" <<POLICY
version: 1
users:
  idle:
    keys: ["$(cat "$W/idle_client.pub")"]
  other:
    keys: ["$(cat "$W/client.pub")"]
rules:
  - name: idle
    users: [idle]
    permit_open: ["127.0.0.1:$SINK_PORT"]
  - name: other
    users: [other]
    permit_open: ["127.0.0.1:$TARGET_PORT"]
POLICY
  # (The gateway must not hold the FIFO open: no end of file then.)
  LIMITS_EXTRA="  client_alive_interval: $IDLE_ALIVE" \
    start_hopgate idle_hopgate "$IGATE_PORT" "$W/idle_policy.yaml" "" {IDLE_HOLD}>&-
  IDLE_GATE_PID=$GATE_PID
  wait_listen idle_hopgate "$IDLE_GATE_PID" "$IGATE_PORT"
}

# Idle connections at scale through idle_hopgate: the ssh -J by user other
# before, the IDLE_CONNS connections of one asyncssh client opened (their
# rate, the client's and the gateway's CPU meanwhile), the gateway's
# memory, descriptors and threads with all of them open, its CPU while they
# sit idle, the ssh -J by user other again; then they are closed.
measure_idle() {
  local CONNECTS=5  # the ssh -J medians, here and in connects()
  start_idle
  local pid=$IDLE_GATE_PID logs=("$W/idle_clients.log" "$W/idle_hopgate.log")
  echo "bench: idle: warm-up" >&2
  sshi true
  connects "idle, ssh -J by other, unloaded" idle.unloaded sshi
  connects "idle, control: ssh to the target directly, unloaded" idle.direct_unloaded sshd_direct
  sleep 1
  local rss0 fds0 g0 g1
  rss0=$(proc_rss_kb "$pid"); fds0=$(proc_fds "$pid")
  echo "bench: idle: $IDLE_CONNS connections with a channel each, one asyncssh client" >&2
  g0=$(proc_ticks "$pid")
  "${IDLE_PY[@]}" --port "$IGATE_PORT" --user idle --key "$W/idle_client" \
    --dest-port "$SINK_PORT" --count "$IDLE_CONNS" --hold "$IDLE_HOLD_SECONDS" \
    < "$W/idle.hold" > "$W/idle_clients.out" 2> "$W/idle_clients.log" {IDLE_HOLD}>&- &
  local client=$!; PIDS+=("$client")
  wait_line idle_clients "$client" "$W/idle_clients.out" "$IDLE_OPEN_SECONDS" "${logs[@]}"
  g1=$(proc_ticks "$pid")
  local open failed secs cpu
  read -r open failed secs cpu < <(json_fields "$W/idle_clients.out" open failed seconds cpu_seconds)
  echo "bench: idle: $open open, $failed failed in $secs s" >&2
  if [ "$failed" -gt 0 ]; then
    echo "bench: idle: first errors: $(json_fields "$W/idle_clients.out" errors)" >&2
    echo "bench: --- tail of $W/idle_hopgate.log" >&2; tail -n 20 "$W/idle_hopgate.log" >&2
  fi
  [ "$open" -gt 0 ] || { echo "bench: idle: no connection opened" >&2; exit 1; }
  R[idle.open]=$open R[idle.failed]=$failed R[idle.seconds]=$secs
  R[idle.rate]=$(echo "$open / $secs" | bc -l)
  R[idle.client_cpu]=$(echo "100 * $cpu / $secs" | bc -l)
  R[idle.open_cpu]=$(echo "100 * ($g1 - $g0) / $HZ / $secs" | bc -l)
  sleep 2
  local rss1 fds1 c0 c1
  rss1=$(proc_rss_kb "$pid"); fds1=$(proc_fds "$pid")
  R[idle.threads]=$(proc_threads "$pid")
  R[idle.rss0]=$rss0 R[idle.rss1]=$rss1 R[idle.fds0]=$fds0 R[idle.fds1]=$fds1
  R[idle.rss_per]=$(echo "($rss1 - $rss0) / $open" | bc -l)
  R[idle.fds_per]=$(echo "($fds1 - $fds0) / $open" | bc -l)
  echo "bench: idle: the sink holds $(proc_fds "$SINK_PID") descriptors" >&2
  echo "bench: idle: gateway CPU over ${IDLE_CPU_SECONDS} s with all of them open" >&2
  local k0 k1
  c0=$(proc_ticks "$pid"); k0=$(tree_cpu_ticks "$client" "$SINK_PID")
  sleep "$IDLE_CPU_SECONDS"
  c1=$(proc_ticks "$pid"); k1=$(tree_cpu_ticks "$client" "$SINK_PID")
  R[idle.idle_cpu]=$(echo "100 * ($c1 - $c0) / $HZ / $IDLE_CPU_SECONDS" | bc -l)
  echo "bench: idle: meanwhile the client and the sink used" \
    "$(echo "100 * ($k1 - $k0) / $HZ / $IDLE_CPU_SECONDS" | bc -l | xargs printf %.1f)% of a core;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  connects "idle, ssh -J by other, loaded" idle.loaded sshi
  connects "idle, control: ssh to the target directly, loaded" idle.direct_loaded sshd_direct
  # Still all open (the client alive, the gateway's descriptors as before)?
  local fds2; fds2=$(proc_fds "$pid")
  kill -0 "$client" 2>/dev/null && [ "$fds2" -ge "$fds1" ] ||
    echo "bench: idle: WARNING: connections closed while held (gateway descriptors $fds1 -> $fds2)" >&2
  # Close them: end of file on the clients' and the sink's stdin.
  exec {IDLE_HOLD}>&-
  local deadline=$((SECONDS + 60))
  while kill -0 "$client" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  ! kill -0 "$client" 2>/dev/null ||
    echo "bench: idle: WARNING: the client did not exit within 60 s of its stdin closing" >&2
  sleep 1
  echo "bench: idle: closed; the gateway holds $(proc_fds "$pid") descriptors ($fds0 before)," \
    "RSS $(proc_rss_kb "$pid") kB ($rss0 before, $rss1 with all open)" >&2
}

if [ $SINGLE -eq 1 ]; then
  measure hopgate "$GATE_PORT" "$HOPGATE_PID"
  measure openssh "$JUMP_PORT" "$JUMP_PID"
fi
if [ $CHAIN -eq 1 ]; then
  measure_chain hopgate
  measure_chain openssh
fi
if [ $RECORDED -eq 1 ]; then
  measure_recorded
  [ $SFTP -eq 0 ] || measure_sftp
fi
if [ $IDLECONN -eq 1 ]; then
  measure_idle
fi

ratio() {  # nan rather than a division by zero (a figure too small to measure)
  awk -v a="${R[hopgate.$1]}" -v b="${R[openssh.$1]}" 'BEGIN { if (b + 0 == 0) print "nan"; else print a / b }'
}
row() {  # label format key
  printf "%-44s %12$2 %12$2 %10.2f\n" "$1" "${R[hopgate.$3]}" "${R[openssh.$3]}" "$(ratio "$3")"
}
if [ $SINGLE -eq 1 ]; then
  printf '\nhopgate vs OpenSSH sshd as the ssh -J jump host (127.0.0.1, %s MiB, %s connects, %s idle)\n' \
    "$SIZE_MIB" "$CONNECTS" "$IDLE"
  printf '%-44s %12s %12s %10s\n' metric hopgate openssh ratio
  row "throughput through -J (MB/s, higher=better)" .1f mbps
  row "gateway CPU per GB relayed (s)" .3f cpu
  row "ssh -J gate target true, median (s)" .3f connect
  row "gateway RSS, $IDLE idle -J connections (MB)" .1f rss
  row "gateway PSS, $IDLE idle -J connections (MB)" .1f pss
fi
if [ $CHAIN -eq 1 ]; then
  if [ $SINGLE -eq 1 ]; then
    printf '%s\n' "two-hop chain jump1 -> jump2 -> target (middle: hopgate+jump1+jump2 vs jump1+jump2)"
  else
    printf '\nhopgate vs OpenSSH ssh -J through a two-hop chain of stock sshd jump hosts (127.0.0.1, %s MiB, %s connects)\n' \
      "$SIZE_MIB" "$CONNECTS"
    printf '%-44s %12s %12s %10s\n' metric hopgate openssh ratio
  fi
  row "chain throughput (MB/s, higher=better)" .1f chain_mbps
  row "chain middle CPU per GB relayed (s)" .3f chain_cpu
  row "  of which jump1+jump2 sshd (s)" .3f chain_jump_cpu
  row "chain ssh ... target true, median (s)" .3f chain_connect
fi
if [ $RECORDED -eq 1 ]; then
  if [ $SINGLE -eq 1 ] || [ $CHAIN -eq 1 ]; then
    printf '%s\n' "recorded session to db1 vs sshd passthrough -J (printable text; CPU: hopgate alone vs jump sshd)"
  else
    printf '\nhopgate recorded session vs OpenSSH sshd as a passthrough ssh -J jump host (127.0.0.1, %s MiB printable text, %s connects)\n' \
      "$SIZE_MIB" "$CONNECTS"
    printf '%-44s %12s %12s %10s   %s\n' metric hopgate openssh ratio "goal (ratio)"
  fi
  # Each figure with its ratio against issue 13's goal, "met" or "NOT met".
  rec_row() {  # label format key op limit
    local r; r=$(ratio "$3")
    printf "%-44s %12$2 %12$2 %10.2f   %s\n" "$1" "${R[hopgate.$3]}" "${R[openssh.$3]}" "$r" \
      "$(awk -v r="$r" -v op="$4" -v l="$5" 'BEGIN {
        if (r == "nan") { printf "%s %.2f (not measurable)", op, l; exit }
        ok = (op == "<=") ? r + 0 <= l + 0 : r + 0 >= l + 0
        printf "%s %.2f (%s)", op, l, ok ? "met" : "NOT met" }')"
  }
  rec_row "recorded throughput (MB/s, higher=better)" .1f rec_mbps ">=" 0.9
  rec_row "recorded gateway CPU per GB (s)" .3f rec_cpu "<=" 2.0
  rec_row "recorded ssh -J gate db1 true, median (s)" .3f rec_connect "<=" 1.0
  if [ $SFTP -eq 1 ]; then
    rec_row "recorded sftp, random (MB/s, higher=better)" .1f sftp_mbps ">=" 0.9
    rec_row "recorded sftp gateway CPU per GB (s)" .3f sftp_cpu "<=" 1.6
  fi
  awk -v c="${R[hopgate.rec_cast_bytes]}" -v n="${R[hopgate.rec_cast_files]}" -v b="$BYTES" 'BEGIN {
    r = c / b
    printf "recording: %d bytes of .cast (%d %s) for %d bytes transferred: %.3f bytes per byte   <= 1.10 (%s)\n",
      c, n, (n == 1) ? "file" : "files", b, r, (r <= 1.1) ? "met" : "NOT met"
  }'
fi
if [ $IDLECONN -eq 1 ]; then
  goal() {  # value op limit: "op limit (met)" or "(NOT met)"
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
      ok = (op == "<=") ? v + 0 <= l + 0 : v + 0 < l + 0
      printf "%s %s (%s)", op, l, ok ? "met" : "NOT met" }'
  }
  idle_row() { printf '  %-56s %22s   %s\n' "$@"; }
  printf '\nidle connections at scale (hopgate, 127.0.0.1, one asyncssh client; open-files hard limit %s)\n' \
    "$NOFILE_HARD"
  printf '  %-56s %22s   %s\n' metric measured goal
  if [ "$IDLE_CONNS" -lt "$IDLE_GOAL" ]; then
    count_goal="$IDLE_GOAL (not tried: --idle-conns $IDLE_CONNS)"
  elif [ "${R[idle.open]}" -ge "$IDLE_GOAL" ] && [ "${R[idle.failed]}" -eq 0 ]; then
    count_goal="$IDLE_GOAL (met)"
  else
    count_goal="$IDLE_GOAL (NOT met)"
  fi
  idle_row "connections open / failed" "${R[idle.open]} / ${R[idle.failed]}" "$count_goal"
  idle_row "gateway RSS growth per connection (kB)" "$(printf %.1f "${R[idle.rss_per]}")" \
    "$(goal "${R[idle.rss_per]}" "<=" 64)"
  idle_row "  gateway RSS before / all open (MB)" \
    "$(printf '%.1f / %.1f' "$(echo "${R[idle.rss0]} / 1024" | bc -l)" "$(echo "${R[idle.rss1]} / 1024" | bc -l)")" ""
  idle_row "gateway descriptors per connection" "$(printf %.2f "${R[idle.fds_per]}")" \
    "$(goal "$(printf %.2f "${R[idle.fds_per]}")" "<=" 2)"
  idle_row "  gateway descriptors before / all open" "${R[idle.fds0]} / ${R[idle.fds1]}" ""
  idle_row "gateway threads, all open" "${R[idle.threads]}" ""
  jratio=$(echo "${R[idle.loaded]} / ${R[idle.unloaded]}" | bc -l)
  idle_row "ssh -J by another user, unloaded / loaded, median (ms)" \
    "$(printf '%.0f / %.0f (%.2fx)' "$(echo "1000 * ${R[idle.unloaded]}" | bc -l)" \
      "$(echo "1000 * ${R[idle.loaded]}" | bc -l)" "$jratio")" \
    "$(goal "$(printf %.2f "$jratio")" "<=" 1.2x)"
  idle_row "  control: ssh to the target directly (no -J), same (ms)" \
    "$(printf '%.0f / %.0f (%.2fx)' "$(echo "1000 * ${R[idle.direct_unloaded]}" | bc -l)" \
      "$(echo "1000 * ${R[idle.direct_loaded]}" | bc -l)" \
      "$(echo "${R[idle.direct_loaded]} / ${R[idle.direct_unloaded]}" | bc -l)")" ""
  if [ "$IDLE_ALIVE" = 0s ]; then
    idle_row "gateway CPU while idle, ${IDLE_CPU_SECONDS} s (% of one core; no keepalives)" \
      "$(printf %.1f "${R[idle.idle_cpu]}")" "$(goal "${R[idle.idle_cpu]}" "<" 2)"
  else
    # Not idle: limits.client_alive_interval probes every silent client.
    idle_row "gateway CPU, ${IDLE_CPU_SECONDS} s, keepalives every $IDLE_ALIVE (% of one core)" \
      "$(printf %.1f "${R[idle.idle_cpu]}")" \
      "$(echo "${R[idle.open]} / ${IDLE_ALIVE%s}" | bc) probes/s; < 2 idle: --idle-alive 0s"
  fi
  if awk -v c="${R[idle.client_cpu]}" 'BEGIN { exit !(c >= 90) }'; then
    bound="client-bound: the asyncssh client used $(printf %.0f "${R[idle.client_cpu]}")% of a core"
  else
    bound="the asyncssh client used $(printf %.0f "${R[idle.client_cpu]}")% of a core"
  fi
  idle_row "handshake rate (new authenticated connections/s)" "$(printf %.0f "${R[idle.rate]}")" "($bound)"
  idle_row "  gateway CPU while opening them (% of one core)" "$(printf %.0f "${R[idle.open_cpu]}")" \
    "($(printf %.1f "${R[idle.seconds]}") s for ${R[idle.open]})"
fi

# --- The auditor's tools: hopctl audit verify's throughput and
# hopctl sessions --grep's latency, each by its own script. ---
if [ $AUDIT -eq 1 ]; then
  echo
  echo "== audit: hopctl audit verify (goal >= 200 MB/s)"
  bench/audit_verify.sh "$AUDIT_MIB" 3
  echo
  echo "== audit: hopctl sessions --grep over ${AUDIT_MIB} MiB of recordings (goal < 1 s)"
  if [ -n "${HOPCTL_BIN:-}" ]; then
    HOPCTL_BIN=$HOPCTL_BIN bench/audit_search.sh --size-mib "$AUDIT_MIB"
  else
    bench/audit_search.sh --size-mib "$AUDIT_MIB"
  fi
fi

# --- A fleet database: the login latency it adds and how fast a lock
# reaches a live session, by its own script. ---
if [ $FLEET -eq 1 ]; then
  echo
  echo "== fleet: login latency with fleet.database (goal: under 5 ms added), lock propagation"
  bench/fleet.sh --connects "$CONNECTS"
fi
