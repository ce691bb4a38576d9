// The facts `tscni doctor` judges and the report lines it makes: gathered by doctor-facts.ts, judged by
// doctor-checks.ts and doctor-attachments.ts (its own module so neither checker imports the other's types).
import type { NetnsState } from '../system/index.ts'
import type { NodeIpam } from './networks.ts'
import type { RuntimeCache } from './runtime-cache.ts'

/** ok: fine; warn: works with limits; fail: something needs fixing (exit 1); info: facts worth knowing. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info'

/** One line of the report. */
export interface Check {
  /** What was checked: "privileges", "tool ip", "leak", ... */
  readonly check: string
  readonly status: CheckStatus
  readonly detail: string
  /** What to do about it, for warn and fail. */
  readonly remedy?: string
}

/** The tools tscni runs, in report order. */
export const TOOLS = ['ip', 'nsenter', 'flock', 'sh', 'bridge', 'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore', 'nft', 'conntrack', 'dnsmasq'] as const
export type ToolName = (typeof TOOLS)[number]

/** A tool as found on the PATH; `path` undefined means missing. */
export interface ToolFact {
  readonly path?: string
  /** First line of its version output, when it printed one. */
  readonly version?: string
}

/** A firewall listing: its text, or why it could not be read. */
export interface ListingFact {
  readonly text?: string
  readonly error?: string
}

/** The data dir's state. */
export interface DataDirFact {
  readonly exists: boolean
  readonly isDirectory: boolean
  /** Writable (when it exists) or creatable (the nearest existing ancestor is writable). */
  readonly writable: boolean
  /** The nearest existing ancestor when the dir does not exist, or the error met. */
  readonly note?: string
}

/** Everything doctor looks at, read by doctor-facts.ts. */
export interface DoctorFacts {
  readonly uid: number | undefined
  /** From /proc/self/status CapEff; undefined when unreadable. */
  readonly capNetAdmin: boolean | undefined
  readonly tools: Readonly<Record<ToolName, ToolFact>>
  readonly probe: { readonly iptables4: boolean; readonly iptables6: boolean; readonly nft: boolean }
  /** Sysctl values (undefined when the key is absent, e.g. IPv6 disabled). */
  readonly forwarding: { readonly ipv4: string | undefined; readonly ipv6: string | undefined }
  readonly dataDir: DataDirFact
  /** Config file names in the conf dir; undefined when the dir cannot be read. */
  readonly confFiles: readonly string[] | undefined
  readonly node: NodeIpam
  readonly cache: RuntimeCache
  /** What each namespace path named by the cache is now. */
  readonly netns: Readonly<Record<string, NetnsState>>
  readonly listings: { readonly iptables: ListingFact; readonly ip6tables: ListingFact; readonly nftables: ListingFact }
  /** tscni's attachment records against the node: rules live attachments miss, attachments whose namespace is gone. */
  readonly records?: RecordsFact
}

/** What the attachment records say (from a reconcile dry run). */
export interface RecordsFact {
  readonly stateDir: string
  readonly live: number
  readonly missing: readonly string[]
  readonly stale: readonly string[]
  readonly problems: readonly string[]
}
