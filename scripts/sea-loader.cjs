'use strict'
// tscni-multicall-executable-marker-v1
// The single executable's main script (the line above, at this place, is how `tscni install` recognises a tscni
// executable): runs the embedded bundle (asset main.cjs) through vm.Script with the embedded V8 code cache (asset
// main.cache), which build.mjs produced after running every verb, so the functions a verb needs arrive compiled
// instead of being compiled lazily on every call. It reads nothing from the environment or the file system: the
// training run uses its own loader (scripts/train-loader.cjs), never shipped.
const vm = require('node:vm')
const sea = require('node:sea')
const source = sea.getAsset('main.cjs', 'utf8')
const cachedData = Buffer.from(sea.getAsset('main.cache'))
// The wrapper must be byte-identical to the training loader's: V8 checks the source hash of a cache.
const script = new vm.Script(`(function (exports, require, module) {${source}\n})`, { filename: 'tscni.cjs', cachedData })
// A rejected cache (another V8 build or flags) costs only speed: every function is then compiled on first call.
globalThis.__tscniCodeCache = script.cachedDataRejected ? 'rejected' : 'accepted'
const mod = { exports: {} }
script.runInThisContext()(mod.exports, require, mod)
