#!/usr/bin/env bash
# The README's first command: installs what is missing, builds hopgate, and
# runs it in the foreground on a self-contained demo on 127.0.0.1:
#   - a target OpenSSH sshd (the "server behind the bastion"),
#   - demo keys, a demo config and policy,
# then prints the exact `ssh -J` command to paste into a second terminal.
# Ctrl-C stops everything and removes the demo directory.
#
# HOPGATE_DEMO_SELFTEST=1 (tests/demo_test.sh) runs the printed commands
# itself against the running demo, checks what a user would see, and exits
# 0 or 1; with HOPGATE_BIN and HOPCTL_BIN set it neither installs nor builds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SELFTEST=${HOPGATE_DEMO_SELFTEST:-0}

if [ -n "${HOPGATE_BIN:-}" ] && [ -n "${HOPCTL_BIN:-}" ]; then
  BIN=$HOPGATE_BIN
  HOPCTL=$HOPCTL_BIN
else
  deploy/install-deps.sh
  echo "demo: building hopgate (first build takes a minute)..." >&2
  bazel build //proxy/daemon:hopgate //hopctl:hopctl >&2
  BIN="$(bazel info bazel-bin 2>/dev/null)/proxy/daemon/hopgate"
  HOPCTL="$(bazel info bazel-bin 2>/dev/null)/hopctl/hopctl"
fi

free_port() {  # first free port at or above $1
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
GATE_PORT=$(free_port 2222)
TARGET_PORT=$(free_port 2201)
[ "$TARGET_PORT" = "$GATE_PORT" ] && TARGET_PORT=$(free_port $((GATE_PORT + 1)))
# The same sshd also listens on a second port, the recorded host db1:
# recording is a property of an address and port, so db1 needs its own.
DB1_PORT=$(free_port $((TARGET_PORT + 1)))
[ "$DB1_PORT" = "$GATE_PORT" ] && DB1_PORT=$(free_port $((GATE_PORT + 1)))

DEMO=$(mktemp -d /tmp/hopgate-demo.XXXXXX)
SSHD_PID=""
GATE_PID=""
cleanup() {
  [ -n "$GATE_PID" ] && kill -TERM "$GATE_PID" 2>/dev/null && wait "$GATE_PID" 2>/dev/null || true
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null || true
  rm -rf "$DEMO"
  echo "demo: stopped and cleaned up" >&2
}
trap cleanup EXIT

mkdir -p /run/sshd && chmod 0755 /run/sshd
ssh-keygen -q -t ed25519 -N '' -C alice@demo -f "$DEMO/alice"
ssh-keygen -q -t ed25519 -N '' -C target-host -f "$DEMO/target_host_key"
# Recorded sessions: the CA hopgate signs its per-session certificates with
# (the target trusts it), and the key hopgate answers recorded hosts with.
ssh-keygen -q -t ed25519 -N '' -C hopgate-upstream-ca -f "$DEMO/upstream_ca"
ssh-keygen -q -t ed25519 -N '' -C hopgate-recording -f "$DEMO/recording_host_ed25519"

# The target: a stock sshd that lets alice's key log in as root.
cp "$DEMO/alice.pub" "$DEMO/target_authorized_keys"
cat > "$DEMO/sshd_config" <<CFG
Port $TARGET_PORT
Port $DB1_PORT
ListenAddress 127.0.0.1
HostKey $DEMO/target_host_key
AuthorizedKeysFile $DEMO/target_authorized_keys
TrustedUserCAKeys $DEMO/upstream_ca.pub
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
CFG
SSHD=(/usr/sbin/sshd -D -f "$DEMO/sshd_config" -E "$DEMO/target-sshd.log")
if [ "$SELFTEST" = 1 ]; then
  # The self-test's commands must not depend on this machine's dotfiles
  # (a slow ~/.bashrc would time them out): the target sshd runs where
  # root's are empty, as the test harness does (tests/support/harness.cc).
  HIDE='home=$(getent passwd root | cut -d: -f6)
        for f in .bashrc .profile .bash_profile .bash_login .bash_logout; do
          if [ -e "$home/$f" ]; then mount --bind /dev/null "$home/$f" || exit 1; fi
        done
        exec "$@"'
  SSHD=(unshare --mount --propagation private -- sh -c "$HIDE" sh "${SSHD[@]}")
fi
"${SSHD[@]}" &
SSHD_PID=$!

cat > "$DEMO/policy.yaml" <<POLICY
version: 1
users:
  alice:
    keys:
      - $(cat "$DEMO/alice.pub")
hosts:
  target:
    address: "127.0.0.1:$TARGET_PORT"
  db1:                      # the same server on its second port: every session is recorded
    address: "127.0.0.1:$DB1_PORT"
    record: true
    host_key: "$(cut -d' ' -f1,2 "$DEMO/target_host_key.pub")"
rules:
  - name: alice-to-target
    users: [alice]
    permit_open: ["target:22", "127.0.0.1:$TARGET_PORT"]
    max_session: 8h
  - name: alice-recorded-db1
    users: [alice]
    permit_open: ["db1:22"]
    record: true
    logins: [root]            # the logins she may use on db1
    max_session: 8h
POLICY

# Started as root, hopgate binds, opens its files and starts its signer (the
# only process holding upstream_ca), then runs as nobody. Its audit log and
# recordings live in $DEMO/var, which it creates for that user.
USER_LINE=""
if [ "$(id -u)" = 0 ]; then
  USER_LINE="user: nobody"
  chmod 0711 "$DEMO"
else
  mkdir -p "$DEMO/var"
fi
cat > "$DEMO/hopgate.yaml" <<CONFIG
version: 1
$USER_LINE
listen: ["127.0.0.1:$GATE_PORT"]
host_keys: [$DEMO/gateway_host_ed25519]
policy: $DEMO/policy.yaml
audit:
  log: $DEMO/var/audit.jsonl
  recordings: $DEMO/var/recordings
recording:
  host_key: $DEMO/recording_host_ed25519
upstream:
  user_ca_key: $DEMO/upstream_ca
limits:
  login_grace_time: 30s
CONFIG

# The client side: one ssh_config so the jump connection uses alice's key too.
cat > "$DEMO/ssh_config" <<SSHCFG
Host *
  IdentityFile $DEMO/alice
  IdentitiesOnly yes
  UserKnownHostsFile $DEMO/known_hosts
  StrictHostKeyChecking accept-new
SSHCFG
# Clients trust the gateway's recording key for recorded hosts, once.
"$HOPCTL" known-hosts --config "$DEMO/hopgate.yaml" >> "$DEMO/known_hosts"

REPLAY_LINE="$HOPCTL replay --last --config $DEMO/hopgate.yaml"
cat >&2 <<MSG

================================================================================
hopgate demo: gateway on 127.0.0.1:$GATE_PORT, target sshd on 127.0.0.1:$TARGET_PORT and :$DB1_PORT
Paste into a second terminal:

  ssh -F $DEMO/ssh_config -J alice@127.0.0.1:$GATE_PORT root@target

A recorded session (hopgate answers as db1, logs in with a certificate it
mints for this session, and writes an asciicast recording):

  ssh -F $DEMO/ssh_config -J alice@127.0.0.1:$GATE_PORT root@db1
  $HOPCTL sessions --config $DEMO/hopgate.yaml                # every session, recorded or not
  $REPLAY_LINE      # play the newest back
  $HOPCTL audit verify --config $DEMO/hopgate.yaml              # prove the log and recordings are whole

Also try:
  ssh -F $DEMO/ssh_config -p $GATE_PORT alice@127.0.0.1        # the gateway explains itself
  ssh -F $DEMO/ssh_config -J alice@127.0.0.1:$GATE_PORT -p 22 root@127.0.0.2   # denied by policy
  tail -f $DEMO/var/audit.jsonl                                     # the audit log

Ctrl-C here stops the demo.
================================================================================

MSG
"$BIN" --config "$DEMO/hopgate.yaml" --check >&2
if [ "$SELFTEST" = 1 ]; then
  "$BIN" --config "$DEMO/hopgate.yaml" 2> "$DEMO/gateway.log" &
  GATE_PID=$!
  exec 3>&1 1>&2
  fail() { echo "demo self-test: FAILED: $*"; cat "$DEMO/gateway.log"; exit 1; }
  for _ in $(seq 100); do (exec 4<>"/dev/tcp/127.0.0.1/$GATE_PORT") 2>/dev/null && break; sleep 0.1; done
  J=(ssh -F "$DEMO/ssh_config" -o BatchMode=yes -J "alice@127.0.0.1:$GATE_PORT")
  out=$("${J[@]}" root@target echo demo-target-ok) || fail "ssh -J root@target"
  [ "$out" = demo-target-ok ] || fail "root@target printed '$out'"
  out=$("${J[@]}" root@db1 echo demo-recorded-marker) || fail "ssh -J root@db1"
  [ "$out" = demo-recorded-marker ] || fail "root@db1 printed '$out'"
  if "${J[@]}" -p 22 root@127.0.0.2 true 2>/dev/null; then fail "the denied line was allowed"; fi
  sessions=$("$HOPCTL" sessions --config "$DEMO/hopgate.yaml") || fail "hopctl sessions"
  [ "$(grep -c alice <<<"$sessions")" -ge 3 ] || fail "hopctl sessions listed: $sessions"
  played=$($REPLAY_LINE </dev/null) || fail "$REPLAY_LINE"
  grep -q demo-recorded-marker <<<"$played" || fail "the replay line played: $played"
  verified=$("$HOPCTL" audit verify --config "$DEMO/hopgate.yaml") || fail "audit verify: $verified"
  grep -q "^OK: " <<<"$verified" || fail "audit verify printed: $verified"
  if grep -E "^[^ ]+ +(warn|warning|error|critical) " "$DEMO/gateway.log"; then
    fail "the demo's gateway logged warnings"
  fi
  echo "demo self-test: OK" >&3
  exit 0
fi
"$BIN" --config "$DEMO/hopgate.yaml" &
GATE_PID=$!
trap 'kill -TERM $GATE_PID 2>/dev/null' INT TERM
wait "$GATE_PID" || true
wait "$GATE_PID" 2>/dev/null || true
GATE_PID=""
