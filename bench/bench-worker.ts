// Benchmark worker: runs inside one throwaway "host" namespace (started through `ip netns exec`, so the plugins it
// spawns inherit the namespace and its /sys with no wrapper process per call) and drives one implementation's plugins as libcni
// does: env + stdin per plugin, ADD in order with prevResult, DEL in reverse with the cached result.
// Commands arrive over the IPC channel from bench/cni-bench.ts; every reply carries times measured here.
import { spawn } from 'node:child_process'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface Plugin { type: string; capabilities?: Record<string, boolean>; [k: string]: unknown }
interface ConfList { cniVersion: string; name: string; plugins: Plugin[] }
interface Att { id: string; netns: string; ifname: string }
/** How a plugin call is wrapped: plain (timed), under /usr/bin/time (peak RSS) or strace (child processes). */
type Probe = 'none' | 'rss' | 'children'

export type Command =
  | { op: 'setup'; conf: ConfList; binDir: string; caps?: Record<string, unknown>; env?: Record<string, string> }
  | { op: 'add' | 'del'; probe?: Probe }
  | { op: 'fill'; total: number; deadlineMs: number }
  | { op: 'concurrent'; n: number }
  | { op: 'floor-ip' }
  | { op: 'exit' }

let conf: ConfList
let binDir = ''
let caps: Record<string, unknown> | undefined
let extraEnv: Record<string, string> = {}
const cache = new Map<string, unknown>()
const containers: string[] = []
let counter = 0
// Attachments made by `fill`: up to 100 per container namespace (ifnames e0..e99), so 500 need only 5 namespaces.
let filled = 0
// The attachment the next `del` removes (made by the last `add`).
let pending: Att | undefined
const scratch = mkdtempSync(join(tmpdir(), 'tscni-bench-w-'))

function newNetns(): string {
  const name = `tscni-bench-c-${process.pid}-${containers.length}`
  execFileSync('ip', ['netns', 'add', name])
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  containers.push(name)
  return `/run/netns/${name}`
}

/** CPU time (user + system) of every waited-for descendant so far, in ms (clock ticks of 10 ms). */
function childCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  // After "pid (comm) ": state is field 3, so cutime (16) and cstime (17) are at indexes 13 and 14.
  return (Number(fields[13]) + Number(fields[14])) * 10
}

interface CallStats { ms: number; rssKiB: number; children: number }

function call(verb: string, plugin: Plugin, att: Att, stdin: string, probe: Probe): Promise<{ stdout: string } & CallStats> {
  const file = join(binDir, plugin.type)
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: verb, CNI_CONTAINERID: att.id, CNI_NETNS: att.netns, CNI_IFNAME: att.ifname, CNI_ARGS: '', CNI_PATH: binDir, ...extraEnv }
  const out = join(scratch, `probe-${counter++}`)
  const [cmd, args] = probe === 'rss' ? ['/usr/bin/time', ['-f', '%M', '-o', out, file]]
    : probe === 'children' ? ['strace', ['-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', out, file]]
    : [file, []]
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(cmd, args as string[], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    const errs: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => chunks.push(b))
    child.stderr.on('data', (b: Buffer) => errs.push(b))
    child.on('error', reject)
    child.on('close', (code) => {
      const ms = performance.now() - started
      const stdout = Buffer.concat(chunks).toString()
      if (code !== 0) {
        reject(new Error(`${plugin.type} ${verb} ${att.id} exited ${code}: ${stdout} ${Buffer.concat(errs).toString()}`))
        return
      }
      let rssKiB = 0
      let children = 0
      if (probe !== 'none') {
        const text = readFileSync(out, 'utf8')
        rmSync(out, { force: true })
        if (probe === 'rss') rssKiB = Number(text.trim().split('\n').pop())
        // Successful execve calls, less the plugin's own.
        else children = text.split('\n').filter((l) => l.includes('execve(') && / = 0$/.test(l)).length - 1
      }
      resolve({ stdout, ms, rssKiB, children })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(stdin)
  })
}

function stdinFor(plugin: Plugin, prev: unknown): string {
  const out: Record<string, unknown> = { ...plugin, name: conf.name, cniVersion: conf.cniVersion }
  if (prev !== undefined) out.prevResult = prev
  const runtimeConfig: Record<string, unknown> = {}
  for (const [cap, value] of Object.entries(caps ?? {})) if (plugin.capabilities?.[cap]) runtimeConfig[cap] = value
  if (Object.keys(runtimeConfig).length > 0) out.runtimeConfig = runtimeConfig
  return JSON.stringify(out)
}

/** The whole list for one verb; times summed over the plugins, RSS the largest, children summed. */
async function runList(verb: 'ADD' | 'DEL', att: Att, probe: Probe = 'none'): Promise<CallStats> {
  const total: CallStats = { ms: 0, rssKiB: 0, children: 0 }
  const key = `${att.id}/${att.ifname}`
  const plugins = verb === 'ADD' ? conf.plugins : [...conf.plugins].reverse()
  let prev: unknown = verb === 'DEL' ? cache.get(key) : undefined
  for (const plugin of plugins) {
    const res = await call(verb, plugin, att, stdinFor(plugin, prev), probe)
    total.ms += res.ms
    total.rssKiB = Math.max(total.rssKiB, res.rssKiB)
    total.children += res.children
    if (verb === 'ADD') prev = JSON.parse(res.stdout)
  }
  if (verb === 'ADD') cache.set(key, prev)
  else cache.delete(key)
  return total
}

async function handle(cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'setup':
      conf = cmd.conf
      binDir = cmd.binDir
      caps = cmd.caps
      extraEnv = cmd.env ?? {}
      return {}
    case 'add': {
      pending = { id: `bench-${counter++}`, netns: newNetns(), ifname: 'eth0' }
      const cpu = childCpuMs()
      const res = await runList('ADD', pending, cmd.probe)
      return { ...res, cpuMs: childCpuMs() - cpu }
    }
    case 'del': {
      if (!pending) throw new Error('del without add')
      const cpu = childCpuMs()
      const res = await runList('DEL', pending, cmd.probe)
      execFileSync('ip', ['netns', 'del', containers.pop()!])
      pending = undefined
      return { ...res, cpuMs: childCpuMs() - cpu }
    }
    case 'fill': {
      // Two at a time (the machine's cores); stops at the deadline so a slow implementation keeps the run bounded.
      const started = performance.now()
      let netns = ''
      const next = (): Att | undefined => {
        if (filled >= cmd.total || performance.now() - started > cmd.deadlineMs) return undefined
        if (filled % 100 === 0) netns = newNetns()
        const att = { id: `fill-${filled}`, netns, ifname: `e${filled % 100}` }
        filled++
        return att
      }
      const lane = async (): Promise<void> => {
        for (let att = next(); att; att = next()) await runList('ADD', att)
      }
      await Promise.all([lane(), lane()])
      return { filled, ms: performance.now() - started }
    }
    case 'concurrent': {
      const atts = Array.from({ length: cmd.n }, () => ({ id: `conc-${counter++}`, netns: newNetns(), ifname: 'eth0' }))
      const cpu = childCpuMs()
      const started = performance.now()
      await Promise.all(atts.map((a) => runList('ADD', a)))
      const wallMs = performance.now() - started
      const cpuPerCall = (childCpuMs() - cpu) / cmd.n
      for (const a of atts) await runList('DEL', a)
      for (const a of atts) execFileSync('ip', ['netns', 'del', a.netns.replace('/run/netns/', '')])
      containers.splice(containers.length - atts.length)
      return { wallMs, cpuPerCall }
    }
    case 'floor-ip': {
      // The kernel work of a bridge ADD without any plugin: a veth into a fresh container, its address, link state,
      // default route and bridge port, through one `ip -batch` per side (the container side needs its own -n).
      const netns = newNetns()
      const name = netns.replace('/run/netns/', '')
      const host = `vfl${counter++}`
      const hostBatch = ['link add bfloor0 type bridge', 'link set bfloor0 up', 'addr add 10.99.0.1/16 dev bfloor0',
        `link add ${host} type veth peer name eth0 netns ${name}`, `link set ${host} master bfloor0`, `link set ${host} up`].join('\n')
      const ctrBatch = ['addr add 10.99.0.2/16 dev eth0', 'link set eth0 up', 'route add default via 10.99.0.1 dev eth0'].join('\n')
      let started = performance.now()
      await run('ip', ['-force', '-batch', '-'], hostBatch)
      await run('ip', ['-n', name, '-batch', '-'], ctrBatch)
      const addMs = performance.now() - started
      started = performance.now()
      await run('ip', ['-n', name, 'link', 'del', 'eth0'])
      const delMs = performance.now() - started
      await run('ip', ['link', 'del', 'bfloor0'])
      execFileSync('ip', ['netns', 'del', containers.pop()!])
      return { addMs, delMs }
    }
    case 'exit':
      for (const c of containers.splice(0)) execFileSync('ip', ['netns', 'del', c.replace('/run/netns/', '')])
      rmSync(scratch, { recursive: true, force: true })
      setImmediate(() => process.exit(0))
      return {}
  }
}

function run(cmd: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'inherit'] })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))))
    if (input !== undefined) child.stdin!.end(input)
  })
}

process.on('message', (msg: { seq: number; cmd: Command }) => {
  handle(msg.cmd).then(
    (value) => process.send!({ seq: msg.seq, value }),
    (err: unknown) => process.send!({ seq: msg.seq, error: err instanceof Error ? err.message : String(err) }),
  )
})
process.on('disconnect', () => {
  for (const c of containers.splice(0)) execFileSync('ip', ['netns', 'del', c.replace('/run/netns/', '')], { stdio: 'ignore' })
  rmSync(scratch, { recursive: true, force: true })
  process.exit(0)
})
