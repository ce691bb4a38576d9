// The node agent's thin side-effect layer: reads the uplink and what the kernel holds, applies a reconcile as
// one `ip -batch` and one `bridge -batch`, and installs or removes the node's firewall rules.
import { locked, nodeLock } from '../firewall/lock.ts'
import { parseCidr } from '../plugin/addr.ts'
import type { System } from '../system/index.ts'
import { iptablesFilterScript, iptablesNatScript, iptablesRemoveScript, nftRemoveScript, nftScript, type FirewallScope, type NodeFirewallBackend, type RuleFamily } from './firewall-rules.ts'
import type { DataPlane, Uplink } from './plan.ts'
import { reconcile, type Changes } from './reconcile.ts'

/** The uplink: the named interface, or the one the default route leaves by; its first IPv4 address. */
export async function findUplink(sys: System, iface: string | undefined, publicIp: string | undefined): Promise<Uplink> {
  const name = iface ?? (await sys.ip.routeDev('1.1.1.1'))
  if (!name) throw new Error('no --iface given and no default route to find the uplink by')
  const [link] = await sys.ip.links({ dev: name })
  if (!link) throw new Error(`uplink ${name} does not exist`)
  const v4 = link.addrs.filter((a) => a.family === 'inet' && a.scope === 'global')
  const addr = publicIp ? v4.find((a) => a.local === publicIp) : v4[0]
  if (!addr) throw new Error(publicIp ? `uplink ${name} does not have the address ${publicIp}` : `uplink ${name} has no IPv4 address`)
  // The PublicIPv6: the first global IPv6 address that is usable now (not tentative or failed DAD).
  const v6 = link.addrs.find((a) => a.family === 'inet6' && a.scope === 'global' && !a.tentative && !a.dadfailed)
  const address6 = v6 ? parseCidr(`${v6.local}/${v6.prefixlen}`) : undefined
  return { name, mtu: link.mtu, address: parseCidr(`${addr.local}/${addr.prefixlen}`)!, ...(address6 ? { address6 } : {}) }
}

/** Reads what reconcile compares, then applies the difference. Returns the changes made. */
export async function applyDataPlane(sys: System, want: DataPlane): Promise<Changes> {
  const dev = want.vxlan?.name
  // All four reads at once (a missing device reads as no entries): each is a process, and at a thousand peers
  // every stage in sequence added tens of milliseconds to a new peer's way into the kernel.
  const [routes, links, neighbours, fdb] = await Promise.all([sys.ip.routes(), sys.ip.links(), dev ? sys.ip.neighbours(dev) : [], dev ? sys.ip.fdbEntries(dev) : []])
  const changes = reconcile(want, { routes, links, neighbours, fdb })
  // -force: one failing line (a route someone removed meanwhile) must not keep the rest from being applied.
  const ipBatch = changes.ip.length > 0 ? sys.ip.batch(changes.ip, { force: true }) : undefined
  // FDB entries need the device: after the ip batch when it makes or changes links, else beside it.
  if (changes.ip.some((op) => op.op === 'vxlan-add' || op.op === 'link-del' || op.op === 'link-set')) await ipBatch
  await Promise.all([ipBatch, changes.fdb.length > 0 ? sys.ip.fdb(changes.fdb) : undefined])
  return changes
}

/** The backend to use: the configured one, else iptables when usable, else nftables. */
export async function pickFirewall(sys: System, configured: NodeFirewallBackend | undefined): Promise<NodeFirewallBackend> {
  if (configured) return configured
  if (await sys.netfilter.iptablesUsable(4)) return 'iptables'
  if (await sys.netfilter.nftUsable()) return 'nftables'
  throw new Error('no usable firewall: neither iptables nor nft works here')
}

/** The firewall's scope per family: the IPv4 one, the IPv6 one, or both (dual-stack). */
export type FirewallScopes = Partial<Record<RuleFamily, FirewallScope>>

/**
 * Installs the masquerade in the chosen backend (and removes the node's masquerade from the other one), and
 * accepts forwarding for the cluster CIDR in iptables FORWARD whenever iptables is usable; per family in scope
 * (ip6tables and an `ip6` nft table for IPv6). The whole read, render and apply holds the firewall lock, as the
 * plugins' firewall changes do, so a pod's ADD never interleaves with the node's rules.
 */
export async function applyFirewall(sys: System, backend: NodeFirewallBackend, scopes: FirewallScopes): Promise<void> {
  const families = ([4, 6] as const).filter((f) => scopes[f] !== undefined)
  await locked(nodeLock(sys.locker), async () => {
    if (backend === 'nftables') await sys.netfilter.nftApply(families.map((f) => nftScript(scopes[f]!, f)).join(''))
    else if (await sys.netfilter.nftUsable()) await sys.netfilter.nftApply(families.map((f) => nftRemoveScript(f)).join(''))
    for (const f of families) {
      const scope = scopes[f]!
      const iptables = await sys.netfilter.iptablesUsable(f)
      if (backend === 'iptables') {
        await sys.netfilter.restore(f, iptablesNatScript(scope, await sys.netfilter.save(f, 'nat'), f))
      } else if (iptables) {
        const remove = iptablesRemoveScript('nat', await sys.netfilter.save(f, 'nat'))
        if (remove) await sys.netfilter.restore(f, remove)
      }
      if (iptables) await sys.netfilter.restore(f, iptablesFilterScript(scope, await sys.netfilter.save(f, 'filter')))
    }
  })
}

/** Removes the node's rules of both families from both backends (whichever are usable), holding the lock. */
export async function removeFirewall(sys: System): Promise<void> {
  await locked(nodeLock(sys.locker), async () => {
    for (const f of [4, 6] as const) {
      if (!(await sys.netfilter.iptablesUsable(f))) continue
      for (const table of ['nat', 'filter'] as const) {
        const script = iptablesRemoveScript(table, await sys.netfilter.save(f, table))
        if (script) await sys.netfilter.restore(f, script)
      }
    }
    if (await sys.netfilter.nftUsable()) await sys.netfilter.nftApply(nftRemoveScript(4) + nftRemoveScript(6))
  })
}

/** Forwarding on for every family the cluster uses (IPv4's is turned on by the callers before anything else). */
export async function ensureForwarding(sys: System, ipv6: boolean): Promise<void> {
  // all/forwarding makes the node a router for IPv6 (RFC 4861 6.2.1): it then ignores router advertisements
  // unless accept_ra is 2, which an underlay configured by SLAAC needs (see README "One pod network across nodes").
  if (ipv6) await sys.sysctl.ensure('net/ipv6/conf/all/forwarding', '1')
}
