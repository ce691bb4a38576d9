// Builds dist/tscni.mjs (one esbuild bundle) and dist/tscni (a Node single executable application embedding it).
import { execFileSync } from 'node:child_process'
import { copyFileSync, chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'

// The single executable embeds the Node that runs this script: run under anything but the pinned Node 24 (the
// machine's own node, say), it hands over to node_modules/.bin/node instead of shipping a slower, older runtime.
if (process.versions.node.split('.')[0] !== '24') {
  const pinned = 'node_modules/.bin/node'
  if (!existsSync(pinned)) throw new Error(`build.mjs needs Node 24 (found ${process.version}); run npm ci first`)
  execFileSync(pinned, ['build.mjs'], { stdio: 'inherit' })
  process.exit(0)
}
const { build } = await import('esbuild')

const common = { entryPoints: ['src/main.ts'], bundle: true, platform: 'node', target: 'node24', minify: true, legalComments: 'none', logLevel: 'warning',
  // Test-only pause points (src/plugin/test-pause.ts) fold away: `if (false)` and the module are dropped.
  define: { __TSCNI_TEST_HOOKS__: 'false' } }
const banner = { js: "#!/usr/bin/env node\nimport{createRequire as __tscniRequire}from'node:module';const require=__tscniRequire(import.meta.url);" }

// `node build.mjs --test-build`: only dist-test/tscni.mjs, with the pause points compiled in, for crash tests.
if (process.argv.includes('--test-build')) {
  mkdirSync('dist-test', { recursive: true })
  await build({ ...common, define: { __TSCNI_TEST_HOOKS__: 'true' }, format: 'esm', outfile: 'dist-test/tscni.mjs', banner })
  chmodSync('dist-test/tscni.mjs', 0o755)
  console.log('built dist-test/tscni.mjs (test build: pause points compiled in)')
  process.exit(0)
}
mkdirSync('dist', { recursive: true })

// The .mjs runs with any Node 24 on PATH. createRequire: bundled CommonJS dependencies may require node built-ins.
await build({ ...common, format: 'esm', outfile: 'dist/tscni.mjs', banner })
chmodSync('dist/tscni.mjs', 0o755)

// Node 24's single executable applications take a CommonJS main script.
await build({ ...common, format: 'cjs', outfile: 'dist/sea/main.cjs' })
// A V8 startup snapshot: module initialisation (zod schemas, ip-address tables) runs here, at build time, and
// main.ts's start() runs when the snapshot is loaded. Measured: ~5 ms less per invocation than useCodeCache.
writeFileSync('dist/sea/config.json', JSON.stringify({ main: 'dist/sea/main.cjs', output: 'dist/sea/prep.blob', disableExperimentalSEAWarning: true, useSnapshot: true }))
try {
  // Node warns that child_process and sea are "not yet fully verified" in snapshots: nothing of theirs runs
  // before start(), and the integration suite runs this very executable. Show its output only on failure.
  execFileSync(process.execPath, ['--experimental-sea-config', 'dist/sea/config.json'], { stdio: 'pipe' })
} catch (err) {
  process.stderr.write(String(err.stderr ?? ''))
  throw err
}
// The blob only works inside the same Node binary that produced it: process.execPath is the pinned Node 24.
rmSync('dist/tscni', { force: true })
copyFileSync(process.execPath, 'dist/tscni')
try {
  // postject warns about ELF note sections it does not parse; harmless, so shown only when injection fails.
  execFileSync(process.execPath, ['node_modules/postject/dist/cli.js', 'dist/tscni', 'NODE_SEA_BLOB', 'dist/sea/prep.blob',
    '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'pipe' })
} catch (err) {
  process.stderr.write(String(err.stderr ?? ''))
  throw err
}
chmodSync('dist/tscni', 0o755)
console.log('built dist/tscni.mjs and dist/tscni')
