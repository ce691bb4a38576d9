// docs/configuration.md documents exactly the keys the role schemas accept: every leaf path is listed, and every
// listed key is accepted.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { bridgeConfigSchema } from '../../../src/bridge/config.ts'
import { dnsConfigSchema } from '../../../src/dns/config.ts'
import { hostLocalConfigSchemas } from '../../../src/ipam/config.ts'
import { portmapConfigSchema } from '../../../src/portmap/config.ts'
import { tuningConfigSchema } from '../../../src/tuning/config.ts'
import { bandwidthConfigSchema } from '../../../src/bandwidth/config.ts'
import { schemaPaths } from '../../support/schema-paths.ts'

const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8')

// The first column's keys of the table under "## <section>".
function documentedKeys(section: string): string[] {
  const start = doc.indexOf(`\n## ${section}\n`)
  expect(start, `section ${section}`).toBeGreaterThan(-1)
  const end = doc.indexOf('\n## ', start + 1)
  const body = doc.slice(start, end === -1 ? undefined : end)
  return [...body.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!)
}

// Leaves are paths with nothing below them; "x[]" of a list of scalars is documented as "x".
function leaves(paths: readonly string[]): string[] {
  const trimmed = [...new Set(paths.map((p) => p.replace(/\[\]$/, '')))]
  return trimmed.filter((p) => !trimmed.some((q) => q !== p && (q.startsWith(`${p}.`) || q.startsWith(`${p}[]`))))
}

const SECTIONS: Array<[string, string[]]> = [
  ['bridge', schemaPaths(bridgeConfigSchema as never, '')],
  ['host-local', Object.entries(hostLocalConfigSchemas).flatMap(([at, schema]) => schemaPaths(schema as never, at))],
  ['portmap', schemaPaths(portmapConfigSchema as never, '')],
  ['dnsname', schemaPaths(dnsConfigSchema as never, '')],
  ['tuning', schemaPaths(tuningConfigSchema as never, '')],
  ['bandwidth', schemaPaths(bandwidthConfigSchema as never, '')],
]

describe.each(SECTIONS)('docs/configuration.md, %s', (section, paths) => {
  it('lists every key the schema accepts', () => {
    const listed = new Set(documentedKeys(section))
    expect(leaves(paths).filter((p) => !listed.has(p))).toEqual([])
  })

  it('lists no key the schema does not accept', () => {
    const known = new Set(paths.map((p) => p.replace(/\[\]$/, '')))
    expect(documentedKeys(section).filter((k) => !known.has(k))).toEqual([])
  })
})
