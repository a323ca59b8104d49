#!/usr/bin/env bash
# Web benchmarks, in one run on loopback against a server started by the test:
# - a 1 GiB upload by the web page (our tus client in headless Chromium) against the REST
#   API's PUT of the same file with curl; prints both MB/s and the ratio (target >= 0.7);
# - loading the file-browser page of a folder of 10,000 files (target < 1 s).
# Needs chromium and curl.
#
#   bash bench/web.sh                          # 1 GiB, 3 rounds each
#   SIZE_MB=256 ROUNDS=1 bash bench/web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export COFFER_BENCH_SIZE=${SIZE_MB:-1024} COFFER_BENCH_ROUNDS=${ROUNDS:-3}
go test -run '^$' -bench 'BenchmarkWeb(Upload|Listing10k)$' -benchtime 1x -timeout 60m ./internal/httpd/web 2>&1 |
  grep -E '^(upload of|the same browser|CPU|page of|created|Benchmark|FAIL|---)|Error|panic'
