// How `tscni install` recognises its own files (a marker at a fixed place only, nothing run) and judges a bin dir
// (root-owned, writable by no one else, the directories above too, sticky ones allowed).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { unsafeBinDir, unsafeDir } from '../../../src/cli/bin-dir-trust.ts'
import { isOwnExecutable, MARKER_LINE } from '../../../src/cli/own-executable.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tscni-install-unit-'))
  dirs.push(d)
  return d
}

describe('isOwnExecutable', () => {
  it('a script that merely mentions the marker is not ours, wherever the marker is', async () => {
    const dir = tmp()
    const cases = {
      mention: `#!/bin/sh\n# replaced by tscni-multicall-executable-marker-v1 builds\nexec /usr/lib/cni/bridge\n`,
      third: `#!/usr/bin/env node\n// something\n${MARKER_LINE}`,
      noShebang: MARKER_LINE,
      otherShebang: `#!/bin/sh\n${MARKER_LINE}`,
      elfLookalike: `\u007fELF${MARKER_LINE.repeat(20)}`,
    }
    for (const [name, text] of Object.entries(cases)) {
      writeFileSync(join(dir, name), text, { mode: 0o755 })
      expect(await isOwnExecutable(join(dir, name)), name).toBe(false)
    }
    expect(await isOwnExecutable('/usr/lib/cni/bridge')).toBe(false)
    expect(await isOwnExecutable(process.execPath)).toBe(false)
    expect(await isOwnExecutable(join(dir, 'missing'))).toBe(false)
  })

  it('the bundle (shebang, then the marker line) is ours', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'tscni'), `#!/usr/bin/env node\n${MARKER_LINE}import x from 'y'\n`)
    expect(await isOwnExecutable(join(dir, 'tscni'))).toBe(true)
    // tscni 0.1.0's bundle had no marker line: its banner, at the same place, is recognised (upgrades need no --force).
    writeFileSync(join(dir, 'old'), "#!/usr/bin/env node\nimport{createRequire as __tscniRequire}from'node:module';const require=__tscniRequire(import.meta.url);\nvar x\n")
    expect(await isOwnExecutable(join(dir, 'old'))).toBe(true)
  })

  it('an ELF file without a tscni NODE_SEA_BLOB note (plain Node) is not ours', async () => {
    const dir = tmp()
    copyFileSync(process.execPath, join(dir, 'node'))
    expect(await isOwnExecutable(join(dir, 'node'))).toBe(false)
  })
})

describe('bin dir trust', () => {
  it('unsafeDir: owner root (or the installer), writable by no one else; above the bin dir sticky is fine', () => {
    expect(unsafeDir('/b', { uid: 0, mode: 0o40755 }, 0, true)).toBeUndefined()
    expect(unsafeDir('/b', { uid: 1000, mode: 0o40755 }, 0, true)).toBe('/b is owned by uid 1000, not root')
    expect(unsafeDir('/b', { uid: 1000, mode: 0o40755 }, 1000, true)).toBeUndefined()
    expect(unsafeDir('/b', { uid: 0, mode: 0o40777 }, 0, true)).toBe('/b is writable by group or others (mode 0777)')
    expect(unsafeDir('/b', { uid: 0, mode: 0o41777 }, 0, true)).toBe('/b is writable by group or others (mode 1777)')
    expect(unsafeDir('/tmp', { uid: 0, mode: 0o41777 }, 0, false)).toBeUndefined()
    expect(unsafeDir('/p', { uid: 0, mode: 0o40775 }, 0, false)).toBe('/p is writable by group or others (mode 0775)')
  })

  it('unsafeBinDir: a 0777 bin dir, a 0777 parent, and a missing bin dir under a 0777 parent are refused', async () => {
    const root = tmp()
    expect(await unsafeBinDir(root, 0)).toEqual([])
    const open = join(root, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    expect(await unsafeBinDir(open, 0)).toEqual([`${open} is writable by group or others (mode 0777)`])
    mkdirSync(join(open, 'bin'), { mode: 0o755 })
    expect(await unsafeBinDir(join(open, 'bin'), 0)).toEqual([`${open} is writable by group or others (mode 0777)`])
    expect(await unsafeBinDir(join(open, 'new/bin'), 0)).toEqual([`${open} is writable by group or others (mode 0777)`])
    expect(await unsafeBinDir(join(root, 'new/bin'), 0)).toEqual([])
  })
})
