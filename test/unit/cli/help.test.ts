// `tscni help` says what the commands do: the defaults it names are the ones they use, and doctor's tool list is
// the list doctor checks.
import { describe, expect, it } from 'vitest'
import { TOOLS } from '../../../src/cli/doctor-checks.ts'
import { DEFAULT_CACHE_DIR } from '../../../src/cli/doctor.ts'
import { HELP } from '../../../src/cli/index.ts'
import { DEFAULT_CONF_DIR } from '../../../src/cli/networks.ts'
import { DEFAULT_DATA_DIR } from '../../../src/ipam/config.ts'

const flat = HELP.replace(/\s+/g, ' ')

describe('tscni help', () => {
  it('names the defaults the commands use', () => {
    expect(DEFAULT_CACHE_DIR).toBe('/var/lib/cni')
    expect(flat).toContain(`under --cache-dir, default ${DEFAULT_CACHE_DIR})`)
    expect(flat).toContain(`data dir (default ${DEFAULT_DATA_DIR})`)
    expect(flat).toContain(`configs in ${DEFAULT_CONF_DIR})`)
  })

  it('lists every tool doctor checks', () => {
    const listed = /tools and versions \(([^)]*)\)/.exec(flat)?.[1]?.split(', ')
    const checked = [...new Set(TOOLS.map((t) => t.replace(/-(save|restore)$/, '').replace(/^ip6tables$/, 'iptables')))]
    expect(listed?.sort()).toEqual(checked.sort())
  })
})
