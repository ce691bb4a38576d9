#!/usr/bin/env bash
# The one test command (README, .ci/run): set-up when needed, build, every unit and integration test.
# Ends with a plain "N passed, N failed" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # the pinned Node 24 first, also when run outside npm
echo "node $(node --version)"
npx tsc --noEmit -p .
node scripts/check-deps.mjs
node build.mjs
report=$(mktemp)
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  // A file that failed without a failed test (a set-up error) counts as one failure.
  const setupErrors = r.testResults.filter((t) => t.status === "failed" && !t.assertionResults.some((a) => a.status === "failed")).length;
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + setupErrors} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || echo "0 passed, 1 failed"
rm -f "$report"
exit $status
