// The names the DNS role publishes, read back from its hosts files for `tscni ls` (read-only, no lock).
import { readdirSync, readFileSync } from 'node:fs'
import { DEFAULT_DATA_DIR } from '../dns/config.ts'
import { networkPaths } from '../dns/plan.ts'

/** One published address with its names (bare, without the domain). */
export interface DnsEntry {
  readonly attachment: string
  readonly address: string
  readonly names: readonly string[]
}

/** The DNS data dir `ls` reads by default. */
export const DEFAULT_DNS_DIR = DEFAULT_DATA_DIR

/** Every network with a DNS directory under `dnsDir`, with its entries; empty when there is none. */
export function readDnsNames(dnsDir: string): Map<string, DnsEntry[]> {
  const out = new Map<string, DnsEntry[]>()
  let networks: string[]
  try {
    networks = readdirSync(dnsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  } catch {
    return out
  }
  for (const network of networks) {
    const { hostsDir } = networkPaths(dnsDir, network)
    const entries: DnsEntry[] = []
    let files: string[] = []
    try {
      files = readdirSync(hostsDir).sort()
    } catch {
      continue
    }
    for (const file of files) {
      let text = ''
      try {
        text = readFileSync(`${hostsDir}/${file}`, 'utf8')
      } catch {
        continue
      }
      for (const line of text.split('\n')) {
        const [address, ...fields] = line.trim().split(/\s+/)
        if (!address || address.startsWith('#')) continue
        // Each name is written qualified, then bare (dns/plan.ts hostsFile): keep every second field. A bare name
        // may hold a dot itself (a Kubernetes pod's `<pod>.<namespace>`), so the dot cannot tell them apart.
        entries.push({ attachment: file, address, names: fields.filter((_f, i) => i % 2 === 1) })
      }
    }
    out.set(network, entries)
  }
  return out
}
