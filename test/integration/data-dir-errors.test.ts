// host-local on a broken data dir: read-only (empty and populated), full, missing or unusable parent, permission
// denied, a directory at a reservation's path. Each failure is CNI error JSON with code 5 or 11 naming the path
// and the cause, exit status 1, and nothing half-written left behind.
import { execa } from 'execa'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { hostLocalOk, ipamConfig, reservations, TempDirs } from '../support/host-local.ts'
import { binDir } from '../support/run-plugin.ts'

const temp = new TempDirs()
afterEach(() => temp.cleanup())

const RANGES = { ranges: [[{ subnet: '10.1.2.0/24' }]] }

/**
 * Runs tscni-host-local after `setup` (shell lines) inside a private mount namespace, so read-only bind mounts and
 * tiny tmpfs mounts exist only for this call and vanish with it. `dropDac` runs the plugin without
 * CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: root bypasses file modes otherwise, so EACCES is unreachable.
 */
async function inMountNs(setup: string, verb: string, config: unknown, containerId: string, dropDac = false): Promise<{ exitCode: number; json: any; stdout: string }> {
  const plugin = join(binDir(), 'tscni-host-local')
  const run = dropDac ? `exec setpriv --bounding-set -dac_override,-dac_read_search -- "${plugin}"` : `exec "${plugin}"`
  const res = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec', `${setup}\n${run}`], {
    input: JSON.stringify(config),
    env: { PATH: process.env.PATH, CNI_COMMAND: verb, CNI_CONTAINERID: containerId, CNI_NETNS: '/var/run/netns/unused', CNI_IFNAME: 'eth0', CNI_PATH: binDir() },
    extendEnv: false,
    reject: false,
  })
  let json: unknown
  try {
    json = JSON.parse(res.stdout)
  } catch {
    json = undefined
  }
  return { exitCode: res.exitCode ?? -1, json, stdout: res.stdout }
}

const readOnly = (dir: string) => `mount --bind ${dir} ${dir}\nmount -o remount,bind,ro ${dir}`

function expectError(reply: { exitCode: number; json: any; stdout: string }, code: number, msg: RegExp): void {
  expect(reply.exitCode, reply.stdout).toBe(1)
  expect(reply.json, reply.stdout).toMatchObject({ cniVersion: '1.0.0', code })
  expect(reply.json.msg).toMatch(msg)
  expect(reply.stdout).not.toMatch(/\n\s+at /) // no stack trace
}

describe('data dir problems name their cause', () => {
  it('read-only and empty: ADD says read-only and names the directory it could not create (code 5)', async () => {
    const root = temp.make()
    const dataDir = join(root, 'networks')
    const reply = await inMountNs(readOnly(root), 'ADD', ipamConfig(dataDir, RANGES), 'c1')
    expectError(reply, 5, new RegExp(`mkdir ${root}/networks: read-only file system$`))
    expect(reply.json.msg).toContain(`${dataDir}/testnet`)
    expect(existsSync(dataDir)).toBe(false)
  })

  it('read-only and populated: ADD and DEL say read-only and name the file (code 5); the reservation stays', async () => {
    const dataDir = temp.make()
    const config = ipamConfig(dataDir, RANGES)
    await hostLocalOk('tscni', 'ADD', config, 'c1')
    const add = await inMountNs(readOnly(dataDir), 'ADD', config, 'c2')
    expectError(add, 5, new RegExp(`open ${dataDir}/testnet/10\\.1\\.2\\.3: read-only file system$`))
    const del = await inMountNs(readOnly(dataDir), 'DEL', config, 'c1')
    expectError(del, 5, new RegExp(`unlink ${dataDir}/testnet/10\\.1\\.2\\.2: read-only file system$`))
    expect(reservations(dataDir)).toEqual({ '10.1.2.2': 'c1\r\neth0' })
    await hostLocalOk('tscni', 'DEL', config, 'c1') // writable again: the same DEL succeeds
    expect(reservations(dataDir)).toEqual({})
  })

  it('full: ADD says no space left (code 11, try again later) and leaves no empty reservation file', async () => {
    const dataDir = temp.make()
    const fill = `mount -t tmpfs -o size=16k tmpfs ${dataDir}\nmkdir ${dataDir}/testnet\ndd if=/dev/zero of=${dataDir}/fill bs=4k count=64 2>/dev/null || true`
    const reply = await inMountNs(`${fill}\nls ${dataDir}/testnet >&2`, 'ADD', ipamConfig(dataDir, RANGES), 'c1')
    expectError(reply, 11, new RegExp(`write ${dataDir}/testnet/10\\.1\\.2\\.2: no space left on device$`))
    // The tmpfs is gone with the namespace; what the plugin left in it is checked inside one.
    const left = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-ec',
      `${fill}\nCNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_NETNS=/x CNI_IFNAME=eth0 CNI_PATH=${binDir()} ${binDir()}/tscni-host-local >/dev/null <<'E' || true\n${JSON.stringify(ipamConfig(dataDir, RANGES))}\nE\nls -A ${dataDir}/testnet`])
    expect(left.stdout.trim().split('\n').filter(Boolean)).toEqual(['lock'])
  })

  it('missing parent on a read-only file system, and a parent that is a file: each names the component', async () => {
    const root = temp.make()
    const deep = await inMountNs(readOnly(root), 'ADD', ipamConfig(join(root, 'a', 'b', 'c'), RANGES), 'c1')
    expectError(deep, 5, new RegExp(`mkdir ${root}/a: read-only file system$`))
    writeFileSync(join(root, 'file'), '')
    const underFile = await inMountNs('', 'ADD', ipamConfig(join(root, 'file', 'networks'), RANGES), 'c1')
    expectError(underFile, 5, new RegExp(`mkdir ${root}/file/networks/testnet: not a directory$`))
  })

  it('permission denied (without CAP_DAC_OVERRIDE, as root would be on a node with a hardened profile): code 5', async () => {
    const dataDir = temp.make()
    mkdirSync(join(dataDir, 'testnet'))
    chmodSync(join(dataDir, 'testnet'), 0o555)
    const reply = await inMountNs('', 'ADD', ipamConfig(dataDir, RANGES), 'c1', true)
    expectError(reply, 5, new RegExp(`${dataDir}/testnet/lock: permission denied$`))
  })

  it('a directory at a reservation path: ADD names it (code 5); removing it lets the ADD through', async () => {
    const dataDir = temp.make()
    mkdirSync(join(dataDir, 'testnet', '10.1.2.2'), { recursive: true })
    const config = ipamConfig(dataDir, RANGES)
    const reply = await inMountNs('', 'ADD', config, 'c1')
    expectError(reply, 5, new RegExp(`${dataDir}/testnet/10\\.1\\.2\\.2 exists and is not a regular file`))
    await hostLocalOk('tscni', 'DEL', config, 'c1')
    await execa('rmdir', [join(dataDir, 'testnet', '10.1.2.2')])
    await hostLocalOk('tscni', 'ADD', config, 'c1')
    expect(reservations(dataDir)).toEqual({ '10.1.2.2': 'c1\r\neth0' })
  })

  it('STATUS answers code 50 naming the cause on a read-only data dir', async () => {
    const root = temp.make()
    const reply = await inMountNs(readOnly(root), 'STATUS', ipamConfig(join(root, 'networks'), RANGES, {}, '1.1.0'), '')
    expect(reply.exitCode).toBe(1)
    expect(reply.json).toMatchObject({ code: 50 })
    expect(reply.json.msg).toMatch(/cannot serve an ADD: the data directory .* is not writable: .*read-only file system$/)
  })
})
