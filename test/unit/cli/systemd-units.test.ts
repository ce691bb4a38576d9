// The systemd units in conf/systemd run commands the tool accepts: each ExecStart's arguments parse as
// `tscni reconcile` options (a renamed option would otherwise break a node silently at boot).
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../../src/cli/index.ts'

const dir = new URL('../../../conf/systemd/', import.meta.url)
const units = readdirSync(dir).filter((f) => f.endsWith('.service'))

describe.each(units)('conf/systemd/%s', (unit) => {
  it('runs tscni reconcile with options it accepts', async () => {
    const text = readFileSync(new URL(unit, dir), 'utf8')
    const exec = /^ExecStart=(\S+) (.*)$/m.exec(text)
    expect(exec?.[1]).toBe('/opt/cni/bin/tscni')
    const args = exec![2]!.split(' ')
    expect(args[0]).toBe('reconcile')
    // --help-like probe: an unknown option answers exit 2 before anything runs; add one to see the others pass.
    const unused = async () => { throw new Error('unused') }
    const io = { env: {}, selfPath: '/x', isSea: false, pathEnv: '/nonexistent', nodeVersion: '24', readStdin: unused, runRole: unused, print: () => undefined }
    const out = await runCli([...args.filter((a) => a !== '--watch'), '--bogus'], io)
    expect(out.exitCode).toBe(2)
    expect(out.stderr).toContain('unknown argument "--bogus"')
  })
})
