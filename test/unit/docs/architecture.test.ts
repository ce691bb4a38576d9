// docs/architecture.md names only files that exist: every backticked path under src/, test/, scripts/, bench/,
// conf/, docs/ or demo/ is checked, so a rename or removal must update the doc in the same change.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const root = new URL('../../../', import.meta.url)
const doc = readFileSync(new URL('docs/architecture.md', root), 'utf8')

// `src/a/b.ts`, `scripts/check-deps.mjs`, `src/firewall/` ... inside backticks (one path per pair of backticks).
function namedPaths(text: string): string[] {
  const paths = [...text.matchAll(/`((?:src|test|scripts|bench|conf|docs|demo)\/[A-Za-z0-9_./-]*)`/g)].map((m) => m[1]!)
  return [...new Set(paths)]
}

describe('docs/architecture.md', () => {
  it('names files and directories (the extraction finds them)', () => {
    const paths = namedPaths(doc)
    expect(paths).toContain('src/main.ts')
    expect(paths).toContain('scripts/check-deps.mjs')
    expect(paths.length).toBeGreaterThan(40)
  })

  it('every named path exists', () => {
    const missing = namedPaths(doc).filter((p) => !existsSync(new URL(p, root)))
    expect(missing).toEqual([])
  })

  it('the extraction would catch a stale name', () => {
    expect(namedPaths('see `src/firewall/apply.ts` and `src/main.ts`')).toEqual(['src/firewall/apply.ts', 'src/main.ts'])
    expect(existsSync(new URL('src/firewall/apply.ts', root))).toBe(false)
  })

  it('has a row in the layer table for every folder of src/', () => {
    const table = doc.slice(doc.indexOf('## Layers and their rules'), doc.indexOf('\n## ', doc.indexOf('## Layers and their rules') + 1))
    const folders = readdirSync(new URL('src/', root), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `src/${e.name}/`)
    const rows = table.split('\n').filter((line) => line.startsWith('| '))
    const missing = folders.filter((folder) => !rows.some((row) => row.split('|')[1]?.includes(`\`${folder}\``)))
    expect(folders.length).toBeGreaterThan(8)
    expect(missing).toEqual([])
  })

  it('keeps a section per area for notes to fold in', () => {
    for (const section of ['Layers and their rules', 'One call, start to finish', 'Decisions and why', 'Compatibility facts the code relies on', 'Decoding like Go', 'Roles', 'Firewall', 'System seam', 'Operator tool']) {
      expect(doc, section).toContain(`\n## ${section}\n`)
    }
  })
})
