// Builds dist/tscni.mjs (one esbuild bundle) and dist/tscni (a Node single executable application embedding it).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { copyFileSync, chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'

const common = { entryPoints: ['src/main.ts'], bundle: true, platform: 'node', target: 'node24', minify: true, legalComments: 'none', logLevel: 'warning' }
mkdirSync('dist', { recursive: true })

// The .mjs runs with any Node 24 on PATH. createRequire: bundled CommonJS dependencies may require node built-ins.
await build({ ...common, format: 'esm', outfile: 'dist/tscni.mjs',
  banner: { js: "#!/usr/bin/env node\nimport{createRequire as __tscniRequire}from'node:module';const require=__tscniRequire(import.meta.url);" } })
chmodSync('dist/tscni.mjs', 0o755)

// Node 24's single executable applications take a CommonJS main script.
await build({ ...common, format: 'cjs', outfile: 'dist/sea/main.cjs' })
writeFileSync('dist/sea/config.json', JSON.stringify({ main: 'dist/sea/main.cjs', output: 'dist/sea/prep.blob', disableExperimentalSEAWarning: true, useCodeCache: true }))
execFileSync(process.execPath, ['--experimental-sea-config', 'dist/sea/config.json'], { stdio: 'inherit' })
// The blob only works inside the same Node binary that produced it: process.execPath is the pinned Node 24.
rmSync('dist/tscni', { force: true })
copyFileSync(process.execPath, 'dist/tscni')
execFileSync(process.execPath, ['node_modules/postject/dist/cli.js', 'dist/tscni', 'NODE_SEA_BLOB', 'dist/sea/prep.blob',
  '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: ['ignore', 'ignore', 'inherit'] })
chmodSync('dist/tscni', 0o755)
console.log('built dist/tscni.mjs and dist/tscni')
