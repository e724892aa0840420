#!/bin/sh
# Builds one of audit's fuzz targets with libFuzzer + ASan + UBSan and runs it
# for N seconds (default 60) on a scratch copy of its seed corpus. Crashes are
# left as crash-* files in the work directory, which is printed at the end.
# Usage: audit/fuzz/run_fuzzer.sh [seconds] [sftp_fuzzer|audit_line_fuzzer]
#        (from the repository root; default sftp_fuzzer)
set -eu
seconds=${1:-60}
target=${2:-sftp_fuzzer}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_WORKDIR:-$(mktemp -d /tmp/audit-fuzz.XXXXXX)}
cxx=${CXX:-clang++-14}
case $target in
  sftp_fuzzer)
    srcs="common/wire.cc audit/sftp.cc audit/sftp_packets.cc"
    corpus=audit/fuzz/sftp_corpus max_len=16384 libs="" ;;
  audit_line_fuzzer)
    srcs="audit/line_scan.cc audit/trust.cc audit/checkpoint.cc certs/key.cc certs/sshsig.cc
          certs/signature.cc certs/openssl_util.cc certs/private_key.cc common/encoding.cc
          common/strings.cc common/wire.cc"
    corpus=audit/fuzz/audit_line_corpus max_len=4096 libs="-lcrypto" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
echo "== building $target"
(cd "$root" && $cxx -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I. $srcs "audit/fuzz/$target.cc" -o "$work/$target" $libs)
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
cp "$root/$corpus/"* "$work/corpus/"
echo "== running $target for ${seconds}s"
status=0
(cd "$work" && "./$target" -max_total_time="$seconds" -max_len="$max_len" \
    -print_final_stats=1 corpus 2>&1 | tail -25) || status=1
if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1; then
  echo "!! $target found failures:"; ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
  status=1
fi
echo "work directory: $work"
exit $status
