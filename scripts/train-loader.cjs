'use strict'
// The code-cache training run's loader (scripts/train-code-cache.mjs copies it next to the bundle as loader.cjs and
// runs it with plain Node): runs main.cjs from its own directory and writes main.cache there at exit with everything
// compiled so far, each run adding the functions its verb compiled. Only the build uses it: the single executable
// ships scripts/sea-loader.cjs, which has no such switch.
const fs = require('node:fs')
const vm = require('node:vm')
const dir = __dirname
const source = fs.readFileSync(`${dir}/main.cjs`, 'utf8')
let cachedData
try {
  cachedData = fs.readFileSync(`${dir}/main.cache`)
} catch {
  // the first run of the chain starts without a cache
}
// Byte-identical to scripts/sea-loader.cjs's wrapper: V8 checks the source hash of a cache.
const script = new vm.Script(`(function (exports, require, module) {${source}\n})`, { filename: 'tscni.cjs', cachedData })
globalThis.__tscniCodeCache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted'
process.on('exit', () => fs.writeFileSync(`${dir}/main.cache`, script.createCachedData()))
const mod = { exports: {} }
script.runInThisContext()(mod.exports, require, mod)
