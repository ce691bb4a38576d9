// The node readiness file: written by the node agent (`tscni node run`) once its conflist, routes and rules are in
// place, read by the bridge's STATUS (`readinessFile` in its config) and by `tscni node status`. It holds the
// kernel's boot id, so a file left from before a reboot (when no route exists yet) does not count as ready.
import { promises as fs } from 'node:fs'

const BOOT_ID = '/proc/sys/kernel/random/boot_id'

/** This boot's id (random per boot, from the kernel). */
export async function bootId(): Promise<string> {
  return (await fs.readFile(BOOT_ID, 'utf8')).trim()
}

/** Why the readiness file does not say "ready now", or undefined when it does. */
export async function readyFileProblem(path: string): Promise<string | undefined> {
  let text: string
  try {
    text = await fs.readFile(path, 'utf8')
  } catch (err) {
    const code = (err as { code?: string }).code
    return code === 'ENOENT' ? `the node agent has not made this node's network ready yet (no ${path})` : `cannot read the readiness file ${path}: ${code ?? String(err)}`
  }
  const current = await bootId()
  return text.trim() === current ? undefined : `the readiness file ${path} was written before the last reboot; the node agent has not made the network ready since`
}
