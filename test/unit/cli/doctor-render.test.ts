// doctor's report text and JSON, the runtime cache entry parser, and usage errors.
import { describe, expect, it } from 'vitest'
import type { Check } from '../../../src/cli/doctor-checks.ts'
import { pathCheck, renderDoctor, renderDoctorJson, runDoctor, summaryLine } from '../../../src/cli/doctor.ts'
import { parseCacheEntry } from '../../../src/cli/runtime-cache.ts'

const dirs = { dataDir: '/data', confDir: '/conf', cacheDir: '/cache', stateDir: '/state' }
const checks: Check[] = [
  { check: 'privileges', status: 'ok', detail: 'root (uid 0), CAP_NET_ADMIN held' },
  { check: 'tool conntrack', status: 'warn', detail: 'not found: x', remedy: 'install it' },
  { check: 'leak', status: 'fail', detail: 'network n 10.0.0.2: gone', remedy: 'tscni gc' },
  { check: 'forwarding ipv4', status: 'info', detail: 'net.ipv4.ip_forward = 1' },
]

describe('renderDoctor', () => {
  it('prints one aligned line per check with its status word, remedies below, and a summary', () => {
    expect(renderDoctor(dirs, checks, 1)).toBe([
      'tscni doctor: data dir /data, conf dir /conf, cache dir /cache, state dir /state',
      '',
      'ok    privileges       root (uid 0), CAP_NET_ADMIN held',
      'warn  tool conntrack   not found: x',
      '                       remedy: install it',
      'FAIL  leak             network n 10.0.0.2: gone',
      '                       remedy: tscni gc',
      'info  forwarding ipv4  net.ipv4.ip_forward = 1',
      '',
      '1 ok, 1 warn, 1 FAIL, 1 info: 1 problem(s) to fix (exit 1)',
      '',
    ].join('\n'))
  })

  it('says ready when nothing failed', () => {
    expect(summaryLine(checks.filter((c) => c.status !== 'fail'), 0)).toBe('1 ok, 1 warn, 0 FAIL, 1 info: ready (see the warnings)')
    expect(summaryLine(checks.slice(0, 1), 0)).toBe('1 ok, 0 warn, 0 FAIL, 0 info: ready')
  })
})

describe('renderDoctorJson', () => {
  it('carries the dirs, verdict, counts and checks', () => {
    expect(JSON.parse(renderDoctorJson(dirs, checks, 1))).toEqual({
      ...dirs, healthy: false, exitCode: 1, summary: { ok: 1, warn: 1, fail: 1, info: 1 }, checks,
    })
  })
})

describe('parseCacheEntry', () => {
  it('reads a libcni cniCacheV1 entry', () => {
    const text = JSON.stringify({ kind: 'cniCacheV1', containerId: 'c1', ifName: 'eth0', networkName: 'tscni', netns: '/run/netns/x', config: 'e30=', result: {} })
    expect(parseCacheEntry('/c/results/tscni-c1-eth0', text)).toEqual({ file: '/c/results/tscni-c1-eth0', network: 'tscni', containerId: 'c1', ifname: 'eth0', netns: '/run/netns/x' })
    expect(parseCacheEntry('f', JSON.stringify({ kind: 'cniCacheV1', containerId: 'c1', ifName: 'eth0', networkName: 'n' }))).toMatchObject({ netns: '' })
  })

  it('says why other content is not an entry', () => {
    expect(parseCacheEntry('f', '{')).toBe('not JSON')
    expect(parseCacheEntry('f', 'null')).toBe('not a cniCacheV1 entry')
    expect(parseCacheEntry('f', '{"kind":"other"}')).toBe('not a cniCacheV1 entry')
    expect(parseCacheEntry('f', '{"kind":"cniCacheV1","containerId":"c"}')).toMatch(/missing/)
  })
})

describe('runDoctor', () => {
  it('exits 2 on a usage error, before looking at anything', async () => {
    const unused = async (): Promise<never> => {
      throw new Error('a usage error must not run anything')
    }
    const io = { env: {}, selfPath: '/x', isSea: false, pathEnv: '/nonexistent', nodeVersion: '24', readStdin: unused, runRole: unused, print: () => undefined }
    expect(await runDoctor(['--bogus'], io)).toEqual({ stdout: '', stderr: 'tscni doctor: unknown argument "--bogus"\n', exitCode: 2 })
    expect((await runDoctor(['--data-dir'], io)).exitCode).toBe(2)
  })
})

describe('doctor: the plugin path', () => {
  const loaded = { loaded: true, detail: 'native addon loaded: locks in-process' }
  it('names netlink when the addon loads, the tools with TSCNI_NETLINK=0 or without the addon', () => {
    expect(pathCheck('code cache accepted', loaded, true).detail).toBe('native addon loaded: locks in-process; links, addresses, routes and conntrack over netlink; start-up: code cache accepted')
    expect(pathCheck('code cache accepted', loaded, false).detail).toContain('through ip, conntrack through conntrack(8) (TSCNI_NETLINK=0)')
    const missing = { loaded: false, detail: 'native addon not used (noexec temp dir): flock(1) takes the locks' }
    expect(pathCheck(undefined, missing, true).detail).toBe('native addon not used (noexec temp dir): flock(1) takes the locks; links, addresses and routes through ip, conntrack through conntrack(8); start-up: unknown')
  })
})
