#!/usr/bin/env bash
# Installs the Debian 12 packages hopgate needs to build, run and test, if any
# are missing. Run as root (or with sudo available). Touches nothing else.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ libssh-dev libssl-dev libyaml-cpp-dev prometheus-cpp-dev
  catch2 nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  # sd_notify: Type=notify readiness, reload and stop states, the watchdog
  libsystemd-dev
  # the session index behind hopctl sessions (SQLite with full-text search)
  libsqlite3-dev
  # the fleet database client (fleet.database: audit copy, hopctl sessions --database)
  libpq-dev
  # real peers for the demo and the tests
  openssh-server openssh-client
  # test tools: curl (HTTP and SOCKS client), promtool (checks the metrics
  # exposition and the example alert rules)
  curl procps prometheus
  # python3 (HTTP test servers, a pty driver), asciinema (plays recordings)
  python3 asciinema
  # other SSH clients the tests drive: paramiko (hostile clients and
  # interoperability), asyncssh, PuTTY's plink/pscp/psftp, Dropbear's dbclient
  python3-paramiko python3-asyncssh putty-tools dropbear-bin
  # unshare and prlimit (a private /etc/hosts, descriptor limits)
  util-linux
  # libfaketime: the wall clock stepped under a running gateway
  libfaketime
  # a terminal the hopctl replay tests drive (send-keys, capture-pane)
  tmux
  # the Debian package and its test: dpkg-deb builds it (strip and objdump
  # from binutils), its postinst runs adduser, systemd-analyze verifies the
  # unit, logrotate checks deploy/hopgate.logrotate
  dpkg adduser binutils systemd logrotate
  # a real load balancer in front of the gateway: sends PROXY protocol v1
  # and v2 headers (tests/proxy_protocol_test)
  haproxy
  # a real PostgreSQL server for the fleet tests (initdb and pg_ctl in a temp dir)
  postgresql
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
# The openssh-server package would start the machine's own sshd on port 22;
# policy-rc.d keeps package scripts from starting services during install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
