#!/usr/bin/env bash
# Builds every fuzz target with Debian's clang-14 (libFuzzer + ASan + UBSan),
# outside Bazel, and runs each on a scratch copy of its seed corpus for its
# share of the time. Prints a table (executions, exec/s, corpus size, crashes
# with the file that reproduces each) and exits 1 if any target crashed,
# leaked, timed out or ran out of memory. `bazel test` replays the same
# corpora without libFuzzer (the *_fuzzer_replay targets).
#
# Usage: tests/fuzz.sh [--minutes N | --seconds S] [--jobs J] [--merge]
#                      [--workdir DIR] [--list] [--build-only]
#                      [TARGET...]
#   --minutes N   total wall time, shared by the targets (default 1)
#   --seconds S   run each target for S seconds instead
#   --jobs J      targets run side by side, and compiler processes (default 1)
#   --merge       afterwards, merge inputs that add coverage into the tree's
#                 corpus (libFuzzer -merge=1); otherwise the tree is untouched
#   --workdir DIR where scratch corpora, logs and crash files go (default: a
#                 new /tmp/hopgate-fuzz.XXXXXX, printed at the end)
#   --list        print the targets and exit
#   --build-only  build the targets and exit
# Objects are cached per checkout in ${HOPGATE_FUZZ_BUILD:-/tmp/hopgate-fuzz-build-UID-HASH}.
# Reproduce a crash: $BUILD/bin/TARGET CRASH_FILE
set -euo pipefail

# One line per target: name, harness, seed corpus, -max_len, and the
# libraries it links (a directory: an archive of its non-test .cc files). A
# dictionary next to the harness (NAME.dict) is used when present.
TARGETS='
cert_fuzzer             certs/fuzz/cert_fuzzer.cc                certs/fuzz/corpus/cert_fuzzer              8192   certs common
krl_fuzzer              certs/fuzz/krl_fuzzer.cc                 certs/fuzz/corpus/krl_fuzzer               8192   certs common
private_key_fuzzer      certs/fuzz/private_key_fuzzer.cc         certs/fuzz/corpus/private_key_fuzzer       16384  certs common
sftp_fuzzer             audit/fuzz/sftp_fuzzer.cc                audit/fuzz/sftp_corpus                     16384  audit common
policy_fuzzer           policy/fuzz/policy_fuzzer.cc             policy/fuzz/corpus/policy_fuzzer           65536  policy certs common
authorized_keys_fuzzer  policy/fuzz/authorized_keys_fuzzer.cc    policy/fuzz/corpus/authorized_keys_fuzzer  16384  policy certs common
patterns_fuzzer         policy/fuzz/patterns_fuzzer.cc           policy/fuzz/corpus/patterns_fuzzer         4096   policy certs common
net_fuzzer              common/fuzz/net_fuzzer.cc                common/fuzz/corpus/net_fuzzer              4096   common
config_fuzzer           proxy/config/fuzz/config_fuzzer.cc       proxy/config/fuzz/corpus/config_fuzzer     65536  proxy/config policy certs common
audit_line_fuzzer       audit/fuzz/audit_line_fuzzer.cc          audit/fuzz/audit_line_corpus               4096   audit certs common
cast_fuzzer             audit/fuzz/cast_fuzzer.cc                audit/fuzz/cast_corpus                     65536  audit common
cast_text_fuzzer        audit/fuzz/cast_text_fuzzer.cc           audit/fuzz/cast_text_corpus                65536  audit common
proxy_protocol_fuzzer   common/fuzz/proxy_protocol_fuzzer.cc     common/fuzz/corpus/proxy_protocol_fuzzer   4096   common
'
SYSTEM_LIBS="-lyaml-cpp -lcrypto"

root=$(cd "$(dirname "$0")/.." && pwd)
minutes=1 seconds="" jobs=1 merge=0 work="" list=0 build_only=0
selected=()
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --merge) merge=1; shift ;;
    --workdir) work=$2; shift 2 ;;
    --list) list=1; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) selected+=("$1"); shift ;;
  esac
done

declare -A HARNESS CORPUS MAXLEN LIBS
all=()
while read -r name harness corpus maxlen libs; do
  [ -n "$name" ] || continue
  all+=("$name")
  HARNESS[$name]=$harness CORPUS[$name]=$corpus MAXLEN[$name]=$maxlen LIBS[$name]=$libs
done <<<"$TARGETS"
if [ "$list" = 1 ]; then printf '%s\n' "${all[@]}"; exit 0; fi
[ ${#selected[@]} -gt 0 ] || selected=("${all[@]}")
for t in "${selected[@]}"; do
  [ -n "${HARNESS[$t]:-}" ] || { echo "unknown target $t (known: ${all[*]})" >&2; exit 2; }
done

cxx=${CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "$cxx not found (apt-get install clang-14)" >&2; exit 2; }
build=${HOPGATE_FUZZ_BUILD:-/tmp/hopgate-fuzz-build-$(id -u)-$(printf %s "$root" | md5sum | cut -c1-8)}
mkdir -p "$build"

# --- Build: a generated Makefile, so objects are reused across runs and
# header changes are tracked (-MMD). ---
libdirs=()
for t in "${selected[@]}"; do
  for l in ${LIBS[$t]}; do
    [[ " ${libdirs[*]:-} " == *" $l "* ]] || libdirs+=("$l")
  done
done
{
  echo "CXX := $cxx"
  echo "ROOT := $root"
  echo 'SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined'
  echo 'CXXFLAGS := -std=c++20 -O1 -g -fno-omit-frame-pointer $(SAN) -I$(ROOT) -MMD -MP'
  echo 'obj/%.o: $(ROOT)/%.cc'
  printf '\t@mkdir -p $(@D) && echo "  CXX $*.cc" && $(CXX) $(CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@\n'
  for l in "${libdirs[@]}"; do
    srcs=$(cd "$root" && ls "$l"/*.cc | grep -v '_test\.cc$' | tr '\n' ' ')
    objs=$(for s in $srcs; do printf 'obj/%s.o ' "${s%.cc}"; done)
    echo "lib/${l//\//_}.a: $objs"
    printf '\t@mkdir -p lib && rm -f $@ && ar rcs $@ $^\n'
  done
  for t in "${selected[@]}"; do
    archives=$(for l in ${LIBS[$t]}; do printf 'lib/%s.a ' "${l//\//_}"; done)
    echo "bin/$t: obj/${HARNESS[$t]%.cc}.o $archives"
    printf '\t@mkdir -p bin && echo "  LD  $@" && $(CXX) $(SAN) -fsanitize=fuzzer obj/%s.o -Wl,--start-group %s -Wl,--end-group %s -o $@\n' \
      "${HARNESS[$t]%.cc}" "$archives" "$SYSTEM_LIBS"
  done
  echo "all: ${selected[*]/#/bin/}"
  echo '-include $(shell find obj -name "*.d" 2>/dev/null)'
} >"$build/Makefile"
echo "== building ${#selected[@]} targets in $build"
make -C "$build" -j"$jobs" --no-print-directory all
[ "$build_only" = 0 ] || { echo "binaries in $build/bin"; exit 0; }

# --- Run ---
work=${work:-$(mktemp -d /tmp/hopgate-fuzz.XXXXXX)}
mkdir -p "$work"
if [ -n "$seconds" ]; then
  per=$seconds
else
  # Targets run `jobs` at a time, so each gets jobs/targets of the wall time.
  per=$(awk -v m="$minutes" -v j="$jobs" -v n="${#selected[@]}" \
        'BEGIN { s = int(m * 60 * j / n); print (s < 1 ? 1 : s) }')
fi
echo "== running ${#selected[@]} targets, ${per}s each, $jobs at a time; work directory $work"

run_one() {  # target
  local t=$1 dir="$work/$1" dict
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  cp -r "$root/${CORPUS[$t]}/." "$dir/corpus/"
  dict="$root/${HARNESS[$t]%.cc}.dict"
  local args=(-max_total_time="$per" -max_len="${MAXLEN[$t]}" -timeout=10 -rss_limit_mb=2048
              -print_final_stats=1 -artifact_prefix="$dir/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  local rc=0
  ( cd "$dir" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$build/bin/$t" "${args[@]}" corpus >"$dir/log" 2>&1 ) || rc=$?
  echo "$rc" >"$dir/status"
  if [ "$merge" = 1 ]; then
    "$build/bin/$t" -merge=1 -max_len="${MAXLEN[$t]}" "$root/${CORPUS[$t]}" "$dir/corpus" \
      >"$dir/merge.log" 2>&1 || echo "!! merge of $t failed: $dir/merge.log" >&2
  fi
  echo "   done: $t"
}

running=0
for t in "${selected[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait

# --- Report ---
final_stat() {  # log, name
  sed -n "s/^stat::$2: *//p" "$1" | tail -1
}
status=0 total=0
printf '\n%-24s %12s %8s %14s  %s\n' target executions exec/s corpus crashes
for t in "${selected[@]}"; do
  dir="$work/$t" log="$work/$t/log"
  execs=$(final_stat "$log" number_of_executed_units); execs=${execs:-0}
  rate=$(final_stat "$log" average_exec_per_sec); rate=${rate:-0}
  seeds=$(find "$root/${CORPUS[$t]}" -type f | wc -l)
  size=$(find "$dir/corpus" -type f | wc -l)
  found=$(find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) | sort)
  crashes=0 what=""
  if [ -n "$found" ]; then
    crashes=$(wc -l <<<"$found"); what=$(tr '\n' ' ' <<<"$found")
  elif [ "$(cat "$dir/status")" != 0 ]; then
    crashes=1; what="(exit $(cat "$dir/status"), see $log)"
  fi
  [ "$crashes" = 0 ] || status=1
  total=$((total + execs))
  printf '%-24s %12s %8s %14s  %s\n' "$t" "$execs" "$rate" "$seeds -> $size" "$crashes $what"
done
printf '%-24s %12s\n' total "$total"
echo "work directory: $work"
exit $status
