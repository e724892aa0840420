#!/usr/bin/env bash
# Builds hopgate_<version>_amd64.deb with dpkg-deb from the Bazel outputs:
# /usr/sbin/hopgate (also its signer: the same binary re-executed as
# `hopgate-signer`), /usr/bin/hopctl, the systemd unit, the logrotate file,
# an example configuration and policy in /etc/hopgate (conffiles), and the
# maintainer scripts in deploy/debian (the hopgate system user, directories,
# stopping the service on removal).
#
#   deploy/build-deb.sh [--out DIR] [--hopgate BIN --hopctl BIN]
#
# Without --hopgate/--hopctl it runs `bazel build` first (-O2, .bazelrc). Prints the
# package's path. Needs dpkg-deb, dpkg (the dependencies' names) and binutils
# (strip, objdump).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
out="$PWD"
hopgate_bin="" hopctl_bin=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --hopgate) hopgate_bin="$2"; shift 2 ;;
    --hopctl) hopctl_bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$hopgate_bin" ] || [ -z "$hopctl_bin" ]; then
  (cd "$repo" && bazel build //proxy/daemon:hopgate //hopctl:hopctl >&2)
  bin="$(cd "$repo" && bazel info bazel-bin)"
  hopgate_bin="$bin/proxy/daemon/hopgate"
  hopctl_bin="$bin/hopctl/hopctl"
fi
for f in "$hopgate_bin" "$hopctl_bin"; do
  [ -x "$f" ] || { echo "build-deb: $f: not an executable" >&2; exit 2; }
done

# The version the binary reports (proxy/base/version.h).
version="$("$hopgate_bin" --version | sed -n 's/^hopgate \([0-9][0-9A-Za-z.+~-]*\)$/\1/p')"
[ -n "$version" ] || { echo "build-deb: $hopgate_bin --version gave no version" >&2; exit 2; }
arch="$(dpkg --print-architecture)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
install -d -m 0755 "$root/DEBIAN" "$root/usr/sbin" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/etc/hopgate" "$root/etc/logrotate.d" "$root/usr/share/doc/hopgate"
install -m 0755 "$hopgate_bin" "$root/usr/sbin/hopgate"
install -m 0755 "$hopctl_bin" "$root/usr/bin/hopctl"
install -m 0644 "$here/hopgate.service" "$root/lib/systemd/system/hopgate.service"
install -m 0644 "$here/hopgate.logrotate" "$root/etc/logrotate.d/hopgate"
# postinst gives these to group hopgate, mode 0640, once the user exists.
install -m 0644 "$here/debian/hopgate.yaml" "$root/etc/hopgate/hopgate.yaml"
install -m 0644 "$here/debian/policy.yaml" "$root/etc/hopgate/policy.yaml"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/hopgate/README.md"
for s in postinst prerm postrm; do install -m 0755 "$here/debian/$s" "$root/DEBIAN/$s"; done
printf '%s\n' /etc/hopgate/hopgate.yaml /etc/hopgate/policy.yaml /etc/logrotate.d/hopgate \
  > "$root/DEBIAN/conffiles"

strip --strip-unneeded "$root/usr/sbin/hopgate" "$root/usr/bin/hopctl"

# Depends: the packages that own the shared libraries the binaries link
# directly (their NEEDED entries, found where ldd resolves them).
needed="$(objdump -p "$root/usr/sbin/hopgate" "$root/usr/bin/hopctl" | awk '/NEEDED/ {print $2}' | sort -u)"
resolved="$(ldd "$root/usr/sbin/hopgate" "$root/usr/bin/hopctl")"
deps=""
for name in $needed; do
  # (a here-string, not a pipe: awk's early exit would SIGPIPE echo, and
  # pipefail would then end the script without a word)
  lib="$(awk -v n="$name" '$1 == n && $3 ~ /^\// {print $3; exit}
                           $1 ~ "/" n "$" {print $1; exit}' <<<"$resolved")"
  [ -n "$lib" ] || { echo "build-deb: $name is not found (ldd)" >&2; exit 1; }
  owner="$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)" || true
  [ -z "$owner" ] && owner="$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)" || true
  [ -n "$owner" ] || { echo "build-deb: no package owns $lib" >&2; exit 1; }
  case " $deps " in *" $owner "*) ;; *) deps="$deps $owner" ;; esac
done
depends="adduser"
for d in $(echo "$deps" | tr ' ' '\n' | sort -u); do depends="$depends, $d"; done

size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<CONTROL
Package: hopgate
Version: $version
Architecture: $arch
Maintainer: hopgate maintainers <hopgate@localhost>
Installed-Size: $size
Depends: $depends
Recommends: logrotate
Section: net
Priority: optional
Description: SSH gateway for ssh -J with policy, audit and session recording
 hopgate is a multi-hop SSH bastion: clients use it as their ProxyJump,
 and it decides each hop with a policy, writes a tamper-evident audit log
 and can record sessions. This package installs the daemon (a systemd
 service, not started until configured), hopctl, an example configuration
 in /etc/hopgate and a logrotate file.
CONTROL

mkdir -p "$out"
deb="$out/hopgate_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
