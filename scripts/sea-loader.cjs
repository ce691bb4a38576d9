'use strict'
// The single executable's main script: runs the embedded bundle (asset main.cjs) through vm.Script with the
// embedded V8 code cache (asset main.cache), which build.mjs produced after running every verb, so the functions a
// verb needs arrive compiled instead of being compiled lazily on every call. The same file, run by plain Node with
// TSCNI_TRAIN_DIR set, is the training run: bundle and cache read from that directory, and the cache rewritten at
// exit with everything compiled so far (build.mjs chains the runs, each adding the functions its verb compiled).
const vm = require('node:vm')
const trainDir = process.env.TSCNI_TRAIN_DIR
let source
let cachedData
if (trainDir) {
  const fs = require('node:fs')
  source = fs.readFileSync(`${trainDir}/main.cjs`, 'utf8')
  try {
    cachedData = fs.readFileSync(`${trainDir}/main.cache`)
  } catch {
    // the first run of the chain starts without a cache
  }
} else {
  const sea = require('node:sea')
  source = sea.getAsset('main.cjs', 'utf8')
  cachedData = Buffer.from(sea.getAsset('main.cache'))
}
// The wrapper must be byte-identical in training and in the executable: V8 checks the source hash of a cache.
const script = new vm.Script(`(function (exports, require, module) {${source}\n})`, { filename: 'tscni.cjs', cachedData })
// A rejected cache (another V8 build or flags) costs only speed: every function is then compiled on first call.
globalThis.__tscniCodeCache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted'
if (trainDir) process.on('exit', () => require('node:fs').writeFileSync(`${trainDir}/main.cache`, script.createCachedData()))
const mod = { exports: {} }
script.runInThisContext()(mod.exports, require, mod)
