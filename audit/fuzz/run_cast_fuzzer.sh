#!/bin/sh
# Builds the asciicast reader's fuzz target with libFuzzer + ASan + UBSan and
# runs it for N seconds (default 60) on a scratch copy of its seed corpus.
# Crashes are left as crash-* files in the work directory, printed at the end.
# Usage: audit/fuzz/run_cast_fuzzer.sh [seconds]   (from the repository root)
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_WORKDIR:-$(mktemp -d /tmp/cast-fuzz.XXXXXX)}
mkdir -p "$work"
cxx=${CXX:-clang++-14}
echo "== building cast_fuzzer"
(cd "$root" && $cxx -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -I. common/strings.cc audit/cast_reader.cc \
    audit/fuzz/cast_fuzzer.cc -lcrypto -o "$work/cast_fuzzer")
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
cp "$root/audit/fuzz/cast_corpus/"* "$work/corpus/"
echo "== running cast_fuzzer for ${seconds}s"
status=0
(cd "$work" && ./cast_fuzzer -max_total_time="$seconds" -max_len=16384 \
    -print_final_stats=1 corpus 2>&1 | tail -25) || status=1
if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* >/dev/null 2>&1; then
  echo "!! cast_fuzzer found failures:"; ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null
  status=1
fi
echo "work directory: $work"
exit $status
