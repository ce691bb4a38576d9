import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { readDnsNames } from '../../../src/cli/dns-names.ts'
import { hostsFile, networkPaths } from '../../../src/dns/plan.ts'
import { parseCidr } from '../../../src/plugin/addr.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('tscni ls: the names dnsname published', () => {
  it('lists the bare names of each entry, a Kubernetes pod\'s <pod>.<namespace> included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tscni-dns-names-'))
    dirs.push(dir)
    const { hostsDir } = networkPaths(dir, 'net1')
    mkdirSync(hostsDir, { recursive: true })
    writeFileSync(join(hostsDir, 'c1:eth0'), hostsFile([parseCidr('10.1.0.2/24')!], ['db.team-b', 'db', 'c1abc'], 'dns.tscni'))
    expect(readDnsNames(dir).get('net1')).toEqual([{ attachment: 'c1:eth0', address: '10.1.0.2', names: ['db.team-b', 'db', 'c1abc'] }])
  })
})
