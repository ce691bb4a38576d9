// The internal result model (spec 1.1 shape) shared by every role; version-specific shapes live in version.ts.

/** An interface entry of a result (spec 1.1; `mtu`, `socketPath`, `pciID` are 1.1-only). */
export interface ResultInterface {
  name: string
  mac?: string
  mtu?: number
  sandbox?: string
  socketPath?: string
  pciID?: string
}

/** An address entry: `address` is "ip/prefix", `interface` an index into `interfaces`. */
export interface ResultIp {
  address: string
  gateway?: string
  interface?: number
}

/** A route entry (`mtu`, `advmss`, `priority`, `table`, `scope` are 1.1-only). */
export interface ResultRoute {
  dst: string
  gw?: string
  mtu?: number
  advmss?: number
  priority?: number
  table?: number
  scope?: number
}

/** DNS block of a result. */
export interface ResultDns {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

/** A result in the internal (1.1) shape. `cniVersion` records the version it was read from or will be written in. */
export interface Result {
  cniVersion: string
  interfaces?: ResultInterface[]
  ips?: ResultIp[]
  routes?: ResultRoute[]
  dns?: ResultDns
}

/** True when the DNS block has no field set (such a block is dropped from 1.x output). */
export function isEmptyDns(dns: ResultDns | undefined): boolean {
  if (!dns) return true
  return !dns.nameservers?.length && !dns.domain && !dns.search?.length && !dns.options?.length
}
