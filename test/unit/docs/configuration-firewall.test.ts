// docs/configuration.md documents exactly the keys the firewall role's schema accepts (as configuration.test.ts
// checks the other roles).
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { firewallConfigSchema } from '../../../src/firewall-role/config.ts'
import { schemaPaths } from '../../support/schema-paths.ts'

const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8')

function documentedKeys(section: string): string[] {
  const start = doc.indexOf(`\n## ${section}\n`)
  expect(start, `section ${section}`).toBeGreaterThan(-1)
  const end = doc.indexOf('\n## ', start + 1)
  const body = doc.slice(start, end === -1 ? undefined : end)
  return [...body.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!)
}

it('docs/configuration.md, firewall: lists exactly the keys the schema accepts', () => {
  const paths = schemaPaths(firewallConfigSchema as never, '').map((p) => p.replace(/\[\]$/, ''))
  expect(paths.length).toBeGreaterThan(3)
  expect([...documentedKeys('firewall')].sort()).toEqual([...new Set(paths)].sort())
})
