// `tscni install ... --conflist FILE [--conf-dir DIR]`: after installing the executable and its links, puts a CNI
// network config list into the runtime's config dir atomically: written to a temporary name in that same directory,
// flushed, then renamed over the final name, so a runtime scanning the dir sees the old file or the whole new one,
// never half of it (flannel-io/flannel#2466: kubelet picked a wrong network from a half-written config).
import { promises as fs } from 'node:fs'
import { basename, join } from 'node:path'
import { parseJson } from '../decode/go-json.ts'
import type { Outcome } from '../plugin/dispatch.ts'
import { randomBytes } from '../plugin/random.ts'
import { runInstall } from './install.ts'
import { takeHealthArgs } from './health-addr.ts'

export const DEFAULT_INSTALL_CONF_DIR = '/etc/cni/net.d'

/** Runs `tscni install` with `--conflist`: the binaries first (so the config never names a missing plugin), then the config. */
export async function runInstallWithConflist(args: readonly string[], io: Parameters<typeof runInstall>[1]): Promise<Outcome> {
  const taken = takeHealthArgs(args, ['--conflist', '--conf-dir'])
  const fail = (msg: string, exitCode = 2): Outcome => ({ stdout: '', stderr: `tscni install: ${msg}\n`, exitCode })
  if (typeof taken === 'string') return fail(taken)
  const file = taken.values['--conflist']
  if (!file) return fail('--conflist FILE is required with --conf-dir')
  const confDir = taken.values['--conf-dir'] ?? DEFAULT_INSTALL_CONF_DIR
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    return fail(`--conflist: cannot read ${file}: ${(err as { code?: string }).code ?? String(err)}`, 1)
  }
  const problem = conflistProblem(text)
  if (problem) return fail(`--conflist ${file}: ${problem}`, 1)
  const installed = await runInstall(taken.rest, io)
  if (installed.exitCode !== 0) return installed
  const target = join(confDir, basename(file))
  const wrote = await writeConfigAtomically(confDir, target, text)
  return { ...installed, stdout: `${installed.stdout}${wrote ? `wrote ${target} (atomically)` : `${target} is already this config`}\n` }
}

/** Why `text` is not a network config list a runtime would load, or undefined. */
export function conflistProblem(text: string): string | undefined {
  let value: unknown
  try {
    value = parseJson(text)
  } catch (err) {
    return `not JSON: ${err instanceof Error ? err.message : String(err)}`
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a config list is a JSON object'
  const list = value as { name?: unknown; cniVersion?: unknown; plugins?: unknown }
  if (typeof list.name !== 'string' || list.name === '') return 'field "name" must be a non-empty string'
  if (typeof list.cniVersion !== 'string') return 'field "cniVersion" must be a string'
  if (!Array.isArray(list.plugins) || list.plugins.length === 0) return 'field "plugins" must be a non-empty list'
  for (const [i, p] of list.plugins.entries()) {
    if (typeof p !== 'object' || p === null || typeof (p as { type?: unknown }).type !== 'string') return `plugins[${i}].type must be a string`
  }
  return undefined
}

/** Writes `target` in `dir` by temp file, fsync and rename (both in `dir`); false when it already holds `text`. */
export async function writeConfigAtomically(dir: string, target: string, text: string): Promise<boolean> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 })
  try {
    if ((await fs.readFile(target, 'utf8')) === text) return false
  } catch {
    // absent: write it
  }
  // A leading dot and a suffix after the extension: libcni loads only *.conf, *.conflist and *.json, so a runtime
  // scanning the dir never picks the temporary file up.
  const tmp = join(dir, `.${basename(target)}.tmp-${randomBytes(8).toString('hex')}`)
  try {
    const handle = await fs.open(tmp, 'wx', 0o644)
    try {
      await handle.writeFile(text)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await fs.rename(tmp, target)
  } catch (err) {
    await fs.rm(tmp, { force: true })
    throw err
  }
  // The rename itself is durable only once the directory is flushed (a crash must not bring back the old name).
  const dirHandle = await fs.open(dir, 'r')
  try {
    await dirHandle.sync()
  } finally {
    await dirHandle.close()
  }
  return true
}
