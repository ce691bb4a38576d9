// tuning's backup files: `<dataDir>/<containerID>_<ifname>.json`, the reference's name and fields, so a node can
// switch implementations between ADD and DEL and either restores the other's originals.
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseJson } from '../decode/go-json.ts'
import { fileError } from '../plugin/errors.ts'
import { hasErrno } from '../plugin/fs-errors.ts'
import type { TuningBackup } from './plan.ts'

/** The backup file of one attachment. */
export function backupFile(dataDir: string, containerId: string, ifname: string): string {
  return join(dataDir, `${containerId}_${ifname}.json`)
}

/** Writes the backup atomically (a temporary file renamed over the name). */
export function writeBackup(file: string, backup: TuningBackup): void {
  const tmp = `${file}.tmp`
  try {
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 })
    writeFileSync(tmp, JSON.stringify(backup, null, 1), { mode: 0o600 })
    renameSync(tmp, file)
  } catch (err) {
    throw fileError(`failed to write the tuning backup ${file}`, file, err)
  }
}

/** The backup; undefined when there is none, or it is not a JSON object (then there is nothing to restore). */
export function readBackup(file: string): TuningBackup | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if (hasErrno(err, 'ENOENT')) return undefined
    throw fileError(`failed to read the tuning backup ${file}`, file, err)
  }
  try {
    const doc = parseJson(text)
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined
    const d = doc as Record<string, unknown>
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
    const num = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : undefined)
    const bool = (v: unknown) => (typeof v === 'boolean' ? v : undefined)
    const sysctl = typeof d.sysctl === 'object' && d.sysctl !== null && !Array.isArray(d.sysctl)
      ? Object.fromEntries(Object.entries(d.sysctl as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0].startsWith('net/') && !e[0].split('/').includes('..')))
      : undefined
    const mac = str(d.mac)
    const b: TuningBackup = { mac: mac && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) ? mac : undefined, promisc: bool(d.promisc), mtu: num(d.mtu), allmulti: bool(d.allmulti), txQLen: num(d.txQLen), sysctl }
    for (const k of Object.keys(b) as Array<keyof TuningBackup>) if (b[k] === undefined) delete b[k]
    return b
  } catch {
    return undefined // the reference ignores a backup it cannot parse too
  }
}

/** Removes the backup; a missing one is fine. */
export function removeBackup(file: string): void {
  try {
    unlinkSync(file)
  } catch (err) {
    if (!hasErrno(err, 'ENOENT')) throw fileError(`failed to remove the tuning backup ${file}`, file, err)
  }
}
