// The release artifacts of `npm run package` (scripts/package.mjs) for the tests that check them: made once, under
// a lock, when dist/release is missing or older than dist/tscni.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'

export const RELEASE_DIR = resolve('dist/release')

export interface Release {
  readonly version: string
  readonly archive: string
  readonly deb: string
  readonly image: string
  readonly imageName: string
}

/** The artifacts, packaging dist/tscni first when needed (about a minute on the shared machine). */
export function release(): Release {
  const version = JSON.parse(readFileSync('package.json', 'utf8')).version as string
  const sums = join(RELEASE_DIR, 'SHA256SUMS')
  const stale = () => !existsSync(sums) || statSync(sums).mtimeMs < statSync('dist/tscni').mtimeMs
  if (stale()) {
    // flock: two test files asking at once package once; the second finds fresh artifacts.
    execFileSync('flock', ['dist/.package.lock', 'sh', '-c', 'test -f "$1" && test "$1" -nt dist/tscni || node scripts/package.mjs', 'sh', sums], { stdio: 'inherit', timeout: 600_000 })
  }
  const names = readFileSync(sums, 'utf8').trim().split('\n').map((l) => l.split(/\s+/)[1]!)
  const pick = (re: RegExp) => join(RELEASE_DIR, names.find((n) => re.test(n)) ?? '(missing)')
  return {
    version,
    archive: pick(/^tscni-linux-.*\.tgz$/),
    deb: pick(/\.deb$/),
    image: pick(/\.oci\.tar$/),
    imageName: `localhost/tscni:v${version}`,
  }
}
