#!/usr/bin/env bash
# The demo (README's first command): set-up when needed (Debian packages, npm ci), build, then demo/demo.ts as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
node build.mjs 2>/dev/null >/dev/null
exec node demo/demo.ts "$@"
