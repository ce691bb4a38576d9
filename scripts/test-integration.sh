#!/usr/bin/env bash
# Integration tests only (root): set-up when needed, build, then the integration project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
node build.mjs
exec vitest run --project integration "$@"
