// Which addresses of a subnet this node's pods still hold, from host-local's reservations (one file per address
// under `<dataDir>/<network>/`, as the reference host-local keeps them): the agent must never hand such a subnet
// over silently, since those pods would keep addresses that then belong to another node.
import { promises as fs } from 'node:fs'
import { join } from 'node:path'
import { netContains, parseIp, type IpNet } from '../plugin/addr.ts'

/** host-local's default data dir (containernetworking/plugins plugins/ipam/host-local/backend/disk). */
export const HOST_LOCAL_DATA_DIR = '/var/lib/cni/networks'

/** The reserved addresses inside `subnet` (at most `max` of them); none when the directory does not exist. */
export async function podAddressesIn(dataDir: string | undefined, networkName: string, subnet: IpNet, max = 5): Promise<string[]> {
  let names: string[]
  try {
    names = await fs.readdir(join(dataDir ?? HOST_LOCAL_DATA_DIR, networkName))
  } catch {
    return []
  }
  const held: string[] = []
  for (const name of names) {
    const ip = parseIp(name)
    if (ip && netContains(subnet, ip)) held.push(name)
    if (held.length >= max) break
  }
  return held
}
