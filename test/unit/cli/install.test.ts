import { describe, expect, it } from 'vitest'
import { parseInstallArgs } from '../../../src/cli/install.ts'

describe('parseInstallArgs', () => {
  it('reads the bin dir and flags', () => {
    expect(parseInstallArgs(['--bin-dir', '/opt/cni/bin', '--standard-names', '--force'])).toEqual({ binDir: '/opt/cni/bin', standardNames: true, force: true })
    expect(parseInstallArgs(['--bin-dir=/x'])).toEqual({ binDir: '/x', standardNames: false, force: false })
  })
  it('requires --bin-dir and rejects unknown arguments', () => {
    expect(parseInstallArgs([])).toMatch(/--bin-dir DIR is required/)
    expect(parseInstallArgs(['--bin-dir', '/x', '--frce'])).toBe('unknown argument "--frce"')
  })
})
