// /proc/net/route (the IPv4 main routing table of this namespace) parsed, and its longest-prefix match (pure).
import { endianness } from 'node:os'

/** One up route of the main table. */
export interface ProcRoute {
  readonly dev: string
  /** Destination and mask as unsigned 32-bit numbers in network order (192.168.0.0 = 0xc0a80000). */
  readonly dst: number
  readonly mask: number
  readonly metric: number
}

const RTF_UP = 0x1

/**
 * Parses the file's text. Destination and mask are printed as the kernel's in-memory u32 (proc(5), fib_route_seq_show),
 * so on a little-endian host 192.168.0.0 reads 0000A8C0; `littleEndian` says how to swap them back.
 */
export function parseProcRoute(text: string, littleEndian = endianness() === 'LE'): ProcRoute[] {
  const out: ProcRoute[] = []
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 8) continue
    const flags = Number.parseInt(f[3]!, 16)
    if (!(flags & RTF_UP)) continue
    const word = (hex: string): number => {
      const n = Number.parseInt(hex, 16) >>> 0
      return littleEndian ? (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | (n >>> 24)) >>> 0 : n
    }
    out.push({ dev: f[0]!, dst: word(f[1]!), mask: word(f[7]!), metric: Number(f[6]) })
  }
  return out
}

/** The device of the longest matching route (lowest metric among equals); undefined when none matches. */
export function longestMatchDev(routes: readonly ProcRoute[], address: string): string | undefined {
  const parts = address.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined
  const ip = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
  let best: ProcRoute | undefined
  const len = (m: number): number => {
    let bits = 0
    for (let v = m >>> 0; v; v = (v & (v - 1)) >>> 0) bits++
    return bits
  }
  for (const r of routes) {
    if (((ip & r.mask) >>> 0) !== r.dst) continue
    if (!best || len(r.mask) > len(best.mask) || (len(r.mask) === len(best.mask) && r.metric < best.metric)) best = r
  }
  return best?.dev
}
