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
tools_report=$(mktemp)
status=0
vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# The tool leg: the integration files that exercise the kernel path once more over iproute2 and nsenter instead of
# in-process netlink (TSCNI_NETLINK=0), the path every host without the addon (a noexec temp dir) takes.
# kernel-path.test.ts fails this leg if the switch does not reach the plugins. Skipped when files were named.
if [ $# -eq 0 ]; then
  echo "==> tool leg: TSCNI_NETLINK=0 over the bridge, portmap, loopback, dns and reconcile files"
  TSCNI_NETLINK=0 TSCNI_EXPECT_KERNEL_PATH=tools vitest run --project integration --reporter=default --reporter=json \
    --outputFile.json="$tools_report" test/integration/kernel-path.test.ts test/integration/bridge.test.ts \
    test/integration/bridge-lifecycle.test.ts test/integration/bridge-options.test.ts test/integration/portmap.test.ts \
    test/integration/portmap-lifecycle.test.ts test/integration/loopback.test.ts test/integration/dns.test.ts \
    test/integration/reconcile.test.ts test/integration/reconcile-dns.test.ts || status=$?
else
  echo '{"testResults":[],"numPassedTests":0,"numFailedTests":0,"numPendingTests":0,"numTodoTests":0}' > "$tools_report"
fi
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    // A file that failed without a failed test (a set-up error) counts as one failure.
    const setupErrors = r.testResults.filter((t) => t.status === "failed" && !t.assertionResults.some((a) => a.status === "failed")).length;
    passed += r.numPassedTests; failed += r.numFailedTests + setupErrors; skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" "$tools_report" || echo "0 passed, 1 failed"
rm -f "$report" "$tools_report"
exit $status
