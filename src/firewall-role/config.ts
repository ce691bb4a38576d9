// The firewall role's config (plugins/meta/firewall of containernetworking/plugins): backend, admin chain, firewalld
// zone and ingress policy, validated and defaulted (pure).
import * as z from 'zod/mini'
import { goField } from '../decode/go-json.ts'
import { CHAIN_NAME } from '../firewall/forward-names.ts'
import { parseConfigPart } from '../plugin/config.ts'

/** The options as accepted on stdin (docs/configuration.md is checked against it). */
export const firewallConfigSchema = z.object({
  // "" is the reference's automatic choice (podman 4 writes it).
  backend: z.optional(z.enum(['', 'iptables', 'nftables', 'firewalld'], 'backend must be "iptables", "nftables", "firewalld" or empty')),
  iptablesAdminChainName: z.optional(z.string().check(z.refine((c) => c === '' || CHAIN_NAME.test(c),
    'iptablesAdminChainName must be an iptables chain name (letters, digits, _ . : -, at most 28)'))),
  firewalldZone: z.optional(z.string('firewalldZone must be a string')),
  ingressPolicy: z.optional(z.enum(['', 'open', 'same-bridge', 'isolated'], 'unknown ingress policy: ingressPolicy must be "open", "same-bridge" or "isolated"')),
  stateDir: z.optional(z.string('stateDir must be a directory path')),
})

/** The options after defaults. */
export interface FirewallConfig {
  /** undefined = automatic (firewalld if it runs, which tscni refuses; else the other roles' choice). */
  readonly backend?: 'iptables' | 'nftables' | 'firewalld'
  readonly adminChain: string
  readonly firewalldZone: string
  readonly ingressPolicy: 'open' | 'same-bridge' | 'isolated'
  readonly prevResult: unknown
}

/** Parses the options from the whole plugin config object. */
export function parseFirewallConfig(raw: Readonly<Record<string, unknown>>): FirewallConfig {
  const parsed = parseConfigPart(firewallConfigSchema, raw, '')
  return {
    ...(parsed.backend ? { backend: parsed.backend } : {}),
    adminChain: parsed.iptablesAdminChainName || 'CNI-ADMIN',
    firewalldZone: parsed.firewalldZone || 'trusted',
    ingressPolicy: parsed.ingressPolicy || 'open',
    prevResult: goField(raw, 'prevResult'),
  }
}
