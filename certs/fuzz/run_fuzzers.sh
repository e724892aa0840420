#!/bin/sh
# Builds the certs fuzz targets with libFuzzer + ASan + UBSan and runs each
# for N seconds (default 60) on a scratch copy of its seed corpus. Crashes are
# left as crash-* files in the work directory, which is printed at the end.
# Usage: certs/fuzz/run_fuzzers.sh [seconds] [target...]   (from the repo root)
set -eu
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"cert_fuzzer krl_fuzzer"}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_WORKDIR:-$(mktemp -d /tmp/certs-fuzz.XXXXXX)}
cxx=${CXX:-clang++-14}
srcs="common/wire.cc common/encoding.cc common/net.cc common/strings.cc
      common/time_util.cc certs/openssl_util.cc certs/key.cc certs/signature.cc
      certs/certificate.cc certs/krl.cc certs/validate.cc certs/private_key.cc
      certs/mint.cc"
status=0
for t in $targets; do
  echo "== building $t"
  (cd "$root" && $cxx -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined \
      -fno-sanitize-recover=undefined -I. $srcs "certs/fuzz/$t.cc" \
      -o "$work/$t" -lcrypto)
  rm -rf "$work/corpus_$t"
  mkdir -p "$work/corpus_$t"
  cp "$root/certs/fuzz/corpus/$t/"* "$work/corpus_$t/"
  echo "== running $t for ${seconds}s"
  if ! (cd "$work" && "./$t" -max_total_time="$seconds" -max_len=8192 \
      -print_final_stats=1 "corpus_$t" 2>&1 | tail -25); then
    status=1
  fi
  if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1; then
    echo "!! $t found failures:"; ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
    status=1
  fi
done
echo "work directory: $work"
exit $status
