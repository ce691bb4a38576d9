// Comments and docs cite public sources or docs/architecture.md, never documents a clone of the repository does not
// have: no "digest 3.5", "trap 21", "user-asks B16" or paths into the development tree's shared notes.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const SELF = relative(root, fileURLToPath(import.meta.url))
const SCANNED = ['src', 'test', 'scripts', 'bench', 'demo', 'conf', 'docs', 'README.md', 'build.mjs']
const TEXT = /\.(ts|mjs|js|sh|md|json|conflist|conf|txt|rules|nft)$/

// References to the shared notes outside the repository, in the forms they were cited.
const OUTSIDE = [/\bdigest\s+(?:trap\s+)?\d+(?:\.\d+)?/i, /\btraps?\s+\d+\b/i, /\buser-asks\b/i, /\bcni-digest\b/i, /\bshared\/(?:design|multinode-dns)\b/i]

function files(path: string): string[] {
  const abs = join(root, path)
  let st
  try {
    st = statSync(abs)
  } catch {
    return []
  }
  if (st.isFile()) return [path]
  return readdirSync(abs).flatMap((name) => (name === 'node_modules' ? [] : files(join(path, name))))
}

/** `file:line: text` for every line citing a document outside the repository. */
export function outsideReferences(path: string, text: string): string[] {
  return text.split('\n').flatMap((line, i) => (OUTSIDE.some((p) => p.test(line)) ? [`${path}:${i + 1}: ${line.trim()}`] : []))
}

describe('no references to documents outside the repository', () => {
  it('finds each form it looks for', () => {
    for (const line of ['// (digest 3.5)', '// digest trap 8', '(trap 21)', '(user-asks B16)', 'see ../shared/cni-digest.md']) {
      expect(outsideReferences('x', line), line).toHaveLength(1)
    }
    expect(outsideReferences('x', "trap 'rm -f $tmp' EXIT\n// containernetworking/plugins#1115")).toEqual([])
  })

  it('none in sources, tests, scripts, docs or the README', () => {
    const found = SCANNED.flatMap(files)
      .filter((f) => TEXT.test(f) && f !== SELF)
      .flatMap((f) => outsideReferences(f, readFileSync(join(root, f), 'utf8')))
    expect(found).toEqual([])
  })
})
