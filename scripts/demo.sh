#!/usr/bin/env bash
# The demo (README's first command): set-up when needed (Debian packages, npm ci), build, then demo/demo.ts as root
# (demo/cluster.ts with --cluster: npm run demo:cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
node build.mjs >/dev/null   # errors still show on stderr
if [ "${1:-}" = "--cluster" ]; then shift; exec node demo/cluster.ts "$@"; fi
exec node demo/demo.ts "$@"
