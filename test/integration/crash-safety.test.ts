// Crash safety through a test build (dist-test/tscni.mjs, pause points compiled in): the plugin is SIGKILLed at
// each step of ADD and of DEL of the bridge + host-local + portmap list, on both firewall backends; the
// runtime's DEL (or a second DEL) then leaves nothing — no reservation, veth, firewall rule or record — and the
// retried ADD succeeds. Also proves the pause points are absent from the shipped bundle.
import { execa } from 'execa'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { CniRuntime, type Attachment } from '../support/cni-runtime.ts'
import { reservations } from '../support/host-local.ts'
import type { TestNetns } from '../support/netns.ts'
import { BACKENDS, ownedLines, ownedPatterns, portmapNetwork, type Backend } from '../support/portmap.ts'
import { useTestNode } from '../support/test-node.ts'

const ADD_STEPS = ['host-local:allocated', 'bridge:ipam-done', 'bridge:applied', 'portmap:ensured']
const DEL_STEPS = ['portmap:del-removed', 'bridge:del-started', 'host-local:del-locking']

let testBin: string
beforeAll(async () => {
  await execa('node', ['build.mjs', '--test-build'], { env: { PATH: `${resolve('node_modules/.bin')}:${process.env.PATH}` } })
  testBin = mkdtempSync(join(tmpdir(), 'tscni-testbuild-'))
  for (const name of ['tscni', 'tscni-bridge', 'bridge', 'tscni-host-local', 'host-local', 'tscni-portmap', 'portmap']) symlinkSync(resolve('dist-test/tscni.mjs'), join(testBin, name))
  return () => rmSync(testBin, { recursive: true, force: true })
}, 60_000)

describe('the shipped bundle has no pause points', () => {
  it('dist/tscni.mjs names none of them; the test build names every one', () => {
    const shipped = readFileSync('dist/tscni.mjs', 'utf8')
    const test = readFileSync('dist-test/tscni.mjs', 'utf8')
    for (const marker of ['TSCNI_TEST_PAUSE_AT', 'TSCNI_TEST_PAUSE_FILE', ...ADD_STEPS, ...DEL_STEPS]) {
      expect(shipped, marker).not.toContain(marker)
      expect(test, marker).toContain(marker)
    }
  })
})

const node = useTestNode()
let host: TestNetns
let dataDir: string
let stateDir: string
let marker: string
beforeEach(() => {
  ;({ host, dataDir } = node)
  const root = mkdtempSync(join(tmpdir(), 'tscni-crash-'))
  node.defer(() => rmSync(root, { recursive: true, force: true }))
  stateDir = join(root, 'state')
  mkdirSync(stateDir)
  marker = join(root, 'paused')
})

function runtime(backend: Backend, pauseAt?: string): CniRuntime {
  const env: Record<string, string> = { TSCNI_STATE_DIR: stateDir, PATH: `${resolve('node_modules/.bin')}:${process.env.PATH}` }
  if (pauseAt) Object.assign(env, { TSCNI_TEST_PAUSE_AT: pauseAt, TSCNI_TEST_PAUSE_FILE: marker })
  return new CniRuntime(portmapNetwork(backend, dataDir), { binDir: testBin, hostNetns: host.name, env })
}

// Runs `verb` until the plugin reaches the pause point, then SIGKILLs it there; the call must fail.
async function killedAt(verb: Promise<unknown>): Promise<void> {
  const outcome = verb.then(() => 'finished', () => 'failed')
  const until = Date.now() + 20_000
  while (!existsSync(marker) || readFileSync(marker, 'utf8') === '') {
    if (Date.now() > until) throw new Error(`the plugin never reached the pause point (${await Promise.race([outcome, 'still running'])})`)
    await new Promise((r) => setTimeout(r, 20))
  }
  process.kill(Number(readFileSync(marker, 'utf8')), 'SIGKILL')
  rmSync(marker)
  expect(await outcome).toBe('failed')
}

async function expectNothingLeft(att: Attachment): Promise<void> {
  expect(reservations(dataDir, 'tscni')).toEqual({})
  expect(String((await host.exec('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout).trim()).toBe('')
  const owner = { network: 'tscni', containerId: att.containerId, ifname: att.ifname }
  expect(await ownedLines(host, [...ownedPatterns(owner, []), /10\.47\.0\.\d|fd47:7c53:1a10::[0-9a-f]/])).toEqual([])
  expect(readdirSync(stateDir)).toEqual([])
}

describe.each(BACKENDS)('SIGKILL mid-verb with %s', (backend) => {
  const attachment = (pod: TestNetns, id: string): Attachment => ({ containerId: id, netns: pod.path, ifname: 'eth0', capabilityArgs: { portMappings: [{ hostPort: 8090, containerPort: 80, protocol: 'tcp' }] } })

  it.each(ADD_STEPS)('ADD killed at %s: the runtime\'s DEL leaves nothing, the retried ADD succeeds', async (step) => {
    const pod = await node.pool.create('tscni-c')
    const att = attachment(pod, `crash-${step.replace(/[^a-z]/g, '')}`)
    await killedAt(runtime(backend, step).add(att))
    const cni = runtime(backend)
    await cni.del(att) // what a runtime does after a failed ADD (spec: DEL after ADD failure)
    await expectNothingLeft(att)
    const result = await cni.add(att)
    expect(result.ips).toHaveLength(2)
    await cni.check(att)
    await cni.del(att)
    await expectNothingLeft(att)
  })

  it.each(DEL_STEPS)('DEL killed at %s: a second DEL leaves nothing, a new ADD succeeds', async (step) => {
    const pod = await node.pool.create('tscni-c')
    const att = attachment(pod, `crashdel-${step.replace(/[^a-z]/g, '')}`)
    const cni = runtime(backend)
    await cni.add(att)
    // The paused runtime has no cached result, like a runtime restarted after the ADD: DEL needs none.
    await killedAt(runtime(backend, step).del(att))
    await cni.del(att)
    await expectNothingLeft(att)
    await cni.add(att)
    await cni.del(att)
    await expectNothingLeft(att)
  })
})
