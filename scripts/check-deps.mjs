// Enforces the dependency rules of docs/architecture.md ("Layers and their rules"): layer boundaries, one seam per external library,
// and no import cycles. Exits 1 listing every violation.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const SRC = resolve('src')
const files = walk(SRC).filter((f) => f.endsWith('.ts'))
const IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm
const ROLE_DIRS = ['bridge', 'dns', 'ipam', 'portmap', 'loopback', 'tuning', 'bandwidth', 'firewall-role']
const STARTUP_COSTLY = ['node:crypto', 'node:v8', 'node:net', 'node:child_process', 'node:perf_hooks', 'node:stream', 'node:http', 'node:https']

const graph = new Map()
const problems = []
for (const file of files) {
  const rel = relative(SRC, file)
  const area = rel.includes('/') ? rel.split('/')[0] : rel
  const text = readFileSync(file, 'utf8')
  const deps = []
  for (const m of text.matchAll(IMPORT)) {
    const typeOnly = Boolean(m[1])
    const spec = m[2]
    if (spec.startsWith('.')) {
      const target = relative(SRC, resolve(dirname(file), spec))
      const targetArea = target.includes('/') ? target.split('/')[0] : target
      // Type-only edges count too: a type-only circle is still two modules that cannot be read one after the other.
      deps.push(target)
      if (target === 'main.ts') problems.push(`${rel}: nothing may import main.ts`)
      if (area === 'system' && !['system', 'decode'].includes(targetArea)) problems.push(`${rel}: system/ imports only system/ and the decode/ leaf, it imports ${target}`)
      if (area === 'decode' && targetArea !== 'decode') problems.push(`${rel}: decode/ is a leaf, it imports ${target}`)
      if (area === 'plugin' && [...ROLE_DIRS, 'firewall', 'cli'].includes(targetArea)) problems.push(`${rel}: plugin/ must not import roles or firewall (${target})`)
      if (area === 'plugin' && targetArea === 'system' && !typeOnly && target !== 'system/errors.ts') problems.push(`${rel}: plugin/ may import only types and SystemError from system/ (${target})`)
      if (ROLE_DIRS.includes(area) && ROLE_DIRS.includes(targetArea) && area !== targetArea) problems.push(`${rel}: roles never import each other (${target})`)
      if (ROLE_DIRS.includes(area) && targetArea === 'system' && !typeOnly && !(area === 'ipam' && target === 'system/lock.ts')) problems.push(`${rel}: roles import system/ types only (${target})`)
      // The node agent is loaded only by `tscni node` (a dynamic import, which this regex does not see).
      if (targetArea === 'node' && area !== 'node' && !typeOnly) problems.push(`${rel}: node/ is loaded only through cli's dynamic import (${target})`)
      if (area === 'node' && [...ROLE_DIRS].includes(targetArea)) problems.push(`${rel}: node/ must not import roles (${target})`)
      if (area === 'firewall' && [...ROLE_DIRS, 'cli', 'reconcile'].includes(targetArea)) problems.push(`${rel}: firewall/ must not import roles, reconcile/ or cli/ (${target})`)
      // reconcile/ sits above the roles (it reads their records through their reconcile parts) and below cli/.
      if (area === 'reconcile' && ['cli', 'node'].includes(targetArea)) problems.push(`${rel}: reconcile/ must not import cli/ or node/ (${target})`)
      if ([...ROLE_DIRS, 'plugin', 'system', 'decode'].includes(area) && targetArea === 'reconcile') problems.push(`${rel}: reconcile/ is above the roles: nothing below it imports it (${target})`)
    } else {
      if (spec === 'execa') problems.push(`${rel}: execa belongs to tests, demo and bench; the plugin path uses system/exec.ts`)
      if (spec === 'ip-cidr' && rel !== 'plugin/addr.ts') problems.push(`${rel}: ip-cidr is imported only by plugin/addr.ts`)
      if (spec.startsWith('zod') && spec !== 'zod/mini') problems.push(`${rel}: use zod/mini (full zod costs ~20 ms of start-up per invocation)`)
      if (spec.startsWith('@noble/hashes') && rel !== 'plugin/ids.ts') problems.push(`${rel}: @noble/hashes is imported only by plugin/ids.ts`)
      // Built-ins whose loading costs every call 1-5 ms of start-up (BENCHMARKS.md, "Start-up"): the plugin path
      // loads them where they are used (exec.ts imports node:child_process at the first command); cli/ and node/
      // are themselves loaded only when called.
      if (!typeOnly && STARTUP_COSTLY.includes(spec) && !['cli', 'node'].includes(area)) problems.push(`${rel}: ${spec} is loaded lazily on the plugin path (start-up), not imported`)
      if (['system', 'decode'].includes(area) && !spec.startsWith('node:') && spec !== 'zod/mini') problems.push(`${rel}: ${area}/ imports node:* and zod/mini only (${spec})`)
    }
  }
  graph.set(rel, deps)
}

// Cycles among all imports, type-only ones included.
const state = new Map()
const stack = []
function visit(node) {
  if (state.get(node) === 'done') return
  if (state.get(node) === 'active') {
    problems.push(`import cycle: ${[...stack.slice(stack.indexOf(node)), node].join(' -> ')}`)
    return
  }
  state.set(node, 'active')
  stack.push(node)
  for (const dep of graph.get(node) ?? []) visit(dep)
  stack.pop()
  state.set(node, 'done')
}
for (const node of graph.keys()) visit(node)

if (problems.length > 0) {
  console.error(`check-deps: ${problems.length} problem(s):\n${[...new Set(problems)].map((p) => `  ${p}`).join('\n')}`)
  process.exit(1)
}
console.log(`check-deps: ${files.length} files, rules hold, no cycles`)

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? walk(path) : [path]
  })
}
