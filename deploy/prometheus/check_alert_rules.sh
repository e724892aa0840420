#!/usr/bin/env bash
# promtool checks the alert rules README documents, then runs their unit
# tests (series in, expected alerts out). Runs from the runfiles root under
# `bazel test`, or from anywhere by hand.
set -euo pipefail
dir=deploy/prometheus
[ -f "$dir/hopgate-alerts.yml" ] || dir=$(dirname "$(readlink -f "$0")")
cd "$dir"
promtool check rules hopgate-alerts.yml
promtool test rules hopgate-alerts.test.yml
