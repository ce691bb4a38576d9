// The reconcile diff: what to change so the kernel holds exactly the planned data plane. Only objects that are
// ours are ever removed: routes carrying our `proto`, and VXLAN devices named tscni.* (with their neighbour and
// FDB entries). Pure; apply.ts reads the kernel and runs the result as one ip batch and one bridge batch.
import type { FdbOp, FdbRecord, IpLink, IpNeighbour, IpOp, IpRoute } from '../system/index.ts'
import { ROUTE_PROTO, type DataPlane, type VxlanDevice } from './plan.ts'

/** What the kernel holds that reconcile compares with the plan. */
export interface Observed {
  /** Every route of the main table (others are filtered here, so callers may pass `table all`). */
  readonly routes: readonly IpRoute[]
  /** Every link (only VXLAN devices named tscni.* are looked at). */
  readonly links: readonly IpLink[]
  /** The neighbour entries of the planned VXLAN device (empty when it does not exist). */
  readonly neighbours: readonly IpNeighbour[]
  /** The FDB entries of the planned VXLAN device. */
  readonly fdb: readonly FdbRecord[]
}

/** The changes, in the order they must run. */
export interface Changes {
  readonly ip: readonly IpOp[]
  readonly fdb: readonly FdbOp[]
  /** Planned routes left out because a route that is not ours holds their destination. */
  readonly warnings?: readonly string[]
}

/** True when the link is a VXLAN device the node agent owns. */
export function isOurVxlan(link: IpLink): boolean {
  return link.kind === 'vxlan' && /^tscni\.\d+$/.test(link.ifname)
}

/** True when the route carries our tag and lives in the main table. */
export function isOurRoute(r: IpRoute): boolean {
  return r.protocol === String(ROUTE_PROTO) && (r.table === undefined || r.table === 'main') && r.type === undefined
}

function deviceMatches(link: IpLink, want: VxlanDevice): boolean {
  const v = link.vxlan ?? {}
  return v.id === want.vni && v.local === want.local && v.link === want.dev && v.port === want.port && v.learning === false
}

/** The changes that turn `observed` into `want`. An empty plan (no peers, no device) removes everything of ours. */
export function reconcile(want: DataPlane, observed: Observed): Changes {
  const ip: IpOp[] = []
  const fdb: FdbOp[] = []
  const ours = observed.links.filter(isOurVxlan)
  const device = want.vxlan
  const existing = device ? ours.find((l) => l.ifname === device.name) : undefined
  // Deleting a device takes its routes, neighbours and FDB entries with it: those are then absent, not removable.
  const gone = new Set(ours.filter((l) => l !== existing).map((l) => l.ifname))
  let fresh = false
  if (existing && device && !deviceMatches(existing, device)) gone.add(existing.ifname)
  for (const name of gone) ip.push({ op: 'link-del', name })

  if (device) {
    fresh = !existing || gone.has(existing.ifname)
    if (fresh) ip.push({ op: 'vxlan-add', name: device.name, vni: device.vni, local: device.local, dev: device.dev, port: device.port })
    if (fresh || existing!.address !== device.mac || existing!.mtu !== device.mtu || !existing!.flags.includes('UP')) {
      ip.push({ op: 'link-set', name: device.name, address: device.mac, mtu: device.mtu, up: true })
    }
    // IPv6 link-local addresses are the kernel's own (every device gets one): never ours to remove.
    const addrs = fresh ? [] : existing!.addrs.filter((a) => a.family === 'inet' || (a.family === 'inet6' && a.scope !== 'link')).map((a) => `${a.local}/${a.prefixlen}`)
    const wanted = device.address6 ? [device.address, device.address6] : [device.address]
    for (const cidr of wanted) {
      // nodad: the address is this node's alone (its own subnet), and a tentative one could not be a source yet.
      if (!addrs.includes(cidr)) ip.push({ op: 'addr-add', cidr, dev: device.name, ...(cidr.includes(':') ? { nodad: true } : {}) })
    }
    for (const a of addrs) if (!wanted.includes(a)) ip.push({ op: 'addr-del', cidr: a, dev: device.name })
  }

  const onDevice = !device || fresh ? { neighbours: [], fdb: [] } : { neighbours: observed.neighbours, fdb: observed.fdb }
  const permanent = onDevice.neighbours.filter((n) => n.state.includes('PERMANENT'))
  // Lookups by key, not by scanning: with a thousand peers a scan per wanted entry is a million comparisons a pass.
  const havePermanent = new Set(permanent.map((o) => `${o.dst} ${o.lladdr}`))
  for (const n of want.neighbours) {
    if (!havePermanent.has(`${n.ip} ${n.mac}`)) ip.push({ op: 'neigh-replace', ip: n.ip, mac: n.mac, dev: n.dev })
  }

  const routes = observed.routes.filter((r) => isOurRoute(r) && !(r.dev !== undefined && gone.has(r.dev)) && !(fresh && r.dev === device?.name))
  // A destination held by a route that is not ours (the host's LAN, an operator's route) is never replaced:
  // `ip route replace` would overwrite it (a peer claiming the LAN's prefix would take the node's LAN traffic).
  const foreign = new Set(observed.routes.filter((r) => !isOurRoute(r) && (r.table === undefined || r.table === 'main') && r.type === undefined).map((r) => r.dst))
  const warnings: string[] = []
  const haveRoutes = new Set(routes.map((o) => `${o.dst} ${o.gateway} ${o.dev}`))
  const wantDsts = new Set(want.routes.map((r) => r.dst))
  for (const r of want.routes) {
    if (foreign.has(r.dst) || foreign.has(r.dst.replace(/\/32$/, ''))) {
      warnings.push(`skipping the route to ${r.dst}: a route that is not the agent's (not proto ${ROUTE_PROTO}) holds that destination`)
      continue
    }
    if (!haveRoutes.has(`${r.dst} ${r.gw} ${r.dev}`)) {
      ip.push({ op: 'route-replace', route: { dst: r.dst, gw: r.gw, dev: r.dev, onlink: r.onlink, proto: ROUTE_PROTO } })
    }
  }
  for (const o of routes) {
    // A replaced route has the same destination: deleting the old one would delete the new one.
    if (!wantDsts.has(o.dst)) {
      ip.push({ op: 'route-del', route: { dst: o.dst, ...(o.gateway ? { gw: o.gateway } : {}), ...(o.dev ? { dev: o.dev } : {}), proto: ROUTE_PROTO } })
    }
  }
  if (device) {
    const wantNeighbours = new Set(want.neighbours.map((n) => n.ip))
    for (const o of permanent) {
      if (!wantNeighbours.has(o.dst)) ip.push({ op: 'neigh-del', ip: o.dst, dev: device.name })
    }
    const entries = onDevice.fdb.filter((e): e is FdbRecord & { dst: string } => e.dst !== undefined)
    const haveFdb = new Set(entries.map((o) => `${o.mac} ${o.dst}`))
    const wantMacs = new Set(want.fdb.map((e) => e.mac))
    for (const e of want.fdb) {
      if (!haveFdb.has(`${e.mac} ${e.dst}`)) fdb.push({ op: 'fdb-replace', mac: e.mac, dev: e.dev, dst: e.dst })
    }
    for (const o of entries) {
      // A wanted MAC with another address is rewritten in place by `fdb replace` above; deleting it would fail.
      if (!wantMacs.has(o.mac)) fdb.push({ op: 'fdb-del', mac: o.mac, dev: device.name, dst: o.dst })
    }
  }
  return warnings.length > 0 ? { ip, fdb, warnings } : { ip, fdb }
}
