#!/usr/bin/env bash
# README's first command, deploy/demo.sh, run as a user would: its target
# sshd, keys, policy and gateway, then every command it prints (ssh -J to
# the target and to the recorded db1, the denied line, hopctl sessions, the
# replay line, audit verify), with nothing warned in the gateway's log. The
# demo's directory is under /tmp as for a user (the gateway runs as nobody,
# who cannot reach the test's own temporary directory below /root).
set -uo pipefail
HOPGATE_BIN=$(realpath "$1")
HOPCTL_BIN=$(realpath "$2")
export HOPGATE_BIN HOPCTL_BIN HOPGATE_DEMO_SELFTEST=1
err=${TEST_TMPDIR:-/tmp}/demo.err
mkdir -p /run/sshd && chmod 0755 /run/sshd
out=$(deploy/demo.sh 2>"$err")
status=$?
if [ "$status" -ne 0 ] || [ "$out" != "demo self-test: OK" ]; then
  cat "$err"
  echo "FAIL: deploy/demo.sh exited $status and printed: $out"
  exit 1
fi
demo=$(grep -o "/tmp/hopgate-demo\.[A-Za-z0-9]*" "$err" | head -1)
if [ -z "$demo" ] || [ -e "$demo" ]; then
  echo "FAIL: the demo's directory ($demo) was not named or was left behind"
  exit 1
fi
echo "demo self-test passed ($demo removed)"
