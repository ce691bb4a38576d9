#!/usr/bin/env bash
# Benchmarks (root): set-up when needed, build, then tscni and the reference plugins side by side in one run
# (bench/cni-bench.ts: every row with its ratio), then the firewall-only scaling run of both backends.
# Other engineers' jobs distort timings: on a shared machine run it under the integration lock, e.g.
#   flock /tmp/tscni-integration.lock npm run bench
# BENCH_SAMPLES, BENCH_WARMUP, BENCH_SCALE ("0,100,500"), BENCH_FILL_DEADLINE_S and BENCH_ONLY shrink the run.
# BENCH_NODE=1 adds the node agent at scale (bench/node-scale.ts, ~10 min; alone: npm run bench:node).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
node build.mjs >/dev/null   # errors still show on stderr
node bench/cni-bench.ts
if [ -z "${BENCH_ONLY:-}" ] || [[ "$BENCH_ONLY" == *firewall* ]]; then
  echo
  node bench/firewall-scale.ts
fi
if [ -n "${BENCH_NODE:-}" ]; then
  echo
  node bench/node-scale.ts
fi
