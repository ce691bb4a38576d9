// What a node lease is once read and checked, and one key and value as read from the store: the types leases.ts
// produces and lease-trust.ts and the planner consume (their own module, so none of them imports another's types).
import type { IpNet } from '../plugin/addr.ts'
import type { BackendType } from './cluster-config.ts'

/** A checked lease: one node's subnet and how to reach it. */
export interface Lease {
  /** The key suffix, e.g. "10.77.1.0-24". */
  readonly key: string
  readonly subnet: IpNet
  readonly publicIp: string
  readonly backendType: BackendType
  /** vxlan only: the node's VTEP MAC. */
  readonly vtepMac?: string
  /** Dual-stack: the node's IPv6 subnet (in an IPv6-only cluster `subnet` is the IPv6 one). */
  readonly subnet6?: IpNet
  /** The node's IPv6 address on the underlay, where it has one (host-gw's IPv6 next hop). */
  readonly publicIpv6?: string
}

/** One key and value as read from the store. */
export interface StoreEntry {
  /** The full key, prefix included. */
  readonly key: string
  readonly value: string
  /** The value's size when it was over the store's limit (etcd-wire.ts MAX_VALUE_BYTES): cut, never parsed. */
  readonly oversize?: number
}
