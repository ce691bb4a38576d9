// portmap's config: runtimeConfig.portMappings and the backend options, validated and defaulted (pure).
import * as z from 'zod/mini'
import type { BackendName } from '../firewall/backend.ts'
import type { PortMapping, PortmapIntent } from '../firewall/model.ts'
import { formatIp, parseIp } from '../plugin/addr.ts'
import { goField } from '../decode/go-json.ts'
import { parseConfigPart } from '../plugin/config.ts'
import { invalidConfig } from '../plugin/errors.ts'

/** portmap's options after validation: the intent's options, the backend wish and the raw prevResult. */
export type PortmapConfig = Pick<PortmapIntent, 'mappings' | 'snat' | 'masqAll' | 'markMasqBit' | 'externalSetMarkChain' | 'conditionsV4' | 'conditionsV6'> & {
  /** The backend the config asks for, explicitly or through backend-specific options; undefined = detect. */
  readonly backend?: BackendName
  /** prevResult as received (decoded by the handler in the config's version). */
  readonly prevResult: unknown
}

const port = (what: string) => z.number(`${what} must be a number`).check(z.int(`${what} must be a whole number`), z.minimum(1, `${what} must be 1-65535`), z.maximum(65535, `${what} must be 1-65535`))

const MappingSchema = z.object({
  hostPort: port('hostPort'),
  containerPort: port('containerPort'),
  // Kubernetes sends lowercase; nft rejects "TCP", so normalise and validate here (the reference passes anything).
  protocol: z.optional(z.string().check(z.refine((p) => ['tcp', 'udp', 'sctp'].includes(p.toLowerCase()), 'protocol must be tcp, udp or sctp'))),
  hostIP: z.optional(z.string().check(z.refine((ip) => ip === '' || parseIp(ip) !== undefined, 'hostIP must be an IP address'))),
})

// Conditions are spliced into iptables-restore and nft scripts: no line breaks, control characters or ';'.
const ConditionsSchema = z.optional(z.array(z.string().check(z.refine((c) => !/[;\p{Cc}]/u.test(c), 'conditions must not contain ";" or control characters'))))

/** The portmap options as accepted on stdin (docs/configuration.md is checked against it). */
export const portmapConfigSchema = z.object({
  snat: z.optional(z.boolean()),
  masqAll: z.optional(z.boolean()),
  markMasqBit: z.optional(z.number().check(z.int(), z.minimum(0, 'MasqMarkBit must be between 0 and 31'), z.maximum(31, 'MasqMarkBit must be between 0 and 31'))),
  externalSetMarkChain: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_.:-]{1,28}$/, 'externalSetMarkChain must be an iptables chain name (letters, digits, _ . : -, at most 28)'))),
  conditionsV4: ConditionsSchema,
  conditionsV6: ConditionsSchema,
  backend: z.optional(z.enum(['iptables', 'nftables'], 'backend must be "iptables" or "nftables"')),
  stateDir: z.optional(z.string('stateDir must be a directory path')),
  runtimeConfig: z.optional(z.looseObject({ portMappings: z.optional(z.nullable(z.array(MappingSchema))) })),
})

/** Parses the portmap options from the whole plugin config object. */
export function parsePortmapConfig(raw: Readonly<Record<string, unknown>>): PortmapConfig {
  const parsed = parseConfigPart(portmapConfigSchema, raw, '')
  if (parsed.externalSetMarkChain !== undefined && parsed.markMasqBit !== undefined) {
    throw invalidConfig('Cannot specify externalSetMarkChain and markMasqBit')
  }
  const backend = chooseBackend(parsed)
  const mappings = (parsed.runtimeConfig?.portMappings ?? []).map((m): PortMapping => {
    // 0.0.0.0 and :: stay: they mean "any host address of this family only" (the reference's golden case).
    const hostIp = m.hostIP ? parseIp(m.hostIP) : undefined
    return {
      hostPort: m.hostPort,
      containerPort: m.containerPort,
      protocol: (m.protocol ?? 'tcp').toLowerCase() as PortMapping['protocol'],
      ...(hostIp ? { hostIp: formatIp(hostIp) } : {}),
    }
  })
  return {
    mappings,
    snat: parsed.snat ?? true,
    masqAll: parsed.masqAll ?? false,
    markMasqBit: parsed.markMasqBit ?? 13,
    ...(parsed.externalSetMarkChain !== undefined ? { externalSetMarkChain: parsed.externalSetMarkChain } : {}),
    ...(parsed.conditionsV4 ? { conditionsV4: parsed.conditionsV4 } : {}),
    ...(parsed.conditionsV6 ? { conditionsV6: parsed.conditionsV6 } : {}),
    ...(backend ? { backend } : {}),
    prevResult: goField(raw, 'prevResult'),
  }
}

// Conditions whose first token starts with '-' or '!' are iptables matches, otherwise nft (the reference's rule).
function conditionsBackend(conditions: readonly string[] | undefined): BackendName | undefined {
  if (!conditions || conditions.length === 0) return undefined
  const first = conditions[0]!.trimStart()
  return first.startsWith('-') || first.startsWith('!') ? 'iptables' : 'nftables'
}

function chooseBackend(parsed: z.output<typeof portmapConfigSchema>): BackendName | undefined {
  const wants = new Map<string, BackendName>()
  if (parsed.externalSetMarkChain !== undefined) wants.set('externalSetMarkChain', 'iptables')
  for (const key of ['conditionsV4', 'conditionsV6'] as const) {
    const b = conditionsBackend(parsed[key])
    if (b) wants.set(key, b)
  }
  const requested = parsed.backend
  if (requested) {
    const offending = [...wants].filter(([, b]) => b !== requested).map(([k]) => k)
    if (offending.length > 0) {
      const other = requested === 'iptables' ? 'nftables' : 'iptables'
      throw invalidConfig(`${requested} backend was requested but configuration contains ${other}-specific options [${offending.join(' ')}]`)
    }
    return requested
  }
  const implied = new Set(wants.values())
  if (implied.size > 1) throw invalidConfig(`configuration mixes iptables-specific and nftables-specific options [${[...wants.keys()].join(' ')}]`)
  return implied.values().next().value
}
