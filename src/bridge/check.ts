// Pure CHECK comparison: what `ip -j` shows in the host and the container against prevResult, as a list of
// differences, each naming the object and both values.
import { canonicalIpText, parseCidr } from '../plugin/addr.ts'
import type { Result, ResultInterface } from '../plugin/result.ts'
import type { IpLink, IpRoute } from '../system/index.ts'
import type { BridgeConfig } from './config.ts'

/** What CHECK observed. */
export interface Observed {
  /** Every link of the host namespace. */
  readonly hostLinks: readonly IpLink[]
  /** The container interface (empty when missing). */
  readonly containerLinks: readonly IpLink[]
  /** Every route of the container namespace, all tables. */
  readonly containerRoutes: readonly IpRoute[]
}

/** The interfaces of prevResult that CHECK needs, or the problem finding them. */
export function findPrevInterfaces(config: BridgeConfig, ifname: string, netns: string, prev: Result): { bridge?: ResultInterface; container?: ResultInterface; problems: string[] } {
  const interfaces = prev.interfaces ?? []
  const bridge = interfaces.find((i) => i.name === config.bridge)
  const named = interfaces.filter((i) => i.name === ifname)
  const container = named.find((i) => i.sandbox === netns)
  const problems: string[] = []
  if (!bridge) problems.push(`prevResult lists no interface for bridge ${config.bridge}`)
  if (!container) {
    problems.push(named.length > 0 && named[0]!.sandbox !== undefined
      ? `Sandbox in prevResult ${named[0]!.sandbox} doesn't match configured netns: ${netns}`
      : `prevResult lists no interface ${ifname} in sandbox ${netns}`)
  }
  return { ...(bridge ? { bridge } : {}), ...(container ? { container } : {}), problems }
}

/** Every difference between the observed state and prevResult; empty when CHECK passes. */
export function compareState(config: BridgeConfig, ifname: string, netns: string, prev: Result, seen: Observed): string[] {
  const found = findPrevInterfaces(config, ifname, netns, prev)
  const problems = [...found.problems]
  if (!found.bridge || !found.container) return problems
  const br = seen.hostLinks.find((l) => l.ifname === config.bridge)
  if (!br) return [...problems, `CNI created bridge ${config.bridge} in host namespace was not found`]
  if (br.kind !== 'bridge') problems.push(`Interface ${config.bridge} does not have link type of bridge (it is ${br.kind ?? 'unknown'})`)
  if (found.bridge.sandbox) problems.push(`Interface ${config.bridge} should not be in sandbox (prevResult says ${found.bridge.sandbox})`)
  if (found.bridge.mac && !sameMac(found.bridge.mac, br.address)) problems.push(`Bridge interface ${config.bridge} Mac doesn't match: prevResult ${found.bridge.mac}, found ${br.address}`)
  const promisc = br.flags.includes('PROMISC')
  if (promisc !== config.promiscMode) problems.push(`Bridge interface ${config.bridge} configured Promisc Mode ${config.promiscMode} doesn't match current state: ${promisc}`)

  const cont = seen.containerLinks.find((l) => l.ifname === ifname)
  if (!cont) return [...problems, `CNI created interface in container ${ifname} not found`]
  if (cont.kind !== 'veth') problems.push(`Error: Container interface ${ifname} not of type veth (it is ${cont.kind ?? 'unknown'})`)
  if (found.container.mac && !sameMac(found.container.mac, cont.address)) problems.push(`Interface ${ifname} Mac ${found.container.mac} doesn't match container Mac: ${cont.address}`)

  problems.push(...checkHostVeth(config, prev, found.container, br, cont, seen.hostLinks))
  problems.push(...checkAddresses(prev, found.container, ifname, cont))
  problems.push(...checkRoutes(prev, seen.containerRoutes))
  return problems
}

function checkHostVeth(config: BridgeConfig, prev: Result, container: ResultInterface, br: IpLink, cont: IpLink, hostLinks: readonly IpLink[]): string[] {
  for (const itf of prev.interfaces ?? []) {
    if (itf === container || itf.name === config.bridge) continue
    const link = hostLinks.find((l) => l.ifname === itf.name)
    // Not a veth peered with the container interface and enslaved to the bridge: not what this plugin created.
    if (!link || link.kind !== 'veth' || link.ifindex !== cont.linkIndex || link.linkIndex !== cont.ifindex || link.master !== br.ifname) continue
    if (itf.mac && !sameMac(itf.mac, link.address)) return [`Interface ${itf.name} Mac doesn't match: prevResult ${itf.mac}, found ${link.address}`]
    return []
  }
  return [`CNI veth created for bridge ${config.bridge} was not found`]
}

function checkAddresses(prev: Result, container: ResultInterface, ifname: string, cont: IpLink): string[] {
  const index = (prev.interfaces ?? []).indexOf(container)
  const have = new Set(cont.addrs.map((a) => `${canonicalIpText(a.local)}/${a.prefixlen}`))
  const problems: string[] = []
  for (const ip of prev.ips ?? []) {
    if (ip.interface !== undefined && ip.interface !== index) continue
    const net = parseCidr(ip.address)
    const want = net ? `${canonicalIpText(ip.address.split('/')[0]!)}/${net.prefix}` : ip.address
    if (!have.has(want)) problems.push(`Failed to match addr ${ip.address} on interface ${ifname} (it has ${[...have].join(', ') || 'no addresses'})`)
  }
  return problems
}

function checkRoutes(prev: Result, routes: readonly IpRoute[]): string[] {
  const problems: string[] = []
  for (const r of prev.routes ?? []) {
    const dst = normDst(r.dst)
    const match = routes.some((seen) => normDst(seen.dst, seen.gateway ? familyOf(seen.gateway) : familyOf(r.dst)) === dst &&
      (r.gw === undefined || (seen.gateway !== undefined && canonicalIpText(seen.gateway) === canonicalIpText(r.gw))) &&
      (r.table === undefined || seen.table === String(r.table)))
    if (!match) problems.push(`Expected Route ${r.dst}${r.gw ? ` via ${r.gw}` : ''} not found in routing table`)
  }
  return problems
}

function familyOf(dst: string): 4 | 6 {
  return dst.includes(':') ? 6 : 4
}

// ip -j shows a default route as "default" and a host route without "/32"; compare canonical prefixes.
function normDst(dst: string, family: 4 | 6 = familyOf(dst)): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0'
  const withPrefix = dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`
  const net = parseCidr(withPrefix)
  return net ? `${canonicalIpText(withPrefix.split('/')[0]!)}/${net.prefix}` : dst
}

function sameMac(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}
