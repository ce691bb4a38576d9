// Firewall intents that do not depend on the backend: what bridge (ipMasq) and portmap ask for, and who owns it.
import type { Ip, IpFamily, IpNet } from '../plugin/addr.ts'

/** The attachment that owns firewall objects. Backends derive names, comments and handles from it. */
export interface Owner {
  readonly network: string
  readonly containerId: string
  readonly ifname: string
}

/** Masquerade traffic from the container addresses to anything outside their subnets (bridge `ipMasq`). */
export interface MasqIntent {
  readonly kind: 'masquerade'
  readonly owner: Owner
  /** Container addresses with their prefix, e.g. 10.22.0.5/16. */
  readonly addresses: readonly IpNet[]
}

/** One published port. */
export interface PortMapping {
  readonly hostPort: number
  readonly containerPort: number
  readonly protocol: 'tcp' | 'udp' | 'sctp'
  /**
   * Host address to match; undefined for any. The unspecified addresses 0.0.0.0 and :: are accepted too and mean
   * any host address of that family only (the mapping is skipped for the other family), as in the reference.
   */
  readonly hostIp?: string
}

/** Host ports forwarded to a container (portmap). At least one of the container addresses is set. */
export interface PortmapIntent {
  readonly kind: 'portmap'
  readonly owner: Owner
  /** The container's IPv4 and IPv6 addresses with prefix (the first of each family on the container interface). */
  readonly containerV4?: IpNet
  readonly containerV6?: IpNet
  readonly mappings: readonly PortMapping[]
  /** Mark and masquerade hairpin and localhost traffic (default true). */
  readonly snat: boolean
  /** Masquerade from any source instead of only the container subnet and localhost. */
  readonly masqAll: boolean
  /**
   * The mark bit (default 13) set on hairpin and localhost traffic so that it is masqueraded: iptables sets it in
   * CNI-HOSTPORT-SETMARK and masquerades in CNI-HOSTPORT-MASQ, nftables in its mark-<bit> and postrouting chains.
   */
  readonly markMasqBit: number
  /** iptables only: an existing mark chain to jump to instead of CNI-HOSTPORT-SETMARK. */
  readonly externalSetMarkChain?: string
  /** Extra match tokens per family, in the backend's own syntax. */
  readonly conditionsV4?: readonly string[]
  readonly conditionsV6?: readonly string[]
}

/** The MAC spoof check on a host veth (bridge `macspoofchk`): only the container's MAC may come in from it. */
export interface SpoofCheck {
  readonly hostVeth: string
  readonly mac: string
  /** `<containerID>-<ifname>`, the reference's refID. */
  readonly refId: string
}

/** One gateway address and the subnet allowed to query it. */
export interface DnsAccessPair {
  readonly gateway: Ip
  readonly subnet: IpNet
}

/** DNS queries (udp and tcp port 53) from a network's subnets to its gateways, where its name server listens. */
export interface DnsAccess {
  readonly network: string
  /** Gateway and subnet of the same family; at least one. */
  readonly pairs: readonly DnsAccessPair[]
}

/**
 * Node-wide, no owner: packets to 127.0.0.0/8 that did not arrive on lo are dropped before NAT (raw priority), so
 * the route_localnet portmap sets exposes no host loopback service (CVE-2020-8558 class).
 */
export interface LocalnetDropIntent {
  readonly kind: 'localnet-drop'
}

/** The one loopback drop intent (iptables-localnet.ts and nft-localnet.ts render it). */
export const LOCALNET_DROP: LocalnetDropIntent = { kind: 'localnet-drop' }

/**
 * Forwarded traffic to and from container addresses accepted (the firewall role): the reference's CNI-FORWARD
 * rules in iptables (plugins/meta/firewall/iptables.go), tscni's own table in nftables.
 */
export interface ForwardAcceptIntent {
  readonly kind: 'forward-accept'
  readonly owner: Owner
  /** The container's addresses (matched as host addresses, /32 or /128). */
  readonly addresses: readonly IpNet[]
  /** iptables: the admin override chain jumped first from CNI-FORWARD (`iptablesAdminChainName`, default CNI-ADMIN). */
  readonly adminChain: string
}

/** Traffic between a bridge and other isolated bridges dropped (firewall `ingressPolicy`); `isolated` also within it. */
export interface IsolationIntent {
  readonly kind: 'isolation'
  readonly owner: Owner
  readonly bridge: string
  readonly policy: 'same-bridge' | 'isolated'
  /** The families of the container's addresses (the reference sets the chains up in those only). */
  readonly families: readonly IpFamily[]
}

/** Anything a backend can install. */
export type FirewallIntent = MasqIntent | PortmapIntent | LocalnetDropIntent | ForwardAcceptIntent | IsolationIntent

/** The intent kinds, for remove and gc, which work without the intent's details. */
export type IntentKind = FirewallIntent['kind']

/** The address families an intent holds addresses in (masquerade sources, portmap container addresses). */
export function intentFamilies(intent: FirewallIntent): IpFamily[] {
  if (intent.kind === 'localnet-drop') return [4] // route_localnet is IPv4 only; the kernel never routes ::1 in
  if (intent.kind === 'isolation') return ([4, 6] as const).filter((f) => intent.families.includes(f))
  const fams = intent.kind === 'masquerade' || intent.kind === 'forward-accept'
    ? intent.addresses.map((a) => a.ip.family)
    : [intent.containerV4 && 4, intent.containerV6 && 6].filter((f): f is IpFamily => f === 4 || f === 6)
  return ([4, 6] as const).filter((f) => fams.includes(f))
}

/** The families any of the intents holds addresses in. */
export function familiesOfIntents(intents: readonly FirewallIntent[]): IpFamily[] {
  return ([4, 6] as const).filter((f) => intents.some((i) => intentFamilies(i).includes(f)))
}
