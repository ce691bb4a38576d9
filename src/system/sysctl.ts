// Sysctls and link attributes: host values by direct /proc/sys and /sys/class/net file access (no process);
// synchronous calls: a few bytes each, cheaper than a thread-pool round trip. Container values as a shell fragment that runs inside the namespace in the same process as its `ip -batch`.
import { readFileSync, writeFileSync } from 'node:fs'

/** One sysctl write, key in slash form ("net/ipv6/conf/eth0/accept_dad"). */
export interface SysctlWrite {
  readonly key: string
  readonly value: string
  /** Ignore a failed write (the reference ignores accept_dad and arp_notify failures). */
  readonly optional?: boolean
}

/** Host-side sysctls and link attributes of the namespace this process runs in. */
export interface Sysctl {
  /** The value with surrounding whitespace trimmed; undefined when the key does not exist. */
  get(key: string): Promise<string | undefined>
  /** Writes the value; throws when the key is missing or the write is refused. */
  set(key: string, value: string): Promise<void>
  /** Writes the value only when it differs (for ip_forward: avoid needless writes and their side effects). */
  ensure(key: string, value: string): Promise<void>
  /** A /sys/class/net/<ifname>/<attr> value (operstate, addr_assign_type, ...); undefined when absent. */
  linkAttr(ifname: string, attr: string): Promise<string | undefined>
}

/** The real host sysctls. */
export function createSysctl(): Sysctl {
  const get = async (key: string): Promise<string | undefined> => {
    try {
      return readFileSync(sysctlPath(key), 'utf8').trim()
    } catch {
      return undefined
    }
  }
  const set = async (key: string, value: string): Promise<void> => {
    writeFileSync(sysctlPath(key), value)
  }
  return {
    get,
    set,
    async ensure(key, value) {
      if ((await get(key)) !== value) await set(key, value)
    },
    async linkAttr(ifname, attr) {
      try {
        return readFileSync(`/sys/class/net/${ifname}/${attr}`, 'utf8').trim()
      } catch {
        return undefined
      }
    },
  }
}

/** /proc/sys path of a slash-form key. Dots stay as they are: interface names may contain them. */
export function sysctlPath(key: string): string {
  return `/proc/sys/${key.replace(/^\/+/, '')}`
}

/**
 * A POSIX sh fragment performing the writes, for `sh -c` inside a namespace. Values and paths are passed as
 * positional parameters starting at `$firstArg`, never spliced into the script, so interface names cannot
 * inject shell syntax. Returns the script and its arguments; a required write that fails exits with status 97.
 */
export function sysctlScript(writes: readonly SysctlWrite[], firstArg = 1): { script: string; args: string[] } {
  const lines: string[] = []
  const args: string[] = []
  let n = firstArg
  for (const w of writes) {
    const p = `\${${n}}`
    const v = `\${${n + 1}}`
    args.push(sysctlPath(w.key), w.value)
    n += 2
    lines.push(w.optional
      ? `echo "${v}" 2>/dev/null >"${p}" || true`
      : `echo "${v}" 2>/dev/null >"${p}" || { echo "cannot write ${v} to ${p}" >&2; exit 97; }`)
  }
  return { script: lines.join('\n'), args }
}

/**
 * A POSIX sh fragment printing one line per key, "=<value>" or "!" when the key cannot be read, in order; paths
 * are positional parameters starting at `$firstArg`, as in `sysctlScript`.
 */
export function sysctlReadScript(keys: readonly string[], firstArg = 1): { script: string; args: string[] } {
  const lines = keys.map((_key, i) => `if v=$(cat "\${${firstArg + i}}" 2>/dev/null); then printf '=%s\\n' "$v"; else echo '!'; fi`)
  return { script: lines.join('\n'), args: keys.map(sysctlPath) }
}
