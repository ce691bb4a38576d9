#!/usr/bin/env bash
# Benchmarks (root): set-up when needed, build, then tscni and the reference plugins side by side in one run, then
# the firewall scaling run (ADD and DEL of one more container with 1 vs 200 mapped, both backends, with ratios).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
node build.mjs >/dev/null   # errors still show on stderr
node bench/cni-bench.ts
echo
node bench/firewall-scale.ts
