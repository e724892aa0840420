#!/usr/bin/env bash
# The Debian package, for real: deploy/build-deb.sh builds it from the Bazel
# outputs, `dpkg -i` installs it on this machine (as root), the shipped
# example passes `hopgate --check` (also under the unit's capability bounding
# set), systemd-analyze verifies the installed unit, logrotate parses its
# file, the gateway starts as the package's hopgate user and drains on
# SIGTERM, and `dpkg --purge` removes it: every file it installed is gone.
# Whatever happens, nothing stays installed (trap). It refuses to run where
# hopgate is already installed or /etc/hopgate exists.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
for tool in dpkg dpkg-deb systemd-analyze logrotate setpriv objdump strip; do
  command -v "$tool" >/dev/null || fail "$tool is missing: run deploy/install-deps.sh"
done
if dpkg-query -W -f='${Status}' hopgate 2>/dev/null | grep -q "installed"; then
  fail "a hopgate package is already installed here; not touching it"
fi
[ ! -e /etc/hopgate ] || fail "/etc/hopgate exists; not touching it"

runfiles="${RUNFILES_DIR:-$0.runfiles}/hopgate"
hopgate_bin="$runfiles/proxy/daemon/hopgate"
hopctl_bin="$runfiles/hopctl/hopctl"
work="$(mktemp -d "${TEST_TMPDIR:-/tmp}/deb.XXXXXX")"
had_user=no; getent passwd hopgate >/dev/null && had_user=yes
had_log=no; [ -e /var/log/hopgate ] && had_log=yes
had_lib=no; [ -e /var/lib/hopgate ] && had_lib=yes
gate_pid=""
cleanup() {
  [ -n "$gate_pid" ] && kill -KILL "$gate_pid" 2>/dev/null || true
  rm -f /etc/hopgate/test-run.yaml
  if dpkg-query -W -f='${Status}' hopgate 2>/dev/null | grep -q "installed\|unpacked\|config-files"; then
    dpkg --purge hopgate >/dev/null 2>&1 || true
  fi
  [ "$had_user" = no ] && getent passwd hopgate >/dev/null && { userdel hopgate || true; }
  [ "$had_user" = no ] && getent group hopgate >/dev/null && { groupdel hopgate 2>/dev/null || true; }
  [ "$had_log" = no ] && rm -rf /var/log/hopgate
  [ "$had_lib" = no ] && rm -rf /var/lib/hopgate
  rm -rf /etc/hopgate  # it did not exist before (checked above)
  rm -rf "$work"
}
trap cleanup EXIT

# Build.
deb="$("$runfiles/deploy/build-deb.sh" --out "$work" --hopgate "$hopgate_bin" --hopctl "$hopctl_bin")"
version="$("$hopgate_bin" --version | cut -d' ' -f2)"
[ "$(basename "$deb")" = "hopgate_${version}_amd64.deb" ] || fail "package named $(basename "$deb")"
dpkg-deb -I "$deb" conffiles > "$work/conffiles"
for f in /etc/hopgate/hopgate.yaml /etc/hopgate/policy.yaml /etc/logrotate.d/hopgate; do
  grep -qx "$f" "$work/conffiles" || fail "$f is not a conffile"
done
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/contents"
for f in /usr/sbin/hopgate /usr/bin/hopctl /lib/systemd/system/hopgate.service; do
  grep -qx "$f" "$work/contents" || fail "$f is not in the package"
done

# Install.
dpkg -i "$deb" > "$work/install.log" 2>&1 || { cat "$work/install.log"; fail "dpkg -i failed"; }
getent passwd hopgate >/dev/null || fail "postinst did not create the hopgate user"
[ "$(getent passwd hopgate | cut -d: -f7)" = /usr/sbin/nologin ] || fail "hopgate user has a shell"
check_stat() {  # path owner:group mode
  local got; got="$(stat -c '%U:%G %a' "$1")"
  [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
}
check_stat /var/log/hopgate hopgate:hopgate 711
check_stat /var/log/hopgate/recordings hopgate:hopgate 750
check_stat /var/lib/hopgate root:root 700
check_stat /etc/hopgate root:hopgate 750
check_stat /etc/hopgate/hopgate.yaml root:hopgate 640
check_stat /etc/hopgate/policy.yaml root:hopgate 640
check_stat /usr/sbin/hopgate root:root 755
/usr/sbin/hopgate --version | grep -qx "hopgate $version" || fail "hopgate --version"
/usr/bin/hopctl --version | grep -q "hopctl $version" || fail "hopctl --version"

# The shipped example checks, as root and as the unit's ExecStartPre does
# (only the capabilities CapabilityBoundingSet leaves).
out="$(/usr/sbin/hopgate --check --config /etc/hopgate/hopgate.yaml 2>&1)" || { echo "$out"; fail "--check on the shipped example"; }
echo "$out" | grep -q "/etc/hopgate/hopgate.yaml: OK" || fail "--check said: $out"
caps="-all,+net_bind_service,+setuid,+setgid,+chown"
out="$(setpriv --bounding-set "$caps" --inh-caps -all /usr/sbin/hopgate --check --config /etc/hopgate/hopgate.yaml 2>&1)" \
  || { echo "$out"; fail "--check under the unit's bounding set"; }
/usr/bin/hopctl policy check /etc/hopgate/policy.yaml > /dev/null || fail "hopctl policy check on the shipped policy"

# The installed unit and logrotate file parse.
out="$(systemd-analyze verify /lib/systemd/system/hopgate.service 2>&1)" || { echo "$out"; fail "systemd-analyze verify"; }
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify complained"; }
logrotate -d /etc/logrotate.d/hopgate > "$work/logrotate.log" 2>&1 || { cat "$work/logrotate.log"; fail "logrotate -d"; }
grep -q "rotating pattern: /var/log/hopgate/audit.jsonl" "$work/logrotate.log" || fail "logrotate: no audit.jsonl"

# It runs: the shipped config on a free loopback port, under the unit's
# bounding set; it generates its keys, switches to the hopgate user, and
# drains (nothing open) on SIGTERM.
sed -e 's|"0.0.0.0:2222"|"127.0.0.1:0"|' -e 's|"127.0.0.1:9642"|"127.0.0.1:0"|' \
  /etc/hopgate/hopgate.yaml > /etc/hopgate/test-run.yaml
setpriv --bounding-set "$caps" --inh-caps -all \
  /usr/sbin/hopgate --config /etc/hopgate/test-run.yaml > "$work/gate.log" 2>&1 &
gate_pid=$!
for _ in $(seq 1 100); do
  grep -qE "info +running as hopgate" "$work/gate.log" && break
  kill -0 "$gate_pid" 2>/dev/null || break
  sleep 0.1
done
grep -qE "info +running as hopgate" "$work/gate.log" || { cat "$work/gate.log"; fail "the gateway did not start as hopgate"; }
uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$gate_pid/status")"
want="$(id -u hopgate)"
[ "$uids" = "$want $want $want $want" ] || fail "the gateway's uids are $uids, not hopgate's ($want)"
[ -f /var/lib/hopgate/host_ed25519 ] || fail "no generated host key"
check_stat /var/log/hopgate/audit.jsonl hopgate:hopgate 600
kill -TERM "$gate_pid"
rc=0; wait "$gate_pid" || rc=$?
gate_pid=""
[ "$rc" -eq 0 ] || { cat "$work/gate.log"; fail "the gateway exited $rc on SIGTERM"; }
grep -q "drain over: every connection has ended" "$work/gate.log" || { cat "$work/gate.log"; fail "no drain"; }
rm -f /etc/hopgate/test-run.yaml

# Remove and purge: every file the package installed is gone; the generated
# keys go; the audit log (evidence) stays and is said to.
dpkg --purge hopgate > "$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg --purge failed"; }
while read -r f; do
  [ -z "$f" ] || [ "$f" = / ] && continue
  [ -d "$f" ] && continue  # shared directories (/usr/bin, ...) stay
  [ ! -e "$f" ] || fail "$f is still there after purge"
done < "$work/contents"
for d in /etc/hopgate /var/lib/hopgate /usr/share/doc/hopgate; do
  [ ! -e "$d" ] || fail "$d is still there after purge"
done
[ -f /var/log/hopgate/audit.jsonl ] || fail "purge removed the audit log"
grep -q "kept /var/log/hopgate" "$work/purge.log" || fail "purge did not say it kept the audit log"
if dpkg-query -W -f='${Status}' hopgate 2>/dev/null | grep -q .; then
  dpkg-query -W -f='${Status}' hopgate | grep -q "not-installed" || fail "dpkg still knows hopgate"
fi
getent passwd hopgate >/dev/null || fail "purge removed the hopgate user (Debian keeps it)"
echo "PASS: built, installed, checked, ran, purged $(basename "$deb")"
