#!/usr/bin/env bash
# Installs what is missing, builds everything, runs every test (plainly and
# under ASan+UBSan), and ends with one line: "N passed, N failed" (Catch2 test
# cases, plus one per non-Catch2 test target, summed over both runs). Exit
# status 0 only if nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."

deploy/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }
# sshd refuses to start without its privilege-separation directory.
mkdir -p /run/sshd && chmod 0755 /run/sshd

out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0
failed=0

# Runs `bazel test` with the given flags and adds its results to the totals:
# Catch2 test cases from each target's log, one per non-Catch2 target.
run_suite() {  # label, bazel flags...
  local label=$1; shift
  echo "== $label" >&2
  bazel test //... --keep_going --test_output=errors --test_summary=short "$@" 2>&1 | tee "$out"
  local bazel_status=${PIPESTATUS[0]}
  local testlogs suite_failed=0
  local info_flags=()  # bazel info takes build flags, not test filters
  for flag in "$@"; do
    case $flag in --test_tag_filters=* | --build_tests_only) ;; *) info_flags+=("$flag") ;; esac
  done
  testlogs=$(bazel info "${info_flags[@]}" bazel-testlogs 2>/dev/null)
  while read -r target status; do
    pkg=${target#//}; pkg=${pkg%%:*}; name=${target##*:}
    log="$testlogs/$pkg/$name/test.log"
    p=""; f=""
    if [ -f "$log" ]; then
      if line=$(grep -E "^All tests passed \([0-9]+ assertions? in [0-9]+ test cases?\)" "$log" | tail -1); then
        p=$(sed -E 's/.* in ([0-9]+) test cases?\)/\1/' <<<"$line"); f=0
      elif line=$(grep -E "^test cases: +[0-9]+ \|" "$log" | tail -1); then
        p=$(grep -oE "[0-9]+ passed" <<<"$line" | grep -oE "[0-9]+" || echo 0)
        f=$(grep -oE "[0-9]+ failed" <<<"$line" | grep -oE "[0-9]+" || echo 0)
      fi
    fi
    if [ -z "$p" ]; then
      if [ "$status" = PASSED ]; then p=1; f=0; else p=0; f=1; fi
    elif [ "$status" != PASSED ] && [ "$f" -eq 0 ]; then
      f=1  # crashed or timed out after its last reported case
    fi
    passed=$((passed + p)); failed=$((failed + f)); suite_failed=$((suite_failed + f))
  done < <(grep -E "^//[^ ]+ +(\(cached\) )?(PASSED|FAILED|TIMEOUT|FLAKY|NO STATUS|FAILED TO BUILD|INCOMPLETE)" "$out" |
           sed -E 's/\(cached\) //; s/^(\/\/[^ ]+) +([A-Z ]+[A-Z]).*/\1 \2/' | sed -E 's/ (FAILED TO BUILD|NO STATUS)$/ FAILED/')
  if [ "$bazel_status" -ne 0 ] && [ "$suite_failed" -eq 0 ]; then
    failed=$((failed + 1))  # the build itself failed
  fi
}

# Every test, then again with hopgate and the tests built with
# AddressSanitizer + UndefinedBehaviorSanitizer (a report in hopgate's log
# fails the test that started it; see tests/support/harness.cc): every unit
# test and fuzz replay and the integration tests of relays, routes, recorded
# sessions, faults, hostile clients and the fleet; the tests tagged no_asan in
# tests/BUILD (packaging, manifests, hopctl output, slow timing-driven daemon
# tests) run plainly only, to keep CI near 15 minutes. `bazel test
# --config=asan //...` runs them all. The ThreadSanitizer run (--config=tsan)
# is a developer command: see README.
run_suite "all tests" "$@"
run_suite "tests under ASan+UBSan" --config=asan --test_tag_filters=-no_asan --build_tests_only "$@"

bazel shutdown >/dev/null 2>&1 || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
