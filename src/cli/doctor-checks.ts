// `tscni doctor`'s judgement of the node, as a pure function of gathered facts: privileges, tools, firewall
// backend, forwarding, data dir and configs here; reservations and firewall owners in doctor-attachments.ts.
import { selectBackend } from '../firewall/select.ts'
import { attachmentChecks } from './doctor-attachments.ts'
import type { Check, DataDirFact, DoctorFacts, RecordsFact, ToolName } from './doctor-model.ts'

export type { Check, CheckStatus, DataDirFact, DoctorFacts, ListingFact, RecordsFact, ToolFact, ToolName } from './doctor-model.ts'
export { TOOLS } from './doctor-model.ts'

/** Every check, in report order. */
export function doctorChecks(facts: DoctorFacts): Check[] {
  return [
    privilegeCheck(facts),
    ...toolChecks(facts.tools),
    ...firewallChecks(facts),
    ...forwardingChecks(facts.forwarding),
    dataDirCheck(facts.node.dataDir, facts.dataDir),
    ...configChecks(facts),
    ...attachmentChecks(facts),
    ...(facts.records ? recordChecks(facts.records) : []),
  ]
}

// Missing rules of live pods are a failure (their host ports or outbound traffic do not work); attachments whose
// namespace is gone leak addresses until released. `tscni reconcile` fixes both.
function recordChecks(r: RecordsFact): Check[] {
  const out: Check[] = []
  out.push(r.missing.length === 0
    ? { check: 'live rules', status: 'ok', detail: `${r.live} live attachment record(s) in ${r.stateDir}: every masquerade, host-port and spoof-check rule is in place` }
    : { check: 'live rules', status: 'fail', detail: `${r.missing.length} rule set(s) of live attachments missing (a firewall reload or flush?): ${r.missing.join('; ')}`, remedy: 'tscni reconcile (or run tscni-reconcile.service from conf/systemd to restore them automatically)' })
  if (r.stale.length > 0) {
    out.push({ check: 'dead attachments', status: 'warn', detail: `${r.stale.length} recorded attachment(s) whose namespace is gone and that the runtime no longer lists (a reboot?): ${r.stale.join('; ')}`, remedy: 'tscni reconcile (releases their addresses, rules and records)' })
  }
  if (r.problems.length > 0) out.push({ check: 'attachment records', status: 'warn', detail: r.problems.join('; '), remedy: `inspect or remove the named files in ${r.stateDir}` })
  return out
}

/** 0 when no check failed, else 1. */
export function exitCodeOf(checks: readonly Check[]): number {
  return checks.some((c) => c.status === 'fail') ? 1 : 0
}

function privilegeCheck(f: DoctorFacts): Check {
  const who = f.uid === undefined ? 'unknown user' : f.uid === 0 ? 'root (uid 0)' : `uid ${f.uid}`
  const cap = f.capNetAdmin === undefined ? 'CAP_NET_ADMIN unknown' : f.capNetAdmin ? 'CAP_NET_ADMIN held' : 'no CAP_NET_ADMIN'
  if (f.uid === 0 && f.capNetAdmin !== false) return { check: 'privileges', status: 'ok', detail: `${who}, ${cap}` }
  return {
    check: 'privileges',
    status: 'warn',
    detail: `${who}, ${cap}: the runtime runs plugins as root with CAP_NET_ADMIN; without them the firewall probes below fail and may mislead`,
    remedy: 'run tscni doctor as root (sudo tscni doctor)',
  }
}

// What stops working without each required tool.
const REQUIRED: Readonly<Record<'ip' | 'nsenter' | 'flock' | 'sh', string>> = {
  ip: 'bridge cannot create the bridge, veth pair, addresses or routes',
  nsenter: 'bridge cannot configure the container side (it enters the namespace with nsenter)',
  flock: 'host-local cannot lock its data dir, so concurrent ADDs could hand out one address twice',
  sh: 'bridge cannot configure a container with addresses (its sysctls run with sh before the container\'s ip -batch)',
}

function toolChecks(tools: DoctorFacts['tools']): Check[] {
  const has = (t: ToolName) => tools[t].path !== undefined
  const found = (t: ToolName, extra = '') => `${tools[t].version ?? 'version unknown'}${extra} (${tools[t].path})`
  const install = 'install it (Debian: iproute2, util-linux, iptables, nftables, conntrack) or put it on PATH or TSCNI_SYSTEM_PATH'
  const out: Check[] = []
  for (const t of ['ip', 'nsenter', 'flock', 'sh'] as const) {
    out.push(has(t) ? { check: `tool ${t}`, status: 'ok', detail: found(t) } : { check: `tool ${t}`, status: 'fail', detail: `not found: ${REQUIRED[t]}`, remedy: install })
  }
  out.push(has('bridge')
    ? { check: 'tool bridge', status: 'ok', detail: found('bridge') }
    : { check: 'tool bridge', status: 'warn', detail: 'not found: bridge configs with vlan or vlanTrunk fail (port VLANs are set with bridge -batch, from iproute2)', remedy: install })
  const neither = 'neither iptables nor nft: ipMasq and portmap cannot work'
  for (const t of ['iptables', 'ip6tables'] as const) {
    const helpers = [`${t}-save`, `${t}-restore`] as const
    const lacking = helpers.filter((h) => !has(h))
    if (has(t)) {
      const variant = iptablesVariant(tools[t].version)
      const text = found(t, variant ? `: the ${variant} variant` : '')
      out.push(lacking.length === 0
        ? { check: `tool ${t}`, status: 'ok', detail: text }
        : { check: `tool ${t}`, status: 'warn', detail: `${text}, but ${lacking.join(' and ')} not found: the iptables backend cannot read or apply ${t} rules`, remedy: install })
    } else if (t === 'ip6tables' && has('iptables')) {
      out.push({ check: 'tool ip6tables', status: 'warn', detail: 'not found: the iptables backend skips IPv6, so IPv6 masquerade and port mappings are missing', remedy: install })
    } else if (t === 'ip6tables') {
      out.push({ check: 'tool ip6tables', status: 'info', detail: 'not found (nor iptables)' })
    } else {
      out.push(has('nft')
        ? { check: 'tool iptables', status: 'warn', detail: 'not found: configs asking for the iptables backend fail; automatic choice uses nftables', remedy: install }
        : { check: 'tool iptables', status: 'fail', detail: `not found, ${neither}`, remedy: install })
    }
  }
  if (has('nft')) out.push({ check: 'tool nft', status: 'ok', detail: found('nft') })
  else if (has('iptables')) out.push({ check: 'tool nft', status: 'warn', detail: 'not found: configs asking for the nftables backend fail', remedy: install })
  else out.push({ check: 'tool nft', status: 'fail', detail: `not found, ${neither}`, remedy: install })
  out.push(has('conntrack')
    ? { check: 'tool conntrack', status: 'ok', detail: found('conntrack') }
    : { check: 'tool conntrack', status: 'warn', detail: 'not found: stale UDP conntrack entries are not flushed, so a UDP host port can keep sending to a pod address that is gone', remedy: install })
  out.push(has('dnsmasq')
    ? { check: 'tool dnsmasq', status: 'ok', detail: found('dnsmasq') }
    : { check: 'tool dnsmasq', status: 'warn', detail: 'not found: dnsname cannot answer container names (its ADD fails, STATUS reports code 50); the other roles are unaffected', remedy: 'install it (Debian: dnsmasq-base) or put it on PATH or TSCNI_SYSTEM_PATH' })
  return out
}

function firewallChecks(f: DoctorFacts): Check[] {
  const p = f.probe
  const iptVariant = iptablesVariant(f.tools.iptables.version)
  const cannot = 'present, but its nat table cannot be read (no kernel support, or no CAP_NET_ADMIN)'
  const ipt: Check = p.iptables4
    ? { check: 'firewall iptables', status: 'ok', detail: `usable: nat table readable${iptVariant ? ` (${iptVariant})` : ''}; IPv6: ${p.iptables6 ? 'ip6tables nat table readable' : 'ip6tables not usable, IPv6 rules are skipped'}` }
    : { check: 'firewall iptables', status: 'info', detail: `not usable: ${f.tools.iptables.path ? cannot : 'iptables not found'}` }
  const nft: Check = p.nft
    ? { check: 'firewall nftables', status: 'ok', detail: 'usable: nft can list the ruleset' }
    : { check: 'firewall nftables', status: 'info', detail: `not usable: ${f.tools.nft.path ? 'nft is present but cannot list the ruleset (no nf_tables in the kernel, or no CAP_NET_ADMIN)' : 'nft not found'}` }
  let choice: Check
  try {
    const name = selectBackend(undefined, { iptables: p.iptables4, nftables: p.nft })
    const why = name === 'iptables'
      ? 'iptables is usable, and automatic selection prefers it (as the reference plugins do)'
      : 'iptables is not usable, nft is'
    choice = { check: 'firewall choice', status: 'ok', detail: `automatic selection (configs without ipMasqBackend/backend) picks ${name}: ${why}` }
  } catch {
    choice = {
      check: 'firewall choice',
      status: 'fail',
      detail: 'no usable firewall backend: every ADD with ipMasq or port mappings fails',
      remedy: 'install nftables or iptables and make sure the kernel has nf_tables (or the legacy nat table)',
    }
  }
  return [ipt, nft, choice]
}

function forwardingChecks(fwd: DoctorFacts['forwarding']): Check[] {
  const line = (key: string, value: string | undefined): Check => ({
    check: `forwarding ${key.includes('ipv6') ? 'ipv6' : 'ipv4'}`,
    status: 'info',
    detail: value === undefined
      ? `${key} not present (family disabled?)`
      : `${key} = ${value}${value === '1' ? '' : ' (the bridge sets it to 1 itself for each family it is gateway for, isGateway)'}`,
  })
  return [line('net.ipv4.ip_forward', fwd.ipv4), line('net.ipv6.conf.all.forwarding', fwd.ipv6)]
}

function dataDirCheck(dir: string, d: DataDirFact): Check {
  if (d.exists && !d.isDirectory) return { check: 'data dir', status: 'fail', detail: `${dir} exists but is not a directory`, remedy: 'move it away; host-local keeps one directory per network there' }
  if (d.exists && d.writable) return { check: 'data dir', status: 'ok', detail: `${dir} exists and is writable` }
  if (!d.exists && d.writable) return { check: 'data dir', status: 'ok', detail: `${dir} does not exist yet; host-local creates it (${d.note ?? 'its parent'} is writable)` }
  return {
    check: 'data dir',
    status: 'fail',
    detail: `${dir} ${d.exists ? 'is not writable' : 'cannot be created'}${d.note ? ` (${d.note})` : ''}: host-local cannot reserve addresses`,
    remedy: 'make it writable for root (a read-only or full filesystem?), or point the configs\' ipam.dataDir elsewhere',
  }
}

function configChecks(f: DoctorFacts): Check[] {
  const dir = f.node.confDir
  const out: Check[] = []
  if (f.confFiles === undefined || f.confFiles.length === 0) {
    out.push({
      check: 'configs',
      status: 'warn',
      detail: `${f.confFiles === undefined ? `${dir} cannot be read` : `no *.conflist, *.conf or *.json in ${dir}`}: the runtime reports "cni plugin not initialized" until there is one`,
      remedy: `write a network config list into ${dir}`,
    })
  } else {
    out.push({ check: 'configs', status: 'ok', detail: `${f.confFiles.length} in ${dir}: ${f.confFiles.join(', ')}` })
  }
  for (const note of f.node.notes) out.push({ check: 'config', status: 'warn', detail: note, remedy: 'fix or remove the file: the runtime skips or rejects it' })
  return out
}

// "iptables v1.8.9 (nf_tables)" or "(legacy)": which kernel interface the iptables binary drives.
function iptablesVariant(version: string | undefined): string | undefined {
  return /\((nf_tables|legacy)\)/.exec(version ?? '')?.[1]
}
