// What this host has that a cluster config must not collide with (its addresses, the routes that are not the
// agent's, the etcd endpoints), read once at start-up for config-trust.ts.
import type { System } from '../system/index.ts'
import type { HostFacts } from './config-trust.ts'
import type { NodeOptions } from './options.ts'
import { isOurRoute } from './reconcile.ts'

/** The agent's own devices (its bridge and VXLAN devices): their addresses and routes lie in the pod network by design. */
function isAgentDevice(name: string | undefined, options: NodeOptions): boolean {
  return name !== undefined && (name === options.bridge || /^tscni\.\d+$/.test(name))
}

export async function hostFacts(sys: System, options: NodeOptions): Promise<HostFacts> {
  const [links, routes] = await Promise.all([sys.ip.links(), sys.ip.routes()])
  return {
    addresses: links.filter((l) => !isAgentDevice(l.ifname, options)).flatMap((l) => l.addrs.map((a) => `${a.local}/${a.prefixlen}`)),
    foreignRoutes: routes
      .filter((r) => (r.table === undefined || r.table === 'main') && r.type === undefined && !isOurRoute(r) && !isAgentDevice(r.dev, options))
      .map((r) => r.dst),
    etcdHosts: options.endpoints.map((e) => new URL(e).hostname),
  }
}
