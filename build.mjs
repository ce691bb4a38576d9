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
// The second line is the marker `tscni install` looks for at exactly this place (src/cli/own-executable.ts).
const banner = { js: "#!/usr/bin/env node\n// tscni-multicall-executable-marker-v1\nimport{createRequire as __tscniRequire}from'node:module';const require=__tscniRequire(import.meta.url);" }

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

// The native addon, from source: gcc from the distribution, Node-API headers from the node-api-headers package
// (no prebuilt binary). It goes into the executable as an asset and next to the .mjs for plain-Node runs.
execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-s', '-I', 'node_modules/node-api-headers/include',
  '-o', 'dist/tscni-native.node', 'src/native/tscni-native.c'], { stdio: 'inherit' })

// Node 24's single executable applications take a CommonJS main script. execArgvExtension "none": NODE_OPTIONS is
// ignored, so no environment can make the root-run plugin preload code (--require) or change V8's flags
// (nodejs/node#59560, doc/api/single-executable-applications.md "Execution argument extension").
// Dynamic import() of a built-in becomes require(): the loader runs the bundle through vm.Script, which has no
// dynamic-import callback, and the built-ins loaded lazily (node:child_process at the first command) need none.
await build({ ...common, format: 'cjs', outfile: 'dist/sea/main.cjs', supported: { 'dynamic-import': false } })
// How the executable starts (TSCNI_SEA_MODE, for measuring one against the other; see BENCHMARKS.md):
// - "cache" (default): scripts/sea-loader.cjs runs the bundle with a V8 code cache trained by running every verb,
//   so a call compiles almost nothing. A startup snapshot cannot do that: Node's snapshot builder drops compiled
//   code, so every function was compiled again on every call.
// - "snapshot": a V8 startup snapshot with module initialisation done at build time.
const mode = process.env.TSCNI_SEA_MODE ?? 'cache'
if (mode === 'cache') {
  rmSync('dist/sea/main.cache', { force: true })
  const { trainCodeCache } = await import('./scripts/train-code-cache.mjs')
  const how = trainCodeCache('dist/sea', process.execPath)
  if (!existsSync('dist/sea/main.cache')) throw new Error('code cache training wrote no dist/sea/main.cache')
  console.log(`code cache: ${how}`)
  writeFileSync('dist/sea/config.json', JSON.stringify({ main: 'scripts/sea-loader.cjs', output: 'dist/sea/prep.blob', disableExperimentalSEAWarning: true,
    execArgvExtension: 'none', assets: { 'main.cjs': 'dist/sea/main.cjs', 'main.cache': 'dist/sea/main.cache', 'tscni-native.node': 'dist/tscni-native.node' } }))
} else if (mode === 'snapshot') {
  writeFileSync('dist/sea/config.json', JSON.stringify({ main: 'dist/sea/main.cjs', output: 'dist/sea/prep.blob', disableExperimentalSEAWarning: true, useSnapshot: true, execArgvExtension: 'none',
    assets: { 'tscni-native.node': 'dist/tscni-native.node' } }))
} else {
  throw new Error(`TSCNI_SEA_MODE must be "cache" or "snapshot", not ${JSON.stringify(mode)}`)
}
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
// The Node binary carries ~18 MB of symbols nothing at run time reads (binutils' strip; before the blob goes in).
// TSCNI_STRIP=0 keeps them, for a debugger or a comparison.
if (process.env.TSCNI_STRIP !== '0') execFileSync('strip', ['--strip-unneeded', 'dist/tscni'], { stdio: 'inherit' })
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
